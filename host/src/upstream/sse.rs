//! INTERIM (not committed)
use std::collections::BTreeMap;
#[derive(Debug, thiserror::Error)]
#[error("sse")]
pub struct SseTransportError;
pub async fn legacy_sse(
    _u: &url::Url,
    _h: &BTreeMap<String, String>,
) -> Result<
    rmcp::transport::async_rw::AsyncRwTransport<
        rmcp::RoleClient,
        tokio::io::Empty,
        tokio::io::Sink,
    >,
    SseTransportError,
> {
    Err(SseTransportError)
}

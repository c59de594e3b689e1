//! INTERIM (not committed)
use std::collections::BTreeMap;
#[derive(Debug, thiserror::Error)]
#[error("http")]
pub struct HttpTransportError;
pub fn streamable_http(
    _u: &url::Url,
    _h: &BTreeMap<String, String>,
) -> Result<
    rmcp::transport::async_rw::AsyncRwTransport<
        rmcp::RoleClient,
        tokio::io::Empty,
        tokio::io::Sink,
    >,
    HttpTransportError,
> {
    Err(HttpTransportError)
}

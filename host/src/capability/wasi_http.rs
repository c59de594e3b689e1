//! `wasi:http/outgoing-handler` behind the same outbound policy as the
//! gateway's own `http` interface: components built from plain WASI
//! (componentize-py output, std Rust) get no wider door.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as WasiHttpError, ForbiddenHeaderFilter, RequestOptions,
    WasiBody, WasiHttpHooks,
};

use crate::outbound::client::MAX_REQUEST_BODY;
use crate::outbound::meter::Meter;
use crate::outbound::{Outbound, OutboundError, OutboundRequest, Timeouts};

/// The wasi:http hooks of one call.
pub struct OutboundHooks {
    outbound: Arc<Outbound>,
    meter: Arc<Meter>,
}

impl OutboundHooks {
    /// Hooks sending through `outbound`, accounted on `meter`.
    pub fn new(outbound: Arc<Outbound>, meter: Arc<Meter>) -> Self {
        Self { outbound, meter }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), WasiHttpError>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        let outbound = Arc::clone(&self.outbound);
        Arc::new(move |name| {
            DEFAULT_FORBIDDEN_HEADERS.contains(name)
                || outbound.policy().is_forbidden_header(name.as_str())
        })
    }

    fn set_host_header(&mut self) -> bool {
        // The host writes Host itself from the checked URL.
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), WasiHttpError>> + Send>
    {
        drop(fut);
        let outbound = Arc::clone(&self.outbound);
        let meter = Arc::clone(&self.meter);
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = collect_capped(body).await?;
            let timeouts = clamp(outbound.timeouts(), options);
            let request = OutboundRequest::from_head(parts, body);
            let response = outbound
                .send(&meter, request, timeouts)
                .await
                .map_err(to_wasi)?;
            let response = response.map(|b| b.map_err(to_wasi).boxed_unsync());
            let done: IoFuture = Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

async fn collect_capped(mut body: WasiBody) -> Result<Bytes, WasiHttpError> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if out.len() + data.len() > MAX_REQUEST_BODY {
                return Err(WasiHttpError::HttpRequestBodySize(Some(
                    MAX_REQUEST_BODY as u64,
                )));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// The guest may ask for shorter timeouts, never longer ones.
fn clamp(host: Timeouts, options: Option<RequestOptions>) -> Timeouts {
    let Some(o) = options else { return host };
    let pick = |guest: Option<std::time::Duration>, host: std::time::Duration| {
        guest.map_or(host, |g| g.min(host))
    };
    Timeouts {
        connect: pick(o.connect_timeout, host.connect),
        first_byte: pick(o.first_byte_timeout, host.first_byte),
        between_bytes: pick(o.between_bytes_timeout, host.between_bytes),
    }
}

fn to_wasi(e: OutboundError) -> WasiHttpError {
    match e {
        OutboundError::Denied(_) => WasiHttpError::HttpRequestDenied,
        OutboundError::Dns(m) => WasiHttpError::DnsError {
            rcode: Some(m),
            info_code: None,
        },
        OutboundError::Connect(_) => WasiHttpError::ConnectionRefused,
        OutboundError::Timeout => WasiHttpError::ConnectionTimeout,
        OutboundError::TooLarge => WasiHttpError::HttpResponseBodySize(None),
        OutboundError::Protocol(_) => WasiHttpError::HttpProtocolError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn guest_timeouts_are_clamped_to_the_host_ceiling() {
        let host = Timeouts::default();
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(3600)),
            first_byte_timeout: Some(Duration::from_millis(5)),
            between_bytes_timeout: None,
        };
        let t = clamp(host, Some(asked));
        assert_eq!(t.connect, host.connect);
        assert_eq!(t.first_byte, Duration::from_millis(5));
        assert_eq!(t.between_bytes, host.between_bytes);
    }
}

//! `gateway:tool/http`: the gateway's own outbound interface.

use crate::bindings::guest_http::{self, DeniedReason as WitDenied, HttpError, Request, Response};
use crate::outbound::policy::DeniedReason;
use crate::outbound::{GuestRequest, OutboundError};
use crate::runtime::state::CallState;

impl guest_http::Host for CallState {
    async fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        let outbound = std::sync::Arc::clone(&self.tool.outbound);
        let request = GuestRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
        };
        let response = outbound.fetch(&self.meter, request).await.map_err(to_wit)?;
        Ok(Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

fn to_wit(e: OutboundError) -> HttpError {
    match e {
        OutboundError::Denied(reason) => HttpError::Denied(denied_to_wit(reason)),
        OutboundError::Dns(m) => HttpError::Dns(m),
        OutboundError::Connect(m) => HttpError::Connect(m),
        OutboundError::Timeout => HttpError::Timeout,
        OutboundError::TooLarge => HttpError::TooLarge,
        OutboundError::Protocol(m) => HttpError::Protocol(m),
    }
}

fn denied_to_wit(reason: DeniedReason) -> WitDenied {
    match reason {
        DeniedReason::InvalidUrl => WitDenied::InvalidUrl,
        DeniedReason::Scheme => WitDenied::Scheme,
        DeniedReason::Host => WitDenied::Host,
        DeniedReason::Port => WitDenied::Port,
        DeniedReason::Path => WitDenied::Path,
        DeniedReason::Method => WitDenied::Method,
        DeniedReason::BodyNotAllowed => WitDenied::BodyNotAllowed,
        DeniedReason::ForbiddenHeader => WitDenied::ForbiddenHeader,
        DeniedReason::PrivateAddress => WitDenied::PrivateAddress,
        DeniedReason::RequestBudget => WitDenied::RequestBudget,
    }
}

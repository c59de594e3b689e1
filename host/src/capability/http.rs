//! `gateway:tool/http`: the gateway's own outbound interface.
//!
//! Its state is the tool's outbound door and the call's meter, the same pair
//! the `wasi:http` hooks hold; [`GuestHttp`] is the view the bindings call into.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::bindings::guest_http::{self, DeniedReason as WitDenied, HttpError, Request, Response};
use crate::outbound::meter::Meter;
use crate::outbound::policy::DeniedReason;
use crate::outbound::{GuestRequest, Outbound, OutboundError};

/// What `gateway:tool/http` sees of a call: the tool's outbound door and
/// the call's meter.
pub struct GuestHttp<'a> {
    outbound: &'a Outbound,
    meter: &'a Arc<Meter>,
}

impl<'a> GuestHttp<'a> {
    /// The view sending through `outbound`, accounted on `meter`.
    pub fn new(outbound: &'a Outbound, meter: &'a Arc<Meter>) -> Self {
        Self { outbound, meter }
    }
}

struct HasGuestHttp;

impl HasData for HasGuestHttp {
    type Data<'a> = GuestHttp<'a>;
}

/// Links `gateway:tool/http`; `view` lends the door and the meter.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> GuestHttp<'_>,
) -> wasmtime::Result<()> {
    guest_http::add_to_linker::<T, HasGuestHttp>(linker, view)
}

impl guest_http::Host for GuestHttp<'_> {
    async fn send(&mut self, req: Request) -> Result<Response, HttpError> {
        let request = GuestRequest {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
        };
        let response = self
            .outbound
            .fetch(self.meter, request)
            .await
            .map_err(to_wit)?;
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
        // The WIT has no case for it; a tool sees its write refused as a
        // method it may not use now (docs/confirmations.md).
        DeniedReason::NotConfirmed => WitDenied::Method,
    }
}

//! `gateway:tool/http`: the gateway's own outbound interface.
//!
//! Its state is the tool's outbound door and the call's meter, the same pair
//! the `wasi:http` hooks hold; [`GuestHttp`] is the view the bindings call into.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::bindings::guest_http;
use crate::bindings::v0_1::gateway::tool::http as guest_http_v0_1;
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

/// Links `gateway:tool/http` (0.2.0 and 0.1.0); `view` lends the door and the meter.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> GuestHttp<'_>,
) -> wasmtime::Result<()> {
    guest_http::add_to_linker::<T, HasGuestHttp>(linker, view)?;
    guest_http_v0_1::add_to_linker::<T, HasGuestHttp>(linker, view)
}

impl GuestHttp<'_> {
    /// One request through the door, whichever contract version asked.
    async fn fetch(
        &self,
        request: GuestRequest,
    ) -> Result<crate::outbound::FullResponse, OutboundError> {
        self.outbound.fetch(self.meter, request).await
    }
}

/// `Host` for one version's `http` interface: the versions' types have the
/// same shape, so one body serves both.
macro_rules! host_for {
    ($version:ident, $module:path, $not_confirmed:expr) => {
        mod $version {
            use super::*;
            use $module as wit;

            impl wit::Host for GuestHttp<'_> {
                async fn send(
                    &mut self,
                    req: wit::Request,
                ) -> Result<wit::Response, wit::HttpError> {
                    let request = GuestRequest {
                        method: req.method,
                        url: req.url,
                        headers: req.headers,
                        body: req.body,
                    };
                    let response = self.fetch(request).await.map_err(to_wit)?;
                    Ok(wit::Response {
                        status: response.status,
                        headers: response.headers,
                        body: response.body,
                    })
                }
            }

            fn to_wit(e: OutboundError) -> wit::HttpError {
                match e {
                    OutboundError::Denied(reason) => wit::HttpError::Denied(denied_to_wit(reason)),
                    OutboundError::Dns(m) => wit::HttpError::Dns(m),
                    OutboundError::Connect(m) => wit::HttpError::Connect(m),
                    OutboundError::Timeout => wit::HttpError::Timeout,
                    OutboundError::TooLarge => wit::HttpError::TooLarge,
                    OutboundError::Protocol(m) => wit::HttpError::Protocol(m),
                }
            }

            fn denied_to_wit(reason: DeniedReason) -> wit::DeniedReason {
                match reason {
                    DeniedReason::InvalidUrl => wit::DeniedReason::InvalidUrl,
                    DeniedReason::Scheme => wit::DeniedReason::Scheme,
                    DeniedReason::Host => wit::DeniedReason::Host,
                    DeniedReason::Port => wit::DeniedReason::Port,
                    DeniedReason::Path => wit::DeniedReason::Path,
                    DeniedReason::Method => wit::DeniedReason::Method,
                    DeniedReason::BodyNotAllowed => wit::DeniedReason::BodyNotAllowed,
                    DeniedReason::ForbiddenHeader => wit::DeniedReason::ForbiddenHeader,
                    DeniedReason::PrivateAddress => wit::DeniedReason::PrivateAddress,
                    DeniedReason::RequestBudget => wit::DeniedReason::RequestBudget,
                    // 0.2.0 names it; a 0.1.0 tool sees its write refused as a
                    // method it may not use now (docs/confirmations.md).
                    DeniedReason::NotConfirmed => $not_confirmed,
                }
            }
        }
    };
}

host_for!(
    current,
    crate::bindings::guest_http,
    crate::bindings::guest_http::DeniedReason::NotConfirmed
);
host_for!(
    v0_1,
    crate::bindings::v0_1::gateway::tool::http,
    crate::bindings::v0_1::gateway::tool::http::DeniedReason::Method
);

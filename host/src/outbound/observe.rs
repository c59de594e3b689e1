//! An optional witness at the outbound door: one typed [`Exchange`] per
//! upstream response, as the guest received it (after every policy check,
//! with the tool's secrets already scrubbed), for `gateway fixtures record`
//! (docs/python-tools.md, "Recording fixtures").
//!
//! Nothing is observed unless a runtime was given an observer: the door
//! checks one `Option` per response, and the body is copied only then.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use url::Url;

/// One upstream request and the response the guest read.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request method.
    pub method: Method,
    /// The request URL as the door checked it (fragment removed), scrubbed.
    pub url: Url,
    /// The request body the guest sent, if any, scrubbed.
    pub request_body: Option<Bytes>,
    /// The response status.
    pub status: StatusCode,
    /// The response body bytes the guest read, scrubbed.
    pub body: Vec<u8>,
    /// Whether the guest read the body to its end (false when it stopped
    /// early, or the body failed: then `body` holds what was read).
    pub complete: bool,
}

/// Receives each [`Exchange`] of the runtime's calls, in the order their
/// bodies end. Called on the async threads: keep it short.
pub trait ExchangeObserver: Send + Sync + std::fmt::Debug {
    /// One finished exchange.
    fn exchange(&self, exchange: Exchange);
}

/// An exchange in progress: the request head, the body so far, and where
/// it goes when it ends (delivered once: at the end of the body, or when
/// the body is dropped unread).
pub(crate) struct Tap {
    observer: Arc<dyn ExchangeObserver>,
    pending: Option<Exchange>,
}

impl Tap {
    pub(crate) fn new(observer: Arc<dyn ExchangeObserver>, exchange: Exchange) -> Self {
        Self {
            observer,
            pending: Some(exchange),
        }
    }

    /// Body bytes the guest is about to read.
    pub(crate) fn data(&mut self, bytes: &[u8]) {
        if let Some(exchange) = self.pending.as_mut() {
            exchange.body.extend_from_slice(bytes);
        }
    }

    /// The body ended (`complete`) or failed; delivers the exchange once.
    pub(crate) fn finish(&mut self, complete: bool) {
        if let Some(mut exchange) = self.pending.take() {
            exchange.complete = complete;
            self.observer.exchange(exchange);
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.finish(false);
    }
}

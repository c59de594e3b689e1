//! The upstream response body as the guest reads it: metered against the
//! call's byte budget, with a between-bytes timeout, then scrubbed of the
//! tool's secrets.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::OutboundError;
use super::meter::Meter;
use super::observe::Tap;
use super::redact::{Redactor, StreamRedactor};

/// A response body that stops with [`OutboundError::TooLarge`] once the
/// call's upstream budget is spent and [`OutboundError::Timeout`] when the
/// upstream goes quiet.
pub struct MeteredBody {
    inner: hyper::body::Incoming,
    meter: Arc<Meter>,
    between_bytes: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    failed: bool,
}

impl MeteredBody {
    pub(crate) fn new(
        inner: hyper::body::Incoming,
        meter: Arc<Meter>,
        between_bytes: Duration,
    ) -> Self {
        Self {
            inner,
            meter,
            between_bytes,
            idle: Box::pin(tokio::time::sleep(between_bytes)),
            failed: false,
        }
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = OutboundError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OutboundError>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if !self.meter.add_upstream(len) {
                    self.failed = true;
                    return Poll::Ready(Some(Err(OutboundError::TooLarge)));
                }
                let deadline = tokio::time::Instant::now() + self.between_bytes;
                self.idle.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.failed = true;
                Poll::Ready(Some(Err(OutboundError::Protocol(e.to_string()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.failed = true;
                    Poll::Ready(Some(Err(OutboundError::Timeout)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The metered body with the tool's secrets replaced by markers before the
/// guest reads a byte. Metering sits underneath, so byte caps count what
/// came from the upstream, not what the guest got.
pub struct RedactedBody {
    inner: MeteredBody,
    redactor: Arc<Redactor>,
    stream: StreamRedactor,
    /// Trailers waiting behind the held-back data they followed.
    queued: Option<Frame<Bytes>>,
    done: bool,
    /// The recording witness, when the runtime has one (observe.rs).
    tap: Option<Tap>,
}

impl RedactedBody {
    pub(crate) fn new(inner: MeteredBody, redactor: &Arc<Redactor>, tap: Option<Tap>) -> Self {
        Self {
            inner,
            redactor: Arc::clone(redactor),
            stream: redactor.stream(),
            queued: None,
            done: false,
            tap,
        }
    }

    /// The scrubbed frames, before the witness sees them.
    fn poll_scrubbed(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OutboundError>>> {
        if self.redactor.is_empty() {
            return Pin::new(&mut self.inner).poll_frame(cx);
        }
        loop {
            if let Some(frame) = self.queued.take() {
                return Poll::Ready(Some(Ok(frame)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e.redacted(&self.redactor))));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let rest = self.stream.finish();
                    if rest.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    let out = self.stream.push(&data);
                    // Everything may be held back for the next chunk.
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Err(frame) => {
                    // Trailers end the data: flush what was held back first,
                    // and scrub the trailer values; the trailers follow.
                    let frame = match frame.into_trailers() {
                        Ok(mut trailers) => {
                            self.redactor.redact_headers(&mut trailers);
                            Frame::trailers(trailers)
                        }
                        Err(other) => other,
                    };
                    let rest = self.stream.finish();
                    if rest.is_empty() {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    self.queued = Some(frame);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
            }
        }
    }
}

impl Body for RedactedBody {
    type Data = Bytes;
    type Error = OutboundError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, OutboundError>>> {
        let polled = self.as_mut().poll_scrubbed(cx);
        if self.tap.is_some() {
            // What the guest reads is what a recording keeps.
            let ended = match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let (Some(tap), Some(data)) = (self.tap.as_mut(), frame.data_ref()) {
                        tap.data(data);
                    }
                    self.is_end_stream().then_some(true)
                }
                Poll::Ready(Some(Err(_))) => Some(false),
                Poll::Ready(None) => Some(true),
                Poll::Pending => None,
            };
            if let (Some(complete), Some(tap)) = (ended, self.tap.as_mut()) {
                tap.finish(complete);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        if self.redactor.is_empty() {
            self.inner.is_end_stream()
        } else {
            self.done && self.queued.is_none()
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.redactor.is_empty() {
            self.inner.size_hint()
        } else {
            // A marker and the secret it replaces differ in length.
            SizeHint::default()
        }
    }
}

impl Drop for RedactedBody {
    fn drop(&mut self) {
        // A reader may stop at the end without polling past it (an empty
        // body, or one it saw end): that body was still read whole.
        let ended = self.is_end_stream();
        if let Some(tap) = self.tap.as_mut() {
            tap.finish(ended);
        }
    }
}

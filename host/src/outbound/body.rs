//! The upstream response body as the guest reads it: metered against the
//! call's byte budget, with a between-bytes timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::OutboundError;
use super::meter::Meter;

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

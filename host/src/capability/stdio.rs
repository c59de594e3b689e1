//! Guest stdout/stderr: captured into a capped buffer, then sent to the logs.
//! Writes past the cap succeed and are discarded, so a chatty guest neither
//! fails nor grows host memory.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Bytes kept per stream per call (guest-controlled volume).
pub const MAX_CAPTURE_BYTES: usize = 64 * 1024;

/// A capped in-memory sink for one stdio stream.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl Capture {
    /// The captured bytes so far.
    pub fn contents(&self) -> Vec<u8> {
        self.buf.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Ok(mut buf) = self.buf.lock() {
            let room = MAX_CAPTURE_BYTES.saturating_sub(buf.len());
            buf.extend_from_slice(&data[..data.len().min(room)]);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn writes_past_the_cap_are_accepted_and_dropped() {
        let capture = Capture::default();
        let mut w = std::pin::Pin::from(capture.async_stream());
        let chunk = vec![b'x'; MAX_CAPTURE_BYTES / 2 + 1];
        w.write_all(&chunk).await.expect("write");
        w.write_all(&chunk).await.expect("write");
        w.write_all(b"tail").await.expect("write");
        assert_eq!(capture.contents().len(), MAX_CAPTURE_BYTES);
    }
}

//! Log lines written to stderr in batches (docs/observability.md): with
//! `--log-format json` every call writes a line, and a `write` per line on
//! the call's own thread, or a wake-up of a writer thread per line, cost a
//! fast call more than the rest of it. A call appends its formatted line to
//! a shared buffer (a short, uncontended lock, nobody woken); a writer
//! thread writes the buffer out every [`INTERVAL`]. A buffer grown past
//! [`MAX_PENDING`] is written by the call that filled it, so nothing is
//! dropped and memory stays bounded.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How often the writer thread writes what has accumulated.
pub const INTERVAL: Duration = Duration::from_millis(20);

/// Bytes pending past which the call that adds a line writes them itself.
pub const MAX_PENDING: usize = 4 << 20;

#[derive(Default)]
pub(crate) struct Shared {
    /// Lines not yet written.
    pending: Mutex<Vec<u8>>,
    /// Held while taking and writing a batch, so batches keep their order.
    writing: Mutex<()>,
}

impl Shared {
    /// Writes whatever is pending to `out`.
    fn write_pending(&self, out: &mut impl Write) {
        let Ok(_order) = self.writing.lock() else {
            return;
        };
        let batch = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        if !batch.is_empty() {
            let _ = out.write_all(&batch);
            let _ = out.flush();
        }
    }

    /// Appends one finished line (ending in a newline).
    pub(crate) fn push(&self, line: &[u8]) {
        let full = match self.pending.lock() {
            Ok(mut pending) => {
                pending.extend_from_slice(line);
                pending.len() > MAX_PENDING
            }
            Err(_) => false,
        };
        if full {
            self.write_pending(&mut std::io::stderr());
        }
    }
}

/// A `MakeWriter` for tracing-subscriber whose lines reach stderr in
/// batches.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BatchedStderr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedStderr").finish_non_exhaustive()
    }
}

/// Writes what is still pending when dropped (keep it until the process
/// is done logging).
pub struct LogFlush {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogFlush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogFlush").finish_non_exhaustive()
    }
}

/// How a batched log writes a call's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallLineFormat {
    /// One JSON object, as `--log-format json` writes every event.
    Json,
    /// One text line, as the default format writes an event (no colours).
    Text,
}

/// Where call lines go when the log is batched (set once, by
/// [`BatchedStderr::carry_call_lines`]).
static CALL_LINES: OnceLock<(Arc<Shared>, CallLineFormat)> = OnceLock::new();

/// The batch that carries call lines and the format they take there;
/// `None` when no batched log carries them: the caller then emits a
/// `tracing` event.
pub(crate) fn call_lines() -> Option<(&'static Shared, CallLineFormat)> {
    CALL_LINES
        .get()
        .map(|(shared, format)| (shared.as_ref(), *format))
}

impl BatchedStderr {
    /// Makes this writer's batch carry each call's line directly: the call
    /// writes its line itself, in `format`, instead of going through the
    /// `tracing` event and its formatter (docs/observability.md). The first
    /// writer to ask keeps it.
    pub fn carry_call_lines(&self, format: CallLineFormat) {
        let _ = CALL_LINES.set((Arc::clone(&self.shared), format));
    }

    /// Starts the writer thread; the second value flushes when dropped.
    pub fn start() -> std::io::Result<(Self, LogFlush)> {
        let shared = Arc::new(Shared::default());
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(INTERVAL);
                    writer.write_pending(&mut std::io::stderr());
                }
            })?;
        Ok((
            Self {
                shared: Arc::clone(&shared),
            },
            LogFlush { shared },
        ))
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.shared.write_pending(&mut std::io::stderr());
    }
}

/// One event's line, added to the pending batch when dropped.
#[derive(Debug)]
pub struct Line {
    bytes: Vec<u8>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.bytes.is_empty() {
            self.shared.push(&self.bytes);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            bytes: Vec::with_capacity(256),
            shared: Arc::clone(&self.shared),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_many_threads_are_written_whole_and_each_thread_in_order() {
        let make = BatchedStderr {
            shared: Arc::new(Shared::default()),
        };
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let make = make.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        let mut line = tracing_subscriber::fmt::MakeWriter::make_writer(&make);
                        writeln!(line, "{t} {i}").expect("write");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let mut out = Vec::new();
        make.shared.write_pending(&mut out);
        let text = String::from_utf8(out).expect("utf-8");
        let mut next = [0u32; 4];
        for line in text.lines() {
            let (t, i) = line.split_once(' ').expect("two numbers");
            let (t, i): (usize, u32) = (t.parse().expect("t"), i.parse().expect("i"));
            assert_eq!(i, next[t]);
            next[t] += 1;
        }
        assert_eq!(next, [500; 4]);
        // Nothing is written twice.
        let mut again = Vec::new();
        make.shared.write_pending(&mut again);
        assert!(again.is_empty());
    }
}

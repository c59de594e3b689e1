//! Log lines written to stderr by a thread of their own, in batches
//! (docs/observability.md): with `--log-format json` every call writes a
//! line, and one `write` per line on the call's own thread cost more than
//! the rest of a fast call. A call hands its formatted line over a bounded
//! channel; the writer thread writes whatever has queued up at once. When
//! the queue is full the call waits for room, so no line is lost.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

/// Lines queued before a call waits for the writer.
const QUEUE_LINES: usize = 1 << 16;

/// How long [`LogFlush`] waits for the queue to be written at exit.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

enum Message {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

/// A `MakeWriter` for tracing-subscriber whose lines go to stderr from the
/// writer thread.
#[derive(Clone)]
pub struct BatchedStderr {
    queue: SyncSender<Message>,
}

impl std::fmt::Debug for BatchedStderr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedStderr").finish_non_exhaustive()
    }
}

/// Writes what is still queued when dropped (keep it until the process
/// is done logging).
#[derive(Debug)]
pub struct LogFlush {
    queue: SyncSender<Message>,
}

impl BatchedStderr {
    /// Starts the writer thread; the second value flushes it when dropped.
    pub fn start() -> std::io::Result<(Self, LogFlush)> {
        let (queue, lines) = sync_channel(QUEUE_LINES);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(&lines, &mut std::io::stderr()))?;
        Ok((
            Self {
                queue: queue.clone(),
            },
            LogFlush { queue },
        ))
    }
}

/// The writer thread: blocks for a line, then writes every line already
/// queued behind it before flushing once.
fn write_lines(lines: &Receiver<Message>, out: &mut impl Write) {
    let mut buffer = std::io::BufWriter::with_capacity(64 << 10, out);
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => {
                    let _ = buffer.write_all(&line);
                }
                Message::Flush(done) => {
                    let _ = buffer.flush();
                    let _ = done.send(());
                }
            }
            next = lines.try_recv().ok();
        }
        let _ = buffer.flush();
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        let (done, written) = sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = written.recv_timeout(FLUSH_WAIT);
        }
    }
}

/// One event's line, handed to the writer thread when dropped.
#[derive(Debug)]
pub struct Line {
    bytes: Vec<u8>,
    queue: SyncSender<Message>,
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
            let _ = self
                .queue
                .send(Message::Line(std::mem::take(&mut self.bytes)));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            bytes: Vec::with_capacity(256),
            queue: self.queue.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_lines_are_written_in_order_and_a_flush_waits_for_them() {
        let (queue, lines) = sync_channel(QUEUE_LINES);
        let writer = std::thread::spawn(move || {
            let mut out = Vec::new();
            write_lines(&lines, &mut out);
            out
        });
        let make = BatchedStderr {
            queue: queue.clone(),
        };
        for i in 0..100 {
            let mut line = tracing_subscriber::fmt::MakeWriter::make_writer(&make);
            writeln!(line, "line {i}").expect("write");
        }
        drop(LogFlush { queue });
        drop(make);
        let out = String::from_utf8(writer.join().expect("writer")).expect("utf-8");
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(out, expected);
    }
}

//! The audit file's writer: one thread owns the file, takes entries from a
//! bounded queue, chains each to the line before and appends it. Recording
//! is a non-blocking send, so an MCP call never waits on the disk; when the
//! queue is full the entry is dropped and counted, never queued without
//! bound (docs/audit.md).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::{AuditEntry, AuditRecord, HexDigest, LineError, MAX_LINE_BYTES};

/// Entries that may wait for the writer before new ones are dropped.
pub const DEFAULT_QUEUE: usize = 4096;

/// When the writer asks the system to put lines on the disk itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Never while serving (the default): lines reach the operating system
    /// after each batch, and the disk when it flushes them; a power loss can
    /// lose the last seconds, a gateway crash loses nothing written. The
    /// file is synced once at close.
    #[default]
    Never,
    /// After each batch of lines written (whatever was queued when the
    /// writer woke up): a power loss loses at most the batch in progress,
    /// at the cost of one `fdatasync` per batch.
    Batch,
}

/// How an [`AuditLog`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Entries that may wait for the writer (at least 1)
    /// [default: [`DEFAULT_QUEUE`]].
    pub queue: usize,
    /// When to sync the file to disk.
    pub fsync: FsyncPolicy,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            queue: DEFAULT_QUEUE,
            fsync: FsyncPolicy::Never,
        }
    }
}

/// Why an audit file cannot be opened or was not fully written. Each names
/// the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Opening, reading or locking the file failed.
    #[error("audit file {file}: {source}")]
    Io {
        /// The audit file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a folder or a device, not a regular file.
    #[error("audit file {file}: not a regular file")]
    NotAFile {
        /// The path.
        file: PathBuf,
    },
    /// Another audit log (this process or another) has the file open: two
    /// writers would break the chain.
    #[error("audit file {file}: another gateway is writing it")]
    Locked {
        /// The audit file.
        file: PathBuf,
    },
    /// The last line has no newline (a write cut short). The chain cannot
    /// continue from it; `gateway audit verify` shows the file's state.
    /// Move the file aside and start a new one.
    #[error(
        "audit file {file}:{line}: the last line is unfinished (no newline); move the file aside to start a new chain"
    )]
    UnfinishedLastLine {
        /// The audit file.
        file: PathBuf,
        /// The unfinished line.
        line: u64,
    },
    /// The last line is not an audit record. The chain cannot continue from
    /// it; move the file aside and start a new one.
    #[error(
        "audit file {file}:{line}: the last line is not an audit record ({problem}); move the file aside to start a new chain"
    )]
    CorruptLastLine {
        /// The audit file.
        file: PathBuf,
        /// The corrupt line.
        line: u64,
        /// What is wrong with it.
        #[source]
        problem: LineError,
    },
    /// The writer could not start.
    #[error("audit file {file}: cannot start the writer thread: {source}")]
    Spawn {
        /// The audit file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing failed; the writer stopped there, and every entry since was
    /// dropped (counted in [`AuditLog::dropped`]).
    #[error("audit file {file}: writing failed, later entries were dropped: {source}")]
    Write {
        /// The audit file.
        file: PathBuf,
        /// The first write error.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread ended without confirming the close.
    #[error("audit file {file}: the writer stopped unexpectedly")]
    WriterStopped {
        /// The audit file.
        file: PathBuf,
    },
}

/// What the queue carries.
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every message is an entry; boxing would cost an allocation per call"
)]
enum Message {
    Entry(AuditEntry),
    /// Write what is queued, sync, close the file, answer.
    Close(oneshot::Sender<Result<(), std::io::Error>>),
}

/// State the handles and the writer share.
#[derive(Debug)]
struct Shared {
    file: PathBuf,
    dropped: AtomicU64,
    failed: AtomicBool,
}

impl Shared {
    /// Counts one entry that will not be written; warns on the 1st, 2nd,
    /// 4th, 8th… so a long outage logs a few lines, not one per call.
    fn drop_entry(&self, why: &'static str) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(
                file = %self.file.display(),
                dropped = n,
                "audit entry dropped ({why}); {n} dropped so far"
            );
        }
    }
}

/// An open audit file. Cloning is cheap (one shared writer); recording
/// never blocks. The last clone dropped writes what is queued, syncs and
/// closes the file, waiting for the writer; [`AuditLog::close`] does the
/// same without blocking a thread.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sender: Option<mpsc::Sender<Message>>,
    writer: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer sees the queue closed, writes the rest and ends.
        drop(self.sender.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl AuditLog {
    /// Opens (or creates, mode 0600) the audit file at `path` with the
    /// default options, continuing the chain from its last line.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        Self::open_with(path, AuditOptions::default())
    }

    /// [`AuditLog::open`] with `options`.
    pub fn open_with(path: &Path, options: AuditOptions) -> Result<Self, AuditError> {
        Self::start(path, options, None)
    }

    /// The audit log `[audit]` in gateway.toml asks for, if any.
    pub fn from_settings(
        settings: &crate::settings::AuditSettings,
    ) -> Result<Option<Self>, AuditError> {
        let Some(file) = &settings.file else {
            return Ok(None);
        };
        let options = AuditOptions {
            fsync: settings.fsync,
            ..AuditOptions::default()
        };
        Self::open_with(file, options).map(Some)
    }

    /// Opens the file; the writer waits for `gate` before its first entry
    /// (tests hold it to fill the queue).
    fn start(
        path: &Path,
        options: AuditOptions,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    ) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            file: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(AuditError::NotAFile {
                file: path.to_path_buf(),
            });
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(AuditError::Locked {
                    file: path.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the audit file is open to other users; chmod 600 it"
            );
        }
        let (seq, prev) = tail(&file, meta.len(), path)?;
        let shared = Arc::new(Shared {
            file: path.to_path_buf(),
            dropped: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        });
        let (sender, receiver) = mpsc::channel(options.queue.max(1));
        let writer = Writer {
            out: Some(BufWriter::with_capacity(64 << 10, file)),
            seq,
            prev,
            fsync: options.fsync,
            shared: Arc::clone(&shared),
            error: None,
            line: Vec::with_capacity(1024),
        };
        let writer = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                if let Some(gate) = gate {
                    let _ = gate.recv();
                }
                writer.run(receiver);
            })
            .map_err(|source| AuditError::Spawn {
                file: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                sender: Some(sender),
                writer: Some(writer),
                shared,
            }),
        })
    }

    /// Queues `entry` to be written. Never blocks: when the queue is full,
    /// or the log is closed or failed, the entry is dropped, counted in
    /// [`AuditLog::dropped`] and logged at warn.
    pub fn record(&self, entry: AuditEntry) {
        let Some(sender) = &self.inner.sender else {
            return;
        };
        match sender.try_send(Message::Entry(entry)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.inner.shared.drop_entry("queue full"),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.inner.shared.drop_entry("audit log closed")
            }
        }
    }

    /// Entries not written since the log was opened: the queue was full,
    /// the log closed, or writing failed.
    pub fn dropped(&self) -> u64 {
        self.inner.shared.dropped.load(Ordering::Relaxed)
    }

    /// Whether writing failed (the writer stopped; see [`AuditError::Write`]).
    pub fn failed(&self) -> bool {
        self.inner.shared.failed.load(Ordering::Relaxed)
    }

    /// The audit file.
    pub fn path(&self) -> &Path {
        &self.inner.shared.file
    }

    /// Writes every entry recorded before this call, syncs the file to disk
    /// and closes it (for every clone: later entries are dropped). Waits for
    /// room in the queue first, so it ends only as fast as the disk allows;
    /// bound it with a timeout at shutdown. Closing twice is harmless.
    pub async fn close(&self) -> Result<(), AuditError> {
        let Some(sender) = &self.inner.sender else {
            return Ok(());
        };
        let (ack, done) = oneshot::channel();
        if sender.send(Message::Close(ack)).await.is_err() {
            return Ok(()); // already closed
        }
        let file = self.inner.shared.file.clone();
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(AuditError::Write { file, source }),
            Err(_) => Err(AuditError::WriterStopped { file }),
        }
    }
}

/// Where the chain stands in a file of `len` bytes: the last line's `seq`
/// and hash, or (0, zeros) for an empty file. A last line that is not a
/// finished record is refused, naming it.
fn tail(file: &File, len: u64, path: &Path) -> Result<(u64, HexDigest), AuditError> {
    let io = |source| AuditError::Io {
        file: path.to_path_buf(),
        source,
    };
    if len == 0 {
        return Ok((0, HexDigest::ZERO));
    }
    let mut last = [0u8];
    file.read_exact_at(&mut last, len - 1).map_err(io)?;
    if last[0] != b'\n' {
        let line = count_newlines(file, len).map_err(io)? + 1;
        return Err(AuditError::UnfinishedLastLine {
            file: path.to_path_buf(),
            line,
        });
    }
    // The last line without its newline, and one byte more to find its start.
    let window = (len - 1).min(MAX_LINE_BYTES as u64 + 1);
    let from = len - 1 - window;
    let mut buf = vec![0u8; usize::try_from(window).unwrap_or(0)];
    file.read_exact_at(&mut buf, from).map_err(io)?;
    let start = match memchr::memrchr(b'\n', &buf) {
        Some(i) => Some(i + 1),
        None if from == 0 => Some(0),
        None => None,
    };
    let parsed = match start {
        Some(start) => AuditRecord::parse(&buf[start..]).map(|r| (r, start)),
        None => Err(LineError::TooLong),
    };
    match parsed {
        Ok((record, start)) => Ok((record.seq, HexDigest::of(&buf[start..]))),
        Err(problem) => {
            // Lines before the last one: every newline but the final one.
            let line = count_newlines(file, len).map_err(io)?;
            Err(AuditError::CorruptLastLine {
                file: path.to_path_buf(),
                line,
                problem,
            })
        }
    }
}

/// Newlines in the first `len` bytes of `file` (only to name a bad line).
fn count_newlines(file: &File, len: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut at, mut count) = (0u64, 0u64);
    while at < len {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        let n = n.min(usize::try_from(len - at).unwrap_or(n));
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        at += n as u64;
    }
    Ok(count)
}

/// The writer thread's state.
struct Writer {
    /// `None` once writing failed: nothing more is written, so a partial
    /// line is never followed by more lines.
    out: Option<BufWriter<File>>,
    /// `seq` of the last line written.
    seq: u64,
    /// Hash of the last line written.
    prev: HexDigest,
    fsync: FsyncPolicy,
    shared: Arc<Shared>,
    /// The first write error, for [`AuditLog::close`].
    error: Option<std::io::Error>,
    /// The line being formed (reused).
    line: Vec<u8>,
}

impl Writer {
    fn run(mut self, mut queue: mpsc::Receiver<Message>) {
        while let Some(message) = queue.blocking_recv() {
            // Everything already queued goes in the same batch.
            let mut closing = self.take(message);
            while closing.is_none() {
                match queue.try_recv() {
                    Ok(message) => closing = self.take(message),
                    Err(_) => break,
                }
            }
            if let Some(ack) = closing {
                // Entries queued before the close was seen are written too;
                // none can be added after this.
                queue.close();
                let mut acks = vec![ack];
                while let Ok(message) = queue.try_recv() {
                    acks.extend(self.take(message));
                }
                let result = self.finish();
                for ack in acks {
                    let copy = match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                    };
                    let _ = ack.send(copy);
                }
                return;
            }
            self.flush(self.fsync == FsyncPolicy::Batch);
        }
        // Every handle dropped.
        let _ = self.finish();
    }

    /// Writes an entry, or returns a close request.
    fn take(&mut self, message: Message) -> Option<oneshot::Sender<Result<(), std::io::Error>>> {
        match message {
            Message::Entry(entry) => {
                self.write(entry);
                None
            }
            Message::Close(ack) => Some(ack),
        }
    }

    fn write(&mut self, entry: AuditEntry) {
        let Some(out) = &mut self.out else {
            self.shared.drop_entry("writing failed earlier");
            return;
        };
        let seq = self.seq + 1;
        let record = AuditRecord::new(entry, seq, self.prev);
        self.line.clear();
        let result = serde_json::to_writer(&mut self.line, &record)
            .map_err(std::io::Error::other)
            .and_then(|()| {
                out.write_all(&self.line)?;
                out.write_all(b"\n")
            });
        match result {
            Ok(()) => {
                self.seq = seq;
                self.prev = HexDigest::of(&self.line);
            }
            Err(e) => {
                self.fail(e);
                self.shared.drop_entry("writing failed");
            }
        }
    }

    /// Hands buffered lines to the system, and syncs them if asked.
    fn flush(&mut self, sync: bool) {
        let Some(out) = &mut self.out else {
            return;
        };
        let mut result = out.flush();
        if sync && result.is_ok() {
            result = out.get_ref().sync_data();
        }
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// Stops writing: the buffered bytes are discarded (not flushed), so the
    /// file ends at a line boundary unless the failing write cut one.
    fn fail(&mut self, error: std::io::Error) {
        tracing::error!(
            file = %self.shared.file.display(),
            "audit file write failed, no more entries will be written: {error}"
        );
        self.shared.failed.store(true, Ordering::Relaxed);
        if let Some(out) = self.out.take() {
            let (_file, _unwritten) = out.into_parts();
        }
        self.error.get_or_insert(error);
    }

    /// Flushes, syncs and closes the file; the first error if any.
    fn finish(&mut self) -> Result<(), std::io::Error> {
        self.flush(true);
        self.out = None;
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::entry;
    use super::super::verify;
    use super::*;

    fn temp() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<AuditRecord> {
        std::fs::read(path)
            .expect("read")
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| AuditRecord::parse(l).expect("record"))
            .collect()
    }

    #[tokio::test]
    async fn lines_chain_and_the_file_is_private() {
        let (_dir, path) = temp();
        let log = AuditLog::open(&path).expect("open");
        let clone = log.clone();
        for n in 1..=3 {
            clone.record(entry(n));
        }
        log.close().await.expect("close");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let bytes = std::fs::read(&path).expect("read");
        let raw: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        assert_eq!(raw.len(), 4, "three lines and the final newline");
        assert!(raw[3].is_empty());
        let records = lines(&path);
        assert_eq!(records[0].prev, HexDigest::ZERO);
        assert_eq!(records[1].prev, HexDigest::of(raw[0]));
        assert_eq!(records[2].prev, HexDigest::of(raw[1]));
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            records
                .iter()
                .map(|r| r.request_id.as_str())
                .collect::<Vec<_>>(),
            ["req-1", "req-2", "req-3"]
        );
        let summary = verify(&path).expect("verifies");
        assert_eq!(summary.lines, 3);
        assert_eq!(summary.last_hash, HexDigest::of(raw[2]));
        assert_eq!(log.dropped(), 0);
        // Recording after close drops, and counts.
        log.record(entry(4));
        assert_eq!(log.dropped(), 1);
        log.close().await.expect("closing twice is harmless");
    }

    #[tokio::test]
    async fn reopening_continues_the_chain() {
        let (_dir, path) = temp();
        let log = AuditLog::open(&path).expect("open");
        log.record(entry(1));
        log.record(entry(2));
        log.close().await.expect("close");
        drop(log);
        // Dropping the last handle flushes too.
        let log = AuditLog::open(&path).expect("reopen");
        log.record(entry(3));
        drop(log);
        let summary = verify(&path).expect("one chain across reopens");
        assert_eq!(summary.lines, 3);
        assert_eq!(
            lines(&path).iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[tokio::test]
    async fn a_second_writer_is_refused() {
        let (_dir, path) = temp();
        let log = AuditLog::open(&path).expect("open");
        assert!(matches!(
            AuditLog::open(&path),
            Err(AuditError::Locked { .. })
        ));
        log.close().await.expect("close");
        drop(log);
        AuditLog::open(&path).expect("free again once closed");
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            AuditLog::open(dir.path()),
            Err(AuditError::Io { .. } | AuditError::NotAFile { .. })
        ));
    }

    #[tokio::test]
    async fn a_corrupt_last_line_is_refused_and_named() {
        let (_dir, path) = temp();
        let log = AuditLog::open(&path).expect("open");
        log.record(entry(1));
        log.record(entry(2));
        log.close().await.expect("close");
        drop(log);
        let good = std::fs::read(&path).expect("read");

        // Cut short: no newline at the end.
        std::fs::write(&path, &good[..good.len() - 10]).expect("write");
        assert!(matches!(
            AuditLog::open(&path),
            Err(AuditError::UnfinishedLastLine { line: 2, .. })
        ));
        // A finished line that is not a record.
        let mut garbled = good.clone();
        garbled.extend_from_slice(b"{\"not\":\"a record\"}\n");
        std::fs::write(&path, &garbled).expect("write");
        assert!(matches!(
            AuditLog::open(&path),
            Err(AuditError::CorruptLastLine {
                line: 3,
                problem: LineError::NotARecord(_),
                ..
            })
        ));
        // Nothing was appended to the refused file.
        assert_eq!(std::fs::read(&path).expect("read"), garbled);
        let mut long = good.clone();
        long.extend_from_slice(&vec![b'x'; MAX_LINE_BYTES + 10]);
        long.push(b'\n');
        std::fs::write(&path, &long).expect("write");
        assert!(matches!(
            AuditLog::open(&path),
            Err(AuditError::CorruptLastLine {
                line: 3,
                problem: LineError::TooLong,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_stalled_writer_drops_and_counts_instead_of_blocking() {
        let (_dir, path) = temp();
        let (release, gate) = std::sync::mpsc::channel();
        let options = AuditOptions {
            queue: 2,
            fsync: FsyncPolicy::Batch,
        };
        let log = AuditLog::start(&path, options, Some(gate)).expect("open");
        // The writer has not started: two entries fit, three are dropped.
        for n in 1..=5 {
            log.record(entry(n));
        }
        assert_eq!(log.dropped(), 3);
        release.send(()).expect("release");
        log.close().await.expect("close");
        let records = lines(&path);
        assert_eq!(
            records
                .iter()
                .map(|r| r.request_id.as_str())
                .collect::<Vec<_>>(),
            ["req-1", "req-2"]
        );
        assert_eq!(verify(&path).expect("verifies").lines, 2);
        assert!(!log.failed());
    }

    #[tokio::test]
    async fn a_failing_disk_stops_the_writer_and_close_says_so() {
        // /dev/full accepts the open and fails every write with ENOSPC;
        // it is not a regular file, so drive the writer directly.
        let Ok(full) = OpenOptions::new().append(true).open("/dev/full") else {
            return;
        };
        let shared = Arc::new(Shared {
            file: PathBuf::from("/dev/full"),
            dropped: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        });
        let mut writer = Writer {
            out: Some(BufWriter::with_capacity(16, full)),
            seq: 0,
            prev: HexDigest::ZERO,
            fsync: FsyncPolicy::Never,
            shared: Arc::clone(&shared),
            error: None,
            line: Vec::new(),
        };
        writer.write(entry(1));
        writer.write(entry(2));
        assert!(shared.failed.load(Ordering::Relaxed));
        assert_eq!(shared.dropped.load(Ordering::Relaxed), 2);
        let error = writer.finish().expect_err("the write error");
        assert_eq!(error.raw_os_error(), Some(28), "ENOSPC");
    }
}

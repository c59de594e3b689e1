//! `gateway audit verify`: walks an audit file and checks every line is a
//! record that follows the one before it (its `prev` is the hash of that
//! line's bytes, its `seq` one more). The first line that does not is
//! named, with what most simply explains it: an edited, deleted, inserted or
//! swapped line, or a line cut short or garbled.
//!
//! What the chain cannot show: a change to the last line, or lines removed
//! from the end, leave a valid shorter chain. Compare the last hash with one
//! kept elsewhere (docs/audit.md).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{AuditRecord, HexDigest, LineError, MAX_LINE_BYTES};

/// A file whose chain holds, line by line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifySummary {
    /// Lines in the file.
    pub lines: u64,
    /// SHA-256 of the last line (the `prev` the next line would carry), or
    /// [`HexDigest::ZERO`] for an empty file.
    pub last_hash: HexDigest,
}

/// The first thing wrong with an audit file. Line numbers start at 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The audit file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The last line has no newline: a write that did not finish, or a
    /// truncated file.
    #[error("{file}:{line}: truncated: the last line does not end with a newline")]
    Truncated {
        /// The audit file.
        file: PathBuf,
        /// The unfinished line.
        line: u64,
    },
    /// A line that is not an audit record (not JSON, a key missing, extra
    /// or out of shape, or too long).
    #[error("{file}:{line}: garbled: {problem}")]
    Garbled {
        /// The audit file.
        file: PathBuf,
        /// The line.
        line: u64,
        /// What is wrong with it.
        #[source]
        problem: LineError,
    },
    /// This line changed after it was written: the line after it recorded
    /// a different hash (or, for its own `seq` or `prev`, it no longer
    /// follows the line before while the line after still follows it).
    #[error("{file}:{line}: edited: this line changed after it was written")]
    Edited {
        /// The edited line.
        file: PathBuf,
        /// The line.
        line: u64,
    },
    /// Lines are missing just before this one: its `seq` skips ahead and
    /// its `prev` names a line that is not there.
    #[error("{file}:{line}: deleted: {missing} line(s) missing before this line")]
    Deleted {
        /// The audit file.
        file: PathBuf,
        /// The first line after the gap.
        line: u64,
        /// How many lines the `seq` numbers say are gone.
        missing: u64,
    },
    /// This line was not written here by the gateway: the lines around it
    /// follow each other without it.
    #[error(
        "{file}:{line}: inserted: the lines before and after follow each other without this one"
    )]
    Inserted {
        /// The audit file.
        file: PathBuf,
        /// The extra line.
        line: u64,
    },
    /// This line and the next were swapped.
    #[error("{file}:{line}: reordered: this line was written after line {next}", next = line + 1)]
    Reordered {
        /// The audit file.
        file: PathBuf,
        /// The first of the two swapped lines.
        line: u64,
    },
    /// This line does not follow the one before, and no single edit,
    /// deletion, insertion or swap explains it (several changes, or lines
    /// from another file).
    #[error("{file}:{line}: unlinked: this line does not follow line {before}", before = line - 1)]
    Unlinked {
        /// The audit file.
        file: PathBuf,
        /// The line.
        line: u64,
    },
}

/// Checks every line of the audit file at `path` (see the module docs).
pub fn verify(path: &Path) -> Result<VerifySummary, VerifyError> {
    let io = |source| VerifyError::Io {
        file: path.to_path_buf(),
        source,
    };
    let mut lines = Lines::new(File::open(path).map_err(io)?);
    // The two lines before the one being read: (hash, seq). Line 0 is the
    // chain's start.
    let mut before = Link::START;
    let mut prev = Link::START;
    let mut n = 0u64;
    while let Some(line) = lines.next_line().map_err(io)? {
        n += 1;
        let record = line.record(path, n)?;
        let link = Link {
            hash: HexDigest::of(&line.bytes),
            seq: record.seq,
        };
        if prev.is_followed_by(&record) {
            before = prev;
            prev = link;
            continue;
        }
        // The first break: look one line ahead to tell what happened.
        let next = lines.next_line().map_err(io)?.and_then(|l| {
            l.record(path, n + 1)
                .ok()
                .map(|r| (r, HexDigest::of(&l.bytes)))
        });
        let file = path.to_path_buf();
        return Err(classify(file, n, before, prev, (&record, link), next));
    }
    Ok(VerifySummary {
        lines: n,
        last_hash: prev.hash,
    })
}

/// A line as the next one refers to it.
#[derive(Debug, Clone, Copy)]
struct Link {
    hash: HexDigest,
    seq: u64,
}

impl Link {
    /// What a file's first line follows.
    const START: Link = Link {
        hash: HexDigest::ZERO,
        seq: 0,
    };

    fn is_followed_by(&self, record: &AuditRecord) -> bool {
        record.prev == self.hash && record.seq == self.seq.wrapping_add(1)
    }
}

/// The simplest explanation of a break at line `n` (which does not follow
/// `prev`, line n-1; `before` is line n-2), given line n+1 if it is a record.
fn classify(
    file: PathBuf,
    n: u64,
    before: Link,
    prev: Link,
    (record, link): (&AuditRecord, Link),
    next: Option<(AuditRecord, HexDigest)>,
) -> VerifyError {
    // The same bytes twice: the second copy is extra.
    if link.hash == prev.hash {
        return VerifyError::Inserted { file, line: n };
    }
    // Line n follows line n-2: line n-1 is extra.
    if n >= 2 && before.is_followed_by(record) {
        return VerifyError::Inserted { file, line: n - 1 };
    }
    if let Some((next, next_hash)) = &next
        && prev.is_followed_by(next)
    {
        // Line n+1 follows line n-1: line n is extra, or belongs after n+1.
        let next_link = Link {
            hash: *next_hash,
            seq: next.seq,
        };
        return if next_link.is_followed_by(record) {
            VerifyError::Reordered { file, line: n }
        } else {
            VerifyError::Inserted { file, line: n }
        };
    }
    if record.prev == prev.hash {
        // Chained to the right bytes under a wrong number: its seq changed.
        return VerifyError::Edited { file, line: n };
    }
    if record.seq == prev.seq.wrapping_add(1) {
        // In sequence, but line n-1's bytes are not the ones line n
        // recorded: line n-1 changed, unless line n's own prev did (then
        // line n+1 no longer follows line n either).
        let next_follows = next.as_ref().is_none_or(|(r, _)| link.is_followed_by(r));
        let line = if n >= 2 && next_follows { n - 1 } else { n };
        return VerifyError::Edited { file, line };
    }
    if record.seq > prev.seq.wrapping_add(1) {
        return VerifyError::Deleted {
            file,
            line: n,
            missing: record.seq - prev.seq - 1,
        };
    }
    VerifyError::Unlinked { file, line: n }
}

/// One line read from the file, without its newline.
struct Line {
    bytes: Vec<u8>,
    /// Whether a newline ended it (only the file's last line may lack one,
    /// and then it is unfinished).
    terminated: bool,
    /// Longer than [`MAX_LINE_BYTES`]: `bytes` holds only the start.
    too_long: bool,
}

impl Line {
    fn record(&self, path: &Path, n: u64) -> Result<AuditRecord, VerifyError> {
        if !self.terminated {
            return Err(VerifyError::Truncated {
                file: path.to_path_buf(),
                line: n,
            });
        }
        let parsed = if self.too_long {
            Err(LineError::TooLong)
        } else {
            AuditRecord::parse(&self.bytes)
        };
        parsed.map_err(|problem| VerifyError::Garbled {
            file: path.to_path_buf(),
            line: n,
            problem,
        })
    }
}

/// Lines of a file with a cap on how much of one is kept, so a file
/// without newlines cannot exhaust memory.
struct Lines {
    reader: BufReader<File>,
}

impl Lines {
    fn new(file: File) -> Self {
        Self {
            reader: BufReader::with_capacity(64 << 10, file),
        }
    }

    fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        let mut line = Line {
            bytes: Vec::new(),
            terminated: false,
            too_long: false,
        };
        let mut read_any = false;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(read_any.then_some(line));
            }
            read_any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            let room = (MAX_LINE_BYTES + 1).saturating_sub(line.bytes.len());
            line.bytes
                .extend_from_slice(&chunk[..chunk.len().min(room)]);
            line.too_long |= line.bytes.len() > MAX_LINE_BYTES;
            self.reader.consume(used);
            if done {
                line.terminated = true;
                return Ok(Some(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::entry;
    use super::*;

    /// A good chain of `n` lines, as the writer forms them.
    fn chain(n: u64) -> Vec<Vec<u8>> {
        let mut prev = HexDigest::ZERO;
        (1..=n)
            .map(|seq| {
                let line = AuditRecord::new(entry(seq), seq, prev).to_line();
                prev = HexDigest::of(&line);
                line
            })
            .collect()
    }

    fn write(lines: &[Vec<u8>]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp");
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        std::fs::write(file.path(), bytes).expect("write");
        file
    }

    fn verified(lines: &[Vec<u8>]) -> Result<VerifySummary, VerifyError> {
        let file = write(lines);
        verify(file.path())
    }

    /// The line with one JSON field replaced, serialised as the writer would.
    fn with(line: &[u8], key: &str, value: serde_json::Value) -> Vec<u8> {
        let mut record: serde_json::Value = serde_json::from_slice(line).expect("json");
        record[key] = value;
        serde_json::to_vec(&record).expect("json")
    }

    #[test]
    fn a_good_chain_verifies_with_its_count_and_last_hash() {
        let lines = chain(5);
        let summary = verified(&lines).expect("verifies");
        assert_eq!(summary.lines, 5);
        assert_eq!(summary.last_hash, HexDigest::of(&lines[4]));
        let empty = verified(&[]).expect("empty verifies");
        assert_eq!(
            (empty.lines, empty.last_hash),
            (0, HexDigest::ZERO),
            "empty file"
        );
    }

    #[test]
    fn an_edited_line_is_named() {
        for edited in [1, 3, 4] {
            let mut lines = chain(5);
            lines[edited - 1] = with(&lines[edited - 1], "outcome", "upstream".into());
            assert!(
                matches!(verified(&lines), Err(VerifyError::Edited { line, .. }) if line == edited as u64),
                "line {edited}: {:?}",
                verified(&lines)
            );
        }
        // Its own prev or seq changed: the line itself is named.
        let mut lines = chain(5);
        lines[2] = with(&lines[2], "prev", HexDigest::of(b"x").to_string().into());
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Edited { line: 3, .. })
        ));
        let mut lines = chain(5);
        lines[2] = with(&lines[2], "seq", 7.into());
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Edited { line: 3, .. })
        ));
    }

    #[test]
    fn a_deleted_line_is_named_by_the_line_after_the_gap() {
        let mut lines = chain(6);
        lines.remove(2);
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Deleted {
                line: 3,
                missing: 1,
                ..
            })
        ));
        let mut lines = chain(6);
        lines.drain(0..2);
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Deleted {
                line: 1,
                missing: 2,
                ..
            })
        ));
    }

    #[test]
    fn an_inserted_line_is_named() {
        // A forged line chained correctly to the one before it...
        let mut lines = chain(5);
        let forged = AuditRecord::new(entry(99), 3, HexDigest::of(&lines[1])).to_line();
        lines.insert(2, forged);
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Inserted { line: 3, .. })
        ));
        // ...a copy of an earlier line, and one at the start.
        let mut lines = chain(5);
        lines.insert(2, lines[1].clone());
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Inserted { line: 3, .. })
        ));
        let mut lines = chain(3);
        lines.insert(0, AuditRecord::new(entry(0), 1, HexDigest::ZERO).to_line());
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Inserted { line: 1, .. })
        ));
    }

    #[test]
    fn swapped_lines_are_named() {
        let mut lines = chain(5);
        lines.swap(1, 2);
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Reordered { line: 2, .. })
        ));
    }

    #[test]
    fn a_truncated_last_line_and_garbled_lines_are_named() {
        let lines = chain(3);
        let file = write(&lines);
        let len = std::fs::metadata(file.path()).expect("meta").len();
        // Cut inside the last line, and just before its newline.
        for cut in [len - 20, len - 1] {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(file.path())
                .expect("open");
            f.set_len(cut).expect("truncate");
            assert!(
                matches!(
                    verify(file.path()),
                    Err(VerifyError::Truncated { line: 3, .. })
                ),
                "cut at {cut}"
            );
        }
        let mut lines = chain(3);
        lines[1] = b"{\"time\":".to_vec();
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Garbled {
                line: 2,
                problem: LineError::NotARecord(_),
                ..
            })
        ));
        let mut lines = chain(3);
        lines.insert(1, Vec::new());
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Garbled { line: 2, .. })
        ));
        let mut lines = chain(2);
        lines.push(vec![b'x'; MAX_LINE_BYTES * 3]);
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Garbled {
                line: 3,
                problem: LineError::TooLong,
                ..
            })
        ));
        assert!(matches!(
            verify(Path::new("/nonexistent/audit.jsonl")),
            Err(VerifyError::Io { .. })
        ));
    }

    #[test]
    fn lines_from_elsewhere_are_unlinked() {
        let mut lines = chain(4);
        let other = chain(8);
        // seq goes back, prev matches nothing near.
        lines[2] = other[0].clone();
        lines[3] = other[1].clone();
        assert!(matches!(
            verified(&lines),
            Err(VerifyError::Unlinked { line: 3, .. })
        ));
    }
}

//! Cranelift's incremental compilation cache on disk: compiled functions
//! keyed by a hash of their IR, so recompiling a component whose code did
//! not change (a Python tool whose script changed: the same CPython, a new
//! memory snapshot) reuses every function instead of compiling ~15 s of
//! CPython again. Trusted like the `.cwasm` artifacts beside it: the
//! gateway's cache folder is its own.

use std::borrow::Cow;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::CacheStore;

/// Folder under the gateway's cache holding the function cache.
pub const INCREMENTAL_DIR: &str = "incremental";

/// One file per compiled function, named by the SHA-256 of its cache key.
#[derive(Debug)]
pub struct DiskStore {
    dir: PathBuf,
}

impl DiskStore {
    /// A store in `dir` (created on first insert).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        let name: String = Sha256::digest(key)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // Two levels, so no folder holds tens of thousands of files.
        self.dir.join(&name[..2]).join(&name[2..])
    }
}

impl CacheStore for DiskStore {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        std::fs::read(self.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let path = self.path(key);
        let Some(dir) = path.parent() else {
            return false;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return false;
        }
        // Written beside and renamed: a reader never sees half an entry.
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
            return false;
        };
        use std::io::Write;
        tmp.write_all(&value).is_ok() && tmp.persist(&path).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_by_key() {
        let dir = tempfile::tempdir().expect("test setup");
        let store = DiskStore::new(dir.path().to_path_buf());
        assert!(store.get(b"k").is_none());
        assert!(store.insert(b"k", b"compiled".to_vec()));
        assert_eq!(store.get(b"k").as_deref(), Some(&b"compiled"[..]));
        assert!(store.get(b"other").is_none());
    }
}

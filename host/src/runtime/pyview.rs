//! The read-only Python file view of a componentize-py tool (docs/python-tools.md).
//!
//! componentize-py snapshots CPython after the tool's module has loaded; a
//! module imported later (`_strptime` inside `datetime.strptime`, `heapq`
//! inside `Counter.most_common`, a package's own lazy import) is looked up on
//! the interpreter's `sys.path` at call time: `/python` (the standard
//! library), `/world`, `/bundled`, and `/0`, `/1`, ... (the build's `-p`
//! folders). The build copies exactly those folders, as the interpreter saw
//! them, into the component: one custom section per file, named
//! `agent-gateway/pyview:<mount>/<path>`. At load the gateway extracts them
//! once into a content-addressed folder of its cache, and every call of the
//! tool gets each mount as a read-only preopen at the same guest path.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Prefix of the custom sections that carry the view.
pub const SECTION_PREFIX: &str = "agent-gateway/pyview:";
/// Most files a view may hold (the standard library is ~700; packages add some).
pub const MAX_VIEW_FILES: usize = 20_000;
/// Most bytes a view may hold: bounds the disk an uploaded component can claim
/// (the standard library is ~14 MiB).
pub const MAX_VIEW_BYTES: u64 = 256 << 20;
/// Folder under the gateway's cache holding extracted views.
const VIEW_DIR: &str = "python-view";

/// Why a component's view was refused or could not be extracted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The component is not a valid WebAssembly binary.
    #[error("reading the component's sections: {0}")]
    Parse(String),
    /// A section names a path that is not a plain relative path under a mount.
    #[error("file view entry {0:?}: not a plain relative path under a mount")]
    BadPath(String),
    /// The same path appears twice.
    #[error("file view entry {0:?} appears twice")]
    Duplicate(String),
    /// The view holds more files or bytes than allowed.
    #[error("file view exceeds {MAX_VIEW_FILES} files or {MAX_VIEW_BYTES} bytes")]
    TooLarge,
    /// Writing the extracted view failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// An extracted view: `root/<mount>` is preopened read-only at `/<mount>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonView {
    /// The content-addressed folder.
    pub root: PathBuf,
    /// Top-level mount names (`python`, `world`, `0`, ...), sorted.
    pub mounts: Vec<String>,
}

impl PythonView {
    /// `(host folder, guest path)` of each mount.
    pub fn preopens(&self) -> impl Iterator<Item = (PathBuf, String)> + '_ {
        self.mounts
            .iter()
            .map(|m| (self.root.join(m), format!("/{m}")))
    }
}

/// Appends `files` (`(mount/relative path, contents)`, any order) to the
/// component `bytes` as view sections, sorted by path so equal inputs give
/// equal bytes.
pub fn append(bytes: &mut Vec<u8>, files: &mut [(String, Vec<u8>)]) {
    use wasm_encoder::{CustomSection, Encode, Section};
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, contents) in files.iter() {
        let section = CustomSection {
            name: format!("{SECTION_PREFIX}{path}").into(),
            data: contents.as_slice().into(),
        };
        bytes.push(section.id());
        section.encode(bytes);
    }
}

/// Whether `path` (`mount/a/b.py`) is a plain relative path: a mount of
/// lowercase letters and digits, then normal components only.
fn valid(path: &str) -> bool {
    let mut parts = path.split('/');
    let mount_ok = parts.next().is_some_and(|m| {
        !m.is_empty()
            && m.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let mut rest = 0;
    let rest_ok = parts.all(|p| {
        rest += 1;
        !p.is_empty() && p != "." && p != ".." && !p.contains(['\\', '\0'])
    });
    mount_ok && rest_ok && rest > 0
}

/// The view sections of a component, validated: `(path, contents)`.
fn sections(bytes: &[u8]) -> Result<Vec<(&str, &[u8])>, ViewError> {
    use wasmparser::{Parser, Payload};
    let mut found = Vec::new();
    let mut total: u64 = 0;
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| ViewError::Parse(e.to_string()))? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(reader) if depth == 0 => {
                let Some(path) = reader.name().strip_prefix(SECTION_PREFIX) else {
                    continue;
                };
                if !valid(path) {
                    return Err(ViewError::BadPath(path.to_owned()));
                }
                total += reader.data().len() as u64;
                if found.len() >= MAX_VIEW_FILES || total > MAX_VIEW_BYTES {
                    return Err(ViewError::TooLarge);
                }
                found.push((path, reader.data()));
            }
            _ => {}
        }
    }
    found.sort_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = found.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ViewError::Duplicate(w[0].0.to_owned()));
    }
    Ok(found)
}

/// Extracts the component's view into `cache_dir/python-view/<sha256>/`
/// (once: an existing folder is reused; a new one is written beside it and
/// renamed into place). `None` when the component carries no view (Rust
/// tools, Python tools built before views existed).
pub fn prepare(bytes: &[u8], cache_dir: &Path) -> Result<Option<PythonView>, ViewError> {
    let files = sections(bytes)?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut hasher = Sha256::new();
    for (path, contents) in &files {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(contents);
    }
    let key: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut mounts: Vec<String> = files
        .iter()
        .filter_map(|(p, _)| p.split('/').next().map(str::to_owned))
        .collect();
    mounts.dedup();
    let parent = cache_dir.join(VIEW_DIR);
    let root = parent.join(&key);
    if !root.is_dir() {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ViewError::Io { path, source }
        };
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{key}.tmp"))
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        for (path, contents) in &files {
            let file = tmp.path().join(path);
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
            }
            std::fs::write(&file, contents).map_err(io(&file))?;
        }
        // A concurrent loader may have won the race; its folder is identical.
        let staged = tmp.keep();
        if std::fs::rename(&staged, &root).is_err() {
            let _ = std::fs::remove_dir_all(&staged);
            if !root.is_dir() {
                return Err(ViewError::Io {
                    path: root,
                    source: std::io::Error::other("could not move the extracted view into place"),
                });
            }
        }
    }
    Ok(Some(PythonView { root, mounts }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn paths_must_be_plain_and_under_a_mount() {
        for ok in ["python/json/__init__.py", "0/tool.py", "world/a"] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "python",
            "/python/x",
            "python/../x",
            "python/./x",
            "Python/x",
            "py-thon/x",
            "python/a\\b",
            "python/x/",
            "../x",
        ] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn appended_sections_round_trip_and_extract_once() {
        let mut bytes = EMPTY_COMPONENT.to_vec();
        append(
            &mut bytes,
            &mut [
                ("python/b.py".into(), b"b = 1\n".to_vec()),
                ("0/a.py".into(), b"a = 1\n".to_vec()),
            ],
        );
        let cache = tempfile::tempdir().expect("test setup");
        let view = prepare(&bytes, cache.path())
            .expect("test setup")
            .expect("a view");
        assert_eq!(view.mounts, ["0", "python"]);
        assert_eq!(
            std::fs::read(view.root.join("python/b.py")).expect("test setup"),
            b"b = 1\n"
        );
        let again = prepare(&bytes, cache.path())
            .expect("test setup")
            .expect("a view");
        assert_eq!(again, view);
        assert!(
            prepare(EMPTY_COMPONENT, cache.path())
                .expect("test setup")
                .is_none()
        );
    }

    #[test]
    fn a_traversing_or_duplicated_entry_is_refused() {
        let cache = tempfile::tempdir().expect("test setup");
        let mut bytes = EMPTY_COMPONENT.to_vec();
        append(&mut bytes, &mut [("python/../../etc/x".into(), vec![])]);
        assert!(matches!(
            prepare(&bytes, cache.path()),
            Err(ViewError::BadPath(_))
        ));
        let mut bytes = EMPTY_COMPONENT.to_vec();
        append(
            &mut bytes,
            &mut [("python/x".into(), vec![]), ("python/x".into(), vec![1])],
        );
        assert!(matches!(
            prepare(&bytes, cache.path()),
            Err(ViewError::Duplicate(_))
        ));
    }
}

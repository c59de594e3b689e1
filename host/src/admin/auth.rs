//! Who may use the admin API: a non-browser client that names one allowed
//! Host and presents the one admin key as `Authorization: Bearer <key>`,
//! compared in constant time, from an address that has not failed the
//! check too often ([`super::ratelimit`]).
//!
//! The key comes from the environment (`GATEWAY_ADMIN_KEY`) or from a file
//! it names (`GATEWAY_ADMIN_KEY_FILE`, [`KeyFile`]), which is looked at on
//! every admin request and re-read when it has changed, so the key rotates
//! without a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Admin;
use super::error::AdminError;
use crate::frontdoor::{Browsers, Refusal};

/// The environment variable holding the admin key; the API is off without
/// it or [`KEY_FILE_ENV`].
pub const KEY_ENV: &str = "GATEWAY_ADMIN_KEY";
/// The environment variable naming a file that holds the admin key (one
/// line); the alternative to [`KEY_ENV`], never both.
pub const KEY_FILE_ENV: &str = "GATEWAY_ADMIN_KEY_FILE";
/// Largest key file read: a key and its line ending, with room to spare.
const MAX_KEY_FILE_BYTES: u64 = 4096;
/// Shortest key accepted: the key loads code into the gateway, so it must
/// be unguessable (`openssl rand -hex 32` gives 64 characters).
pub const MIN_KEY_LEN: usize = 32;
/// Longest key accepted (it travels in a header).
pub const MAX_KEY_LEN: usize = 1024;

/// Why an admin key is unfit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Too short to be unguessable.
    #[error(
        "the admin key is {0} characters long; use at least {MIN_KEY_LEN} (e.g. `openssl rand -hex 32`)"
    )]
    TooShort(usize),
    /// Longer than a header should carry.
    #[error("the admin key is {0} characters long; use at most {MAX_KEY_LEN}")]
    TooLong(usize),
    /// Spaces, control characters or non-ASCII (the key travels in a header).
    #[error("the admin key must be printable ASCII without spaces")]
    NotPrintable,
}

/// Why no admin key could be taken from the environment at start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// Both variables are set: which one is meant is not the gateway's guess.
    #[error("{KEY_ENV} and {KEY_FILE_ENV} are both set: set one")]
    BothSet,
    /// The key in [`KEY_ENV`] is unfit.
    #[error("{KEY_ENV}: {0}")]
    Env(KeyError),
    /// The file [`KEY_FILE_ENV`] names cannot be read.
    #[error("{KEY_FILE_ENV} {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key in the file is unfit.
    #[error("{KEY_FILE_ENV} {}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: KeyError,
    },
}

/// The admin key, kept only as its SHA-256 digest.
pub struct AdminKey {
    digest: [u8; 32],
    fingerprint: String,
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl AdminKey {
    /// Checks `key` is fit to guard code loading.
    pub fn new(key: &str) -> Result<Self, KeyError> {
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyError::NotPrintable);
        }
        if key.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort(key.len()));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong(key.len()));
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let fingerprint: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            digest,
            fingerprint: format!("key:{fingerprint}"),
        })
    }

    /// What the logs name the key holder by: a short digest prefix, which
    /// tells keys apart across rotations and reveals nothing of the key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `presented` is the key. Digests are compared, in constant
    /// time, so neither the key's content nor its length shows in timing.
    pub fn verify(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

/// Where the admin key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// Fixed for the life of the process ([`KEY_ENV`], tests).
    Fixed(Arc<AdminKey>),
    /// A file, re-read when it changes ([`KEY_FILE_ENV`]).
    File(KeyFile),
}

impl From<AdminKey> for KeySource {
    fn from(key: AdminKey) -> Self {
        KeySource::Fixed(Arc::new(key))
    }
}

impl KeySource {
    /// The key the environment gives: [`KEY_ENV`], or the file
    /// [`KEY_FILE_ENV`] names; `None` when neither is set (the admin API is
    /// off). Both set, or a key unfit or unreadable, is an error.
    pub fn from_env() -> Result<Option<Self>, KeySourceError> {
        Self::from_vars(
            std::env::var_os(KEY_ENV).as_deref(),
            std::env::var_os(KEY_FILE_ENV).as_deref(),
        )
    }

    /// [`KeySource::from_env`] over given values of the two variables.
    pub fn from_vars(
        key: Option<&std::ffi::OsStr>,
        file: Option<&std::ffi::OsStr>,
    ) -> Result<Option<Self>, KeySourceError> {
        match (key, file) {
            (Some(_), Some(_)) => Err(KeySourceError::BothSet),
            (None, None) => Ok(None),
            (Some(key), None) => {
                let key = key.to_str().ok_or(KeyError::NotPrintable);
                let key = key.and_then(AdminKey::new).map_err(KeySourceError::Env)?;
                Ok(Some(key.into()))
            }
            (None, Some(path)) => Ok(Some(KeySource::File(KeyFile::open(Path::new(path))?))),
        }
    }

    /// The key in force now: for a file, as last read, after reading it
    /// again if it changed.
    pub fn current(&self) -> Arc<AdminKey> {
        match self {
            KeySource::Fixed(key) => Arc::clone(key),
            KeySource::File(file) => file.current(),
        }
    }
}

/// What identifies one version of the key file: it changes when the file is
/// written, replaced (a rename, or a Kubernetes secret's symlink swap: the
/// path is followed) or has its mode changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The file's identity, size and times.
    File([i64; 7]),
    /// The file could not be looked at, for this reason.
    Missing(std::io::ErrorKind),
}

fn look(path: &Path) -> Seen {
    match std::fs::metadata(path) {
        #[cfg(unix)]
        Ok(meta) => {
            use std::os::unix::fs::MetadataExt;
            Seen::File([
                meta.dev() as i64,
                meta.ino() as i64,
                meta.size() as i64,
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ctime(),
                meta.ctime_nsec(),
            ])
        }
        #[cfg(not(unix))]
        Ok(meta) => {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64);
            Seen::File([meta.len() as i64, modified, 0, 0, 0, 0, 0])
        }
        Err(e) => Seen::Missing(e.kind()),
    }
}

/// The admin key in a file, re-read when the file changes.
///
/// The file is looked at (`stat`, following symlinks) on every admin
/// request rather than watched: one system call per request on an API
/// used a few times a day, which sees every way a key is rotated (an
/// editor's rename, `kubectl`'s symlink swap of a mounted secret, a
/// rewrite in place) with nothing to set up or keep running, and takes
/// effect on the very next request. A file that becomes unreadable, or
/// holds an unfit key, keeps the previous key in force and is logged at
/// error, once per version of the file.
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Debug)]
struct FileState {
    key: Arc<AdminKey>,
    seen: Seen,
}

/// Why a version of the key file was not taken.
#[derive(Debug, thiserror::Error)]
enum Unfit {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Key(#[from] KeyError),
}

/// Reads the key in `path`: one line, its line ending dropped.
fn read_key(path: &Path) -> Result<AdminKey, Unfit> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_KEY_FILE_BYTES)
        .read_to_end(&mut bytes)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::NotPrintable)?;
    Ok(AdminKey::new(text.trim_end_matches(['\n', '\r']))?)
}

/// Warns when others than the file's owner may read it.
fn check_mode(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o044 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = %format!("{mode:03o}"),
                    "the admin key file can be read by its group or others: `chmod 600` it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

impl KeyFile {
    /// Reads the key in `path` (a fit one, or an error: the gateway does
    /// not start on a key it cannot use).
    pub fn open(path: &Path) -> Result<Self, KeySourceError> {
        let seen = look(path);
        let key = read_key(path).map_err(|e| match e {
            Unfit::Io(source) => KeySourceError::Unreadable {
                path: path.to_owned(),
                source,
            },
            Unfit::Key(source) => KeySourceError::Invalid {
                path: path.to_owned(),
                source,
            },
        })?;
        check_mode(path);
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new(FileState {
                key: Arc::new(key),
                seen,
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key in force: re-read first if the file changed since last time.
    pub fn current(&self) -> Arc<AdminKey> {
        let seen = look(&self.path);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if seen == state.seen {
            return Arc::clone(&state.key);
        }
        state.seen = seen;
        let read = match seen {
            Seen::Missing(kind) => Err(Unfit::Io(kind.into())),
            Seen::File(_) => read_key(&self.path),
        };
        match read {
            Ok(key) if key.digest == state.key.digest => {}
            Ok(key) => {
                tracing::info!(
                    file = %self.path.display(),
                    old = state.key.fingerprint(),
                    new = key.fingerprint(),
                    "admin key rotated"
                );
                check_mode(&self.path);
                state.key = Arc::new(key);
            }
            Err(e) => tracing::error!(
                file = %self.path.display(),
                kept = state.key.fingerprint(),
                "admin key file not taken ({e}); the previous key stays in force"
            ),
        }
        Arc::clone(&state.key)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme
/// case-insensitive, RFC 9110 §11.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
}

/// Who performed an admin action, for the logs.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The key's fingerprint.
    pub key: String,
    /// The client's address, when served over a socket.
    pub peer: Option<SocketAddr>,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.peer {
            Some(peer) => write!(f, "admin {} from {peer}", self.key),
            None => write!(f, "admin {}", self.key),
        }
    }
}

/// One Host (two are a bad request), an allowed one (DNS rebinding), then
/// no browser, then the address's failure budget, then the key; the first
/// failure answers.
pub(super) async fn guard(
    State(admin): State<Arc<Admin>>,
    mut request: Request,
    next: Next,
) -> Response {
    match admin.door.admit(request.headers(), Browsers::Refused) {
        Ok(()) => {}
        Err(Refusal::DuplicateHost) => return AdminError::DuplicateHost.into_response(),
        Err(Refusal::HostNotAllowed) => return AdminError::HostNotAllowed.into_response(),
        // No page in a browser has business here: any Origin (even the
        // gateway's own) or fetch metadata means a browser sent it.
        Err(Refusal::Browser | Refusal::OriginNotAllowed) => {
            return AdminError::BrowserRefused.into_response();
        }
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let address = peer.map(|p| super::ratelimit::client_network(p.ip()));
    // Before any comparison: a locked-out address learns nothing more.
    if let Err(retry_after_secs) = admin.failures.check(address) {
        return AdminError::TooManyFailures { retry_after_secs }.into_response();
    }
    let key = admin.key.current();
    if !bearer(request.headers()).is_some_and(|token| key.verify(token)) {
        if let Err(retry_after_secs) = admin.failures.failed(address) {
            return AdminError::TooManyFailures { retry_after_secs }.into_response();
        }
        tracing::warn!(
            peer = %peer.map_or_else(|| "-".into(), |p| p.to_string()),
            method = %request.method(),
            path = %request.uri().path(),
            "admin API: request without the admin key refused"
        );
        return AdminError::Unauthorized.into_response();
    }
    request.extensions_mut().insert(Actor {
        key: key.fingerprint().to_owned(),
        peer,
    });
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn keys_must_be_long_and_printable() {
        assert_eq!(AdminKey::new("").err(), Some(KeyError::TooShort(0)));
        assert_eq!(
            AdminKey::new(&KEY[..31]).err(),
            Some(KeyError::TooShort(31))
        );
        assert_eq!(
            AdminKey::new(&"k".repeat(MAX_KEY_LEN + 1)).err(),
            Some(KeyError::TooLong(MAX_KEY_LEN + 1))
        );
        for bad in [
            format!("{KEY} x"),
            format!("{KEY}\n"),
            format!("{KEY}\u{e9}"),
        ] {
            assert_eq!(
                AdminKey::new(&bad).err(),
                Some(KeyError::NotPrintable),
                "{bad:?}"
            );
        }
        assert!(AdminKey::new(KEY).is_ok());
    }

    #[test]
    fn only_the_key_itself_verifies_and_the_debug_form_hides_it() {
        let key = AdminKey::new(KEY).expect("key");
        assert!(key.verify(KEY));
        for wrong in ["", &KEY[..31], &format!("{KEY}0"), &KEY.to_uppercase()] {
            assert!(!key.verify(wrong), "{wrong:?}");
        }
        assert!(!format!("{key:?}").contains(KEY));
        assert!(key.fingerprint().starts_with("key:"));
        assert!(!KEY.contains(&key.fingerprint()[4..]));
    }

    #[test]
    fn the_key_comes_from_the_variable_or_its_file_never_both() {
        use std::ffi::OsStr;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("admin.key");
        std::fs::write(&file, format!("{KEY}\n")).expect("write");
        assert!(matches!(
            KeySource::from_vars(Some(OsStr::new(KEY)), Some(file.as_os_str())),
            Err(KeySourceError::BothSet)
        ));
        assert!(matches!(KeySource::from_vars(None, None), Ok(None)));
        assert!(matches!(
            KeySource::from_vars(Some(OsStr::new("short")), None),
            Err(KeySourceError::Env(KeyError::TooShort(5)))
        ));
        // A line ending is not part of the key.
        let source = KeySource::from_vars(None, Some(file.as_os_str()))
            .expect("file key")
            .expect("a source");
        assert!(source.current().verify(KEY));
        let missing = dir.path().join("missing.key");
        assert!(matches!(
            KeySource::from_vars(None, Some(missing.as_os_str())),
            Err(KeySourceError::Unreadable { .. })
        ));
        std::fs::write(&missing, "short\n").expect("write");
        assert!(matches!(
            KeySource::from_vars(None, Some(missing.as_os_str())),
            Err(KeySourceError::Invalid {
                source: KeyError::TooShort(5),
                ..
            })
        ));
    }

    #[test]
    fn a_key_file_rotates_and_a_bad_rotation_keeps_the_previous_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("admin.key");
        std::fs::write(&file, KEY).expect("write");
        let keys = KeyFile::open(&file).expect("open");
        assert!(keys.current().verify(KEY));

        // Replaced by rename, as editors and secret managers do.
        let next = format!("{KEY}-rotated");
        let staged = dir.path().join("admin.key.new");
        std::fs::write(&staged, format!("{next}\n")).expect("write");
        std::fs::rename(&staged, &file).expect("rename");
        assert!(keys.current().verify(&next));
        assert!(!keys.current().verify(KEY));

        // Unfit or gone: the previous key stays.
        std::fs::write(&file, "short").expect("write");
        assert!(keys.current().verify(&next));
        std::fs::remove_file(&file).expect("remove");
        assert!(keys.current().verify(&next));
        std::fs::write(&file, format!("{KEY} with spaces")).expect("write");
        assert!(keys.current().verify(&next));

        // A fit key again is taken.
        std::fs::write(&file, KEY).expect("write");
        assert!(keys.current().verify(KEY));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let headers = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().expect("value"));
            h
        };
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearerabc")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}

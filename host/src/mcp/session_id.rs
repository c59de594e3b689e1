//! Self-contained 2025 session ids, so that replicas behind a load balancer
//! without affinity can all serve one session (docs/scale-out.md).
//!
//! With a session key shared by the replicas (`[server] session_key_file` or
//! `GATEWAY_SESSION_KEY`, at least 32 bytes), a session id is
//!
//! ```text
//! s1.<nonce>.<principal>.<protocol version>.<mac>
//! ```
//!
//! `nonce` is 16 random bytes, `principal` the first 16 bytes of the SHA-256
//! of the owning caller's identity, both base64url; `mac` is HMAC-SHA256
//! under the key of everything before it. Any replica holding the key
//! accepts an id whose MAC verifies and rebuilds the session from it (rmcp's
//! session restore, [`SignedStore`]); only the principal named in the id may
//! use it. An id carries no secret: it grants nothing its owner's own
//! credentials do not already grant.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams, ProtocolVersion};
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use sha2::{Digest, Sha256};

use crate::auth::Principal;

/// The environment variable holding the session key itself.
pub const KEY_ENV: &str = "GATEWAY_SESSION_KEY";
/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// The id's format tag.
const TAG: &str = "s1";
/// The longest protocol version carried (the revisions are 10 characters).
const MAX_VERSION_LEN: usize = 32;

/// Why the session key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionKeyError {
    /// Shorter than [`MIN_KEY_BYTES`].
    #[error("the session key is {0} bytes; it must be at least {MIN_KEY_BYTES}")]
    TooShort(usize),
    /// Both the variable and the file are set.
    #[error("{KEY_ENV} and [server] session_key_file are both set: set one")]
    Both,
    /// The key file could not be read.
    #[error("reading the session key file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a session id was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadSessionId {
    /// Not of the signed form.
    #[error("not a signed session id")]
    Malformed,
    /// The MAC does not verify under this key: forged, altered, or signed by
    /// another key.
    #[error("the session id's signature does not verify")]
    BadMac,
}

/// The digest of a principal an id names: 16 bytes of SHA-256 over its
/// kind and identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrincipalDigest([u8; 16]);

impl PrincipalDigest {
    /// The digest as lower-case hex.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The digest of `principal`.
    pub fn of(principal: &Principal) -> Self {
        let mut hasher = Sha256::new();
        match principal {
            Principal::Local => hasher.update(b"local"),
            Principal::Key { id } => {
                hasher.update(b"key\0");
                hasher.update(id.as_bytes());
            }
            Principal::Token { issuer, subject } => {
                hasher.update(b"token\0");
                hasher.update(issuer.as_bytes());
                hasher.update(b"\0");
                hasher.update(subject.as_bytes());
            }
        }
        let full = hasher.finalize();
        let mut digest = [0; 16];
        digest.copy_from_slice(&full[..16]);
        Self(digest)
    }
}

/// What a verified id says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Who the session belongs to.
    pub principal: PrincipalDigest,
    /// The protocol version the client asked for at `initialize`.
    pub protocol_version: String,
}

/// The key the replicas share.
pub struct SessionKey {
    key: hmac::Key,
    random: SystemRandom,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A key from `bytes` (at least [`MIN_KEY_BYTES`]).
    pub fn new(bytes: &[u8]) -> Result<Self, SessionKeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(SessionKeyError::TooShort(bytes.len()));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
            random: SystemRandom::new(),
        })
    }

    /// The key from `GATEWAY_SESSION_KEY` (`env`) or the first line of
    /// `file`; `None` when neither is set (each replica then keeps its own
    /// sessions).
    pub fn configured(
        env: Option<String>,
        file: Option<&Path>,
    ) -> Result<Option<Self>, SessionKeyError> {
        let env = env.filter(|k| !k.is_empty());
        match (env, file) {
            (Some(_), Some(_)) => Err(SessionKeyError::Both),
            (Some(key), None) => Self::new(key.as_bytes()).map(Some),
            (None, Some(path)) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| SessionKeyError::File {
                        path: path.to_owned(),
                        source,
                    })?;
                let line = text.lines().next().unwrap_or_default().trim_end();
                Self::new(line.as_bytes()).map(Some)
            }
            (None, None) => Ok(None),
        }
    }

    /// A key of its own for `purpose`, derived from this one (HMAC-SHA256 of
    /// the purpose under it): replicas sharing the session key share it, and
    /// nothing signed under it verifies as a session id.
    pub fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, purpose);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// A new session id for `principal`, opened with `protocol_version`
    /// (carried only if it is short and plain; else the latest is assumed
    /// when restoring).
    pub fn mint(&self, principal: &PrincipalDigest, protocol_version: &str) -> String {
        let mut nonce = [0u8; 16];
        // The system's random source does not fail on Linux once booted; were
        // it to, the id stays unique enough through the principal and is
        // still signed.
        let _ = self.random.fill(&mut nonce);
        let version = if plain_version(protocol_version) {
            protocol_version
        } else {
            "-"
        };
        let body = format!(
            "{TAG}.{}.{}.{version}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(principal.0),
        );
        let tag = hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// What `id` says, if this key signed it.
    pub fn open(&self, id: &str) -> Result<Claims, BadSessionId> {
        let (body, mac) = id.rsplit_once('.').ok_or(BadSessionId::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| BadSessionId::Malformed)?;
        hmac::verify(&self.key, body.as_bytes(), &mac).map_err(|_| BadSessionId::BadMac)?;
        let mut parts = body.split('.');
        let (Some(TAG), Some(_nonce), Some(principal), Some(version), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(BadSessionId::Malformed);
        };
        let principal = URL_SAFE_NO_PAD
            .decode(principal)
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .ok_or(BadSessionId::Malformed)?;
        Ok(Claims {
            principal: PrincipalDigest(principal),
            protocol_version: version.to_owned(),
        })
    }
}

/// A protocol version that can travel in an id: letters, digits and `-`.
fn plain_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= MAX_VERSION_LEN
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// rmcp's session store over signed ids: nothing is stored, since a
/// verified id holds all a replica needs to rebuild its session (the
/// `initialize` rmcp replays: the id's protocol version, no client
/// capabilities; the gateway asks nothing of its clients).
#[derive(Debug, Clone)]
pub struct SignedStore(pub Arc<SessionKey>);

#[async_trait::async_trait]
impl SessionStore for SignedStore {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Ok(claims) = self.0.open(session_id) else {
            return Ok(None);
        };
        let version = serde_json::from_value::<ProtocolVersion>(serde_json::Value::String(
            claims.protocol_version,
        ))
        .unwrap_or_default();
        let params = InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new("restored-session", "0"),
        )
        .with_protocol_version(version);
        Ok(Some(SessionState::new(params)))
    }

    async fn store(&self, _id: &str, _state: &SessionState) -> Result<(), SessionStoreError> {
        Ok(())
    }

    async fn delete(&self, _id: &str) -> Result<(), SessionStoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SessionKey {
        SessionKey::new(&[byte; 32]).expect("key")
    }

    #[test]
    fn a_minted_id_opens_under_its_key_only() {
        let alice = PrincipalDigest::of(&Principal::Key { id: "k_a".into() });
        let id = key(1).mint(&alice, "2025-06-18");
        assert!(id.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{id}");
        assert_eq!(
            key(1).open(&id),
            Ok(Claims {
                principal: alice,
                protocol_version: "2025-06-18".into()
            })
        );
        assert_eq!(key(2).open(&id), Err(BadSessionId::BadMac));
        assert_ne!(
            key(1).mint(&alice, "2025-06-18"),
            id,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn an_altered_id_is_refused() {
        let k = key(7);
        let alice = PrincipalDigest::of(&Principal::Key { id: "k_a".into() });
        let bob = PrincipalDigest::of(&Principal::Key { id: "k_b".into() });
        assert_ne!(alice, bob);
        let id = k.mint(&alice, "2025-06-18");
        let parts: Vec<&str> = id.split('.').collect();
        // Bob's digest with Alice's MAC.
        let swapped = format!(
            "{}.{}.{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(bob.0),
            parts[3],
            parts[4]
        );
        assert_eq!(k.open(&swapped), Err(BadSessionId::BadMac));
        let other_version = id.replace("2025-06-18", "2025-11-25");
        assert_eq!(k.open(&other_version), Err(BadSessionId::BadMac));
        assert_eq!(k.open("not-an-id"), Err(BadSessionId::Malformed));
        assert_eq!(k.open("a.b"), Err(BadSessionId::Malformed));
        assert_eq!(
            k.open("0b6c8a1e-6c53-4a55-9a43-6f5d7f4c8a11"),
            Err(BadSessionId::Malformed),
            "an unsigned id of a gateway without a key"
        );
    }

    #[test]
    fn odd_protocol_versions_are_not_carried() {
        let k = key(3);
        let p = PrincipalDigest::of(&Principal::Local);
        let id = k.mint(&p, "2025.06/18 x");
        assert_eq!(k.open(&id).map(|c| c.protocol_version), Ok("-".into()));
    }

    #[test]
    fn short_keys_and_two_sources_are_refused() {
        assert!(matches!(
            SessionKey::new(&[0; 31]),
            Err(SessionKeyError::TooShort(31))
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("key");
        std::fs::write(&file, format!("{}\n", "k".repeat(40))).expect("write");
        assert!(matches!(
            SessionKey::configured(Some("x".repeat(40)), Some(&file)),
            Err(SessionKeyError::Both)
        ));
        let from_file = SessionKey::configured(None, Some(&file))
            .expect("file key")
            .expect("some");
        let from_env = SessionKey::configured(Some("k".repeat(40)), None)
            .expect("env key")
            .expect("some");
        let id = from_file.mint(&PrincipalDigest::of(&Principal::Local), "2025-06-18");
        assert!(from_env.open(&id).is_ok(), "the file's line is the key");
        assert!(matches!(SessionKey::configured(None, None), Ok(None)));
    }

    #[tokio::test]
    async fn the_store_loads_a_verified_id_only() {
        let k = Arc::new(key(5));
        let store = SignedStore(Arc::clone(&k));
        let id = k.mint(&PrincipalDigest::of(&Principal::Local), "2025-06-18");
        let state = store.load(&id).await.expect("load").expect("state");
        assert_eq!(
            state.initialize_params.protocol_version,
            ProtocolVersion::V_2025_06_18
        );
        let other = SignedStore(Arc::new(key(6)));
        assert!(other.load(&id).await.expect("load").is_none());
    }
}

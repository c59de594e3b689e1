//! Who may use the admin API: a non-browser client that names one allowed
//! Host and presents the one admin key from the gateway's environment as
//! `Authorization: Bearer <key>`, compared in constant time, from an
//! address that has not failed the check too often ([`super::ratelimit`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Admin;
use super::error::AdminError;
use crate::frontdoor::{Browsers, Refusal};

/// The environment variable holding the admin key; the API is off without it.
pub const KEY_ENV: &str = "GATEWAY_ADMIN_KEY";
/// Shortest key accepted: the key loads code into the gateway, so it must
/// be unguessable (`openssl rand -hex 32` gives 64 characters).
pub const MIN_KEY_LEN: usize = 32;
/// Longest key accepted (it travels in a header).
pub const MAX_KEY_LEN: usize = 1024;

/// Why the admin key was refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Too short to be unguessable.
    #[error(
        "{KEY_ENV} is {0} characters long; use at least {MIN_KEY_LEN} (e.g. `openssl rand -hex 32`)"
    )]
    TooShort(usize),
    /// Longer than a header should carry.
    #[error("{KEY_ENV} is {0} characters long; use at most {MAX_KEY_LEN}")]
    TooLong(usize),
    /// Spaces, control characters or non-ASCII (the key travels in a header).
    #[error("{KEY_ENV} must be printable ASCII without spaces")]
    NotPrintable,
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
    let address = peer.map(|p| p.ip());
    // Before any comparison: a locked-out address learns nothing more.
    if let Err(retry_after_secs) = admin.failures.check(address) {
        return AdminError::TooManyFailures { retry_after_secs }.into_response();
    }
    if !bearer(request.headers()).is_some_and(|token| admin.key.verify(token)) {
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
        key: admin.key.fingerprint().to_owned(),
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

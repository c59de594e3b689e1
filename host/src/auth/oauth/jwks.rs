//! The authorization server's signing keys: fetched (after discovering the
//! JWKS URL from the issuer's metadata when it is not configured), cached for
//! a bounded time, refetched once on an unknown `kid` but at most once per
//! [`KID_REFETCH_INTERVAL`], so tokens with made-up key ids cannot make the
//! gateway hammer the identity provider.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use url::Url;

use super::fetch::{check_url, get_json};
use super::{OAuthError, SigningAlgorithm};

/// How long keys are kept when the JWKS answer says nothing.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Shortest time keys are kept, whatever `Cache-Control` says.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// Longest time keys are kept, whatever `Cache-Control` says.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// At most one refetch for an unknown `kid` per this interval.
pub const KID_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// After a failed fetch, stale keys are kept and no fetch is tried for this long.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(10);

/// The key type a signing algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    Ed25519,
}

impl KeyKind {
    fn of(alg: SigningAlgorithm) -> Self {
        match alg {
            SigningAlgorithm::RS256 => KeyKind::Rsa,
            SigningAlgorithm::ES256 => KeyKind::EcP256,
            SigningAlgorithm::EdDSA => KeyKind::Ed25519,
        }
    }
}

/// One usable public signing key.
pub(crate) struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one: the only algorithm it verifies.
    alg: Option<String>,
    kind: KeyKind,
    /// The verification key.
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Whether this key verifies `alg`: its type fits and its own `alg`, if
    /// any, is the same.
    fn fits(&self, alg: SigningAlgorithm) -> bool {
        self.kind == KeyKind::of(alg) && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }
}

/// Reads the usable signing keys of a JWKS document. Keys of other types
/// (symmetric `oct` keys above all: never an HMAC secret), curves, or uses
/// are skipped, as are entries this crate cannot parse.
pub(crate) fn parse_jwks(doc: &serde_json::Value) -> Result<Vec<Arc<Key>>, String> {
    let entries = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("no \"keys\" array")?;
    let mut keys = Vec::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        if matches!(
            jwk.common.public_key_use,
            Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
        ) {
            continue;
        }
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                KeyKind::EcP256
            }
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                KeyKind::Ed25519
            }
            _ => continue,
        };
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.push(Arc::new(Key {
            kid: jwk.common.key_id.clone(),
            alg: entry.get("alg").and_then(|a| a.as_str()).map(str::to_owned),
            kind,
            decoding,
        }));
    }
    if keys.is_empty() {
        return Err("no usable signing key (RSA, P-256 or Ed25519)".into());
    }
    Ok(keys)
}

/// The keys in use.
#[derive(Debug, Default)]
struct KeySet {
    keys: Vec<Arc<Key>>,
    /// When to refetch; `None` before the first successful fetch.
    expires: Option<Instant>,
    /// Bumped by every successful fetch.
    generation: u64,
}

/// What a key lookup found.
enum Lookup {
    Found(Arc<Key>),
    /// No key has this id: a refetch may find it (the keys were rotated).
    UnknownKid,
    /// A key with this id exists but does not fit the algorithm, or the token
    /// names no key and there is no single fitting one: a refetch would not help.
    Unfit,
}

impl KeySet {
    fn stale(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now >= at)
    }

    fn lookup(&self, kid: Option<&str>, alg: SigningAlgorithm) -> Lookup {
        match kid {
            Some(kid) => match self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                Some(key) if key.fits(alg) => Lookup::Found(Arc::clone(key)),
                Some(_) => Lookup::Unfit,
                None => Lookup::UnknownKid,
            },
            // A token without `kid`: only when exactly one key fits.
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Lookup::Found(Arc::clone(key)),
                    _ => Lookup::Unfit,
                }
            }
        }
    }
}

/// Why a fetch is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// Never fetched, or past the TTL.
    Stale,
    /// A token names a key id the cached set lacks.
    UnknownKid,
    /// The operator asked (startup warm-up).
    Forced,
}

#[derive(Debug, Default)]
struct FetchState {
    /// The JWKS URL once discovered.
    discovered: Option<Url>,
    last_kid_refetch: Option<Instant>,
    last_failure: Option<Instant>,
}

/// Fetches and caches one issuer's signing keys.
#[derive(Debug)]
pub(crate) struct KeyCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    issuer: String,
    configured: Option<Url>,
    keys: RwLock<Arc<KeySet>>,
    /// One fetch at a time; waiting callers reuse its result.
    fetch: tokio::sync::Mutex<FetchState>,
    /// A background refresh is under way.
    refreshing: AtomicBool,
    fetches: AtomicU64,
}

impl KeyCache {
    /// A cache for `issuer`'s keys at `jwks_url` (or discovered).
    pub(crate) fn new(issuer: String, jwks_url: Option<Url>) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuer,
                configured: jwks_url,
                keys: RwLock::new(Arc::new(KeySet::default())),
                fetch: tokio::sync::Mutex::new(FetchState::default()),
                refreshing: AtomicBool::new(false),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// How many fetches of the key set were attempted (for diagnostics).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The key that verifies a token naming `kid` and signed with `alg`, if
    /// any. Before the first successful fetch, the fetch happens now; past
    /// the TTL, it happens in the background while the cached keys keep
    /// serving (so an identity provider that is slow or down delays no
    /// request). An unknown `kid` refetches now, within its rate limit.
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: SigningAlgorithm,
    ) -> Option<Arc<Key>> {
        let inner = &self.inner;
        let mut set = inner.current();
        let mut fetched = false;
        if set.stale(Instant::now()) {
            if set.keys.is_empty() {
                fetched = inner.refresh(Reason::Stale, set.generation).await.is_ok();
                set = inner.current();
            } else {
                self.refresh_in_background(set.generation);
            }
        }
        match set.lookup(kid, alg) {
            Lookup::Found(key) => return Some(key),
            Lookup::Unfit => return None,
            Lookup::UnknownKid if fetched => return None,
            Lookup::UnknownKid => {}
        }
        if inner
            .refresh(Reason::UnknownKid, set.generation)
            .await
            .is_ok()
            && let Lookup::Found(key) = inner.current().lookup(kid, alg)
        {
            return Some(key);
        }
        None
    }

    /// Whether no signing key has ever been fetched: the identity provider
    /// is unreachable or misconfigured, which is not the caller's fault.
    pub(crate) fn has_no_keys(&self) -> bool {
        self.inner.current().keys.is_empty()
    }

    /// Fetches the keys now; the number of usable keys.
    pub(crate) async fn refresh_now(&self) -> Result<usize, OAuthError> {
        let seen = self.inner.current().generation;
        self.inner.refresh(Reason::Forced, seen).await?;
        Ok(self.inner.current().keys.len())
    }

    /// Starts one background refresh unless one is under way.
    fn refresh_in_background(&self, seen: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        runtime.spawn(async move {
            let _ = inner.refresh(Reason::Stale, seen).await;
            inner.refreshing.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn install(&self, keys: Vec<Arc<Key>>, ttl: Duration, generation: u64) {
        let set = Arc::new(KeySet {
            keys,
            expires: Some(Instant::now() + ttl),
            generation,
        });
        match self.keys.write() {
            Ok(mut slot) => *slot = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// One fetch for `reason`, unless another caller fetched since this one
    /// saw generation `seen` (then its result counts), or the rate limits say
    /// no (then `Err(RateLimited)`).
    async fn refresh(&self, reason: Reason, seen: u64) -> Result<(), OAuthError> {
        let mut state = self.fetch.lock().await;
        if self.current().generation != seen {
            return Ok(());
        }
        let now = Instant::now();
        let recently =
            |at: Option<Instant>, interval| at.is_some_and(|at| now.duration_since(at) < interval);
        match reason {
            Reason::Stale | Reason::UnknownKid if recently(state.last_failure, FAILURE_BACKOFF) => {
                return Err(OAuthError::RateLimited);
            }
            Reason::UnknownKid if recently(state.last_kid_refetch, KID_REFETCH_INTERVAL) => {
                return Err(OAuthError::RateLimited);
            }
            Reason::UnknownKid => state.last_kid_refetch = Some(now),
            Reason::Stale | Reason::Forced => {}
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch_keys(&mut state).await {
            Ok((keys, ttl)) => {
                state.last_failure = None;
                self.install(keys, ttl, seen + 1);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "fetching the OAuth signing keys failed; keeping the keys cached");
                state.last_failure = Some(now);
                // Cached keys stay in use, and count as fresh until the
                // backoff is over, so requests do not keep asking.
                let current = self.current();
                if !current.keys.is_empty() {
                    self.install(current.keys.clone(), FAILURE_BACKOFF, current.generation);
                }
                Err(e)
            }
        }
    }

    async fn fetch_keys(
        &self,
        state: &mut FetchState,
    ) -> Result<(Vec<Arc<Key>>, Duration), OAuthError> {
        let url = match (&self.configured, &state.discovered) {
            (Some(url), _) | (None, Some(url)) => url.clone(),
            (None, None) => {
                let url = discover(&self.issuer).await?;
                state.discovered = Some(url.clone());
                url
            }
        };
        let fetched = get_json(&url).await?;
        let keys = parse_jwks(&fetched.json).map_err(|reason| OAuthError::Document {
            url: url.to_string(),
            reason,
        })?;
        let ttl = fetched
            .max_age
            .map_or(DEFAULT_TTL, |age| age.clamp(MIN_TTL, MAX_TTL));
        Ok((keys, ttl))
    }
}

/// Where an issuer's metadata may be, in the order the MCP authorization
/// spec tries them: RFC 8414 (path inserted after the host), then OpenID
/// Connect discovery (path appended, then path inserted).
pub(crate) fn metadata_urls(issuer: &Url) -> Vec<String> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    let mut urls = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    urls.dedup();
    urls
}

/// The issuer's `jwks_uri`, from the first metadata document that names this
/// very issuer (RFC 8414 §3.3: a document for another issuer is ignored).
async fn discover(issuer: &str) -> Result<Url, OAuthError> {
    let base = Url::parse(issuer).map_err(|_| OAuthError::Url {
        url: issuer.to_owned(),
        reason: "not a URL",
    })?;
    let mut last = String::new();
    for candidate in metadata_urls(&base) {
        let Ok(url) = Url::parse(&candidate) else {
            continue;
        };
        let doc = match get_json(&url).await {
            Ok(fetched) => fetched.json,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            last = format!("{candidate}: names another issuer");
            continue;
        }
        let Some(jwks) = doc.get("jwks_uri").and_then(|v| v.as_str()) else {
            last = format!("{candidate}: no jwks_uri");
            continue;
        };
        return check_url(jwks, true).map_err(|problem| OAuthError::Document {
            url: candidate.clone(),
            reason: format!("jwks_uri: {problem}"),
        });
    }
    Err(OAuthError::Discovery {
        issuer: issuer.to_owned(),
        reason: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_for_where_the_spec_says() {
        let keycloak = Url::parse("https://kc.example.com/realms/acme").expect("url");
        assert_eq!(
            metadata_urls(&keycloak),
            [
                "https://kc.example.com/.well-known/oauth-authorization-server/realms/acme",
                "https://kc.example.com/realms/acme/.well-known/openid-configuration",
                "https://kc.example.com/.well-known/openid-configuration/realms/acme",
            ]
        );
        let root = Url::parse("https://idp.example.com/").expect("url");
        assert_eq!(
            metadata_urls(&root),
            [
                "https://idp.example.com/.well-known/oauth-authorization-server",
                "https://idp.example.com/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn symmetric_and_unknown_keys_are_never_loaded() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "weird", "kid": "w"},
        ]});
        assert_eq!(
            parse_jwks(&doc).map(|k| k.len()),
            Err("no usable signing key (RSA, P-256 or Ed25519)".to_owned())
        );
        assert_eq!(
            parse_jwks(&serde_json::json!({})).map(|k| k.len()),
            Err("no \"keys\" array".to_owned())
        );
    }
}

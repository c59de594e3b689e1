//! This gateway as an OAuth 2.1 resource server (the MCP authorization spec,
//! 2025-06-18 onward; see `docs/auth.md`): it validates the access tokens an
//! authorization server issued for it, and publishes where that server is
//! (RFC 9728 Protected Resource Metadata).
//!
//! A token is accepted when all of these hold:
//! - its header `alg` is one of the configured algorithms (RS256, ES256,
//!   EdDSA: never `none` nor an HMAC algorithm, so a public key can never be
//!   used as an HMAC secret);
//! - its `kid` names a key of the issuer's JWKS (fetched and cached; an
//!   unknown `kid` triggers one refetch, at most once per 30 s) whose type and
//!   `alg` fit the header's `alg`; keys or URLs embedded in the token
//!   (`jwk`, `jku`, `x5u`, `x5c`) are never used;
//! - the signature verifies;
//! - `exp` is in the future and `nbf` (if any) in the past, within the leeway;
//! - `iss` is exactly the configured issuer and `aud` contains this
//!   gateway's audience (RFC 8707 audience binding: a token minted for
//!   another resource is refused);
//! - `sub` is a string;
//! - the required scope, if configured, is in `scope` or `scp`.
//!
//! The caller is `Principal::Token { issuer, subject: sub }`. Its teams are
//! the values of the team claim that name a team of `[auth.teams]`; its scope
//! is the union of their tools, and its team the first of them in claim order.
//! A token naming no known team gets `default_tools` (none by default: the
//! built-in tools only).

mod fetch;
mod jwks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde_json::{Map, Value, json};

pub use fetch::{check_resource, check_url};
pub use jwks::{DEFAULT_TTL, KID_REFETCH_INTERVAL, MAX_TTL, MIN_TTL};

use super::{AuthError, Caller, Principal, Scope};
use crate::settings::{AuthMode, AuthSettings, OAuthSettings};

/// The well-known path of the protected resource metadata (RFC 9728 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
/// Longest token examined (real access tokens are a few KiB).
pub const MAX_TOKEN_LEN: usize = 16 << 10;

/// The token signing algorithms the gateway accepts: asymmetric only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (keys of 2048 bits or more).
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlgorithm {
    /// All of them, the default.
    pub const ALL: [SigningAlgorithm; 3] = [
        SigningAlgorithm::RS256,
        SigningAlgorithm::ES256,
        SigningAlgorithm::EdDSA,
    ];

    /// Its JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm of a JOSE name, if accepted at all.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    fn from_jwt(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::RS256 => Some(SigningAlgorithm::RS256),
            Algorithm::ES256 => Some(SigningAlgorithm::ES256),
            Algorithm::EdDSA => Some(SigningAlgorithm::EdDSA),
            _ => None,
        }
    }

    fn to_jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::RS256 => Algorithm::RS256,
            SigningAlgorithm::ES256 => Algorithm::ES256,
            SigningAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// Why the OAuth validator could not be built or its keys fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// `[auth] mode` is not `"oauth"`, or `[auth.oauth]` is missing.
    #[error("OAuth is not configured: set [auth] mode = \"oauth\" and an [auth.oauth] table")]
    NotConfigured,
    /// A URL the gateway will not use.
    #[error("{url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// Connecting or the exchange failed.
    #[error("fetching {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// An answer other than 200.
    #[error("fetching {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// A metadata or JWKS document that is not what it should be.
    #[error("{url}: {reason}")]
    Document {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No metadata document of the issuer names its signing keys.
    #[error("no metadata of {issuer} names its jwks_uri ({reason}); set auth.oauth.jwks_url")]
    Discovery {
        /// The issuer.
        issuer: String,
        /// The last failure.
        reason: String,
    },
    /// A fetch was skipped: one was made or failed too recently.
    #[error("a key fetch was made or failed too recently; not fetching again yet")]
    RateLimited,
}

/// Validates access tokens for this gateway and describes it as a protected
/// resource.
#[derive(Debug)]
pub struct OAuthValidator {
    settings: OAuthSettings,
    teams: BTreeMap<String, Scope>,
    keys: jwks::KeyCache,
    /// The path of the resource URI (`/mcp`), or empty for a root resource.
    resource_path: String,
    /// The metadata document's URL (path-inserted form).
    metadata_url: String,
    /// The claim checks for each accepted algorithm, built once.
    validations: Vec<(SigningAlgorithm, Validation)>,
    /// Tokens already verified, by their SHA-256 (see [`Verified`]).
    verified: Verified,
}

/// How long a verified token is trusted without verifying it again, at most
/// (never past its `exp`): bounds how long a key withdrawn from the key set
/// keeps vouching for tokens it signed.
pub const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// Verified tokens remembered at most (the table is emptied when full).
const VERIFIED_MAX: usize = 10_000;

/// A client sends the same token on every request until it expires: after
/// the first, its signature and claims are not checked again, only looked
/// up by the token's SHA-256 (a failed token is never remembered).
#[derive(Debug, Default)]
struct Verified {
    tokens: std::sync::RwLock<std::collections::HashMap<[u8; 32], (Caller, std::time::Instant)>>,
}

impl Verified {
    fn get(&self, digest: &[u8; 32]) -> Option<Caller> {
        let tokens = self.tokens.read().ok()?;
        let (caller, until) = tokens.get(digest)?;
        (std::time::Instant::now() < *until).then(|| caller.clone())
    }

    fn put(&self, digest: [u8; 32], caller: &Caller, lifetime: std::time::Duration) {
        if let Ok(mut tokens) = self.tokens.write() {
            if tokens.len() >= VERIFIED_MAX {
                let now = std::time::Instant::now();
                tokens.retain(|_, (_, until)| *until > now);
                if tokens.len() >= VERIFIED_MAX {
                    tokens.clear();
                }
            }
            tokens.insert(
                digest,
                (
                    caller.clone(),
                    std::time::Instant::now() + lifetime.min(VERIFIED_TTL),
                ),
            );
        }
    }
}

impl OAuthValidator {
    /// A validator for `[auth.oauth]` and `[auth.teams]`. Fetches nothing yet:
    /// keys are fetched on the first token (or by [`Self::refresh_keys`]).
    pub fn new(settings: &AuthSettings) -> Result<Self, OAuthError> {
        let oauth = match (&settings.mode, &settings.oauth) {
            (AuthMode::OAuth, Some(oauth)) => oauth.clone(),
            _ => return Err(OAuthError::NotConfigured),
        };
        let bad = |url: &str, problem: crate::settings::Problem| OAuthError::Url {
            url: url.to_owned(),
            reason: match problem {
                crate::settings::Problem::BadUrl { reason, .. } => reason,
                _ => "not an absolute URL",
            },
        };
        check_url(&oauth.issuer, false).map_err(|p| bad(&oauth.issuer, p))?;
        let resource = check_resource(&oauth.resource).map_err(|p| bad(&oauth.resource, p))?;
        let jwks_url = oauth
            .jwks_url
            .as_deref()
            .map(|u| check_url(u, true).map_err(|p| bad(u, p)))
            .transpose()?;
        let resource_path = resource.path().trim_end_matches('/').to_owned();
        let metadata_url = format!(
            "{}{METADATA_PATH}{resource_path}",
            resource.origin().ascii_serialization()
        );
        if HeaderValue::from_str(&metadata_url).is_err() {
            return Err(OAuthError::Url {
                url: oauth.resource.clone(),
                reason: "cannot appear in a WWW-Authenticate header",
            });
        }
        let validations = oauth
            .algorithms
            .iter()
            .map(|alg| {
                let mut v = Validation::new(alg.to_jwt());
                v.leeway = oauth.leeway_s;
                v.validate_exp = true;
                v.validate_nbf = true;
                v.validate_aud = true;
                v.set_audience(&[&oauth.audience]);
                v.set_issuer(&[&oauth.issuer]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (*alg, v)
            })
            .collect();
        Ok(Self {
            verified: Verified::default(),
            validations,
            keys: jwks::KeyCache::new(oauth.issuer.clone(), jwks_url),
            teams: settings.teams.clone(),
            settings: oauth,
            resource_path,
            metadata_url,
        })
    }

    /// The canonical resource URI (`[auth.oauth] resource`).
    pub fn resource(&self) -> &str {
        &self.settings.resource
    }

    /// Where the protected resource metadata is served: the path-inserted
    /// well-known URL of the resource (RFC 9728 §3.1).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// Fetches the signing keys now (startup warm-up, or to see a
    /// configuration mistake at once); the number of usable keys.
    pub async fn refresh_keys(&self) -> Result<usize, OAuthError> {
        self.keys.refresh_now().await
    }

    /// How many key fetches were attempted so far.
    pub fn key_fetches(&self) -> u64 {
        self.keys.fetch_count()
    }

    /// Validates a bearer token (the credential alone, without `Bearer `).
    pub async fn validate(&self, token: &str) -> Result<Caller, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Invalid);
        }
        let digest: [u8; 32] = {
            use sha2::Digest as _;
            sha2::Sha256::digest(token.as_bytes()).into()
        };
        if let Some(caller) = self.verified.get(&digest) {
            return Ok(caller);
        }
        let (caller, lifetime) = self.verify(token).await?;
        self.verified.put(digest, &caller, lifetime);
        Ok(caller)
    }

    /// Checks a token's signature and claims; the caller, and how long the
    /// token has left before its `exp`.
    async fn verify(&self, token: &str) -> Result<(Caller, std::time::Duration), AuthError> {
        // The header is read unverified only to choose the key; `none`, HMAC
        // and every algorithm outside the configured set end here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let (alg, validation) = SigningAlgorithm::from_jwt(header.alg)
            .and_then(|alg| self.validations.iter().find(|(a, _)| *a == alg))
            .ok_or(AuthError::Invalid)?;
        let Some(key) = self.keys.key_for(header.kid.as_deref(), *alg).await else {
            // With no keys at all, no token could be checked: a temporary
            // failure of the gateway's, not a bad token (clients retry
            // rather than sign in again).
            return Err(if self.keys.has_no_keys() {
                AuthError::Unavailable
            } else {
                AuthError::Invalid
            });
        };
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?
            .claims;
        self.check_times(&claims)?;
        // `iss` exactly one string equal to the issuer (the crate also
        // accepts an array sharing one value).
        if claims.get("iss").and_then(Value::as_str) != Some(self.settings.issuer.as_str()) {
            return Err(AuthError::Invalid);
        }
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(AuthError::Invalid)?
            .to_owned();
        if let Some(required) = &self.settings.required_scope
            && !scopes(&claims).any(|s| s == required)
        {
            return Err(AuthError::InsufficientScope);
        }
        let (team, scope) = self.team_and_scope(&claims);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let left = claims
            .get("exp")
            .and_then(Value::as_f64)
            .map_or(0.0, |exp| (exp - now).max(0.0));
        let caller = Caller {
            principal: Principal::Token {
                issuer: self.settings.issuer.clone(),
                subject,
            },
            team,
            scope,
        };
        Ok((
            caller,
            std::time::Duration::from_secs_f64(left.min(86_400.0)),
        ))
    }

    /// `exp` and `nbf` checked again here, as numbers. jsonwebtoken 9.x
    /// skips its time check for a claim of the wrong type unless the claim
    /// is also required (GHSA-h395-gr6q-cpjc, CVE-2026-25537): `exp` is
    /// required above, but `nbf` is optional, and `"nbf": "9999999999"` must
    /// not pass.
    fn check_times(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let leeway = self.settings.leeway_s as f64;
        match claims.get("exp").map(Value::as_f64) {
            Some(Some(exp)) if exp + leeway >= now => {}
            Some(Some(_)) => return Err(AuthError::Expired),
            Some(None) | None => return Err(AuthError::Invalid),
        }
        match claims.get("nbf").map(Value::as_f64) {
            None => Ok(()),
            Some(Some(nbf)) if nbf <= now + leeway => Ok(()),
            Some(Some(_)) => Err(AuthError::Expired),
            Some(None) => Err(AuthError::Invalid),
        }
    }

    /// The first known team of the team claim, and the union of the tools
    /// of every known team named there.
    fn team_and_scope(&self, claims: &Map<String, Value>) -> (Option<String>, Scope) {
        let known: Vec<&str> = self
            .settings
            .team_claim
            .as_deref()
            .and_then(|name| claim(claims, name))
            .map(claim_strings)
            .unwrap_or_default()
            .into_iter()
            .filter(|v| self.teams.contains_key(*v))
            .collect();
        let Some(first) = known.first() else {
            return (None, self.settings.default_tools.clone());
        };
        let scope = if known.len() == 1 {
            self.teams[*first].clone()
        } else {
            let patterns = known
                .iter()
                .flat_map(|t| self.teams[*t].patterns())
                .map(|p| p.as_str());
            // Every pattern was checked when the settings were read.
            Scope::from_patterns(patterns).unwrap_or_else(|_| Scope::none())
        };
        (Some((*first).to_owned()), scope)
    }

    /// The protected resource metadata document (RFC 9728 §2).
    pub fn metadata(&self) -> Value {
        let mut doc = json!({
            "resource": self.settings.resource,
            "authorization_servers": [self.settings.issuer],
            "bearer_methods_supported": ["header"],
        });
        if let Some(scope) = &self.settings.required_scope {
            doc["scopes_supported"] = json!([scope]);
        }
        doc
    }

    /// The `WWW-Authenticate` value answering `error` (RFC 6750 §3, RFC 9728
    /// §5.1): `Bearer resource_metadata="…"`, then the error code and a
    /// description when there is one, and the scope this server requires.
    pub fn www_authenticate(&self, error: &AuthError) -> HeaderValue {
        let mut value = format!("Bearer resource_metadata=\"{}\"", self.metadata_url);
        if let Some(code) = error.oauth_code() {
            value.push_str(&format!(", error=\"{code}\""));
            // The messages are fixed ASCII texts without quotes or backslashes.
            let description = error.to_string();
            if description
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
            {
                value.push_str(&format!(", error_description=\"{description}\""));
            }
        }
        if let Some(scope) = &self.settings.required_scope {
            value.push_str(&format!(", scope=\"{scope}\""));
        }
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

/// Finds a claim by its exact name, or else by a dotted path into nested
/// objects (`realm_access.roles`). Exact names come first: namespaced claims
/// such as `https://example.com/groups` contain dots.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A claim's string values: the string itself, or the strings of an array.
fn claim_strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The token's scopes: the space-separated `scope` (RFC 9068) and `scp`,
/// a space-separated string (Entra) or an array of strings (RFC 8693).
fn scopes(claims: &Map<String, Value>) -> impl Iterator<Item = &str> {
    ["scope", "scp"]
        .into_iter()
        .filter_map(|name| claims.get(name))
        .flat_map(|value| match value {
            Value::String(s) => s.split_ascii_whitespace().collect::<Vec<_>>(),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        })
}

/// The routes serving the protected resource metadata, unauthenticated: at
/// `/.well-known/oauth-protected-resource` and at the path-inserted form for
/// the resource's path (`/.well-known/oauth-protected-resource/mcp`).
pub fn routes(validator: Arc<OAuthValidator>) -> Router {
    let doc = Arc::new(validator.metadata());
    let serve = move || {
        let doc = Arc::clone(&doc);
        async move {
            (
                [
                    (http::header::CACHE_CONTROL, "public, max-age=3600"),
                    // Public facts, read by browser-based MCP clients too.
                    (http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                ],
                axum::Json(doc.as_ref().clone()),
            )
                .into_response()
        }
    };
    let mut router = Router::new().route(METADATA_PATH, get(serve.clone()));
    if !validator.resource_path.is_empty() {
        router = router.route(
            &format!("{METADATA_PATH}{}", validator.resource_path),
            get(serve),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_from_scope_or_scp_in_either_form() {
        let claims = |v: Value| v.as_object().cloned().expect("object");
        let c = claims(json!({"scope": "openid mcp:tools"}));
        assert_eq!(scopes(&c).collect::<Vec<_>>(), ["openid", "mcp:tools"]);
        let c = claims(json!({"scp": ["a", "b", 3]}));
        assert_eq!(scopes(&c).collect::<Vec<_>>(), ["a", "b"]);
        let c = claims(json!({"scp": "mcp.tools User.Read"}));
        assert_eq!(scopes(&c).collect::<Vec<_>>(), ["mcp.tools", "User.Read"]);
        assert_eq!(scopes(&claims(json!({"scope": 7}))).count(), 0);
    }

    #[test]
    fn claims_are_found_by_name_then_by_dotted_path() {
        let c = json!({
            "https://example.com/groups": ["x"],
            "realm_access": {"roles": ["finance", 1, "ops"]},
            "groups": "solo",
        });
        let c = c.as_object().expect("object");
        assert_eq!(
            claim(c, "https://example.com/groups").map(claim_strings),
            Some(vec!["x"])
        );
        assert_eq!(
            claim(c, "realm_access.roles").map(claim_strings),
            Some(vec!["finance", "ops"])
        );
        assert_eq!(claim(c, "groups").map(claim_strings), Some(vec!["solo"]));
        assert_eq!(claim(c, "realm_access.missing"), None);
    }
}

//! Who is calling: one notion of a caller for every MCP transport, whether
//! it presented a team key or an OAuth access token (see `docs/auth.md`).
//!
//! The front door authenticates each HTTP request into a [`Caller`] and
//! puts it in the request's extensions; everything after it (listing,
//! calling, routing, list-changed notifications) asks the caller's
//! [`Scope`] the one question [`Scope::allows`]. A tool outside the scope is
//! indistinguishable from a tool that does not exist.

pub mod keys;
pub mod oauth;
pub mod scope;

use std::fmt;

pub use scope::{Pattern, PatternError, Scope};

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No authentication is configured (loopback, or stdio): the operator's
    /// own machine.
    Local,
    /// A team key, by its public id (never the key).
    Key {
        /// The key's id (`k_` + hex), printed by `gateway keys create`.
        id: String,
    },
    /// An OAuth access token's subject.
    Token {
        /// The token's `iss`.
        issuer: String,
        /// The token's `sub`.
        subject: String,
    },
}

impl fmt::Display for Principal {
    /// `local`, `key:<id>` or `sub:<subject>`: what logs and the audit trail show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Local => write!(f, "local"),
            Principal::Key { id } => write!(f, "key:{id}"),
            Principal::Token { subject, .. } => write!(f, "sub:{subject}"),
        }
    }
}

impl Principal {
    /// The principal as the audit trail records it. A subject the trail
    /// refuses (too long, or shaped like a token) is recorded by its digest.
    pub fn audited(&self) -> crate::audit::Principal {
        use crate::audit::Principal as Audited;
        match self {
            Principal::Local => Audited::Local,
            Principal::Key { id } => Audited::key(id.clone()).unwrap_or(Audited::Local),
            Principal::Token { subject, .. } => {
                Audited::subject(subject.clone()).unwrap_or_else(|_| {
                    let digest = crate::audit::HexDigest::of(subject.as_bytes()).short();
                    Audited::subject(format!("sha256-{digest}")).unwrap_or(Audited::Local)
                })
            }
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The team, when the key or token names one.
    pub team: Option<String>,
    /// The tools it may list and call (built-in tools are always in scope).
    pub scope: Scope,
}

impl Caller {
    /// The caller when no authentication is configured: everything in scope.
    pub fn local() -> Self {
        Self {
            principal: Principal::Local,
            team: None,
            scope: Scope::all(),
        }
    }

    /// Whether this caller may see and call `tool`: the one predicate.
    pub fn allows(&self, tool: &str) -> bool {
        self.scope.allows(tool)
    }
}

/// Why a request was not authenticated. Each maps to one HTTP answer: 401
/// with `WWW-Authenticate`, or 403 for a valid caller without the scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("authentication required: send Authorization: Bearer <key or token>")]
    Missing,
    /// An `Authorization` header that is not one well-formed bearer credential.
    #[error("malformed Authorization header")]
    Malformed,
    /// A credential in the query string, where logs and proxies keep it.
    #[error("credentials are not accepted in the query string")]
    InQuery,
    /// Not a key or token this gateway knows (unknown, wrong, revoked).
    #[error("invalid credentials")]
    Invalid,
    /// A key or token past its expiry (or before its start).
    #[error("credentials expired")]
    Expired,
    /// A valid token without the scope this server requires.
    #[error("insufficient scope")]
    InsufficientScope,
    /// Credentials cannot be checked right now (the identity provider's
    /// signing keys could not be fetched): retry later.
    #[error("authentication is temporarily unavailable; retry shortly")]
    Unavailable,
}

impl AuthError {
    /// The OAuth error code for `WWW-Authenticate` (RFC 6750 §3.1), if any.
    pub fn oauth_code(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing | AuthError::Unavailable => None,
            AuthError::Malformed | AuthError::InQuery => Some("invalid_request"),
            AuthError::Invalid | AuthError::Expired => Some("invalid_token"),
            AuthError::InsufficientScope => Some("insufficient_scope"),
        }
    }
}

tokio::task_local! {
    /// The caller of the HTTP request being handled, for code that runs in
    /// the request's own task without access to its extensions (rmcp's
    /// tool lookup for `Mcp-Param-*` header checks).
    pub static CURRENT: Caller;
}

/// How the MCP listener authenticates requests.
pub enum Authenticator {
    /// Nobody is asked: every request is [`Caller::local`].
    None,
    /// Team keys.
    Keys(keys::KeyStore),
    /// OAuth 2.1 access tokens.
    OAuth(std::sync::Arc<oauth::OAuthValidator>),
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Authenticator::None => "Authenticator::None",
            Authenticator::Keys(_) => "Authenticator::Keys",
            Authenticator::OAuth(_) => "Authenticator::OAuth",
        })
    }
}

/// The query parameter RFC 6750 §2.3 defines for tokens, refused here: URLs
/// end up in logs, proxies and browser history.
const QUERY_TOKEN: &str = "access_token";

impl Authenticator {
    /// Whether requests must carry credentials.
    pub fn required(&self) -> bool {
        !matches!(self, Authenticator::None)
    }

    /// The caller a request's headers (and query) stand for.
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        query: Option<&str>,
    ) -> Result<Caller, AuthError> {
        if !self.required() {
            return Ok(Caller::local());
        }
        let in_query = query.is_some_and(|q| {
            q.split('&')
                .any(|pair| pair.split('=').next() == Some(QUERY_TOKEN))
        });
        if in_query {
            return Err(AuthError::InQuery);
        }
        let credential = bearer(headers)?;
        match self {
            Authenticator::None => Ok(Caller::local()),
            Authenticator::Keys(store) => store.authenticate(credential),
            Authenticator::OAuth(validator) => validator.validate(credential).await,
        }
    }

    /// The `WWW-Authenticate` value for a refusal (RFC 6750 §3).
    pub fn challenge(&self, error: &AuthError) -> http::HeaderValue {
        if let Authenticator::OAuth(validator) = self {
            return validator.www_authenticate(error);
        }
        let mut value = String::from("Bearer realm=\"agent-gateway\"");
        if let Some(code) = error.oauth_code() {
            value.push_str(&format!(", error=\"{code}\""));
        }
        http::HeaderValue::from_str(&value)
            .unwrap_or_else(|_| http::HeaderValue::from_static("Bearer"))
    }
}

/// The one bearer credential of a request's `Authorization` header.
fn bearer(headers: &http::HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::Missing)?;
    if values.next().is_some() {
        return Err(AuthError::Malformed);
    }
    let text = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, credential) = text.split_once(' ').ok_or(AuthError::Malformed)?;
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() || credential.contains(' ') {
        return Err(AuthError::Malformed);
    }
    Ok(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for v in values {
            map.append(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(v).expect("header"),
            );
        }
        map
    }

    #[test]
    fn bearer_credentials_are_read_strictly() {
        assert_eq!(bearer(&headers(&["Bearer agw_x"])), Ok("agw_x"));
        assert_eq!(bearer(&headers(&["bearer agw_x"])), Ok("agw_x"));
        assert_eq!(bearer(&headers(&[])), Err(AuthError::Missing));
        for bad in [
            &["Basic dXNlcjpwYXNz"][..],
            &["Bearer"],
            &["Bearer a b"],
            &["Bearer a", "Bearer b"],
        ] {
            assert_eq!(bearer(&headers(bad)), Err(AuthError::Malformed), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn tokens_in_the_query_are_refused_and_no_auth_is_local() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        let (key, _) = keys::create(&path, "ops", &["*".to_owned()], None).expect("create");
        let auth = Authenticator::Keys(keys::KeyStore::open(&path).expect("open"));
        let ok = headers(&[&format!("Bearer {key}")]);
        assert!(auth.authenticate(&ok, None).await.is_ok());
        assert_eq!(
            auth.authenticate(&ok, Some(&format!("sessionId=1&access_token={key}")))
                .await,
            Err(AuthError::InQuery)
        );
        assert_eq!(
            Authenticator::None.authenticate(&headers(&[]), None).await,
            Ok(Caller::local())
        );
    }
}

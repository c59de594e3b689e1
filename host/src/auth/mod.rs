//! Who is calling: one notion of a caller for every MCP transport, whether
//! it presented a team key or an OAuth access token (see `docs/auth.md`).
//!
//! The front door authenticates each HTTP request into a [`Caller`] and
//! puts it in the request's extensions; everything after it (listing,
//! calling, routing, list-changed notifications) asks the caller's
//! [`Scope`] the one question [`Scope::allows`]. A tool outside the scope is
//! indistinguishable from a tool that does not exist.

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
}

impl AuthError {
    /// The OAuth error code for `WWW-Authenticate` (RFC 6750 §3.1), if any.
    pub fn oauth_code(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing => None,
            AuthError::Malformed | AuthError::InQuery => Some("invalid_request"),
            AuthError::Invalid | AuthError::Expired => Some("invalid_token"),
            AuthError::InsufficientScope => Some("insufficient_scope"),
        }
    }
}

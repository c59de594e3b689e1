//! The only door out of a tool: outbound HTTP, checked in one place for both
//! the gateway's own `http` interface and `wasi:http/outgoing-handler`.
//!
//! Each door parses its request once into a [`request::OutboundRequest`].
//! Order of checks (docs/security.md, "Outbound HTTP"): request budget, then
//! the door's parse and [`policy::Policy::check`]
//! (URL, scheme, host, port, path, method, body, headers), then, for a write
//! that needs the caller's confirmation, the call's [`confirm::Gate`]
//! (docs/confirmations.md), then host-side DNS
//! with every non-global address dropped ([`addr::resolve_checked`]), then a
//! connection to a checked address only, and only then the secrets bound to
//! the matched entry are added. Redirects go back to the guest. Every
//! response header and body is scrubbed of the tool's secrets
//! ([`redact::Redactor`]) before the guest reads it. A runtime given an
//! [`observe::ExchangeObserver`] also hands it each exchange as the guest
//! read it (`gateway fixtures record`).

pub mod addr;
pub mod body;
pub mod client;
pub mod confirm;
pub mod meter;
pub mod observe;
mod path;
pub mod policy;
pub mod redact;
pub mod request;
pub mod rules;
pub mod teach;

use http::{HeaderName, HeaderValue};

pub use self::client::{FullResponse, Outbound};
use self::policy::DeniedReason;
pub use self::request::{GuestRequest, OutboundRequest, Timeouts};

/// Why an outbound request produced no response. Mirrors the WIT `http-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// Refused by policy before anything was sent.
    #[error("request denied by gateway policy: {}", .0.as_str())]
    Denied(DeniedReason),
    /// Name resolution failed.
    #[error("dns lookup failed: {0}")]
    Dns(String),
    /// TCP connect or TLS handshake failed.
    #[error("connect failed: {0}")]
    Connect(String),
    /// A connect, first-byte or between-bytes timeout expired.
    #[error("upstream timed out")]
    Timeout,
    /// A request or response body exceeded its byte cap.
    #[error("body exceeds the tool's byte limit")]
    TooLarge,
    /// The upstream broke HTTP or dropped the connection.
    #[error("upstream protocol error: {0}")]
    Protocol(String),
}

impl OutboundError {
    /// The same error with the tool's secrets scrubbed from its text.
    pub fn redacted(self, redactor: &redact::Redactor) -> Self {
        let clean = |m: String| redactor.redact_str(&m).into_owned();
        match self {
            OutboundError::Dns(m) => OutboundError::Dns(clean(m)),
            OutboundError::Connect(m) => OutboundError::Connect(clean(m)),
            OutboundError::Protocol(m) => OutboundError::Protocol(clean(m)),
            other => other,
        }
    }
}

/// A secret header could not be built from the gateway's environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable a secret header names is not set.
    #[error(
        "http[{rule}].secret_headers.{header}: environment variable {var} is not set on the gateway"
    )]
    Missing {
        /// Index of the `[[http]]` entry.
        rule: usize,
        /// Header name.
        header: String,
        /// The variable that is missing.
        var: String,
    },
    /// The variable configures the gateway itself (`GATEWAY_*`, `MCP_*`):
    /// no tool may bind it, whatever gateway.toml says.
    #[error(
        "http[{rule}].secret_headers.{header}: {var} configures the gateway itself and can never be bound by a tool"
    )]
    Reserved {
        /// Index of the `[[http]]` entry.
        rule: usize,
        /// Header name.
        header: String,
        /// The reserved variable.
        var: String,
    },
    /// The admin has not granted this variable to this tool.
    #[error(
        "http[{rule}].secret_headers.{header}: {var} is not granted to tool {tool:?}; an admin grants it in gateway.toml with [tools.{tool}] secrets = [\"{var}\"] (or [integrations.SLUG] secrets = [...])"
    )]
    NotGranted {
        /// Index of the `[[http]]` entry.
        rule: usize,
        /// Header name.
        header: String,
        /// The variable the manifest names.
        var: String,
        /// The tool's name.
        tool: String,
    },
    /// The rendered value is not a valid header value.
    #[error(
        "http[{rule}].secret_headers.{header}: the value from the environment is not a valid header value"
    )]
    InvalidValue {
        /// Index of the `[[http]]` entry.
        rule: usize,
        /// Header name.
        header: String,
    },
}

impl SecretError {
    /// The environment variable involved, when there is one.
    pub fn var(&self) -> Option<&str> {
        match self {
            SecretError::Missing { var, .. }
            | SecretError::Reserved { var, .. }
            | SecretError::NotGranted { var, .. } => Some(var),
            SecretError::InvalidValue { .. } => None,
        }
    }
}

/// Headers injected for one rule. `Debug` never shows values.
#[derive(Clone, Default)]
pub(crate) struct SecretHeaders(pub(crate) Vec<(HeaderName, HeaderValue)>);

impl std::fmt::Debug for SecretHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}: <redacted>")))
            .finish()
    }
}

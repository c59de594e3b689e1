//! The front door: who may reach the gateway's HTTP listeners and how much
//! they may send. Both the MCP listener ([`crate::mcp::http`]) and the admin
//! listener ([`crate::admin`]) stand behind it: DNS-rebinding protection
//! (Host and Origin allow-lists, exactly one Host, browsers refused where
//! they have no business), the request body cap and the deadline for a body
//! to arrive ([`limits`]), and the connection limits of [`listener`].
//! Authentication, when it comes to the MCP listener, belongs here too.

pub mod limits;
pub mod listener;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use limits::Deadline;
pub use limits::{
    BodyTimedOut, DEFAULT_BODY_READ_TIMEOUT_MS, StreamLimits, TOO_MANY_SESSIONS, TOO_MANY_STREAMS,
};
pub use listener::ConnectionLimits;

/// Largest request body the MCP listener accepts (JSON-RPC messages are
/// small; tool inputs are capped at 1 MiB by the runtime).
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Who may reach a listener, and what it holds open for them.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    /// Accepted `Host` header values (host or host:port). Loopback by default.
    pub allowed_hosts: Vec<String>,
    /// Accepted `Origin` values (`scheme://host[:port]`) beyond the server's
    /// own; requests without an Origin (non-browser clients) pass.
    pub allowed_origins: Vec<String>,
    /// Caps on sessions and event streams.
    pub limits: StreamLimits,
    /// Who may call (the MCP listener only; the admin API has its key).
    pub auth: Arc<crate::auth::Authenticator>,
    /// Failed credentials per client address: past the budget, an address
    /// is answered 429 before its credential is looked at.
    pub failures: Arc<crate::admin::ratelimit::FailureLimiter>,
    /// The key replicas share to sign 2025 session ids, if any
    /// ([`crate::mcp::session_id`]).
    pub session_key: Option<Arc<crate::mcp::session_id::SessionKey>>,
}

impl Default for FrontDoor {
    fn default() -> Self {
        Self {
            allowed_hosts: vec![
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "[::1]".into(),
            ],
            allowed_origins: Vec::new(),
            limits: StreamLimits::default(),
            auth: Arc::new(crate::auth::Authenticator::None),
            failures: Arc::new(crate::admin::ratelimit::FailureLimiter::new(
                crate::admin::ratelimit::DEFAULT_BURST,
                std::time::Duration::from_millis(crate::admin::ratelimit::DEFAULT_REFILL_MS),
            )),
            session_key: None,
        }
    }
}

impl FrontDoor {
    /// Whether a `Host` header value (with or without a port) is allowed.
    pub fn host_allowed(&self, host: &str) -> bool {
        let bare = strip_port(host);
        self.allowed_hosts
            .iter()
            .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(bare))
    }

    /// A listed Origin, or the server's own: the very Host the request was
    /// sent to, over http or https. A browser sends that only from a page of
    /// this origin; a DNS-rebinding page's Origin names the attacker's domain.
    fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let own = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| !host.is_empty() && authority.eq_ignore_ascii_case(host));
        own || self
            .allowed_origins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(origin))
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| h.trim_start_matches('['));
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Why the front door turned a request away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// More than one `Host` header: RFC 9112 §3.2 has the server answer
    /// 400, and two could disagree about who is asked.
    #[error("more than one Host header")]
    DuplicateHost,
    /// A `Host` not on the allow-list (DNS rebinding).
    #[error("Host not allowed")]
    HostNotAllowed,
    /// An `Origin` neither listed nor the server's own (DNS rebinding).
    #[error("Origin not allowed")]
    OriginNotAllowed,
    /// A browser (an `Origin` or fetch metadata) where none may come.
    #[error("browser requests are not accepted here")]
    Browser,
}

/// Which browser pages a listener answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browsers {
    /// Pages of a listed origin or of the server's own (the MCP listener).
    SameOrigin,
    /// None: any `Origin` (even the server's own) or `Sec-Fetch-Site`
    /// header means a browser sent the request (the admin listener).
    Refused,
}

impl FrontDoor {
    /// One `Host`, an allowed one, then an allowed `Origin` (if any) as
    /// `browsers` says; the first failure answers.
    pub fn admit(&self, headers: &HeaderMap, browsers: Browsers) -> Result<(), Refusal> {
        if headers.get_all(header::HOST).iter().nth(1).is_some() {
            return Err(Refusal::DuplicateHost);
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !self.host_allowed(host) {
            return Err(Refusal::HostNotAllowed);
        }
        match browsers {
            Browsers::Refused => {
                if headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site") {
                    return Err(Refusal::Browser);
                }
            }
            Browsers::SameOrigin => {
                if let Some(origin) = headers.get(header::ORIGIN) {
                    let allowed = origin.to_str().is_ok_and(|o| self.origin_allowed(o, host));
                    if !allowed {
                        return Err(Refusal::OriginNotAllowed);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The MCP listener's door: refuses requests with two Hosts (400), or
/// whose Host or Origin is not allowed (403), and gives every body the
/// deadline of [`StreamLimits::body_read_timeout`]. The probes and
/// `/metrics` ([`crate::telemetry::OPEN_PATHS`]) pass the Host check but
/// need no credentials.
pub async fn guard(State(door): State<Arc<FrontDoor>>, request: Request, next: Next) -> Response {
    if let Err(refusal) = door.admit(request.headers(), Browsers::SameOrigin) {
        let status = match refusal {
            Refusal::DuplicateHost => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        };
        return (status, refusal.to_string()).into_response();
    }
    // The protected resource metadata is how a client learns where to get
    // a token: it is public (RFC 9728).
    if request.uri().path().starts_with("/.well-known/") {
        return next.run(request).await;
    }
    // Probes and the scraper carry no credentials (docs/observability.md).
    if crate::telemetry::OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    // An address that keeps presenting bad credentials waits, before its
    // next one is even looked at (no lock while nobody is failing).
    let address = door.auth.required().then(|| {
        request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| crate::admin::ratelimit::client_network(c.0.ip()))
    });
    if let Some(address) = address
        && let Err(retry_after) = door.failures.check(address)
    {
        return too_many_failures(retry_after);
    }
    let caller = match door
        .auth
        .authenticate(request.headers(), request.uri().query())
        .await
    {
        Ok(caller) => caller,
        Err(error) => {
            use crate::auth::AuthError;
            let guess = matches!(
                error,
                AuthError::Invalid | AuthError::Expired | AuthError::Malformed | AuthError::InQuery
            );
            if let Some(address) = address.filter(|_| guess)
                && let Err(retry_after) = door.failures.failed(address)
            {
                return too_many_failures(retry_after);
            }
            return refused(&door.auth, &error);
        }
    };
    let deadline = door.limits.body_read_timeout;
    let mut request = request.map(|body| Body::new(Deadline::new(body, deadline)));
    request.extensions_mut().insert(caller.clone());
    crate::auth::CURRENT.scope(caller, next.run(request)).await
}

/// 429 for an address past its failed-credential budget.
fn too_many_failures(retry_after: u64) -> Response {
    let body = serde_json::json!({
        "error": "too_many_failures",
        "error_description": "too many failed credentials from this address; wait before trying again",
        "retryAfter": retry_after,
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
    response
}

/// 401 (or 400 for a malformed request, 403 for a missing scope) with the
/// challenge RFC 6750 asks for; the body says what, never which key.
fn refused(auth: &crate::auth::Authenticator, error: &crate::auth::AuthError) -> Response {
    use crate::auth::AuthError;
    let status = match error {
        AuthError::Malformed | AuthError::InQuery => StatusCode::BAD_REQUEST,
        AuthError::InsufficientScope => StatusCode::FORBIDDEN,
        AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNAUTHORIZED,
    };
    let body = serde_json::json!({
        "error": error.oauth_code().unwrap_or(match error {
            AuthError::Unavailable => "temporarily_unavailable",
            _ => "unauthorized",
        }),
        "error_description": error.to_string(),
    });
    let mut response = (status, axum::Json(body)).into_response();
    if *error == AuthError::Unavailable {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
        return response;
    }
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, auth.challenge(error));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_with_or_without_port() {
        let door = FrontDoor::default();
        for (host, ok) in [
            ("127.0.0.1:8000", true),
            ("localhost", true),
            ("[::1]:8000", true),
            ("evil.com", false),
            ("evil.com:8000", false),
            ("127.0.0.1.evil.com", false),
            ("", false),
        ] {
            assert_eq!(door.host_allowed(host), ok, "{host}");
        }
    }

    #[test]
    fn origins_are_listed_or_the_servers_own() {
        let door = FrontDoor {
            allowed_origins: vec!["https://app.example.com".into()],
            ..FrontDoor::default()
        };
        for (origin, host, ok) in [
            ("http://127.0.0.1:8000", "127.0.0.1:8000", true),
            ("https://LOCALHOST:8000", "localhost:8000", true),
            ("https://app.example.com", "127.0.0.1:8000", true),
            ("http://127.0.0.1:8001", "127.0.0.1:8000", false),
            ("http://localhost:8000", "127.0.0.1:8000", false),
            ("http://evil.example.com:8000", "127.0.0.1:8000", false),
            ("ftp://127.0.0.1:8000", "127.0.0.1:8000", false),
            ("null", "127.0.0.1:8000", false),
            ("http://", "", false),
        ] {
            assert_eq!(door.origin_allowed(origin, host), ok, "{origin} to {host}");
        }
    }

    #[test]
    fn admission_refuses_two_hosts_then_a_foreign_host_then_browsers() {
        let door = FrontDoor {
            allowed_origins: vec!["https://app.example.com".into()],
            ..FrontDoor::default()
        };
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (name, value) in pairs {
                h.append(*name, value.parse().expect("header value"));
            }
            h
        };
        let own = ("origin", "http://127.0.0.1:8000");
        let host = ("host", "127.0.0.1:8000");
        for (sent, browsers, verdict) in [
            (vec![host], Browsers::SameOrigin, Ok(())),
            (vec![host], Browsers::Refused, Ok(())),
            (
                vec![host, host],
                Browsers::SameOrigin,
                Err(Refusal::DuplicateHost),
            ),
            (
                vec![host, host, own],
                Browsers::Refused,
                Err(Refusal::DuplicateHost),
            ),
            (
                vec![("host", "evil.com"), own],
                Browsers::SameOrigin,
                Err(Refusal::HostNotAllowed),
            ),
            (vec![], Browsers::Refused, Err(Refusal::HostNotAllowed)),
            (vec![host, own], Browsers::SameOrigin, Ok(())),
            (
                vec![host, ("origin", "https://app.example.com")],
                Browsers::SameOrigin,
                Ok(()),
            ),
            (
                vec![host, ("origin", "http://evil.com")],
                Browsers::SameOrigin,
                Err(Refusal::OriginNotAllowed),
            ),
            (vec![host, own], Browsers::Refused, Err(Refusal::Browser)),
            (
                vec![host, ("sec-fetch-site", "same-origin")],
                Browsers::Refused,
                Err(Refusal::Browser),
            ),
        ] {
            assert_eq!(
                door.admit(&headers(&sent), browsers),
                verdict,
                "{sent:?} {browsers:?}"
            );
        }
    }
}

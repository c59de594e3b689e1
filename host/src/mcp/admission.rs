//! Admitting a `tools/call` under the gateway's [`crate::limits`], and how
//! a refusal reads to the agent (docs/limits.md).
//!
//! Streamable HTTP (`/mcp`) is judged in its guard, before rmcp parses the
//! message or opens a stream ([`super::http`]): a refused call is answered
//! at once with HTTP 429, `Retry-After` and the JSON-RPC error, and the
//! request is marked [`Admitted`] otherwise. The transports that carry a
//! whole session on one stream (legacy SSE, stdio) are judged in the
//! handler, and their error travels on that stream like any response.
//!
//! The error: JSON-RPC code [`LIMITED`] (-32029, in the range JSON-RPC
//! leaves to implementations), `data: {"code": "rate_limited" |
//! "overloaded", "retryAfter": <seconds>, "scope": "team" | "tool" |
//! "gateway"}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::ErrorCode;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{Value, json};

use crate::limits::Limited;

/// JSON-RPC error code of a `tools/call` refused by a limit: a rate
/// (`data.code` = `rate_limited`) or the cap on calls in flight
/// (`overloaded`). Stable: agents and clients may match on it.
pub const LIMITED: i64 = -32029;

/// Marks an HTTP request whose `tools/call` the `/mcp` guard has already
/// admitted: rmcp hands the request's parts to the handler, which then does
/// not count the call a second time.
#[derive(Debug, Clone, Copy)]
pub struct Admitted;

/// Whether the request in `context` was admitted by the `/mcp` guard.
pub fn admitted_over_http(context: &RequestContext<RoleServer>) -> bool {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .is_some_and(|parts| parts.extensions.get::<Admitted>().is_some())
}

/// The `data` member of the JSON-RPC error for `limited`.
pub fn error_data(limited: &Limited) -> Value {
    json!({
        "code": limited.code(),
        "retryAfter": limited.retry_after_seconds_f64(),
        "scope": limited.scope.as_str(),
    })
}

/// The JSON-RPC error for `limited`, as the handler returns it.
pub fn mcp_error(limited: &Limited) -> McpError {
    McpError::new(
        ErrorCode(LIMITED as i32),
        limited.to_string(),
        Some(error_data(limited)),
    )
}

/// The HTTP answer for `limited` on Streamable HTTP: 429, `Retry-After` in
/// whole seconds (rounded up), and the JSON-RPC error answering `id`.
pub fn http_response(limited: &Limited, id: Option<Value>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(Value::Null),
        "error": {
            "code": LIMITED,
            "message": limited.to_string(),
            "data": error_data(limited),
        },
    });
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, limited.retry_after_secs().to_string())],
        axum::Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::limits::LimitScope;

    #[test]
    fn the_error_carries_a_typed_code_and_a_retry_hint() {
        let limited = Limited {
            scope: LimitScope::Team,
            retry_after: Duration::from_millis(1250),
        };
        let error = mcp_error(&limited);
        assert_eq!(i64::from(error.code.0), LIMITED);
        assert_eq!(
            error.data,
            Some(json!({"code": "rate_limited", "retryAfter": 1.25, "scope": "team"}))
        );
        let response = http_response(&limited, Some(json!(7)));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
        let overloaded = Limited {
            scope: LimitScope::Global,
            retry_after: Duration::from_secs(1),
        };
        assert_eq!(error_data(&overloaded)["code"], json!("overloaded"));
    }
}

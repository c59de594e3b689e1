//! The JSON-RPC guard's judgement of one POSTed message, before any
//! transport parses it: the right JSON-RPC error code for each way a
//! message can be wrong.
//!
//! rmcp answers some of these itself, but not as JSON-RPC: its request type
//! is an untagged union ending in a catch-all custom request, so a
//! `tools/call` whose `params` do not fit falls through to the catch-all and
//! is answered "method not found" (-32601); and a message nested deeper than
//! serde_json's 128-level recursion limit fails to parse at all, which it
//! answers with HTTP 415. Here, a known method's `params` are parsed with
//! rmcp's own types (wrong shape: -32602 invalid params), and nesting is
//! measured without recursion before anything parses (too deep inside
//! `params`: -32602; elsewhere: -32600 invalid request).

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rmcp::model::{CallToolRequestParams, PaginatedRequestParams};
use serde_json::json;
use serde_json::value::RawValue;

/// JSON-RPC: the body is not JSON (or not UTF-8).
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: JSON, but not a valid request, notification or response
/// (including one nested deeper than [`MAX_DEPTH`] outside `params`).
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: a known method's `params` do not have its shape, or nest
/// deeper than [`MAX_DEPTH`].
pub const INVALID_PARAMS: i64 = -32602;
/// Deepest nesting of arrays and objects accepted in a message, the
/// message itself counting as 1: no tool input needs more, and it stays
/// well under serde_json's recursion limit (128), which every later parse
/// of the message (rmcp's, the runtime's) applies.
pub const MAX_DEPTH: usize = 64;

/// A message refused before any transport saw it, with its JSON-RPC code.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// [`PARSE_ERROR`], [`INVALID_REQUEST`] or [`INVALID_PARAMS`].
    pub code: i64,
    /// What was wrong.
    pub message: String,
    /// The request's id, when it could be read (`null` otherwise).
    pub id: Option<serde_json::Value>,
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let id = self.id.unwrap_or(serde_json::Value::Null);
        let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": self.code, "message": self.message}});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

/// A JSON-RPC parse error (-32700) for a body that is not JSON.
pub fn parse_error(e: &serde_json::Error) -> Rejected {
    Rejected {
        code: PARSE_ERROR,
        message: format!("parse error: {e}"),
        id: None,
    }
}

fn invalid(why: &str) -> Rejected {
    Rejected {
        code: INVALID_REQUEST,
        message: format!("invalid request: {why}"),
        id: None,
    }
}

/// What the guard learned about a message it let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// A `tools/call` request: a call in flight until its response is sent.
    pub tool_call: bool,
    /// The tool a `tools/call` request names, for its limits.
    pub tool: Option<Box<str>>,
    /// An `initialize` request: it opens a session on the session transports.
    pub initialize: bool,
}

/// The members of a JSON-RPC message the guard looks at, borrowed from the
/// body: the guard runs on every POST, and the transport parses the message
/// in full right after it. The guard cannot hand its parse on: rmcp's
/// `StreamableHttpService` takes only an HTTP request and reads and parses
/// its body itself, so the guard's own pass is kept as cheap as it can be.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that is present, even when its value is `null`.
fn present<'de, D>(d: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue as serde::Deserialize>::deserialize(d).map(Some)
}

/// The first byte of a raw JSON value.
fn starts(raw: Option<&RawValue>) -> Option<u8> {
    raw.and_then(|r| r.get().as_bytes().first().copied())
}

/// Checks that `body` is one JSON-RPC 2.0 message (batches are not part of
/// the protocol since 2025-06-18), answering with the right error code if not.
pub fn check_jsonrpc(body: &[u8]) -> Result<Accepted, Rejected> {
    let (body, params_too_deep) = match depth::scan(body) {
        depth::Verdict::Fits => (Cow::Borrowed(body), false),
        depth::Verdict::TooDeep => {
            return Err(invalid(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        // The rest of the message is read with `params` set aside, for
        // its id and method.
        depth::Verdict::TooDeepInParams(span) => {
            let mut without = body[..span.start].to_vec();
            without.extend_from_slice(b"{}");
            without.extend_from_slice(body.get(span.end..).unwrap_or_default());
            (Cow::Owned(without), true)
        }
    };
    let envelope: Envelope<'_> = match serde_json::from_slice(&body) {
        Ok(envelope) => envelope,
        // Well-formed JSON of the wrong shape (an array, a number, a
        // duplicate member) is an invalid request; anything else a parse error.
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
                Ok(_) => Err(invalid(&format!(
                    "expected one JSON-RPC message object: {e}"
                ))),
                Err(syntax) => Err(parse_error(&syntax)),
            };
        }
        Err(e) => return Err(parse_error(&e)),
    };
    if envelope.jsonrpc.as_deref() != Some("2.0") {
        return Err(invalid("\"jsonrpc\" must be \"2.0\""));
    }
    // A string, or an integer (no fraction, no exponent).
    let id_ok = envelope.id.is_none_or(|id| {
        let text = id.get();
        text.starts_with('"')
            || (!text.is_empty()
                && text
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
                && text != "-")
    });
    let is_call = starts(envelope.method) == Some(b'"') && id_ok;
    let is_reply = envelope.id.is_some() && (envelope.result.is_some() || envelope.error.is_some());
    if !(is_call || is_reply) {
        return Err(invalid(
            "a message needs a string \"method\" (and a string or integer \"id\"), or an \"id\" with \"result\" or \"error\"",
        ));
    }
    let method = envelope
        .method
        .and_then(|m| serde_json::from_str::<Cow<'_, str>>(m.get()).ok());
    let id = || {
        envelope
            .id
            .and_then(|id| serde_json::from_str(id.get()).ok())
    };
    let invalid_params = |why: String| Rejected {
        code: INVALID_PARAMS,
        message: format!("invalid params: {why}"),
        id: id(),
    };
    if is_call && params_too_deep {
        return Err(invalid_params(format!(
            "nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut tool = None;
    if is_call && let Some(method) = method.as_deref() {
        tool = check_params(method, envelope.params).map_err(invalid_params)?;
    }
    if params_too_deep {
        return Err(invalid(&format!("nested deeper than {MAX_DEPTH} levels")));
    }
    if envelope.params.is_some() && !matches!(starts(envelope.params), Some(b'{' | b'[')) {
        return Err(invalid("\"params\" must be an object"));
    }
    let request = is_call && envelope.id.is_some();
    let tool_call = request && method.as_deref() == Some("tools/call");
    Ok(Accepted {
        tool_call,
        tool: tool.filter(|_| tool_call),
        initialize: request && method.as_deref() == Some("initialize"),
    })
}

/// The `id` of the JSON-RPC request in `body`, when it has a readable one
/// (answering a request the guard refuses after accepting it).
pub fn request_id(body: &[u8]) -> Option<serde_json::Value> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
    serde_json::from_str(envelope.id?.get()).ok()
}

/// Parses the `params` of the tool methods with rmcp's own types; other
/// methods are left to the transport. `initialize` and `logging/setLevel`
/// are among them: a 2026-07-28 request must get 404 and -32601 for those
/// removed methods, whatever their params, and only rmcp knows the
/// request's revision. Answers the tool a `tools/call` names.
fn check_params(method: &str, params: Option<&RawValue>) -> Result<Option<Box<str>>, String> {
    fn required<T: serde::de::DeserializeOwned>(params: Option<&RawValue>) -> Result<T, String> {
        let params = params.ok_or("this method needs \"params\"")?;
        serde_json::from_str::<T>(params.get()).map_err(|e| e.to_string())
    }
    fn optional<T: serde::de::DeserializeOwned>(params: Option<&RawValue>) -> Result<(), String> {
        params.map_or(Ok(()), |p| {
            serde_json::from_str::<Option<T>>(p.get())
                .map(drop)
                .map_err(|e| e.to_string())
        })
    }
    match method {
        "tools/call" => match params {
            // Most calls: the shape rmcp needs, checked without building
            // the arguments (the hot path: BENCHMARKS.md). Text with a
            // `\u` escape takes the full parse, which also refuses what only
            // decoding finds (a lone surrogate), and so does anything but an
            // object (serde reads a struct from an array too, in its own way).
            Some(raw)
                if raw.get().starts_with('{')
                    && memchr::memmem::find(raw.get().as_bytes(), b"\\u").is_none() =>
            {
                call_shape(raw).map(Some)
            }
            _ => required::<CallToolRequestParams>(params).map(|p| Some(p.name.as_ref().into())),
        },
        "tools/list" => optional::<PaginatedRequestParams>(params).map(|()| None),
        _ => Ok(None),
    }
}

/// The members of rmcp's `CallToolRequestParams`, borrowed: the same
/// checks (a string `name`; `_meta`, `arguments` and `inputResponses`
/// objects when present; a string `requestState`) without building maps.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallShape<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "_meta", default, borrow)]
    meta: Option<&'a RawValue>,
    #[serde(default, borrow)]
    arguments: Option<&'a RawValue>,
    #[serde(default, borrow)]
    input_responses: Option<&'a RawValue>,
    #[serde(default, borrow)]
    #[allow(dead_code, reason = "parsed only to check its type")]
    request_state: Option<Cow<'a, str>>,
}

fn call_shape(raw: &RawValue) -> Result<Box<str>, String> {
    let shape: CallShape<'_> = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    for (member, value) in [
        ("_meta", shape.meta),
        ("arguments", shape.arguments),
        ("inputResponses", shape.input_responses),
    ] {
        // `null` reads as absent, as rmcp's `Option` does.
        if let Some(value) = value
            && !matches!(starts(Some(value)), Some(b'{'))
            && value.get() != "null"
        {
            return Err(format!("\"{member}\" must be an object"));
        }
    }
    Ok(shape.name.as_ref().into())
}

/// Measuring nesting without recursion.
mod depth {
    use std::ops::Range;

    use super::MAX_DEPTH;

    /// How deep a message nests.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(super) enum Verdict {
        /// At most [`MAX_DEPTH`].
        Fits,
        /// Deeper, inside the top-level `params` member, whose value spans
        /// these bytes (to the end of the body if it never closes).
        TooDeepInParams(Range<usize>),
        /// Deeper, elsewhere.
        TooDeep,
    }

    /// Scans `body` once, byte by byte, tracking strings and brackets. It
    /// judges only depth; anything else wrong is left to the parser.
    pub(super) fn scan(body: &[u8]) -> Verdict {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        // At depth 1: whether the next string is a member name, where the
        // current string started, and whether the last name was `params`.
        let mut expect_key = false;
        let mut string_start = 0;
        let mut key_is_params = false;
        // The span of the `params` container, once opened.
        let mut params_start: Option<usize> = None;
        let mut too_deep_in_params = false;
        for (i, &b) in body.iter().enumerate() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 1 && expect_key {
                        key_is_params = &body[string_start..=i] == b"\"params\"";
                        expect_key = false;
                    }
                }
                continue;
            }
            match b {
                b'"' => {
                    in_string = true;
                    string_start = i;
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth == 1 {
                        expect_key = b == b'{';
                    } else if depth == 2 && key_is_params {
                        params_start = Some(i);
                    }
                    if depth > MAX_DEPTH {
                        if params_start.is_none() {
                            return Verdict::TooDeep;
                        }
                        too_deep_in_params = true;
                    }
                }
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 1 {
                        if let Some(start) = params_start.take()
                            && too_deep_in_params
                        {
                            return Verdict::TooDeepInParams(start..i + 1);
                        }
                        key_is_params = false;
                    }
                }
                b',' if depth == 1 => {
                    expect_key = true;
                    key_is_params = false;
                }
                _ => {}
            }
        }
        match params_start {
            Some(start) if too_deep_in_params => Verdict::TooDeepInParams(start..body.len()),
            _ => Verdict::Fits,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn nested(levels: usize) -> String {
            format!("{}{}", "[".repeat(levels), "]".repeat(levels))
        }

        #[test]
        fn depth_is_placed_inside_or_outside_params() {
            let deep = nested(MAX_DEPTH);
            let body =
                format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"a":{deep}}}}}"#);
            let start = body.find(r#""params":"#).map(|i| i + 9);
            assert_eq!(
                scan(body.as_bytes()),
                Verdict::TooDeepInParams(start.unwrap_or_default()..body.len() - 1)
            );
            let shallow = nested(MAX_DEPTH - 3);
            let body = format!(r#"{{"jsonrpc":"2.0","params":{{"a":{shallow}}},"id":1}}"#);
            assert_eq!(scan(body.as_bytes()), Verdict::Fits);
            assert_eq!(scan(nested(MAX_DEPTH + 1).as_bytes()), Verdict::TooDeep);
            assert_eq!(scan(nested(MAX_DEPTH).as_bytes()), Verdict::Fits);
            let elsewhere = format!(r#"{{"x":{deep},"params":{{}}}}"#);
            assert_eq!(scan(elsewhere.as_bytes()), Verdict::TooDeep);
            // Brackets and a "params" inside strings are text.
            let quoted = format!(r#"{{"s":"\"params\"{}","params":[]}}"#, "[".repeat(200));
            assert_eq!(scan(quoted.as_bytes()), Verdict::Fits);
            // A body that never closes is measured as far as it goes.
            let open = format!(r#"{{"params":{}"#, "[".repeat(100));
            assert_eq!(
                scan(open.as_bytes()),
                Verdict::TooDeepInParams(10..open.len())
            );
            for junk in ["", "]]]]", "\"", "\\", "{\"params\"", "{\"params\":"] {
                assert_eq!(scan(junk.as_bytes()), Verdict::Fits, "{junk:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tool_call_requests_count_as_calls() {
        for (body, tool_call) in [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"tools\/call","params":{"name":"x"}}"#,
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#,
                false,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, false),
        ] {
            assert_eq!(
                check_jsonrpc(body.as_bytes()).map(|a| a.tool_call),
                Ok(tool_call),
                "{body}"
            );
        }
    }

    #[test]
    fn a_tool_call_names_its_tool() {
        for (body, tool) in [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#,
                Some("echo"),
            ),
            // Escaped text takes the full parse, and is read decoded.
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0065cho"}}"#,
                Some("echo"),
            ),
            // A notification is no call, and a list names no tool.
            (
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo"}}"#,
                None,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, None),
        ] {
            assert_eq!(
                check_jsonrpc(body.as_bytes()).map(|a| a.tool),
                Ok(tool.map(Into::into)),
                "{body}"
            );
        }
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call"}"#),
            Some(json!("a-1"))
        );
        assert_eq!(request_id(b"{not json"), None);
    }

    #[test]
    fn messages_are_classified() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let deep_params = format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"x","arguments":{{"a":{deep}}}}}}}"#
        );
        let deep_member = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"ping","x":{deep}}}"#);
        let cases = [
            (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, None),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                None,
            ),
            (r#"{"jsonrpc":"2.0","id":"a","result":{}}"#, None),
            // Removed in 2026-07-28: rmcp answers 404 and -32601, whatever the params.
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"_meta":{}}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{}}"#,
                None,
            ),
            ("{not json", Some(PARSE_ERROR)),
            ("", Some(PARSE_ERROR)),
            (deep.as_str(), Some(INVALID_REQUEST)),
            (deep_member.as_str(), Some(INVALID_REQUEST)),
            (deep_params.as_str(), Some(INVALID_PARAMS)),
            ("[]", Some(INVALID_REQUEST)),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, Some(INVALID_REQUEST)),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":"x"}}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":null,"_meta":{"k":[1]}}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":"x"}}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","inputResponses":[1]}}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","requestState":5}}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"t":"\ud800"}}}"#,
                Some(INVALID_PARAMS),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":-3,"method":"ping","params":{}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            ("42", Some(INVALID_REQUEST)),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping""#,
                Some(PARSE_ERROR),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                check_jsonrpc(body.as_bytes()).err().map(|r| r.code),
                expected,
                "{body}"
            );
        }
        // An invalid-params answer names the request it answers.
        assert_eq!(
            check_jsonrpc(deep_params.as_bytes())
                .err()
                .and_then(|r| r.id),
            Some(json!(7))
        );
    }
}

//! 2025 sessions across replicas without affinity (docs/scale-out.md):
//! gateways sharing a session key serve each other's sessions, only to the
//! caller a session was opened by; an id another key signed, or an altered
//! one, is unknown (404). Two gateways in-process, driven like `mcp.rs`.

use std::sync::Arc;

use axum::Router;
use gateway::auth::Authenticator;
use gateway::auth::keys::{self, KeyStore};
use gateway::frontdoor::FrontDoor;
use gateway::mcp::FieldSource;
use gateway::mcp::session_id::SessionKey;
use http::StatusCode;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::mcp::{in_session, json_body, open_session, serve_tools};

/// A replica serving the echo tool behind the team keys in `keys_file`,
/// signing session ids with `key` (none: today's per-replica sessions).
async fn replica(
    keys_file: &std::path::Path,
    key: Option<Arc<SessionKey>>,
) -> (Router, tempfile::TempDir) {
    replica_holding(keys_file, key, gateway::frontdoor::StreamLimits::default()).await
}

/// [`replica`] under `limits` (its cap on live sessions).
async fn replica_holding(
    keys_file: &std::path::Path,
    key: Option<Arc<SessionKey>>,
    limits: gateway::frontdoor::StreamLimits,
) -> (Router, tempfile::TempDir) {
    let component = gateway_test_programs::wat::component_described(
        "echo",
        "Echo test tool",
        r#"{"type":"object"}"#,
    );
    let door = FrontDoor {
        auth: Arc::new(Authenticator::Keys(
            KeyStore::open(keys_file).expect("keys file"),
        )),
        session_key: key,
        limits,
        ..FrontDoor::default()
    };
    serve_tools(
        door,
        &[("echo", String::new(), component)],
        FieldSource::empty(),
    )
    .await
}

fn shared_key(byte: u8) -> Arc<SessionKey> {
    Arc::new(SessionKey::new(&[byte; 32]).expect("key"))
}

/// A `tools/call` of echo in `session` as `team_key`: the HTTP status and
/// the JSON-RPC answer.
async fn call(app: &Router, session: &str, team_key: &str, n: u64) -> (StatusCode, Value) {
    let body = json!({"jsonrpc":"2.0","id":n,"method":"tools/call","params":{"name":"echo","arguments":{"n":n}}});
    let auth = format!("Bearer {team_key}");
    let response = app
        .clone()
        .oneshot(in_session(
            &body,
            Some(session),
            &[("authorization", auth.as_str())],
        ))
        .await
        .expect("call");
    let (status, body) = json_body(response).await;
    (status, answer_of(body))
}

/// The JSON-RPC message of a response: the body, or the `data:` line of the
/// event stream a session's answer comes on.
fn answer_of(body: Value) -> Value {
    let Value::String(text) = &body else {
        return body;
    };
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .find_map(|data| serde_json::from_str::<Value>(data).ok())
        .unwrap_or(body)
}

/// The JSON-RPC answer inside a response body (rmcp answers JSON).
fn echoed(answer: &Value) -> Option<&Value> {
    answer["result"]["structuredContent"].get("n")
}

#[tokio::test]
async fn a_session_opened_on_one_replica_is_served_by_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (alice, _) = keys::create(&file, "alice", &["*".to_owned()], None).expect("alice");
    let key = shared_key(1);
    let (a, _a) = replica(&file, Some(Arc::clone(&key))).await;
    let (b, _b) = replica(&file, Some(key)).await;
    let auth = format!("Bearer {alice}");
    let session = open_session(&a, &[("authorization", auth.as_str())]).await;
    assert!(session.starts_with("s1."), "a signed id: {session}");

    // B has never seen it: it rebuilds the session from the id.
    let (status, answer) = call(&b, &session, &alice, 7).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(echoed(&answer), Some(&json!(7)), "{answer}");
    // Again on B (now held), and on A.
    let (status, answer) = call(&b, &session, &alice, 8).await;
    assert_eq!((status, echoed(&answer)), (StatusCode::OK, Some(&json!(8))));
    let (status, answer) = call(&a, &session, &alice, 9).await;
    assert_eq!((status, echoed(&answer)), (StatusCode::OK, Some(&json!(9))));

    // The standalone GET stream (list_changed) opens on a third replica
    // that has never seen the session either.
    let (c, _c) = replica(&file, Some(shared_key(1))).await;
    let stream = http::Request::get("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .header("authorization", auth.as_str())
        .body(axum::body::Body::empty())
        .expect("request");
    let response = c.oneshot(stream).await.expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/event-stream"[..])
    );
}

#[tokio::test]
async fn a_forged_or_foreign_id_is_unknown_and_a_stolen_one_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (alice, _) = keys::create(&file, "alice", &["*".to_owned()], None).expect("alice");
    let (bob, _) = keys::create(&file, "bob", &["*".to_owned()], None).expect("bob");
    let key = shared_key(2);
    let (a, _a) = replica(&file, Some(Arc::clone(&key))).await;
    let (b, _b) = replica(&file, Some(key)).await;
    let (other, _o) = replica(&file, Some(shared_key(3))).await;
    let (unkeyed, _u) = replica(&file, None).await;
    let auth = format!("Bearer {alice}");
    let session = open_session(&a, &[("authorization", auth.as_str())]).await;

    // Altered: one character of the MAC, of the nonce.
    let mut mac_changed = session.clone();
    let last = mac_changed.pop().expect("non-empty");
    mac_changed.push(if last == 'A' { 'B' } else { 'A' });
    let nonce_changed = {
        let mut parts: Vec<String> = session.split('.').map(str::to_owned).collect();
        parts[1] = "AAAAAAAAAAAAAAAAAAAAAA".to_owned();
        parts.join(".")
    };
    for forged in [
        &mac_changed,
        &nonce_changed,
        &"s1.x.y.2025-06-18.z".to_owned(),
    ] {
        for app in [&a, &b] {
            let (status, _) = call(app, forged, &alice, 1).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{forged}");
        }
    }
    // Signed by another key: unknown there; unknown to a replica without one.
    let (status, _) = call(&other, &session, &alice, 2).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&unkeyed, &session, &alice, 3).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bob with Alice's valid id: refused on the replica holding it and on
    // one that would restore it, before and after Alice used it there.
    for app in [&b, &a] {
        let (status, answer) = call(app, &session, &bob, 4).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        assert_eq!(answer["error"]["code"], json!(-32600));
    }
    let (status, answer) = call(&b, &session, &alice, 5).await;
    assert_eq!((status, echoed(&answer)), (StatusCode::OK, Some(&json!(5))));
    let (status, _) = call(&b, &session, &bob, 6).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Ending it is refused to Bob; to Alice it is not offered (405: no
    // replica can end it for the others), and the session goes on.
    let delete = |team_key: &str| {
        http::Request::delete("/mcp")
            .header("host", "127.0.0.1:8000")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
            .header("authorization", format!("Bearer {team_key}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let response = b.clone().oneshot(delete(&bob)).await.expect("delete");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = b.clone().oneshot(delete(&alice)).await.expect("delete");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let (status, answer) = call(&b, &session, &alice, 7).await;
    assert_eq!((status, echoed(&answer)), (StatusCode::OK, Some(&json!(7))));
}

#[tokio::test]
async fn a_restore_counts_against_the_cap_on_live_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (alice, _) = keys::create(&file, "alice", &["*".to_owned()], None).expect("alice");
    let key = shared_key(4);
    let (a, _a) = replica(&file, Some(Arc::clone(&key))).await;
    let one = gateway::frontdoor::StreamLimits {
        max_sessions: 1,
        ..Default::default()
    };
    let (b, _b) = replica_holding(&file, Some(key), one).await;
    let auth = format!("Bearer {alice}");
    let on_a = open_session(&a, &[("authorization", auth.as_str())]).await;
    // B's one place is taken by a session of its own.
    let on_b = open_session(&b, &[("authorization", auth.as_str())]).await;
    let (status, answer) = call(&b, &on_a, &alice, 1).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], json!(-32050));
    let (status, answer) = call(&b, &on_b, &alice, 2).await;
    assert_eq!((status, echoed(&answer)), (StatusCode::OK, Some(&json!(2))));
}

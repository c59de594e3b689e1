//! Who may call what (`docs/auth.md`): team keys at the MCP front door,
//! driven in-process like `mcp.rs`, and the one scope predicate behind
//! `tools/list` and `tools/call`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use gateway::auth::keys::{self, KeyStore};
use gateway::auth::{Authenticator, Scope};
use gateway::frontdoor::FrontDoor;
use gateway::mcp::FieldSource;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::mcp::{in_session, json_body, open_session, serve_tools, stateless};

const TOOLS: [&str; 6] = [
    "stripe_revenue",
    "stripe_refunds",
    "hubspot_pipeline",
    "github_summary",
    "churn_report",
    "revenue_report",
];

/// A gateway serving echo tools named [`TOOLS`] behind team keys read from
/// `keys_file`.
async fn keyed_router(keys_file: &std::path::Path) -> (Router, tempfile::TempDir) {
    let components: Vec<(&str, String, Vec<u8>)> = TOOLS
        .iter()
        .map(|name| {
            (
                *name,
                String::new(),
                gateway_test_programs::wat::component_described(
                    name,
                    "Echo test tool",
                    r#"{"type":"object"}"#,
                ),
            )
        })
        .collect();
    let door = FrontDoor {
        auth: Arc::new(Authenticator::Keys(
            KeyStore::open(keys_file).expect("keys file"),
        )),
        ..FrontDoor::default()
    };
    serve_tools(door, &components, FieldSource::empty()).await
}

fn with_key(mut request: Request<Body>, key: &str) -> Request<Body> {
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("header"),
    );
    request
}

async fn listed(app: &Router, key: &str) -> (StatusCode, BTreeSet<String>) {
    let request = with_key(stateless("tools/list", json!({}), 1), key);
    let (status, body) = json_body(app.clone().oneshot(request).await.expect("list")).await;
    let names = body["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (status, names)
}

/// The JSON-RPC error of a call, or `None` when the tool ran.
async fn call_error(app: &Router, key: &str, tool: &str) -> Option<Value> {
    let request = with_key(
        stateless("tools/call", json!({"name": tool, "arguments": {}}), 2),
        key,
    );
    let (status, body) = json_body(app.clone().oneshot(request).await.expect("call")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.get("error").cloned()
}

/// A small deterministic generator: the same patterns every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// A random pattern: a whole name, a prefix or suffix with `*`, a piece
/// between stars, or everything.
fn random_pattern(rng: &mut XorShift) -> String {
    let name = rng.pick(&TOOLS);
    let cut = 1 + (rng.next() % (name.len() as u64 - 1)) as usize;
    match rng.next() % 6 {
        0 => name.to_owned(),
        1 => format!("{}*", &name[..cut]),
        2 => format!("*{}", &name[cut..]),
        3 => format!(
            "*{}*",
            &name[cut.min(name.len() - 2)..cut.min(name.len() - 2) + 2]
        ),
        4 => "*".to_owned(),
        _ => rng.pick(&["nothing_*", "zz*", "stripe", "*_x"]).to_owned(),
    }
}

#[tokio::test]
async fn the_listed_set_is_the_callable_set_for_random_scopes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (app, _tools) = keyed_router(&file).await;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let builtins = ["health_check", "list_field_integrations"];
    for round in 0..40 {
        let count = 1 + (rng.next() % 3) as usize;
        let patterns: Vec<String> = (0..count).map(|_| random_pattern(&mut rng)).collect();
        let team = format!("team-{round}");
        let (key, _) = keys::create(&file, &team, &patterns, None).expect("create");
        let scope = Scope::from_patterns(&patterns).expect("scope");

        let (status, listed) = listed(&app, &key).await;
        assert_eq!(status, StatusCode::OK, "{patterns:?}");
        let mut callable = BTreeSet::new();
        for tool in TOOLS.iter().chain(&builtins).chain(&["no_such_tool"]) {
            match call_error(&app, &key, tool).await {
                None => {
                    callable.insert((*tool).to_owned());
                }
                Some(error) => {
                    // Out of scope answers exactly as a tool that does not exist.
                    assert_eq!(
                        error,
                        json!({"code": -32602, "message": format!("unknown tool: {tool}")}),
                        "{patterns:?}"
                    );
                }
            }
        }
        let builtins_listed: BTreeSet<String> = listed
            .iter()
            .filter(|t| !TOOLS.contains(&t.as_str()))
            .cloned()
            .collect();
        let promoted_listed: BTreeSet<String> = listed
            .iter()
            .filter(|t| TOOLS.contains(&t.as_str()))
            .cloned()
            .collect();
        let promoted_callable: BTreeSet<String> = callable
            .iter()
            .filter(|t| TOOLS.contains(&t.as_str()))
            .cloned()
            .collect();
        let expected: BTreeSet<String> = TOOLS
            .iter()
            .filter(|t| scope.allows(t))
            .map(|t| (*t).to_owned())
            .collect();
        assert_eq!(promoted_listed, promoted_callable, "{patterns:?}");
        assert_eq!(promoted_listed, expected, "{patterns:?}");
        // Built-in tools: listed and callable for every caller.
        assert!(
            builtins
                .iter()
                .all(|b| builtins_listed.contains(*b) && callable.contains(*b))
        );
        assert!(!callable.contains("no_such_tool"));
    }
}

#[tokio::test]
async fn requests_without_a_good_key_are_refused_on_every_transport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (key, record) =
        keys::create(&file, "finance", &["stripe_*".to_owned()], None).expect("create");
    let (app, _tools) = keyed_router(&file).await;

    let refused = |request: Request<Body>| {
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.expect("response");
            let status = response.status();
            let challenge = response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (_, body) = json_body(response).await;
            (status, challenge, body["error"].clone())
        }
    };
    let list = || stateless("tools/list", json!({}), 1);
    let get = |uri: &str| {
        Request::get(uri)
            .header("host", "127.0.0.1:8000")
            .body(Body::empty())
            .expect("request")
    };
    let post = |uri: &str| {
        Request::post(uri)
            .header("host", "127.0.0.1:8000")
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .expect("request")
    };
    let no_key = (
        StatusCode::UNAUTHORIZED,
        Some("Bearer realm=\"agent-gateway\"".to_owned()),
        json!("unauthorized"),
    );
    let bad_key = (
        StatusCode::UNAUTHORIZED,
        Some("Bearer realm=\"agent-gateway\", error=\"invalid_token\"".to_owned()),
        json!("invalid_token"),
    );
    assert_eq!(refused(list()).await, no_key);
    assert_eq!(refused(get("/sse")).await, no_key);
    assert_eq!(refused(post("/messages?sessionId=x")).await, no_key);
    let mut wrong = key.clone();
    wrong.replace_range(key.len() - 4.., "0000");
    assert_eq!(refused(with_key(list(), &wrong)).await, bad_key);
    assert_eq!(
        refused(with_key(get("/sse"), "agw_k_nothing")).await,
        bad_key
    );
    // A key in the query string is refused even when it is right.
    assert_eq!(
        refused(with_key(get(&format!("/sse?access_token={key}")), &key))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // The good key lists its team's tools; revoked, it fails on the next request.
    let (status, names) = listed(&app, &key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(names.contains("stripe_revenue") && !names.contains("hubspot_pipeline"));
    keys::revoke(&file, &record.id).expect("revoke");
    assert_eq!(refused(with_key(list(), &key)).await, bad_key);
}

#[tokio::test]
async fn a_narrowed_list_is_private_to_caches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (narrow, _) = keys::create(&file, "finance", &["stripe_*".to_owned()], None).expect("key");
    let (app, _tools) = keyed_router(&file).await;
    let request = with_key(stateless("tools/list", json!({}), 1), &narrow);
    let (_, body) = json_body(app.clone().oneshot(request).await.expect("list")).await;
    assert_eq!(body["result"]["cacheScope"], json!("private"));
}

#[test]
fn an_unauthenticated_listener_beyond_loopback_is_refused() {
    use gateway::server::{AuthSetupError, ServeError, Transport, authenticator};
    use gateway::settings::AuthSettings;
    let open = AuthSettings::default();
    let public: std::net::SocketAddr = "0.0.0.0:8000".parse().expect("addr");
    let loopback: std::net::SocketAddr = "127.0.0.1:8000".parse().expect("addr");
    assert!(matches!(
        authenticator(&open, Transport::Http, public),
        Err(AuthSetupError::Serve(ServeError::Unauthenticated(a))) if a == public
    ));
    assert!(matches!(
        authenticator(&open, Transport::Http, loopback),
        Ok(Authenticator::None)
    ));
    assert!(matches!(
        authenticator(&open, Transport::Stdio, public),
        Ok(Authenticator::None)
    ));
    let said_out_loud = AuthSettings {
        allow_unauthenticated_network: true,
        ..AuthSettings::default()
    };
    assert!(matches!(
        authenticator(&said_out_loud, Transport::Http, public),
        Ok(Authenticator::None)
    ));
}

#[tokio::test]
async fn gateway_serve_refuses_a_public_address_without_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--tools-dir"])
        .arg(dir.path())
        .args([
            "serve",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ])
        .env_remove("GATEWAY_ADMIN_KEY")
        .kill_on_drop(true)
        .output()
        .await
        .expect("gateway runs");
    assert_eq!(out.status.code(), Some(1));
}

/// The JSON-RPC message of a session's answer (an SSE event's data).
fn message(body: &Value) -> Value {
    body.as_str()
        .and_then(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .find(|d| d.starts_with('{'))
        })
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| body.clone())
}

#[tokio::test]
async fn a_session_answers_only_the_caller_that_opened_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (alice, _) = keys::create(&file, "finance", &["*".to_owned()], None).expect("key");
    let (mallory, _) = keys::create(&file, "support", &["*".to_owned()], None).expect("key");
    let (app, _tools) = keyed_router(&file).await;

    let alice_header = format!("Bearer {alice}");
    let mallory_header = format!("Bearer {mallory}");
    let as_alice = [("authorization", alice_header.as_str())];
    let as_mallory = [("authorization", mallory_header.as_str())];
    let id = open_session(&app, &as_alice).await;

    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}});
    let (status, own) = json_body(
        app.clone()
            .oneshot(in_session(&list, Some(&id), &as_alice))
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let own = message(&own);
    assert!(own["result"]["tools"].is_array(), "{own}");
    // Another team's valid key with the same session id gets nothing.
    let (_, theirs) = json_body(
        app.clone()
            .oneshot(in_session(&list, Some(&id), &as_mallory))
            .await
            .expect("list"),
    )
    .await;
    let theirs = message(&theirs);
    assert_eq!(theirs["error"]["code"], json!(-32600), "{theirs}");
    assert_eq!(theirs.get("result"), None);
}

#[tokio::test]
async fn an_address_that_keeps_failing_waits_before_its_next_credential_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (key, _) = keys::create(&file, "ops", &["*".to_owned()], None).expect("key");
    let (app, _tools) = keyed_router(&file).await;
    let status = |credential: String| {
        let app = app.clone();
        async move {
            let request = with_key(stateless("tools/list", json!({}), 1), &credential);
            let response = app.oneshot(request).await.expect("response");
            (
                response.status(),
                response.headers().get(http::header::RETRY_AFTER).is_some(),
            )
        }
    };
    // A missing credential is how clients discover authentication: free.
    for _ in 0..20 {
        let response = app
            .clone()
            .oneshot(stateless("tools/list", json!({}), 1))
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Wrong keys spend the address's budget (10 in a row)...
    for _ in 0..gateway::admin::ratelimit::DEFAULT_BURST - 1 {
        assert_eq!(
            status("agw_k_000000000000_x".into()).await,
            (StatusCode::UNAUTHORIZED, false)
        );
    }
    assert_eq!(
        status("agw_k_000000000000_x".into()).await,
        (StatusCode::UNAUTHORIZED, false)
    );
    // ...then the address waits, the right key included: a 429 that only
    // marked wrong guesses would still let the right one through.
    assert_eq!(
        status("agw_k_000000000000_x".into()).await,
        (StatusCode::TOO_MANY_REQUESTS, true)
    );
    assert_eq!(status(key).await, (StatusCode::TOO_MANY_REQUESTS, true));
}

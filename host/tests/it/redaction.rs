//! Issue 9 item 3: an upstream that quotes the secret back ("invalid
//! credentials: Bearer sk_live_…") hands the tool markers only, through both
//! doors; compression is no way around it; and whatever a tool says back
//! (output, log lines, errors) is scrubbed again before the caller or the
//! gateway's log sees it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gateway::capability::log::Source;
use gateway::runtime::CallError;
use gateway::settings::Settings;
use serde_json::{Value, json};

use crate::harness::{Env, component, env_with_secrets};
use crate::secrets::LogSink;
use crate::upstream::{Upstream, echo_auth_body};

const SECRET: &str = "tok_live_4f9a8c1e2b7d";

/// A Basic credential's `user:pass` (its base64 is the bound variable).
const USER_PASS: &str = "svc-user:s3cret-pass-77";

/// Two entries with secrets (Bearer and Basic) and one without.
fn echo_manifest(port: u16) -> String {
    format!(
        r#"name = "probe"
[[http]]
url = "http://127.0.0.1:{port}/secret/"
[http.secret_headers]
Authorization = "Bearer ${{GW_TEST_TOKEN}}"
[[http]]
url = "http://127.0.0.1:{port}/basic/"
[http.secret_headers]
Authorization = "Basic ${{GW_TEST_BASIC}}"
[[http]]
url = "http://127.0.0.1:{port}/public/"
"#
    )
}

/// A runtime on loopback with the test's two secrets.
fn env(basic: &str) -> Env {
    env_with_secrets(
        |s: &mut Settings| {
            s.allow_private =
                gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow");
            s.secret_grants.grant(
                "probe",
                ["GW_TEST_TOKEN".to_string(), "GW_TEST_BASIC".to_string()],
            );
        },
        &[("GW_TEST_TOKEN", SECRET), ("GW_TEST_BASIC", basic)],
    )
}

/// The values of the response header `name` in a probe outcome.
fn header_values(outcome: &Value, name: &str) -> Vec<String> {
    outcome["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pair| pair[0].as_str() == Some(name))
        .filter_map(|pair| pair[1].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_upstream_that_echoes_the_secret_hands_the_guest_markers_only() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let up = Upstream::start().await;
    let basic = STANDARD.encode(USER_PASS);
    let env = env(&basic);
    let tool = env
        .load(
            &echo_manifest(up.port()),
            component(gateway_test_programs::PROBE),
        )
        .await;

    // The upstream quotes the credential, its base64, its percent-encoding
    // and (for Basic) the decoded `user:pass`, three bytes per chunk.
    let token_marker = "[redacted:GW_TEST_TOKEN]";
    let basic_marker = "[redacted:GW_TEST_BASIC]";
    let cases = [
        (
            "/secret/echo-auth",
            format!("Bearer {SECRET}"),
            format!(
                "invalid credentials: {token_marker}; b64={token_marker}; pct={token_marker}; decoded="
            ),
            token_marker,
        ),
        (
            "/basic/echo-auth",
            format!("Basic {basic}"),
            format!(
                "invalid credentials: {basic_marker}; b64={basic_marker}; pct={basic_marker}; decoded={basic_marker}"
            ),
            basic_marker,
        ),
    ];
    let mut everything = String::new();
    for (via, whole) in [
        ("gateway", false),
        ("wasi", false),
        ("gateway", true),
        ("wasi", true),
    ] {
        for (path, sent, want_body, marker) in &cases {
            let path = if whole {
                format!("{path}?whole")
            } else {
                path.to_string()
            };
            let input = json!({"via": via, "url": up.url(&path)});
            let report = env.runtime.call(&tool, &input.to_string()).await;
            let outcome = report.result.clone().expect("probe answers");
            assert_eq!(outcome["ok"], json!(true), "{via} {path}: {outcome}");
            assert_eq!(outcome["status"], json!(401), "{via} {path}");
            assert_eq!(outcome["body"], json!(want_body), "{via} {path}");
            assert_eq!(
                header_values(&outcome, "x-echo-authorization"),
                vec![marker.to_string()],
                "{via} {path}"
            );
            // The scrubbed body is shorter than the upstream said it was.
            assert_eq!(
                header_values(&outcome, "content-length"),
                Vec::<String>::new(),
                "{via} {path}"
            );
            // The meter counts what the upstream sent, not what the guest got.
            assert_eq!(
                report.upstream_bytes,
                echo_auth_body(sent).len() as u64,
                "{via} {path}"
            );
            everything.push_str(&format!("{report:?}"));
        }
    }

    // The upstream did get the real credentials.
    let sent: Vec<Option<String>> = up
        .seen()
        .iter()
        .map(|s| s.header("authorization").map(str::to_owned))
        .collect();
    let bearer = Some(format!("Bearer {SECRET}"));
    let basic_header = Some(format!("Basic {basic}"));
    let want: Vec<Option<String>> = [bearer, basic_header].into_iter().cycle().take(8).collect();
    assert_eq!(sent, want);

    let logs = String::from_utf8_lossy(&sink.0.lock().expect("sink")).into_owned();
    for value in [SECRET, basic.as_str(), USER_PASS, "s3cret-pass-77"] {
        assert!(!everything.contains(value), "the guest saw a secret");
        assert!(!logs.contains(value), "a secret reached the logs");
    }
}

#[tokio::test]
async fn a_compressed_answer_to_a_request_with_secrets_is_refused() {
    let up = Upstream::start().await;
    let env = env(&STANDARD.encode(USER_PASS));
    let tool = env
        .load(
            &echo_manifest(up.port()),
            component(gateway_test_programs::PROBE),
        )
        .await;
    let gzip = json!([["Accept-Encoding", "gzip"]]);
    for via in ["gateway", "wasi"] {
        // With secrets: identity is asked for whatever the guest said, and a
        // gzip answer is a protocol error, never bytes the scrubber cannot read.
        let input = json!({"via": via, "url": up.url("/secret/gzip"), "headers": gzip});
        let outcome = env
            .runtime
            .call(&tool, &input.to_string())
            .await
            .result
            .expect("probe answers");
        assert_eq!(outcome["ok"], json!(false), "{via}: {outcome}");
        match via {
            "gateway" => assert_eq!(outcome["error"]["kind"], json!("protocol")),
            _ => assert_eq!(
                outcome["error"],
                json!({"kind": "wasi", "code": "HttpProtocolError"})
            ),
        }
        // Without secrets the guest's own choice stands.
        let input = json!({"via": via, "url": up.url("/public/gzip"), "headers": gzip});
        let outcome = env
            .runtime
            .call(&tool, &input.to_string())
            .await
            .result
            .expect("probe answers");
        assert_eq!(outcome["ok"], json!(true), "{via}: {outcome}");
        assert_eq!(
            header_values(&outcome, "content-encoding"),
            vec!["gzip".to_owned()]
        );
    }
    let asked: Vec<(String, Vec<String>)> = up
        .seen()
        .iter()
        .map(|s| {
            let values = s
                .headers
                .iter()
                .filter(|(n, _)| n == "accept-encoding")
                .map(|(_, v)| v.clone())
                .collect();
            (s.path.clone(), values)
        })
        .collect();
    let identity = ("/secret/gzip".to_owned(), vec!["identity".to_owned()]);
    let guest = ("/public/gzip".to_owned(), vec!["gzip".to_owned()]);
    assert_eq!(
        asked,
        vec![identity.clone(), guest.clone(), identity, guest]
    );
}

#[tokio::test]
async fn what_a_tool_says_back_is_scrubbed_from_output_logs_and_errors() {
    let sink = LogSink::default();
    let writer = sink.clone();
    // Everything the gateway logs, at every level. wasmtime-wasi's own debug
    // lines quote raw guest stdio and are off: that is a wasmtime internal,
    // below the gateway's default `warn`.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,wasmtime_wasi=info",
        ))
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = env(&STANDARD.encode(USER_PASS));
    let tool = env
        .load(&echo_manifest(9), component(gateway_test_programs::PROBE))
        .await;
    let marker = "[redacted:GW_TEST_TOKEN]";

    // Second line: even a secret the guest got some other way (here, from
    // the agent's input) leaves only as a marker.
    let input = json!({"echo": format!("key={SECRET}")});
    let report = env.runtime.call(&tool, &input.to_string()).await;
    let outcome = report.result.clone().expect("probe answers");
    assert_eq!(outcome["echo"], json!(format!("key={marker}")));
    let lines: Vec<(Source, String)> = report
        .logs
        .iter()
        .map(|l| (l.source, l.message.clone()))
        .collect();
    let want = format!("key={marker}");
    assert_eq!(
        lines,
        vec![
            (Source::Log, want.clone()),
            (Source::Stdout, want.clone()),
            (Source::Stderr, want)
        ]
    );

    let input = json!({"fail_with": format!("upstream said: Bearer {SECRET}")});
    let report = env.runtime.call(&tool, &input.to_string()).await;
    assert_eq!(
        report.result,
        Err(CallError::Upstream(format!("upstream said: {marker}")))
    );

    let logs = String::from_utf8_lossy(&sink.0.lock().expect("sink")).into_owned();
    assert!(!logs.is_empty(), "the trace capture works");
    assert!(!logs.contains(SECRET), "a secret reached the logs");
}

//! docs/security.md "Outbound HTTP", driven through a real component (`probe`)
//! against a real upstream on 127.0.0.1, through both doors: the gateway's
//! `http` interface and plain `wasi:http`. Every case asserts a typed outcome.

use std::time::Duration;

use gateway::outbound::Timeouts;
use gateway::outbound::policy::DeniedReason;
use gateway::runtime::{CallReport, LoadedTool};
use gateway::settings::Settings;
use serde_json::{Value, json};

use crate::harness::{Env, component, env_with};
use crate::upstream::Upstream;

/// Runs the probe with `input` and returns its outcome object and the report.
async fn probe(env: &Env, tool: &LoadedTool, input: Value) -> (Value, CallReport) {
    let report = env.runtime.call(tool, &input.to_string()).await;
    let outcome = match &report.result {
        Ok(v) => v.clone(),
        Err(e) => panic!("probe call failed: {e} for {input}"),
    };
    (outcome, report)
}

fn grant_loopback(s: &mut Settings) {
    s.allow_private =
        gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow list");
}

fn manifest(port: u16) -> String {
    format!(
        r#"name = "probe"
[[http]]
url = "http://127.0.0.1:{port}/api/"
"#
    )
}

/// What the probe reports for a denial through `via`.
fn denied(via: &str, reason: DeniedReason) -> Value {
    match via {
        "gateway" => json!({"kind": "denied", "reason": reason.as_str()}),
        _ => json!({"kind": "wasi", "code": "HttpRequestDenied"}),
    }
}

#[tokio::test]
async fn every_outbound_check_refuses_with_its_typed_reason_before_sending() {
    let up = Upstream::start().await;
    let p = up.port();
    let env = env_with(grant_loopback);
    let tool = env
        .load(&manifest(p), component(gateway_test_programs::PROBE))
        .await;

    let h = |pairs: &[(&str, &str)]| -> Value {
        json!(pairs.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>())
    };
    let cases: Vec<(&str, Value, DeniedReason)> = vec![
        (
            "https instead of http",
            json!({"url": format!("https://127.0.0.1:{p}/api/x")}),
            DeniedReason::Scheme,
        ),
        (
            "host not listed",
            json!({"url": format!("http://localhost:{p}/api/x")}),
            DeniedReason::Host,
        ),
        (
            "suffix trick",
            json!({"url": format!("http://127.0.0.1.evil.com:{p}/api/x")}),
            DeniedReason::Host,
        ),
        (
            "other port",
            json!({"url": format!("http://127.0.0.1:{}/api/x", p.wrapping_add(1))}),
            DeniedReason::Port,
        ),
        (
            "outside path prefix",
            json!({"url": format!("http://127.0.0.1:{p}/admin")}),
            DeniedReason::Path,
        ),
        (
            "dot-dot traversal",
            json!({"url": format!("http://127.0.0.1:{p}/api/../admin")}),
            DeniedReason::Path,
        ),
        (
            "encoded traversal",
            json!({"url": format!("http://127.0.0.1:{p}/api/%2e%2e/admin")}),
            DeniedReason::Path,
        ),
        // Issue 9 item 6: spellings an upstream would normalise to `..`.
        (
            "matrix-parameter dot segment",
            json!({"url": format!("http://127.0.0.1:{p}/api/..;/admin")}),
            DeniedReason::Path,
        ),
        (
            "double-encoded traversal",
            json!({"url": format!("http://127.0.0.1:{p}/api/%252e%252e/admin")}),
            DeniedReason::Path,
        ),
        (
            "overlong UTF-8 dots",
            json!({"url": format!("http://127.0.0.1:{p}/api/%c0%ae%c0%ae/admin")}),
            DeniedReason::Path,
        ),
        (
            "NUL after dots",
            json!({"url": format!("http://127.0.0.1:{p}/api/..%00/admin")}),
            DeniedReason::Path,
        ),
        (
            "encoded slash under a prefix",
            json!({"url": format!("http://127.0.0.1:{p}/api/x%2F..%2Fadmin")}),
            DeniedReason::Path,
        ),
        (
            "write method",
            json!({"method": "POST", "url": format!("http://127.0.0.1:{p}/api/x")}),
            DeniedReason::Method,
        ),
        (
            "delete method",
            json!({"method": "DELETE", "url": format!("http://127.0.0.1:{p}/api/x")}),
            DeniedReason::Method,
        ),
        (
            "GET with body",
            json!({"url": format!("http://127.0.0.1:{p}/api/x"), "body": "payload"}),
            DeniedReason::BodyNotAllowed,
        ),
    ];
    for via in ["gateway", "wasi"] {
        for (what, mut input, reason) in cases.clone() {
            input["via"] = json!(via);
            let (outcome, report) = probe(&env, &tool, input).await;
            assert_eq!(outcome["ok"], json!(false), "{via}: {what}: {outcome}");
            assert_eq!(outcome["error"], denied(via, reason), "{via}: {what}");
            assert_eq!(report.denials, vec![reason], "{via}: {what}");
        }
    }

    // Forbidden request headers. Through wasi:http they are refused when the
    // guest builds its header fields, before a request exists.
    let forbidden = [
        ("Host", "evil.com"),
        ("Connection", "close"),
        ("Transfer-Encoding", "chunked"),
        ("Proxy-Authorization", "Basic eA=="),
        ("X-HTTP-Method-Override", "DELETE"),
        ("Authorization", "Bearer guest-chosen"),
        ("Cookie", "session=1"),
        // Issue 9 item 7: routing headers a proxy before the upstream obeys.
        ("X-Forwarded-Host", "admin.internal"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Forwarded", "for=10.0.0.1;host=admin.internal"),
        ("X-Real-IP", "10.0.0.1"),
        ("X-Original-URL", "/admin"),
        ("X-Rewrite-URL", "/admin"),
        ("X-Host", "admin.internal"),
    ];
    for (name, value) in forbidden {
        for spelled in [
            name.to_string(),
            name.to_ascii_lowercase(),
            name.to_ascii_uppercase(),
        ] {
            let input = json!({"url": format!("http://127.0.0.1:{p}/api/x"), "headers": h(&[(&spelled, value)])});
            let (outcome, report) = probe(&env, &tool, input.clone()).await;
            assert_eq!(
                outcome["error"],
                denied("gateway", DeniedReason::ForbiddenHeader),
                "gateway: {spelled}"
            );
            assert_eq!(report.denials, vec![DeniedReason::ForbiddenHeader]);

            let mut wasi = input;
            wasi["via"] = json!("wasi");
            let (outcome, _) = probe(&env, &tool, wasi).await;
            assert_eq!(
                outcome["error"],
                json!({"kind": "wasi-header", "code": "Forbidden"}),
                "wasi: {spelled}"
            );
        }
    }

    // Nothing above reached the upstream.
    assert_eq!(up.seen().len(), 0, "{:?}", up.seen());

    // The allowed request goes through both doors, with the guest's own headers.
    for via in ["gateway", "wasi"] {
        let input = json!({"via": via, "url": format!("http://127.0.0.1:{p}/api/x?q=1"), "headers": h(&[("Accept", "application/json")])});
        let (outcome, report) = probe(&env, &tool, input).await;
        assert_eq!(outcome["ok"], json!(true), "{via}: {outcome}");
        assert_eq!(outcome["status"], json!(200));
        assert!(report.denials.is_empty());
        assert!(report.upstream_bytes > 0);
    }
    let seen = up.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!((s.method.as_str(), s.path.as_str()), ("GET", "/api/x?q=1"));
        assert_eq!(s.header("accept"), Some("application/json"));
        assert_eq!(s.header("host"), Some(format!("127.0.0.1:{p}").as_str()));
    }
}

#[tokio::test]
async fn private_and_special_destinations_need_the_gateway_grant() {
    let up = Upstream::start().await;
    let p = up.port();
    // No allow_private: the manifest alone can never reach these.
    let env = env_with(|_| {});
    let destinations = [
        format!("http://127.0.0.1:{p}/api/"),
        format!("http://localhost:{p}/api/"),
        "http://169.254.169.254/latest/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://192.168.1.1/".to_string(),
        "http://100.64.0.1/".to_string(),
        "http://0.0.0.0/".to_string(),
        format!("http://[::1]:{p}/api/"),
        format!("http://[::ffff:127.0.0.1]:{p}/api/"),
        "http://[fe80::1]/".to_string(),
        "http://[fd00::1]/".to_string(),
    ];
    for url in destinations {
        let tool = env
            .load(
                &format!("name = \"probe\"\n[[http]]\nurl = \"{url}\"\n"),
                component(gateway_test_programs::PROBE),
            )
            .await;
        for via in ["gateway", "wasi"] {
            let (outcome, report) =
                probe(&env, &tool, json!({"via": via, "url": format!("{url}x")})).await;
            assert_eq!(
                outcome["error"],
                denied(via, DeniedReason::PrivateAddress),
                "{via}: {url}"
            );
            assert_eq!(
                report.denials,
                vec![DeniedReason::PrivateAddress],
                "{via}: {url}"
            );
        }
    }
    // IP literals in other spellings are the same address and refused alike.
    let tool = env
        .load(
            &format!("name = \"probe\"\n[[http]]\nurl = \"http://127.0.0.1:{p}/\"\n"),
            component(gateway_test_programs::PROBE),
        )
        .await;
    for spelled in [
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0x7f.0.0.1",
    ] {
        let (outcome, _) = probe(
            &env,
            &tool,
            json!({"url": format!("http://{spelled}:{p}/x")}),
        )
        .await;
        assert_eq!(
            outcome["error"],
            denied("gateway", DeniedReason::PrivateAddress),
            "{spelled}"
        );
    }
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn redirects_go_back_to_the_guest_and_are_never_followed() {
    let up = Upstream::start().await;
    let env = env_with(grant_loopback);
    let tool = env
        .load(
            &manifest(up.port()),
            component(gateway_test_programs::PROBE),
        )
        .await;
    for via in ["gateway", "wasi"] {
        let (outcome, _) = probe(
            &env,
            &tool,
            json!({"via": via, "url": up.url("/api/redirect")}),
        )
        .await;
        assert_eq!(outcome["status"], json!(302), "{via}: {outcome}");
    }
    // One request per call: the metadata address in Location was never contacted.
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn hanging_trickling_and_huge_upstreams_cost_one_bounded_error() {
    let up = Upstream::start().await;
    let env = env_with(|s| {
        grant_loopback(s);
        s.timeouts = Timeouts {
            connect: Duration::from_millis(500),
            first_byte: Duration::from_millis(300),
            between_bytes: Duration::from_millis(300),
        };
    });
    let limits = "[limits]\nupstream_bytes = 1048576\n";
    let tool = env
        .load(
            &format!("{}{limits}", manifest(up.port())),
            component(gateway_test_programs::PROBE),
        )
        .await;

    let (hang, _) = probe(&env, &tool, json!({"url": up.url("/api/hang")})).await;
    assert_eq!(hang["error"], json!({"kind": "timeout"}));
    let (hang, _) = probe(
        &env,
        &tool,
        json!({"via": "wasi", "url": up.url("/api/hang")}),
    )
    .await;
    assert_eq!(
        hang["error"],
        json!({"kind": "wasi", "code": "ConnectionTimeout"})
    );

    let (trickle, _) = probe(&env, &tool, json!({"url": up.url("/api/trickle")})).await;
    assert_eq!(trickle["error"], json!({"kind": "timeout"}));

    let (big, report) = probe(
        &env,
        &tool,
        json!({"url": up.url("/api/big?bytes=16000000")}),
    )
    .await;
    assert_eq!(big["error"], json!({"kind": "too-large"}));
    // The read stopped at the cap (plus at most one chunk), not at 16 MB.
    assert!(
        report.upstream_bytes <= 1_048_576 + 65_536,
        "{}",
        report.upstream_bytes
    );
    let (big, report) = probe(
        &env,
        &tool,
        json!({"via": "wasi", "url": up.url("/api/big?bytes=16000000")}),
    )
    .await;
    assert_eq!(big["ok"], json!(false), "{big}");
    assert!(
        report.upstream_bytes <= 1_048_576 + 65_536,
        "{}",
        report.upstream_bytes
    );

    // A response within the cap is metered exactly.
    let (small, report) = probe(&env, &tool, json!({"url": up.url("/api/big?bytes=100000")})).await;
    assert_eq!(small["ok"], json!(true));
    assert_eq!(report.upstream_bytes, 100_000);
}

#[tokio::test]
async fn the_sandbox_grants_no_env_args_or_files_and_mounts_data_read_only() {
    let env = env_with(|_| {});
    let tool_dir = tempfile::tempdir_in(env.dir.path()).expect("tool dir");
    std::fs::create_dir(tool_dir.path().join("data")).expect("mkdir");
    std::fs::write(tool_dir.path().join("data/x.txt"), "readable").expect("write");
    std::fs::write(
        tool_dir.path().join("tool.toml"),
        "name = \"probe\"\n[files]\ndir = \"data\"\n",
    )
    .expect("manifest");
    std::fs::write(tool_dir.path().join("secret.txt"), "outside").expect("outside file");
    std::fs::copy(
        gateway_test_programs::PROBE,
        tool_dir.path().join("tool.wasm"),
    )
    .expect("component");
    let tool = env.runtime.load_dir(tool_dir.path()).await.expect("load");

    let (outcome, _) = probe(&env, &tool, json!({"dump_env": true})).await;
    assert_eq!(
        (outcome["env"].clone(), outcome["args"].clone()),
        (json!([]), json!([]))
    );

    let (read, _) = probe(&env, &tool, json!({"read_file": "/data/x.txt"})).await;
    assert_eq!(read["contents"], json!("readable"));

    for path in ["/data/new.txt", "/data/x.txt"] {
        let (write, _) = probe(&env, &tool, json!({"write_file": path})).await;
        assert_eq!(write["ok"], json!(false), "{path}: {write}");
        assert_eq!(write["error"]["kind"], json!("io"), "{path}");
    }
    assert!(!tool_dir.path().join("data/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(tool_dir.path().join("data/x.txt")).expect("read"),
        "readable"
    );

    for path in [
        "/data/../secret.txt",
        "/data/../../secret.txt",
        "/secret.txt",
        "/etc/passwd",
        "../secret.txt",
    ] {
        let (escape, _) = probe(&env, &tool, json!({"read_file": path})).await;
        assert_eq!(escape["ok"], json!(false), "{path}: {escape}");
        assert_eq!(escape["error"]["kind"], json!("io"), "{path}");
    }
}

//! Secrets are injected by the host after every check, only for the entry
//! they are bound to; the guest never sees them and no log contains them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use gateway::outbound::SecretError;
use gateway::outbound::policy::DeniedReason;
use gateway::runtime::LoadError;
use serde_json::json;

use crate::harness::{component, env_with_secrets};
use crate::upstream::Upstream;

const SECRET: &str = "tok_live_4f9a8c1e2b7d";

fn manifest(port: u16) -> String {
    format!(
        r#"name = "probe"
[[http]]
url = "http://127.0.0.1:{port}/secret/"
[http.secret_headers]
Authorization = "Bearer ${{GW_TEST_TOKEN}}"
[[http]]
url = "http://127.0.0.1:{port}/public/"
"#
    )
}

/// Collects everything `tracing` writes while a test runs.
#[derive(Clone, Default)]
pub(crate) struct LogSink(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("sink").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_upstream_gets_the_secret_and_nothing_else_does() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let up = Upstream::start().await;
    let env = env_with_secrets(
        |s| {
            s.allow_private =
                gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow")
        },
        &[("GW_TEST_TOKEN", SECRET)],
    );
    let tool = env
        .load(
            &manifest(up.port()),
            component(gateway_test_programs::PROBE),
        )
        .await;

    let mut everything_the_guest_saw = String::new();
    for via in ["gateway", "wasi"] {
        for path in ["/secret/data", "/public/data"] {
            let input = json!({"via": via, "url": up.url(path), "read_secret_env": true});
            let report = env.runtime.call(&tool, &input.to_string()).await;
            let outcome = report.result.clone().expect("probe answers");
            assert_eq!(outcome["ok"], json!(true), "{via} {path}: {outcome}");
            assert_eq!(
                outcome["env"],
                json!([]),
                "the guest's environment is empty"
            );
            everything_the_guest_saw.push_str(&outcome.to_string());
            everything_the_guest_saw.push_str(&format!("{:?}", report.logs));
        }
        // The guest may not set the injected header itself, on any entry.
        for path in ["/secret/data", "/public/data"] {
            let input = json!({"url": up.url(path), "headers": [["authorization", "Bearer mine"]]});
            let outcome = env
                .runtime
                .call(&tool, &input.to_string())
                .await
                .result
                .expect("probe answers");
            assert_eq!(
                outcome["error"],
                json!({"kind": "denied", "reason": DeniedReason::ForbiddenHeader.as_str()})
            );
        }
    }

    let seen = up.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for s in &seen {
        let expected = s
            .path
            .starts_with("/secret/")
            .then(|| format!("Bearer {SECRET}"));
        assert_eq!(
            s.header("authorization").map(str::to_string),
            expected,
            "{}",
            s.path
        );
    }

    assert!(
        !everything_the_guest_saw.contains(SECRET),
        "a secret reached the guest"
    );
    assert!(
        !format!("{tool:?}").contains(SECRET),
        "Debug output shows a secret"
    );
    let logs = String::from_utf8_lossy(&sink.0.lock().expect("sink")).into_owned();
    assert!(!logs.is_empty(), "the trace capture works");
    assert!(!logs.contains(SECRET), "a secret reached the logs");
}

#[tokio::test]
async fn a_missing_secret_is_a_load_error_naming_the_variable() {
    let env = env_with_secrets(|_| {}, &[]);
    let err = env
        .try_load(&manifest(9), component(gateway_test_programs::PROBE))
        .await
        .expect_err("load must fail");
    match err {
        LoadError::Secret {
            source: SecretError::Missing { rule, header, var },
            ..
        } => {
            assert_eq!(
                (rule, header.as_str(), var.as_str()),
                (0, "authorization", "GW_TEST_TOKEN")
            );
        }
        other => panic!("expected a missing-secret error, got {other:?}"),
    }
}

//! The example integration, run through the sandbox against its recorded
//! GitHub payloads served by the fixture server on 127.0.0.1.

use std::net::SocketAddr;
use std::path::Path;

use gateway::fixtures::{FixtureServer, Routes};
use gateway::runtime::CallError;
use serde_json::{Value, json};

use crate::harness::{Env, component, env_with};

const TOOL_DIR: &str = "github_repo_summary";

async fn setup() -> (Env, FixtureServer, gateway::runtime::LoadedTool, usize) {
    let dir = Path::new(gateway_test_programs::TOOLS_WASM_DIR).join(TOOL_DIR);
    let routes = Routes::load(&dir).expect("fixtures load");
    let fixture_bytes = routes.total_bytes();
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let server = FixtureServer::start(routes, listen)
        .await
        .expect("fixture server");
    let base = format!("http://{}", server.addr());
    // The admin's configuration points the tool at the fixtures; its manifest is untouched.
    let env = env_with(|s| {
        s.allow_private =
            gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow");
        s.tool_config.insert(
            TOOL_DIR.into(),
            [("api_base".to_string(), base)].into_iter().collect(),
        );
    });
    let manifest = std::fs::read_to_string(dir.join("tool.toml")).expect("manifest");
    let tool = env
        .load(
            &manifest,
            component(gateway_test_programs::GITHUB_REPO_SUMMARY),
        )
        .await;
    (env, server, tool, fixture_bytes)
}

#[tokio::test]
async fn summarises_a_repository_from_tens_of_kilobytes_into_a_few_hundred_bytes() {
    let (env, _server, tool, _) = setup().await;
    assert_eq!(tool.definition.name, TOOL_DIR);
    assert_eq!(tool.definition.input_schema["type"], json!("object"));
    assert!(tool.definition.output_schema.is_some());

    let report = env
        .runtime
        .call(
            &tool,
            r#"{"owner":"acme-corp","repo":"widget-engine","top_contributors":3}"#,
        )
        .await;
    let out: Value = report.result.clone().expect("summary");
    assert_eq!(out["full_name"], json!("acme-corp/widget-engine"));
    assert_eq!(out["stars"], json!(4821));
    assert_eq!(out["forks"], json!(377));
    assert_eq!(out["license"], json!("Apache-2.0"));
    assert_eq!(out["latest_release"]["tag"], json!("v2.4.1"));
    let top = out["top_contributors"].as_array().expect("list");
    assert_eq!(top.len(), 3);
    assert_eq!(top[0]["login"], json!("mkowalski-acme"));

    // The token-economy meter: three upstream documents in, a summary out.
    assert_eq!(report.requests, 3);
    assert_eq!(report.upstream_bytes, 7265 + 14933 + 32445);
    assert_eq!(report.output_bytes, out.to_string().len());
    assert!(
        report.output_bytes * 50 < report.upstream_bytes as usize,
        "{} vs {}",
        report.output_bytes,
        report.upstream_bytes
    );
}

#[tokio::test]
async fn missing_data_and_bad_input_are_typed() {
    let (env, _server, tool, _) = setup().await;
    let gizmo = env
        .runtime
        .call(&tool, r#"{"owner":"acme-corp","repo":"gizmo"}"#)
        .await;
    let out = gizmo.result.expect("gizmo summary");
    assert_eq!(out["latest_release"], Value::Null);
    assert_eq!(out["license"], Value::Null);

    let missing = env
        .runtime
        .call(&tool, r#"{"owner":"acme-corp","repo":"missing"}"#)
        .await;
    assert!(
        matches!(missing.result, Err(CallError::Upstream(_))),
        "{:?}",
        missing.result
    );

    for bad in [
        r#"{"owner":"acme-corp"}"#,
        r#"{"owner":"acme-corp","repo":"../etc"}"#,
        r#"{"owner":5,"repo":"x"}"#,
    ] {
        let report = env.runtime.call(&tool, bad).await;
        assert!(
            matches!(report.result, Err(CallError::InvalidInput(_))),
            "{bad}: {:?}",
            report.result
        );
        assert_eq!(report.requests, 0, "{bad}: nothing fetched for bad input");
    }
}

#[tokio::test]
async fn the_real_host_is_refused_without_network() {
    // Without the admin's override the tool targets https://api.github.com;
    // tests have no network, so the call fails cleanly (DNS or connect),
    // never hangs and never panics.
    let dir = Path::new(gateway_test_programs::TOOLS_WASM_DIR).join(TOOL_DIR);
    let env = env_with(|s| s.timeouts.connect = std::time::Duration::from_millis(500));
    let manifest = std::fs::read_to_string(dir.join("tool.toml")).expect("manifest");
    let tool = env
        .load(
            &manifest,
            component(gateway_test_programs::GITHUB_REPO_SUMMARY),
        )
        .await;
    let report = env
        .runtime
        .call(&tool, r#"{"owner":"acme-corp","repo":"widget-engine"}"#)
        .await;
    assert!(
        matches!(report.result, Err(CallError::Upstream(_))),
        "{:?}",
        report.result
    );
}

#[tokio::test]
async fn the_example_passes_its_own_cases() {
    let dir = Path::new(gateway_test_programs::TOOLS_WASM_DIR).join(TOOL_DIR);
    let staged = crate::harness::stage(&dir, Path::new(gateway_test_programs::GITHUB_REPO_SUMMARY));
    let results = gateway::tooltest::run(staged.path(), &crate::harness::persistent_settings())
        .await
        .expect("cases run");
    assert_eq!(results.len(), 4);
    for r in results {
        assert_eq!(r.verdict, gateway::tooltest::Verdict::Passed, "{}", r.name);
    }
}

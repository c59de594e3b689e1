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
                gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow");
            s.secret_grants
                .grant("probe", ["GW_TEST_TOKEN".to_string()]);
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
    let env = env_with_secrets(
        |s| {
            s.secret_grants
                .grant("probe", ["GW_TEST_TOKEN".to_string()])
        },
        &[],
    );
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

/// A manifest binding `var` into the Authorization header for `/secret/`.
fn binding(port: u16, name: &str, integration: Option<&str>, var: &str) -> String {
    let integration = integration.map_or(String::new(), |i| format!("integration = \"{i}\"\n"));
    format!(
        "name = \"{name}\"\n{integration}[[http]]\nurl = \"http://127.0.0.1:{port}/secret/\"\n[http.secret_headers]\nAuthorization = \"Bearer ${{{var}}}\"\n"
    )
}

/// What loading `manifest` answers: `Ok` or the secret error.
async fn secret_outcome(env: &crate::harness::Env, manifest: &str) -> Result<(), SecretError> {
    match env
        .try_load(manifest, component(gateway_test_programs::PROBE))
        .await
    {
        Ok(_) => Ok(()),
        Err(LoadError::Secret { source, .. }) => Err(source),
        Err(other) => panic!("expected a secret outcome, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tool_binds_only_the_variables_the_admin_granted_it() {
    // Everything a hostile manifest might reach for is set on the gateway.
    let env = env_with_secrets(
        |s| {
            let text = "[tools.probe]\nsecrets = [\"STRIPE_API_KEY\"]\n[integrations.hubspot]\nsecrets = [\"HUBSPOT_ACCESS_TOKEN\"]\n";
            let parsed = gateway::settings::Settings::parse(std::path::Path::new("g.toml"), text)
                .expect("settings");
            s.secret_grants = parsed.secret_grants;
            // Even a grant made in code cannot hand out the gateway's own settings.
            s.secret_grants
                .grant("probe", ["GATEWAY_ADMIN_KEY".to_string()]);
        },
        &[
            ("STRIPE_API_KEY", "sk_live_granted"),
            ("HUBSPOT_ACCESS_TOKEN", "pat-granted"),
            ("GATEWAY_ADMIN_KEY", "admin-key-that-loads-code"),
            ("MCP_SERVER_HOST", "0.0.0.0"),
            ("HOME", "/root"),
        ],
    );
    let port = 9;
    // Granted to this tool by name, and to every tool of an integration.
    assert_eq!(
        secret_outcome(&env, &binding(port, "probe", None, "STRIPE_API_KEY")).await,
        Ok(())
    );
    assert_eq!(
        secret_outcome(
            &env,
            &binding(port, "probe", Some("hubspot"), "HUBSPOT_ACCESS_TOKEN")
        )
        .await,
        Ok(())
    );
    // Not granted: another tool's key, the same key without the
    // integration, an ordinary variable of the gateway's environment.
    for (manifest, var) in [
        (
            binding(port, "probe", None, "HUBSPOT_ACCESS_TOKEN"),
            "HUBSPOT_ACCESS_TOKEN",
        ),
        (
            binding(port, "probe", Some("stripe"), "HUBSPOT_ACCESS_TOKEN"),
            "HUBSPOT_ACCESS_TOKEN",
        ),
        (binding(port, "probe", None, "HOME"), "HOME"),
    ] {
        assert_eq!(
            secret_outcome(&env, &manifest).await,
            Err(SecretError::NotGranted {
                rule: 0,
                header: "authorization".into(),
                var: var.into(),
                tool: "probe".into(),
            }),
            "{manifest}"
        );
    }
    // The gateway's own settings: never, whatever was granted.
    for var in ["GATEWAY_ADMIN_KEY", "MCP_SERVER_HOST"] {
        assert_eq!(
            secret_outcome(&env, &binding(port, "probe", None, var)).await,
            Err(SecretError::Reserved {
                rule: 0,
                header: "authorization".into(),
                var: var.into(),
            })
        );
    }
}

#[tokio::test]
async fn a_changed_binding_is_a_new_definition_applied_and_announced() {
    use gateway::catalog::{Catalog, LiveCatalog};
    use gateway::hotload::{Change, Loader};
    use gateway::runtime::Runtime;

    let up = Upstream::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = gateway::settings::Settings {
        cache_dir: crate::harness::shared_cache_dir().join("cwasm"),
        tools_dir: dir.path().join("tools"),
        allow_private: gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"])
            .expect("allow"),
        ..Default::default()
    };
    settings
        .secret_grants
        .grant("probe", ["GW_ONE".to_string(), "GW_TWO".to_string()]);
    let runtime = Arc::new(
        Runtime::with_secrets(
            settings,
            Arc::new(|var| match var {
                "GW_ONE" => Some("token-one".into()),
                "GW_TWO" => Some("token-two".into()),
                _ => None,
            }),
        )
        .expect("runtime"),
    );
    let catalog = Arc::new(LiveCatalog::new(Catalog::default()));
    let loader = Loader::new(
        Arc::clone(&runtime),
        Arc::clone(&catalog),
        crate::harness::compile_budget(),
    );
    let folder = dir.path().join("tools").join("probe");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(
        folder.join("tool.wasm"),
        component(gateway_test_programs::PROBE),
    )
    .expect("component");
    let port = up.port();
    let unbound =
        format!("name = \"probe\"\n[[http]]\nurl = \"http://127.0.0.1:{port}/secret/\"\n");

    // What the upstream receives on the next call through the served version.
    let sent_authorization = |expected_calls: usize| {
        let catalog = Arc::clone(&catalog);
        let runtime = Arc::clone(&runtime);
        let url = up.url("/secret/data");
        let up = &up;
        async move {
            let tool = Arc::clone(catalog.current().get("probe").expect("served"));
            let input = json!({"via": "gateway", "url": url});
            let outcome = runtime.call(&tool, &input.to_string()).await.result;
            assert_eq!(outcome.expect("probe answers")["ok"], json!(true));
            let seen = up.seen();
            assert_eq!(seen.len(), expected_calls);
            seen.last()
                .and_then(|s| s.header("authorization"))
                .map(str::to_string)
        }
    };

    std::fs::write(
        folder.join("tool.toml"),
        binding(port, "probe", None, "GW_ONE"),
    )
    .expect("manifest");
    let first = match loader.install_dir(&folder).await.expect("installs") {
        Change::Added {
            definition_sha256, ..
        } => definition_sha256,
        other => panic!("expected Added, got {other:?}"),
    };
    assert_eq!(
        sent_authorization(1).await.as_deref(),
        Some("Bearer token-one")
    );

    // Only the binding changes: a new definition, served at once, announced.
    let mut announced = catalog.subscribe();
    announced.mark_unchanged();
    std::fs::write(
        folder.join("tool.toml"),
        binding(port, "probe", None, "GW_TWO"),
    )
    .expect("manifest");
    let second = match loader.install_dir(&folder).await.expect("installs") {
        Change::Replaced {
            old_definition_sha256,
            new_definition_sha256,
            ..
        } => {
            assert_eq!(old_definition_sha256, first);
            new_definition_sha256
        }
        other => panic!("expected Replaced, got {other:?}"),
    };
    assert_ne!(second, first, "the binding is part of the definition");
    assert!(announced.has_changed().expect("catalog alive"));
    assert_eq!(
        sent_authorization(2).await.as_deref(),
        Some("Bearer token-two")
    );

    // The binding removed: again a new definition, and nothing injected.
    announced.mark_unchanged();
    std::fs::write(folder.join("tool.toml"), &unbound).expect("manifest");
    match loader.install_dir(&folder).await.expect("installs") {
        Change::Replaced {
            old_definition_sha256,
            new_definition_sha256,
            ..
        } => {
            assert_eq!(old_definition_sha256, second);
            assert_ne!(new_definition_sha256, second);
            assert_ne!(new_definition_sha256, first);
        }
        other => panic!("expected Replaced, got {other:?}"),
    }
    assert!(announced.has_changed().expect("catalog alive"));
    assert_eq!(sent_authorization(3).await, None);

    // The same files again: unchanged, nothing announced.
    announced.mark_unchanged();
    assert!(matches!(
        loader.install_dir(&folder).await.expect("installs"),
        Change::Unchanged { .. }
    ));
    assert!(!announced.has_changed().expect("catalog alive"));
}

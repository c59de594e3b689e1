//! `gateway fixtures record` (issue 12 item 2): one call against a real
//! upstream on 127.0.0.1 that quotes the Authorization header it gets back
//! in its JSON body and a response header; the recording holds the marker,
//! never the secret, and `gateway tool test` replays it offline.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine as _;
use gateway::fixtures::Routes;
use gateway::outbound::policy::DeniedReason;
use gateway::record::{
    BoundSecret, CaseOutcome, Credentials, Dotenv, Mode, RecordError, RoutesOutcome, SecretOrigin,
    record,
};
use gateway::settings::Settings;
use gateway::tooltest::{self, Verdict};
use serde_json::{Value, json};

use crate::harness::persistent_settings;
use crate::upstream::Upstream;

const BIN: &str = env!("CARGO_BIN_EXE_gateway");
const VAR: &str = "GW_RECORD_TOKEN";
const SECRET: &str = "tok_live_9c2e71b04fd3a8";
/// What the upstream's quote of `Bearer <SECRET>` becomes.
const MARKER: &str = "[redacted:GW_RECORD_TOKEN]";

/// A probe tool folder whose upstream is `api_base` (with a path, which the
/// recording's routes are relative to), binding the token as a Bearer header.
fn tool_dir(root: &Path, port: u16) -> PathBuf {
    let dir = root.join("probe");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("tool.toml"),
        format!(
            r#"name = "probe"
[config]
api_base = "http://127.0.0.1:{port}/api"
[[http]]
url = "${{config.api_base}}"
methods = ["GET", "POST"]
approved_by = "record-test"
[http.secret_headers]
Authorization = "Bearer ${{{VAR}}}"
"#
        ),
    )
    .expect("manifest");
    std::fs::copy(gateway_test_programs::PROBE, dir.join("tool.wasm")).expect("component");
    dir
}

fn settings() -> Settings {
    let mut s = persistent_settings();
    s.allow_private =
        gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow");
    s
}

/// Credentials from a `.env` text only (the environment left out).
fn dotenv_credentials(root: &Path, text: &str) -> Credentials {
    let file = root.join(".env");
    std::fs::write(&file, text).expect(".env");
    Credentials::new(Dotenv::load(&file).expect("parses"), Arc::new(|_| None))
}

/// Every file under `dir`, with its bytes.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            let bytes = std::fs::read(&path).expect("read");
            out.push((path, bytes));
        }
    }
    out.sort();
    out
}

/// No file under `fixtures/` holds `secret` or its common encodings.
fn assert_nowhere(fixtures: &Path, secret: &str) {
    let forms = [
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::STANDARD.encode(format!("Bearer {secret}")),
    ];
    let files = all_files(fixtures);
    assert!(!files.is_empty());
    for (path, bytes) in files {
        for form in &forms {
            assert!(
                memchr::memmem::find(&bytes, form.as_bytes()).is_none(),
                "{} holds the secret",
                path.display()
            );
        }
    }
}

/// The recorded body of `path` (query and body as sent), as JSON.
fn recorded(dir: &Path, method: &str, path: &str, query: Option<&str>, body: &str) -> Value {
    let routes = Routes::load(dir).expect("routes.toml loads");
    let method = http::Method::from_bytes(method.as_bytes()).expect("method");
    let canned = routes
        .find(&method, path, query, body.as_bytes())
        .unwrap_or_else(|| panic!("no route answers {method} {path}"));
    serde_json::from_slice(&canned.body).expect("recorded JSON")
}

fn verdicts(results: &[tooltest::CaseResult]) -> Vec<(String, Verdict)> {
    results
        .iter()
        .map(|r| (r.name.clone(), r.verdict.clone()))
        .collect()
}

#[tokio::test]
async fn a_recording_holds_markers_only_and_replays_offline() {
    let root = tempfile::tempdir().expect("tempdir");
    let up = Upstream::start().await;
    let dir = tool_dir(root.path(), up.port());
    let credentials = dotenv_credentials(root.path(), &format!("# local\n{VAR}=\"{SECRET}\"\n"));
    let settings = settings();

    // Through the gateway's own http interface.
    let first = json!({"base_config": "api_base", "url": "/v1/echo-auth-json?limit=2", "omit_headers": true});
    let rec = record(
        &dir,
        &first.to_string(),
        &settings,
        &credentials,
        Mode::Create,
    )
    .await
    .expect("recorded");
    assert_eq!(rec.routes, RoutesOutcome::Created { routes: 1 });
    assert!(
        matches!(rec.case, CaseOutcome::Added { created: true, .. }),
        "{:?}",
        rec.case
    );
    assert_eq!(
        rec.secrets,
        [BoundSecret {
            name: VAR.into(),
            origin: SecretOrigin::Dotenv(root.path().join(".env")),
            echoed: true,
        }]
    );
    assert_eq!(rec.upstream_config, ["api_base"]);
    assert_eq!(rec.files.len(), 1);
    let file = &rec.files[0];
    assert_eq!(
        (file.method.as_str(), file.target.as_str(), file.status),
        ("GET", "/v1/echo-auth-json?limit=2", 200)
    );
    assert_eq!(rec.bytes, file.bytes);
    // The upstream really got the secret, and the recording holds its marker.
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    let body = recorded(&dir, "GET", "/v1/echo-auth-json", Some("limit=2"), "");
    assert_eq!(body["authorization"], MARKER);
    assert_eq!(body["path"], "/api/v1/echo-auth-json");
    let output: Value =
        serde_json::from_str(rec.output["body"].as_str().expect("body")).expect("json");
    assert_eq!(output["authorization"], MARKER);
    assert!(rec.output.get("headers").is_none());
    // tests.toml: the runner's keys and a placeholder, never the secret.
    let tests: toml::Table = toml::from_str(
        &std::fs::read_to_string(dir.join("fixtures/tests.toml")).expect("tests.toml"),
    )
    .expect("toml");
    assert_eq!(
        serde_json::to_value(&tests["upstream_config"]).expect("json"),
        json!(["api_base"])
    );
    assert_eq!(tests["secrets"][VAR].as_str(), Some("placeholder"));
    assert_nowhere(&dir.join("fixtures"), SECRET);

    // Routes exist: refused without --append or --force, nothing changed.
    let before = all_files(&dir.join("fixtures"));
    let again = record(
        &dir,
        &first.to_string(),
        &settings,
        &credentials,
        Mode::Create,
    )
    .await;
    assert!(
        matches!(again, Err(RecordError::RoutesExist { .. })),
        "{again:?}"
    );
    assert_eq!(all_files(&dir.join("fixtures")), before);
    assert_eq!(up.seen().len(), 1, "refused before calling the upstream");

    // Through plain wasi:http, a POST with a JSON body, appended.
    let second = json!({
        "via": "wasi", "method": "POST", "base_config": "api_base",
        "url": "/v1/search/echo-auth-json", "body": "{\"page\":2,\"filter\":null}",
        "omit_headers": true,
    });
    let rec = record(
        &dir,
        &second.to_string(),
        &settings,
        &credentials,
        Mode::Append,
    )
    .await
    .expect("appended");
    assert_eq!(
        rec.routes,
        RoutesOutcome::Appended {
            added: 1,
            replaced: 0,
            kept: 1
        }
    );
    assert!(matches!(
        rec.case,
        CaseOutcome::Added { created: false, .. }
    ));
    assert_eq!(
        rec.warnings.len(),
        1,
        "the null in the body: {:?}",
        rec.warnings
    );
    let body = recorded(
        &dir,
        "POST",
        "/v1/search/echo-auth-json",
        None,
        r#"{"page":2,"filter":"x"}"#,
    );
    assert_eq!(body["authorization"], MARKER);
    assert_eq!(body["method"], "POST");
    // The route asks for the body it was recorded with.
    let routes = Routes::load(&dir).expect("routes");
    let post = http::Method::POST;
    assert!(
        routes
            .find(&post, "/v1/search/echo-auth-json", None, br#"{"page":3}"#)
            .is_none()
    );

    // The first request again: its route and file are replaced in place,
    // and the case for that input is the operator's now, kept.
    let old_name = before
        .iter()
        .map(|(p, _)| p.file_name().expect("name").to_string_lossy().into_owned())
        .find(|n| n.starts_with("v1_echo_auth_json"))
        .expect("first body file");
    let rec = record(
        &dir,
        &first.to_string(),
        &settings,
        &credentials,
        Mode::Append,
    )
    .await
    .expect("replaced");
    assert_eq!(
        rec.routes,
        RoutesOutcome::Appended {
            added: 0,
            replaced: 1,
            kept: 1
        }
    );
    assert_eq!(rec.files[0].file, old_name);
    assert!(
        matches!(rec.case, CaseOutcome::Kept { .. }),
        "{:?}",
        rec.case
    );
    assert_nowhere(&dir.join("fixtures"), SECRET);

    // Offline: the upstream is gone; the cases pass against the recording.
    drop(up);
    let results = tooltest::run(&dir, &persistent_settings())
        .await
        .expect("cases run");
    let verdicts = verdicts(&results);
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    for (name, verdict) in &verdicts {
        assert_eq!(verdict, &Verdict::Passed, "{name}");
    }
}

#[tokio::test]
async fn a_secret_set_nowhere_is_named_before_anything_runs() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = tool_dir(root.path(), 9);
    let credentials = dotenv_credentials(root.path(), "OTHER=value123\n");
    let input = json!({"url": "/x", "base_config": "api_base"}).to_string();
    let err = record(&dir, &input, &settings(), &credentials, Mode::Create)
        .await
        .expect_err("missing");
    assert!(
        matches!(&err, RecordError::MissingSecret { var, dotenv: Some(_) } if var == VAR),
        "{err:?}"
    );
    let short = dotenv_credentials(root.path(), &format!("{VAR}=abc\n"));
    let err = record(&dir, &input, &settings(), &short, Mode::Create)
        .await
        .expect_err("short");
    assert!(
        matches!(&err, RecordError::ShortSecret { var, .. } if var == VAR),
        "{err:?}"
    );
    assert!(!dir.join("fixtures").exists(), "nothing written");
}

fn run_gateway(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .current_dir(cwd)
        .args(args)
        .env_remove(VAR)
        .env_remove("GATEWAY_CONFIG")
        .env_remove("GATEWAY_TOOLS_DIR")
        .envs(env.iter().copied())
        .output()
        .expect("run gateway")
}

/// The operator's way: in a git repository with `.env` at its root, from a
/// folder below it; the environment wins over `.env`.
#[tokio::test]
async fn the_cli_reads_dotenv_up_to_the_repository_root_and_the_environment_wins() {
    let repo = tempfile::tempdir().expect("tempdir");
    let init = Command::new("git")
        .arg("init")
        .arg("-q")
        .arg(repo.path())
        .status()
        .expect("git");
    assert!(init.success());
    let up = Upstream::start().await;
    let dir = tool_dir(&repo.path().join("skills"), up.port());
    let from_file = "tok_from_dotenv_5521aa";
    std::fs::write(repo.path().join(".env"), format!("{VAR}={from_file}\n")).expect(".env");
    let config = repo.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "cache_dir = {:?}\n[outbound]\nallow_private = [\"127.0.0.1/32\"]\n",
            persistent_settings().cache_dir
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let tool = dir.display().to_string();
    let input = json!({"base_config": "api_base", "url": "/echo-auth-json", "omit_headers": true})
        .to_string();

    let cwd = dir.clone();
    let args = ["--config", &config, "fixtures", "record", &tool, &input];
    let out = {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let cwd = cwd.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_gateway(&cwd, &args, &[])
        })
        .await
        .expect("join")
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("output JSON");
    let echoed: Value =
        serde_json::from_str(printed["body"].as_str().expect("body")).expect("json");
    assert_eq!(echoed["authorization"], MARKER);
    assert_eq!(
        up.seen()[0].header("authorization"),
        Some(format!("Bearer {from_file}").as_str())
    );

    // Again, with the variable also in the environment: refused without a
    // flag (exit 1), then forced; the environment's value is the one sent.
    let from_env = "tok_from_environment_77";
    let run = |extra: Option<&'static str>| {
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if let Some(flag) = extra {
            args.push(flag.to_string());
        }
        let cwd = cwd.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_gateway(&cwd, &args, &[(VAR, from_env)])
        })
    };
    // A routes.toml broken since is still refused without a flag, and replaced by --force.
    std::fs::write(dir.join("fixtures/routes.toml"), "[[route]\nnot toml\n").expect("break");
    let refused = run(None).await.expect("join");
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(up.seen().len(), 1);
    let forced = run(Some("--force")).await.expect("join");
    assert_eq!(
        forced.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(
        up.seen()[1].header("authorization"),
        Some(format!("Bearer {from_env}").as_str())
    );
    for secret in [from_file, from_env] {
        assert_nowhere(&dir.join("fixtures"), secret);
    }

    // Offline, the real binary replays it.
    drop(up);
    let test = {
        let config = config.clone();
        let tool = tool.clone();
        tokio::task::spawn_blocking(move || {
            run_gateway(
                Path::new("/"),
                &["--config", &config, "tool", "test", &tool],
                &[],
            )
        })
        .await
        .expect("join")
    };
    assert_eq!(
        test.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
}

/// A Python tool as an operator writes it (`requests`, the key from
/// `os.environ`, a literal URL its `[config]` default names), pointed at a
/// staging upstream by the deployment's config: two pages, two routes told
/// apart by their query, replayed offline.
#[tokio::test(flavor = "multi_thread")]
async fn a_python_requests_tool_records_each_page_and_replays_it() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = gateway::build::scaffold::new_tool(
        parent.path(),
        "echo_pages",
        gateway::build::Language::Python,
    )
    .expect("scaffold");
    std::fs::remove_dir_all(dir.join("fixtures")).expect("no fixtures yet");
    std::fs::write(
        dir.join("tool.toml"),
        format!(
            r#"name = "echo_pages"
[config]
api_base = "https://api.example.com"
[[http]]
url = "${{config.api_base}}/v1/items"
[http.secret_headers]
Authorization = "Bearer ${{{VAR}}}"
"#
        ),
    )
    .expect("manifest");
    std::fs::write(
        dir.join("scripts/echo_pages.py"),
        format!(
            r#"import os

import requests
from gateway_tool import tool

TOKEN = os.environ["{VAR}"]


@tool
def echo_pages(pages: int = 2) -> dict:
    """What the upstream says it was sent, page by page.

    Args:
        pages: How many pages to ask for.
    """
    seen = []
    for page in range(1, pages + 1):
        resp = requests.get(
            "https://api.example.com/v1/items/echo-auth-json",
            params={{"page": page}},
            headers={{"Authorization": f"Bearer {{TOKEN}}"}},
            timeout=10,
        )
        resp.raise_for_status()
        data = resp.json()
        seen.append({{"authorization": data["authorization"], "query": data["query"]}})
    return {{"count": len(seen), "pages": seen}}
"#
        ),
    )
    .expect("script");
    let component = crate::harness::python_component(&dir, "echo_pages");
    let staged = crate::harness::stage(&dir, &component);

    let up = Upstream::start().await;
    let mut settings = settings();
    settings
        .tool_config
        .entry("echo_pages".into())
        .or_default()
        .insert("api_base".into(), format!("http://127.0.0.1:{}", up.port()));
    let credentials = Credentials::new(
        Dotenv::default(),
        Arc::new(|var| (var == VAR).then(|| SECRET.to_string())),
    );
    let rec = record(
        staged.path(),
        r#"{"pages": 2}"#,
        &settings,
        &credentials,
        Mode::Create,
    )
    .await
    .expect("recorded");
    assert_eq!(rec.routes, RoutesOutcome::Created { routes: 2 });
    let targets: Vec<&str> = rec.files.iter().map(|f| f.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/v1/items/echo-auth-json?page=1",
            "/v1/items/echo-auth-json?page=2"
        ]
    );
    assert_ne!(rec.files[0].file, rec.files[1].file);
    assert_eq!(rec.secrets[0].origin, SecretOrigin::Environment);
    assert_eq!(rec.output["count"], 2);
    assert_eq!(rec.output["pages"][1]["authorization"], MARKER);
    assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
    assert!(
        up.seen()
            .iter()
            .all(|s| s.header("authorization") == Some(format!("Bearer {SECRET}").as_str()))
    );
    assert_nowhere(&staged.path().join("fixtures"), SECRET);

    drop(up);
    let results = tooltest::run(staged.path(), &persistent_settings())
        .await
        .expect("cases run");
    assert_eq!(
        verdicts(&results),
        [(r#"recorded: {"pages":2}"#.to_string(), Verdict::Passed)]
    );
}

/// Recording runs under the same policy as `gateway call`: a request the
/// manifest does not allow is refused, reaches no upstream and is not
/// recorded.
#[tokio::test]
async fn recording_keeps_the_outbound_policy() {
    let root = tempfile::tempdir().expect("tempdir");
    let up = Upstream::start().await;
    let dir = tool_dir(root.path(), up.port());
    let credentials = dotenv_credentials(root.path(), &format!("{VAR}={SECRET}\n"));
    let path_denied = json!({"kind": "denied", "reason": DeniedReason::Path.as_str()});
    let wasi_denied = json!({"kind": "wasi", "code": "HttpRequestDenied"});
    for (via, method, path, error) in [
        ("gateway", "GET", "/elsewhere/echo-auth-json", path_denied),
        ("wasi", "DELETE", "/api/echo-auth-json", wasi_denied),
    ] {
        let input = json!({"via": via, "method": method, "url": up.url(path)}).to_string();
        let rec = record(&dir, &input, &settings(), &credentials, Mode::Force)
            .await
            .expect("the call itself succeeds");
        assert_eq!(rec.output["ok"], false, "{via} {method} {path}");
        assert_eq!(rec.output["error"], error, "{via} {method} {path}");
        assert!(rec.files.is_empty());
        assert!(matches!(
            rec.routes,
            RoutesOutcome::Replaced { routes: 0, .. } | RoutesOutcome::Created { routes: 0 }
        ));
    }
    assert!(up.seen().is_empty());
}

//! The `gateway` binary as an operator runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gateway::build::scaffold::{RUST_SDK_ENV, RUST_SDK_GIT_ENV, RUST_SDK_TAG};
use gateway::fixtures::{FixtureServer, Routes};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

async fn run(args: Vec<String>, envs: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_TOOLS_DIR")
            .env_remove(RUST_SDK_ENV)
            .env_remove(RUST_SDK_GIT_ENV)
            .envs(envs)
            .output()
            .expect("run gateway")
    })
    .await
    .expect("join")
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The guest build folder gateway-test-programs fills, so cargo run by
/// `gateway tool build` finds its dependencies already built.
fn guest_target_dir() -> String {
    std::env::var("GATEWAY_WASM_TARGET_DIR").unwrap_or_else(|_| {
        format!(
            "{}/.cache/agent-gateway/wasm-target",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

fn example_dir() -> PathBuf {
    Path::new(gateway_test_programs::TOOLS_WASM_DIR).join("github_repo_summary")
}

#[tokio::test]
async fn every_command_has_help() {
    for cmd in [
        &["--help"][..],
        &["tool", "--help"],
        &["tool", "build", "--help"],
        &["tool", "import", "--help"],
        &["tool", "check", "--help"],
        &["tools", "--help"],
        &["tools", "list", "--help"],
        &["tools", "show", "--help"],
        &["call", "--help"],
        &["fixtures", "serve", "--help"],
        &["fixtures", "record", "--help"],
        &["fields", "lint", "--help"],
        &["audit", "verify", "--help"],
    ] {
        let out = run(args(cmd), vec![]).await;
        assert!(out.status.success(), "{cmd:?}");
        assert!(!out.stdout.is_empty(), "{cmd:?}");
    }
    let out = run(args(&["no-such-command"]), vec![]).await;
    assert_eq!(out.status.code(), Some(2), "clap usage error");
}

/// A tools folder holding a copy of the example tool (manifest + built
/// component) and a broken one, plus a gateway config pointing at `fixtures`.
fn deployment(root: &Path, fixtures: &str) -> PathBuf {
    let tools = root.join("tools");
    let tool = tools.join("github_repo_summary");
    std::fs::create_dir_all(&tool).expect("mkdir");
    std::fs::copy(example_dir().join("tool.toml"), tool.join("tool.toml")).expect("manifest");
    std::fs::copy(
        gateway_test_programs::GITHUB_REPO_SUMMARY,
        tool.join("tool.wasm"),
    )
    .expect("component");
    let broken = tools.join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(
        broken.join("tool.toml"),
        "name = \"broken\"\nunknown_key = 1\n",
    )
    .expect("broken");
    let config = root.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "tools_dir = \"tools\"\ncache_dir = \"cache\"\n[outbound]\nallow_private = [\"127.0.0.1/32\"]\n[tools.github_repo_summary.config]\napi_base = \"{fixtures}\"\n"
        ),
    )
    .expect("config");
    config
}

/// The example's fixtures served on 127.0.0.1 and a [`deployment`] in
/// `root` pointed at them: the server (keep it) and the config's path.
async fn served_deployment(root: &Path) -> (FixtureServer, String) {
    let routes = Routes::load(&example_dir()).expect("routes");
    let server = FixtureServer::start(routes, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("server");
    let config = deployment(root, &format!("http://{}", server.addr()));
    (server, config.to_string_lossy().to_string())
}

#[tokio::test]
async fn call_prints_json_on_stdout_and_fails_with_a_status() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_server, config) = served_deployment(root.path()).await;

    let ok = run(
        args(&[
            "--config",
            &config,
            "call",
            "github_repo_summary",
            r#"{"owner":"acme-corp","repo":"widget-engine"}"#,
        ]),
        vec![],
    )
    .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out: Value = serde_json::from_slice(&ok.stdout).expect("stdout is JSON");
    assert_eq!(out["stars"], json!(4821));

    let failed = run(
        args(&[
            "--config",
            &config,
            "call",
            "github_repo_summary",
            r#"{"owner":"acme-corp","repo":"missing"}"#,
        ]),
        vec![],
    )
    .await;
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        failed.stdout.is_empty(),
        "nothing on stdout for a failed call"
    );

    let unknown = run(args(&["--config", &config, "call", "nope", "{}"]), vec![]).await;
    assert_eq!(unknown.status.code(), Some(1));

    let list = run(args(&["--config", &config, "tools", "list"]), vec![]).await;
    assert!(list.status.success());
    let stdout = String::from_utf8_lossy(&list.stdout);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!(rows[1][..2], ["github_repo_summary", "built"], "{stdout}");
    assert_eq!(rows[0][1], "invalid", "{stdout}");
}

#[tokio::test]
async fn tool_build_compiles_checks_and_precompiles_a_rust_tool() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = root.path().join("gateway.toml");
    std::fs::write(&config, "cache_dir = \"cache\"\n").expect("config");
    // Reuse the guest build of gateway-test-programs, so cargo finds it fresh.
    let wasm_target = guest_target_dir();
    let dir = example_dir().to_string_lossy().to_string();
    let out = run(
        args(&["--config", &config.to_string_lossy(), "tool", "build", &dir]),
        vec![("CARGO_TARGET_DIR".into(), wasm_target)],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = std::fs::read(example_dir().join("tool.wasm")).expect("tool.wasm written");
    assert!(wasmparser_is_component(&built));
    // Beside it, `incremental/` holds Cranelift's per-function cache.
    let cached = std::fs::read_dir(root.path().join("cache"))
        .expect("cache dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(cached, 1, "one precompiled artifact");

    let not_a_tool = run(
        args(&["tool", "build", &root.path().to_string_lossy()]),
        vec![],
    )
    .await;
    assert_eq!(not_a_tool.status.code(), Some(1));
}

/// Component binaries start with the wasm magic and the component layer/version.
fn wasmparser_is_component(bytes: &[u8]) -> bool {
    bytes.len() > 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [0x01, 0x00]
}

#[tokio::test]
async fn a_scaffolded_rust_tool_builds_and_passes_its_own_test() {
    // Inside a checkout a Rust scaffold depends on guest-sdk/rust by relative
    // path; a temp folder under tools-wasm is removed when the test ends.
    let parent = tempfile::tempdir_in(gateway_test_programs::TOOLS_WASM_DIR).expect("tempdir");
    let parent_arg = parent.path().to_string_lossy().to_string();
    let config = parent.path().join("gateway.toml");
    std::fs::write(&config, "cache_dir = \"cache\"\n").expect("config");
    let config = config.to_string_lossy().to_string();
    let wasm_target = guest_target_dir();

    let new = run(
        args(&[
            "tool",
            "new",
            "item_lookup",
            "--lang",
            "rust",
            "--dir",
            &parent_arg,
        ]),
        vec![],
    )
    .await;
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let dir = parent
        .path()
        .join("item_lookup")
        .to_string_lossy()
        .to_string();
    let again = run(
        args(&[
            "tool",
            "new",
            "item_lookup",
            "--lang",
            "rust",
            "--dir",
            &parent_arg,
        ]),
        vec![],
    )
    .await;
    assert_eq!(
        again.status.code(),
        Some(1),
        "an existing folder is never overwritten"
    );

    let build = run(
        args(&["--config", &config, "tool", "build", &dir]),
        vec![("CARGO_TARGET_DIR".into(), wasm_target)],
    )
    .await;
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let test = run(args(&["--config", &config, "tool", "test", &dir]), vec![]).await;
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&test.stdout).trim(),
        "3 passed, 0 failed"
    );
}

/// The `gateway-tool` dependency a scaffold's Cargo.toml declares.
fn sdk_dependency(tool: &Path) -> toml::Table {
    let text = std::fs::read_to_string(tool.join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml parses");
    manifest["dependencies"]["gateway-tool"]
        .as_table()
        .expect("gateway-tool is a table")
        .clone()
}

/// Copies `from` into `to`, leaving out build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let (path, name) = (entry.path(), entry.file_name());
        if name == "target" {
            continue;
        }
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

/// Builds `tool` (a scaffolded Rust tool) with `gateway tool build`, loading
/// it, then runs its own cases; returns the `tool test` summary line.
async fn build_and_test(tool: &Path, config: &Path) -> String {
    let (tool, config) = (
        tool.to_string_lossy().to_string(),
        config.to_string_lossy().to_string(),
    );
    let build = run(
        args(&["--config", &config, "tool", "build", &tool]),
        vec![("CARGO_TARGET_DIR".into(), guest_target_dir())],
    )
    .await;
    assert_eq!(
        build.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let test = run(args(&["--config", &config, "tool", "test", &tool]), vec![]).await;
    assert_eq!(
        test.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&test.stderr)
    );
    String::from_utf8_lossy(&test.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_rust_tool_scaffolded_outside_a_checkout_builds_against_a_local_sdk() {
    // The SDK alone, copied away from the checkout: it must carry everything
    // it builds from (the WIT contract included), as a git or path dependency sees it.
    let outside = tempfile::tempdir().expect("tempdir");
    let sdk = outside.path().join("sdk/gateway-tool");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/rust"),
        &sdk,
    );
    let parent = outside.path().join("tools");
    std::fs::create_dir_all(&parent).expect("mkdir");
    let config = outside.path().join("gateway.toml");
    std::fs::write(&config, "cache_dir = \"cache\"\n").expect("config");

    let new = run(
        args(&[
            "tool",
            "new",
            "item_lookup",
            "--lang",
            "rust",
            "--dir",
            &parent.to_string_lossy(),
        ]),
        vec![(RUST_SDK_ENV.into(), sdk.to_string_lossy().to_string())],
    )
    .await;
    assert_eq!(
        new.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let tool = parent.join("item_lookup");
    let dependency = sdk_dependency(&tool);
    let canonical = sdk.canonicalize().expect("canonical");
    assert_eq!(
        dependency.get("path").and_then(|p| p.as_str()),
        canonical.to_str()
    );
    assert_eq!(dependency.get("git"), None);
    assert_eq!(build_and_test(&tool, &config).await, "3 passed, 0 failed");

    // --sdk-path must name the SDK: a folder that is not is refused, nothing written.
    let refused = run(
        args(&[
            "tool",
            "new",
            "other",
            "--lang",
            "rust",
            "--dir",
            &parent.to_string_lossy(),
            "--sdk-path",
            &outside.path().join("sdk").to_string_lossy(),
        ]),
        vec![],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(!parent.join("other").exists());
}

/// Removes cargo's clones of a test repository (`$CARGO_HOME/git/{db,checkouts}/<ident>-<hash>`)
/// when dropped, so test runs leave nothing behind.
struct CargoGitClones(String);

impl Drop for CargoGitClones {
    fn drop(&mut self) {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
        let Some(home) = home else { return };
        let prefix = format!("{}-", self.0);
        for kind in ["db", "checkouts"] {
            let Ok(entries) = std::fs::read_dir(home.join("git").join(kind)) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

#[tokio::test]
async fn a_rust_tool_scaffolded_outside_a_checkout_depends_on_the_sdk_by_git() {
    // No network to the public repository here: this checkout's committed
    // history, cloned bare and tagged as a release, stands in for it.
    let outside = tempfile::tempdir().expect("tempdir");
    // A name of its own, so cargo's clone of it can be found and removed.
    let ident: String = format!("gateway-sdk-test-{}", outside.path().display())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let _cargo_clones = CargoGitClones(ident.clone());
    let repo = outside.path().join(format!("{ident}.git"));
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().expect("run git");
        assert_eq!(
            out.status.code(),
            Some(0),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&[
        "clone",
        "--quiet",
        "--bare",
        &checkout.to_string_lossy(),
        &repo.to_string_lossy(),
    ]);
    git(&[
        "--git-dir",
        &repo.to_string_lossy(),
        "tag",
        "--force",
        RUST_SDK_TAG,
        "HEAD",
    ]);
    let url = format!("file://{}", repo.display());
    let config = outside.path().join("gateway.toml");
    std::fs::write(&config, "cache_dir = \"cache\"\n").expect("config");

    let new = run(
        args(&[
            "tool",
            "new",
            "item_lookup",
            "--lang",
            "rust",
            "--dir",
            &outside.path().to_string_lossy(),
        ]),
        vec![(RUST_SDK_GIT_ENV.into(), url.clone())],
    )
    .await;
    assert_eq!(
        new.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let tool = outside.path().join("item_lookup");
    let dependency = sdk_dependency(&tool);
    assert_eq!(
        dependency.get("git").and_then(|g| g.as_str()),
        Some(url.as_str())
    );
    assert_eq!(
        dependency.get("tag").and_then(|t| t.as_str()),
        Some(RUST_SDK_TAG)
    );
    assert_eq!(dependency.get("path"), None);
    assert_eq!(build_and_test(&tool, &config).await, "3 passed, 0 failed");
}

#[tokio::test]
async fn fields_lint_names_file_line_and_column_of_every_problem() {
    let repo_fields = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fields");
    let out = run(
        args(&["fields", "lint", repo_fields.to_str().expect("utf-8")]),
        vec![],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty());

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shop.yaml");
    std::fs::write(
        &file,
        "integration: shop\nfields:\n  total:\n    display_name: Total\n    description: Paid.\n    type: money\n    nullable: false\n  coupon:\n    display_name: Coupon\n    description: Code.\n    type: string\n    colour: red\n",
    )
    .expect("write");
    let out = run(
        args(&[
            "--fields-dir",
            dir.path().to_str().expect("utf-8"),
            "fields",
            "lint",
        ]),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let places: Vec<(String, usize)> = stdout
        .lines()
        .map(|line| {
            let mut parts = line.splitn(4, ':');
            let path = parts.next().expect("file").to_owned();
            let line_no = parts.next().and_then(|n| n.parse().ok()).expect("line");
            (path, line_no)
        })
        .collect();
    let name = file.display().to_string();
    assert_eq!(places, [(name.clone(), 6), (name, 12)], "{stdout}");
}

#[tokio::test]
async fn tool_import_writes_a_folder_and_refuses_to_overwrite_it() {
    let parent = tempfile::tempdir().expect("tempdir");
    let out_dir = parent.path().join("charges");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/plain-scripts/stripe/stripe_charges.py")
        .display()
        .to_string();
    let out_arg = out_dir.display().to_string();
    let out = run(
        args(&["tool", "import", &script, "--out", &out_arg]),
        vec![],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [
        "tool.toml",
        "SKILL.md",
        "IMPORT-NOTES.md",
        "scripts/charge_totals.py",
        "fixtures/routes.toml",
        "fixtures/tests.toml",
    ] {
        assert!(out_dir.join(file).is_file(), "{file}");
    }
    let manifest =
        gateway::manifest::Manifest::load(&out_dir.join("tool.toml")).expect("manifest loads");
    assert_eq!(manifest.name, "charge_totals");
    let again = run(
        args(&["tool", "import", &script, "--out", &out_arg]),
        vec![],
    )
    .await;
    assert_eq!(again.status.code(), Some(1));
}

#[tokio::test]
async fn tool_check_parses_with_the_sandboxes_python() {
    let parent = tempfile::tempdir().expect("tempdir");
    let script = parent.path().join("t.py");
    let head = "from gateway_tool import tool\n\ntype Pair[T] = tuple[T, T]\n\n\n@tool\ndef t(x: str) -> dict:\n    \"\"\"T.\n\n    Args:\n        x: X.\n    \"\"\"\n    return {\"x\": f\"{f\"{x!r}\"}\"}\n";
    std::fs::write(&script, head).expect("write");
    let path = script.display().to_string();
    let envs = vec![(
        "GATEWAY_COMPONENTIZE_PY".to_string(),
        std::env::var("GATEWAY_COMPONENTIZE_PY").unwrap_or_default(),
    )]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect::<Vec<_>>();
    let out = run(args(&["tool", "check", &path]), envs.clone()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    std::fs::write(&script, format!("{head}\ndef broken(:\n    pass\n")).expect("write");
    let out = run(args(&["tool", "check", &path]), envs).await;
    assert_eq!(out.status.code(), Some(1));
    // file:line:column: code: message
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().expect("a diagnostic");
    let rest = first
        .strip_prefix(&format!("{path}:"))
        .expect("names the file");
    let fields: Vec<&str> = rest.splitn(4, ':').collect();
    assert_eq!((fields[0], fields[2].trim()), ("15", "syntax"));
}

/// The repository's GitHub field file without `forks`, in `root/fields`.
fn fields_without_forks(root: &Path) {
    let fields = root.join("fields");
    std::fs::create_dir_all(&fields).expect("mkdir");
    let yaml = std::fs::read_to_string(
        Path::new(gateway_test_programs::TOOLS_WASM_DIR).join("../fields/github.yaml"),
    )
    .expect("github.yaml");
    // Drop the `forks:` entry: its line and the indented lines under it.
    let mut out = String::new();
    let mut skipping = false;
    for line in yaml.lines() {
        if line == "  forks:" {
            skipping = true;
            continue;
        }
        if skipping && line.starts_with("    ") {
            continue;
        }
        skipping = false;
        out.push_str(line);
        out.push('\n');
    }
    assert_ne!(out.len(), yaml.len(), "forks removed");
    std::fs::write(fields.join("github.yaml"), out).expect("write");
}

#[tokio::test]
async fn call_attaches_the_field_check_as_serve_does_and_tools_show_prints_the_served_definition() {
    let root = tempfile::tempdir().expect("tempdir");
    let (_server, config) = served_deployment(root.path()).await;
    fields_without_forks(root.path());
    let fields = root.path().join("fields").to_string_lossy().to_string();

    let called = run(
        args(&[
            "--config",
            &config,
            "--fields-dir",
            &fields,
            "call",
            "github_repo_summary",
            r#"{"owner":"acme-corp","repo":"widget-engine"}"#,
        ]),
        vec![],
    )
    .await;
    assert!(
        called.status.success(),
        "{}",
        String::from_utf8_lossy(&called.stderr)
    );
    let out: Value = serde_json::from_slice(&called.stdout).expect("stdout is JSON");
    assert_eq!(out["_field_validation"]["integration"], "github");
    assert_eq!(out["_field_validation"]["unknown_fields"], json!(["forks"]));

    let shown = run(
        args(&[
            "--config",
            &config,
            "--fields-dir",
            &fields,
            "tools",
            "show",
            "github_repo_summary",
        ]),
        vec![],
    )
    .await;
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let tool: Value = serde_json::from_slice(&shown.stdout).expect("stdout is JSON");
    assert_eq!(tool["name"], "github_repo_summary");
    assert!(tool["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(tool["inputSchema"]["type"], "object");
    // The registry's meanings, as tools/list serves them.
    let properties = &tool["outputSchema"]["properties"];
    assert_eq!(
        properties["_field_validation"]["type"], "object",
        "{tool:#}"
    );
    assert!(
        properties["stars"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Accounts that starred the repository")),
        "{tool:#}"
    );

    let unknown = run(
        args(&["--config", &config, "tools", "show", "nope"]),
        vec![],
    )
    .await;
    assert_eq!(unknown.status.code(), Some(1));
}

//! Operators' plain scripts (requests, keys from `os.environ`) imported with
//! `gateway tool import`, built with componentize-py and run through the
//! sandbox against their recorded upstreams on 127.0.0.1: the upstream gets
//! the gateway's injected header, never the placeholder the script held.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gateway::build::Language;
use gateway::build::import::{ImportError, import_script};
use gateway::build::scaffold::new_tool;
use gateway::manifest::{MANIFEST_FILE, Manifest};
use gateway::runtime::CallError;
use gateway::tooltest::{self, CaseResult, Verdict};

use crate::harness::{persistent_settings, python_component, stage};

fn plain_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plain-scripts")
}

/// Imports `<case>/<script>` into a temp folder and puts the case's recorded
/// fixtures in place of the generated skeletons.
fn imported(case: &str, script: &str) -> (tempfile::TempDir, PathBuf, String) {
    let parent = tempfile::tempdir().expect("tempdir");
    let source = plain_scripts().join(case);
    let tool = import_script(&source.join(script), None, None, parent.path())
        .unwrap_or_else(|e| panic!("importing {script}: {e}"));
    let fixtures = tool.dir.join("fixtures");
    for entry in std::fs::read_dir(source.join("fixtures"))
        .expect("fixtures")
        .flatten()
    {
        std::fs::copy(entry.path(), fixtures.join(entry.file_name())).expect("copy fixture");
    }
    (parent, tool.dir, tool.name)
}

async fn run(dir: &Path, name: &str) -> Vec<CaseResult> {
    let component = python_component(dir, name);
    let staged = stage(dir, &component);
    tooltest::run(staged.path(), &persistent_settings())
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every case passed, and every request the upstream saw carried exactly
/// the injected `authorization` and no placeholder anywhere.
fn assert_passed_with_injected_auth(name: &str, results: &[CaseResult], authorization: &str) {
    assert!(!results.is_empty(), "{name}: no cases");
    for r in results {
        assert_eq!(r.verdict, Verdict::Passed, "{name}: {}", r.name);
        assert!(!r.upstream_requests.is_empty(), "{name}: {}", r.name);
        for seen in &r.upstream_requests {
            assert_eq!(
                seen.header("authorization"),
                Some(authorization),
                "{name}: {}",
                seen.target
            );
            let auth_headers = seen.headers.iter().filter(|(n, _)| n == "authorization");
            assert_eq!(auth_headers.count(), 1, "{name}: {}", seen.target);
            assert!(
                !seen
                    .headers
                    .iter()
                    .any(|(_, v)| v.contains("gateway-secret"))
                    && !seen.target.contains("gateway-secret"),
                "{name}: a placeholder reached the upstream: {seen:?}"
            );
        }
    }
}

fn vars(manifest: &Manifest) -> BTreeSet<String> {
    manifest.secret_vars().expect("secret vars")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stripe_script_with_pagination_runs_unchanged_but_for_tool() {
    let (_keep, dir, name) = imported("stripe", "stripe_charges.py");
    assert_eq!(name, "charge_totals");
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE)).expect("manifest");
    assert_eq!(
        vars(&manifest),
        BTreeSet::from(["STRIPE_API_KEY".to_string()])
    );
    assert_eq!(
        manifest.config.get("stripe_base").map(String::as_str),
        Some("https://api.stripe.com")
    );
    let results = run(&dir, &name).await;
    assert_passed_with_injected_auth(&name, &results, "Bearer sk_test_fixture");
    // Pagination: the second page was asked for with the last id of the first.
    let targets: Vec<&str> = results[0]
        .upstream_requests
        .iter()
        .map(|s| s.target.as_str())
        .collect();
    assert_eq!(targets.len(), 2);
    assert!(targets[1].contains("starting_after=ch_3"), "{targets:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hubspot_session_script_posts_once_an_admin_approves_post() {
    let (_keep, dir, name) = imported("hubspot", "hubspot_deals.py");
    assert_eq!(name, "search_deals");
    let manifest_file = dir.join(MANIFEST_FILE);
    let manifest = Manifest::load(&manifest_file).expect("manifest");
    assert_eq!(
        vars(&manifest),
        BTreeSet::from(["HUBSPOT_ACCESS_TOKEN".to_string()])
    );
    // As imported, POST is not granted: the search is refused by policy.
    let before = run(&dir, &name).await;
    for r in &before {
        assert!(
            matches!(r.report.result, Err(CallError::Denied(_))),
            "{}: {:?}",
            r.name,
            r.report.result
        );
        assert!(r.upstream_requests.is_empty(), "{}", r.name);
    }
    // The admin's sign-off, as the comment in tool.toml asks.
    let text = std::fs::read_to_string(&manifest_file).expect("read");
    let approved = text.replacen(
        "methods = [\"GET\", \"HEAD\"]",
        "methods = [\"GET\", \"HEAD\", \"POST\"]\napproved_by = \"admin@example.com\"",
        1,
    );
    assert_ne!(approved, text);
    std::fs::write(&manifest_file, approved).expect("write");
    let results = run(&dir, &name).await;
    assert_passed_with_injected_auth(&name, &results, "Bearer pat-fixture");
    assert!(
        results[0]
            .upstream_requests
            .iter()
            .all(|s| s.method == "POST")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zendesk_script_follows_next_page_urls_to_the_fixture_server() {
    let (_keep, dir, name) = imported("zendesk", "zendesk_tickets.py");
    assert_eq!(name, "ticket_backlog");
    let notes = std::fs::read_to_string(dir.join("IMPORT-NOTES.md")).expect("notes");
    assert!(notes.lines().filter(|l| l.starts_with("- ")).count() >= 3);
    let results = run(&dir, &name).await;
    assert_passed_with_injected_auth(&name, &results, "Bearer zd-fixture");
    // The absolute next_page URL (https://acme.zendesk.com/...) went to the
    // fixture server the config pointed the base at.
    assert_eq!(results[0].upstream_requests.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_the_manifest_does_not_bind_fails_the_call_as_internal() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "envless", Language::Python).expect("scaffold");
    std::fs::write(
        dir.join("scripts/envless.py"),
        r#"import os

import requests
from gateway_tool import tool


@tool
def envless(q: str) -> dict:
    """Reads a key tool.toml does not bind.

    Args:
        q: Anything.
    """
    headers = {"Authorization": f"Bearer {os.environ['UNBOUND_KEY']}"}
    return {"status": requests.get("https://example.com/", headers=headers).status_code}
"#,
    )
    .expect("script");
    std::fs::write(
        dir.join("fixtures/tests.toml"),
        "upstream_config = [\"api_base\"]\n[[case]]\nname = \"unbound\"\ninput = { q = \"x\" }\nexpect_error = \"internal\"\n",
    )
    .expect("cases");
    let results = run(&dir, "envless").await;
    assert_eq!(results[0].verdict, Verdict::Passed);
    assert!(results[0].upstream_requests.is_empty());
}

#[test]
fn import_refuses_an_occupied_folder_and_names_a_missing_function() {
    let parent = tempfile::tempdir().expect("tempdir");
    let script = plain_scripts().join("stripe/stripe_charges.py");
    let out = parent.path().join("occupied");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), "mine").expect("write");
    assert!(matches!(
        import_script(&script, None, Some(&out), parent.path()),
        Err(ImportError::Exists(ref d)) if d == &out
    ));
    assert!(matches!(
        import_script(&script, Some("nope"), None, parent.path()),
        Err(ImportError::Script { .. })
    ));
    // --function picks another function than the one with the most parameters.
    let picked = import_script(
        &plain_scripts().join("hubspot/hubspot_deals.py"),
        Some("get_session"),
        None,
        parent.path(),
    )
    .expect("import get_session");
    assert_eq!(picked.name, "get_session");
    assert!(
        Manifest::load(&picked.dir.join(MANIFEST_FILE)).is_ok(),
        "the written manifest loads"
    );
}

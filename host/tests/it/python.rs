//! Operator Python scripts as sandboxed tools: real componentize-py builds,
//! the example integrations' own cases, the scaffold, and build errors that
//! name file and line.

use std::path::Path;

use gateway::build::BuildError;
use gateway::build::scaffold::new_tool;
use gateway::build::{Language, python};
use gateway::tooltest::{self, Verdict};

use crate::harness::{persistent_settings, python_component, stage};

async fn run_cases(dir: &Path, name: &str) -> Vec<tooltest::CaseResult> {
    let component = python_component(dir, name);
    let staged = stage(dir, &component);
    tooltest::run(staged.path(), &persistent_settings())
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn assert_all_passed(name: &str, results: &[tooltest::CaseResult]) {
    assert!(!results.is_empty(), "{name}: no cases");
    for r in results {
        assert_eq!(r.verdict, Verdict::Passed, "{name}: {}", r.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn python_examples_pass_their_own_cases_through_the_sandbox() {
    for name in ["stripe_revenue", "hubspot_pipeline"] {
        let dir = Path::new(gateway_test_programs::TOOLS_WASM_DIR).join(name);
        let results = run_cases(&dir, name).await;
        assert_all_passed(name, &results);
        // The first case is the headline query: far fewer bytes out than in.
        let first = &results[0].report;
        assert!(
            first.upstream_bytes > 20 * first.output_bytes as u64,
            "{name}: {} in, {} out",
            first.upstream_bytes,
            first.output_bytes
        );
    }
}

/// docs/content.md: the chart example draws in pure Python inside the
/// sandbox; its PNG reaches the report as an image block after the JSON.
#[tokio::test(flavor = "multi_thread")]
async fn the_chart_example_passes_its_cases_and_returns_a_png() {
    let name = "stripe_revenue_chart";
    let dir = Path::new(gateway_test_programs::TOOLS_WASM_DIR).join(name);
    let results = run_cases(&dir, name).await;
    assert_all_passed(name, &results);
    match results[0].report.content.as_slice() {
        [rmcp::model::ContentBlock::Image(image)] => assert_eq!(image.mime_type, "image/png"),
        other => panic!("expected one PNG, got {other:?}"),
    }
    match results[1].report.content.as_slice() {
        [rmcp::model::ContentBlock::Image(image)] => assert_eq!(image.mime_type, "image/svg+xml"),
        other => panic!("expected one SVG, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scaffolded_python_tool_builds_and_passes_its_own_test() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "item_lookup", Language::Python).expect("scaffold");
    let results = run_cases(&dir, "item_lookup").await;
    assert_eq!(results.len(), 3);
    assert_all_passed("item_lookup", &results);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outbound_policy_binds_python_tools_too() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "nosy", Language::Python).expect("scaffold");
    std::fs::write(
        dir.join("scripts/nosy.py"),
        r#"from gateway_tool import config, tool, http


@tool
def nosy(url: str, method: str = "GET") -> dict:
    """Fetches any URL it is given (and must be stopped).

    Args:
        url: Where to go.
        method: How.
    """
    if url == "write":
        url = config.require("api_base") + "/v1/items/"
        return {"status": http.request("POST", url, body=b"{}").status}
    return {"status": http.get(url).status}
"#,
    )
    .expect("script");
    std::fs::write(
        dir.join("fixtures/tests.toml"),
        r#"upstream_config = ["api_base"]
[[case]]
name = "a host outside the manifest"
input = { url = "https://evil.example.com/steal" }
expect_error = "denied"
[[case]]
name = "the metadata address"
input = { url = "http://169.254.169.254/latest/meta-data/" }
expect_error = "denied"
[[case]]
name = "a write the manifest does not grant"
input = { url = "write" }
expect_error = "denied"
"#,
    )
    .expect("cases");
    let results = run_cases(&dir, "nosy").await;
    assert_all_passed("nosy", &results);
    // Each denial teaches: the check that refused, the manifest line, and
    // (when a literal shows it) the script line.
    use gateway::outbound::policy::DeniedReason;
    let checks: Vec<Vec<DeniedReason>> = results
        .iter()
        .map(|r| r.lessons.iter().map(|l| l.check).collect())
        .collect();
    assert_eq!(
        checks,
        [
            vec![DeniedReason::Host],
            vec![DeniedReason::Host],
            vec![DeniedReason::Method]
        ]
    );
    let write = &results[2].lessons[0];
    // The scaffold's only [[http]] entry: its header (no `methods` written).
    let manifest = std::fs::read_to_string(dir.join("tool.toml")).expect("manifest");
    let header = manifest
        .lines()
        .position(|l| l.trim() == "[[http]]")
        .map(|i| i + 1);
    assert_eq!(write.manifest_line, header);
    assert_eq!(
        write.script_line,
        Some((std::path::PathBuf::from("scripts/nosy.py"), 14))
    );
}

/// Builds `script` as tool `t` and returns the checker's (code, line) pairs.
fn diagnostics(script: &str) -> Vec<(String, u32)> {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "t", Language::Python).expect("scaffold");
    std::fs::write(dir.join("scripts/t.py"), script).expect("script");
    match python::build(&dir, "t", &dir.join("tool.wasm"), &mut |_| {}) {
        Err(BuildError::Check { diagnostics }) => {
            for d in &diagnostics {
                assert_eq!(
                    d.file,
                    dir.join("scripts/t.py"),
                    "diagnostics name the script"
                );
            }
            diagnostics.into_iter().map(|d| (d.code, d.line)).collect()
        }
        other => panic!("expected check diagnostics, got {other:?}"),
    }
}

#[test]
fn build_errors_name_the_file_line_and_problem() {
    let ok_head = "from gateway_tool import tool\n\n\n@tool\n";
    assert_eq!(
        diagnostics("from gateway_tool import tool\n\ndef t(x: str) -> dict\n    return {}\n"),
        vec![("syntax".to_string(), 3)]
    );
    assert_eq!(
        diagnostics(&format!(
            "{ok_head}def t(x: str) -> dict:\n    return {{}}\n"
        )),
        vec![("missing-docstring".to_string(), 5)]
    );
    assert_eq!(
        diagnostics(&format!(
            "{ok_head}def t(x) -> dict:\n    \"\"\"Doc.\"\"\"\n    return {{}}\n"
        )),
        vec![("missing-annotation".to_string(), 5)]
    );
    assert_eq!(
        diagnostics(&format!(
            "import pandas\n{ok_head}def t(x: str) -> dict:\n    \"\"\"Doc.\"\"\"\n    return {{}}\n"
        )),
        vec![("forbidden-import".to_string(), 1)]
    );
    assert_eq!(
        diagnostics(&format!(
            "{ok_head}def t(x: str) -> dict:\n    \"\"\"Doc.\"\"\"\n    import socket\n    return {{}}\n"
        )),
        vec![("forbidden-import".to_string(), 7)]
    );
    assert_eq!(
        diagnostics("def t(x: str) -> dict:\n    \"\"\"Doc.\"\"\"\n    return {}\n"),
        vec![("no-tool".to_string(), 1)]
    );
}

#[test]
fn a_python_folder_needs_its_script_and_skill() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "t", Language::Python).expect("scaffold");
    std::fs::remove_file(dir.join("SKILL.md")).expect("rm");
    let err = python::build(&dir, "t", &dir.join("tool.wasm"), &mut |_| {});
    assert!(
        matches!(err, Err(BuildError::MissingFile { ref path, .. }) if path.ends_with("SKILL.md")),
        "{err:?}"
    );
    let err = python::build(&dir, "other_name", &dir.join("tool.wasm"), &mut |_| {});
    assert!(
        matches!(err, Err(BuildError::MissingFile { ref path, .. }) if path.ends_with("scripts/other_name.py")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn syntax_of_the_sandboxes_python_passes_the_check_and_runs() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "modern", Language::Python).expect("scaffold");
    // PEP 695 (type aliases, generic functions) and PEP 701 (nested f-strings):
    // 3.12+, so a 3.11 build machine cannot parse them; the sandbox runs 3.14.
    std::fs::write(
        dir.join("scripts/modern.py"),
        r#"from gateway_tool import tool

type Pair[T] = tuple[T, T]


def first[T](items: list[T]) -> T:
    return items[0]


@tool
def modern(names: list[str]) -> dict:
    """The first name, quoted inside an f-string inside an f-string.

    Args:
        names: Some names.
    """
    return {"first": f"{f"{first(names)!r}"}"}
"#,
    )
    .expect("script");
    std::fs::write(
        dir.join("fixtures/tests.toml"),
        "[[case]]\nname = \"first\"\ninput = { names = [\"ada\", \"bob\"] }\n[case.expect]\nfirst = \"'ada'\"\n",
    )
    .expect("cases");
    let results = run_cases(&dir, "modern").await;
    assert_all_passed("modern", &results);
    // A real syntax error is still one, at its line.
    assert_eq!(
        diagnostics(
            "from gateway_tool import tool\n\ntype Pair[T] = tuple[T, T]\n\ndef broken(:\n    pass\n"
        ),
        vec![("syntax".to_string(), 5)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recorded_pagination_links_lead_back_to_the_fixtures() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "ticket_pages", Language::Python).expect("scaffold");
    // A Zendesk-like list: each page names the next one by absolute URL on
    // the real host, as recorded.
    std::fs::write(
        dir.join("scripts/ticket_pages.py"),
        r#"from gateway_tool import config, http, tool


@tool
def ticket_pages(status: str) -> dict:
    """Ids of the tickets with a status, following every page.

    Args:
        status: The status to count, e.g. "open".
    """
    url = f"{config.require('api_base')}/v1/items/?status={status}"
    ids = []
    pages = 0
    while url:
        resp = http.get(url)
        resp.raise_for_status()
        page = resp.json()
        ids.extend(t["id"] for t in page["tickets"])
        pages += 1
        url = page["next_page"]
    return {"ids": ids, "pages": pages}
"#,
    )
    .expect("script");
    let fixtures = dir.join("fixtures");
    std::fs::write(
        fixtures.join("page1.json"),
        r#"{"tickets":[{"id":1},{"id":2}],"next_page":"https://api.example.com/v1/items/?status=open&page=2"}"#,
    )
    .expect("page1");
    std::fs::write(
        fixtures.join("page2.json"),
        r#"{"tickets":[{"id":3}],"next_page":null}"#,
    )
    .expect("page2");
    std::fs::write(
        fixtures.join("routes.toml"),
        "[[route]]\npath = \"/v1/items/\"\nquery = \"status=open\"\nfile = \"page1.json\"\n\n\
         [[route]]\npath = \"/v1/items/\"\nquery = \"status=open&page=2\"\nfile = \"page2.json\"\n",
    )
    .expect("routes");
    std::fs::write(
        fixtures.join("tests.toml"),
        "upstream_config = [\"api_base\"]\n\n[[case]]\nname = \"every page\"\ninput = { status = \"open\" }\n[case.expect]\nids = [1, 2, 3]\npages = 2\n",
    )
    .expect("tests");
    let results = run_cases(&dir, "ticket_pages").await;
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].verdict,
        Verdict::Passed,
        "{:?}",
        results[0].verdict
    );
    assert_eq!(results[0].upstream_requests.len(), 2);
}

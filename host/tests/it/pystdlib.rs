//! Ordinary Python in the sandbox: the standard library imports lazily from
//! the tool's read-only file view, the few modules that cannot work fail
//! with the error a tool sees, the view cannot be changed, and a tool's own
//! pinned pure-Python packages build in (native ones are refused).

use std::path::{Path, PathBuf};

use gateway::build::requirements::{self, RequirementProblem};
use gateway::build::scaffold::new_tool;
use gateway::build::{BuildError, Language, python};
use gateway::runtime::Runtime;
use gateway::tooltest::{self, Verdict};
use serde_json::{Value, json};

use crate::harness::{persistent_settings, python_component, stage};

/// A scaffolded tool folder named `name` whose script is `script`.
fn tool_folder(parent: &Path, name: &str, script: &str, requirements: Option<&str>) -> PathBuf {
    let dir = new_tool(parent, name, Language::Python).expect("scaffold");
    std::fs::write(dir.join(format!("scripts/{name}.py")), script).expect("script");
    if let Some(text) = requirements {
        std::fs::write(dir.join("requirements.txt"), text).expect("requirements");
    }
    dir
}

/// Builds (cached by content) and calls the tool once with `input`.
async fn call_once(dir: &Path, name: &str, input: Value) -> (Value, PathBuf) {
    let component = python_component(dir, name);
    let staged = stage(dir, &component);
    let settings = persistent_settings();
    let cache = settings.cache_dir.clone();
    let runtime = Runtime::new(settings).expect("runtime");
    let tool = runtime.load_dir(staged.path()).await.expect("load");
    let report = runtime.call(&tool, &input.to_string()).await;
    let output = report.result.unwrap_or_else(|e| panic!("{name}: {e}"));
    (output, cache)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_standard_library_imports_lazily_inside_the_sandbox() {
    let parent = tempfile::tempdir().expect("tempdir");
    // zoneinfo's data is the `tzdata` package, pinned like any other.
    let dir = tool_folder(
        parent.path(),
        "tour",
        include_str!("pystdlib/tour.py"),
        Some("tzdata==2025.2\n"),
    );
    let (out, _) = call_once(&dir, "tour", json!({"city": "Europe/Paris"})).await;
    let expected = json!({
        "strptime": "2026-10-01T00:00:00",
        "most_common": [["a", 5], ["b", 2]],
        "utcoffset_h": 2.0,
        "json": {"a": [1, 2]},
        "re": ["1", "22", "333"],
        "decimal": "0.3",
        "median": 3,
        "csv": "x,\"y,z\"",
        "urlencode": "q=a+b&n=1",
        "b64": "Z2F0ZXdheQ==",
        "sha256": "ba7816bf8f01cfea",
        "dedent": "a\nb",
        "ratio": 0.75,
        "dataclass": {"x": 1, "y": 2},
        "enum": 2,
        "typing": true,
        "chain": [1, 2, 3],
        "reduce": 24,
        "uuid_version": 4,
        "random_in_range": true,
        "ascii": "abcde",
        "leap": true,
        "fraction": "1",
        "private": true,
        "email_date": 2026,
        "html": "&lt;a&amp;b&gt;",
        "xml": "2",
    });
    assert_eq!(out, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_public_standard_library_module_imports_but_the_few_that_cannot_work_here() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = tool_folder(
        parent.path(),
        "every_module",
        include_str!("pystdlib/every_module.py"),
        None,
    );
    // Importing a few hundred modules from the file view takes seconds and
    // more than the default memory: this tool asks for both.
    let manifest = std::fs::read_to_string(dir.join("tool.toml")).expect("manifest");
    let limits_at = manifest.find("[limits]").expect("scaffold has [limits]");
    std::fs::write(
        dir.join("tool.toml"),
        format!(
            "{}[limits]\ntimeout_ms = 120000\nmemory_mib = 512\n",
            &manifest[..limits_at]
        ),
    )
    .expect("manifest");
    let (out, _) = call_once(&dir, "every_module", json!({})).await;
    eprintln!("every_module: {out}");
    let failed = out["failed"].as_object().expect("failed map");
    let expected: serde_json::Map<String, Value> = EVERY_MODULE_FAILURES
        .iter()
        .map(|(m, e)| ((*m).to_string(), json!(e)))
        .collect();
    assert_eq!(failed, &expected);
    let total = out["total"].as_u64().expect("total");
    assert!(
        total > 150 && total as usize > failed.len() * 5,
        "the sandbox's standard library lists {total} public modules"
    );
}

/// The public standard-library modules a tool cannot import, and the
/// exception it gets (docs/python-tools.md explains each group).
const EVERY_MODULE_FAILURES: &[(&str, &str)] = &[
    // Windows only.
    ("msvcrt", "ModuleNotFoundError"),
    ("nt", "ModuleNotFoundError"),
    ("winreg", "ModuleNotFoundError"),
    ("winsound", "ModuleNotFoundError"),
    // Native libraries the WebAssembly build of CPython does not carry.
    ("bz2", "ModuleNotFoundError"),
    ("lzma", "ModuleNotFoundError"),
    ("ctypes", "ModuleNotFoundError"),
    ("ssl", "ModuleNotFoundError"),
    ("readline", "ModuleNotFoundError"),
    ("curses", "ModuleNotFoundError"),
    ("mmap", "ModuleNotFoundError"),
    // Operating-system interfaces WASI does not have.
    ("fcntl", "ModuleNotFoundError"),
    ("grp", "ModuleNotFoundError"),
    ("pwd", "ModuleNotFoundError"),
    ("pty", "ModuleNotFoundError"),
    ("resource", "ModuleNotFoundError"),
    ("syslog", "ModuleNotFoundError"),
    ("termios", "ModuleNotFoundError"),
    ("tty", "ModuleNotFoundError"),
    // Tk user interfaces, left out of the file view.
    ("idlelib", "ModuleNotFoundError"),
    ("tkinter", "ModuleNotFoundError"),
    ("turtle", "ModuleNotFoundError"),
    ("turtledemo", "ModuleNotFoundError"),
];

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_work_fails_typed_and_the_file_view_is_read_only() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = tool_folder(
        parent.path(),
        "cannot",
        include_str!("pystdlib/cannot.py"),
        None,
    );
    let (out, cache) = call_once(&dir, "cannot", json!({"view": "/python/json/__init__.py"})).await;
    assert_eq!(
        out,
        json!({
            // No name lookup, no sockets, no processes, no threads.
            "socket": "gaierror",
            "subprocess": "OSError",
            "threading": "RuntimeError",
            "multiprocessing": "AttributeError",
            // The view reads, and refuses every change.
            "read": "ok",
            "write": "PermissionError",
            "create": "PermissionError",
            "rename": "PermissionError",
            "remove": "PermissionError",
        })
    );
    // Nothing changed on the host side either.
    let views = cache.join("python-view");
    for entry in std::fs::read_dir(&views).expect("views").flatten() {
        let json = entry.path().join("python/json");
        if json.is_dir() {
            assert!(!json.join("__init__.py.new").exists());
            assert!(!json.join("__init__.py.moved").exists());
            let text = std::fs::read_to_string(json.join("__init__.py")).expect("intact");
            assert!(!text.ends_with("# changed\n"));
        }
    }
}

const DATEUTIL_TOOL: &str = r#"from dateutil.relativedelta import relativedelta

from gateway_tool import tool


@tool
def next_month(start: str) -> dict:
    """The same moment one calendar month later.

    Args:
        start: An ISO 8601 timestamp.
    """
    from dateutil import parser

    return {"next": (parser.isoparse(start) + relativedelta(months=1)).isoformat()}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_pure_python_package_builds_in_and_runs_its_own_case() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = tool_folder(
        parent.path(),
        "next_month",
        DATEUTIL_TOOL,
        Some("python-dateutil==2.9.0.post0\nsix==1.17.0\n"),
    );
    std::fs::write(
        dir.join("fixtures/tests.toml"),
        r#"[[case]]
name = "the end of January"
input = { start = "2026-01-31T10:00:00+01:00" }
[case.expect]
next = "2026-02-28T10:00:00+01:00"
"#,
    )
    .expect("cases");
    let component = python_component(&dir, "next_month");
    let staged = stage(&dir, &component);
    let results = tooltest::run(staged.path(), &persistent_settings())
        .await
        .expect("cases run");
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].verdict,
        Verdict::Passed,
        "{:?}",
        results[0].report.result
    );
}

fn build_error(requirements: &str) -> BuildError {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = tool_folder(
        parent.path(),
        "next_month",
        DATEUTIL_TOOL,
        Some(requirements),
    );
    python::build(&dir, "next_month", &dir.join("tool.wasm"), &mut |_| {})
        .expect_err("the build must refuse")
}

#[test]
fn a_package_with_native_code_is_refused_by_name() {
    let err = build_error("pydantic-core==2.41.5\n");
    assert!(
        matches!(err, BuildError::NativePackage { ref package, .. } if package == "pydantic-core"),
        "{err:?}"
    );
}

#[test]
fn unpinned_requirements_are_refused_with_file_and_line() {
    let err = build_error("six==1.17.0\npython-dateutil\n");
    assert!(
        matches!(err, BuildError::Requirement { ref file, line: 2, problem: RequirementProblem::NotPinned }
            if file.ends_with("requirements.txt")),
        "{err:?}"
    );
    // A dependency pip had to choose is named, with the version to pin.
    let err = build_error("python-dateutil==2.9.0.post0\n");
    assert!(
        matches!(err, BuildError::UnpinnedDependency { ref package, .. } if package == "six"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_from_cached_packages_equals_a_clean_build() {
    let parent = tempfile::tempdir().expect("tempdir");
    // Pins no other test uses, so clearing their cache entry races nobody.
    let requirements = "python-dateutil==2.9.0.post0\nsix==1.16.0\n";
    let dir = tool_folder(
        parent.path(),
        "next_month",
        DATEUTIL_TOOL,
        Some(requirements),
    );
    let pins = requirements::parse(requirements).expect("pinned");
    let _ = std::fs::remove_dir_all(requirements::installed_dir(&pins));
    let build = |out: &Path| {
        let mut steps = Vec::new();
        python::build(&dir, "next_month", out, &mut |s| steps.push(s.to_owned())).expect("build");
        steps.iter().any(|s| s.starts_with("pip"))
    };
    let (clean, rebuilt) = (
        parent.path().join("clean.wasm"),
        parent.path().join("rebuilt.wasm"),
    );
    // The clean build ran pip; the rebuild took the packages from the cache ...
    assert!(build(&clean));
    assert!(!build(&rebuilt));
    // ... and gave the same tool: same file view, same definition, same answers.
    let settings = persistent_settings();
    let runtime = Runtime::new(settings.clone()).expect("runtime");
    let mut answers = Vec::new();
    let mut views = Vec::new();
    for component in [&clean, &rebuilt] {
        let staged = stage(&dir, component);
        let tool = runtime.load_dir(staged.path()).await.expect("load");
        let bytes = std::fs::read(component).expect("component");
        views.push(gateway::runtime::pyview::prepare(&bytes, &settings.cache_dir).expect("view"));
        let report = runtime
            .call(
                &tool,
                &json!({"start": "2026-01-31T10:00:00+01:00"}).to_string(),
            )
            .await;
        answers.push((tool.definition_sha256.clone(), report.result.expect("call")));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(views[0], views[1]);
}

//! The static checker runs inside the sandbox, on the Python that runs the
//! tool: a component built once from the SDK's `gateway_tool._checker_tool`
//! with componentize-py (cached by content, like other Python builds) and
//! called through the gateway's runtime with the script's text. The build
//! machine's Python may be older than the sandbox's (3.11 against 3.14):
//! parsing there would call newer syntax an error. docs/python-tools.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::python::{COMPONENTIZE_PY_VERSION, Diagnostic};
use super::{BuildError, embedded, write_file};
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE};
use crate::runtime::Runtime;
use crate::settings::Settings;

/// Environment variable naming the folder the checker component is cached in.
pub const CHECKER_CACHE_ENV: &str = "GATEWAY_CHECKER_CACHE";
/// Largest script checked (it crosses into the sandbox as JSON); a tool
/// script is a page or two, so 1 MiB is far beyond any real one.
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;
/// The checker's entry module.
const ENTRY_MODULE: &str = "checker_entry";
/// The checker component's manifest: no outbound access; room for CPython
/// parsing a large script.
const MANIFEST: &str = r#"name = "check_script"
version = "1.0.0"

[limits]
memory_mib = 256
timeout_ms = 60000
output_bytes = 4194304
"#;

#[derive(Debug, Deserialize)]
struct Output {
    diagnostics: Vec<Diagnostic>,
}

/// `$GATEWAY_CHECKER_CACHE`, else `checker/` beside the gateway's component cache.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CHECKER_CACHE_ENV) {
        return PathBuf::from(dir);
    }
    let components = crate::settings::default_cache_dir();
    components
        .parent()
        .map_or_else(|| components.join("checker"), |p| p.join("checker"))
}

/// Checks `script` with the sandbox's Python, writing the embedded WIT and
/// SDK to a temporary folder first (`gateway tool check`).
pub fn check_script(
    script: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Diagnostic>, BuildError> {
    if embedded::PYTHON_SDK.is_empty() {
        return Err(BuildError::ToolchainMissing {
            what: "the Python SDK",
            hint: "this gateway binary was built without guest-sdk/python; rebuild it from a full checkout",
        });
    }
    let componentize = super::python::componentize_py()?;
    let work = tempfile::tempdir().map_err(|source| BuildError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let (wit, sdk) = (work.path().join("wit"), work.path().join("sdk"));
    write_file(&wit.join("tool.wit"), embedded::WIT)?;
    for (rel, contents) in embedded::PYTHON_SDK {
        write_file(&sdk.join(rel), contents)?;
    }
    check(&componentize, &wit, &sdk, script, &[], progress)
}

/// Checks `script` with the sandbox's Python; `wit` and `sdk` are the
/// build's copies of the embedded WIT folder and SDK, and `packages` the
/// top-level modules of the tool's own requirements, which it may import.
pub fn check(
    componentize: &Path,
    wit: &Path,
    sdk: &Path,
    script: &Path,
    packages: &[String],
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Diagnostic>, BuildError> {
    let bytes = std::fs::read(script).map_err(|source| BuildError::Io {
        path: script.to_path_buf(),
        source,
    })?;
    let at_top = |code: &str, message: String| Diagnostic {
        file: script.to_path_buf(),
        line: 1,
        column: 1,
        code: code.to_string(),
        message,
    };
    if bytes.len() > MAX_SCRIPT_BYTES {
        return Ok(vec![at_top(
            "too-large",
            format!("the script is over {MAX_SCRIPT_BYTES} bytes: split it into helper modules"),
        )]);
    }
    let Ok(source) = String::from_utf8(bytes) else {
        return Ok(vec![at_top(
            "syntax",
            "the script is not UTF-8 text".to_string(),
        )]);
    };
    let dir = checker(componentize, wit, sdk, progress)?;
    let input = serde_json::json!({
        "source": source,
        "filename": script.display().to_string(),
        "local_modules": local_modules(script)
            .into_iter()
            .chain(packages.iter().cloned())
            .collect::<Vec<_>>(),
    })
    .to_string();
    let failed = |what: String| BuildError::Componentize {
        script: script.to_path_buf(),
        output: format!("the sandboxed checker failed: {what}"),
    };
    let output = run(&dir, &input).map_err(failed)?;
    serde_json::from_value::<Output>(output)
        .map(|o| o.diagnostics)
        .map_err(|e| failed(e.to_string()))
}

/// Modules beside the script: `name.py` files and packages.
/// The top-level modules installed in `site_packages` (a tool's
/// requirements): `name.py` files and package folders.
pub fn package_modules(site_packages: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(site_packages) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_name()?.to_str()?;
            if name.ends_with(".dist-info") || name == "__pycache__" || name.starts_with('.') {
                return None;
            }
            if path.is_dir() {
                Some(name.to_string())
            } else {
                path.extension()
                    .is_some_and(|x| x == "py")
                    .then(|| path.file_stem()?.to_str().map(str::to_string))
                    .flatten()
            }
        })
        .collect();
    names.sort();
    names
}

fn local_modules(script: &Path) -> Vec<String> {
    let Some(folder) = script.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let stem = path.file_stem()?.to_str()?.to_string();
            let module =
                path.extension().is_some_and(|x| x == "py") || path.join("__init__.py").is_file();
            module.then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// The checker tool folder (`tool.toml` + `tool.wasm`), built on first use.
fn checker(
    componentize: &Path,
    wit: &Path,
    sdk: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuildError> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in [COMPONENTIZE_PY_VERSION, embedded::WIT, MANIFEST] {
        hasher.update(part.len().to_le_bytes());
        hasher.update(part);
    }
    for (path, contents) in embedded::PYTHON_SDK {
        hasher.update(path);
        hasher.update(contents);
    }
    let key: String = hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = cache_dir().join(key);
    let component = dir.join(COMPONENT_FILE);
    if component.is_file() {
        return Ok(dir);
    }
    progress(&format!(
        "building the sandboxed checker once (componentize-py {COMPONENTIZE_PY_VERSION}, 10-40 s)"
    ));
    let work = tempfile::tempdir().map_err(|source| BuildError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let entry = work.path().join("entry");
    write_file(
        &entry.join(format!("{ENTRY_MODULE}.py")),
        "import gateway_tool._checker_tool  # noqa: F401  (registers check_script)\nfrom gateway_tool._export import export_registered\nTool = export_registered()\n",
    )?;
    write_file(&dir.join(MANIFEST_FILE), MANIFEST)?;
    // One temporary name per build, not per process: two threads of one
    // process (tests) may build the checker at once on a cold cache.
    static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(
        "{COMPONENT_FILE}.tmp{}-{build}",
        std::process::id()
    ));
    let output = Command::new(componentize)
        .arg("-d")
        .arg(wit)
        .args(["-w", "tool-component", "componentize", ENTRY_MODULE])
        .arg("-p")
        .arg(&entry)
        .arg("-p")
        .arg(sdk)
        .arg("-o")
        .arg(&tmp)
        .output()
        .map_err(|_| BuildError::ToolchainMissing {
            what: "componentize-py",
            hint: "run ./scripts/setup or set GATEWAY_COMPONENTIZE_PY to the executable",
        })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(BuildError::Componentize {
            script: entry.join(format!("{ENTRY_MODULE}.py")),
            output: String::from_utf8_lossy(&output.stderr)
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    // Atomic: concurrent builds never load half a component.
    std::fs::rename(&tmp, &component).map_err(|source| BuildError::Io {
        path: component.clone(),
        source,
    })?;
    Ok(dir)
}

/// Loads the checker and calls it once, on a thread of its own: builds run
/// synchronously, sometimes inside an async runtime.
fn run(dir: &Path, input: &str) -> Result<serde_json::Value, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async {
                    let settings = Settings {
                        cache_dir: cache_dir().join("cwasm"),
                        ..Settings::default()
                    };
                    let runtime = Runtime::with_secrets(settings, std::sync::Arc::new(|_| None))
                        .map_err(|e| e.to_string())?;
                    let tool = runtime.load_dir(dir).await.map_err(|e| e.to_string())?;
                    runtime
                        .call(&tool, input)
                        .await
                        .result
                        .map_err(|e| e.to_string())
                })
            })
            .join()
            .map_err(|_| "the checker thread panicked".to_string())?
    })
}

//! Python tool folders: the SDK's static checker first, run in the sandbox
//! (`sandbox_check`; file:line errors an operator can act on), then
//! componentize-py, with the WIT and the SDK embedded in the gateway binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::{BuildError, embedded, write_file};

/// The componentize-py release this gateway is built and tested with.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// Environment variable naming the componentize-py executable.
pub const COMPONENTIZE_PY_ENV: &str = "GATEWAY_COMPONENTIZE_PY";
/// Module name of the generated entry point inside the component.
const ENTRY_MODULE: &str = "gateway_entry";
/// Environment variable telling the checker where the tool's packages are.
/// Lines of componentize-py output kept in an error.
const OUTPUT_TAIL_LINES: usize = 40;

/// One problem the checker found in a script.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// Column as the checker reports it.
    pub column: u32,
    /// Stable code, e.g. `missing-docstring`, `forbidden-import`.
    pub code: String,
    /// What to do about it.
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.code,
            self.message
        )
    }
}

/// The componentize-py executable: `$GATEWAY_COMPONENTIZE_PY`, else the one
/// beside the running `gateway` (a `pip install agent-gateway` puts both in
/// the environment's `bin/`, README.md "Install the CLI without Rust"), else
/// the virtual environment `scripts/setup` creates, else `PATH`.
pub fn componentize_py() -> Result<PathBuf, BuildError> {
    if let Some(path) = std::env::var_os(COMPONENTIZE_PY_ENV) {
        return Ok(PathBuf::from(path));
    }
    if let Some(beside) = beside_current_exe() {
        return Ok(beside);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = PathBuf::from(home).join(".cache/agent-gateway/venv/bin/componentize-py");
        if venv.is_file() {
            return Ok(venv);
        }
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("componentize-py")).find(|p| p.is_file()))
        .ok_or(BuildError::ToolchainMissing {
            what: "componentize-py",
            hint: "install the agent-gateway wheel (it brings componentize-py 0.25.1 beside gateway), run ./scripts/setup in a checkout, or set GATEWAY_COMPONENTIZE_PY",
        })
}

/// `componentize-py` in the folder of the running executable, if it is there.
fn beside_current_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.join("componentize-py");
    candidate.is_file().then_some(candidate)
}

/// The build machine's Python (runs `gateway tool import`'s analysis): the one
/// beside componentize-py, else `python3`.
pub(super) fn python(componentize: &Path) -> PathBuf {
    componentize
        .parent()
        .map(|bin| bin.join("python3"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Builds `dir` (a Python tool folder for tool `name`) into `out`.
pub fn build(
    dir: &Path,
    name: &str,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuildError> {
    // componentize-py runs in a folder of its own: give it absolute paths.
    let absolute = |p: &Path| {
        std::path::absolute(p).map_err(|source| BuildError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let (dir, out) = (absolute(dir)?, absolute(out)?);
    let (dir, out) = (dir.as_path(), out.as_path());
    let scripts = dir.join("scripts");
    let script = scripts.join(format!("{name}.py"));
    if !script.is_file() {
        return Err(BuildError::MissingFile {
            path: script,
            why: "the script holding the @tool function is named after the tool in tool.toml",
        });
    }
    let skill = dir.join("SKILL.md");
    if !skill.is_file() {
        return Err(BuildError::MissingFile {
            path: skill,
            why: "every tool ships a SKILL.md: when to use it and how to read its output",
        });
    }
    if embedded::PYTHON_SDK.is_empty() {
        return Err(BuildError::ToolchainMissing {
            what: "the Python SDK",
            hint: "this gateway binary was built without guest-sdk/python; rebuild it from a full checkout",
        });
    }
    let componentize = componentize_py()?;
    let work = tempfile::tempdir().map_err(|source| BuildError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let (wit, sdk, entry) = (
        work.path().join("wit"),
        work.path().join("sdk"),
        work.path().join("entry"),
    );
    write_file(&wit.join("tool.wit"), embedded::WIT)?;
    for (rel, contents) in embedded::PYTHON_SDK {
        write_file(&sdk.join(rel), contents)?;
    }

    let python = python(&componentize);
    let venv = super::requirements::prepare(dir, &python, work.path(), progress)?;
    progress(&format!(
        "checking {} (with the sandbox's Python)",
        script.display()
    ));
    // The tool's own packages (requirements.txt): imports of them are fine.
    let packages = super::sandbox_check::package_modules(&venv.join("lib/site-packages"));
    let diagnostics =
        super::sandbox_check::check(&componentize, &wit, &sdk, &script, &packages, progress)?;
    if !diagnostics.is_empty() {
        return Err(BuildError::Check { diagnostics });
    }

    write_file(
        &entry.join(format!("{ENTRY_MODULE}.py")),
        &format!("{}{}", super::environ::prelude(dir)?, entry_module(name)),
    )?;
    let view_out = work.path().join("view");
    write_file(&view_out.join(VIEW_MARKER), "")?;
    let quiet = work.path().join("cwd");
    std::fs::create_dir_all(&quiet).map_err(|source| BuildError::Io {
        path: quiet.clone(),
        source,
    })?;
    progress(&format!(
        "componentize-py {COMPONENTIZE_PY_VERSION}: bundling CPython and the script (10-40 s)"
    ));
    let output = Command::new(&componentize)
        .arg("-d")
        .arg(&wit)
        .args(["-w", "tool-component", "componentize", ENTRY_MODULE])
        .arg("-p")
        .arg(&entry)
        .arg("-p")
        .arg(&scripts)
        .arg("-p")
        .arg(&sdk)
        .arg("-p")
        .arg(&view_out)
        .arg("-o")
        .arg(out)
        // componentize-py also mounts its working folder and the site-packages
        // of `$VIRTUAL_ENV` (else of the machine's python3): keep the first
        // empty and point the second at the tool's own packages only.
        .current_dir(&quiet)
        .env("VIRTUAL_ENV", &venv)
        .output()
        .map_err(|_| BuildError::ToolchainMissing {
            what: "componentize-py",
            hint: "run ./scripts/setup or set GATEWAY_COMPONENTIZE_PY to the executable",
        })?;
    if !output.status.success() {
        return Err(BuildError::Componentize {
            script,
            output: super::output_tail(&output, OUTPUT_TAIL_LINES),
        });
    }
    embed_view(out, &view_out)?;
    Ok(out.to_path_buf())
}

/// Standard-library modules the standard library imports lazily in everyday
/// calls: `datetime.strptime` (`_strptime`), `Counter.most_common(n)` (`heapq`).
const PRELOAD: [&str; 2] = ["_strptime", "heapq"];
/// Marks the folder the entry module copies the interpreter's view into.
const VIEW_MARKER: &str = ".gateway-view-out";

/// The generated entry module: imports the tool (registering its `@tool`
/// function), exports it, and, while componentize-py snapshots the
/// interpreter at build time (module code never runs again), copies every
/// folder on `sys.path` as the interpreter sees it into the marked folder,
/// for the tool's read-only file view (runtime/pyview.rs). Standard-library
/// packages that need Tk, which the sandbox's CPython lacks, are left out.
///
/// Then it pre-imports every module the tool's scripts import anywhere
/// (inside functions too) and [`PRELOAD`]: a module in the snapshot costs a
/// call nothing, one loaded from the view costs milliseconds each call.
fn entry_module(name: &str) -> String {
    let preload: String = PRELOAD.iter().map(|m| format!("{m:?}, ")).collect();
    format!(
        r#"import {name}  # noqa: F401  (registers the @tool function)
from gateway_tool._export import export_registered

Tool = export_registered()


def _gateway_copy_view():
    import os
    import sys

    out = next(p for p in sys.path if os.path.isfile(p + "/{VIEW_MARKER}"))
    skip = {{"/python/idlelib", "/python/tkinter", "/python/turtledemo"}}
    for top in sys.path:
        if top == out or top.count("/") != 1 or not os.path.isdir(top):
            continue
        for root, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__" and os.path.join(root, d) not in skip]
            dest = out + root
            os.makedirs(dest, exist_ok=True)
            for f in files:
                if f.endswith(".pyc"):
                    continue
                with open(os.path.join(root, f), "rb") as src, open(os.path.join(dest, f), "wb") as dst:
                    dst.write(src.read())


_gateway_copy_view()
del _gateway_copy_view


def _gateway_preload():
    import ast
    import importlib
    import os

    names = {{{preload}}}
    folder = os.path.dirname({name}.__file__)
    for file in sorted(os.listdir(folder)):
        if not file.endswith(".py"):
            continue
        try:
            with open(os.path.join(folder, file), "rb") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{{node.module}}.{{alias.name}}" for alias in node.names)
    if "zoneinfo" in names:
        names.add("importlib.resources")
    for module in sorted(names):
        try:
            importlib.import_module(module)
        except BaseException:  # noqa: BLE001  (not a module, or fails at build: the view serves it later)
            pass


_gateway_preload()
del _gateway_preload
import sys as _sys  # noqa: E402

# The view is read-only: do not even try to write bytecode caches there.
_sys.dont_write_bytecode = True
"#
    )
}

/// Appends the copied view (`view_out/<mount>/...`) to the component.
fn embed_view(component: &Path, view_out: &Path) -> Result<(), BuildError> {
    use crate::runtime::pyview;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    fn walk(
        dir: &Path,
        rel: &str,
        files: &mut Vec<(String, Vec<u8>)>,
        total: &mut u64,
    ) -> Result<(), BuildError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Io { path, source }
        };
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let (path, name) = (entry.path(), entry.file_name());
            let Some(name) = name.to_str() else { continue };
            let rel = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() {
                walk(&path, &rel, files, total)?;
            } else if kind.is_file() && name != VIEW_MARKER {
                let contents = std::fs::read(&path).map_err(io(&path))?;
                *total += contents.len() as u64;
                if files.len() >= pyview::MAX_VIEW_FILES || *total > pyview::MAX_VIEW_BYTES {
                    return Err(BuildError::PythonViewTooLarge {
                        limit_files: pyview::MAX_VIEW_FILES,
                        limit_bytes: pyview::MAX_VIEW_BYTES,
                    });
                }
                files.push((rel, contents));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(view_out, "", &mut files, &mut 0)?;
    let mut bytes = std::fs::read(component).map_err(io(component))?;
    pyview::append(&mut bytes, &mut files);
    std::fs::write(component, bytes).map_err(io(component))
}

/// Like [`build`], but reuses a component already built from the same
/// inputs: the tool name, every `.py` under `scripts/`, `requirements.txt`, the embedded SDK,
/// WIT, and the componentize-py version. Components land in `cache` as
/// `<sha256>.wasm` (written atomically), so concurrent builders never see
/// half a file. Returns the cached component's path.
pub fn build_cached(
    dir: &Path,
    name: &str,
    cache: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuildError> {
    use sha2::{Digest, Sha256};
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let mut hasher = Sha256::new();
    for part in [COMPONENTIZE_PY_VERSION, name, embedded::WIT] {
        hasher.update(part.len().to_le_bytes());
        hasher.update(part);
    }
    for (path, contents) in embedded::PYTHON_SDK {
        hasher.update(path);
        hasher.update(contents);
    }
    // The manifest's secret variables are baked into the entry module.
    hasher.update(super::environ::prelude(dir)?);
    let scripts = dir.join("scripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&scripts)
        .map_err(io(&scripts))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    for file in &files {
        hasher.update(
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        hasher.update(std::fs::read(file).map_err(io(file))?);
    }
    // The pinned packages (the view embeds them) and the build recipe.
    match std::fs::read(dir.join(super::requirements::REQUIREMENTS_FILE)) {
        Ok(requirements) => hasher.update(requirements),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => hasher.update(b"-"),
        Err(e) => return Err(io(&dir.join(super::requirements::REQUIREMENTS_FILE))(e)),
    }
    hasher.update(entry_module(name));
    let key: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = cache.join(format!("{key}.wasm"));
    if out.is_file() {
        progress("component unchanged since the last build; reusing it");
        return Ok(out);
    }
    std::fs::create_dir_all(cache).map_err(io(cache))?;
    let tmp = cache.join(format!("{key}.tmp{}", std::process::id()));
    build(dir, name, &tmp, progress)?;
    std::fs::rename(&tmp, &out).map_err(io(&out))?;
    Ok(out)
}

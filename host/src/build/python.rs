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

/// The componentize-py executable: `$GATEWAY_COMPONENTIZE_PY`, else the
/// virtual environment `scripts/setup` creates, else `PATH`.
pub fn componentize_py() -> Result<PathBuf, BuildError> {
    if let Some(path) = std::env::var_os(COMPONENTIZE_PY_ENV) {
        return Ok(PathBuf::from(path));
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
            hint: "run ./scripts/setup (installs componentize-py 0.25.1 into ~/.cache/agent-gateway/venv) or set GATEWAY_COMPONENTIZE_PY",
        })
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

    progress(&format!(
        "checking {} (with the sandbox's Python)",
        script.display()
    ));
    let diagnostics = super::sandbox_check::check(&componentize, &wit, &sdk, &script, progress)?;
    if !diagnostics.is_empty() {
        return Err(BuildError::Check { diagnostics });
    }

    write_file(
        &entry.join(format!("{ENTRY_MODULE}.py")),
        &format!(
            "{}import {name}  # noqa: F401  (registers the @tool function)\nfrom gateway_tool._export import export_registered\nTool = export_registered()\n",
            super::environ::prelude(dir)?
        ),
    )?;
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
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|_| BuildError::ToolchainMissing {
            what: "componentize-py",
            hint: "run ./scripts/setup or set GATEWAY_COMPONENTIZE_PY to the executable",
        })?;
    if !output.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        return Err(BuildError::Componentize {
            script,
            output: lines[lines.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n"),
        });
    }
    Ok(out.to_path_buf())
}

/// Like [`build`], but reuses a component already built from the same
/// inputs: the tool name, every `.py` under `scripts/`, the embedded SDK and
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

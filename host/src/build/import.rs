//! `gateway tool import script.py`: a plain operator script (requests, keys
//! from `os.environ`) in, a tool folder out. The analysis is the SDK's
//! `gateway_tool.importer`, run on the build machine's Python against the
//! embedded SDK (it parses the script, never runs it); this side picks the
//! folder, writes only inside it and checks the manifest it wrote loads.
//! docs/python-tools.md, "Importing a plain script".

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::{BuildError, embedded, python, write_file};
use crate::manifest::{MANIFEST_FILE, Manifest, NameError, tool_name};

/// Name of the file listing what the import could not decide.
pub const NOTES_FILE: &str = "IMPORT-NOTES.md";

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The new tool folder.
    pub dir: PathBuf,
    /// The tool's name (the chosen function's).
    pub name: String,
    /// What the operator must check (also in [`NOTES_FILE`]).
    pub notes: Vec<String>,
}

/// Why a script could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The script cannot become a tool as it is (syntax error, no function, ...).
    #[error("{script}: {problem}")]
    Script {
        /// The script.
        script: PathBuf,
        /// What is wrong, from the importer.
        problem: String,
    },
    /// The tool folder exists and is not empty; nothing is overwritten.
    #[error("{0} already exists and is not empty; pass --out with a new folder")]
    Exists(PathBuf),
    /// The importer crashed or printed something unexpected.
    #[error("the importer failed: {0}")]
    Importer(String),
    /// The importer named a file outside the tool folder (a bug; nothing written).
    #[error("the importer named {0:?}, which is not a relative path inside the tool folder")]
    BadPath(String),
    /// The tool name is not valid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// Running Python, writing files, or the written manifest failed.
    #[error(transparent)]
    Build(#[from] BuildError),
}

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    files: Vec<(String, String)>,
    #[serde(default)]
    notes: Vec<String>,
}

/// Imports `script` into `out` (default: `parent/<tool name>`), choosing
/// `function` as the tool if given.
pub fn import_script(
    script: &Path,
    function: Option<&str>,
    out: Option<&Path>,
    parent: &Path,
) -> Result<Imported, ImportError> {
    let output = run_importer(script, function)?;
    if let Some(problem) = output.error {
        return Err(ImportError::Script {
            script: script.to_path_buf(),
            problem,
        });
    }
    tool_name(&output.name)?;
    let dir = out.map_or_else(|| parent.join(&output.name), Path::to_path_buf);
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(ImportError::Exists(dir));
    }
    for (rel, _) in &output.files {
        if !is_inside(rel) {
            return Err(ImportError::BadPath(rel.clone()));
        }
    }
    for (rel, contents) in &output.files {
        write_file(&dir.join(rel), contents)?;
    }
    Manifest::load(&dir.join(MANIFEST_FILE)).map_err(BuildError::from)?;
    Ok(Imported {
        dir,
        name: output.name,
        notes: output.notes,
    })
}

/// Whether `rel` is a plain relative path (no root, no `..`).
fn is_inside(rel: &str) -> bool {
    let path = Path::new(rel);
    !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

fn run_importer(script: &Path, function: Option<&str>) -> Result<Output, ImportError> {
    if embedded::PYTHON_SDK.is_empty() {
        return Err(BuildError::ToolchainMissing {
            what: "the Python SDK",
            hint: "this gateway binary was built without guest-sdk/python; rebuild it from a full checkout",
        }
        .into());
    }
    let work = tempfile::tempdir().map_err(|source| BuildError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    for (rel, contents) in embedded::PYTHON_SDK {
        write_file(&work.path().join(rel), contents)?;
    }
    let interpreter = python::componentize_py()
        .map(|c| python::python(&c))
        .unwrap_or_else(|_| PathBuf::from("python3"));
    let mut command = Command::new(interpreter);
    command
        .args(["-m", "gateway_tool.importer"])
        .arg(script)
        .env("PYTHONPATH", work.path())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(name) = function {
        command.args(["--function", name]);
    }
    let output = command.output().map_err(|_| BuildError::ToolchainMissing {
        what: "python3",
        hint: "install Python 3.11 or newer (the import runs on the build machine)",
    })?;
    serde_json::from_slice::<Output>(&output.stdout).map_err(|_| {
        ImportError::Importer(String::from_utf8_lossy(&output.stderr).trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_inside_the_folder_are_written() {
        for ok in ["tool.toml", "scripts/a.py", "fixtures/tests.toml"] {
            assert!(is_inside(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "scripts/../../x", "./x"] {
            assert!(!is_inside(bad), "{bad}");
        }
    }
}

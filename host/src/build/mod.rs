//! `gateway tool build` and `gateway tool new`: a tool folder in, a checked
//! component out. Rust folders build with cargo, Python folders with
//! componentize-py; both end as `<dir>/tool.wasm`, which the caller loads
//! through the runtime to check exports and imports and precompile it.

pub mod environ;
pub mod import;
pub mod python;
pub mod requirements;
pub mod rust;
pub mod sandbox_check;
pub mod scaffold;

use std::path::{Path, PathBuf};

pub use self::rust::{GUEST_CARGO_ENV, GUEST_TARGET};
use crate::manifest::{MANIFEST_FILE, Manifest, ManifestError};

/// The language of a tool folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `Cargo.toml` + `src/`.
    Rust,
    /// `scripts/<name>.py` + `SKILL.md`.
    Python,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The manifest was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The folder is not a tool folder this gateway knows how to build.
    #[error(
        "{0}: not a tool folder: a Python tool holds tool.toml, SKILL.md and scripts/<name>.py; a Rust tool holds tool.toml, Cargo.toml and src/"
    )]
    UnknownLayout(PathBuf),
    /// A Python tool folder lacks a file it must have.
    #[error("{path}: missing ({why})")]
    MissingFile {
        /// The expected file.
        path: PathBuf,
        /// Why it is required.
        why: &'static str,
    },
    /// The Python script failed the static checks; every problem is listed.
    #[error("{}", diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Check {
        /// The problems, each with file:line:column.
        diagnostics: Vec<python::Diagnostic>,
    },
    /// A build tool this gateway needs is not installed.
    #[error("{what} not found: {hint}")]
    ToolchainMissing {
        /// The tool.
        what: &'static str,
        /// How to install it.
        hint: &'static str,
    },
    /// componentize-py failed.
    #[error("componentize-py failed for {script}:\n{output}")]
    Componentize {
        /// The script.
        script: PathBuf,
        /// What it printed (tail).
        output: String,
    },
    /// A line of `requirements.txt` was refused.
    #[error("{file}:{line}: {problem}")]
    Requirement {
        /// The requirements file.
        file: PathBuf,
        /// 1-based line.
        line: u32,
        /// What is wrong with it.
        problem: requirements::RequirementProblem,
    },
    /// pip could not install the pinned packages.
    #[error(
        "pip could not install {file} (only pure-Python wheels for Python {} are accepted):\n{output}",
        requirements::SANDBOX_PYTHON_VERSION
    )]
    Pip {
        /// The requirements file.
        file: PathBuf,
        /// What pip printed (tail).
        output: String,
    },
    /// A package carries native code, which cannot load in the sandbox.
    #[error(
        "{package} contains native code ({file}): tools run on CPython compiled to WebAssembly, where extensions built for this machine's processor cannot load; use a pure-Python package instead"
    )]
    NativePackage {
        /// The normalised package name.
        package: String,
        /// The file that shows it.
        file: PathBuf,
    },
    /// pip installed a dependency the requirements file does not pin.
    #[error(
        "{file}: {package} is needed by a listed package but not pinned; add {package}=={version}"
    )]
    UnpinnedDependency {
        /// The requirements file.
        file: PathBuf,
        /// The normalised package name.
        package: String,
        /// The version pip chose.
        version: String,
    },
    /// The Python tool's files (standard library, packages, scripts) exceed
    /// what a component may carry.
    #[error(
        "the Python files of this tool exceed {limit_files} files or {limit_bytes} bytes; trim requirements.txt or scripts/"
    )]
    PythonViewTooLarge {
        /// Most files.
        limit_files: usize,
        /// Most bytes.
        limit_bytes: u64,
    },
    /// cargo could not be started.
    #[error("could not run {command}: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// cargo failed; its diagnostics went to stderr.
    #[error(
        "cargo build failed for {dir} (is the target installed? `rustup target add {GUEST_TARGET}`)"
    )]
    Cargo {
        /// The tool folder.
        dir: PathBuf,
    },
    /// cargo succeeded but produced no component.
    #[error("{0}: cargo produced no .wasm; is the crate a `cdylib`?")]
    NoArtifact(PathBuf),
    /// Writing the build folder or copying the component failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What kind of tool folder `dir` is.
pub fn detect(dir: &Path) -> Result<Language, BuildError> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Language::Rust)
    } else if dir.join("scripts").is_dir() {
        Ok(Language::Python)
    } else {
        Err(BuildError::UnknownLayout(dir.to_path_buf()))
    }
}

/// Builds the tool folder `dir` into `dir/tool.wasm`, reporting steps
/// through `progress`. Returns the manifest, the language and the component path.
pub fn build_tool(
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(Manifest, Language, PathBuf), BuildError> {
    build_tool_to(dir, &dir.join(crate::manifest::COMPONENT_FILE), progress)
}

/// Like [`build_tool`], but writes the component to `out` (e.g. beside
/// `tool.wasm` under a temporary name, to be checked and compiled before
/// it replaces what a running gateway serves: docs/hotload.md).
pub fn build_tool_to(
    dir: &Path,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(Manifest, Language, PathBuf), BuildError> {
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
    let language = detect(dir)?;
    let component = match language {
        Language::Rust => {
            progress(&format!("cargo build --release --target {GUEST_TARGET}"));
            rust::build_to(dir, out)?
        }
        Language::Python => python::build(dir, &manifest.name, out, progress)?,
    };
    Ok((manifest, language, component))
}

/// Like [`build_tool`], but a Python component built before from the same
/// inputs is reused from `cache` (see [`python::build_cached`]): review and
/// promotion build the same skill one after the other.
pub fn build_tool_cached(
    dir: &Path,
    cache: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<(Manifest, Language, PathBuf), BuildError> {
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
    if detect(dir)? == Language::Rust || manifest.files_dir.is_some() {
        // Rust builds are cargo's to cache; a `[files]` view is not in the key.
        return build_tool(dir, progress);
    }
    let cached = python::build_cached(dir, &manifest.name, cache, progress)?;
    let component = dir.join(crate::manifest::COMPONENT_FILE);
    std::fs::copy(&cached, &component).map_err(|source| BuildError::Io {
        path: component.clone(),
        source,
    })?;
    Ok((manifest, Language::Python, component))
}

/// Files compiled into the gateway binary.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The last `lines` lines of a child process's stdout then stderr, for an
/// error that shows what the tool (pip, componentize-py) said.
pub(crate) fn output_tail(output: &std::process::Output, lines: usize) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Writes `contents` to `path`, creating parent folders; errors name the file.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}

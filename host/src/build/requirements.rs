//! A Python tool's own packages: `requirements.txt` beside `tool.toml`, every
//! line pinned (`name==version`), installed by pip as pure-Python wheels into
//! a folder componentize-py bundles (docs/python-tools.md).
//!
//! Installed sets are cached by the hash of their pins under
//! `~/.cache/agent-gateway/python-deps/<sha256>/`, so rebuilding a tool whose
//! script changed does not run pip again; pip's own download cache sits
//! beside it.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::BuildError;

/// The file a tool folder lists its packages in.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";
/// The Python inside componentize-py 0.25.1: wheels must suit it.
pub const SANDBOX_PYTHON_VERSION: &str = "3.14";
/// Lines of pip output kept in an error.
const PIP_TAIL_LINES: usize = 30;
/// Native-code files a pure-Python package never carries.
const NATIVE_SUFFIXES: [&str; 4] = [".so", ".pyd", ".dylib", ".dll"];

/// Why a requirements file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequirementProblem {
    /// Not `name==version` (ranges, URLs, options and editable installs are
    /// not reproducible or not reviewable).
    #[error("not pinned: write each package as name==version (e.g. python-dateutil==2.9.0.post0)")]
    NotPinned,
    /// The same package twice.
    #[error("{0} is listed twice")]
    Duplicate(String),
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Normalised name (PEP 503: lowercase, runs of `-_.` as `-`).
    pub name: String,
    /// Exact version.
    pub version: String,
}

/// PEP 503 normalisation, so `Python_Dateutil` and `python-dateutil` match.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Parses `text`: one `name==version` per line; `#` comments and blank lines
/// are ignored. Errors carry the 1-based line.
pub fn parse(text: &str) -> Result<Vec<Pin>, (u32, RequirementProblem)> {
    let mut pins: Vec<Pin> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let pin = parse_line(line).ok_or((line_no, RequirementProblem::NotPinned))?;
        if pins.iter().any(|p| p.name == pin.name) {
            return Err((line_no, RequirementProblem::Duplicate(pin.name)));
        }
        pins.push(pin);
    }
    Ok(pins)
}

fn parse_line(line: &str) -> Option<Pin> {
    let (name, version) = line.split_once("==")?;
    let name = name.trim();
    let version = version.trim();
    let name_ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let version_ok = !version.is_empty()
        && version.starts_with(|c: char| c.is_ascii_alphanumeric())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '-' | '_'));
    (name_ok && version_ok).then(|| Pin {
        name: normalise(name),
        version: version.to_owned(),
    })
}

/// The gateway's cache folder for Python builds: `~/.cache/agent-gateway`.
pub fn cache_root() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/agent-gateway")
}

/// The cache folder for an installed set of pins: named by the SHA-256 of
/// the sandbox's Python version and the normalised pins, in file order.
pub fn installed_dir(pins: &[Pin]) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(SANDBOX_PYTHON_VERSION);
    for pin in pins {
        hasher.update(format!("\n{}=={}", pin.name, pin.version));
    }
    let key: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cache_root().join("python-deps").join(key)
}

/// The tool's packages as a private folder under `work` holding
/// `lib/site-packages`, which componentize-py is pointed at as its virtual
/// environment. componentize-py mounts that folder writable while the
/// tool's module runs at build time, so it is a copy: no tool's build can
/// change the cached set another tool builds from. Empty without a
/// requirements file.
pub fn prepare(
    dir: &Path,
    python: &Path,
    work: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuildError> {
    let venv = work.join("venv");
    let site = venv.join("lib/site-packages");
    std::fs::create_dir_all(&site).map_err(|source| BuildError::Io {
        path: site.clone(),
        source,
    })?;
    if let Some(cached) = install_cached(dir, python, progress)? {
        copy_tree(&cached.join("lib/site-packages"), &site)?;
    }
    Ok(venv)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(io(&src))?;
        }
    }
    Ok(())
}

/// Installs the pinned packages into the cache (once per set of pins) and
/// returns the cached folder; `None` without a requirements file.
fn install_cached(
    dir: &Path,
    python: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Option<PathBuf>, BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let file = dir.join(REQUIREMENTS_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&file)(e)),
    };
    let pins = parse(&text).map_err(|(line, problem)| BuildError::Requirement {
        file: file.clone(),
        line,
        problem,
    })?;
    let installed = installed_dir(&pins);
    let root = cache_root().join("python-deps");
    let key = installed
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if installed.join("lib/site-packages").is_dir() {
        progress("requirements unchanged since an earlier build; reusing the installed packages");
        return Ok(Some(installed));
    }
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("{key}.tmp"))
        .tempdir_in(&root)
        .map_err(io(&root))?;
    let site = staging.path().join("lib/site-packages");
    progress(&format!("pip: installing {} pinned package(s)", pins.len()));
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(["--no-compile", "--only-binary=:all:"])
        .args(["--python-version", SANDBOX_PYTHON_VERSION])
        .arg("--target")
        .arg(&site)
        .arg("--cache-dir")
        .arg(cache_root().join("pip"))
        .arg("-r")
        .arg(&file)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .map_err(|_| BuildError::ToolchainMissing {
            what: "pip",
            hint: "run ./scripts/setup (its virtual environment has pip)",
        })?;
    if !output.status.success() {
        return Err(BuildError::Pip {
            file,
            output: super::output_tail(&output, PIP_TAIL_LINES),
        });
    }
    check_installed(&file, &site, &pins)?;
    let staged = staging.keep();
    if std::fs::rename(&staged, &installed).is_err() {
        // Another build installed the same pins meanwhile.
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok(Some(installed))
}

/// Every installed distribution must be pinned and pure Python.
fn check_installed(file: &Path, site: &Path, pins: &[Pin]) -> Result<(), BuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { path, source }
    };
    let mut entries: Vec<_> = std::fs::read_dir(site)
        .map_err(io(site))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in &entries {
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".dist-info"))
        else {
            continue;
        };
        let (name, version) = stem.split_once('-').unwrap_or((stem, ""));
        let package = normalise(name);
        let wheel = std::fs::read_to_string(path.join("WHEEL")).unwrap_or_default();
        if wheel.lines().any(|l| l.trim() == "Root-Is-Purelib: false") {
            return Err(BuildError::NativePackage {
                package,
                file: path.join("WHEEL"),
            });
        }
        if !pins.iter().any(|p| p.name == package) {
            return Err(BuildError::UnpinnedDependency {
                file: file.to_path_buf(),
                package,
                version: version.to_owned(),
            });
        }
    }
    if let Some(native) = find_native(site)? {
        let package = native
            .strip_prefix(site)
            .ok()
            .and_then(|p| p.components().next())
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| normalise(s.split('.').next().unwrap_or(s)))
            .unwrap_or_default();
        return Err(BuildError::NativePackage {
            package,
            file: native,
        });
    }
    Ok(())
}

fn find_native(dir: &Path) -> Result<Option<PathBuf>, BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Some(found) = find_native(&path)? {
                return Ok(Some(found));
            }
        } else if NATIVE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_everything_else_names_its_line() {
        let pins = parse("# deps\npython-dateutil==2.9.0.post0\n\nSix == 1.17.0  # for dateutil\n")
            .expect("pinned");
        assert_eq!(pins.len(), 2);
        assert_eq!(pins[1].name, "six");
        assert_eq!(pins[1].version, "1.17.0");
        for (text, line) in [
            ("six\n", 1),
            ("six==1.17.0\nrequests>=2\n", 2),
            ("-e .\n", 1),
            ("--index-url https://x\n", 1),
            ("pkg @ https://x/pkg.whl\n", 1),
            ("six==1.*\n", 1),
            ("six==\n", 1),
        ] {
            assert_eq!(
                parse(text),
                Err((line, RequirementProblem::NotPinned)),
                "{text}"
            );
        }
        assert_eq!(
            parse("six==1.17.0\nSix==1.16.0\n"),
            Err((2, RequirementProblem::Duplicate("six".into())))
        );
    }

    #[test]
    fn names_normalise_as_pip_does() {
        assert_eq!(normalise("Python_Dateutil"), "python-dateutil");
        assert_eq!(normalise("zope.interface"), "zope-interface");
        assert_eq!(normalise("a__b"), "a-b");
    }
}

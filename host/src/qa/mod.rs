//! `gateway qa`: the automated review of a change to tool folders, the one
//! an admin reads before the merge (see `docs/gitops.md`).
//!
//! Deterministic: the same tree gives the same review. Each check has a
//! stable code; each violation names the file and line. Besides the
//! violations, the review carries what the admin approves by merging: for
//! every tool, the difference in its grants (hosts, methods, secrets to
//! provision, files, limits, definition hash) against the base.

pub mod capability;
pub mod git;
pub mod report;
pub mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use self::capability::{Capabilities, Change};
use self::git::{GitError, Repo};
use crate::build::BuildError;
use crate::fields::Integration;
use crate::manifest::{MANIFEST_FILE, Manifest, ManifestError};
use crate::outbound::rules::RuleError;
use crate::runtime::Runtime;
use crate::settings::Settings;
use crate::tooltest::{TestError, Verdict};

/// Where field files are looked up, relative to the repository: an
/// operator's new definitions first, then the registry the gateway serves.
pub const FIELD_DIRS: [&str; 2] = ["local-workspace/fields", "fields"];

/// The file every tool folder pairs with its code.
pub const SKILL_FILE: &str = "SKILL.md";

/// The sections `SKILL.md` must have (headings starting with these words).
pub const SKILL_SECTIONS: [&str; 2] = ["When to use", "Reading the output"];

/// Upstream bytes below which a case's output is not judged as pass-through
/// (an empty page of results is smaller than any useful answer).
pub const PASS_THROUGH_MIN_UPSTREAM: u64 = 1024;

/// Files larger than this are not scanned for credentials (and reported).
const SCAN_LIMIT: u64 = 4 << 20;

/// Which family a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// Writes upstream without an admin's approval.
    Safety,
    /// Credentials written into the folder.
    Security,
    /// The code, manifest and build.
    Quality,
    /// The tool's own cases.
    Tests,
    /// Whether the output is a purposeful shape, not the raw payload.
    OutputDesign,
    /// `SKILL.md` beside the code.
    Pairing,
    /// The integration's field definitions.
    Fields,
}

/// A check's stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Code {
    /// A method beyond GET/HEAD without `approved_by`.
    UnapprovedMethod,
    /// Code that calls a method no `[[http]]` entry grants.
    MutatingCall,
    /// A token with a known credential prefix.
    Credential,
    /// `Bearer <literal>`.
    BearerLiteral,
    /// A long random-looking token.
    HighEntropy,
    /// A file too large to scan.
    Unscanned,
    /// The manifest does not parse or has a bad value.
    ManifestInvalid,
    /// The Python checker's finding (its own code in the message).
    PythonCheck,
    /// The build failed.
    BuildFailed,
    /// The component did not load (exports, imports, definition).
    LoadFailed,
    /// An input property without a description.
    ArgumentUndescribed,
    /// No cases in `fixtures/tests.toml`.
    NoCases,
    /// A case failed.
    CaseFailed,
    /// The cases could not run.
    TestsError,
    /// Output more than half the upstream bytes.
    PassThrough,
    /// No `SKILL.md`.
    SkillMissing,
    /// `SKILL.md` lacks a required section.
    SectionMissing,
    /// The integration has no field file.
    NoFieldFile,
    /// The field file does not lint.
    FieldLint,
}

impl Code {
    /// The family.
    pub fn check(self) -> Check {
        match self {
            Code::UnapprovedMethod | Code::MutatingCall => Check::Safety,
            Code::Credential | Code::BearerLiteral | Code::HighEntropy | Code::Unscanned => {
                Check::Security
            }
            Code::ManifestInvalid
            | Code::PythonCheck
            | Code::BuildFailed
            | Code::LoadFailed
            | Code::ArgumentUndescribed => Check::Quality,
            Code::NoCases | Code::CaseFailed | Code::TestsError => Check::Tests,
            Code::PassThrough => Check::OutputDesign,
            Code::SkillMissing | Code::SectionMissing => Check::Pairing,
            Code::NoFieldFile | Code::FieldLint => Check::Fields,
        }
    }

    /// `family/name`, as printed and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnapprovedMethod => "safety/unapproved-method",
            Code::MutatingCall => "safety/mutating-call",
            Code::Credential => "security/credential",
            Code::BearerLiteral => "security/bearer-literal",
            Code::HighEntropy => "security/high-entropy",
            Code::Unscanned => "security/unscanned-file",
            Code::ManifestInvalid => "quality/manifest-invalid",
            Code::PythonCheck => "quality/python-check",
            Code::BuildFailed => "quality/build-failed",
            Code::LoadFailed => "quality/load-failed",
            Code::ArgumentUndescribed => "quality/argument-undescribed",
            Code::NoCases => "tests/no-cases",
            Code::CaseFailed => "tests/case-failed",
            Code::TestsError => "tests/error",
            Code::PassThrough => "output-design/pass-through",
            Code::SkillMissing => "pairing/skill-missing",
            Code::SectionMissing => "pairing/section-missing",
            Code::NoFieldFile => "fields/no-field-file",
            Code::FieldLint => "fields/lint",
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's code.
    pub code: Code,
    /// The file, relative to the repository.
    pub file: PathBuf,
    /// 1-based line, when the problem has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

/// Whether the change adds, changes or removes the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Not at the base.
    Added,
    /// At the base and changed.
    Changed,
    /// At the base, gone now.
    Removed,
}

/// One case as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseSummary {
    /// The case name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Upstream body bytes the call read.
    pub upstream_bytes: u64,
    /// Bytes of JSON it returned.
    pub output_bytes: usize,
}

/// Fields a case's output has that the registry does not define, or lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftNote {
    /// The case.
    pub case: String,
    /// In the output, not registered.
    pub new_fields: Vec<String>,
    /// Registered, absent from the output.
    pub removed_fields: Vec<String>,
}

/// The review of one tool folder.
#[derive(Debug, Clone, Serialize)]
pub struct ToolReview {
    /// The tool name (the folder's name when the manifest does not parse).
    pub name: String,
    /// The folder, relative to the repository.
    pub dir: PathBuf,
    /// Added, changed or removed.
    pub status: ToolStatus,
    /// Violations; empty = this tool passed.
    pub findings: Vec<Finding>,
    /// The grants that change, for the admin.
    pub changes: Vec<Change>,
    /// Environment variables the gateway must hold for this tool.
    pub secrets: BTreeSet<String>,
    /// `[[http]]` entries with an approved write, as the admin reads them.
    pub approved_writes: Vec<String>,
    /// The cases.
    pub cases: Vec<CaseSummary>,
    /// Field drift seen in case outputs (reported, not a violation).
    pub drift: Vec<DriftNote>,
}

/// A changed field file and what lint says about it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldFileReview {
    /// The file, relative to the repository.
    pub file: PathBuf,
    /// Fields it defines (0 when it does not parse).
    pub fields: usize,
    /// Lint problems as violations.
    pub findings: Vec<Finding>,
}

/// The whole review.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// True when nothing was found.
    pub passed: bool,
    /// The base commit compared with, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Every tool folder the change touches.
    pub tools: Vec<ToolReview>,
    /// Every field file the change touches.
    pub field_files: Vec<FieldFileReview>,
}

impl Review {
    /// Every violation, tools first.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.tools
            .iter()
            .flat_map(|t| &t.findings)
            .chain(self.field_files.iter().flat_map(|f| &f.findings))
    }
}

/// Why a review could not be made at all (violations are not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QaError {
    /// Git could not say what changed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// A path given is not in the repository.
    #[error("{}: not inside the repository at {}", path.display(), repo.display())]
    OutsideRepo {
        /// The path.
        path: PathBuf,
        /// The repository's top folder.
        repo: PathBuf,
    },
    /// A path given is not a tool folder or a field file.
    #[error("{}: neither a tool folder (no tool.toml) nor a field file", .0.display())]
    NotReviewable(PathBuf),
    /// A temporary folder could not be made.
    #[error("temporary folder: {0}")]
    Temp(#[source] std::io::Error),
}

/// What to review.
#[derive(Debug, Clone)]
pub struct Options {
    /// A folder inside the repository.
    pub repo: PathBuf,
    /// Compare with the merge base of this ref and HEAD.
    pub base: Option<String>,
    /// Tool folders or field files to review; empty with a base = all changed.
    pub paths: Vec<PathBuf>,
    /// Settings for building and running (cache folder, runtime limits).
    pub settings: Settings,
}

/// Reviews what `options` name, reporting progress through `progress`.
pub async fn review(
    options: Options,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Review, QaError> {
    let repo = Repo::discover(&options.repo)?;
    let base = match &options.base {
        Some(rev) => Some(repo.merge_base(rev)?),
        None => None,
    };
    let mut candidates: BTreeSet<PathBuf> = BTreeSet::new();
    for path in &options.paths {
        candidates.insert(relative(&repo, path)?);
    }
    let explicit = !candidates.is_empty();
    if !explicit && let Some(rev) = &base {
        candidates.extend(repo.changed_since(rev)?);
    }

    let mut tools: BTreeMap<PathBuf, ToolStatus> = BTreeMap::new();
    let mut field_files = BTreeSet::new();
    for path in &candidates {
        if is_field_file(path) {
            if repo.root().join(path).is_file() {
                field_files.insert(path.clone());
            }
            continue;
        }
        match tool_folder(&repo, base.as_deref(), path)? {
            Some((dir, status)) => {
                tools.insert(dir, status);
            }
            None if explicit => return Err(QaError::NotReviewable(path.clone())),
            None => {}
        }
    }

    let mut review = Review {
        passed: true,
        base: base.clone(),
        tools: Vec::new(),
        field_files: Vec::new(),
    };
    for (dir, status) in tools {
        progress(&format!("reviewing {}", dir.display()));
        let tool = review_tool(
            &repo,
            base.as_deref(),
            &dir,
            status,
            &options.settings,
            progress,
        )
        .await?;
        review.tools.push(tool);
    }
    for file in field_files {
        review.field_files.push(review_field_file(&repo, &file));
    }
    let passed = review.findings().next().is_none();
    review.passed = passed;
    Ok(review)
}

/// `path` relative to the repository's top folder.
fn relative(repo: &Repo, path: &Path) -> Result<PathBuf, QaError> {
    let absolute = std::path::absolute(path).map_err(QaError::Temp)?;
    let absolute = absolute.canonicalize().unwrap_or(absolute);
    let root = repo.root().canonicalize().unwrap_or(repo.root().to_owned());
    absolute
        .strip_prefix(&root)
        .map(Path::to_path_buf)
        .map_err(|_| QaError::OutsideRepo {
            path: path.to_owned(),
            repo: root.clone(),
        })
}

fn is_field_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml")
        && path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|p| p == "fields")
}

/// The tool folder a changed path belongs to: the nearest folder (the path
/// itself included) that holds `tool.toml` now, or held it at the base.
fn tool_folder(
    repo: &Repo,
    base: Option<&str>,
    path: &Path,
) -> Result<Option<(PathBuf, ToolStatus)>, QaError> {
    for dir in path.ancestors().filter(|d| !d.as_os_str().is_empty()) {
        let now = repo.root().join(dir).join(MANIFEST_FILE).is_file();
        let then = match base {
            Some(rev) => repo.exists_at(rev, &dir.join(MANIFEST_FILE))?,
            None => false,
        };
        let status = match (then, now) {
            (false, true) => ToolStatus::Added,
            (true, true) => ToolStatus::Changed,
            (true, false) => ToolStatus::Removed,
            (false, false) => continue,
        };
        return Ok(Some((dir.to_path_buf(), status)));
    }
    Ok(None)
}

async fn review_tool(
    repo: &Repo,
    base: Option<&str>,
    dir: &Path,
    status: ToolStatus,
    settings: &Settings,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<ToolReview, QaError> {
    let folder_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let before = match (base, status) {
        (Some(rev), ToolStatus::Changed | ToolStatus::Removed) => {
            progress(&format!(
                "  building {} as it was at the base",
                dir.display()
            ));
            let temp = tempfile::tempdir().map_err(QaError::Temp)?;
            let copy = temp.path().join(&folder_name);
            repo.export(rev, dir, &copy)?;
            let caps = Manifest::load(&copy.join(MANIFEST_FILE))
                .ok()
                .and_then(|m| Capabilities::of(&m).ok().map(|caps| (m, caps)));
            match caps {
                Some((manifest, mut caps)) => {
                    caps.definition_sha256 = built_hash(&copy, &manifest, settings).await;
                    Some(caps)
                }
                None => None,
            }
        }
        _ => None,
    };
    let mut tool = ToolReview {
        name: folder_name,
        dir: dir.to_owned(),
        status,
        findings: Vec::new(),
        changes: Vec::new(),
        secrets: BTreeSet::new(),
        approved_writes: Vec::new(),
        cases: Vec::new(),
        drift: Vec::new(),
    };
    if status == ToolStatus::Removed {
        tool.changes = capability::diff(before.as_ref(), None);
        return Ok(tool);
    }
    let abs = repo.root().join(dir);
    let rel = |file: &Path| repo.relative(file);

    scan_folder(&abs, &rel, &mut tool.findings);
    check_pairing(&abs, &rel, &mut tool.findings);

    let manifest_file = abs.join(MANIFEST_FILE);
    let manifest = match Manifest::load(&manifest_file) {
        Ok(m) => m,
        Err(e) => {
            tool.findings
                .push(manifest_finding(&manifest_file, &rel, &e));
            tool.changes = capability::diff(before.as_ref(), None);
            return Ok(tool);
        }
    };
    tool.name = manifest.name.clone();
    let mut after = Capabilities::of(&manifest).unwrap_or_default();
    tool.secrets = after.secrets.clone();
    tool.approved_writes = after
        .http
        .iter()
        .filter(|h| h.contains("(approved by "))
        .cloned()
        .collect();
    check_mutating_calls(&abs, &rel, &manifest, &mut tool.findings);

    progress(&format!("  building {}", dir.display()));
    let built = {
        let abs = abs.clone();
        let cache = python_cache(settings);
        tokio::task::spawn_blocking(move || {
            crate::build::build_tool_cached(&abs, &cache, &mut |_| {})
        })
        .await
        .map_err(|e| QaError::Temp(std::io::Error::other(e)))?
    };
    match built {
        Ok(_) => {}
        Err(BuildError::Check { diagnostics }) => {
            for d in diagnostics {
                tool.findings.push(Finding {
                    code: Code::PythonCheck,
                    file: rel(&d.file),
                    line: Some(d.line as usize),
                    message: format!("{}: {}", d.code, d.message),
                });
            }
        }
        Err(e) => tool.findings.push(Finding {
            code: Code::BuildFailed,
            file: rel(&manifest_file),
            line: None,
            message: e.to_string(),
        }),
    }
    if tool
        .findings
        .iter()
        .any(|f| f.code.check() == Check::Quality)
    {
        tool.changes = capability::diff(before.as_ref(), Some(&after));
        return Ok(tool);
    }

    progress(&format!("  loading {}", dir.display()));
    let settings = tool_settings(settings, &manifest);
    match placeholder_runtime(settings.clone()) {
        Ok(runtime) => match runtime.load_dir(&abs).await {
            Ok(loaded) => {
                after.definition_sha256 = Some(loaded.definition_sha256.clone());
                check_arguments(
                    &abs,
                    &rel,
                    &manifest,
                    &loaded.definition.input_schema,
                    &mut tool,
                );
            }
            Err(e) => tool.findings.push(Finding {
                code: Code::LoadFailed,
                file: rel(&abs.join(crate::manifest::COMPONENT_FILE)),
                line: None,
                message: e.to_string(),
            }),
        },
        Err(e) => tool.findings.push(Finding {
            code: Code::LoadFailed,
            file: rel(&manifest_file),
            line: None,
            message: e.to_string(),
        }),
    }
    tool.changes = capability::diff(before.as_ref(), Some(&after));
    if tool.findings.iter().any(|f| f.code == Code::LoadFailed) {
        return Ok(tool);
    }

    progress(&format!("  running the cases of {}", dir.display()));
    let integration = check_fields(repo, &rel, &manifest, &mut tool.findings);
    run_cases(&abs, &rel, &settings, integration.as_ref(), &mut tool).await;
    Ok(tool)
}

/// Where built Python components are kept by their inputs' hash, beside
/// the compiled artifacts: a skill reviewed, then promoted, builds once.
pub fn python_cache(settings: &Settings) -> PathBuf {
    settings.cache_dir.join("python")
}

/// Settings for one tool: its own secret variables granted (their values
/// are placeholders: review never calls a real upstream).
fn tool_settings(base: &Settings, manifest: &Manifest) -> Settings {
    let mut settings = base.clone();
    if let Ok(vars) = manifest.secret_vars() {
        settings.secret_grants.grant(&manifest.name, vars);
    }
    settings
}

fn placeholder_runtime(settings: Settings) -> Result<Runtime, crate::runtime::RuntimeError> {
    Runtime::with_secrets(settings, Arc::new(|_| Some("qa-placeholder".to_owned())))
}

/// The definition hash of the tool in `dir` once built, if it builds.
async fn built_hash(dir: &Path, manifest: &Manifest, settings: &Settings) -> Option<String> {
    let owned = dir.to_owned();
    let cache = python_cache(settings);
    let built = tokio::task::spawn_blocking(move || {
        crate::build::build_tool_cached(&owned, &cache, &mut |_| {})
    })
    .await
    .ok()?;
    built.ok()?;
    let runtime = placeholder_runtime(tool_settings(settings, manifest)).ok()?;
    let loaded = runtime.load_dir(dir).await.ok()?;
    Some(loaded.definition_sha256)
}

/// Files a scan reads: everything in the folder but build outputs.
fn folder_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if name != "__pycache__" && name != "target" && name != ".git" {
                    stack.push(path);
                }
            } else if kind.is_file()
                && name != crate::manifest::COMPONENT_FILE
                && path.extension().is_none_or(|e| e != "cwasm")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The tool folder's code: its Python and Rust files outside `fixtures/`,
/// in path order (what the review scans for writes, and what
/// `outbound::teach` searches for the line making a request).
pub(crate) fn code_files(dir: &Path) -> Vec<PathBuf> {
    folder_files(dir)
        .into_iter()
        .filter(|file| {
            file.extension().is_some_and(|e| e == "py" || e == "rs")
                && !file
                    .strip_prefix(dir)
                    .is_ok_and(|p| p.starts_with("fixtures"))
        })
        .collect()
}

fn scan_folder(dir: &Path, rel: &dyn Fn(&Path) -> PathBuf, findings: &mut Vec<Finding>) {
    for file in folder_files(dir) {
        let too_large = std::fs::metadata(&file).is_ok_and(|m| m.len() > SCAN_LIMIT);
        let text = if too_large {
            None
        } else {
            std::fs::read(&file)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        };
        let Some(text) = text else {
            findings.push(Finding {
                code: Code::Unscanned,
                file: rel(&file),
                line: None,
                message: format!(
                    "not UTF-8 text or larger than {} MiB: a tool folder holds source, \
                     fixtures and docs only, and every file is scanned for credentials",
                    SCAN_LIMIT >> 20
                ),
            });
            continue;
        };
        for (index, line) in text.lines().enumerate() {
            for hit in scan::credentials(line) {
                let (code, message) = match hit {
                    scan::CredentialHit::Known { kind, masked } => (
                        Code::Credential,
                        format!(
                            "{kind} written into the file ({masked}); remove it, revoke it, and \
                             bind the variable in tool.toml [http.secret_headers]"
                        ),
                    ),
                    scan::CredentialHit::Bearer { masked } => (
                        Code::BearerLiteral,
                        format!(
                            "a literal bearer token ({masked}); the gateway injects credentials: \
                             use \"Bearer ${{VAR}}\" in tool.toml [http.secret_headers]"
                        ),
                    ),
                    scan::CredentialHit::HighEntropy {
                        masked,
                        bits_tenths,
                    } => (
                        Code::HighEntropy,
                        format!(
                            "a random-looking token ({masked}, {}.{} bits per character) \
                             may be a credential; fixtures must hold scrubbed recordings",
                            bits_tenths / 10,
                            bits_tenths % 10
                        ),
                    ),
                };
                findings.push(Finding {
                    code,
                    file: rel(&file),
                    line: Some(index + 1),
                    message,
                });
            }
        }
    }
}

fn check_pairing(dir: &Path, rel: &dyn Fn(&Path) -> PathBuf, findings: &mut Vec<Finding>) {
    let file = dir.join(SKILL_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        findings.push(Finding {
            code: Code::SkillMissing,
            file: rel(&file),
            line: None,
            message: format!(
                "every tool has a {SKILL_FILE} saying when to use it and how to read its output \
                 (sections \"## {}\" and \"## {}\")",
                SKILL_SECTIONS[0], SKILL_SECTIONS[1]
            ),
        });
        return;
    };
    for section in SKILL_SECTIONS {
        let found = text.lines().any(|line| {
            let heading = line.trim_start_matches('#');
            line.starts_with('#')
                && heading
                    .trim()
                    .to_ascii_lowercase()
                    .starts_with(&section.to_ascii_lowercase())
        });
        if !found {
            findings.push(Finding {
                code: Code::SectionMissing,
                file: rel(&file),
                line: None,
                message: format!("no \"## {section}\" section"),
            });
        }
    }
}

fn manifest_finding(file: &Path, rel: &dyn Fn(&Path) -> PathBuf, e: &ManifestError) -> Finding {
    match e {
        ManifestError::Http {
            index,
            source: RuleError::WriteWithoutApproval { method, .. },
            ..
        } => Finding {
            code: Code::UnapprovedMethod,
            file: rel(file),
            line: std::fs::read_to_string(file)
                .ok()
                .and_then(|text| crate::manifest::http_entry_line(&text, *index, "methods")),
            message: format!(
                "[[http]] entry {} grants {method} without `approved_by`: the gateway is \
                 read-only unless an admin approves a write; ask one to add \
                 approved_by = \"<their name>\" in review, or use GET",
                index + 1
            ),
        },
        ManifestError::Parse { line, .. } => Finding {
            code: Code::ManifestInvalid,
            file: rel(file),
            line: Some(*line),
            message: e.to_string(),
        },
        _ => Finding {
            code: Code::ManifestInvalid,
            file: rel(file),
            line: None,
            message: e.to_string(),
        },
    }
}

fn check_mutating_calls(
    dir: &Path,
    rel: &dyn Fn(&Path) -> PathBuf,
    manifest: &Manifest,
    findings: &mut Vec<Finding>,
) {
    let granted: BTreeSet<String> = manifest
        .rules(&manifest.config)
        .unwrap_or_default()
        .iter()
        .flat_map(|r| r.methods.iter().map(|m| m.as_str().to_owned()))
        .collect();
    for file in code_files(dir) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (index, line) in text.lines().enumerate() {
            for method in scan::mutating_calls(line) {
                if !granted.contains(method) {
                    findings.push(Finding {
                        code: Code::MutatingCall,
                        file: rel(&file),
                        line: Some(index + 1),
                        message: format!(
                            "the code calls {method}, which no [[http]] entry of tool.toml \
                             grants; tools are read-only unless an admin approves a write"
                        ),
                    });
                }
            }
        }
    }
}

fn check_arguments(
    dir: &Path,
    rel: &dyn Fn(&Path) -> PathBuf,
    manifest: &Manifest,
    schema: &Value,
    tool: &mut ToolReview,
) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let script = dir.join("scripts").join(format!("{}.py", manifest.name));
    let source = if script.is_file() {
        script
    } else {
        dir.join(crate::manifest::MANIFEST_FILE)
    };
    let text = std::fs::read_to_string(&source).unwrap_or_default();
    for (name, property) in properties {
        let described = property
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.trim().is_empty());
        if !described {
            let line = text
                .lines()
                .position(|l| l.contains(&format!("{name}:")) || l.contains(&format!("{name} :")))
                .map(|n| n + 1);
            tool.findings.push(Finding {
                code: Code::ArgumentUndescribed,
                file: rel(&source),
                line,
                message: format!(
                    "argument {name:?} has no description; agents read it to call the tool \
                     (describe it under Args: in the docstring)"
                ),
            });
        }
    }
}

/// The integration's definitions, checking that a field file exists and
/// lints; `None` when the tool names no integration or it has no file.
fn check_fields(
    repo: &Repo,
    rel: &dyn Fn(&Path) -> PathBuf,
    manifest: &Manifest,
    findings: &mut Vec<Finding>,
) -> Option<Integration> {
    let slug = manifest.integration.as_ref()?;
    let candidates: Vec<PathBuf> = FIELD_DIRS
        .iter()
        .map(|d| repo.root().join(d).join(format!("{slug}.yaml")))
        .collect();
    let Some(file) = candidates.iter().find(|f| f.is_file()) else {
        findings.push(Finding {
            code: Code::NoFieldFile,
            file: rel(&manifest.file),
            line: None,
            message: format!(
                "integration {slug:?} has no field file: write {} describing the fields \
                 the tool returns",
                FIELD_DIRS[0].to_owned() + "/" + slug + ".yaml"
            ),
        });
        return None;
    };
    match Integration::read(file) {
        Ok(integration) => Some(integration),
        Err(errors) => {
            findings.extend(errors.into_iter().map(|e| lint_finding(&e, rel)));
            None
        }
    }
}

fn lint_finding(e: &crate::fields::LintError, rel: &dyn Fn(&Path) -> PathBuf) -> Finding {
    Finding {
        code: Code::FieldLint,
        file: rel(&e.file),
        line: e.line,
        message: e.kind.to_string(),
    }
}

async fn run_cases(
    dir: &Path,
    rel: &dyn Fn(&Path) -> PathBuf,
    settings: &Settings,
    integration: Option<&Integration>,
    tool: &mut ToolReview,
) {
    let tests_file = dir.join("fixtures").join(crate::tooltest::TESTS_FILE);
    if !tests_file.is_file() {
        tool.findings.push(Finding {
            code: Code::NoCases,
            file: rel(&tests_file),
            line: None,
            message: "no cases: record the upstream (gateway fixtures record) and write \
                      [[case]]s with the output you expect"
                .to_owned(),
        });
        return;
    }
    let results = match crate::tooltest::run(dir, settings).await {
        Ok(results) => results,
        Err(e) => {
            let line = match &e {
                TestError::File(crate::fixtures::FixtureFileError::Parse { line, .. }) => {
                    Some(*line)
                }
                _ => None,
            };
            tool.findings.push(Finding {
                code: Code::TestsError,
                file: rel(&tests_file),
                line,
                message: e.to_string(),
            });
            return;
        }
    };
    let text = std::fs::read_to_string(&tests_file).unwrap_or_default();
    if results.is_empty() {
        tool.findings.push(Finding {
            code: Code::NoCases,
            file: rel(&tests_file),
            line: None,
            message: "no [[case]] in the file".to_owned(),
        });
    }
    for r in results {
        let line = case_line(&text, &r.name);
        let passed = r.verdict == Verdict::Passed;
        if let Verdict::Failed(why) = &r.verdict {
            tool.findings.push(Finding {
                code: Code::CaseFailed,
                file: rel(&tests_file),
                line,
                message: format!("case {:?}: {why}", r.name),
            });
        }
        if let (true, Ok(output)) = (passed, &r.report.result) {
            let upstream = r.report.upstream_bytes;
            if upstream >= PASS_THROUGH_MIN_UPSTREAM
                && (r.report.output_bytes as u64) * 2 > upstream
            {
                tool.findings.push(Finding {
                    code: Code::PassThrough,
                    file: rel(&tests_file),
                    line,
                    message: format!(
                        "case {:?} returns {} bytes from {upstream} upstream bytes: more than \
                         half of what the API sent reads as the raw payload passed through; \
                         return only the fields agents need",
                        r.name, r.report.output_bytes
                    ),
                });
            }
            if let Some(integration) = integration {
                let drift = crate::fields::drift(integration, output);
                if !drift.new_fields.is_empty() || !drift.removed_fields.is_empty() {
                    tool.drift.push(DriftNote {
                        case: r.name.clone(),
                        new_fields: drift.new_fields,
                        removed_fields: drift.removed_fields,
                    });
                }
            }
        }
        tool.cases.push(CaseSummary {
            name: r.name,
            passed,
            upstream_bytes: r.report.upstream_bytes,
            output_bytes: r.report.output_bytes,
        });
    }
}

/// The line of `name = "<case>"` in tests.toml.
fn case_line(text: &str, case: &str) -> Option<usize> {
    let quoted = serde_json::to_string(case).ok()?;
    text.lines()
        .position(|l| {
            let t = l.trim();
            t.starts_with("name") && t.ends_with(&quoted)
        })
        .map(|n| n + 1)
}

fn review_field_file(repo: &Repo, file: &Path) -> FieldFileReview {
    let abs = repo.root().join(file);
    let rel = |f: &Path| repo.relative(f);
    match Integration::read(&abs) {
        Ok(integration) => FieldFileReview {
            file: file.to_owned(),
            fields: integration.fields.len(),
            findings: Vec::new(),
        },
        Err(errors) => FieldFileReview {
            file: file.to_owned(),
            fields: 0,
            findings: errors.iter().map(|e| lint_finding(e, &rel)).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_methods_line_of_the_nth_http_entry() {
        let text = "name = \"t\"\n\n[[http]]\nurl = \"https://a\"\n\n[[http]]\nurl = \"https://b\"\nmethods = [\"POST\"]\n[http.secret_headers]\nA = \"x\"\n\n[limits]\n";
        assert_eq!(
            crate::manifest::http_entry_line(text, 1, "methods"),
            Some(8)
        );
        assert_eq!(
            crate::manifest::http_entry_line(text, 0, "methods"),
            Some(3)
        );
        assert_eq!(crate::manifest::http_entry_line(text, 2, "methods"), None);
    }

    #[test]
    fn codes_are_stable_and_grouped() {
        assert_eq!(Code::UnapprovedMethod.as_str(), "safety/unapproved-method");
        assert_eq!(Code::Credential.check(), Check::Security);
        assert_eq!(Code::PassThrough.check(), Check::OutputDesign);
        assert_eq!(
            serde_json::to_value(Code::SectionMissing).ok(),
            Some(Value::from("pairing/section-missing"))
        );
    }

    #[test]
    fn case_lines_are_found_by_exact_name() {
        let text = "[[case]]\nname = \"All\"\n\n[[case]]\nname = \"All owners\"\n";
        assert_eq!(case_line(text, "All owners"), Some(5));
        assert_eq!(case_line(text, "All"), Some(2));
        assert_eq!(case_line(text, "None"), None);
    }

    #[test]
    fn field_files_are_recognised_by_folder() {
        assert!(is_field_file(Path::new("fields/stripe.yaml")));
        assert!(is_field_file(Path::new(
            "local-workspace/fields/stripe.yaml"
        )));
        assert!(!is_field_file(Path::new("tools-wasm/x/fixtures/a.yaml")));
        assert!(!is_field_file(Path::new("fields/README.md")));
    }
}

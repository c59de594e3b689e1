//! `gateway promote`: after a merge, the operator's skills and field files
//! become the gateway's (see `docs/gitops.md`).
//!
//! Each skill folder holding a `tool.toml` is a tool folder. A new or
//! changed one is built where it is, copied into `<tools_dir>/<name>/`
//! through a staging folder the watcher ignores, its cases run there, and
//! only then swapped in; running gateways get it through their admin API.
//! Field files are merged into the registry: a field defined differently
//! on both sides is an error, never an overwrite. Running it twice on the
//! same tree changes nothing.

pub mod install;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use self::install::Installed;
use crate::build::BuildError;
use crate::fields::{Integration, LintError};
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE, Manifest, ManifestError};
use crate::runtime::{LoadError, Runtime, RuntimeError};
use crate::settings::Settings;
use crate::tooltest::{TestError, Verdict};

/// The file in a promoted tool folder naming the skill it came from: a
/// promotion never replaces a folder it did not write.
pub const SOURCE_FILE: &str = ".promoted-from";

/// Where promotion reads and writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// The skills folder (`local-workspace/.claude/skills`).
    pub skills: PathBuf,
    /// The operators' field files (`local-workspace/fields`).
    pub workspace_fields: PathBuf,
    /// Admin API base URLs of running gateways.
    pub admin_urls: Vec<String>,
    /// The admin key (`GATEWAY_ADMIN_KEY`), needed when there are URLs.
    pub admin_key: Option<String>,
    /// Settings: the tools folder, the fields folder, the cache.
    pub settings: Settings,
}

/// What happened to one skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChange {
    /// Not in the tools folder before.
    Added,
    /// Replaced with the skill's new version.
    Updated,
    /// Already the same files.
    Unchanged,
}

/// One skill's promotion.
#[derive(Debug, Clone, Serialize)]
pub struct PromotedTool {
    /// The tool name.
    pub name: String,
    /// The skill folder.
    pub from: PathBuf,
    /// The tool folder.
    pub to: PathBuf,
    /// Added, updated or unchanged.
    pub change: ToolChange,
    /// Cases run and passed (0 when unchanged: nothing ran).
    pub cases_passed: usize,
    /// Environment variables the gateway must hold for it.
    pub secrets: BTreeSet<String>,
    /// What each gateway said, by admin URL.
    pub installs: BTreeMap<String, InstallOutcome>,
}

/// One gateway's answer, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum InstallOutcome {
    /// The admin API answered.
    Answered(Installed),
    /// It could not be reached.
    Unreachable {
        /// Why.
        error: String,
    },
}

impl InstallOutcome {
    /// Whether the gateway now serves the tool.
    pub fn ok(&self) -> bool {
        matches!(self, InstallOutcome::Answered(Installed::Accepted { .. }))
    }
}

/// What happened to one field file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum FieldsChange {
    /// New in the registry.
    Added,
    /// The registry's file gained fields.
    Updated {
        /// The fields added.
        added: Vec<String>,
    },
    /// The operators' copy lacked fields the registry has: it was brought
    /// up to date, so operators see the whole vocabulary after `git pull`.
    SyncedBack {
        /// The fields the operators' copy gained.
        added: Vec<String>,
    },
    /// Already the same.
    Unchanged,
}

/// One field file's promotion.
#[derive(Debug, Clone, Serialize)]
pub struct PromotedFields {
    /// The operators' file.
    pub from: PathBuf,
    /// The registry's file.
    pub to: PathBuf,
    /// What changed.
    #[serde(flatten)]
    pub change: FieldsChange,
}

/// Everything a promotion did.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// Field files, in name order.
    pub fields: Vec<PromotedFields>,
    /// Tools, in skill order.
    pub tools: Vec<PromotedTool>,
}

impl Promotion {
    /// True when every gateway accepted every new or updated tool.
    pub fn installed_everywhere(&self) -> bool {
        self.tools
            .iter()
            .all(|t| t.installs.values().all(InstallOutcome::ok))
    }

    /// Variables each gateway reported missing or not granted, by URL.
    pub fn lacking(&self) -> BTreeMap<&str, BTreeSet<(&str, &str)>> {
        let mut lacking: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
        for tool in &self.tools {
            for (url, outcome) in &tool.installs {
                if let InstallOutcome::Answered(Installed::Refused {
                    code,
                    variable: Some(var),
                    ..
                }) = outcome
                {
                    lacking
                        .entry(url.as_str())
                        .or_default()
                        .insert((var.as_str(), code.as_str()));
                }
            }
        }
        lacking
    }
}

/// Why a promotion stopped. What was promoted before the error stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromoteError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Admin URLs were given without `GATEWAY_ADMIN_KEY` (or its file).
    #[error("--admin-url needs the admin key in GATEWAY_ADMIN_KEY (or GATEWAY_ADMIN_KEY_FILE)")]
    AdminKeyMissing,
    /// A skill's manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Two skills declare the same tool.
    #[error("{} and {} both declare tool {name:?}", first.display(), second.display())]
    DuplicateName {
        /// The tool name.
        name: String,
        /// One skill.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The tool folder was not written by promoting this skill.
    #[error(
        "{}: tool {name:?} is already served from there and was not promoted from {}; rename the skill's tool",
        to.display(),
        from.display()
    )]
    NameTaken {
        /// The tool name.
        name: String,
        /// The skill.
        from: PathBuf,
        /// The existing tool folder.
        to: PathBuf,
    },
    /// The build failed.
    #[error("building {name}: {source}")]
    Build {
        /// The tool.
        name: String,
        /// Why (boxed: large and rare).
        source: Box<BuildError>,
    },
    /// The sandbox could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The built tool did not load.
    #[error("loading {name}: {source}")]
    Load {
        /// The tool.
        name: String,
        /// Why (boxed: a load error is large and rare).
        source: Box<LoadError>,
    },
    /// The cases could not run.
    #[error("testing {name}: {source}")]
    Tests {
        /// The tool.
        name: String,
        /// Why (boxed: large and rare).
        source: Box<TestError>,
    },
    /// Cases failed (QA passed them, so the tree changed since).
    #[error("{name}: cases failed: {}", failed.join("; "))]
    CasesFailed {
        /// The tool.
        name: String,
        /// Each failed case and why.
        failed: Vec<String>,
    },
    /// A field file does not lint.
    #[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    FieldFile {
        /// Every problem.
        errors: Vec<LintError>,
    },
    /// A field is defined differently in the operators' file and the registry.
    #[error(
        "{}: field {field:?} is defined differently in {}; promotion never overwrites a definition: change one of them so they agree",
        from.display(),
        to.display()
    )]
    FieldConflict {
        /// The operators' file.
        from: PathBuf,
        /// The registry's file.
        to: PathBuf,
        /// The field.
        field: String,
    },
    /// Each side has fields the other lacks.
    #[error(
        "{} and {} each define fields the other lacks (only in the first: {}; only in the second: {}); merge them by hand",
        from.display(),
        to.display(),
        only_from.join(", "),
        only_to.join(", ")
    )]
    FieldsDiverged {
        /// The operators' file.
        from: PathBuf,
        /// The registry's file.
        to: PathBuf,
        /// Fields only the operators' file has.
        only_from: Vec<String>,
        /// Fields only the registry has.
        only_to: Vec<String>,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PromoteError + '_ {
    move |source| PromoteError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Promotes what `options` name, reporting steps through `progress`.
pub async fn promote(
    options: &Options,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Promotion, PromoteError> {
    if !options.admin_urls.is_empty() && options.admin_key.is_none() {
        return Err(PromoteError::AdminKeyMissing);
    }
    let fields = promote_fields(&options.workspace_fields, &options.settings.fields_dir)?;
    for f in &fields {
        if f.change != FieldsChange::Unchanged {
            progress(&format!(
                "fields: {} -> {}",
                f.from.display(),
                f.to.display()
            ));
        }
    }
    let mut tools = Vec::new();
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    for skill in skill_folders(&options.skills)? {
        let manifest = Manifest::load(&skill.join(MANIFEST_FILE))?;
        if let Some(first) = names.insert(manifest.name.clone(), skill.clone()) {
            return Err(PromoteError::DuplicateName {
                name: manifest.name,
                first,
                second: skill,
            });
        }
        tools.push(promote_tool(options, &skill, &manifest, progress).await?);
    }
    Ok(Promotion { fields, tools })
}

/// Skill folders holding a `tool.toml`, in name order.
fn skill_folders(skills: &Path) -> Result<Vec<PathBuf>, PromoteError> {
    let entries = match std::fs::read_dir(skills) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(skills)(e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Whether a file is source (copied and compared) rather than a build output.
fn is_source(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let build_output = name == COMPONENT_FILE
        || name == SOURCE_FILE
        || name.ends_with(".cwasm")
        || rel.components().any(|c| {
            matches!(
                c.as_os_str().to_str(),
                Some("__pycache__" | "target" | ".venv")
            )
        });
    !build_output
}

/// The source files of a folder, relative paths to contents.
fn tree(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, PromoteError> {
    let mut files = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        for entry in std::fs::read_dir(&abs).map_err(io(&abs))? {
            let entry = entry.map_err(io(&abs))?;
            let rel = rel.join(entry.file_name());
            if !is_source(&rel) {
                continue;
            }
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_dir() {
                stack.push(rel);
            } else if kind.is_file() {
                let path = entry.path();
                files.insert(rel, std::fs::read(&path).map_err(io(&path))?);
            }
        }
    }
    Ok(files)
}

fn write_tree(dir: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> Result<(), PromoteError> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    Ok(())
}

async fn promote_tool(
    options: &Options,
    skill: &Path,
    manifest: &Manifest,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<PromotedTool, PromoteError> {
    let name = manifest.name.clone();
    let tools_dir = &options.settings.tools_dir;
    let target = tools_dir.join(&name);
    let source_id = skill.display().to_string();
    let source = tree(skill)?;
    let change = if target.exists() {
        let marker = std::fs::read_to_string(target.join(SOURCE_FILE)).ok();
        if marker.as_deref().map(str::trim) != Some(source_id.as_str()) {
            return Err(PromoteError::NameTaken {
                name,
                from: skill.to_owned(),
                to: target,
            });
        }
        if tree(&target)? == source {
            ToolChange::Unchanged
        } else {
            ToolChange::Updated
        }
    } else {
        ToolChange::Added
    };
    let mut promoted = PromotedTool {
        name: name.clone(),
        from: skill.to_owned(),
        to: target.clone(),
        change,
        cases_passed: 0,
        secrets: manifest.secret_vars()?,
        installs: BTreeMap::new(),
    };
    if change == ToolChange::Unchanged {
        progress(&format!("{name}: unchanged"));
        return Ok(promoted);
    }

    progress(&format!("{name}: building {}", skill.display()));
    let owned = skill.to_owned();
    let cache = crate::qa::python_cache(&options.settings);
    let built = tokio::task::spawn_blocking(move || {
        crate::build::build_tool_cached(&owned, &cache, &mut |_| {})
    })
    .await
    .map_err(|e| io(skill)(std::io::Error::other(e)))?;
    built.map_err(|source| PromoteError::Build {
        name: name.clone(),
        source: Box::new(source),
    })?;

    // Staged beside the target (one filesystem, so the swap is renames),
    // under a dot-name the tools-folder watcher never loads.
    std::fs::create_dir_all(tools_dir).map_err(io(tools_dir))?;
    let staging = tools_dir.join(format!(".promote-{name}"));
    let _ = std::fs::remove_dir_all(&staging);
    write_tree(&staging, &source)?;
    let component = std::fs::read(skill.join(COMPONENT_FILE)).map_err(io(skill))?;
    std::fs::write(staging.join(COMPONENT_FILE), &component).map_err(io(&staging))?;
    std::fs::write(staging.join(SOURCE_FILE), format!("{source_id}\n")).map_err(io(&staging))?;

    progress(&format!("{name}: running its cases"));
    let mut settings = options.settings.clone();
    settings
        .secret_grants
        .grant(&name, promoted.secrets.clone());
    let checked = check_staged(&staging, &name, &settings).await;
    let cases_passed = match checked {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    promoted.cases_passed = cases_passed;

    let old = tools_dir.join(format!(".promote-old-{name}"));
    let _ = std::fs::remove_dir_all(&old);
    if target.exists() {
        std::fs::rename(&target, &old).map_err(io(&target))?;
    }
    std::fs::rename(&staging, &target).map_err(io(&target))?;
    let _ = std::fs::remove_dir_all(&old);
    progress(&format!(
        "{name}: {} -> {}",
        skill.display(),
        target.display()
    ));

    if let Some(key) = &options.admin_key {
        let manifest_text = std::fs::read(target.join(MANIFEST_FILE)).map_err(io(&target))?;
        // The tool's guide travels with it: served as its prompt and skill.
        let skill_md = std::fs::read(target.join(crate::qa::SKILL_FILE)).ok();
        for url in &options.admin_urls {
            progress(&format!("{name}: installing into {url}"));
            let outcome = match install::upload(
                url,
                key,
                &name,
                &manifest_text,
                &component,
                skill_md.as_deref(),
            )
            .await
            {
                Ok(answer) => InstallOutcome::Answered(answer),
                Err(e) => InstallOutcome::Unreachable {
                    error: e.to_string(),
                },
            };
            promoted.installs.insert(url.clone(), outcome);
        }
    }
    Ok(promoted)
}

/// Loads the staged tool and runs its cases; the number that passed.
async fn check_staged(
    staging: &Path,
    name: &str,
    settings: &Settings,
) -> Result<usize, PromoteError> {
    // Loading checks exports, imports and the definition with placeholder
    // secrets: promotion never calls a real upstream.
    let runtime = Runtime::with_secrets(
        settings.clone(),
        Arc::new(|_| Some("promote-placeholder".to_owned())),
    )?;
    runtime
        .load_dir(staging)
        .await
        .map_err(|source| PromoteError::Load {
            name: name.to_owned(),
            source: Box::new(source),
        })?;
    let results = crate::tooltest::run(staging, settings)
        .await
        .map_err(|source| PromoteError::Tests {
            name: name.to_owned(),
            source: Box::new(source),
        })?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.verdict {
            Verdict::Passed => None,
            Verdict::Failed(why) => Some(format!("{}: {why}", r.name)),
        })
        .collect();
    if !failed.is_empty() {
        return Err(PromoteError::CasesFailed {
            name: name.to_owned(),
            failed,
        });
    }
    Ok(results.len())
}

/// Merges each operators' field file into the registry.
fn promote_fields(from_dir: &Path, to_dir: &Path) -> Result<Vec<PromotedFields>, PromoteError> {
    let entries = match std::fs::read_dir(from_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(from_dir)(e)),
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut promoted = Vec::new();
    for from in files {
        let Some(file_name) = from.file_name() else {
            continue;
        };
        let to = to_dir.join(file_name);
        let change = merge_fields(&from, &to)?;
        promoted.push(PromotedFields { from, to, change });
    }
    Ok(promoted)
}

fn merge_fields(from: &Path, to: &Path) -> Result<FieldsChange, PromoteError> {
    let source = Integration::read(from).map_err(|errors| PromoteError::FieldFile { errors })?;
    let source_bytes = std::fs::read(from).map_err(io(from))?;
    if !to.exists() {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(to, &source_bytes).map_err(io(to))?;
        return Ok(FieldsChange::Added);
    }
    let target_bytes = std::fs::read(to).map_err(io(to))?;
    if target_bytes == source_bytes {
        return Ok(FieldsChange::Unchanged);
    }
    let target = Integration::read(to).map_err(|errors| PromoteError::FieldFile { errors })?;
    for (field, def) in &source.fields {
        if target.fields.get(field).is_some_and(|t| t != def) {
            return Err(PromoteError::FieldConflict {
                from: from.to_owned(),
                to: to.to_owned(),
                field: field.clone(),
            });
        }
    }
    let only_from: Vec<String> = source
        .fields
        .keys()
        .filter(|f| !target.fields.contains_key(*f))
        .cloned()
        .collect();
    let only_to: Vec<String> = target
        .fields
        .keys()
        .filter(|f| !source.fields.contains_key(*f))
        .cloned()
        .collect();
    match (only_from.is_empty(), only_to.is_empty()) {
        // Same definitions, different text (comments, order): the registry's stands.
        (true, true) => Ok(FieldsChange::Unchanged),
        (false, true) => {
            std::fs::write(to, &source_bytes).map_err(io(to))?;
            Ok(FieldsChange::Updated { added: only_from })
        }
        (true, false) => {
            std::fs::write(from, &target_bytes).map_err(io(from))?;
            Ok(FieldsChange::SyncedBack { added: only_to })
        }
        (false, false) => Err(PromoteError::FieldsDiverged {
            from: from.to_owned(),
            to: to.to_owned(),
            only_from,
            only_to,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "integration: acme\nfields:\n";
    fn field(name: &str, description: &str) -> String {
        format!(
            "  {name}:\n    display_name: {name}\n    description: {description}\n    type: string\n    nullable: false\n"
        )
    }

    fn files(from: &str, to: Option<&str>) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("ws"), dir.path().join("reg"));
        std::fs::create_dir_all(&a).expect("mkdir");
        std::fs::create_dir_all(&b).expect("mkdir");
        std::fs::write(a.join("acme.yaml"), from).expect("write");
        if let Some(to) = to {
            std::fs::write(b.join("acme.yaml"), to).expect("write");
        }
        (dir, a.join("acme.yaml"), b.join("acme.yaml"))
    }

    #[test]
    fn a_new_field_file_is_added_then_unchanged() {
        let text = format!("{HEAD}{}", field("plan", "The billing plan."));
        let (_d, from, to) = files(&text, None);
        assert_eq!(merge_fields(&from, &to).ok(), Some(FieldsChange::Added));
        assert_eq!(std::fs::read_to_string(&to).ok(), Some(text));
        assert_eq!(merge_fields(&from, &to).ok(), Some(FieldsChange::Unchanged));
    }

    #[test]
    fn new_fields_go_in_and_missing_ones_come_back() {
        let one = format!("{HEAD}{}", field("plan", "The billing plan."));
        let two = format!("{one}{}", field("seats", "Seats paid for."));
        let (_d, from, to) = files(&two, Some(&one));
        assert_eq!(
            merge_fields(&from, &to).ok(),
            Some(FieldsChange::Updated {
                added: vec!["seats".into()]
            })
        );
        assert_eq!(std::fs::read_to_string(&to).ok(), Some(two.clone()));

        let (_d, from, to) = files(&one, Some(&two));
        assert_eq!(
            merge_fields(&from, &to).ok(),
            Some(FieldsChange::SyncedBack {
                added: vec!["seats".into()]
            })
        );
        assert_eq!(std::fs::read_to_string(&from).ok(), Some(two));
    }

    #[test]
    fn a_conflicting_definition_is_an_error_and_nothing_is_written() {
        let ours = format!("{HEAD}{}", field("plan", "The plan the customer chose."));
        let theirs = format!("{HEAD}{}", field("plan", "The billing plan."));
        let (_d, from, to) = files(&ours, Some(&theirs));
        assert!(matches!(
            merge_fields(&from, &to),
            Err(PromoteError::FieldConflict { ref field, .. }) if field == "plan"
        ));
        assert_eq!(std::fs::read_to_string(&to).ok(), Some(theirs));
        assert_eq!(std::fs::read_to_string(&from).ok(), Some(ours));
    }

    #[test]
    fn diverged_files_are_an_error() {
        let a = format!("{HEAD}{}", field("plan", "The billing plan."));
        let b = format!("{HEAD}{}", field("seats", "Seats paid for."));
        let (_d, from, to) = files(&a, Some(&b));
        assert!(matches!(
            merge_fields(&from, &to),
            Err(PromoteError::FieldsDiverged { ref only_from, ref only_to, .. })
                if only_from == &["plan"] && only_to == &["seats"]
        ));
    }

    #[test]
    fn build_outputs_are_not_source() {
        assert!(is_source(Path::new("scripts/x.py")));
        assert!(!is_source(Path::new("tool.wasm")));
        assert!(!is_source(Path::new("scripts/__pycache__/x.pyc")));
        assert!(!is_source(Path::new(SOURCE_FILE)));
    }
}

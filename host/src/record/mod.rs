//! `gateway fixtures record <tool-dir> '<input>'`: one call of a built tool
//! against its real upstream, with the operator's own credentials, kept as
//! fixtures `gateway tool test` replays offline (docs/python-tools.md,
//! "Recording fixtures").
//!
//! The call runs through the same runtime as `gateway call`: the same
//! policy, limits and secret injection. The runtime is given an observer
//! ([`crate::outbound::observe`]) that sees each response as the guest read
//! it, after the outbound door scrubbed the tool's secrets; every byte
//! written goes through that door's redactor once more. Response headers
//! are not kept (the fixture server does not replay them).

mod cases;
pub mod dotenv;
pub mod naming;
mod routes;
mod toml_out;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;

use self::cases::tests_text;
pub use self::dotenv::{Dotenv, DotenvError};
use self::routes::{OldRoutes, new_routes, read_routes, route_files, url_config_keys};
use crate::fixtures::{FixtureFileError, ROUTES_FILE, Routes};
use crate::manifest::{MANIFEST_FILE, Manifest, ManifestError};
use crate::outbound::observe::{Exchange, ExchangeObserver};
use crate::outbound::redact::{MIN_SECRET_BYTES, Redactor};
use crate::runtime::{CallError, LoadError, Runtime, RuntimeError, SecretSource};
use crate::settings::Settings;
use crate::tooltest::{TESTS_FILE, TestError, check_cases};

/// The folder of a tool's fixtures.
const FIXTURES_DIR: &str = "fixtures";

/// What to do with fixtures already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Refuse when `fixtures/routes.toml` exists.
    #[default]
    Create,
    /// Add the new routes to it; one with the same method, path, query and
    /// body as a new one is replaced.
    Append,
    /// Write a new `routes.toml` in place of the old one.
    Force,
}

/// Where a bound secret's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOrigin {
    /// The process environment.
    Environment,
    /// This `.env` file.
    Dotenv(PathBuf),
}

/// The operator's credentials: the environment, then a `.env` file.
/// `Debug` never shows a value.
#[derive(Clone)]
pub struct Credentials {
    dotenv: Dotenv,
    env: SecretSource,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("dotenv", &self.dotenv)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Values from `env` first, then from `dotenv`.
    pub fn new(dotenv: Dotenv, env: SecretSource) -> Self {
        Self { dotenv, env }
    }

    /// The process environment, then the nearest `.env` from `cwd` up to
    /// the repository root ([`Dotenv::discover`]).
    pub fn discover(cwd: &Path) -> Result<Self, DotenvError> {
        Ok(Self::new(
            Dotenv::discover(cwd)?,
            Arc::new(|var| std::env::var(var).ok()),
        ))
    }

    /// The `.env` file read, if one was found.
    pub fn dotenv_file(&self) -> Option<&Path> {
        self.dotenv.file.as_deref()
    }

    fn lookup(&self, var: &str) -> Option<(String, SecretOrigin)> {
        if let Some(value) = (self.env)(var) {
            return Some((value, SecretOrigin::Environment));
        }
        let file = self.dotenv.file.clone()?;
        self.dotenv
            .get(var)
            .map(|v| (v.to_string(), SecretOrigin::Dotenv(file)))
    }
}

/// Why nothing (or not everything) was recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The input is not a JSON object.
    #[error("input: {problem}")]
    Input {
        /// What is wrong with it.
        problem: String,
    },
    /// The tool's manifest is unreadable or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The `.env` file is unreadable or has a bad line.
    #[error(transparent)]
    Dotenv(#[from] DotenvError),
    /// A variable the manifest binds is set nowhere.
    #[error("{var} is bound by the manifest's [http.secret_headers] but is not set in the environment{}", match .dotenv { Some(f) => format!(" or in {}", f.display()), None => " and no .env file was found (looked from the current folder up to the repository root)".to_string() })]
    MissingSecret {
        /// The variable.
        var: String,
        /// The `.env` file read, if any.
        dotenv: Option<PathBuf>,
    },
    /// A value too short to be found again in a response: it could not be
    /// scrubbed from the recording.
    #[error(
        "{var} is shorter than {min} bytes: no credential is, and a value that short cannot be scrubbed from a recording"
    )]
    ShortSecret {
        /// The variable.
        var: String,
        /// The shortest value scrubbed.
        min: usize,
    },
    /// `fixtures/routes.toml` exists and neither `--append` nor `--force` was given.
    #[error("{} exists; pass --append to add the new routes to it (a route with the same method, path, query and body is replaced) or --force to write a new one in its place", file.display())]
    RoutesExist {
        /// The file.
        file: PathBuf,
    },
    /// An existing fixture file cannot be edited in place.
    #[error("{}: {problem}", file.display())]
    NotEditable {
        /// The file.
        file: PathBuf,
        /// Why.
        problem: String,
    },
    /// `routes.toml` is invalid (before or after recording).
    #[error(transparent)]
    Fixture(#[from] FixtureFileError),
    /// `tests.toml` is invalid (before or after recording).
    #[error(transparent)]
    Tests(#[from] TestError),
    /// The sandbox could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The tool did not load (build it first with `gateway tool build`).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The call failed; nothing was written.
    #[error("the call failed, nothing was written: [{}] {}", .0.code(), .0)]
    Call(CallError),
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A secret the recording bound, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundSecret {
    /// The variable.
    pub name: String,
    /// Where its value came from.
    pub origin: SecretOrigin,
    /// Whether the upstream quoted it back: its marker is in the recording.
    pub echoed: bool,
}

/// One response written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    /// File name inside `fixtures/`.
    pub file: String,
    /// The request method.
    pub method: String,
    /// The route's path and query.
    pub target: String,
    /// The response status.
    pub status: u16,
    /// Body bytes written.
    pub bytes: usize,
}

/// What happened to `routes.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutesOutcome {
    /// A new file with these routes.
    Created {
        /// Routes written.
        routes: usize,
    },
    /// Routes added to the existing file.
    Appended {
        /// New routes.
        added: usize,
        /// Old routes replaced by a new one with the same request.
        replaced: usize,
        /// Old routes kept.
        kept: usize,
    },
    /// The old file replaced (`--force`).
    Replaced {
        /// Routes written.
        routes: usize,
        /// Routes the old file had.
        previous: usize,
    },
}

/// What happened to `tests.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// A case for the input was added (to a new file when `created`).
    Added {
        /// The case name.
        name: String,
        /// Whether `tests.toml` was created.
        created: bool,
    },
    /// A case with the same input was there already and is kept as it is.
    Kept {
        /// Its name.
        name: String,
    },
    /// The output is not a JSON object, which `expect` cannot describe.
    NotAnObject,
}

/// What a recording wrote, for the summary.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The fixtures folder.
    pub fixtures_dir: PathBuf,
    /// The tool's output (scrubbed).
    pub output: Value,
    /// The responses written, in the order they ended.
    pub files: Vec<RecordedFile>,
    /// Body bytes written.
    pub bytes: usize,
    /// Responses to a request already recorded in this call (the first is kept).
    pub repeated: usize,
    /// `routes.toml`.
    pub routes: RoutesOutcome,
    /// `tests.toml`.
    pub case: CaseOutcome,
    /// The secrets bound, by name.
    pub secrets: Vec<BoundSecret>,
    /// The `upstream_config` keys the replay points at the fixture server.
    pub upstream_config: Vec<String>,
    /// What the operator should check.
    pub warnings: Vec<String>,
}

impl Recording {
    /// The summary an operator reads: one line per response, then what
    /// happened to each file, the secrets by name, and the warnings.
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                format!(
                    "  {} {} -> {} {} ({} B)",
                    f.method, f.target, f.status, f.file, f.bytes
                )
            })
            .collect();
        let repeated = if self.repeated > 0 {
            format!(" ({} repeated request(s) kept once)", self.repeated)
        } else {
            String::new()
        };
        lines.push(format!(
            "recorded {} response(s), {} bytes, into {}{repeated}",
            self.files.len(),
            self.bytes,
            self.fixtures_dir.display()
        ));
        lines.push(match self.routes {
            RoutesOutcome::Created { routes } => {
                format!("{ROUTES_FILE}: written, {routes} route(s)")
            }
            RoutesOutcome::Appended {
                added,
                replaced,
                kept,
            } => format!(
                "{ROUTES_FILE}: appended, {added} new route(s), {replaced} replaced, {kept} kept"
            ),
            RoutesOutcome::Replaced { routes, previous } => format!(
                "{ROUTES_FILE}: replaced (--force), {routes} route(s) in place of {previous}"
            ),
        });
        lines.push(match &self.case {
            CaseOutcome::Added {
                name,
                created: true,
            } => format!("{TESTS_FILE}: created with case {name:?}"),
            CaseOutcome::Added { name, .. } => format!("{TESTS_FILE}: added case {name:?}"),
            CaseOutcome::Kept { name } => {
                format!("{TESTS_FILE}: a case with this input is there already ({name:?}), kept as it is")
            }
            CaseOutcome::NotAnObject => {
                format!("{TESTS_FILE}: unchanged (the output is not a JSON object)")
            }
        });
        if self.secrets.is_empty() {
            lines.push("secrets: none bound".into());
        }
        for s in &self.secrets {
            let origin = match &s.origin {
                SecretOrigin::Environment => "the environment".to_string(),
                SecretOrigin::Dotenv(file) => file.display().to_string(),
            };
            let echoed = if s.echoed {
                " (the upstream quoted it back: see [redacted:...] in the files)"
            } else {
                ""
            };
            lines.push(format!(
                "secret {} bound from {origin}, scrubbed from every file{echoed}",
                s.name
            ));
        }
        lines.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        lines
    }
}

/// Collects the exchanges of the recorded call.
#[derive(Debug, Default)]
struct Recorder {
    exchanges: Mutex<Vec<Exchange>>,
}

impl ExchangeObserver for Recorder {
    fn exchange(&self, exchange: Exchange) {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(exchange);
    }
}

impl Recorder {
    fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.exchanges.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Runs the built tool in `dir` once with `input` against its real
/// upstream, with secrets from `credentials` and the deployment's
/// `base` settings (policy overrides, private-address grants, timeouts),
/// and writes what it fetched into `dir/fixtures/`.
pub async fn record(
    dir: &Path,
    input: &str,
    base: &Settings,
    credentials: &Credentials,
    mode: Mode,
) -> Result<Recording, RecordError> {
    let input_value: Value = serde_json::from_str(input).map_err(|e| RecordError::Input {
        problem: e.to_string(),
    })?;
    let Value::Object(input_map) = &input_value else {
        return Err(RecordError::Input {
            problem: "must be a JSON object".into(),
        });
    };
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
    let fixtures = dir.join(FIXTURES_DIR);
    let routes_file = fixtures.join(ROUTES_FILE);
    let tests_file = fixtures.join(TESTS_FILE);

    // Everything already there is checked before the upstream is called.
    let old_routes = match (routes_file.exists(), mode) {
        (false, _) => OldRoutes::None,
        (true, Mode::Create) => return Err(RecordError::RoutesExist { file: routes_file }),
        (true, Mode::Append) => {
            let (preamble, routes) = read_routes(&routes_file)?;
            OldRoutes::Append { preamble, routes }
        }
        // Replaced whole: whatever it holds (even a broken file) goes.
        (true, Mode::Force) => OldRoutes::Force(route_files(&routes_file)),
    };
    let old_tests = if tests_file.exists() {
        let text = FixtureFileError::read(&tests_file)?;
        check_cases(&tests_file, &text)?;
        Some(text)
    } else {
        None
    };

    // The operator's credentials, bound exactly as the manifest binds them.
    let bound = bind_secrets(&manifest, credentials)?;
    let mut settings = base.clone();
    settings
        .secret_grants
        .grant(&manifest.name, bound.iter().map(|b| b.name.clone()));
    let (output, exchanges, redactor) = run_once(dir, input, &settings, &bound).await?;

    // Which config keys point at the upstream, and where they point now.
    let old_tests_table = old_tests
        .as_deref()
        .map(|text| FixtureFileError::parse::<toml::Table>(&tests_file, text))
        .transpose()?;
    let upstream_config = old_tests_table
        .as_ref()
        .and_then(|t| t.get("upstream_config"))
        .and_then(toml::Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .filter(|keys| !keys.is_empty())
        .unwrap_or_else(|| url_config_keys(&manifest));
    let config = manifest.effective_config(&settings.overrides_for(&manifest.name));
    let bases: Vec<Url> = upstream_config
        .iter()
        .filter_map(|k| config.get(k))
        .filter_map(|v| Url::parse(v).ok())
        .collect();

    let mut warnings = Vec::new();
    let (mut routes, repeated) = new_routes(exchanges, &bases, &redactor, &mut warnings);

    // Names: nothing on disk is overwritten but what the old routes owned.
    let (routes_outcome, routes_text) = routes::plan(old_routes, &mut routes, files_in(&fixtures));

    // tests.toml, whole.
    let secret_names: Vec<String> = bound.iter().map(|b| b.name.clone()).collect();
    let (tests_text, case) = tests_text(
        old_tests.as_deref(),
        old_tests_table.as_ref(),
        &upstream_config,
        &secret_names,
        input_map,
        &output,
        &mut warnings,
    )?;
    let tests_text = tests_text.map(|t| redactor.redact_str(&t).into_owned());
    let routes_text = redactor.redact_str(&routes_text).into_owned();

    // Write: bodies first, then the files that name them.
    std::fs::create_dir_all(&fixtures).map_err(|source| RecordError::Write {
        path: fixtures.clone(),
        source,
    })?;
    let mut files = Vec::with_capacity(routes.len());
    let mut everything = Vec::new();
    for route in &routes {
        let path = fixtures.join(&route.file);
        write_atomic(&path, &route.body)?;
        everything.extend_from_slice(&route.body);
        files.push(RecordedFile {
            file: route.file.clone(),
            method: route.key.method.clone().unwrap_or_default(),
            target: route.key.target(),
            status: route.status,
            bytes: route.body.len(),
        });
    }
    write_atomic(&routes_file, routes_text.as_bytes())?;
    if let Some(text) = &tests_text {
        write_atomic(&tests_file, text.as_bytes())?;
        everything.extend_from_slice(text.as_bytes());
    }
    everything.extend_from_slice(routes_text.as_bytes());
    // What `gateway tool test` reads must load.
    Routes::load(dir)?;
    let final_tests = FixtureFileError::read(&tests_file).ok();
    if let Some(text) = &final_tests {
        check_cases(&tests_file, text)?;
    }

    let echoed = marker_names(&everything);
    let secrets = bound
        .into_iter()
        .map(|b| BoundSecret {
            echoed: echoed.contains(&b.name),
            name: b.name,
            origin: b.origin,
        })
        .collect();
    Ok(Recording {
        fixtures_dir: fixtures,
        output,
        bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        repeated,
        routes: routes_outcome,
        case,
        secrets,
        upstream_config,
        warnings,
    })
}

/// A variable the manifest binds, with the operator's value (never
/// printed: no `Debug`).
struct Bound {
    name: String,
    value: String,
    origin: SecretOrigin,
}

/// Each variable the manifest's `[http.secret_headers]` read, from `credentials`.
fn bind_secrets(manifest: &Manifest, credentials: &Credentials) -> Result<Vec<Bound>, RecordError> {
    let mut bound = Vec::new();
    for name in manifest.secret_vars()? {
        let (value, origin) =
            credentials
                .lookup(&name)
                .ok_or_else(|| RecordError::MissingSecret {
                    var: name.clone(),
                    dotenv: credentials.dotenv_file().map(Path::to_path_buf),
                })?;
        if value.len() < MIN_SECRET_BYTES {
            return Err(RecordError::ShortSecret {
                var: name,
                min: MIN_SECRET_BYTES,
            });
        }
        bound.push(Bound {
            name,
            value,
            origin,
        });
    }
    Ok(bound)
}

/// One call of the tool in `dir` through the runtime `gateway call` uses,
/// with `bound` as its secrets and an observer at its outbound door: the
/// output (scrubbed), the exchanges, and the door's redactor.
async fn run_once(
    dir: &Path,
    input: &str,
    settings: &Settings,
    bound: &[Bound],
) -> Result<(Value, Vec<Exchange>, Arc<Redactor>), RecordError> {
    let values: BTreeMap<String, String> = bound
        .iter()
        .map(|b| (b.name.clone(), b.value.clone()))
        .collect();
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn ExchangeObserver> = Arc::clone(&recorder) as _;
    let runtime = Runtime::with_secrets(
        settings.clone(),
        Arc::new(move |var| values.get(var).cloned()),
    )?
    .with_observer(observer);
    let tool = runtime.load_dir(dir).await?;
    let report = runtime.call(&tool, input).await;
    let mut output = report.result.map_err(RecordError::Call)?;
    let redactor = Arc::clone(tool.redactor());
    // The call's store is gone: every exchange has been handed over.
    drop(tool);
    drop(runtime);
    redactor.redact_json(&mut output);
    Ok((output, recorder.take(), redactor))
}

/// Every name inside a `[redacted:...]` marker in `bytes`.
fn marker_names(bytes: &[u8]) -> BTreeSet<String> {
    const MARKER: &[u8] = b"[redacted:";
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&bytes[from..], MARKER) {
        let start = from + at + MARKER.len();
        let Some(len) = bytes[start..].iter().position(|&b| b == b']') else {
            break;
        };
        for name in String::from_utf8_lossy(&bytes[start..start + len]).split(',') {
            names.insert(name.to_string());
        }
        from = start + len;
    }
    names
}

/// File names directly inside `dir` (none if it does not exist).
fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

/// Writes `bytes` to `path` through a temporary file beside it, so a
/// reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RecordError> {
    let err = |source| RecordError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.recording"));
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn markers_name_their_secrets() {
        let names = marker_names(b"a [redacted:A] b [redacted:B,C] [redacted:");
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["A", "B", "C"]);
    }
}

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

pub mod dotenv;
pub mod naming;
mod toml_out;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use url::Url;

pub use self::dotenv::{Dotenv, DotenvError};
use self::naming::RequestShape;
use self::toml_out::{Block, ends_with_newline, split_blocks, strict, subset};
use crate::fixtures::{FixtureFileError, ROUTES_FILE, Routes};
use crate::manifest::{MANIFEST_FILE, Manifest, ManifestError};
use crate::outbound::observe::{Exchange, ExchangeObserver};
use crate::outbound::redact::{MIN_SECRET_BYTES, Redactor};
use crate::runtime::{CallError, LoadError, Runtime, RuntimeError, SecretSource};
use crate::settings::Settings;
use crate::tooltest::{TESTS_FILE, TestError, check_cases};

/// The folder of a tool's fixtures.
const FIXTURES_DIR: &str = "fixtures";
/// The value `tests.toml` gives each secret: the fixture server ignores it.
const PLACEHOLDER: &str = "placeholder";
/// Longest case name taken from the input.
const MAX_CASE_NAME: usize = 80;

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

/// A route about to be written.
#[derive(Debug)]
struct NewRoute {
    key: RouteKey,
    status: u16,
    json_body: Option<toml::Table>,
    /// The request body as the file name's hash sees it.
    request_body: Option<Vec<u8>>,
    body: Vec<u8>,
    json: bool,
    file: String,
}

/// What tells routes apart: method, path, decoded query, JSON body.
#[derive(Debug, Clone, PartialEq)]
struct RouteKey {
    method: Option<String>,
    path: String,
    raw_query: Option<String>,
    query: Vec<(String, String)>,
    json_body: Option<Value>,
}

impl RouteKey {
    fn new(
        method: Option<&str>,
        path: &str,
        query: Option<&str>,
        json_body: Option<Value>,
    ) -> Self {
        let mut pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        pairs.sort();
        Self {
            method: method.map(str::to_ascii_uppercase),
            path: path.to_string(),
            raw_query: query.filter(|q| !q.is_empty()).map(str::to_string),
            query: pairs,
            json_body,
        }
    }

    fn same_request(&self, other: &Self) -> bool {
        self.method == other.method
            && self.path == other.path
            && self.query == other.query
            && self.json_body == other.json_body
    }

    fn target(&self) -> String {
        match &self.raw_query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// The `routes.toml` a recording finds.
enum OldRoutes {
    /// None there.
    None,
    /// Edited in place (`--append`): the text before the first route and each route.
    Append {
        preamble: String,
        routes: Vec<OldRoute>,
    },
    /// Replaced (`--force`): the file each old route named.
    Force(Vec<String>),
}

/// The `file` of each route in `file`, as far as it parses (a file
/// replaced by `--force` may be broken).
fn route_files(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
        .and_then(|t| t.get("route").and_then(toml::Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.get("file").and_then(toml::Value::as_str))
        .map(str::to_string)
        .collect()
}

/// An existing `[[route]]` block, read.
struct OldRoute {
    block: Block,
    key: RouteKey,
    file: String,
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
    let mut bound: Vec<(String, String, SecretOrigin)> = Vec::new();
    for var in manifest.secret_vars()? {
        let (value, origin) =
            credentials
                .lookup(&var)
                .ok_or_else(|| RecordError::MissingSecret {
                    var: var.clone(),
                    dotenv: credentials.dotenv_file().map(Path::to_path_buf),
                })?;
        if value.len() < MIN_SECRET_BYTES {
            return Err(RecordError::ShortSecret {
                var,
                min: MIN_SECRET_BYTES,
            });
        }
        bound.push((var, value, origin));
    }
    let mut settings = base.clone();
    settings
        .secret_grants
        .grant(&manifest.name, bound.iter().map(|(n, _, _)| n.clone()));
    let values: BTreeMap<String, String> = bound
        .iter()
        .map(|(n, v, _)| (n.clone(), v.clone()))
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
    drop(tool);
    drop(runtime);
    redactor.redact_json(&mut output);
    let exchanges = recorder.take();

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
    let mut taken = files_in(&fixtures);
    let (outcome_of, kept_blocks, preamble) = match &old_routes {
        OldRoutes::None => (RoutesPlan::Create, Vec::new(), String::new()),
        OldRoutes::Force(files) => {
            for file in files {
                taken.remove(file);
            }
            (
                RoutesPlan::Force {
                    previous: files.len(),
                },
                Vec::new(),
                String::new(),
            )
        }
        OldRoutes::Append {
            preamble,
            routes: old,
        } => {
            let (replaced, kept): (Vec<&OldRoute>, Vec<&OldRoute>) = old
                .iter()
                .partition(|o| routes.iter().any(|n| n.key.same_request(&o.key)));
            let kept_files: BTreeSet<&str> = kept.iter().map(|o| o.file.as_str()).collect();
            // A replaced route's file is rewritten under its old name when
            // no kept route shares it.
            for o in &replaced {
                if !kept_files.contains(o.file.as_str()) && is_plain_name(&o.file) {
                    taken.remove(&o.file);
                    if let Some(n) = routes.iter_mut().find(|n| n.key.same_request(&o.key))
                        && n.file.is_empty()
                    {
                        n.file = o.file.clone();
                        taken.insert(o.file.clone());
                    }
                }
            }
            (
                RoutesPlan::Append {
                    replaced: replaced.len(),
                    kept: kept.len(),
                },
                kept.iter().map(|o| o.block.text.clone()).collect(),
                preamble.clone(),
            )
        }
    };
    for route in routes.iter_mut().filter(|r| r.file.is_empty()) {
        route.file = naming::file_name(
            RequestShape {
                method: route.key.method.as_deref().unwrap_or("GET"),
                path: &route.key.path,
                query: route.key.raw_query.as_deref(),
                body: route.request_body.as_deref(),
            },
            route.json,
            &mut taken,
        );
    }

    // routes.toml, whole.
    let mut routes_text = match outcome_of {
        RoutesPlan::Create | RoutesPlan::Force { .. } => String::from(ROUTES_HEADER),
        RoutesPlan::Append { .. } => {
            let mut text = ends_with_newline(preamble);
            for block in &kept_blocks {
                text.push_str(block);
            }
            ends_with_newline(text)
        }
    };
    for route in &routes {
        if !routes_text.is_empty() && !routes_text.ends_with("\n\n") {
            routes_text.push('\n');
        }
        routes_text.push_str(&route_block(route));
    }

    // tests.toml, whole.
    let secret_names: Vec<String> = bound.iter().map(|(n, _, _)| n.clone()).collect();
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
        .map(|(name, _, origin)| BoundSecret {
            echoed: echoed.contains(&name),
            name,
            origin,
        })
        .collect();
    let routes_outcome = match outcome_of {
        RoutesPlan::Create => RoutesOutcome::Created {
            routes: routes.len(),
        },
        RoutesPlan::Force { previous } => RoutesOutcome::Replaced {
            routes: routes.len(),
            previous,
        },
        RoutesPlan::Append { replaced, kept } => RoutesOutcome::Appended {
            added: routes.len() - replaced.min(routes.len()),
            replaced,
            kept,
        },
    };
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

/// How `routes.toml` is being written.
#[derive(Debug, Clone, Copy)]
enum RoutesPlan {
    Create,
    Append { replaced: usize, kept: usize },
    Force { previous: usize },
}

const ROUTES_HEADER: &str = "\
# Recorded by `gateway fixtures record` from the tool's real upstream, with
# the tool's secrets scrubbed ([redacted:NAME]). Response headers are not
# kept. Format: docs/python-tools.md, \"Fixture routes\".
";

/// The exchanges as routes, the first of each request kept; and how many
/// repeated an earlier request.
fn new_routes(
    exchanges: Vec<Exchange>,
    bases: &[Url],
    redactor: &Redactor,
    warnings: &mut Vec<String>,
) -> (Vec<NewRoute>, usize) {
    let mut routes: Vec<NewRoute> = Vec::new();
    let mut repeated = 0;
    for exchange in exchanges {
        let path = match route_path(&exchange.url, bases) {
            Some(path) => path,
            None => {
                warnings.push(format!(
                    "{} {} was not sent under an upstream_config key's URL: `gateway tool test` will not send it to the fixture server",
                    exchange.method,
                    redactor.redact_str(exchange.url.as_str())
                ));
                exchange.url.path().to_string()
            }
        };
        let query = exchange.url.query().filter(|q| !q.is_empty());
        let request_json = exchange
            .request_body
            .as_ref()
            .filter(|b| !b.is_empty())
            .map(|b| serde_json::from_slice::<Value>(b));
        let json_body = match request_json {
            None => None,
            Some(Ok(Value::Object(map))) => {
                let (table, dropped) = subset(&map);
                if dropped > 0 {
                    warnings.push(format!(
                        "{} {path}: {dropped} value(s) of the request body cannot be written in TOML (null); the route matches without them",
                        exchange.method
                    ));
                }
                Some(table)
            }
            Some(_) => {
                warnings.push(format!(
                    "{} {path}: the request body is not a JSON object; the route matches any body",
                    exchange.method
                ));
                None
            }
        };
        let json_value = json_body
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok());
        let key = RouteKey::new(Some(exchange.method.as_str()), &path, query, json_value);
        if routes.iter().any(|r| r.key.same_request(&key)) {
            repeated += 1;
            continue;
        }
        if !exchange.complete {
            warnings.push(format!(
                "{} {}: the tool did not read the whole response; the recording holds the {} byte(s) it read",
                exchange.method,
                key.target(),
                exchange.body.len()
            ));
        }
        if exchange.status.is_redirection() {
            warnings.push(format!(
                "{} {}: a {} redirect is recorded without its Location header (the fixture server sends no headers)",
                exchange.method,
                key.target(),
                exchange.status.as_u16()
            ));
        }
        let body = redactor.redact(&exchange.body).into_owned();
        let request_body = match &key.json_body {
            Some(json) => serde_json::to_vec(json).ok(),
            None => exchange.request_body.map(|b| b.to_vec()),
        };
        routes.push(NewRoute {
            request_body,
            json: serde_json::from_slice::<Value>(&body).is_ok(),
            key,
            status: exchange.status.as_u16(),
            json_body,
            body,
            file: String::new(),
        });
    }
    (routes, repeated)
}

/// The route path for `url`: its path below the longest base URL it was
/// sent under (the replay points that base at the fixture server), or
/// `None` when it was sent under none of them.
fn route_path(url: &Url, bases: &[Url]) -> Option<String> {
    bases
        .iter()
        .filter(|b| {
            b.scheme() == url.scheme()
                && b.host_str() == url.host_str()
                && b.port_or_known_default() == url.port_or_known_default()
        })
        .filter_map(|b| {
            let prefix = b.path().trim_end_matches('/');
            let rest = url.path().strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((prefix.len(), rest))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, rest)| {
            if rest.is_empty() {
                "/".to_string()
            } else {
                rest.to_string()
            }
        })
}

/// Config keys whose manifest default is an http(s) URL: what a replay
/// points at the fixture server.
fn url_config_keys(manifest: &Manifest) -> Vec<String> {
    manifest
        .config
        .iter()
        .filter(|(_, v)| {
            Url::parse(v)
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https"))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// One `[[route]]` block.
fn route_block(route: &NewRoute) -> String {
    #[derive(Serialize)]
    struct RouteOut<'a> {
        method: &'a str,
        path: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        query: Option<&'a str>,
        status: u16,
        file: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        json_body: Option<&'a toml::Table>,
    }
    #[derive(Serialize)]
    struct RoutesOut<'a> {
        route: [RouteOut<'a>; 1],
    }
    let out = RoutesOut {
        route: [RouteOut {
            method: route.key.method.as_deref().unwrap_or("GET"),
            path: &route.key.path,
            query: route.key.raw_query.as_deref(),
            status: route.status,
            file: &route.file,
            json_body: route.json_body.as_ref(),
        }],
    };
    // Serialising plain strings, integers and a table cannot fail.
    toml::to_string(&out).unwrap_or_default()
}

/// Reads `routes.toml` for editing: its text before the first route and
/// one block per route, checked against the file's own parse.
fn read_routes(file: &Path) -> Result<(String, Vec<OldRoute>), RecordError> {
    let text = FixtureFileError::read(file)?;
    let whole: toml::Table = FixtureFileError::parse(file, &text)?;
    let count = whole
        .get("route")
        .and_then(toml::Value::as_array)
        .map_or(0, Vec::len);
    let (preamble, blocks) = split_blocks(&text, "route");
    let not_editable = |problem: String| RecordError::NotEditable {
        file: file.to_path_buf(),
        problem,
    };
    if blocks.len() != count {
        return Err(not_editable(format!(
            "{count} route(s) but {} `[[route]]` header line(s); write each route as its own [[route]] table, or pass --force",
            blocks.len()
        )));
    }
    let mut old = Vec::with_capacity(blocks.len());
    for block in blocks {
        let table: toml::Table = FixtureFileError::parse(file, &block.text)?;
        let route = table
            .get("route")
            .and_then(toml::Value::as_array)
            .and_then(|a| a.first())
            .and_then(toml::Value::as_table)
            .ok_or_else(|| not_editable(format!("line {}: not a route table", block.line)))?;
        let text_of = |k: &str| route.get(k).and_then(toml::Value::as_str);
        let path = text_of("path")
            .ok_or_else(|| not_editable(format!("line {}: route without a path", block.line)))?;
        let file_name = text_of("file")
            .ok_or_else(|| not_editable(format!("line {}: route without a file", block.line)))?;
        let json_body = route
            .get("json_body")
            .and_then(|b| serde_json::to_value(b).ok());
        let key = RouteKey::new(text_of("method"), path, text_of("query"), json_body);
        old.push(OldRoute {
            key,
            file: file_name.to_string(),
            block,
        });
    }
    Ok((preamble, old))
}

/// The new `tests.toml` text (`None`: unchanged) and what happened to the case.
fn tests_text(
    old: Option<&str>,
    old_table: Option<&toml::Table>,
    upstream_config: &[String],
    secrets: &[String],
    input: &serde_json::Map<String, Value>,
    output: &Value,
    warnings: &mut Vec<String>,
) -> Result<(Option<String>, CaseOutcome), RecordError> {
    let (input_table, dropped) = subset(input);
    if dropped > 0 {
        warnings.push(format!(
            "{dropped} input value(s) are null, which TOML cannot write: the case's input leaves them out"
        ));
    }
    let name = case_name(input);
    let Value::Object(_) = output else {
        return Ok((None, CaseOutcome::NotAnObject));
    };
    // A case with this input already: the operator's, kept as written.
    let input_json = serde_json::to_value(&input_table).ok();
    if let Some(existing) = old_table
        .and_then(|t| t.get("case"))
        .and_then(toml::Value::as_array)
        .and_then(|cases| {
            cases
                .iter()
                .filter_map(toml::Value::as_table)
                .find(|c| c.get("input").and_then(|i| serde_json::to_value(i).ok()) == input_json)
        })
    {
        let name = existing
            .get("name")
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_string();
        return Ok((None, CaseOutcome::Kept { name }));
    }
    let block = case_block(&name, input_table, output);

    let Some(old) = old else {
        let mut text = String::from(
            "# Cases `gateway tool test` runs against fixtures/routes.toml\n\
             # (docs/python-tools.md, \"Tool tests\").\n\n\
             # Config keys pointing at the upstream: the runner sets them to the fixture server.\n",
        );
        text.push_str(&format!(
            "upstream_config = {}\n",
            toml::Value::Array(
                upstream_config
                    .iter()
                    .cloned()
                    .map(toml::Value::String)
                    .collect()
            )
        ));
        if !secrets.is_empty() {
            text.push_str(
                "\n# Stand-ins for the secrets the manifest binds: the fixture server ignores them.\n[secrets]\n",
            );
            for var in secrets {
                text.push_str(&format!("{var} = \"{PLACEHOLDER}\"\n"));
            }
        }
        text.push('\n');
        text.push_str(&block);
        return Ok((
            Some(text),
            CaseOutcome::Added {
                name,
                created: true,
            },
        ));
    };

    let table = old_table.cloned().unwrap_or_default();
    let mut text = old.to_string();
    // Keys the runner needs that the operator has not written yet.
    if table
        .get("upstream_config")
        .and_then(toml::Value::as_array)
        .is_none_or(Vec::is_empty)
        && !upstream_config.is_empty()
    {
        if table.contains_key("upstream_config") {
            warnings.push("tests.toml: upstream_config is empty; list the config keys that point at the upstream".into());
        } else {
            let line = format!(
                "upstream_config = {}\n",
                toml::Value::Array(
                    upstream_config
                        .iter()
                        .cloned()
                        .map(toml::Value::String)
                        .collect()
                )
            );
            text = insert_before_first_table(&text, &line);
        }
    }
    let have: BTreeSet<&str> = table
        .get("secrets")
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let missing: Vec<&String> = secrets
        .iter()
        .filter(|v| !have.contains(v.as_str()))
        .collect();
    let mut secrets_table = String::new();
    if !missing.is_empty() {
        let lines: String = missing
            .iter()
            .map(|v| format!("{v} = \"{PLACEHOLDER}\"\n"))
            .collect();
        if !table.contains_key("secrets") {
            secrets_table = format!("[secrets]\n{lines}\n");
        } else if let Some(at) = text
            .split_inclusive('\n')
            .scan(0, |offset, line| {
                let start = *offset;
                *offset += line.len();
                Some((
                    start + line.len(),
                    line.split('#').next().unwrap_or("").trim() == "[secrets]",
                ))
            })
            .find_map(|(end, is)| is.then_some(end))
        {
            let mut edited = ends_with_newline(text[..at].to_string());
            edited.push_str(&lines);
            edited.push_str(&text[at..]);
            text = edited;
        } else {
            warnings.push(format!(
                "tests.toml: add {} to its secrets (written in a form this command does not edit)",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut text = ends_with_newline(text);
    if !text.is_empty() && !text.ends_with("\n\n") {
        text.push('\n');
    }
    text.push_str(&secrets_table);
    text.push_str(&block);
    Ok((
        Some(text),
        CaseOutcome::Added {
            name,
            created: false,
        },
    ))
}

/// `line` (a top-level key) placed before the file's first table header
/// and the comments directly above it, so it stays a top-level key.
fn insert_before_first_table(text: &str, line: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(first) = lines.iter().position(|l| l.trim_start().starts_with('[')) else {
        return format!("{}{line}", ends_with_newline(text.to_string()));
    };
    let mut at = first;
    while at > 0 && lines[at - 1].trim_start().starts_with('#') {
        at -= 1;
    }
    format!("{}{line}\n{}", lines[..at].concat(), lines[at..].concat())
}

/// `recorded: <input>`, cut to [`MAX_CASE_NAME`] characters.
fn case_name(input: &serde_json::Map<String, Value>) -> String {
    let shown = serde_json::to_string(input).unwrap_or_default();
    let mut name = format!("recorded: {shown}");
    if let Some((cut, _)) = name.char_indices().nth(MAX_CASE_NAME) {
        name.truncate(cut);
        name.push('…');
    }
    name
}

/// One `[[case]]` block expecting `output`: its values in `expect`, its
/// nulls in `expect_null`, and arrays holding a null matched as `contains`.
fn case_block(name: &str, input: toml::Table, output: &Value) -> String {
    #[derive(Serialize)]
    struct CaseOut<'a> {
        name: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        expect_null: Vec<String>,
        input: toml::Table,
        #[serde(rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
        match_paths: BTreeMap<String, String>,
        expect: toml::Table,
    }
    #[derive(Serialize)]
    struct CasesOut<'a> {
        case: [CaseOut<'a>; 1],
    }
    let mut nulls = Vec::new();
    let mut matches = BTreeMap::new();
    let expect = match expectation(output, &mut Vec::new(), &mut nulls, &mut matches) {
        Some(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let out = CasesOut {
        case: [CaseOut {
            name,
            expect_null: nulls,
            input,
            match_paths: matches,
            expect,
        }],
    };
    toml::to_string(&out).unwrap_or_default()
}

/// A step of a path in `expect_null` and `[case.match]`.
enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[2].c`, or `None` when a key cannot be written in that form.
fn path_text(path: &[Step], with_indices: bool) -> Option<String> {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if k.is_empty() || k.contains(['.', '[', ']']) {
                    return None;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) if with_indices => out.push_str(&format!("[{i}]")),
            Step::Index(_) => {}
        }
    }
    Some(out)
}

/// `value` as an expected TOML value; nulls go to `nulls` (as paths), and
/// an array holding a null is matched as `contains` with its other items.
/// `None` for a null, or a value that cannot be described.
fn expectation(
    value: &Value,
    path: &mut Vec<Step>,
    nulls: &mut Vec<String>,
    matches: &mut BTreeMap<String, String>,
) -> Option<toml::Value> {
    match value {
        Value::Null => {
            if let Some(p) = path_text(path, true).filter(|p| !p.is_empty()) {
                nulls.push(p);
            }
            None
        }
        Value::Object(map) => {
            let mut table = toml::Table::new();
            for (k, v) in map {
                path.push(Step::Key(k.clone()));
                if let Some(t) = expectation(v, path, nulls, matches) {
                    table.insert(k.clone(), t);
                }
                path.pop();
            }
            Some(toml::Value::Table(table))
        }
        Value::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            let mut holes = false;
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                match expectation(item, path, nulls, matches) {
                    Some(t) => kept.push(t),
                    None => holes = true,
                }
                path.pop();
            }
            if holes {
                // Exact matching needs every item: match the others as a subset.
                let key = path_text(path, false).filter(|p| !p.is_empty())?;
                matches.insert(key, "contains".into());
            }
            Some(toml::Value::Array(kept))
        }
        other => strict(other),
    }
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

/// A single file name, nothing that leaves the fixtures folder.
fn is_plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none()
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
    use serde_json::json;

    #[test]
    fn route_paths_are_relative_to_the_base_they_were_sent_under() {
        let bases = [
            Url::parse("https://api.example.com/v2").unwrap(),
            Url::parse("https://api.example.com").unwrap(),
        ];
        let path = |u: &str| route_path(&Url::parse(u).unwrap(), &bases);
        assert_eq!(
            path("https://api.example.com/v2/items?x=1").as_deref(),
            Some("/items")
        );
        assert_eq!(path("https://api.example.com/v2").as_deref(), Some("/"));
        assert_eq!(
            path("https://api.example.com/v20/x").as_deref(),
            Some("/v20/x")
        );
        assert_eq!(path("https://other.example.com/v2/items"), None);
        assert_eq!(path("http://api.example.com/v2/items"), None);
    }

    #[test]
    fn an_output_with_nulls_becomes_expect_and_expect_null() {
        let output = json!({
            "total": 3,
            "next": null,
            "items": [{"id": "a", "note": null}, null],
            "tags": ["x", "y"],
        });
        let block = case_block("c", toml::Table::new(), &output);
        let file = Path::new("tests.toml");
        assert_eq!(check_cases(file, &block).unwrap(), 1);
        let parsed: toml::Table = toml::from_str(&block).unwrap();
        let case = parsed["case"][0].as_table().unwrap();
        assert_eq!(
            serde_json::to_value(&case["expect_null"]).unwrap(),
            json!(["items[0].note", "items[1]", "next"])
        );
        assert_eq!(
            serde_json::to_value(&case["match"]).unwrap(),
            json!({"items": "contains"})
        );
        assert_eq!(
            serde_json::to_value(&case["expect"]).unwrap(),
            json!({"total": 3, "items": [{"id": "a"}], "tags": ["x", "y"]})
        );
        // And the runner's own comparison accepts the output it came from.
        let expectation = crate::tooltest::expect::Expectation {
            want: serde_json::to_value(&case["expect"]).unwrap(),
            arrays: crate::tooltest::expect::ArrayMode::Exact,
            paths: [(
                "items".to_string(),
                crate::tooltest::expect::ArrayMode::Contains,
            )]
            .into(),
            nulls: vec!["next".into(), "items[0].note".into(), "items[1]".into()],
        };
        assert_eq!(expectation.check(&output), Ok(()));
    }

    #[test]
    fn routes_are_read_block_by_block_or_refused_for_editing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("routes.toml");
        std::fs::write(
            &file,
            "# mine\n\n[[route]]\nmethod = \"get\"\npath = \"/a\"\nquery = \"y=2&x=1\"\nfile = \"a.json\"\n\n# b\n[[route]]\npath = \"/b\"\nfile = \"b.json\"\n[route.json_body]\nk = 1\n",
        )
        .unwrap();
        let (preamble, old) = read_routes(&file).unwrap();
        assert_eq!(preamble, "# mine\n\n");
        assert_eq!(old.len(), 2);
        // Method case, query order and encoding do not make another request.
        let a = RouteKey::new(Some("GET"), "/a", Some("x=1&y=%32"), None);
        assert!(old[0].key.same_request(&a));
        assert_eq!(old[0].file, "a.json");
        let b = RouteKey::new(None, "/b", None, Some(json!({"k": 1})));
        assert!(old[1].key.same_request(&b));
        assert!(!old[1].key.same_request(&RouteKey::new(
            Some("GET"),
            "/b",
            None,
            Some(json!({"k": 1}))
        )));
        assert!(old[1].block.text.starts_with("# b\n[[route]]"));

        // An inline array of routes has no blocks to replace.
        std::fs::write(&file, "route = [{ path = \"/a\", file = \"a.json\" }]\n").unwrap();
        let err = read_routes(&file).err().unwrap();
        assert!(matches!(err, RecordError::NotEditable { .. }), "{err:?}");
        std::fs::write(&file, "[[route]]\npath = 1\n").unwrap();
        let err = read_routes(&file).err().unwrap();
        assert!(matches!(err, RecordError::NotEditable { .. }), "{err:?}");
    }

    #[test]
    fn plain_names_stay_in_the_folder() {
        for (name, plain) in [
            ("a.json", true),
            ("../a.json", false),
            ("x/a.json", false),
            ("/etc/passwd", false),
            ("", false),
        ] {
            assert_eq!(is_plain_name(name), plain, "{name}");
        }
    }

    #[test]
    fn markers_name_their_secrets() {
        let names = marker_names(b"a [redacted:A] b [redacted:B,C] [redacted:");
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["A", "B", "C"]);
    }

    #[test]
    fn a_key_line_goes_above_the_first_table_and_its_comments() {
        let text = "# top\n\n# the secrets\n[secrets]\nA = \"x\"\n";
        let out = insert_before_first_table(text, "upstream_config = [\"b\"]\n");
        assert_eq!(
            out,
            "# top\n\nupstream_config = [\"b\"]\n\n# the secrets\n[secrets]\nA = \"x\"\n"
        );
        let parsed: toml::Table = toml::from_str(&out).unwrap();
        assert!(parsed["upstream_config"].is_array());
    }
}

//! `tool.toml`: what a tool may do. Parsed strictly: unknown keys, bad values
//! and out-of-range limits are errors naming the file and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::outbound::rules::{HttpEntrySpec, Rule, RuleError};
use crate::runtime::engine::MAX_MEMORY_BYTES;

/// File name of a tool's manifest inside its folder.
pub const MANIFEST_FILE: &str = "tool.toml";
/// File name of a tool's component inside its folder.
pub const COMPONENT_FILE: &str = "tool.wasm";

const MIB: u64 = 1024 * 1024;
/// Default linear memory: enough for JSON shaping, small enough to pack many calls.
const DEFAULT_MEMORY_MIB: u64 = 64;
/// Default wall-clock budget per call.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest call any manifest may ask for: agents wait on it.
const MAX_TIMEOUT_MS: u64 = 120_000;
/// Default upstream bytes per call (all response bodies together).
const DEFAULT_UPSTREAM_BYTES: u64 = 4 * MIB;
/// Ceiling on upstream bytes per call: a tool shapes data, it does not mirror it.
const MAX_UPSTREAM_BYTES: u64 = 64 * MIB;
/// Default output size: agents pay for every byte in tokens.
const DEFAULT_OUTPUT_BYTES: u64 = 256 * 1024;
/// Ceiling on output size.
const MAX_OUTPUT_BYTES: u64 = 4 * MIB;
/// Default bytes of a whole result: the JSON and its content blocks
/// (pictures, documents) together (docs/content.md).
const DEFAULT_CONTENT_BYTES: u64 = MIB;
/// Ceiling on a whole result: a chart or two, not a photo album.
const MAX_CONTENT_BYTES: u64 = 8 * MIB;
/// Default outbound requests per call.
const DEFAULT_REQUESTS: u32 = 32;
/// Ceiling on outbound requests per call (pagination, not crawling).
const MAX_REQUESTS: u32 = 256;
/// Longest tool name (MCP clients show it; some cap at 64).
const MAX_NAME_LEN: usize = 64;

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The manifest file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The manifest file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A value that parsed but is not acceptable.
    #[error("{file}: {key}: {problem}")]
    Invalid {
        /// The manifest file.
        file: PathBuf,
        /// Dotted key, e.g. `limits.memory_mib` or `http[1].host`.
        key: String,
        /// What is wrong with it.
        #[source]
        problem: Problem,
    },
    /// The name belongs to one of the gateway's built-in tools.
    #[error("{file}: name: {name:?} is the name of a built-in tool of the gateway; choose another")]
    ReservedName {
        /// The manifest file.
        file: PathBuf,
        /// The reserved name.
        name: String,
    },
    /// An `[[http]]` entry was refused.
    #[error("{file}: http[{index}]: {source}")]
    Http {
        /// The manifest file.
        file: PathBuf,
        /// Index of the entry (0-based, in file order).
        index: usize,
        /// The rule error.
        source: RuleError,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    integration: Option<String>,
    version: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    http: Vec<HttpEntrySpec>,
    files: Option<RawFiles>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFiles {
    dir: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory_mib: Option<u64>,
    timeout_ms: Option<u64>,
    upstream_bytes: Option<u64>,
    output_bytes: Option<u64>,
    content_bytes: Option<u64>,
    requests: Option<u32>,
}

/// Per-call limits, already range-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap per memory.
    pub memory_bytes: usize,
    /// Wall-clock budget for the whole call.
    pub timeout: Duration,
    /// Upstream response bytes per call.
    pub upstream_bytes: u64,
    /// Bytes of JSON the tool may return.
    pub output_bytes: usize,
    /// Bytes of a whole result: the JSON and every content block together.
    pub content_bytes: usize,
    /// Outbound requests per call.
    pub requests: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: usize::try_from(DEFAULT_MEMORY_MIB * MIB).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            upstream_bytes: DEFAULT_UPSTREAM_BYTES,
            output_bytes: usize::try_from(DEFAULT_OUTPUT_BYTES).unwrap_or(usize::MAX),
            content_bytes: usize::try_from(DEFAULT_CONTENT_BYTES).unwrap_or(usize::MAX),
            requests: DEFAULT_REQUESTS,
        }
    }
}

/// A parsed, validated tool manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it was read from.
    pub file: PathBuf,
    /// Tool name (also the MCP tool name).
    pub name: String,
    /// Field-registry slug.
    pub integration: Option<String>,
    /// Informational version.
    pub version: Option<String>,
    /// Deployment settings before gateway overrides.
    pub config: BTreeMap<String, String>,
    /// Outbound HTTP entries as written.
    pub http: Vec<HttpEntrySpec>,
    /// Absolute path of the read-only directory, if any.
    pub files_dir: Option<PathBuf>,
    /// Per-call limits.
    pub limits: Limits,
}

impl Manifest {
    /// Reads and validates `file`.
    pub fn load(file: &Path) -> Result<Self, ManifestError> {
        Self::parse(file, &read_text(file)?)
    }

    /// Validates manifest `text` as if read from `file` (relative paths resolve
    /// against the file's folder).
    pub fn parse(file: &Path, text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
        let invalid = |key: &str, problem: Problem| ManifestError::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            problem,
        };

        tool_name(&raw.name).map_err(|p| invalid("name", p.into()))?;
        if crate::mcp::builtin::is_builtin(&raw.name) {
            return Err(ManifestError::ReservedName {
                file: file.to_path_buf(),
                name: raw.name,
            });
        }
        if let Some(slug) = &raw.integration {
            integration_slug(slug).map_err(|p| invalid("integration", p.into()))?;
        }
        if let Some(version) = &raw.version {
            check_text(version).map_err(|p| invalid("version", p))?;
        }
        for (key, value) in &raw.config {
            check_config_key(key).map_err(|p| invalid(&format!("config.{key}"), p))?;
            check_text(value).map_err(|p| invalid(&format!("config.{key}"), p))?;
        }
        let files_dir = match &raw.files {
            Some(files) => {
                Some(resolve_files_dir(file, &files.dir).map_err(|p| invalid("files.dir", p))?)
            }
            None => None,
        };
        let limits = limits(&raw.limits).map_err(|(key, p)| invalid(key, p))?;
        let manifest = Self {
            file: file.to_path_buf(),
            name: raw.name,
            integration: raw.integration,
            version: raw.version,
            config: raw.config,
            http: raw.http,
            files_dir,
            limits,
        };
        // Check the entries against the manifest's own config now, so a bad
        // entry is reported at load time even before gateway overrides apply.
        manifest.rules(&manifest.config)?;
        Ok(manifest)
    }

    /// The manifest's config with the gateway's overrides applied.
    pub fn effective_config(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut config = self.config.clone();
        config.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        config
    }

    /// The typed outbound rules, with `${config.NAME}` resolved from `config`.
    pub fn rules(&self, config: &BTreeMap<String, String>) -> Result<Vec<Rule>, ManifestError> {
        let lookup = |name: &str| config.get(name).cloned();
        self.http
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                Rule::from_spec(spec, &lookup).map_err(|source| ManifestError::Http {
                    file: self.file.clone(),
                    index,
                    source,
                })
            })
            .collect()
    }

    /// Every environment variable the manifest's `[http.secret_headers]`
    /// bind, in name order (what an admin must grant in gateway.toml).
    pub fn secret_vars(&self) -> Result<std::collections::BTreeSet<String>, ManifestError> {
        Ok(self
            .rules(&self.config)?
            .iter()
            .flat_map(|rule| rule.secret_headers.iter())
            .flat_map(|h| h.template.env_vars().map(str::to_owned).collect::<Vec<_>>())
            .collect())
    }

    /// The folder holding the manifest (and the component).
    pub fn dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }
}

/// Reads a configuration file, naming it in the error.
pub(crate) fn read_text(file: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(file).map_err(|source| ManifestError::Io {
        file: file.to_path_buf(),
        source,
    })
}

/// A TOML error as a [`ManifestError::Parse`] with 1-based line and column.
pub(crate) fn parse_error(file: &Path, text: &str, e: &toml::de::Error) -> ManifestError {
    let (line, column) = position(text, e);
    ManifestError::Parse {
        file: file.to_path_buf(),
        line,
        column,
        message: e.message().to_string(),
    }
}

/// The 1-based line and column a TOML error points at in `text`.
pub(crate) fn position(text: &str, e: &toml::de::Error) -> (usize, usize) {
    e.span().map_or((1, 1), |s| line_col(text, s.start))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A tool name or integration slug that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Not a tool name.
    #[error(
        "{0:?} is not a tool name: use lowercase letters, digits and '_', start with a letter, at most {MAX_NAME_LEN} characters"
    )]
    Tool(String),
    /// Not an integration slug.
    #[error("{0:?} is not an integration slug: use lowercase letters, digits, '_' and '-'")]
    Slug(String),
}

/// Tool names: lowercase ASCII, digits and `_`, starting with a letter.
pub fn tool_name(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > MAX_NAME_LEN {
        return Err(NameError::Tool(name.to_owned()));
    }
    Ok(())
}

/// An integration slug (the stem of `fields/<slug>.yaml`).
pub fn integration_slug(slug: &str) -> Result<(), NameError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_NAME_LEN
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(NameError::Slug(slug.to_owned()))
    }
}

/// What is wrong with one value of a tool manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Not a tool name or integration slug.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A control character or invisible Unicode in reviewer-visible text.
    #[error("{0} is not allowed")]
    Hidden(crate::text::Hidden),
    /// A `[config]` key with characters outside the allowed set.
    #[error("config keys use letters, digits, '_', '-' and '.'")]
    ConfigKey,
    /// `files.dir` is absolute, empty or climbs out of the tool folder.
    #[error("{0:?} must be a relative path inside the tool folder")]
    FilesOutside(String),
    /// `files.dir` names a path that is not a readable directory.
    #[error("{}: {source}", path.display())]
    FilesUnreadable {
        /// The path as resolved against the tool folder.
        path: PathBuf,
        /// Why it could not be resolved.
        source: std::io::Error,
    },
    /// `files.dir` resolves (through a link) outside the folder, or to a file.
    #[error("{0:?} must be a directory inside the tool folder")]
    FilesNotADirectory(String),
    /// A limit outside what the gateway accepts.
    #[error("{value} is outside 1..={max}")]
    OutOfRange {
        /// The value given.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
}

fn check_config_key(key: &str) -> Result<(), Problem> {
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    if ok { Ok(()) } else { Err(Problem::ConfigKey) }
}

/// Refuses control characters (including ANSI escapes) and invisible
/// Unicode (tags, bidi controls, zero-width characters) in one-line
/// reviewer-visible text.
pub fn check_text(text: &str) -> Result<(), Problem> {
    match crate::text::find_hidden(text, crate::text::Lines::Single) {
        Some(hidden) => Err(Problem::Hidden(hidden)),
        None => Ok(()),
    }
}

fn resolve_files_dir(manifest: &Path, dir: &str) -> Result<PathBuf, Problem> {
    let rel = Path::new(dir);
    let escapes = rel.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if dir.is_empty() || escapes {
        return Err(Problem::FilesOutside(dir.to_owned()));
    }
    let base = manifest.parent().unwrap_or(Path::new("."));
    let full = base.join(rel);
    let unreadable = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Problem::FilesUnreadable { path, source }
    };
    let canonical = full.canonicalize().map_err(unreadable(&full))?;
    let base = base.canonicalize().map_err(unreadable(base))?;
    if !canonical.starts_with(&base) || !canonical.is_dir() {
        return Err(Problem::FilesNotADirectory(dir.to_owned()));
    }
    Ok(canonical)
}

fn limits(raw: &RawLimits) -> Result<Limits, (&'static str, Problem)> {
    fn range(key: &'static str, value: u64, max: u64) -> Result<u64, (&'static str, Problem)> {
        if value == 0 || value > max {
            return Err((key, Problem::OutOfRange { value, max }));
        }
        Ok(value)
    }
    let max_memory_mib = (MAX_MEMORY_BYTES as u64) / MIB;
    let memory_mib = range(
        "limits.memory_mib",
        raw.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB),
        max_memory_mib,
    )?;
    let timeout_ms = range(
        "limits.timeout_ms",
        raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        MAX_TIMEOUT_MS,
    )?;
    let upstream = range(
        "limits.upstream_bytes",
        raw.upstream_bytes.unwrap_or(DEFAULT_UPSTREAM_BYTES),
        MAX_UPSTREAM_BYTES,
    )?;
    let output = range(
        "limits.output_bytes",
        raw.output_bytes.unwrap_or(DEFAULT_OUTPUT_BYTES),
        MAX_OUTPUT_BYTES,
    )?;
    let content = range(
        "limits.content_bytes",
        raw.content_bytes.unwrap_or(DEFAULT_CONTENT_BYTES),
        MAX_CONTENT_BYTES,
    )?;
    let requests = range(
        "limits.requests",
        u64::from(raw.requests.unwrap_or(DEFAULT_REQUESTS)),
        u64::from(MAX_REQUESTS),
    )?;
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    Ok(Limits {
        memory_bytes: to_usize(memory_mib * MIB),
        timeout: Duration::from_millis(timeout_ms),
        upstream_bytes: upstream,
        output_bytes: to_usize(output),
        content_bytes: to_usize(content),
        requests: u32::try_from(requests).unwrap_or(MAX_REQUESTS),
    })
}

/// The 1-based line of `key` in the `index`-th `[[http]]` table of a
/// manifest (or of the table's header when the key is not written).
pub fn http_entry_line(text: &str, index: usize, key: &str) -> Option<usize> {
    let mut seen = None;
    let mut header = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            if t.starts_with("[[http]]") {
                seen = Some(seen.map_or(0, |s| s + 1));
                if seen == Some(index) {
                    header = Some(n + 1);
                }
            } else if !t.starts_with("[http.") && header.is_some() {
                break;
            }
            continue;
        }
        if seen == Some(index)
            && t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(n + 1);
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(Path::new("/tools/t/tool.toml"), text)
    }

    fn invalid_key(text: &str) -> String {
        match parse(text) {
            Err(ManifestError::Invalid { key, .. }) => key,
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn minimal_manifest_gets_safe_defaults() {
        let m = parse("name = \"t\"\n").expect("parses");
        assert_eq!(m.name, "t");
        assert_eq!(m.limits, Limits::default());
        assert!(m.http.is_empty(), "no outbound access unless granted");
        assert!(m.files_dir.is_none());
        assert_eq!(m.limits.memory_bytes, 64 << 20);
        assert_eq!(m.limits.requests, 32);
    }

    #[test]
    fn full_manifest_parses() {
        let m = parse(
            r#"
name = "stripe_revenue"
integration = "stripe"
version = "1.2.0"
[config]
api_base = "https://api.stripe.com"
[[http]]
url = "${config.api_base}/v1/"
[http.secret_headers]
Authorization = "Bearer ${STRIPE_API_KEY}"
[[http]]
host = "*.stripe.com"
methods = ["GET", "POST"]
approved_by = "admin@example.com"
[limits]
memory_mib = 128
timeout_ms = 30000
upstream_bytes = 1048576
output_bytes = 4096
content_bytes = 2097152
requests = 10
"#,
        )
        .expect("parses");
        assert_eq!(m.integration.as_deref(), Some("stripe"));
        assert_eq!(m.http.len(), 2);
        assert_eq!(m.limits.timeout, Duration::from_secs(30));
        assert_eq!(m.limits.output_bytes, 4096);
        assert_eq!(m.limits.content_bytes, 2 << 20);
        let rules = m.rules(&m.config).expect("rules");
        assert_eq!(rules[0].path_prefix.as_deref(), Some("/v1/"));
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        match parse("name = \"t\"\n[limits]\nmemory = 5\n") {
            Err(ManifestError::Parse {
                file, line, column, ..
            }) => {
                assert_eq!(file, Path::new("/tools/t/tool.toml"));
                assert_eq!((line, column), (3, 1));
            }
            other => panic!("expected Parse, got {other:?}"),
        }
        assert!(matches!(
            parse("name = \"t\"\nsecrets = 1\n"),
            Err(ManifestError::Parse { line: 2, .. })
        ));
        assert!(matches!(
            parse("name = \"t\"\n[[http]]\nhost = \"a.com\"\nverbs = [\"GET\"]\n"),
            Err(ManifestError::Parse { line: 4, .. })
        ));
        assert!(matches!(
            parse("name = 5\n"),
            Err(ManifestError::Parse { line: 1, .. })
        ));
        assert!(
            matches!(parse(""), Err(ManifestError::Parse { .. })),
            "name is required"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("name = \"Bad-Name\"\n", "name"),
            ("name = \"9lives\"\n", "name"),
            (&format!("name = \"{}\"\n", "a".repeat(65)), "name"),
            (
                "name = \"t\"\nintegration = \"Stripe Inc\"\n",
                "integration",
            ),
            ("name = \"t\"\nversion = \"1\\u001b[31m\"\n", "version"),
            (
                "name = \"t\"\n[config]\n\"bad key\" = \"x\"\n",
                "config.bad key",
            ),
            ("name = \"t\"\n[config]\nk = \"a\\nb\"\n", "config.k"),
            (
                "name = \"t\"\n[limits]\nmemory_mib = 0\n",
                "limits.memory_mib",
            ),
            (
                "name = \"t\"\n[limits]\nmemory_mib = 4096\n",
                "limits.memory_mib",
            ),
            (
                "name = \"t\"\n[limits]\ntimeout_ms = 600000\n",
                "limits.timeout_ms",
            ),
            (
                "name = \"t\"\n[limits]\nupstream_bytes = 1000000000\n",
                "limits.upstream_bytes",
            ),
            (
                "name = \"t\"\n[limits]\noutput_bytes = 0\n",
                "limits.output_bytes",
            ),
            (
                "name = \"t\"\n[limits]\ncontent_bytes = 9000000000\n",
                "limits.content_bytes",
            ),
            (
                "name = \"t\"\n[limits]\nrequests = 100000\n",
                "limits.requests",
            ),
            ("name = \"t\"\n[files]\ndir = \"../etc\"\n", "files.dir"),
            ("name = \"t\"\n[files]\ndir = \"/etc\"\n", "files.dir"),
            (
                "name = \"t\"\n[files]\ndir = \"does-not-exist\"\n",
                "files.dir",
            ),
        ];
        for (text, key) in cases {
            assert_eq!(invalid_key(text), key, "{text:?}");
        }
    }

    #[test]
    fn built_in_names_are_reserved() {
        for name in crate::mcp::builtin::names() {
            let refused = parse(&format!("name = \"{name}\"\n"));
            assert!(
                matches!(&refused, Err(ManifestError::ReservedName { name: n, .. }) if n == name),
                "{refused:?}"
            );
        }
        assert!(parse("name = \"health_check_v2\"\n").is_ok());
    }

    #[test]
    fn hidden_unicode_in_manifest_text_names_its_key() {
        for (text, key) in [
            ("name = \"t\"\nversion = \"1.0\\u202e\"\n", "version"),
            ("name = \"t\"\n[config]\nk = \"a\\u200bb\"\n", "config.k"),
            ("name = \"t\"\n[config]\nk = \"\\U000E0041\"\n", "config.k"),
        ] {
            assert_eq!(invalid_key(text), key, "{text:?}");
        }
    }

    #[test]
    fn writes_without_approval_are_refused_at_load() {
        let err = parse(
            "name = \"t\"\n[[http]]\nhost = \"api.example.com\"\nmethods = [\"GET\", \"DELETE\"]\n",
        );
        assert!(
            matches!(
                err,
                Err(ManifestError::Http {
                    index: 0,
                    source: RuleError::WriteWithoutApproval { .. },
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn gateway_overrides_win_over_manifest_config() {
        let m = parse("name = \"t\"\n[config]\napi_base = \"https://api.github.com\"\n[[http]]\nurl = \"${config.api_base}\"\n")
            .expect("parses");
        let overrides =
            BTreeMap::from([("api_base".to_string(), "http://127.0.0.1:8089".to_string())]);
        let config = m.effective_config(&overrides);
        assert_eq!(config["api_base"], "http://127.0.0.1:8089");
        let rules = m.rules(&config).expect("rules");
        assert_eq!(rules[0].ports, vec![8089]);
    }

    #[test]
    fn files_dir_resolves_inside_the_tool_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("data")).expect("mkdir");
        let file = dir.path().join(MANIFEST_FILE);
        let m = Manifest::parse(&file, "name = \"t\"\n[files]\ndir = \"data\"\n").expect("parses");
        let expected = dir.path().join("data").canonicalize().expect("canonical");
        assert_eq!(m.files_dir, Some(expected));

        // A symlink out of the tool folder is refused.
        std::os::unix::fs::symlink("/etc", dir.path().join("escape")).expect("symlink");
        let escaped = Manifest::parse(&file, "name = \"t\"\n[files]\ndir = \"escape\"\n");
        assert!(
            matches!(escaped, Err(ManifestError::Invalid { ref key, .. }) if key == "files.dir"),
            "{escaped:?}"
        );
    }
}

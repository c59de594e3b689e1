//! `gateway tool test`: a tool's own cases (`fixtures/tests.toml`) run
//! through the sandbox against its recorded upstream (`fixtures/routes.toml`)
//! on 127.0.0.1.

pub mod expect;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use self::expect::{ArrayMode, Expectation};
use crate::fixtures::FixtureFileError;
use crate::fixtures::{FixtureServer, Routes, SeenRequest};
use crate::manifest::ManifestError;
use crate::outbound::addr::PrivateAllowList;
use crate::runtime::{CallReport, LoadError, Runtime, RuntimeError};
use crate::settings::Settings;

/// File name of the cases inside `fixtures/`.
pub const TESTS_FILE: &str = "tests.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTests {
    #[serde(default)]
    upstream_config: Vec<String>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    case: Vec<RawCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    input: toml::Table,
    expect: Option<toml::Table>,
    expect_error: Option<String>,
    /// Paths that must hold `null` (TOML cannot write it).
    #[serde(default)]
    expect_null: Vec<String>,
    /// How expected arrays match, unless `match` names the path.
    #[serde(default)]
    arrays: ArrayMode,
    /// Array modes by dotted path (no indices).
    #[serde(default, rename = "match")]
    match_paths: BTreeMap<String, ArrayMode>,
    /// The content blocks after the JSON, in order, each by its media type
    /// (`"text"` for a text block), e.g. `["image/png"]` (docs/content.md).
    expect_content: Option<Vec<String>>,
}

/// Why the cases could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// `tests.toml` or `routes.toml` is unreadable or invalid.
    #[error(transparent)]
    File(#[from] FixtureFileError),
    /// The tool's manifest is unreadable or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A case is ill-formed.
    #[error("{file}: case {index} ({name}): {problem}")]
    Case {
        /// The tests file.
        file: PathBuf,
        /// 0-based index.
        index: usize,
        /// The case name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The fixture server could not start.
    #[error("fixture server: {0}")]
    Server(std::io::Error),
    /// The sandbox could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The tool did not load (build it first with `gateway tool build`).
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// How one case went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// As expected.
    Passed,
    /// Not as expected, and why.
    Failed(String),
}

/// One case's outcome with the call's measurements.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case name.
    pub name: String,
    /// Pass or fail.
    pub verdict: Verdict,
    /// The call.
    pub report: CallReport,
    /// What the fixture server received during the call (after the
    /// gateway's policy checks and secret injection).
    pub upstream_requests: Vec<SeenRequest>,
    /// What each policy denial of the call teaches: the check, the
    /// manifest line to change, the script line making the request.
    pub lessons: Vec<crate::outbound::teach::Lesson>,
}

struct Case {
    name: String,
    input: String,
    expect: Expect,
    content: Option<Vec<String>>,
}

enum Expect {
    Output(Expectation),
    Error(String),
}

/// Runs the cases of the built tool in `dir` with `base` settings, pointing
/// its `upstream_config` keys at a fixture server on 127.0.0.1.
pub async fn run(dir: &Path, base: &Settings) -> Result<Vec<CaseResult>, TestError> {
    let file = dir.join("fixtures").join(TESTS_FILE);
    let text = FixtureFileError::read(&file)?;
    let raw: RawTests = FixtureFileError::parse(&file, &text)?;
    let cases = raw
        .case
        .into_iter()
        .enumerate()
        .map(|(index, c)| case(&file, index, c))
        .collect::<Result<Vec<_>, _>>()?;

    let routes = Routes::load(dir)?;
    let manifest = crate::manifest::Manifest::load(&dir.join(crate::manifest::MANIFEST_FILE))?;
    // Recorded links to the real upstream (pagination) lead to the fixtures.
    let origins = crate::fixtures::origins(
        raw.upstream_config
            .iter()
            .filter_map(|key| manifest.config.get(key).map(String::as_str)),
    );
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = FixtureServer::start_rewriting(routes, loopback, &origins)
        .await
        .map_err(TestError::Server)?;

    let mut settings = base.clone();
    settings.allow_private =
        PrivateAllowList::parse(&["127.0.0.1/32"]).map_err(|e| TestError::Case {
            file: file.clone(),
            index: 0,
            name: String::new(),
            problem: e.to_string(),
        })?;
    let overrides = settings
        .tool_config
        .entry(manifest.name.clone())
        .or_default();
    for key in &raw.upstream_config {
        overrides.insert(key.clone(), format!("http://{}", server.addr()));
    }
    // The cases' own fixture values, sent only to the fixture server: the
    // tool may bind exactly the variables the cases give (never the
    // gateway's reserved ones, which the runtime refuses regardless).
    settings
        .secret_grants
        .grant(&manifest.name, raw.secrets.keys().cloned());
    let secrets = raw.secrets;
    let runtime = Runtime::with_secrets(settings, Arc::new(move |var| secrets.get(var).cloned()))?;
    let tool = runtime.load_dir(dir).await?;

    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let report = runtime.call(&tool, &case.input).await;
        let verdict = match judge(&case.expect, &report) {
            Verdict::Passed => judge_content(case.content.as_deref(), &report),
            failed => failed,
        };
        let lessons = crate::outbound::teach::lessons(&tool, &report.denied);
        results.push(CaseResult {
            name: case.name,
            verdict,
            report,
            upstream_requests: server.take_seen(),
            lessons,
        });
    }
    Ok(results)
}

/// Checks `text`, read from `file`, as a tests file: its syntax, keys and
/// every case; returns how many cases it holds.
pub fn check_cases(file: &Path, text: &str) -> Result<usize, TestError> {
    let raw: RawTests = FixtureFileError::parse(file, text)?;
    let count = raw.case.len();
    for (index, c) in raw.case.into_iter().enumerate() {
        case(file, index, c)?;
    }
    Ok(count)
}

fn case(file: &Path, index: usize, c: RawCase) -> Result<Case, TestError> {
    let bad = |problem: &str| TestError::Case {
        file: file.to_path_buf(),
        index,
        name: c.name.clone(),
        problem: problem.to_string(),
    };
    let wants_output = c.expect.is_some() || !c.expect_null.is_empty();
    let expect = match (wants_output, &c.expect_error) {
        (true, None) => {
            let want = match &c.expect {
                Some(e) => serde_json::to_value(e).map_err(|e| bad(&e.to_string()))?,
                None => Value::Object(serde_json::Map::new()),
            };
            Expect::Output(Expectation {
                want,
                arrays: c.arrays,
                paths: c.match_paths.clone(),
                nulls: c.expect_null.clone(),
            })
        }
        (false, Some(code)) => Expect::Error(code.clone()),
        _ => {
            return Err(bad(
                "give exactly one of `expect` (and/or `expect_null`) or `expect_error`",
            ));
        }
    };
    if c.expect_content.is_some() && c.expect_error.is_some() {
        return Err(bad(
            "`expect_content` goes with `expect`: a failed call has no content",
        ));
    }
    let input = serde_json::to_string(&c.input).map_err(|e| bad(&e.to_string()))?;
    Ok(Case {
        name: c.name,
        input,
        expect,
        content: c.expect_content,
    })
}

/// The content blocks' media types (`text` for text blocks) against
/// `expect_content`, when the case gives it.
fn judge_content(want: Option<&[String]>, report: &CallReport) -> Verdict {
    use rmcp::model::{ContentBlock, ResourceContents};
    let Some(want) = want else {
        return Verdict::Passed;
    };
    let got: Vec<String> = report
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(_) => "text".to_owned(),
            ContentBlock::Image(i) => i.mime_type.clone(),
            ContentBlock::Audio(a) => a.mime_type.clone(),
            ContentBlock::Resource(r) => match &r.resource {
                ResourceContents::TextResourceContents { mime_type, .. }
                | ResourceContents::BlobResourceContents { mime_type, .. } => {
                    mime_type.clone().unwrap_or_default()
                }
                _ => "resource".to_owned(),
            },
            _ => "other".to_owned(),
        })
        .collect();
    if got == want {
        Verdict::Passed
    } else {
        Verdict::Failed(format!("expected content {want:?}, got {got:?}"))
    }
}

fn judge(expect: &Expect, report: &CallReport) -> Verdict {
    match (expect, &report.result) {
        (Expect::Output(want), Ok(got)) => match want.check(got) {
            Ok(()) => Verdict::Passed,
            Err(mismatch) => Verdict::Failed(mismatch.to_string()),
        },
        (Expect::Output(_), Err(e)) => {
            Verdict::Failed(format!("expected output, got error [{}] {e}", e.code()))
        }
        (Expect::Error(code), Err(e)) if e.code() == code => Verdict::Passed,
        (Expect::Error(code), Err(e)) => {
            Verdict::Failed(format!("expected error {code}, got [{}] {e}", e.code()))
        }
        (Expect::Error(code), Ok(got)) => {
            // The output's top-level keys, not the whole document.
            let shape = match got {
                serde_json::Value::Object(map) => {
                    let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
                    format!("an object with keys {}", keys.join(", "))
                }
                other => expect::kind_name(other).to_owned(),
            };
            Verdict::Failed(format!("expected error {code}, got output ({shape})"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(content: Vec<rmcp::model::ContentBlock>) -> CallReport {
        CallReport {
            result: Ok(serde_json::json!({})),
            content,
            duration: std::time::Duration::ZERO,
            upstream_bytes: 0,
            output_bytes: 0,
            requests: 0,
            denials: Vec::new(),
            denied: Vec::new(),
            confirmations: Vec::new(),
            logs: Vec::new(),
            dropped_logs: 0,
            peak_memory_bytes: 0,
        }
    }

    #[test]
    fn expect_content_goes_with_expect_and_not_with_expect_error() {
        let file = Path::new("tests.toml");
        let ok =
            "[[case]]\nname = \"c\"\ninput = {}\nexpect_content = [\"image/png\"]\n[case.expect]\n";
        assert_eq!(check_cases(file, ok).ok(), Some(1));
        let bad = "[[case]]\nname = \"c\"\ninput = {}\nexpect_error = \"x\"\nexpect_content = [\"text\"]\n";
        assert!(matches!(
            check_cases(file, bad),
            Err(TestError::Case { index: 0, .. })
        ));
    }

    #[test]
    fn content_is_compared_by_media_type_in_order() {
        use rmcp::model::ContentBlock;
        let blocks = vec![
            ContentBlock::text("note"),
            ContentBlock::image("AAAA", "image/png"),
        ];
        let want = ["text".to_owned(), "image/png".to_owned()];
        assert_eq!(
            judge_content(Some(&want), &report(blocks.clone())),
            Verdict::Passed
        );
        assert!(matches!(
            judge_content(Some(&want[1..]), &report(blocks)),
            Verdict::Failed(_)
        ));
        assert_eq!(judge_content(None, &report(Vec::new())), Verdict::Passed);
    }
}

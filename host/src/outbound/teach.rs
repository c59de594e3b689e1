//! Denials that teach (docs/security.md, docs/python-tools.md): for a
//! request the policy refused, which check refused it, the `tool.toml` line
//! to change and what to write there, and — when it can be found without
//! running the tool — the script line that makes the request. `gateway
//! tool test` and `gateway call` print a lesson under each denial; `gateway
//! tool build` checks every literal URL of the scripts the same way before
//! anything runs.
//!
//! Lessons are for the operator's terminal. The agent still sees only the
//! denial's reason: the allow-list is the admin's business, not the
//! caller's.

use std::path::{Path, PathBuf};

use url::Url;

use super::meter::Denial;
use super::policy::{DeniedReason, Policy};
use super::request::OutboundRequest;
use super::rules::Rule;
use crate::manifest::Manifest;

/// What one denial teaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    /// The check that refused the request (the WIT `denied-reason` name).
    pub check: DeniedReason,
    /// The manifest line to change (1-based), when one entry is concerned.
    pub manifest_line: Option<usize>,
    /// Where the script makes the request, when a literal shows it.
    pub script_line: Option<(PathBuf, usize)>,
    /// What was refused and how to allow it, in a sentence or two.
    pub fix: String,
}

impl std::fmt::Display for Lesson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "denied by the {} check: {}", self.check, self.fix)?;
        if let Some((file, line)) = &self.script_line {
            write!(f, " (the request is made at {}:{line})", file.display())?;
        }
        Ok(())
    }
}

/// The tool a lesson is about: its manifest (text and parsed) and the
/// rules its `[[http]]` entries resolve to, in manifest order.
#[derive(Debug)]
pub struct Teacher<'a> {
    /// The parsed manifest (its file, limits).
    pub manifest: &'a Manifest,
    /// The manifest's text, for line numbers.
    pub text: &'a str,
    /// The resolved `[[http]]` rules, one per entry in order.
    pub rules: &'a [Rule],
    /// The tool's folder, searched for the script line.
    pub dir: &'a Path,
}

impl Teacher<'_> {
    /// The lesson of `denial`.
    pub fn lesson(&self, denial: &Denial) -> Lesson {
        let url = denial.url.as_deref().and_then(|u| Url::parse(u).ok());
        let method = denial.method.as_deref().unwrap_or("GET");
        let file = self.manifest.file.display();
        let at = |line: Option<usize>| match line {
            Some(n) => format!("{file}:{n}"),
            None => file.to_string(),
        };
        let mut manifest_line = None;
        let fix = match (denial.reason, &url) {
            (DeniedReason::Host, Some(url)) => {
                let host = url.host_str().unwrap_or("");
                format!(
                    "no [[http]] entry in {file} names the host {host}; to allow read-only requests there, add an entry with url = \"{}\"",
                    suggested_url(url)
                )
            }
            (DeniedReason::Scheme, Some(url)) => {
                let (index, rule) = self.first(url, 1);
                manifest_line = index.and_then(|i| self.line(i, "url"));
                format!(
                    "{} is not allowed for {}: the [[http]] entry at {} allows {}; change the scheme of its url if the API serves {} too",
                    url.scheme(),
                    url.host_str().unwrap_or(""),
                    at(manifest_line),
                    rule.map_or("https", |r| r.scheme.as_str()),
                    url.scheme()
                )
            }
            (DeniedReason::Port, Some(url)) => {
                let (index, rule) = self.first(url, 2);
                manifest_line = index.and_then(|i| self.line(i, "ports"));
                let ports = rule.map_or_else(String::new, |r| {
                    if r.ports.is_empty() {
                        "only the scheme's default port".to_owned()
                    } else {
                        format!("ports {:?}", r.ports)
                    }
                });
                format!(
                    "port {} is not allowed: the [[http]] entry at {} allows {ports}; list the port in its `ports` (or its url)",
                    url.port_or_known_default().unwrap_or(0),
                    at(manifest_line),
                )
            }
            (DeniedReason::Path, Some(url)) => {
                let (index, rule) = self.first(url, 3);
                manifest_line = index.and_then(|i| self.line(i, "url"));
                format!(
                    "the path {} is outside the [[http]] entry at {}, which allows paths under {}; widen its url (or path_prefix) to cover it",
                    url.path(),
                    at(manifest_line),
                    rule.and_then(|r| r.path_prefix.as_deref()).unwrap_or("/"),
                )
            }
            (DeniedReason::Method, Some(url)) => {
                let (index, rule) = self.first(url, 4);
                manifest_line = index.and_then(|i| self.line(i, "methods"));
                let granted: Vec<String> = rule.map_or_else(
                    || vec!["GET".into(), "HEAD".into()],
                    |r| r.methods.iter().map(ToString::to_string).collect(),
                );
                let mut wanted = granted.clone();
                wanted.push(method.to_owned());
                format!(
                    "{method} is not granted: the [[http]] entry at {} grants {}. Writes need an admin's approval: add methods = {:?} and approved_by = \"<the admin who approved it>\" to that entry (the pull request's review shows the change)",
                    at(manifest_line),
                    granted.join(", "),
                    wanted,
                )
            }
            (DeniedReason::BodyNotAllowed, _) => format!(
                "{method} requests may not carry a body; send the parameters in the query string, or use a write method an admin approved"
            ),
            (DeniedReason::ForbiddenHeader, _) => "the request sets a header the gateway forbids (Host, Connection, Proxy-*, credentials) or injects itself; declare credentials under [http.secret_headers] in tool.toml and let the gateway add them".to_owned(),
            (DeniedReason::PrivateAddress, Some(url)) => format!(
                "{} resolves only to private, loopback or otherwise non-global addresses; only a gateway admin can allow that, with [outbound] allow_private = [\"<CIDR>\"] in gateway.toml",
                url.host_str().unwrap_or("")
            ),
            (DeniedReason::NotConfirmed, url) => {
                let index = url.as_ref().and_then(|url| self.first(url, 4).0);
                manifest_line = index.and_then(|i| self.line(i, "confirm"));
                format!(
                    "{method} needs the caller's confirmation (`confirm = true` at {}, or the admin's `confirm_writes`), and nobody confirmed it; `gateway call` and `gateway tool test` have nobody to ask, so try it through `gateway serve` with a client that answers (docs/confirmations.md)",
                    at(manifest_line)
                )
            }
            (DeniedReason::RequestBudget, _) => {
                manifest_line = key_line(self.text, "limits", "requests");
                format!(
                    "the call made more than its {} requests; raise `requests` under [limits] at {} (or fetch fewer pages)",
                    self.manifest.limits.requests,
                    at(manifest_line)
                )
            }
            _ => "the URL did not parse, has no host, or carries user:password@; pass an absolute http(s) URL".to_owned(),
        };
        let script_line = url.as_ref().and_then(|url| {
            let needle = url.host_str()?;
            script_line(self.dir, needle, denial.method.as_deref())
        });
        Lesson {
            check: denial.reason,
            manifest_line,
            script_line,
            fix,
        }
    }

    /// The first rule (index, rule) that passes the first `stages` of the
    /// policy's checks for `url`: 1 host, 2 + scheme, 3 + port, 4 + path.
    fn first(&self, url: &Url, stages: u8) -> (Option<usize>, Option<&Rule>) {
        let Some(host) = url.host() else {
            return (None, None);
        };
        let port = url.port_or_known_default().unwrap_or(0);
        let found = self.rules.iter().enumerate().find(|(_, r)| {
            r.matches_host(&host)
                && (stages < 2 || r.scheme.as_str() == url.scheme())
                && (stages < 3 || r.allows_port(port))
                && (stages < 4 || r.allows_path(url.path()))
        });
        // The stage that failed left no rule; the one before it did.
        let found = found.or_else(|| {
            self.rules
                .iter()
                .enumerate()
                .find(|(_, r)| r.matches_host(&host))
        });
        (found.map(|(i, _)| i), found.map(|(_, r)| r))
    }

    fn line(&self, index: usize, key: &str) -> Option<usize> {
        crate::manifest::http_entry_line(self.text, index, key)
    }
}

/// The lessons of a call's denials, for a tool loaded from its folder
/// (none when its manifest cannot be read again).
pub fn lessons(tool: &crate::runtime::LoadedTool, denied: &[Denial]) -> Vec<Lesson> {
    // Most calls are refused nothing: no manifest to read again.
    if denied.is_empty() {
        return Vec::new();
    }
    with_teacher(tool, |teacher| {
        denied.iter().map(|d| teacher.lesson(d)).collect()
    })
}

/// [`check_literals`] for a loaded tool: what its sources' literal URLs
/// would be refused for.
pub fn literal_lessons(tool: &crate::runtime::LoadedTool) -> Vec<Lesson> {
    with_teacher(tool, |teacher| check_literals(teacher, tool.policy()))
}

fn with_teacher(
    tool: &crate::runtime::LoadedTool,
    f: impl FnOnce(&Teacher<'_>) -> Vec<Lesson>,
) -> Vec<Lesson> {
    let manifest = &tool.manifest;
    let (Ok(text), Some(dir)) = (
        std::fs::read_to_string(&manifest.file),
        manifest.file.parent(),
    ) else {
        return Vec::new();
    };
    f(&Teacher {
        manifest,
        text: &text,
        rules: tool.policy().rules(),
        dir,
    })
}

/// A URL for a new `[[http]]` entry: the request's origin and its path up
/// to the last `/`.
fn suggested_url(url: &Url) -> String {
    let path = url.path();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    format!("{}{}", url.origin().ascii_serialization(), dir)
}

/// The 1-based line of `key` in the `[table]` of a TOML text (or the
/// table's header when the key is not written).
fn key_line(text: &str, table: &str, key: &str) -> Option<usize> {
    let header = format!("[{table}]");
    let mut inside = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            if inside.is_some() {
                break;
            }
            if t == header {
                inside = Some(n + 1);
            }
            continue;
        }
        if inside.is_some()
            && t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(n + 1);
        }
    }
    inside
}

/// The first source line naming `host` in a literal (with `method` on the
/// same line when given and the line names one), else the first line that
/// calls `method` (`.post(`, `"POST"`), relative to `dir`.
pub fn script_line(dir: &Path, host: &str, method: Option<&str>) -> Option<(PathBuf, usize)> {
    let method = method.filter(|m| !matches!(*m, "GET" | "HEAD"));
    let files: Vec<(PathBuf, String)> = crate::qa::code_files(dir)
        .into_iter()
        .filter_map(|path| Some((path.clone(), std::fs::read_to_string(&path).ok()?)))
        .collect();
    let rel = |path: &Path| path.strip_prefix(dir).unwrap_or(path).to_path_buf();
    for (path, text) in &files {
        for (n, line) in text.lines().enumerate() {
            if line.contains(host) {
                return Some((rel(path), n + 1));
            }
        }
    }
    let method = method?;
    for (path, text) in &files {
        for (n, line) in text.lines().enumerate() {
            if crate::qa::scan::mutating_calls(line).contains(method) {
                return Some((rel(path), n + 1));
            }
        }
    }
    None
}

/// What `gateway tool build` finds before anything runs: each literal
/// `http(s)://` URL in the tool's sources (with the write method its line
/// calls, else GET) checked against `policy`; the lessons of the ones it
/// refuses. A URL built at run time is not seen here; `gateway tool test`
/// teaches those.
pub fn check_literals(teacher: &Teacher<'_>, policy: &Policy) -> Vec<Lesson> {
    let mut lessons = Vec::new();
    for path in crate::qa::code_files(teacher.dir) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let line = crate::qa::scan::strip_comment(line);
            let method = crate::qa::scan::mutating_calls(line)
                .into_iter()
                .next()
                .unwrap_or("GET");
            for literal in literal_urls(line) {
                let Ok(url) = Url::parse(literal) else {
                    continue;
                };
                let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
                    continue;
                };
                let request = OutboundRequest {
                    method: method.clone(),
                    url: url.clone(),
                    headers: http::HeaderMap::new(),
                    body: None,
                };
                if let Err(reason) = policy.check(&request) {
                    let mut lesson = teacher.lesson(&Denial {
                        reason,
                        method: Some(method.to_string()),
                        url: Some(url.to_string()),
                    });
                    lesson.script_line = Some((
                        path.strip_prefix(teacher.dir)
                            .unwrap_or(&path)
                            .to_path_buf(),
                        n + 1,
                    ));
                    lessons.push(lesson);
                }
            }
        }
    }
    lessons
}

/// The complete `http://` / `https://` literals of a line: from the scheme
/// to the closing quote, with no `{` (an f-string's or format!'s hole makes
/// the URL known only at run time).
fn literal_urls(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("http") {
        let tail = &rest[start..];
        if !(tail.starts_with("http://") || tail.starts_with("https://")) {
            rest = &tail[4..];
            continue;
        }
        let quoted = start > 0 && matches!(rest.as_bytes()[start - 1], b'"' | b'\'');
        let end = tail
            .find(|c: char| c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        let literal = &tail[..end];
        if quoted && !literal.contains('{') {
            found.push(literal);
        }
        rest = &tail[end..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"name = "notes"

[config]
api_base = "https://api.example.com/v1"

[[http]]
url = "${config.api_base}/notes"

[[http]]
url = "https://uploads.example.com/"
methods = ["GET", "HEAD"]

[limits]
requests = 3
"#;

    fn teacher_for(dir: &Path) -> (Manifest, Vec<Rule>) {
        let file = dir.join("tool.toml");
        std::fs::write(&file, MANIFEST).expect("manifest");
        let manifest = Manifest::parse(&file, MANIFEST).expect("parses");
        let rules = manifest.rules(&manifest.config).expect("rules");
        (manifest, rules)
    }

    fn denial(reason: DeniedReason, method: &str, url: &str) -> Denial {
        Denial {
            reason,
            method: Some(method.into()),
            url: Some(url.into()),
        }
    }

    #[test]
    fn each_check_names_the_manifest_line_to_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (manifest, rules) = teacher_for(dir.path());
        std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
        std::fs::write(
            dir.path().join("scripts/notes.py"),
            "import x\n\nresp = http.post(f\"{base}/notes\", body=b\"{}\")\nother = http.get(\"https://elsewhere.example.org/a/b\")\n",
        )
        .expect("script");
        let t = Teacher {
            manifest: &manifest,
            text: MANIFEST,
            rules: &rules,
            dir: dir.path(),
        };
        let post = t.lesson(&denial(
            DeniedReason::Method,
            "POST",
            "https://api.example.com/v1/notes/1",
        ));
        assert_eq!(post.check, DeniedReason::Method);
        // The first entry writes no `methods`: its header line.
        assert_eq!(post.manifest_line, Some(6));
        assert_eq!(
            post.script_line,
            Some((PathBuf::from("scripts/notes.py"), 3))
        );
        let upload = t.lesson(&denial(
            DeniedReason::Method,
            "PUT",
            "https://uploads.example.com/f",
        ));
        assert_eq!(upload.manifest_line, Some(11));
        let host = t.lesson(&denial(
            DeniedReason::Host,
            "GET",
            "https://elsewhere.example.org/a/b",
        ));
        assert_eq!(host.manifest_line, None);
        assert_eq!(
            host.script_line,
            Some((PathBuf::from("scripts/notes.py"), 4))
        );
        let path = t.lesson(&denial(
            DeniedReason::Path,
            "GET",
            "https://api.example.com/v1/users",
        ));
        assert_eq!(path.manifest_line, Some(7));
        let budget = t.lesson(&Denial {
            reason: DeniedReason::RequestBudget,
            method: None,
            url: None,
        });
        assert_eq!(budget.manifest_line, Some(14));
    }

    #[test]
    fn literal_urls_are_checked_before_anything_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (manifest, rules) = teacher_for(dir.path());
        std::fs::create_dir(dir.path().join("scripts")).expect("mkdir");
        std::fs::write(
            dir.path().join("scripts/notes.py"),
            "ok = http.get(\"https://api.example.com/v1/notes/1\")\n\
             # http.get(\"https://commented.example.net/\")\n\
             bad = http.get('https://elsewhere.example.org/x')\n\
             later = http.get(f\"https://{host}/x\")\n\
             write = http.post(\"https://api.example.com/v1/notes\", body=b\"1\")\n",
        )
        .expect("script");
        let t = Teacher {
            manifest: &manifest,
            text: MANIFEST,
            rules: &rules,
            dir: dir.path(),
        };
        let policy = Policy::new(rules.clone());
        let found: Vec<(DeniedReason, Option<usize>)> = check_literals(&t, &policy)
            .into_iter()
            .map(|l| (l.check, l.script_line.map(|(_, n)| n)))
            .collect();
        assert_eq!(
            found,
            [
                (DeniedReason::Host, Some(3)),
                (DeniedReason::Method, Some(5))
            ]
        );
    }
}

//! The three GitHub REST calls and the parts of their answers the summary keeps.

use gateway_tool::http::{self, Response};
use gateway_tool::{ToolError, log};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Contributor, Release, Summary};

/// Headers GitHub asks every client to send.
const HEADERS: [(&str, &str); 3] = [
    ("Accept", "application/vnd.github+json"),
    ("User-Agent", "agent-gateway-github-repo-summary"),
    ("X-GitHub-Api-Version", "2022-11-28"),
];

/// `GET /repos/{owner}/{repo}`; unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct RepoJson {
    full_name: String,
    description: Option<String>,
    stargazers_count: u64,
    forks_count: u64,
    open_issues_count: u64,
    default_branch: String,
    license: Option<LicenseJson>,
    pushed_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LicenseJson {
    spdx_id: Option<String>,
}

/// `GET /repos/{owner}/{repo}/releases/latest`.
#[derive(Debug, Deserialize)]
pub struct ReleaseJson {
    tag_name: String,
    name: Option<String>,
    published_at: Option<String>,
}

/// One entry of `GET /repos/{owner}/{repo}/contributors`.
#[derive(Debug, Deserialize)]
pub struct ContributorJson {
    login: String,
    contributions: u64,
}

/// An error answer's `{"message": ...}`.
#[derive(Deserialize)]
struct MessageJson {
    message: String,
}

/// The API at a base URL (`api_base`, normally `https://api.github.com`).
pub struct Api {
    base: String,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Api {
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub fn repo(&self, owner: &str, repo: &str) -> Result<RepoJson, ToolError> {
        let path = format!("/repos/{owner}/{repo}");
        let resp = self.get(&path)?;
        decode(&path, &expect_success(&path, resp)?)
    }

    /// `None` when the repository has no published release (GitHub answers 404).
    pub fn latest_release(
        &self,
        owner: &str,
        repo: &str,
    ) -> Result<Option<ReleaseJson>, ToolError> {
        let path = format!("/repos/{owner}/{repo}/releases/latest");
        let resp = self.get(&path)?;
        if resp.status == 404 {
            return Ok(None);
        }
        decode(&path, &expect_success(&path, resp)?).map(Some)
    }

    pub fn contributors(
        &self,
        owner: &str,
        repo: &str,
        top: u8,
    ) -> Result<Vec<ContributorJson>, ToolError> {
        let path = format!("/repos/{owner}/{repo}/contributors");
        let resp = self.get(&format!("{path}?per_page={top}"))?;
        // An empty repository has no contributors: 204 and no body.
        if resp.status == 204 {
            return Ok(Vec::new());
        }
        decode(&path, &expect_success(&path, resp)?)
    }

    fn get(&self, path_and_query: &str) -> Result<Response, ToolError> {
        let resp = http::get_with_headers(&format!("{}{path_and_query}", self.base), &HEADERS)?;
        log::debug(&format!(
            "GET {path_and_query}: {} ({} bytes)",
            resp.status,
            resp.body.len()
        ));
        Ok(resp)
    }
}

fn expect_success(path: &str, resp: Response) -> Result<Response, ToolError> {
    if resp.is_success() {
        return Ok(resp);
    }
    let said = resp
        .json::<MessageJson>()
        .map(|m| format!(": {}", m.message))
        .unwrap_or_default();
    Err(ToolError::Upstream(format!(
        "GitHub answered HTTP {} for {path}{said}",
        resp.status
    )))
}

fn decode<T: DeserializeOwned>(path: &str, resp: &Response) -> Result<T, ToolError> {
    resp.json()
        .map_err(|e| ToolError::Upstream(format!("unexpected answer from GitHub for {path}: {e}")))
}

/// Keeps what an agent needs; `top` caps the contributors even if the
/// upstream ignored `per_page`.
pub fn summarise(
    repo: RepoJson,
    release: Option<ReleaseJson>,
    contributors: Vec<ContributorJson>,
    top: u8,
) -> Summary {
    Summary {
        full_name: repo.full_name,
        description: repo.description,
        stars: repo.stargazers_count,
        forks: repo.forks_count,
        open_issues: repo.open_issues_count,
        default_branch: repo.default_branch,
        license: repo.license.and_then(|l| l.spdx_id),
        pushed_at: repo.pushed_at,
        latest_release: release.map(|r| Release {
            tag: r.tag_name,
            name: r.name,
            published_at: r.published_at,
        }),
        top_contributors: contributors
            .into_iter()
            .take(usize::from(top))
            .map(|c| Contributor {
                login: c.login,
                contributions: c.contributions,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str, status: u16) -> Response {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        Response {
            status,
            headers: Vec::new(),
            body: std::fs::read(&path).unwrap_or_default(),
        }
    }

    fn summary_of(
        repo: &str,
        release: Option<&str>,
        contributors: &str,
        top: u8,
    ) -> Result<Summary, ToolError> {
        let repo = decode("/r", &fixture(repo, 200))?;
        let release = release
            .map(|f| decode("/l", &fixture(f, 200)))
            .transpose()?;
        let contributors = decode("/c", &fixture(contributors, 200))?;
        Ok(summarise(repo, release, contributors, top))
    }

    #[test]
    fn summarises_the_widget_engine_fixtures() {
        let s = summary_of(
            "repos.json",
            Some("release_latest.json"),
            "contributors.json",
            3,
        );
        let Ok(s) = s else { panic!("{s:?}") };
        assert_eq!(s.full_name, "acme-corp/widget-engine");
        assert_eq!((s.stars, s.forks, s.open_issues), (4821, 377, 93));
        assert_eq!(s.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(
            s.latest_release.as_ref().map(|r| r.tag.as_str()),
            Some("v2.4.1")
        );
        assert_eq!(s.top_contributors.len(), 3);
        assert_eq!(
            s.top_contributors[0],
            Contributor {
                login: "mkowalski-acme".into(),
                contributions: 2417
            }
        );
    }

    #[test]
    fn summarises_a_repository_without_license_or_release() {
        let s = summary_of("gizmo_repos.json", None, "gizmo_contributors.json", 5);
        let Ok(s) = s else { panic!("{s:?}") };
        assert_eq!(
            (s.description, s.license, s.latest_release),
            (None, None, None)
        );
        assert_eq!(s.top_contributors.len(), 2);
    }

    #[test]
    fn error_answers_become_upstream_errors_with_status_and_message() {
        match expect_success(
            "/repos/acme-corp/missing",
            fixture("repo_not_found.json", 404),
        ) {
            Err(ToolError::Upstream(m)) => {
                assert_eq!(
                    m,
                    "GitHub answered HTTP 404 for /repos/acme-corp/missing: Not Found"
                )
            }
            other => panic!("{other:?}"),
        }
        let garbage = Response {
            status: 502,
            headers: Vec::new(),
            body: b"<html>".to_vec(),
        };
        assert!(
            matches!(expect_success("/x", garbage), Err(ToolError::Upstream(m)) if m == "GitHub answered HTTP 502 for /x")
        );
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let resp = Response {
            status: 200,
            headers: Vec::new(),
            body: br#"{"full_name": 1}"#.to_vec(),
        };
        match decode::<RepoJson>("/repos/a/b", &resp) {
            Err(ToolError::Upstream(m)) => assert!(m.contains("full_name: invalid type"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

//! `github_repo_summary`: what an agent needs to know about a GitHub
//! repository, from three REST calls, in a few hundred bytes instead of tens
//! of kilobytes.

mod github;

use gateway_tool::{Tool, ToolError, config};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Contributors listed when the input does not say.
const DEFAULT_CONTRIBUTORS: u8 = 5;
/// Keeps the output small; GitHub would page beyond 100 anyway.
const MAX_CONTRIBUTORS: u8 = 20;
/// GitHub's limit for repository names (logins are shorter still).
const MAX_NAME_LEN: usize = 100;

/// Which repository to summarise.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Account or organisation owning the repository, e.g. "rust-lang".
    pub owner: String,
    /// Repository name, e.g. "cargo".
    pub repo: String,
    /// How many top contributors to list, 1 to 20; default 5.
    #[schemars(range(min = 1, max = 20))]
    pub top_contributors: Option<u8>,
}

/// A repository at a glance.
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct Summary {
    /// "owner/name" as GitHub spells it.
    pub full_name: String,
    /// The repository's one-line description, if it has one.
    pub description: Option<String>,
    /// Number of stargazers.
    pub stars: u64,
    /// Number of forks.
    pub forks: u64,
    /// Open issues plus open pull requests (GitHub counts both).
    pub open_issues: u64,
    /// The branch pull requests target by default.
    pub default_branch: String,
    /// SPDX identifier of the detected license, e.g. "MIT"; null if none was detected.
    pub license: Option<String>,
    /// When anything was last pushed to any branch (ISO 8601, UTC).
    pub pushed_at: Option<String>,
    /// The newest published, non-prerelease release; null if there is none.
    pub latest_release: Option<Release>,
    /// Contributors with the most commits on the default branch, most first.
    pub top_contributors: Vec<Contributor>,
}

/// A published release.
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct Release {
    /// The git tag, e.g. "v1.2.0".
    pub tag: String,
    /// The release title, if it has one.
    pub name: Option<String>,
    /// When the release was published (ISO 8601, UTC).
    pub published_at: Option<String>,
}

/// One contributor.
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct Contributor {
    /// GitHub login.
    pub login: String,
    /// Commits counted for this contributor.
    pub contributions: u64,
}

struct GithubRepoSummary;

impl Tool for GithubRepoSummary {
    const NAME: &'static str = "github_repo_summary";
    const DESCRIPTION: &'static str = "Summarise a public GitHub repository: description, \
        stars, forks, open issues, license, last push, latest release and top contributors.";
    type Input = Input;
    type Output = Summary;

    fn call(input: Input) -> Result<Summary, ToolError> {
        let top = contributor_count(input.top_contributors)?;
        check_name("owner", &input.owner, false)?;
        check_name("repo", &input.repo, true)?;
        let api = github::Api::new(&config::require("api_base")?);
        let repo = api.repo(&input.owner, &input.repo)?;
        let release = api.latest_release(&input.owner, &input.repo)?;
        let contributors = api.contributors(&input.owner, &input.repo, top)?;
        Ok(github::summarise(repo, release, contributors, top))
    }
}

gateway_tool::export_tool!(GithubRepoSummary);

fn contributor_count(requested: Option<u8>) -> Result<u8, ToolError> {
    match requested.unwrap_or(DEFAULT_CONTRIBUTORS) {
        n @ 1..=MAX_CONTRIBUTORS => Ok(n),
        n => Err(ToolError::InvalidInput(format!(
            "top_contributors: must be between 1 and {MAX_CONTRIBUTORS}, got {n}"
        ))),
    }
}

/// Owner and repository names go into the URL path, so only GitHub's own
/// name characters pass: no `/`, no `..`, nothing to escape.
fn check_name(field: &str, value: &str, dots: bool) -> Result<(), ToolError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dots && c == '.');
    let problem = if value.is_empty() {
        "must not be empty"
    } else if value.len() > MAX_NAME_LEN {
        "is too long"
    } else if !value.chars().all(allowed) {
        if dots {
            "may contain only letters, digits, '-', '_' and '.'"
        } else {
            "may contain only letters, digits, '-' and '_'"
        }
    } else if value == "." || value.contains("..") {
        "must not be '.' or contain '..'"
    } else {
        return Ok(());
    };
    Err(ToolError::InvalidInput(format!(
        "{field}: {problem} (got {value:?})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(field: &str, value: &str, dots: bool) -> bool {
        matches!(check_name(field, value, dots), Err(ToolError::InvalidInput(m)) if m.starts_with(field))
    }

    #[test]
    fn names_accept_github_characters_only() {
        for ok in ["rust-lang", "acme_corp", "A1"] {
            assert!(check_name("owner", ok, false).is_ok(), "{ok}");
        }
        for ok in ["widget-engine", "gizmo.js", ".github", "a_b"] {
            assert!(check_name("repo", ok, true).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "..",
            ".",
            "a..b",
            "a b",
            "a%2f",
            "ü",
            &"x".repeat(101),
        ] {
            assert!(rejected("repo", bad, true), "{bad:?}");
        }
        assert!(rejected("owner", "acme.corp", false));
    }

    #[test]
    fn contributor_count_defaults_and_bounds() {
        assert_eq!(contributor_count(None), Ok(DEFAULT_CONTRIBUTORS));
        assert_eq!(contributor_count(Some(1)), Ok(1));
        assert_eq!(contributor_count(Some(20)), Ok(20));
        for bad in [0, 21, 255] {
            assert!(matches!(
                contributor_count(Some(bad)),
                Err(ToolError::InvalidInput(_))
            ));
        }
    }
}

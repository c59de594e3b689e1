//! Which tools a caller may list and call: a list of name patterns where
//! `*` matches any run of characters (`stripe_*`, `*_report`, `*`).

use std::fmt;

/// Longest pattern accepted (tool names are at most 64 characters).
const MAX_PATTERN_LEN: usize = 128;

/// One tool-name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

/// A pattern that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Empty.
    #[error("an empty tool pattern matches nothing; use \"*\" for every tool")]
    Empty,
    /// Characters a tool name never has (beyond `*`).
    #[error("{0:?}: tool patterns use lowercase letters, digits, '_' and '*'")]
    Characters(String),
    /// Too long.
    #[error("{0:?}: longer than {MAX_PATTERN_LEN} characters")]
    TooLong(String),
}

impl Pattern {
    /// Checks and keeps `text`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong(text.to_owned()));
        }
        let ok = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '*');
        if !ok {
            return Err(PatternError::Characters(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    /// Whether `name` matches: `*` stands for any run of characters.
    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.as_bytes())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Iterative wildcard match with one backtrack point: linear in practice,
/// never exponential whatever the pattern.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|b| *b == b'*')
}

/// The tools a caller may list and call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    patterns: Vec<Pattern>,
}

impl Scope {
    /// Every tool.
    pub fn all() -> Self {
        Self {
            patterns: vec![Pattern("*".to_owned())],
        }
    }

    /// No promoted tool (the built-in tools only).
    pub fn none() -> Self {
        Self {
            patterns: Vec::new(),
        }
    }

    /// The tools matching any of `patterns`.
    pub fn from_patterns<S: AsRef<str>>(
        patterns: impl IntoIterator<Item = S>,
    ) -> Result<Self, PatternError> {
        Ok(Self {
            patterns: patterns
                .into_iter()
                .map(|p| Pattern::parse(p.as_ref()))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The patterns.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether `tool` may be listed and called. The built-in tools (the
    /// health check and the field registry's) are in every scope.
    pub fn allows(&self, tool: &str) -> bool {
        crate::mcp::builtin::is_builtin(tool) || self.patterns.iter().any(|p| p.matches(tool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_match_any_run() {
        let cases = [
            ("stripe_*", "stripe_revenue", true),
            ("stripe_*", "stripe_", true),
            ("stripe_*", "hubspot_pipeline", false),
            ("*_report", "churn_report", true),
            ("*_report", "churn_reports", false),
            ("*", "anything", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "", true),
        ];
        for (pattern, name, want) in cases {
            let p = Pattern::parse(pattern).expect("pattern");
            assert_eq!(p.matches(name), want, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn bad_patterns_are_named() {
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        assert_eq!(
            Pattern::parse("Stripe_*"),
            Err(PatternError::Characters("Stripe_*".into()))
        );
        assert!(matches!(
            Pattern::parse(&"a".repeat(200)),
            Err(PatternError::TooLong(_))
        ));
    }

    #[test]
    fn builtins_are_in_every_scope() {
        let none = Scope::none();
        assert!(none.allows("health_check"));
        assert!(!none.allows("stripe_revenue"));
        let finance = Scope::from_patterns(["stripe_*", "hubspot_*"]).expect("scope");
        assert!(finance.allows("stripe_revenue"));
        assert!(!finance.allows("github_repo_summary"));
    }
}

//! The operator's local credentials for `gateway fixtures record`: a `.env`
//! file (the nearest one from the current folder up to the repository
//! root) and the process environment, the environment winning.
//!
//! The format is the common one: `KEY=VALUE` lines, `#` comment lines,
//! blank lines, an optional `export ` in front, and values optionally in
//! single quotes (taken literally) or double quotes (`\n`, `\t`, `\"` and
//! `\\` escapes). After an unquoted value, ` #` starts a comment. Errors
//! name the file and line, never the value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name looked for.
pub const DOTENV_FILE: &str = ".env";

/// Why a `.env` file cannot be used. Messages never contain a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DotenvError {
    /// The file exists but could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line that is not blank, a comment or an assignment.
    #[error("{}:{line}: expected KEY=VALUE", file.display())]
    NotAssignment {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// The name before `=` is not a variable name.
    #[error("{}:{line}: {key:?} is not a variable name (letters, digits and '_', not starting with a digit)", file.display())]
    BadKey {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// The name as written.
        key: String,
    },
    /// A quoted value without its closing quote on the same line.
    #[error("{}:{line}: the value of {key} has no closing quote", file.display())]
    UnclosedQuote {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// The variable.
        key: String,
    },
    /// Text after a quoted value's closing quote that is not a comment.
    #[error("{}:{line}: text after the closing quote of {key}'s value", file.display())]
    TrailingText {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// The variable.
        key: String,
    },
    /// The same variable twice: which one is meant is not clear.
    #[error("{}:{line}: {key} is already set on line {first}", file.display())]
    Duplicate {
        /// The file.
        file: PathBuf,
        /// 1-based line of the second assignment.
        line: usize,
        /// 1-based line of the first.
        first: usize,
        /// The variable.
        key: String,
    },
}

/// A parsed `.env` file. `Debug` shows names, never values.
#[derive(Clone, Default)]
pub struct Dotenv {
    /// Where it was read from (`None`: no file was found).
    pub file: Option<PathBuf>,
    values: BTreeMap<String, (String, usize)>,
}

impl std::fmt::Debug for Dotenv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dotenv")
            .field("file", &self.file)
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Dotenv {
    /// Parses `text` as read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, DotenvError> {
        let mut values: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let Some((key, value)) = parse_line(file, line, raw)? else {
                continue;
            };
            if let Some((_, first)) = values.get(&key) {
                return Err(DotenvError::Duplicate {
                    file: file.to_path_buf(),
                    line,
                    first: *first,
                    key,
                });
            }
            values.insert(key, (value, line));
        }
        Ok(Self {
            file: Some(file.to_path_buf()),
            values,
        })
    }

    /// Reads `file`.
    pub fn load(file: &Path) -> Result<Self, DotenvError> {
        let text = std::fs::read_to_string(file).map_err(|source| DotenvError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        Self::parse(file, &text)
    }

    /// The nearest `.env` from `start` up to the repository root (the first
    /// folder holding `.git`); outside a repository, `start` alone. No file
    /// is no error: the environment may hold everything.
    pub fn discover(start: &Path) -> Result<Self, DotenvError> {
        let root = start.ancestors().find(|dir| dir.join(".git").exists());
        let last = root.unwrap_or(start);
        for dir in start.ancestors() {
            let candidate = dir.join(DOTENV_FILE);
            if candidate.is_file() {
                return Self::load(&candidate);
            }
            if dir == last {
                break;
            }
        }
        Ok(Self::default())
    }

    /// The value of `key`, if the file sets it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(v, _)| v.as_str())
    }
}

/// One line: `None` for blank and comment lines.
fn parse_line(
    file: &Path,
    line: usize,
    raw: &str,
) -> Result<Option<(String, String)>, DotenvError> {
    let text = raw.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let text = text
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(text, str::trim_start);
    let Some((key, value)) = text.split_once('=') else {
        return Err(DotenvError::NotAssignment {
            file: file.to_path_buf(),
            line,
        });
    };
    let key = key.trim();
    if !is_name(key) {
        return Err(DotenvError::BadKey {
            file: file.to_path_buf(),
            line,
            key: key.chars().take(64).collect(),
        });
    }
    let key = key.to_string();
    let value = value.trim_start();
    let unclosed = || DotenvError::UnclosedQuote {
        file: file.to_path_buf(),
        line,
        key: key.clone(),
    };
    let (value, rest) = match value.chars().next() {
        Some('\'') => {
            let body = &value[1..];
            let end = body.find('\'').ok_or_else(unclosed)?;
            (body[..end].to_string(), &body[end + 1..])
        }
        Some('"') => {
            let (unescaped, used) = double_quoted(&value[1..]).ok_or_else(unclosed)?;
            (unescaped, &value[1 + used..])
        }
        _ => {
            // ` #` (or a tab) starts a comment after an unquoted value.
            let end = value
                .char_indices()
                .find(|&(i, c)| c == '#' && i > 0 && value[..i].ends_with([' ', '\t']))
                .map_or(value.len(), |(i, _)| i);
            (value[..end].trim_end().to_string(), "")
        }
    };
    let rest = rest.trim();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(DotenvError::TrailingText {
            file: file.to_path_buf(),
            line,
            key,
        });
    }
    Ok(Some((key, value)))
}

/// The text of a double-quoted value after its opening quote: the value and
/// the bytes used up to and including the closing quote.
fn double_quoted(text: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, other)) => out.push(other),
                None => return None,
            },
            other => out.push(other),
        }
    }
    None
}

/// Letters, digits and `_`, not starting with a digit.
fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(text: &str) -> Result<Dotenv, DotenvError> {
        Dotenv::parse(Path::new("/w/.env"), text)
    }

    #[test]
    fn values_comments_quotes_and_export() {
        let env = parse(
            "# credentials\n\
             \n\
             STRIPE_API_KEY=sk_test_abc123\n\
             export GITHUB_TOKEN = ghp_x  # a comment\n\
             SINGLE='has #hash and \"quotes\"'\n\
             DOUBLE=\"a \\\"quoted\\\" value\\n\"   # trailing comment\n\
             HASHED=abc#def\n\
             EMPTY=\n\
             LITERAL='back\\slash'\n",
        );
        let env = match env {
            Ok(env) => env,
            Err(e) => panic!("{e}"),
        };
        let cases = [
            ("STRIPE_API_KEY", Some("sk_test_abc123")),
            ("GITHUB_TOKEN", Some("ghp_x")),
            ("DOUBLE", Some("a \"quoted\" value\n")),
            ("HASHED", Some("abc#def")),
            ("EMPTY", Some("")),
            ("LITERAL", Some("back\\slash")),
            ("SINGLE", Some("has #hash and \"quotes\"")),
            ("MISSING", None),
        ];
        for (key, want) in cases {
            assert_eq!(env.get(key), want, "{key}");
        }
    }

    /// The variant and line of an error.
    fn kind(e: &DotenvError) -> (&'static str, usize) {
        match e {
            DotenvError::NotAssignment { line, .. } => ("NotAssignment", *line),
            DotenvError::BadKey { line, .. } => ("BadKey", *line),
            DotenvError::UnclosedQuote { line, .. } => ("UnclosedQuote", *line),
            DotenvError::TrailingText { line, .. } => ("TrailingText", *line),
            DotenvError::Duplicate { line, first, .. } => {
                assert_eq!(*first, 1);
                ("Duplicate", *line)
            }
            DotenvError::Io { .. } => ("Io", 0),
        }
    }

    #[test]
    fn bad_lines_are_typed_errors_with_their_line() {
        let cases = [
            ("A=1\njust words\n", ("NotAssignment", 2)),
            ("A=1\n\n1BAD=x\n", ("BadKey", 3)),
            ("A=\"unclosed\n", ("UnclosedQuote", 1)),
            ("A='unclosed\n", ("UnclosedQuote", 1)),
            ("# c\nA='x' y\n", ("TrailingText", 2)),
            ("A=1\nB=2\nA=3\n", ("Duplicate", 3)),
            ("MY KEY=1\n", ("BadKey", 1)),
        ];
        for (text, want) in cases {
            let err = parse(text).err();
            assert_eq!(err.as_ref().map(kind), Some(want), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn errors_never_show_a_value() {
        let secret = "sk_live_donotprint";
        for text in [
            format!("KEY=\"{secret}\n"),
            format!("KEY='{secret}' trailing\n"),
            format!("KEY={secret}\nKEY={secret}\n"),
        ] {
            let err = parse(&text).err().unwrap();
            assert!(!err.to_string().contains(secret), "{err}");
            assert!(!format!("{err:?}").contains(secret), "{err:?}");
        }
        let env = parse(&format!("KEY={secret}\n")).unwrap();
        assert!(!format!("{env:?}").contains(secret));
    }

    #[test]
    fn discovery_stops_at_the_repository_root() {
        let root = tempfile::tempdir().unwrap();
        let outer = root.path().join("outer");
        let repo = outer.join("repo");
        let deep = repo.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir(repo.join(".git")).unwrap();
        std::fs::write(outer.join(".env"), "OUTSIDE=1\n").unwrap();
        // Above the repository: not read.
        let found = Dotenv::discover(&deep).unwrap();
        assert_eq!(found.file, None);
        // At the root: read from a folder below it.
        std::fs::write(repo.join(".env"), "ROOT=1\n").unwrap();
        let found = Dotenv::discover(&deep).unwrap();
        assert_eq!(found.file.as_deref(), Some(repo.join(".env").as_path()));
        assert_eq!(found.get("ROOT"), Some("1"));
        // The nearest wins.
        std::fs::write(deep.join(".env"), "NEAR=1\n").unwrap();
        let found = Dotenv::discover(&deep).unwrap();
        assert_eq!(found.get("NEAR"), Some("1"));
        assert_eq!(found.get("ROOT"), None);
    }
}

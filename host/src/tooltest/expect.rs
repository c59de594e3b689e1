//! How a case's `expect` table is compared with a tool's JSON output
//! (`fixtures/tests.toml`, documented in `docs/python-tools.md`).
//!
//! Objects match as a deep subset: the keys a case names must be there with
//! matching values, others may be present. Arrays match `exact` (same length,
//! element by element, in order) unless the case says `contains` (each given
//! item matches some item of the output, in any order) for the whole case
//! (`arrays = "contains"`) or for one path (`[case.match] "items" = "contains"`).
//! TOML has no null, so `expect_null = ["path.to.field"]` lists fields that
//! must be present and null.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// How an expected array is compared with the output's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrayMode {
    /// Same length; element `i` matches expected element `i`.
    #[default]
    Exact,
    /// Every expected element matches some element of the output, any order.
    Contains,
}

/// What a case expects of the output.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    /// The deep subset the output must contain.
    pub want: Value,
    /// The array mode where `paths` names none.
    pub arrays: ArrayMode,
    /// Array modes by dotted path without indices (`"deals"`, `"data.items"`).
    pub paths: BTreeMap<String, ArrayMode>,
    /// Dotted paths (with `[i]` indices where needed) that must hold `null`.
    pub nulls: Vec<String>,
}

/// Why the output did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MismatchKind {
    /// A key the case names is missing.
    Missing,
    /// Different values (or kinds of value).
    Differs {
        /// The expected value, as JSON.
        want: String,
        /// The output's value, as JSON.
        got: String,
    },
    /// `exact` arrays of different lengths.
    Length {
        /// Expected length.
        want: usize,
        /// The output's length.
        got: usize,
    },
    /// A `contains` item that matches no item of the output's array.
    NoSuchItem {
        /// The expected item, as JSON.
        want: String,
    },
    /// An `expect_null` path holds something else.
    NotNull {
        /// The output's value, as JSON.
        got: String,
    },
    /// An `expect_null` path does not parse (`a.b[2].c`).
    BadPath,
}

/// The first place the output differs from the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Where, as `a.b[2].c` (`$` for the whole output), the form
    /// `tests.toml` uses.
    pub path: String,
    /// Where, as a JSON pointer (RFC 6901: `/a/b/2/c`, empty for the whole
    /// output); `None` for a `tests.toml` path that does not parse.
    pub pointer: Option<String>,
    /// What differs.
    pub kind: MismatchKind,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pointer first (what JSON tools take), the dotted path after.
        let path = match &self.pointer {
            Some(pointer) if pointer.is_empty() => "the whole output ($)".to_owned(),
            Some(pointer) => format!("at {pointer} ({})", self.path),
            None => self.path.clone(),
        };
        match &self.kind {
            MismatchKind::Missing => write!(f, "{path}: missing from the output"),
            MismatchKind::Differs { want, got } => write!(f, "{path}: expected {want}, got {got}"),
            MismatchKind::Length { want, got } => write!(
                f,
                "{path}: expected exactly {want} items, got {got} (say `arrays = \"contains\"` to expect a subset)"
            ),
            MismatchKind::NoSuchItem { want } => {
                write!(f, "{path}: no item matches {want}")
            }
            MismatchKind::NotNull { got } => write!(f, "{path}: expected null, got {got}"),
            MismatchKind::BadPath => write!(f, "{path}: not a path like a.b[2].c"),
        }
    }
}

/// Longest JSON rendering of a value kept in a [`Mismatch`] (an output can be large).
const SHOWN_CHARS: usize = 200;

fn show(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl Expectation {
    /// `Ok` when `got` meets every expectation, else the first mismatch.
    pub fn check(&self, got: &Value) -> Result<(), Mismatch> {
        self.matches(got, &self.want, &mut Path::default())?;
        for path in &self.nulls {
            check_null(got, path)?;
        }
        Ok(())
    }

    fn mode(&self, path: &Path) -> ArrayMode {
        self.paths
            .get(&path.without_indices())
            .copied()
            .unwrap_or(self.arrays)
    }

    fn matches(&self, got: &Value, want: &Value, path: &mut Path) -> Result<(), Mismatch> {
        match (got, want) {
            (Value::Object(g), Value::Object(w)) => {
                for (key, wv) in w {
                    path.push(Step::Key(key.clone()));
                    let result = match g.get(key) {
                        Some(gv) => self.matches(gv, wv, path),
                        None => Err(path.mismatch(MismatchKind::Missing)),
                    };
                    path.pop();
                    result?;
                }
                Ok(())
            }
            (Value::Array(g), Value::Array(w)) => match self.mode(path) {
                ArrayMode::Exact => {
                    if g.len() != w.len() {
                        return Err(path.mismatch(MismatchKind::Length {
                            want: w.len(),
                            got: g.len(),
                        }));
                    }
                    for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                        path.push(Step::Index(i));
                        let result = self.matches(gv, wv, path);
                        path.pop();
                        result?;
                    }
                    Ok(())
                }
                ArrayMode::Contains => {
                    for wv in w {
                        let found = g.iter().enumerate().any(|(i, gv)| {
                            path.push(Step::Index(i));
                            let ok = self.matches(gv, wv, path).is_ok();
                            path.pop();
                            ok
                        });
                        if !found {
                            return Err(path.mismatch(MismatchKind::NoSuchItem { want: show(wv) }));
                        }
                    }
                    Ok(())
                }
            },
            _ if numbers_equal(got, want) || got == want => Ok(()),
            _ => Err(path.mismatch(MismatchKind::Differs {
                want: show(want),
                got: show(got),
            })),
        }
    }
}

/// TOML `2` and JSON `2.0` are the same number to an operator.
fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().is_some() && x.as_f64() == y.as_f64(),
        _ => false,
    }
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Default)]
struct Path(Vec<Step>);

impl Path {
    fn push(&mut self, step: Step) {
        self.0.push(step);
    }

    fn pop(&mut self) {
        self.0.pop();
    }

    fn mismatch(&self, kind: MismatchKind) -> Mismatch {
        Mismatch {
            path: self.to_string(),
            pointer: Some(pointer(&self.0)),
            kind,
        }
    }

    fn without_indices(&self) -> String {
        let keys: Vec<&str> = self
            .0
            .iter()
            .filter_map(|s| match s {
                Step::Key(k) => Some(k.as_str()),
                Step::Index(_) => None,
            })
            .collect();
        keys.join(".")
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("$");
        }
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) if i == 0 => f.write_str(k)?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// What kind of JSON `value` is, in words.
pub(crate) fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `steps` as a JSON pointer (RFC 6901): `~` and `/` in keys escaped.
fn pointer(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push('/');
        match step {
            Step::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Step::Index(n) => out.push_str(&n.to_string()),
        }
    }
    out
}

/// Parses `a.b[2].c` into steps; None if it is malformed.
fn parse_path(text: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in text.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if key.is_empty() && steps.is_empty() {
            return None;
        }
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        if !rest.is_empty() {
            rest = rest.strip_suffix(']')?;
            for index in rest.split("][") {
                steps.push(Step::Index(index.parse().ok()?));
            }
        }
    }
    Some(steps)
}

fn check_null(got: &Value, text: &str) -> Result<(), Mismatch> {
    let Some(steps) = parse_path(text) else {
        return Err(Mismatch {
            path: text.to_string(),
            pointer: None,
            kind: MismatchKind::BadPath,
        });
    };
    let bad = |kind| Mismatch {
        path: text.to_string(),
        pointer: Some(pointer(&steps)),
        kind,
    };
    let mut at = got;
    for step in &steps {
        let next = match step {
            Step::Key(k) => at.as_object().and_then(|o| o.get(k)),
            Step::Index(i) => at.as_array().and_then(|a| a.get(*i)),
        };
        at = next.ok_or_else(|| bad(MismatchKind::Missing))?;
    }
    match at {
        Value::Null => Ok(()),
        other => Err(bad(MismatchKind::NotNull { got: show(other) })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(want: Value) -> Expectation {
        Expectation {
            want,
            ..Expectation::default()
        }
    }

    fn kind_at(e: &Expectation, got: Value) -> (String, MismatchKind) {
        let m = e.check(&got).expect_err("should not match");
        (m.path, m.kind)
    }

    #[test]
    fn objects_are_a_deep_subset() {
        let e = expect(json!({"a": {"b": 1}}));
        assert_eq!(e.check(&json!({"a": {"b": 1, "c": 2}, "d": 3})), Ok(()));
        assert_eq!(
            kind_at(&e, json!({"a": {"c": 2}})),
            ("a.b".to_string(), MismatchKind::Missing)
        );
        assert_eq!(
            kind_at(&e, json!({"a": {"b": 2}})),
            (
                "a.b".to_string(),
                MismatchKind::Differs {
                    want: "1".into(),
                    got: "2".into()
                }
            )
        );
        // An integer in TOML equals the same number written as a float.
        assert_eq!(expect(json!({"n": 2})).check(&json!({"n": 2.0})), Ok(()));
    }

    #[test]
    fn the_first_difference_is_named_by_json_pointer() {
        let e = expect(json!({"data": {"a/b": [{"id": 1}, {"~x": 2}]}}));
        let m = e
            .check(&json!({"data": {"a/b": [{"id": 1}, {"~x": 3}]}}))
            .expect_err("differs");
        assert_eq!(m.pointer.as_deref(), Some("/data/a~1b/1/~0x"));
        let whole = expect(json!({"a": 1}))
            .check(&json!([1]))
            .expect_err("differs");
        assert_eq!(whole.pointer.as_deref(), Some(""));
        let mut nulls = expect(json!({}));
        nulls.nulls = vec!["deals[1].closed_at".into()];
        let m = nulls
            .check(&json!({"deals": [{}, {"closed_at": 1}]}))
            .expect_err("not null");
        assert_eq!(m.pointer.as_deref(), Some("/deals/1/closed_at"));
    }

    #[test]
    fn exact_arrays_need_every_item_in_order() {
        let e = expect(json!({"items": [{"id": 1}, {"id": 2}]}));
        assert_eq!(
            e.check(&json!({"items": [{"id": 1, "x": 0}, {"id": 2}]})),
            Ok(())
        );
        assert_eq!(
            kind_at(&e, json!({"items": [{"id": 1}, {"id": 2}, {"id": 3}]})),
            (
                "items".to_string(),
                MismatchKind::Length { want: 2, got: 3 }
            )
        );
        assert_eq!(
            kind_at(&e, json!({"items": [{"id": 2}, {"id": 1}]})).0,
            "items[0].id"
        );
    }

    #[test]
    fn contains_arrays_need_each_item_somewhere() {
        let mut e = expect(json!({"items": [{"id": 3}, {"id": 1}]}));
        e.arrays = ArrayMode::Contains;
        assert_eq!(
            e.check(&json!({"items": [{"id": 1}, {"id": 2}, {"id": 3}]})),
            Ok(())
        );
        assert_eq!(
            kind_at(&e, json!({"items": [{"id": 1}, {"id": 2}]})),
            (
                "items".to_string(),
                MismatchKind::NoSuchItem {
                    want: r#"{"id":3}"#.into()
                }
            )
        );
    }

    #[test]
    fn a_path_mode_overrides_the_case_mode_at_that_path_only() {
        let mut e = expect(json!({"deals": [{"tags": ["a"]}], "top": [1]}));
        e.paths.insert("deals".into(), ArrayMode::Contains);
        let got = json!({"deals": [{"tags": ["b"]}, {"tags": ["a"]}], "top": [1]});
        assert_eq!(e.check(&got), Ok(()));
        // `deals.tags` is still exact: ["a", "z"] is not ["a"].
        let got = json!({"deals": [{"tags": ["a", "z"]}], "top": [1]});
        assert!(matches!(
            e.check(&got),
            Err(Mismatch { ref path, kind: MismatchKind::NoSuchItem { .. }, .. }) if path == "deals"
        ));
        // `top` stays exact.
        let got = json!({"deals": [{"tags": ["a"]}], "top": [1, 2]});
        assert_eq!(
            kind_at(&e, got),
            ("top".to_string(), MismatchKind::Length { want: 1, got: 2 })
        );
    }

    #[test]
    fn expect_null_needs_a_present_null() {
        let mut e = expect(json!({}));
        e.nulls = vec!["deals[1].closed_at".into(), "next".into()];
        let got = json!({"deals": [{}, {"closed_at": null}], "next": null});
        assert_eq!(e.check(&got), Ok(()));
        let got = json!({"deals": [{}, {"closed_at": "2026-10-01"}], "next": null});
        assert_eq!(
            kind_at(&e, got),
            (
                "deals[1].closed_at".to_string(),
                MismatchKind::NotNull {
                    got: r#""2026-10-01""#.into()
                }
            )
        );
        let got = json!({"deals": [{}, {"closed_at": null}]});
        assert_eq!(
            kind_at(&e, got),
            ("next".to_string(), MismatchKind::Missing)
        );
        e.nulls = vec!["a[x]".into()];
        assert_eq!(
            kind_at(&e, json!({})),
            ("a[x]".to_string(), MismatchKind::BadPath)
        );
    }
}

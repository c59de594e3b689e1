//! The case a recording adds to `tests.toml`: the input, the output as
//! `expect` (TOML has no null: nulls become `expect_null`), and what the
//! runner needs (`upstream_config`, `[secrets]` stand-ins) when the file
//! lacks it; the operator's own text is kept as written.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::toml_out::{ends_with_newline, strict, subset};
use super::{CaseOutcome, RecordError};

/// The value `tests.toml` gives each secret: the fixture server ignores it.
const PLACEHOLDER: &str = "placeholder";
/// Longest case name taken from the input.
const MAX_CASE_NAME: usize = 80;

/// The new `tests.toml` text (`None`: unchanged) and what happened to the case.
pub(super) fn tests_text(
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
        text.push_str(&upstream_config_line(upstream_config));
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
            let line = upstream_config_line(upstream_config);
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
pub(super) fn insert_before_first_table(text: &str, line: &str) -> String {
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
pub(super) fn case_name(input: &serde_json::Map<String, Value>) -> String {
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
pub(super) fn case_block(name: &str, input: toml::Table, output: &Value) -> String {
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
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// `a.b[2].c`, or `None` when a key cannot be written in that form.
pub(super) fn path_text(path: &[Step], with_indices: bool) -> Option<String> {
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
pub(super) fn expectation(
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

/// `upstream_config = ["key", ...]` as a tests.toml line.
fn upstream_config_line(keys: &[String]) -> String {
    let keys = keys.iter().cloned().map(toml::Value::String).collect();
    format!("upstream_config = {}\n", toml::Value::Array(keys))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;
    use crate::tooltest::check_cases;
    use serde_json::json;

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

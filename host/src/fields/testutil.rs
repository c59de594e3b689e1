//! The repository's registry and the bundled tools' example outputs, shared
//! by the tests of every part.
//!
//! An example output is a case's `[case.expect]` from
//! `tools-wasm/<tool>/fixtures/tests.toml`, completed with what a case does
//! not assert: the nulls TOML cannot write, and values the tool takes
//! straight from its fixture files. The completion only adds keys a case
//! leaves out, so a renamed or retyped field in the cases still shows.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::registry::{Integration, Registry};

pub(crate) fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn fields_dir() -> PathBuf {
    repo_dir().join("fields")
}

/// The repository's registry; every file must load.
pub(crate) fn repo_registry() -> Registry {
    let (registry, errors) = Registry::load(&fields_dir());
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(errors.is_empty(), "fields/ does not lint clean: {shown:#?}");
    registry
}

pub(crate) fn integration(slug: &str) -> Integration {
    match repo_registry().get(slug) {
        Some(integration) => integration.clone(),
        None => panic!("fields/{slug}.yaml is not registered"),
    }
}

/// One example output per case with expectations: `(case name, output)`.
pub(crate) fn example_outputs(tool: &str) -> Vec<(String, Value)> {
    let fixtures = repo_dir().join("tools-wasm").join(tool).join("fixtures");
    let text = std::fs::read_to_string(fixtures.join("tests.toml"))
        .unwrap_or_else(|e| panic!("{tool}: tests.toml: {e}"));
    let cases: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{tool}: tests.toml: {e}"));
    let Some(toml::Value::Array(cases)) = cases.get("case") else {
        panic!("{tool}: tests.toml has no [[case]]");
    };
    let mut outputs = Vec::new();
    for case in cases {
        let case = serde_json::to_value(case).unwrap_or_else(|e| panic!("{tool}: {e}"));
        let (Some(name), Some(Value::Object(expect))) = (case["name"].as_str(), case.get("expect"))
        else {
            continue;
        };
        let mut output = expect.clone();
        match tool {
            "stripe_revenue" => complete_stripe(&mut output, &case["input"]),
            "hubspot_pipeline" => complete_hubspot(&mut output, &fixtures),
            "github_repo_summary" => complete_github(&mut output, &case["input"], &fixtures),
            _ => panic!("no completion for {tool}"),
        }
        outputs.push((name.to_owned(), Value::Object(output)));
    }
    assert!(!outputs.is_empty(), "{tool}: no case with expectations");
    outputs
}

fn fill(output: &mut Map<String, Value>, key: &str, value: Value) {
    output.entry(key.to_owned()).or_insert(value);
}

/// Null top-level amounts (several currencies: TOML has no null), the
/// period from the input, and `decimals` (2 for usd, eur, gbp).
fn complete_stripe(output: &mut Map<String, Value>, input: &Value) {
    for key in ["currency", "gross", "refunded", "net"] {
        fill(output, key, Value::Null);
    }
    let (start, end) = (input["start"].as_str(), input["end"].as_str());
    let days = match (start.and_then(day_number), end.and_then(day_number)) {
        (Some(start), Some(end)) => end - start,
        _ => panic!("stripe case input without dates: {input}"),
    };
    fill(
        output,
        "period",
        json!({"start": start, "end": end, "days": days}),
    );
    fill(output, "by_currency", json!({}));
    if let Some(Value::Object(currencies)) = output.get_mut("by_currency") {
        for totals in currencies.values_mut() {
            if let Value::Object(totals) = totals {
                fill(totals, "decimals", json!(2));
            }
        }
    }
}

/// Days since 1970-01-01 of an ISO date (the civil-calendar formula).
fn day_number(date: &str) -> Option<i64> {
    let mut parts = date.split('-').map(str::parse::<i64>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The pipeline's label from its fixture, `owner_id` null for all owners,
/// `currency_note` the tool's constant.
fn complete_hubspot(output: &mut Map<String, Value>, fixtures: &std::path::Path) {
    let text = std::fs::read_to_string(fixtures.join("pipeline_default.json"))
        .unwrap_or_else(|e| panic!("hubspot fixture: {e}"));
    let pipeline: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("hubspot fixture: {e}"));
    fill(output, "pipeline", pipeline["label"].clone());
    fill(output, "owner_id", Value::Null);
    fill(
        output,
        "currency_note",
        json!(
            "Deal amounts as entered in HubSpot, in the portal's company currency; deals without an amount count as 0."
        ),
    );
}

/// The summary `github::summarise` makes of the case's fixture files.
fn complete_github(output: &mut Map<String, Value>, input: &Value, fixtures: &std::path::Path) {
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(fixtures.join(name))
            .unwrap_or_else(|e| panic!("github fixture {name}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("github fixture {name}: {e}"))
    };
    let gizmo = input["repo"] == "gizmo";
    let repo = read(if gizmo {
        "gizmo_repos.json"
    } else {
        "repos.json"
    });
    let contributors = read(if gizmo {
        "gizmo_contributors.json"
    } else {
        "contributors.json"
    });
    let top = input["top_contributors"].as_u64().unwrap_or(5);
    let top: Vec<Value> = contributors
        .as_array()
        .map(|all| {
            all.iter()
                .take(usize::try_from(top).unwrap_or(usize::MAX))
                .map(|c| json!({"login": c["login"], "contributions": c["contributions"]}))
                .collect()
        })
        .unwrap_or_default();
    let release = if gizmo {
        Value::Null
    } else {
        let r = read("release_latest.json");
        json!({"tag": r["tag_name"], "name": r["name"], "published_at": r["published_at"]})
    };
    fill(output, "description", repo["description"].clone());
    fill(output, "stars", repo["stargazers_count"].clone());
    fill(output, "forks", repo["forks_count"].clone());
    fill(output, "open_issues", repo["open_issues_count"].clone());
    fill(output, "default_branch", repo["default_branch"].clone());
    fill(output, "license", repo["license"]["spdx_id"].clone());
    fill(output, "pushed_at", repo["pushed_at"].clone());
    fill(output, "top_contributors", Value::Array(top));
    // The case asserts only the tag; the rest of the release comes from the fixture.
    match (output.get_mut("latest_release"), release) {
        (Some(Value::Object(asserted)), Value::Object(full)) => {
            for (key, value) in full {
                asserted.entry(key).or_insert(value);
            }
        }
        (_, release) => fill(output, "latest_release", release),
    }
}

#[test]
fn example_outputs_complete_every_case() {
    let stripe = example_outputs("stripe_revenue");
    assert_eq!(stripe.len(), 5);
    let october = &stripe[0].1;
    assert_eq!(october["period"]["days"], json!(31));
    assert_eq!(october["gross"], Value::Null);
    assert_eq!(october["by_currency"]["usd"]["decimals"], json!(2));
    let empty_day = &stripe[4].1;
    assert_eq!(
        empty_day["period"],
        json!({"start": "2026-12-01", "end": "2026-12-02", "days": 1})
    );
    assert_eq!(empty_day["by_currency"], json!({}));
    assert_eq!(example_outputs("hubspot_pipeline").len(), 2);
    let github = example_outputs("github_repo_summary");
    assert_eq!(github.len(), 2);
    assert_eq!(github[0].1["latest_release"]["tag"], json!("v2.4.1"));
    assert_eq!(
        github[0].1["top_contributors"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(github[1].1["latest_release"], Value::Null);
    assert_eq!(day_number("1970-01-01"), Some(0));
    assert_eq!(day_number("2024-03-01"), Some(19_783));
}

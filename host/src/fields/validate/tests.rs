use serde_json::{Value, json};

use super::*;
use crate::fields::testutil::{example_outputs, integration};

/// Applies `edit` to a copy of `value`.
fn edited(value: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut copy = value.clone();
    edit(&mut copy);
    copy
}

fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.remove(key);
    }
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.insert(key.to_owned(), new);
    }
}

fn mismatch(field: &str, expected: FieldType, actual: JsonKind) -> TypeMismatch {
    TypeMismatch {
        field: field.to_owned(),
        expected,
        actual,
    }
}

/// `(unknown, missing, mismatches)` of a validation, empty for none.
type Found = (Vec<&'static str>, Vec<&'static str>, Vec<TypeMismatch>);

fn found(v: Option<FieldValidation>) -> (Vec<String>, Vec<String>, Vec<TypeMismatch>) {
    v.map(|v| (v.unknown_fields, v.missing_fields, v.type_mismatches))
        .unwrap_or_default()
}

fn same(got: (Vec<String>, Vec<String>, Vec<TypeMismatch>), want: &Found) -> bool {
    got.0 == want.0 && got.1 == want.1 && got.2 == want.2
}

#[test]
fn every_example_output_validates_clean() {
    for (tool, slug) in [
        ("stripe_revenue", "stripe"),
        ("hubspot_pipeline", "hubspot"),
        ("github_repo_summary", "github"),
    ] {
        let fields = integration(slug);
        for (case, output) in example_outputs(tool) {
            assert_eq!(validate(&fields, &output), None, "{tool}: {case}");
        }
    }
}

#[test]
fn stripe_drift_is_reported_with_registry_paths() {
    let stripe = integration("stripe");
    let october = &example_outputs("stripe_revenue")[0].1;
    let cases: Vec<(&str, Value, Found)> = vec![
        (
            "a top-level field removed",
            edited(october, |v| remove(v, "/charge_count")),
            (vec![], vec!["charge_count"], vec![]),
        ),
        (
            "a nullable field removed is not missing",
            edited(october, |v| remove(v, "/gross")),
            (vec![], vec![], vec![]),
        ),
        (
            "a nested field removed",
            edited(october, |v| remove(v, "/period/days")),
            (vec![], vec!["period.days"], vec![]),
        ),
        (
            "a map value's field removed from one currency",
            edited(october, |v| remove(v, "/by_currency/eur/net_minor")),
            (vec![], vec!["by_currency.*.net_minor"], vec![]),
        ),
        (
            "an integer turned into a string",
            edited(october, |v| set(v, "/charge_count", json!("230"))),
            (
                vec![],
                vec![],
                vec![mismatch(
                    "charge_count",
                    FieldType::Integer,
                    JsonKind::String,
                )],
            ),
        ),
        (
            "a fraction where an integer is registered",
            edited(october, |v| {
                set(v, "/by_currency/usd/gross_minor", json!(5470945.5))
            }),
            (
                vec![],
                vec![],
                vec![mismatch(
                    "by_currency.*.gross_minor",
                    FieldType::Integer,
                    JsonKind::Number,
                )],
            ),
        ),
        (
            "null where not nullable",
            edited(october, |v| set(v, "/period/days", Value::Null)),
            (
                vec![],
                vec![],
                vec![mismatch("period.days", FieldType::Integer, JsonKind::Null)],
            ),
        ),
        (
            "a map value that is not an object",
            edited(october, |v| set(v, "/by_currency/gbp", json!(486.0))),
            (
                vec![],
                vec![],
                vec![mismatch(
                    "by_currency.*",
                    FieldType::Object,
                    JsonKind::Number,
                )],
            ),
        ),
        (
            "unknown fields at the top, nested and in map values",
            edited(october, |v| {
                set(v, "/mrr", json!(1200));
                set(v, "/period/timezone", json!("UTC"));
                set(v, "/by_currency/usd/fees", json!(12));
                set(v, "/by_currency/eur/fees", json!(3));
            }),
            (
                vec!["by_currency.*.fees", "mrr", "period.timezone"],
                vec![],
                vec![],
            ),
        ),
    ];
    for (name, output, want) in cases {
        let got = found(validate(&stripe, &output));
        assert!(same(got.clone(), &want), "{name}: got {got:?}");
    }
}

#[test]
fn hubspot_list_items_are_checked_one_by_one() {
    let hubspot = integration("hubspot");
    let pipeline = &example_outputs("hubspot_pipeline")[0].1;
    let cases: Vec<(&str, Value, Found)> = vec![
        (
            "one stage's probability as text",
            edited(pipeline, |v| set(v, "/stages/2/probability", json!("0.5"))),
            (
                vec![],
                vec![],
                vec![mismatch(
                    "stages[].probability",
                    FieldType::Number,
                    JsonKind::String,
                )],
            ),
        ),
        (
            "a field missing from two stages is listed once",
            edited(pipeline, |v| {
                remove(v, "/stages/0/weighted_amount");
                remove(v, "/stages/4/weighted_amount");
            }),
            (vec![], vec!["stages[].weighted_amount"], vec![]),
        ),
        (
            "a new field in the items",
            edited(pipeline, |v| set(v, "/stages/1/color", json!("#ff0000"))),
            (vec!["stages[].color"], vec![], vec![]),
        ),
        (
            "the whole list replaced by an object",
            edited(pipeline, |v| set(v, "/stages", json!({}))),
            (
                vec![],
                vec![],
                vec![mismatch("stages", FieldType::Array, JsonKind::Object)],
            ),
        ),
        (
            "an empty list is fine",
            edited(pipeline, |v| set(v, "/stages", json!([]))),
            (vec![], vec![], vec![]),
        ),
        (
            "a nested object's field missing",
            edited(pipeline, |v| remove(v, "/totals/weighted_amount")),
            (vec![], vec!["totals.weighted_amount"], vec![]),
        ),
        (
            "a nullable field null",
            edited(pipeline, |v| set(v, "/owner_id", Value::Null)),
            (vec![], vec![], vec![]),
        ),
    ];
    for (name, output, want) in cases {
        let got = found(validate(&hubspot, &output));
        assert!(same(got.clone(), &want), "{name}: got {got:?}");
    }
}

#[test]
fn objects_registered_without_nested_paths_are_taken_whole() {
    let github = integration("github");
    let busy = &example_outputs("github_repo_summary")[0].1;
    let cases: Vec<(&str, Value, Found)> = vec![
        (
            "anything inside latest_release",
            edited(busy, |v| set(v, "/latest_release/assets", json!([1, 2]))),
            (vec![], vec![], vec![]),
        ),
        (
            "latest_release of the wrong type",
            edited(busy, |v| set(v, "/latest_release", json!("v2.4.1"))),
            (
                vec![],
                vec![],
                vec![mismatch(
                    "latest_release",
                    FieldType::Object,
                    JsonKind::String,
                )],
            ),
        ),
        (
            "top_contributors of the wrong type",
            edited(busy, |v| set(v, "/top_contributors", json!({"login": "x"}))),
            (
                vec![],
                vec![],
                vec![mismatch(
                    "top_contributors",
                    FieldType::Array,
                    JsonKind::Object,
                )],
            ),
        ),
        (
            "the result is not an object",
            json!([busy]),
            (
                vec![],
                vec![],
                vec![mismatch("$", FieldType::Object, JsonKind::Array)],
            ),
        ),
    ];
    for (name, output, want) in cases {
        let got = found(validate(&github, &output));
        assert!(same(got.clone(), &want), "{name}: got {got:?}");
    }
}

#[test]
fn attach_adds_the_summary_only_to_objects() {
    let stripe = integration("stripe");
    let october = &example_outputs("stripe_revenue")[0].1;
    let mut output = edited(october, |v| {
        remove(v, "/refund_count");
        set(v, "/failed_count", json!("7"));
        set(v, "/mrr", json!(1));
    });
    let Some(summary) = validate(&stripe, &output) else {
        panic!("drift not found");
    };
    assert!(!summary.is_clean());
    attach(&mut output, summary);
    assert_eq!(
        output[VALIDATION_KEY],
        json!({
            "integration": "stripe",
            "unknown_fields": ["mrr"],
            "missing_fields": ["refund_count"],
            "type_mismatches": [{"field": "failed_count", "expected": "integer", "actual": "string"}],
        })
    );
    // A result that already carries a summary is checked without it.
    assert_eq!(
        validate(
            &stripe,
            &edited(october, |v| set(v, "/_field_validation", json!({})))
        ),
        None
    );

    let mut not_object = json!([1]);
    attach(&mut not_object, FieldValidation::default());
    assert_eq!(not_object, json!([1]));
}

#[test]
fn long_lists_are_capped_and_counted() {
    let stripe = integration("stripe");
    let mut output = example_outputs("stripe_revenue")[0].1.clone();
    for i in 0..(MAX_LISTED + 7) {
        set(&mut output, &format!("/extra_{i:03}"), json!(i));
    }
    let Some(summary) = validate(&stripe, &output) else {
        panic!("drift not found");
    };
    assert_eq!(summary.unknown_fields.len(), MAX_LISTED);
    assert_eq!(summary.omitted, 7);
    assert_eq!(
        summary.unknown_fields.first().map(String::as_str),
        Some("extra_000")
    );
}

#[test]
fn unregistered_prefixes_stand_for_the_fields_under_them() {
    // Only `a.b.c` and `a.b.d` are registered, not `a` or `a.b`.
    let text = "integration: x\nfields:\n  a.b.c:\n    display_name: C\n    description: d\n    type: integer\n  a.b.d:\n    display_name: D\n    description: d\n    type: string\n    nullable: true\n";
    let x = match Integration::parse(std::path::Path::new("x.yaml"), text) {
        Ok(x) => x,
        Err(e) => panic!("{e:?}"),
    };
    let cases: Vec<(Value, Found)> = vec![
        (
            json!({"a": {"b": {"c": 1, "d": null}}}),
            (vec![], vec![], vec![]),
        ),
        (json!({"a": {}}), (vec![], vec!["a.b.c"], vec![])),
        (json!({}), (vec![], vec!["a.b.c"], vec![])),
        (
            json!({"a": []}),
            (
                vec![],
                vec![],
                vec![mismatch("a", FieldType::Object, JsonKind::Array)],
            ),
        ),
        (
            json!({"a": null}),
            (
                vec![],
                vec![],
                vec![mismatch("a", FieldType::Object, JsonKind::Null)],
            ),
        ),
    ];
    for (output, want) in cases {
        let got = found(validate(&x, &output));
        assert!(same(got.clone(), &want), "{output}: got {got:?}");
    }
}

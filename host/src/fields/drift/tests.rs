use serde_json::{Value, json};

use super::*;
use crate::fields::registry::FieldType;
use crate::fields::testutil::{example_outputs, integration};

fn all_paths(integration: &Integration) -> Vec<String> {
    integration.fields.keys().cloned().collect()
}

#[test]
fn a_full_sample_leaves_every_field_unchanged() {
    let stripe = integration("stripe");
    let october = &example_outputs("stripe_revenue")[0].1;
    let d = drift(&stripe, october);
    assert!(d.is_clean(), "{d:?}");
    assert_eq!(d.unchanged, all_paths(&stripe));
    assert_eq!(
        (
            d.new_fields.len(),
            d.removed_fields.len(),
            d.unobserved.len()
        ),
        (0, 0, 0)
    );
    assert_eq!(
        serde_json::to_value(&d)
            .ok()
            .map(|v| v.as_object().map(|m| m.len())),
        Some(Some(3)),
        "the seed's three keys, nothing else when there is nothing else to say"
    );
}

/// (name, sample, new, removed, type changed, unobserved)
type Case = (
    &'static str,
    Value,
    Vec<&'static str>,
    Vec<&'static str>,
    Vec<(&'static str, JsonKind)>,
    Vec<&'static str>,
);

#[test]
fn drift_sorts_fields_into_new_removed_unchanged_and_the_rest() {
    let stripe = integration("stripe");
    let october = example_outputs("stripe_revenue")[0].1.clone();
    let empty_day = example_outputs("stripe_revenue")[4].1.clone();
    let mut changed = october.clone();
    if let Value::Object(map) = &mut changed {
        map.remove("refund_count");
        map.insert("mrr".into(), json!(100));
        map.insert("failed_count".into(), json!("7"));
        map.insert(
            "period".into(),
            json!({"start": "2026-10-01", "end": "2026-11-01", "days": 31, "tz": "UTC"}),
        );
    }
    let cases: Vec<Case> = vec![
        (
            "new, removed and retyped fields",
            changed,
            vec!["mrr", "period.tz"],
            vec!["refund_count"],
            vec![("failed_count", JsonKind::String)],
            vec![],
        ),
        (
            "an empty map cannot show its values' fields",
            empty_day,
            vec![],
            vec![],
            vec![],
            vec![
                "by_currency.*.count",
                "by_currency.*.decimals",
                "by_currency.*.gross",
                "by_currency.*.gross_minor",
                "by_currency.*.net",
                "by_currency.*.net_minor",
                "by_currency.*.refunded",
                "by_currency.*.refunded_minor",
            ],
        ),
        (
            "an absent object takes its fields with it",
            json!({"currency": null, "gross": null, "refunded": null, "net": null, "charge_count": 0, "refund_count": 0, "failed_count": 0, "by_currency": {}}),
            vec![],
            vec!["period", "period.days", "period.end", "period.start"],
            vec![],
            vec![
                "by_currency.*.count",
                "by_currency.*.decimals",
                "by_currency.*.gross",
                "by_currency.*.gross_minor",
                "by_currency.*.net",
                "by_currency.*.net_minor",
                "by_currency.*.refunded",
                "by_currency.*.refunded_minor",
            ],
        ),
    ];
    for (name, sample, new, removed, retyped, unobserved) in cases {
        let d = drift(&stripe, &sample);
        assert_eq!(d.new_fields, new, "{name}");
        assert_eq!(d.removed_fields, removed, "{name}");
        let got: Vec<_> = d
            .type_changed
            .iter()
            .map(|m| (m.field.as_str(), m.actual))
            .collect();
        assert_eq!(got, retyped, "{name}");
        assert_eq!(d.unobserved, unobserved, "{name}");
        // Every registered path lands in exactly one list.
        let mut sorted: Vec<String> = d
            .unchanged
            .iter()
            .chain(&d.removed_fields)
            .chain(&d.unobserved)
            .cloned()
            .chain(d.type_changed.iter().map(|m| m.field.clone()))
            .collect();
        sorted.sort();
        assert_eq!(sorted, all_paths(&stripe), "{name}");
        assert_eq!(
            d.is_clean(),
            new.is_empty() && removed.is_empty() && retyped.is_empty()
        );
    }
}

#[test]
fn list_items_and_whole_objects() {
    let hubspot = integration("hubspot");
    let mut pipeline = example_outputs("hubspot_pipeline")[0].1.clone();
    if let Some(Value::Object(first)) = pipeline.pointer_mut("/stages/0") {
        first.insert("color".into(), json!("red"));
        first.insert("probability".into(), json!("20%"));
    }
    let d = drift(&hubspot, &pipeline);
    assert_eq!(d.new_fields, ["stages[].color"]);
    assert_eq!(
        d.type_changed,
        [TypeMismatch {
            field: "stages[].probability".into(),
            expected: FieldType::Number,
            actual: JsonKind::String
        }]
    );
    assert!(d.removed_fields.is_empty());

    let github = integration("github");
    let never_released = &example_outputs("github_repo_summary")[1].1;
    let d = drift(&github, never_released);
    assert!(d.is_clean(), "{d:?}");
    assert!(
        d.unchanged.contains(&"latest_release".to_owned()),
        "null where nullable counts as seen"
    );

    let d = drift(&github, &json!("not an object"));
    assert_eq!(
        d.type_changed,
        [TypeMismatch {
            field: "$".into(),
            expected: FieldType::Object,
            actual: JsonKind::String
        }]
    );
}

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::fields::testutil::{example_outputs, integration};

/// Output schemas as the Python guest SDK builds them from the tools' return
/// types (`build_spec(tool).output_schema()`), captured from the bundled tools.
fn python_schema(tool: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/fields/testdata")
        .join(format!("{tool}.output-schema.json"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The schema without any `description`, to compare everything else.
fn without_descriptions(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "description")
                .map(|(k, v)| (k.clone(), without_descriptions(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_descriptions).collect()),
        other => other.clone(),
    }
}

fn text(def: Option<&FieldDef>) -> Option<Value> {
    def.map(|d| Value::String(describe(d)))
}

#[test]
fn describe_condenses_a_definition_into_one_line() {
    let stripe = integration("stripe");
    let cases = [
        (
            "period.days",
            "Days in period: Number of days counted; at most 366.",
        ),
        (
            "by_currency.*.refunded_minor",
            "Refunded (minor units): Exact refunded amount in the currency's smallest unit. Unit: minor currency unit. Calculation: sum(charge.amount_refunded)",
        ),
        (
            "refund_count",
            "Refunded charges: Successful charges in the period with any refund, full or partial. Note: Counts charges, not refund objects; a charge refunded twice counts once.",
        ),
    ];
    for (field, want) in cases {
        assert_eq!(
            stripe.lookup(field).map(describe).as_deref(),
            Some(want),
            "{field}"
        );
    }
    let hubspot = integration("hubspot");
    let weighted = hubspot
        .lookup("totals.weighted_amount")
        .map(describe)
        .unwrap_or_default();
    assert!(weighted.starts_with("Weighted pipeline (forecast): Sum of the stages'"));
    assert!(weighted.contains(". Currency: the portal's company currency. Calculation: sum(stages[].weighted_amount). Note: A forecast convention"));
    assert!(!weighted.contains('\n'));
}

#[test]
fn stripe_schema_gets_registry_descriptions_and_nothing_else_changes() {
    let stripe = integration("stripe");
    let original = python_schema("stripe_revenue");
    let mut schema = original.clone();
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.insert(
            "debug".into(),
            json!({"description": "Not registered.", "type": "string"}),
        );
    }
    let before = schema.clone();
    enrich_schema(&mut schema, &stripe);

    assert_eq!(without_descriptions(&schema), without_descriptions(&before));
    let cases = [
        ("/properties/gross", "gross"),
        ("/properties/period", "period"),
        ("/properties/period/properties/days", "period.days"),
        ("/properties/by_currency", "by_currency"),
        (
            "/properties/by_currency/additionalProperties/properties/gross_minor",
            "by_currency.*.gross_minor",
        ),
        (
            "/properties/by_currency/additionalProperties/properties/decimals",
            "by_currency.*.decimals",
        ),
    ];
    for (pointer, field) in cases {
        assert_eq!(
            schema
                .pointer(pointer)
                .and_then(|s| s.get("description"))
                .cloned(),
            text(stripe.lookup(field)),
            "{pointer}"
        );
    }
    // Untouched: the result's own description, the map values' schema (no
    // `by_currency.*` entry) and the unregistered property.
    for pointer in [
        "",
        "/properties/by_currency/additionalProperties",
        "/properties/debug",
    ] {
        assert_eq!(
            schema.pointer(pointer).and_then(|s| s.get("description")),
            before.pointer(pointer).and_then(|s| s.get("description")),
            "{pointer}"
        );
    }
}

#[test]
fn hubspot_list_items_are_described_through_items() {
    let hubspot = integration("hubspot");
    let mut schema = python_schema("hubspot_pipeline");
    enrich_schema(&mut schema, &hubspot);
    let cases = [
        ("/properties/stages", "stages"),
        (
            "/properties/stages/items/properties/label",
            "stages[].label",
        ),
        (
            "/properties/stages/items/properties/weighted_amount",
            "stages[].weighted_amount",
        ),
        (
            "/properties/totals/properties/deals_in_unknown_stages",
            "totals.deals_in_unknown_stages",
        ),
        ("/properties/owner_id", "owner_id"),
    ];
    for (pointer, field) in cases {
        assert_eq!(
            schema
                .pointer(pointer)
                .and_then(|s| s.get("description"))
                .cloned(),
            text(hubspot.lookup(field)),
            "{pointer}"
        );
    }
    assert_eq!(
        schema.pointer("/properties/stages/items/description"),
        Some(&json!("One open stage of the pipeline.")),
    );
}

#[test]
fn references_are_copied_in_before_a_path_inside_them_is_described() {
    // The shape schemars gives the GitHub tool's output, with a registry that
    // describes fields inside the shared definitions.
    let mut schema = json!({
        "type": "object",
        "properties": {
            "full_name": {"type": "string"},
            "latest_release": {"anyOf": [{"$ref": "#/$defs/Release"}, {"type": "null"}]},
            "previous_release": {"anyOf": [{"$ref": "#/$defs/Release"}, {"type": "null"}]},
            "top_contributors": {"type": "array", "items": {"$ref": "#/$defs/Contributor"}},
            "loop": {"$ref": "#/$defs/Loop"},
        },
        "$defs": {
            "Release": {"type": "object", "properties": {"tag": {"type": "string"}, "name": {"type": ["string", "null"]}}},
            "Contributor": {"type": "object", "properties": {"login": {"type": "string"}}},
            "Loop": {"$ref": "#/$defs/Loop"},
        },
    });
    let defs_before = schema["$defs"].clone();
    let text = "integration: gh\nfields:\n  latest_release:\n    display_name: Latest release\n    description: The newest release.\n    type: object\n    nullable: true\n  latest_release.tag:\n    display_name: Tag\n    description: The git tag.\n    type: string\n  top_contributors[].login:\n    display_name: Login\n    description: GitHub login.\n    type: string\n  loop.x:\n    display_name: X\n    description: x.\n    type: string\n";
    let gh = Integration::parse(Path::new("gh.yaml"), text).unwrap_or_else(|e| panic!("{e:?}"));
    enrich_schema(&mut schema, &gh);

    let at = |pointer: &str| schema.pointer(pointer).cloned();
    assert_eq!(
        at("/properties/latest_release/description"),
        Some(json!("Latest release: The newest release."))
    );
    assert_eq!(
        at("/properties/latest_release/anyOf/0"),
        Some(json!({"type": "object", "properties": {
            "tag": {"type": "string", "description": "Tag: The git tag."},
            "name": {"type": ["string", "null"]},
        }}))
    );
    assert_eq!(
        at("/properties/top_contributors/items/properties/login/description"),
        Some(json!("Login: GitHub login."))
    );
    // The shared definitions and the other use of Release stay as they were.
    assert_eq!(schema["$defs"], defs_before);
    assert_eq!(
        at("/properties/previous_release"),
        Some(json!({"anyOf": [{"$ref": "#/$defs/Release"}, {"type": "null"}]}))
    );
    assert_eq!(at("/properties/full_name"), Some(json!({"type": "string"})));
}

#[test]
fn a_schema_built_from_the_registry_alone() {
    let stripe = integration("stripe");
    let schema = schema_from_fields(&stripe);
    let at = |pointer: &str| schema.pointer(pointer).cloned();
    let cases = [
        ("/type", json!("object")),
        ("/properties/gross/type", json!(["number", "null"])),
        ("/properties/period/type", json!("object")),
        ("/properties/period/properties/days/type", json!("integer")),
        (
            "/properties/period/required",
            json!(["days", "end", "start"]),
        ),
        (
            "/properties/by_currency/additionalProperties/type",
            json!("object"),
        ),
        (
            "/properties/by_currency/additionalProperties/properties/gross_minor/type",
            json!("integer"),
        ),
        (
            "/required",
            json!([
                "by_currency",
                "charge_count",
                "failed_count",
                "period",
                "refund_count"
            ]),
        ),
    ];
    for (pointer, want) in cases {
        assert_eq!(at(pointer), Some(want), "{pointer}");
    }
    assert_eq!(
        at("/properties/net/description"),
        text(stripe.lookup("net"))
    );
    assert_eq!(at("/description"), None);

    let hubspot = schema_from_fields(&integration("hubspot"));
    assert_eq!(
        hubspot.pointer("/properties/stages/items/properties/probability/type"),
        Some(&json!("number"))
    );
    assert_eq!(
        hubspot.pointer("/properties/owner_id/type"),
        Some(&json!(["string", "null"]))
    );

    // Every example output has every required key the built schema names.
    let outputs = example_outputs("stripe_revenue");
    for (case, output) in &outputs {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            assert!(output.get(key).is_some(), "{case}: {key}");
        }
    }
}

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::fields::lint::{LintError, LintKind};
use crate::fields::testutil::{example_outputs, integration};
use crate::fields::validate::validate;

/// The proposal read back as a registry file: its placeholders, then the
/// integration once they are replaced.
fn read_back(slug: &str, proposal: &str) -> (Vec<LintError>, Integration) {
    let file = format!("{slug}.yaml");
    let placeholders = match Integration::parse(Path::new(&file), proposal) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    let written = proposal.replace("\"TODO: ", "\"");
    match Integration::parse(Path::new(&file), &written) {
        Ok(integration) => (placeholders, integration),
        Err(errors) => panic!("proposal does not lint once written: {errors:#?}\n{proposal}"),
    }
}

#[test]
fn a_new_integration_gets_a_whole_file_that_validates_its_sample() {
    let october = &example_outputs("stripe_revenue")[0].1;
    let proposal = discover("stripe", october, None);
    let (placeholders, proposed) = read_back("stripe", &proposal);

    // Only the placeholders stop it from linting: two per field.
    assert_eq!(placeholders.len(), 2 * proposed.fields.len());
    assert!(
        placeholders
            .iter()
            .all(|e| matches!(e.kind, LintKind::Placeholder { .. }))
    );

    let stripe = integration("stripe");
    let got: Vec<_> = proposed
        .fields
        .iter()
        .map(|(path, def)| (path.as_str(), def.r#type, def.nullable))
        .collect();
    let want: Vec<_> = stripe
        .fields
        .iter()
        .map(|(path, def)| (path.as_str(), def.r#type, def.nullable))
        .collect();
    // The registry's own paths, types and nullability, except what one sample
    // cannot know: October has several currencies, so the amounts are only null.
    let differs: Vec<_> = got.iter().filter(|f| !want.contains(f)).collect();
    assert_eq!(
        differs,
        [
            &("gross", FieldType::String, true),
            &("net", FieldType::String, true),
            &("refunded", FieldType::String, true),
        ]
    );
    assert_eq!(got.len(), want.len());
    assert_eq!(validate(&proposed, october), None);
    assert!(proposal.contains("    # only null was seen: the type is a guess\n"));
    assert!(proposal.contains("by_currency:\n    # its keys looked like data"));
}

#[test]
fn an_existing_integration_gets_only_what_is_missing() {
    let stripe = integration("stripe");
    let mut sample = example_outputs("stripe_revenue")[1].1.clone();
    if let Value::Object(map) = &mut sample {
        map.insert("mrr".into(), json!(1200.5));
        map.insert("dispute_count".into(), json!(0));
        map.insert("payout".into(), json!({"id": "po_1", "arrival": null}));
        if let Some(Value::Object(eur)) = map.get_mut("by_currency").and_then(|c| c.get_mut("eur"))
        {
            eur.insert("fee_minor".into(), json!(1234));
        }
    }
    let proposal = discover("stripe", &sample, Some(&stripe));
    let (_, proposed) = read_back("stripe", &proposal);
    let got: Vec<_> = proposed
        .fields
        .iter()
        .map(|(path, def)| (path.as_str(), def.r#type, def.nullable))
        .collect();
    assert_eq!(
        got,
        [
            ("by_currency.*.fee_minor", FieldType::Integer, false),
            ("dispute_count", FieldType::Integer, false),
            ("mrr", FieldType::Number, false),
            ("payout", FieldType::Object, false),
            ("payout.arrival", FieldType::String, true),
            ("payout.id", FieldType::String, false),
        ]
    );
    assert!(proposal.contains("# Add the entries below under `fields:` in the existing file."));

    let mut merged = stripe.clone();
    merged.fields.extend(proposed.fields);
    assert_eq!(
        validate(&merged, &sample),
        None,
        "the patch covers the sample"
    );
}

#[test]
fn nothing_to_propose_is_said_plainly() {
    let stripe = integration("stripe");
    let october = &example_outputs("stripe_revenue")[0].1;
    let proposal = discover("stripe", october, Some(&stripe));
    assert_eq!(
        proposal,
        "# Every field in the sample is registered in fields/stripe.yaml; nothing to propose.\n"
    );
}

#[test]
fn list_items_mixed_types_and_awkward_names() {
    let sample = json!({
        "stages": [
            {"id": "a", "amount": 1, "owner": "x"},
            {"id": "b", "amount": 2.5},
        ],
        "tags": ["x", "y"],
        "code": "1",
        "true": "yes",
        "flag": null,
    });
    let proposal = discover("crm", &sample, None);
    let (_, proposed) = read_back("crm", &proposal);
    let got: Vec<_> = proposed
        .fields
        .iter()
        .map(|(path, def)| (path.as_str(), def.r#type, def.nullable))
        .collect();
    assert_eq!(
        got,
        [
            ("code", FieldType::String, false),
            ("flag", FieldType::String, true),
            ("stages", FieldType::Array, false),
            ("stages[].amount", FieldType::Number, false),
            ("stages[].id", FieldType::String, false),
            ("stages[].owner", FieldType::String, true),
            ("tags", FieldType::Array, false),
            ("true", FieldType::String, false),
        ]
    );
    assert!(proposal.contains("# absent from some objects in the sample, so nullable"));
}

#[test]
fn a_key_that_cannot_be_a_path_is_proposed_for_lint_to_refuse() {
    let proposal = discover("crm", &json!({"weird key": true}), None);
    assert!(proposal.contains("  \"weird key\":\n"));
    let kinds: Vec<_> =
        match Integration::parse(Path::new("crm.yaml"), &proposal.replace("\"TODO: ", "\"")) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.kind).collect(),
        };
    assert_eq!(
        kinds,
        [LintKind::MalformedPath {
            path: "weird key".into(),
            reason: crate::fields::PathError::BadCharacter(' ')
        }]
    );
}

#[test]
fn helpers_name_and_quote() {
    let cases = [
        ("gross_minor", "Gross minor"),
        ("owner-id", "Owner id"),
        ("", ""),
    ];
    for (name, want) in cases {
        assert_eq!(humanize(name), want);
    }
    let keys = [
        ("period.start", "period.start"),
        ("by_currency.*.gross", "by_currency.*.gross"),
        ("stages[].label", "stages[].label"),
        ("*", "\"*\""),
        ("1148237591", "\"1148237591\""),
        ("null", "\"null\""),
        ("a:b", "\"a:b\""),
    ];
    for (key, want) in keys {
        assert_eq!(quote_key(key), want);
    }
    assert_eq!(quote("say \"hi\"\\\n"), "\"say \\\"hi\\\"\\\\\\n\"");
}

//! Output schemas that carry the registry's meanings, so an agent reads what
//! `net` means in the tool list instead of asking for it.

use serde_json::{Map, Value, json};

use super::path::Tree;
use super::registry::{FieldDef, Integration};

/// How deep `anyOf`/`allOf`/`oneOf` and `$ref` chains are followed at one
/// level of the output: far beyond what generators emit, and it stops a
/// self-referencing schema.
const MAX_SCHEMA_HOPS: usize = 16;

/// Adds the registry's description to every property of `schema` whose path
/// is registered: nested `properties`, `additionalProperties` for `*`,
/// `items` for `[]`, through `anyOf`/`oneOf`/`allOf` and local `$ref`s
/// (a referenced definition is copied in place where a description goes
/// inside it, so one shared definition never gets another path's text).
/// Properties not registered are left as they are.
pub fn enrich_schema(schema: &mut Value, integration: &Integration) {
    let tree = Tree::build(integration);
    let defs = definitions(schema);
    enrich(schema, &tree, &defs, MAX_SCHEMA_HOPS);
}

/// An object schema built from the registry alone, for a tool that declares
/// no output schema: every registered path with its type, nullability and
/// description; non-nullable fields are required.
pub fn schema_from_fields(integration: &Integration) -> Value {
    let tree = Tree::build(integration);
    let mut schema = node_schema(&tree);
    if let Value::Object(map) = &mut schema {
        map.insert("type".to_owned(), json!("object"));
    }
    schema
}

/// The one-paragraph text for a field: name, meaning, unit, currency,
/// calculation and notes.
pub fn describe(def: &FieldDef) -> String {
    let mut text = format!("{}: {}", def.display_name, squash(&def.description));
    let extras = [
        ("Unit", &def.unit),
        ("Currency", &def.currency),
        ("Calculation", &def.calculation),
        ("Note", &def.notes),
    ];
    for (label, value) in extras {
        if let Some(value) = value {
            if !text.ends_with(['.', '!', '?']) {
                text.push('.');
            }
            text.push_str(&format!(" {label}: {}", squash(value)));
        }
    }
    text
}

/// Text on one line with single spaces (folded YAML can leave breaks).
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `$defs` and `definitions` of the root, for resolving local `$ref`s.
fn definitions(schema: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for (key, prefix) in [("$defs", "#/$defs/"), ("definitions", "#/definitions/")] {
        if let Some(Value::Object(found)) = schema.get(key) {
            for (name, def) in found {
                defs.insert(format!("{prefix}{name}"), def.clone());
            }
        }
    }
    defs
}

fn enrich(schema: &mut Value, node: &Tree<'_>, defs: &Map<String, Value>, hops: usize) {
    if let (Some(def), Value::Object(map)) = (node.def, &mut *schema) {
        map.insert("description".to_owned(), Value::String(describe(def)));
    }
    if node.has_children() {
        descend(schema, node, defs, hops);
    }
}

/// Applies the nested paths of `node` to the subschemas of `schema`.
fn descend(schema: &mut Value, node: &Tree<'_>, defs: &Map<String, Value>, hops: usize) {
    let Value::Object(map) = schema else { return };
    if hops == 0 {
        return;
    }
    // Copy referenced definitions in (a definition may itself be a `$ref`);
    // keys written beside a `$ref` win over the definition's.
    for _ in 0..hops {
        let Some(target) = map.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(Value::Object(resolved)) = defs.get(target) else {
            break;
        };
        map.remove("$ref");
        for (key, value) in resolved {
            map.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = map.get_mut(key) {
            for option in options {
                descend(option, node, defs, hops - 1);
            }
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for (name, property) in properties {
            if let Some(child) = node.child(name) {
                enrich(property, child, defs, MAX_SCHEMA_HOPS);
            }
        }
    }
    if let (Some(any), Some(values)) = (node.any.as_deref(), map.get_mut("additionalProperties")) {
        enrich(values, any, defs, MAX_SCHEMA_HOPS);
    }
    if let (Some(each), Some(items)) = (node.items.as_deref(), map.get_mut("items")) {
        enrich(items, each, defs, MAX_SCHEMA_HOPS);
    }
}

fn node_schema(node: &Tree<'_>) -> Value {
    let mut schema = Map::new();
    let ty = json!(node.expected_type().name());
    schema.insert(
        "type".to_owned(),
        if node.nullable() {
            json!([ty, "null"])
        } else {
            ty
        },
    );
    if let Some(def) = node.def {
        schema.insert("description".to_owned(), json!(describe(def)));
    }
    if !node.keys.is_empty() {
        let properties: Map<String, Value> = node
            .keys
            .iter()
            .map(|(name, child)| (name.clone(), node_schema(child)))
            .collect();
        let required: Vec<&String> = node
            .keys
            .iter()
            .filter(|(_, child)| child.def.is_some_and(|d| !d.nullable))
            .map(|(name, _)| name)
            .collect();
        schema.insert("properties".to_owned(), Value::Object(properties));
        if !required.is_empty() {
            schema.insert("required".to_owned(), json!(required));
        }
    }
    if let Some(any) = node.any.as_deref() {
        schema.insert("additionalProperties".to_owned(), node_schema(any));
    }
    if let Some(each) = node.items.as_deref() {
        schema.insert("items".to_owned(), node_schema(each));
    }
    Value::Object(schema)
}

#[cfg(test)]
mod tests;

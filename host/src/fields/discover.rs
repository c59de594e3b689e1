//! Discovery: proposes registry entries for the fields of a sample that are
//! not registered yet. It only returns text: definitions change through review.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::path::{Segment, Tree, join};
use super::registry::{FieldType, Integration};
use super::validate::{JsonKind, VALIDATION_KEY};

/// Everything seen at one proposed path.
#[derive(Debug, Default)]
struct Seen {
    /// Non-null kinds.
    kinds: BTreeSet<JsonKind>,
    null: bool,
    /// Objects it appeared in, and the path of those objects.
    occurrences: usize,
    parent: String,
    /// Written `*` because its keys looked like data.
    map: bool,
}

/// Proposes definitions, in the registry's YAML format, for the fields of
/// `sample` that `existing` does not register (all of them without one):
/// the type and nullability inferred from the sample, `display_name` and
/// `description` left as `TODO` placeholders that lint rejects until a person
/// writes them. Nothing is written to disk.
pub fn discover(slug: &str, sample: &Value, existing: Option<&Integration>) -> String {
    let tree = existing.map(Tree::build).unwrap_or_default();
    let mut found = Proposal::default();
    found.walk(&tree, sample);
    found.render(slug, existing.is_some())
}

#[derive(Default)]
struct Proposal {
    /// Paths in the order first seen, so parents come before their fields.
    order: Vec<String>,
    seen: BTreeMap<String, Seen>,
    /// Objects seen per path, to tell fields that are sometimes absent.
    objects: BTreeMap<String, usize>,
}

impl Proposal {
    /// Follows the registered tree and proposes what falls outside it.
    fn walk(&mut self, node: &Tree<'_>, value: &Value) {
        if node.is_opaque() || !node.expected_type().matches(value) {
            return;
        }
        match value {
            Value::Object(map) => {
                *self.objects.entry(node.path.clone()).or_default() += 1;
                for (key, v) in map {
                    if node.path.is_empty() && key == VALIDATION_KEY {
                        continue;
                    }
                    match node.child(key) {
                        Some(child) => self.walk(child, v),
                        None => {
                            let path = join(&node.path, &Segment::Key(key.clone()));
                            self.infer(&path, &node.path, v);
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(each) = node.items.as_deref() {
                    for item in items {
                        self.walk(each, item);
                    }
                }
            }
            _ => {}
        }
    }

    fn record(&mut self, path: &str, parent: &str) -> &mut Seen {
        if !self.seen.contains_key(path) {
            self.order.push(path.to_owned());
        }
        let seen = self.seen.entry(path.to_owned()).or_default();
        seen.parent = parent.to_owned();
        seen
    }

    /// Records an unregistered value and everything inside it.
    fn infer(&mut self, path: &str, parent: &str, value: &Value) {
        let seen = self.record(path, parent);
        seen.occurrences += 1;
        match value {
            Value::Null => seen.null = true,
            other => {
                seen.kinds.insert(JsonKind::of(other));
            }
        }
        match value {
            Value::Object(map) if looks_like_map(map) => {
                seen.map = true;
                let values = join(path, &Segment::AnyKey);
                for v in map.values() {
                    self.object_fields(&values, v);
                }
            }
            Value::Object(_) => self.object_fields(path, value),
            Value::Array(items) => {
                let each = join(path, &Segment::Items);
                for item in items {
                    self.object_fields(&each, item);
                }
            }
            _ => {}
        }
    }

    /// The fields of an object at `path` (a map value or a list item are
    /// not proposed themselves: their container's entry describes them).
    fn object_fields(&mut self, path: &str, value: &Value) {
        let Value::Object(map) = value else { return };
        *self.objects.entry(path.to_owned()).or_default() += 1;
        for (key, v) in map {
            self.infer(&join(path, &Segment::Key(key.clone())), path, v);
        }
    }

    fn render(&self, slug: &str, patch: bool) -> String {
        let file = format!("fields/{slug}.yaml");
        let mut out = String::new();
        if self.order.is_empty() {
            let _ = writeln!(
                out,
                "# Every field in the sample is registered in {file}; nothing to propose."
            );
            return out;
        }
        let n = self.order.len();
        let fields = if n == 1 { "field" } else { "fields" };
        let _ = writeln!(
            out,
            "# Proposed for {file}: {n} {fields} seen in a sample and not registered."
        );
        let _ = writeln!(
            out,
            "# Nothing was written. Before merging, write each display_name and"
        );
        let _ = writeln!(
            out,
            "# description (lint rejects the TODO placeholders) and check type and"
        );
        let _ = writeln!(out, "# nullable, which one sample can only suggest.");
        if patch {
            let _ = writeln!(
                out,
                "# Add the entries below under `fields:` in the existing file."
            );
        }
        let _ = writeln!(out, "integration: {}", quote_key(slug));
        let _ = writeln!(out, "fields:");
        for path in &self.order {
            let Some(seen) = self.seen.get(path) else {
                continue;
            };
            self.entry(&mut out, path, seen);
        }
        out
    }

    fn entry(&self, out: &mut String, path: &str, seen: &Seen) {
        let (ty, note) = inferred_type(&seen.kinds);
        let sometimes_absent = self
            .objects
            .get(&seen.parent)
            .is_some_and(|&objects| seen.occurrences < objects);
        let name = path
            .rsplit(['.', '['])
            .find(|s| !s.is_empty() && *s != "]" && *s != "*")
            .unwrap_or(path);
        let _ = writeln!(out, "  {}:", quote_key(path));
        if let Some(note) = note {
            let _ = writeln!(out, "    # {note}");
        }
        if seen.map {
            let _ = writeln!(
                out,
                "    # its keys looked like data (values of one shape), so they are written `{path}.*`"
            );
        }
        if sometimes_absent {
            let _ = writeln!(
                out,
                "    # absent from some objects in the sample, so nullable"
            );
        }
        let _ = writeln!(
            out,
            "    display_name: {}",
            quote(&format!("TODO: {}", humanize(name)))
        );
        let _ = writeln!(
            out,
            "    description: {}",
            quote(&format!("TODO: what {path} means in this business"))
        );
        let _ = writeln!(out, "    type: {ty}");
        let _ = writeln!(out, "    nullable: {}", seen.null || sometimes_absent);
    }
}

/// An object whose entries are all objects of one shape, two or more of them:
/// keyed by data (currency codes, ids) rather than by field names.
fn looks_like_map(map: &Map<String, Value>) -> bool {
    let mut shapes = map.values().map(|v| match v {
        Value::Object(inner) => Some(inner.keys().collect::<Vec<_>>()),
        _ => None,
    });
    let Some(Some(first)) = shapes.next() else {
        return false;
    };
    map.len() >= 2 && !first.is_empty() && shapes.all(|s| s.as_ref() == Some(&first))
}

/// The type for the kinds seen, and a note when the sample could not decide.
fn inferred_type(kinds: &BTreeSet<JsonKind>) -> (FieldType, Option<String>) {
    let of = |kind: JsonKind| match kind {
        JsonKind::Boolean => FieldType::Boolean,
        JsonKind::Integer => FieldType::Integer,
        JsonKind::Number => FieldType::Number,
        JsonKind::Array => FieldType::Array,
        JsonKind::Object => FieldType::Object,
        JsonKind::String | JsonKind::Null => FieldType::String,
    };
    let numbers = [JsonKind::Integer, JsonKind::Number];
    match kinds.len() {
        0 => (
            FieldType::String,
            Some("only null was seen: the type is a guess".to_owned()),
        ),
        1 => (
            kinds.iter().next().map_or(FieldType::String, |&k| of(k)),
            None,
        ),
        2 if kinds.iter().all(|k| numbers.contains(k)) => (FieldType::Number, None),
        _ => {
            let names: Vec<_> = kinds.iter().map(|&k| of(k).name()).collect();
            let first = kinds.iter().next().map_or(FieldType::String, |&k| of(k));
            (
                first,
                Some(format!("seen as {}: pick one", names.join(" and "))),
            )
        }
    }
}

/// `gross_minor` -> `Gross minor`, for a placeholder a reviewer rewrites.
fn humanize(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// A double-quoted YAML string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A mapping key: plain when YAML reads it back as the same string, else quoted.
fn quote_key(key: &str) -> String {
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*' | '[' | ']'))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { key.to_owned() } else { quote(key) }
}

#[cfg(test)]
mod tests;

//! Drift: how a fresh sample of an integration's output compares with its
//! registered fields (`check_field_drift`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::path::{Segment, Tree, join};
use super::registry::Integration;
use super::validate::{JsonKind, TypeMismatch, VALIDATION_KEY};

/// The registered fields against one sample: the seed's `new_fields`,
/// `removed_fields` and `unchanged`, plus what a single sample cannot settle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Drift {
    /// In the sample, not registered (the outermost unregistered path only).
    pub new_fields: Vec<String>,
    /// Registered, and absent where the sample had the object they belong in.
    pub removed_fields: Vec<String>,
    /// Registered and present with the registered type (or null where nullable).
    pub unchanged: Vec<String>,
    /// Registered and present with another type.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub type_changed: Vec<TypeMismatch>,
    /// Registered but not observable in this sample: under a null, an empty
    /// list or map, or a value whose type changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unobserved: Vec<String>,
}

impl Drift {
    /// True when the sample matches the registry: nothing new, removed or retyped.
    pub fn is_clean(&self) -> bool {
        self.new_fields.is_empty() && self.removed_fields.is_empty() && self.type_changed.is_empty()
    }
}

/// What became of one registered path; later variants win when a path is
/// seen several times (list items, map values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Unobservable,
    Absent,
    Matched,
}

/// Compares a sample with the registered fields.
pub fn drift(integration: &Integration, sample: &Value) -> Drift {
    let tree = Tree::build(integration);
    let mut walk = Walk::default();
    walk.observe(&tree, sample);
    let mut out = Drift {
        new_fields: walk.new.into_iter().collect(),
        ..Drift::default()
    };
    for node in tree.registered() {
        if let Some(kinds) = walk.changed.get(&node.path) {
            out.type_changed
                .extend(kinds.iter().map(|&actual| TypeMismatch {
                    field: node.path.clone(),
                    expected: node.expected_type(),
                    actual,
                }));
            continue;
        }
        let list = match walk.seen.get(&node.path) {
            Some(Seen::Matched) => &mut out.unchanged,
            Some(Seen::Absent) => &mut out.removed_fields,
            Some(Seen::Unobservable) | None => &mut out.unobserved,
        };
        list.push(node.path.clone());
    }
    if let Some(kinds) = walk.changed.get("$") {
        out.type_changed
            .extend(kinds.iter().map(|&actual| TypeMismatch {
                field: "$".to_owned(),
                expected: tree.expected_type(),
                actual,
            }));
    }
    out.removed_fields.sort();
    out.unchanged.sort();
    out.unobserved.sort();
    out
}

#[derive(Default)]
struct Walk {
    new: BTreeSet<String>,
    seen: BTreeMap<String, Seen>,
    changed: BTreeMap<String, BTreeSet<JsonKind>>,
}

impl Walk {
    fn mark(&mut self, node: &Tree<'_>, seen: Seen) {
        if node.def.is_some() {
            let entry = self.seen.entry(node.path.clone()).or_insert(seen);
            *entry = (*entry).max(seen);
        }
    }

    fn change(&mut self, node: &Tree<'_>, actual: JsonKind) {
        let path = if node.path.is_empty() {
            "$"
        } else {
            &node.path
        };
        self.changed
            .entry(path.to_owned())
            .or_default()
            .insert(actual);
    }

    /// Marks every registered path under `node` (not `node` itself).
    fn mark_below(&mut self, node: &Tree<'_>, seen: Seen) {
        for below in node.registered() {
            if below.path != node.path {
                self.mark(below, seen);
            }
        }
    }

    fn observe(&mut self, node: &Tree<'_>, value: &Value) {
        if value.is_null() {
            if node.nullable() {
                self.mark(node, Seen::Matched);
            } else {
                self.change(node, JsonKind::Null);
            }
            self.mark_below(node, Seen::Unobservable);
            return;
        }
        if !node.expected_type().matches(value) {
            self.change(node, JsonKind::of(value));
            self.mark_below(node, Seen::Unobservable);
            return;
        }
        self.mark(node, Seen::Matched);
        if node.is_opaque() {
            return;
        }
        match value {
            Value::Object(map) => {
                if let Some(any) = node.any.as_deref().filter(|_| map.is_empty()) {
                    self.mark(any, Seen::Unobservable);
                    self.mark_below(any, Seen::Unobservable);
                }
                for (key, v) in map {
                    if node.path.is_empty() && key == VALIDATION_KEY {
                        continue;
                    }
                    match node.child(key) {
                        Some(child) => self.observe(child, v),
                        None => {
                            self.new
                                .insert(join(&node.path, &Segment::Key(key.clone())));
                        }
                    }
                }
                for (name, child) in &node.keys {
                    if !map.contains_key(name) {
                        self.mark(child, Seen::Absent);
                        self.mark_below(child, Seen::Absent);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(each) = node.items.as_deref() {
                    if items.is_empty() {
                        self.mark(each, Seen::Unobservable);
                        self.mark_below(each, Seen::Unobservable);
                    }
                    for item in items {
                        self.observe(each, item);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;

//! The field validation wrapper: checks a tool's result against its
//! integration's registered fields and, only when they disagree, says how
//! in a `_field_validation` summary attached to the result.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::path::{Segment, Tree, join};
use super::registry::{FieldType, Integration};

/// The key the summary is attached under; never itself checked.
pub const VALIDATION_KEY: &str = "_field_validation";

/// Paths listed per kind of finding: the summary lands in an agent's context,
/// so it points at the drift rather than listing every key of a large map.
const MAX_LISTED: usize = 50;

/// The JSON kind of a value, as a type mismatch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number written without a fraction or exponent.
    Integer,
    /// Any other number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonKind {
    /// The kind of `value`.
    pub fn of(value: &Value) -> JsonKind {
        match value {
            Value::Null => JsonKind::Null,
            Value::Bool(_) => JsonKind::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => JsonKind::Integer,
            Value::Number(_) => JsonKind::Number,
            Value::String(_) => JsonKind::String,
            Value::Array(_) => JsonKind::Array,
            Value::Object(_) => JsonKind::Object,
        }
    }

    /// The kind's name, as JSON Schema writes it.
    pub fn name(self) -> &'static str {
        match self {
            JsonKind::Null => "null",
            JsonKind::Boolean => "boolean",
            JsonKind::Integer => "integer",
            JsonKind::Number => "number",
            JsonKind::String => "string",
            JsonKind::Array => "array",
            JsonKind::Object => "object",
        }
    }
}

/// A value whose JSON type is not the registered one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TypeMismatch {
    /// The registered path (`by_currency.*.gross`, `stages[].label`; `$` for the result itself).
    pub field: String,
    /// The registered type (or the one nested fields imply).
    pub expected: FieldType,
    /// What the result had.
    pub actual: JsonKind,
}

/// How a result differs from its registered fields. Paths are written as
/// in the registry: one entry for `stages[].label` however many stages lack it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FieldValidation {
    /// The integration whose definitions were applied.
    pub integration: String,
    /// In the result but not registered.
    pub unknown_fields: Vec<String>,
    /// Registered, not nullable, and absent.
    pub missing_fields: Vec<String>,
    /// Present with another type (including null where not nullable).
    pub type_mismatches: Vec<TypeMismatch>,
    /// Findings left out of the lists above to keep the summary short.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl FieldValidation {
    /// True when nothing differs.
    pub fn is_clean(&self) -> bool {
        self.unknown_fields.is_empty()
            && self.missing_fields.is_empty()
            && self.type_mismatches.is_empty()
            && self.omitted == 0
    }
}

/// Checks `value` against the integration's fields: `None` when it matches
/// (the result passes through unchanged), otherwise what differs. Objects are
/// followed through named keys, `*` map values and `[]` list items; a field
/// registered as an object or list without nested paths is taken as a whole.
pub fn validate(integration: &Integration, value: &Value) -> Option<FieldValidation> {
    let tree = Tree::build(integration);
    let mut found = Findings::default();
    found.check(&tree, value);
    if found.is_empty() {
        return None;
    }
    let mut omitted = 0;
    let unknown_fields = capped(found.unknown, &mut omitted);
    let missing_fields = capped(found.missing, &mut omitted);
    let type_mismatches = capped(found.mismatches, &mut omitted);
    Some(FieldValidation {
        integration: integration.slug.clone(),
        unknown_fields,
        missing_fields,
        type_mismatches,
        omitted,
    })
}

/// The first [`MAX_LISTED`] items, counting the rest in `omitted`.
fn capped<T>(items: BTreeSet<T>, omitted: &mut usize) -> Vec<T> {
    *omitted += items.len().saturating_sub(MAX_LISTED);
    items.into_iter().take(MAX_LISTED).collect()
}

/// Attaches the summary to an object result as `_field_validation`. A result
/// that is not an object has nowhere to carry it; the summary is logged instead.
pub fn attach(value: &mut Value, v: FieldValidation) {
    let Value::Object(map) = value else {
        tracing::warn!(integration = %v.integration, summary = ?v, "field drift in a result that is not an object");
        return;
    };
    match serde_json::to_value(&v) {
        Ok(summary) => {
            map.insert(VALIDATION_KEY.to_owned(), summary);
        }
        Err(e) => tracing::warn!(error = %e, "field validation summary not serialisable"),
    }
}

#[derive(Default)]
struct Findings {
    unknown: BTreeSet<String>,
    missing: BTreeSet<String>,
    mismatches: BTreeSet<TypeMismatch>,
}

impl Findings {
    fn is_empty(&self) -> bool {
        self.unknown.is_empty() && self.missing.is_empty() && self.mismatches.is_empty()
    }

    fn mismatch(&mut self, node: &Tree<'_>, actual: JsonKind) {
        let field = if node.path.is_empty() {
            "$".to_owned()
        } else {
            node.path.clone()
        };
        self.mismatches.insert(TypeMismatch {
            field,
            expected: node.expected_type(),
            actual,
        });
    }

    fn check(&mut self, node: &Tree<'_>, value: &Value) {
        if value.is_null() {
            if !node.nullable() {
                self.mismatch(node, JsonKind::Null);
            }
            return;
        }
        if !node.expected_type().matches(value) {
            self.mismatch(node, JsonKind::of(value));
            return;
        }
        if node.is_opaque() {
            return;
        }
        match value {
            Value::Object(map) => {
                let root = node.path.is_empty();
                for (key, v) in map {
                    if root && key == VALIDATION_KEY {
                        continue;
                    }
                    match node.child(key) {
                        Some(child) => self.check(child, v),
                        None => {
                            self.unknown
                                .insert(join(&node.path, &Segment::Key(key.clone())));
                        }
                    }
                }
                for (name, child) in &node.keys {
                    if !map.contains_key(name) {
                        self.absent(child);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(each) = node.items.as_deref() {
                    for item in items {
                        self.check(each, item);
                    }
                }
            }
            _ => {}
        }
    }

    /// A key missing from an object: reported when registered and not
    /// nullable; an unregistered prefix stands for the named fields under it.
    fn absent(&mut self, node: &Tree<'_>) {
        match node.def {
            Some(def) if !def.nullable => {
                self.missing.insert(node.path.clone());
            }
            Some(_) => {}
            None => {
                for child in node.keys.values() {
                    self.absent(child);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! The field registry: one [`Integration`] per `fields/<slug>.yaml`, each a
//! map from field path to what the field means in this business.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::lint::{self, LintError};
use super::path;

/// A field's JSON type, as the registry files name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A whole number (a JSON number without a fractional part).
    Integer,
    /// Any JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

impl FieldType {
    /// Every type, in the order error messages list them.
    pub const ALL: [FieldType; 6] = [
        FieldType::String,
        FieldType::Integer,
        FieldType::Number,
        FieldType::Boolean,
        FieldType::Object,
        FieldType::Array,
    ];

    /// The name used in registry files and JSON Schema.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Object => "object",
            FieldType::Array => "array",
        }
    }

    /// The type a registry file names, exactly as written.
    pub fn from_name(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether a JSON value has this type (null never does). Integers follow
    /// JSON Schema: `3.0` is an integer, so schema validators and this check agree.
    pub fn matches(self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (self, value) {
            (FieldType::String, Value::String(_))
            | (FieldType::Number, Value::Number(_))
            | (FieldType::Boolean, Value::Bool(_))
            | (FieldType::Object, Value::Object(_))
            | (FieldType::Array, Value::Array(_)) => true,
            (FieldType::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one field means: the registry's entry for a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDef {
    /// Short label for people ("Net revenue (after refunds)").
    pub display_name: String,
    /// What the value is, in this business's terms.
    pub description: String,
    /// The JSON type of non-null values.
    pub r#type: FieldType,
    /// Whether `null` is a legitimate value (defaults to false).
    pub nullable: bool,
    /// Caveats: how not to read the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The unit of a number ("major currency unit", "fraction (0.2 = 20%)").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Which currency an amount is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// How the value is computed from upstream data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calculation: Option<String>,
}

/// The registered fields of one integration (`fields/<slug>.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Integration {
    /// The file's stem and its `integration:` value, e.g. `stripe`.
    #[serde(rename = "integration")]
    pub slug: String,
    /// Field path (`period.start`, `by_currency.*.gross`, `stages[].label`) to definition.
    pub fields: BTreeMap<String, FieldDef>,
    /// The file the definitions were read from.
    #[serde(skip)]
    pub file: PathBuf,
}

impl Integration {
    /// Reads and checks one registry file: the integration, or every problem found.
    pub fn read(file: &Path) -> Result<Integration, Vec<LintError>> {
        lint::read_file(file)
    }

    /// Checks registry text as if read from `file` (whose stem is the slug).
    pub fn parse(file: &Path, text: &str) -> Result<Integration, Vec<LintError>> {
        lint::parse_text(file, text)
    }

    /// The definition for a registered path (`by_currency.*.gross`) or for a
    /// concrete location in a response (`by_currency.usd.gross`,
    /// `stages[2].label`); a field registered by name wins over `*`.
    pub fn lookup(&self, field: &str) -> Option<&FieldDef> {
        if let Some(def) = self.fields.get(field) {
            return Some(def);
        }
        let location = path::parse_location(field)?;
        self.fields
            .iter()
            .filter_map(|(registered, def)| {
                let segments = path::parse(registered).ok()?;
                path::match_location(&segments, &location).map(|wildcards| (wildcards, def))
            })
            .min_by_key(|(wildcards, _)| *wildcards)
            .map(|(_, def)| def)
    }
}

/// Every integration's field definitions, keyed by slug.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    integrations: BTreeMap<String, Integration>,
}

impl Registry {
    /// Loads every `*.yaml` in `dir`. A file with any lint error is left out
    /// and its errors returned; the good files are kept.
    pub fn load(dir: &Path) -> (Registry, Vec<LintError>) {
        let (files, mut errors) = lint::registry_files(dir);
        let mut registry = Registry::default();
        for file in files {
            match lint::read_file(&file) {
                Ok(integration) => {
                    registry
                        .integrations
                        .insert(integration.slug.clone(), integration);
                }
                Err(found) => errors.extend(found),
            }
        }
        (registry, errors)
    }

    /// A registry of the given integrations (a later one with the same slug wins).
    pub fn from_integrations(integrations: impl IntoIterator<Item = Integration>) -> Registry {
        Registry {
            integrations: integrations
                .into_iter()
                .map(|i| (i.slug.clone(), i))
                .collect(),
        }
    }

    /// The integrations, by slug.
    pub fn integrations(&self) -> impl ExactSizeIterator<Item = &Integration> {
        self.integrations.values()
    }

    /// One integration by slug.
    pub fn get(&self, slug: &str) -> Option<&Integration> {
        self.integrations.get(slug)
    }

    /// What a field of an integration means; see [`Integration::lookup`].
    pub fn lookup(&self, slug: &str, field: &str) -> Option<&FieldDef> {
        self.get(slug)?.lookup(field)
    }

    /// True when no integration is registered.
    pub fn is_empty(&self) -> bool {
        self.integrations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::testutil::repo_registry;
    use serde_json::json;

    #[test]
    fn the_repository_registry_loads_every_integration() {
        let registry = repo_registry();
        let slugs: Vec<_> = registry.integrations().map(|i| i.slug.as_str()).collect();
        assert_eq!(slugs, ["github", "hubspot", "stripe"]);
        let counts: Vec<_> = registry.integrations().map(|i| i.fields.len()).collect();
        assert_eq!(counts, [10, 18, 20]);
        for integration in registry.integrations() {
            assert_eq!(
                integration.file.file_stem().and_then(|s| s.to_str()),
                Some(integration.slug.as_str())
            );
        }
    }

    #[test]
    fn lookup_finds_registered_paths_and_concrete_locations() {
        let registry = repo_registry();
        let cases = [
            (
                "stripe",
                "net",
                Some(("Net revenue (after refunds)", FieldType::Number, true)),
            ),
            (
                "stripe",
                "period.days",
                Some(("Days in period", FieldType::Integer, false)),
            ),
            (
                "stripe",
                "by_currency.*.gross_minor",
                Some(("Gross revenue (minor units)", FieldType::Integer, false)),
            ),
            (
                "stripe",
                "by_currency.usd.gross_minor",
                Some(("Gross revenue (minor units)", FieldType::Integer, false)),
            ),
            (
                "hubspot",
                "stages[].probability",
                Some(("Win probability", FieldType::Number, false)),
            ),
            (
                "hubspot",
                "stages[4].label",
                Some(("Stage", FieldType::String, false)),
            ),
            (
                "hubspot",
                "owner_id",
                Some(("Deal owner filter", FieldType::String, true)),
            ),
            (
                "github",
                "latest_release",
                Some(("Latest release", FieldType::Object, true)),
            ),
            ("github", "latest_release.tag", None),
            ("stripe", "amount", None),
            ("stripe", "by_currency.usd", None),
            ("salesforce", "amount", None),
        ];
        for (slug, field, want) in cases {
            let got = registry
                .lookup(slug, field)
                .map(|d| (d.display_name.as_str(), d.r#type, d.nullable));
            assert_eq!(got, want, "{slug} {field}");
        }
        let gross = registry.lookup("stripe", "gross");
        assert_eq!(
            gross.and_then(|d| d.unit.as_deref()),
            Some("major currency unit (e.g. dollars)")
        );
        let weighted = registry.lookup("hubspot", "stages[].weighted_amount");
        assert_eq!(
            weighted.and_then(|d| d.calculation.as_deref()),
            Some("round(total_amount × probability, 2)")
        );
        assert_eq!(
            weighted.and_then(|d| d.currency.as_deref()),
            Some("the portal's company currency")
        );
    }

    #[test]
    fn a_named_key_wins_over_the_wildcard() {
        let text = "integration: x\nfields:\n  m.*.v:\n    display_name: Any\n    description: d\n    type: number\n  m.usd.v:\n    display_name: Dollars\n    description: d\n    type: integer\n";
        let x = Integration::parse(Path::new("fields/x.yaml"), text);
        let x = x.unwrap_or_else(|e| panic!("{e:?}"));
        let names = |f: &str| x.lookup(f).map(|d| d.display_name.as_str());
        assert_eq!(names("m.usd.v"), Some("Dollars"));
        assert_eq!(names("m.eur.v"), Some("Any"));
    }

    #[test]
    fn types_match_json_values_as_json_schema_does() {
        let cases = [
            (FieldType::Integer, json!(3), true),
            (FieldType::Integer, json!(3.0), true),
            (FieldType::Integer, json!(3.5), false),
            (FieldType::Integer, json!(-7), true),
            (FieldType::Number, json!(3), true),
            (FieldType::Number, json!(0.25), true),
            (FieldType::Number, json!("3"), false),
            (FieldType::String, json!("x"), true),
            (FieldType::String, json!(null), false),
            (FieldType::Boolean, json!(false), true),
            (FieldType::Boolean, json!(0), false),
            (FieldType::Object, json!({}), true),
            (FieldType::Object, json!([]), false),
            (FieldType::Array, json!([]), true),
        ];
        for (ty, value, want) in cases {
            assert_eq!(ty.matches(&value), want, "{ty} {value}");
        }
        for ty in FieldType::ALL {
            assert_eq!(FieldType::from_name(ty.name()), Some(ty));
            assert_eq!(json!(ty), json!(ty.name()));
        }
        assert_eq!(FieldType::from_name("int"), None);
    }

    #[test]
    fn definitions_serialize_for_agents_without_empty_options() {
        let registry = repo_registry();
        let forks = registry.lookup("github", "forks").map(|d| json!(d));
        assert_eq!(
            forks,
            Some(json!({
                "display_name": "Forks",
                "description": "Public forks of the repository.",
                "type": "integer",
                "nullable": false,
            }))
        );
    }
}

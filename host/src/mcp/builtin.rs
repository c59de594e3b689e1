//! The gateway's built-in tools, with the seed's names and arguments:
//! `health_check` and the five that read the field registry. They run in the
//! host, not in a sandbox, and none of them changes server state: field
//! definitions change by pull request, so `discover_fields` returns a
//! proposal as text instead of writing it.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Gateway;
use crate::fields::{self, Integration, JsonKind, Registry};

/// Reports whether the gateway is up and what it serves.
pub const HEALTH_CHECK: &str = "health_check";
/// Lists the integrations that have field definitions.
pub const LIST_FIELD_INTEGRATIONS: &str = "list_field_integrations";
/// What one field of an integration means.
pub const LOOKUP_FIELD: &str = "lookup_field";
/// Every field definition of an integration.
pub const GET_FIELD_DEFINITIONS: &str = "get_field_definitions";
/// Compares a fresh sample with an integration's definitions.
pub const CHECK_FIELD_DRIFT: &str = "check_field_drift";
/// Proposes definitions for the unregistered fields of a sample.
pub const DISCOVER_FIELDS: &str = "discover_fields";

/// Every built-in tool's name.
pub const NAMES: [&str; 6] = [
    HEALTH_CHECK,
    LIST_FIELD_INTEGRATIONS,
    LOOKUP_FIELD,
    GET_FIELD_DEFINITIONS,
    CHECK_FIELD_DRIFT,
    DISCOVER_FIELDS,
];

/// How many similar field names an unknown-field error suggests.
const MAX_SUGGESTIONS: usize = 8;

/// Why a built-in tool could not answer. Served as `isError: true` with
/// [`BuiltinError::code`], so the agent can correct its arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuiltinError {
    /// The arguments do not fit the tool's input schema.
    #[error("{tool}: {message}")]
    InvalidArguments {
        /// The built-in tool.
        tool: &'static str,
        /// Which argument and what is wrong with it.
        message: String,
    },
    /// No `fields/<slug>.yaml` defines this integration.
    #[error("no integration {slug:?} in the field registry (registered: {})", join_or_none(.known))]
    UnknownIntegration {
        /// The slug asked for.
        slug: String,
        /// The registered slugs.
        known: Vec<String>,
    },
    /// The integration has no definition for this field.
    #[error(
        "integration {integration:?} has no field {field:?}{}",
        suggestion(.similar)
    )]
    UnknownField {
        /// The integration.
        integration: String,
        /// The field asked for.
        field: String,
        /// Registered paths whose name resembles it.
        similar: Vec<String>,
    },
}

impl BuiltinError {
    /// A stable machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            BuiltinError::InvalidArguments { .. } => "invalid_input",
            BuiltinError::UnknownIntegration { .. } => "unknown_integration",
            BuiltinError::UnknownField { .. } => "unknown_field",
        }
    }
}

fn join_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn suggestion(similar: &[String]) -> String {
    if similar.is_empty() {
        "; get_field_definitions lists every registered field".to_owned()
    } else {
        format!("; similar: {}", similar.join(", "))
    }
}

/// Whether `name` is a built-in tool.
pub fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The MCP definitions of the built-in tools.
pub fn definitions() -> Vec<Tool> {
    let integration = json!({
        "type": "string",
        "description": "Integration slug, as list_field_integrations shows it (for example \"stripe\")."
    });
    let sample = |what: &str| {
        json!({
            "description": format!("{what}: the JSON object or list itself (a string holding JSON is accepted too).")
        })
    };
    vec![
        builtin(
            HEALTH_CHECK,
            "Reports whether the gateway is up, its version, and how many tools and field integrations it serves.",
            json!({}),
            &[],
        ),
        builtin(
            LIST_FIELD_INTEGRATIONS,
            "Lists the integrations whose fields have business definitions (for example stripe, hubspot), with how many fields each defines and which tools return them.",
            json!({}),
            &[],
        ),
        builtin(
            LOOKUP_FIELD,
            "Explains what one field of an integration means in this organisation: display name, description, type, whether it can be null, unit, currency, how it is calculated and caveats. Nested fields use dots and brackets as tools return them: period.start, by_currency.usd.gross, stages[0].label.",
            json!({
                "integration": integration,
                "field_name": {
                    "type": "string",
                    "description": "The field's path in a tool result, for example \"net\" or \"period.start\"."
                }
            }),
            &["integration", "field_name"],
        ),
        builtin(
            GET_FIELD_DEFINITIONS,
            "Returns every field definition of one integration: the whole business vocabulary of its tool results.",
            json!({ "integration": integration }),
            &["integration"],
        ),
        builtin(
            CHECK_FIELD_DRIFT,
            "Compares a fresh sample of an integration's data with its field definitions: new_fields (in the sample, not defined), removed_fields (defined, absent), unchanged, type_changed. Run it after a vendor changes its API.",
            json!({
                "integration": integration,
                "fresh_sample": sample("A recent tool result or API response for the integration")
            }),
            &["integration", "fresh_sample"],
        ),
        builtin(
            DISCOVER_FIELDS,
            "Proposes field definitions, in the registry's YAML format with inferred types, for the fields of a sample that are not defined yet. Nothing is saved: put the proposal, with its TODO descriptions written, in a pull request to fields/<integration>.yaml.",
            json!({
                "integration": integration,
                "sample_response": sample("A tool result or API response for the integration")
            }),
            &["integration", "sample_response"],
        ),
    ]
}

fn builtin(
    name: &'static str,
    description: &'static str,
    properties: Value,
    required: &[&str],
) -> Tool {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), properties);
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("additionalProperties".into(), json!(false));
    Tool::new(name, description, Arc::new(schema)).with_annotations(
        ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrationArgs {
    integration: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupArgs {
    integration: String,
    field_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftArgs {
    integration: String,
    fresh_sample: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverArgs {
    integration: String,
    sample_response: Value,
}

/// Runs the built-in tool `name`; `None` when no built-in has that name.
pub fn call(
    gateway: &Gateway,
    name: &str,
    arguments: JsonObject,
) -> Option<Result<Value, BuiltinError>> {
    let registry = gateway.fields.current();
    let result = match name {
        HEALTH_CHECK => args::<NoArgs>(HEALTH_CHECK, arguments).map(|_| {
            json!({
                "status": "ok",
                "server": gateway.name,
                "version": env!("CARGO_PKG_VERSION"),
                "tools": gateway.catalog.current().len(),
                "field_integrations": registry.integrations().len(),
            })
        }),
        LIST_FIELD_INTEGRATIONS => {
            args::<NoArgs>(LIST_FIELD_INTEGRATIONS, arguments).map(|_| list(gateway, &registry))
        }
        LOOKUP_FIELD => args::<LookupArgs>(LOOKUP_FIELD, arguments)
            .and_then(|a| lookup(&registry, &a.integration, &a.field_name)),
        GET_FIELD_DEFINITIONS => args::<IntegrationArgs>(GET_FIELD_DEFINITIONS, arguments)
            .and_then(|a| integration(&registry, &a.integration))
            .map(|i| json!(i)),
        CHECK_FIELD_DRIFT => args::<DriftArgs>(CHECK_FIELD_DRIFT, arguments).and_then(|a| {
            let found = integration(&registry, &a.integration)?;
            let sample = sample(CHECK_FIELD_DRIFT, "fresh_sample", a.fresh_sample)?;
            let drift = fields::drift(found, &sample);
            let mut out = json!({ "integration": found.slug, "clean": drift.is_clean() });
            merge(&mut out, json!(drift));
            Ok(out)
        }),
        DISCOVER_FIELDS => args::<DiscoverArgs>(DISCOVER_FIELDS, arguments).and_then(|a| {
            crate::manifest::check_slug(&a.integration).map_err(|message| {
                BuiltinError::InvalidArguments {
                    tool: DISCOVER_FIELDS,
                    message: format!("integration: {message}"),
                }
            })?;
            let sample = sample(DISCOVER_FIELDS, "sample_response", a.sample_response)?;
            let existing = registry.get(&a.integration);
            Ok(json!({
                "integration": a.integration,
                "file": format!("fields/{}.yaml", a.integration),
                "registered": existing.is_some(),
                "proposal": fields::discover(&a.integration, &sample, existing),
            }))
        }),
        _ => return None,
    };
    Some(result)
}

/// The arguments as `T`, or which one is wrong.
fn args<T: DeserializeOwned>(tool: &'static str, arguments: JsonObject) -> Result<T, BuiltinError> {
    serde_json::from_value(Value::Object(arguments)).map_err(|e| BuiltinError::InvalidArguments {
        tool,
        message: e.to_string(),
    })
}

fn integration<'r>(registry: &'r Registry, slug: &str) -> Result<&'r Integration, BuiltinError> {
    registry
        .get(slug)
        .ok_or_else(|| BuiltinError::UnknownIntegration {
            slug: slug.to_owned(),
            known: registry.integrations().map(|i| i.slug.clone()).collect(),
        })
}

fn list(gateway: &Gateway, registry: &Registry) -> Value {
    let catalog = gateway.catalog.current();
    let integrations: Vec<Value> = registry
        .integrations()
        .map(|i| {
            let tools: Vec<&str> = catalog
                .iter()
                .filter(|t| t.manifest.integration.as_deref() == Some(i.slug.as_str()))
                .map(|t| t.definition.name.as_str())
                .collect();
            json!({ "integration": i.slug, "fields": i.fields.len(), "tools": tools })
        })
        .collect();
    let mut out = json!({ "integrations": integrations });
    let problems = gateway.fields.problems();
    if !problems.is_empty() {
        out["problems"] = json!(problems.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    out
}

fn lookup(registry: &Registry, slug: &str, field: &str) -> Result<Value, BuiltinError> {
    let found = integration(registry, slug)?;
    let Some(def) = found.lookup(field) else {
        return Err(BuiltinError::UnknownField {
            integration: found.slug.clone(),
            field: field.to_owned(),
            similar: similar(found, field),
        });
    };
    let mut out = json!({ "integration": found.slug, "field": field });
    merge(&mut out, json!(def));
    out["summary"] = json!(fields::describe(def));
    Ok(out)
}

/// Registered paths whose last name contains the asked-for field's last
/// name, or the other way round (`amount` finds `gross_amount`).
fn similar(integration: &Integration, field: &str) -> Vec<String> {
    let leaf = |path: &str| {
        path.rsplit(['.', '['])
            .next()
            .unwrap_or(path)
            .trim_end_matches(']')
            .to_ascii_lowercase()
    };
    let wanted = leaf(field);
    if wanted.is_empty() {
        return Vec::new();
    }
    integration
        .fields
        .keys()
        .filter(|path| {
            let name = leaf(path);
            !name.is_empty() && (name.contains(&wanted) || wanted.contains(&name))
        })
        .take(MAX_SUGGESTIONS)
        .cloned()
        .collect()
}

/// A sample as JSON: agents often pass JSON as a string, so a string that
/// parses is taken as what it holds. Only objects and lists carry fields.
fn sample(tool: &'static str, argument: &str, value: Value) -> Result<Value, BuiltinError> {
    let value = match value {
        Value::String(text) => {
            serde_json::from_str(&text).map_err(|e| BuiltinError::InvalidArguments {
                tool,
                message: format!(
                    "{argument} is a string that is not JSON ({e}); pass the object or list itself"
                ),
            })?
        }
        other => other,
    };
    match value {
        Value::Object(_) | Value::Array(_) => Ok(value),
        other => Err(BuiltinError::InvalidArguments {
            tool,
            message: format!(
                "{argument} must be a JSON object or list, not {}",
                JsonKind::of(&other).name()
            ),
        }),
    }
}

/// Adds the entries of object `extra` to object `out`.
fn merge(out: &mut Value, extra: Value) {
    if let (Value::Object(out), Value::Object(extra)) = (out, extra) {
        out.extend(extra);
    }
}

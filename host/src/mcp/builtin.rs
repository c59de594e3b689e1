//! The gateway's built-in tools, with the seed's names and arguments:
//! `health_check` and the five that read the field registry. They run in the
//! host, not in a sandbox, and none of them changes server state: field
//! definitions change by pull request, so `discover_fields` returns a
//! proposal as text instead of writing it.
//!
//! Each is declared once, in [`BUILTINS`]: name, description, and an
//! arguments type from which both its input schema and its parsing come.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::{JsonSchema, generate::SchemaSettings};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Gateway;
use crate::fields::{self, Integration, JsonKind, Registry};

/// Every built-in tool, in `tools/list` order: its name, what it does, and
/// its arguments, whose type gives the input schema and runs the tool.
/// The names are reserved: a tools-folder or admin tool may not take one
/// ([`is_builtin`]).
const BUILTINS: &[Builtin] = &[
    Builtin::new::<HealthCheck>(
        "health_check",
        "Reports whether the gateway is up, its version, and how many tools and field integrations it serves.",
    ),
    Builtin::new::<ListFieldIntegrations>(
        "list_field_integrations",
        "Lists the integrations whose fields have business definitions (for example stripe, hubspot), with how many fields each defines and which tools return them.",
    ),
    Builtin::new::<LookupField>(
        "lookup_field",
        "Explains what one field of an integration means in this organisation: display name, description, type, whether it can be null, unit, currency, how it is calculated and caveats. Nested fields use dots and brackets as tools return them: period.start, by_currency.usd.gross, stages[0].label.",
    ),
    Builtin::new::<GetFieldDefinitions>(
        "get_field_definitions",
        "Returns every field definition of one integration: the whole business vocabulary of its tool results.",
    ),
    Builtin::new::<CheckFieldDrift>(
        "check_field_drift",
        "Compares a fresh sample of an integration's data with its field definitions: new_fields (in the sample, not defined), removed_fields (defined, absent), unchanged, type_changed. Run it after a vendor changes its API.",
    ),
    Builtin::new::<DiscoverFields>(
        "discover_fields",
        "Proposes field definitions, in the registry's YAML format with inferred types, for the fields of a sample that are not defined yet. Nothing is saved: put the proposal, with its TODO descriptions written, in a pull request to fields/<integration>.yaml.",
    ),
];

/// One built-in tool, as [`BUILTINS`] declares it.
struct Builtin {
    name: &'static str,
    description: &'static str,
    /// The input schema, derived from the arguments' type.
    schema: fn() -> JsonObject,
    /// Parses the arguments into their type and runs the tool.
    run: fn(&Call<'_>, JsonObject) -> Result<Value, BuiltinError>,
}

impl Builtin {
    const fn new<A: Arguments>(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            description,
            schema: schema_of::<A>,
            run: run::<A>,
        }
    }
}

/// A built-in tool's arguments: what an agent passes (the input schema is
/// derived from the type) and what the tool does with them.
trait Arguments: DeserializeOwned + JsonSchema {
    /// Runs the tool with these arguments.
    fn run(self, call: &Call<'_>) -> Result<Value, BuiltinError>;
}

/// What a built-in tool runs with.
struct Call<'a> {
    /// The tool's name, for its errors.
    tool: &'static str,
    gateway: &'a Gateway,
    /// The registry current when the call began.
    registry: &'a Registry,
}

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

/// Whether `name` is a built-in tool's.
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|b| b.name == name)
}

/// Every built-in tool's name.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// The MCP definitions of the built-in tools. None changes server state.
pub fn definitions() -> Vec<Tool> {
    BUILTINS
        .iter()
        .map(|b| {
            Tool::new(b.name, b.description, Arc::new((b.schema)())).with_annotations(
                ToolAnnotations::new()
                    .read_only(true)
                    .destructive(false)
                    .idempotent(true)
                    .open_world(false),
            )
        })
        .collect()
}

/// Runs the built-in tool `name`; `None` when no built-in has that name.
pub fn call(
    gateway: &Gateway,
    name: &str,
    arguments: JsonObject,
) -> Option<Result<Value, BuiltinError>> {
    let builtin = BUILTINS.iter().find(|b| b.name == name)?;
    let registry = gateway.fields.current();
    let call = Call {
        tool: builtin.name,
        gateway,
        registry: &registry,
    };
    Some((builtin.run)(&call, arguments))
}

/// The input schema of arguments `A`: JSON Schema 2020-12, as MCP expects,
/// without the root's `$schema`, `title` (the Rust type's name) and
/// `description` (the tool has its own).
fn schema_of<A: JsonSchema>() -> JsonObject {
    let root = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<A>();
    let mut schema = match Value::from(root) {
        Value::Object(schema) => schema,
        // A derived struct schema is an object; `true` would accept anything.
        _ => JsonObject::from_iter([("type".to_owned(), json!("object"))]),
    };
    for key in ["$schema", "title", "description"] {
        schema.remove(key);
    }
    // Some clients expect every object schema to list its properties, even
    // none (schemars leaves an empty struct's out).
    schema
        .entry("properties")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    schema
}

fn run<A: Arguments>(call: &Call<'_>, arguments: JsonObject) -> Result<Value, BuiltinError> {
    args::<A>(call.tool, arguments)?.run(call)
}

const INTEGRATION: &str =
    "Integration slug, as list_field_integrations shows it (for example \"stripe\").";

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct HealthCheck {}

impl Arguments for HealthCheck {
    fn run(self, call: &Call<'_>) -> Result<Value, BuiltinError> {
        Ok(json!({
            "status": "ok",
            "server": call.gateway.name,
            "version": env!("CARGO_PKG_VERSION"),
            "tools": call.gateway.catalog.current().len(),
            "field_integrations": call.registry.integrations().len(),
            "upstream": {
                "tools": call.gateway.upstreams.current().len(),
                "connections": call.gateway.upstreams.links().into_iter()
                    .map(|(name, link)| (name, json!(if link.is_up() { "connected" } else { "connecting" })))
                    .collect::<serde_json::Map<String, Value>>(),
            },
        }))
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct ListFieldIntegrations {}

impl Arguments for ListFieldIntegrations {
    fn run(self, call: &Call<'_>) -> Result<Value, BuiltinError> {
        Ok(list(call.gateway, call.registry))
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct LookupField {
    #[schemars(description = INTEGRATION)]
    integration: String,
    #[schemars(
        description = "The field's path in a tool result, for example \"net\" or \"period.start\"."
    )]
    field_name: String,
}

impl Arguments for LookupField {
    fn run(self, call: &Call<'_>) -> Result<Value, BuiltinError> {
        lookup(call.registry, &self.integration, &self.field_name)
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct GetFieldDefinitions {
    #[schemars(description = INTEGRATION)]
    integration: String,
}

impl Arguments for GetFieldDefinitions {
    fn run(self, call: &Call<'_>) -> Result<Value, BuiltinError> {
        integration(call.registry, &self.integration).map(|i| json!(i))
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct CheckFieldDrift {
    #[schemars(description = INTEGRATION)]
    integration: String,
    #[schemars(
        description = "A recent tool result or API response for the integration: the JSON object or list itself (a string holding JSON is accepted too)."
    )]
    fresh_sample: Value,
}

impl Arguments for CheckFieldDrift {
    fn run(self, call: &Call<'_>) -> Result<Value, BuiltinError> {
        let found = integration(call.registry, &self.integration)?;
        let sample = sample(call.tool, "fresh_sample", self.fresh_sample)?;
        let drift = fields::drift(found, &sample);
        let mut out = json!({ "integration": found.slug, "clean": drift.is_clean() });
        merge(&mut out, json!(drift));
        Ok(out)
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
struct DiscoverFields {
    #[schemars(description = INTEGRATION)]
    integration: String,
    #[schemars(
        description = "A tool result or API response for the integration: the JSON object or list itself (a string holding JSON is accepted too)."
    )]
    sample_response: Value,
}

impl Arguments for DiscoverFields {
    fn run(self, call: &Call<'_>) -> Result<Value, BuiltinError> {
        crate::manifest::integration_slug(&self.integration).map_err(|message| {
            BuiltinError::InvalidArguments {
                tool: call.tool,
                message: format!("integration: {message}"),
            }
        })?;
        let sample = sample(call.tool, "sample_response", self.sample_response)?;
        let existing = call.registry.get(&self.integration);
        Ok(json!({
            "integration": self.integration,
            "file": format!("fields/{}.yaml", self.integration),
            "registered": existing.is_some(),
            "proposal": fields::discover(&self.integration, &sample, existing),
        }))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The schemas derived from the argument types are the ones clients
    /// have always been served.
    #[test]
    fn input_schemas_derive_from_the_argument_types() {
        let integration = json!({
            "type": "string",
            "description": "Integration slug, as list_field_integrations shows it (for example \"stripe\")."
        });
        let sample = |what: &str| {
            json!({
                "description": format!("{what}: the JSON object or list itself (a string holding JSON is accepted too).")
            })
        };
        let object = |properties: Value, required: &[&str]| {
            let mut schema = json!({
                "type": "object",
                "properties": properties,
                "additionalProperties": false,
            });
            if !required.is_empty() {
                schema["required"] = json!(required);
            }
            schema
        };
        let expected = [
            ("health_check", object(json!({}), &[])),
            ("list_field_integrations", object(json!({}), &[])),
            (
                "lookup_field",
                object(
                    json!({
                        "integration": integration,
                        "field_name": {
                            "type": "string",
                            "description": "The field's path in a tool result, for example \"net\" or \"period.start\"."
                        }
                    }),
                    &["integration", "field_name"],
                ),
            ),
            (
                "get_field_definitions",
                object(json!({ "integration": integration }), &["integration"]),
            ),
            (
                "check_field_drift",
                object(
                    json!({
                        "integration": integration,
                        "fresh_sample": sample("A recent tool result or API response for the integration")
                    }),
                    &["integration", "fresh_sample"],
                ),
            ),
            (
                "discover_fields",
                object(
                    json!({
                        "integration": integration,
                        "sample_response": sample("A tool result or API response for the integration")
                    }),
                    &["integration", "sample_response"],
                ),
            ),
        ];
        let served = definitions();
        assert_eq!(served.len(), expected.len());
        for (tool, (name, schema)) in served.iter().zip(expected) {
            assert_eq!(tool.name, name);
            assert_eq!(
                Value::Object((*tool.input_schema).clone()),
                schema,
                "{name}"
            );
            assert_eq!(
                tool.annotations.as_ref().and_then(|a| a.read_only_hint),
                Some(true)
            );
        }
    }

    #[test]
    fn the_reserved_names_are_the_served_ones_each_once() {
        let served: Vec<String> = definitions().iter().map(|t| t.name.to_string()).collect();
        let reserved: Vec<&str> = names().collect();
        assert_eq!(served, reserved);
        let unique: std::collections::BTreeSet<&str> = reserved.iter().copied().collect();
        assert_eq!(unique.len(), reserved.len());
        assert!(reserved.iter().all(|name| is_builtin(name)));
        assert!(!is_builtin("health_check_v2"));
    }
}

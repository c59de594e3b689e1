//! What a tool says about itself, checked before any agent reads it, and the
//! hash that pins it (with every capability the manifest grants).

use serde_json::Value;

use super::ToolDefinition;
use super::cache::sha256_hex;
use crate::manifest::Manifest;
use crate::outbound::rules::Rule;
use crate::text::{Hidden, Lines, find_hidden};

/// Longest description a tool may publish (agents read it on every list).
const MAX_DESCRIPTION_BYTES: usize = 8192;

/// Which schema a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// The input schema.
    Input,
    /// The output schema.
    Output,
}

impl std::fmt::Display for SchemaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SchemaKind::Input => "input",
            SchemaKind::Output => "output",
        })
    }
}

/// Why a tool's self-description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefinitionProblem {
    /// The component's name differs from the manifest's.
    #[error("the component calls itself {component:?}, which is not the manifest's name")]
    NameMismatch {
        /// The name the component gives.
        component: String,
    },
    /// The description is blank.
    #[error("the tool has no description (the agent-facing text is required)")]
    NoDescription,
    /// The description is over [`MAX_DESCRIPTION_BYTES`].
    #[error("the description is longer than {limit} bytes")]
    DescriptionTooLong {
        /// The limit.
        limit: usize,
    },
    /// The description holds text a reader cannot see.
    #[error("the description contains a {hidden}")]
    HiddenDescription {
        /// The first hidden character.
        hidden: Hidden,
    },
    /// A schema string or key holds text a reader cannot see.
    #[error("the {schema} schema has a {hidden} at {pointer}")]
    HiddenSchemaText {
        /// Which schema.
        schema: SchemaKind,
        /// JSON pointer of the string or key.
        pointer: String,
        /// The first hidden character.
        hidden: Hidden,
    },
    /// A schema is not JSON.
    #[error("the {schema} schema is not JSON: {message}")]
    SchemaNotJson {
        /// Which schema.
        schema: SchemaKind,
        /// The parser's reason.
        message: String,
    },
    /// A schema is JSON but not an object.
    #[error("the {schema} schema is not a JSON object")]
    SchemaNotObject {
        /// Which schema.
        schema: SchemaKind,
    },
    /// The input schema does not describe an object.
    #[error("the input schema must describe an object (\"type\": \"object\")")]
    InputNotObject,
}

/// Checks a component's self-description against its manifest.
pub(super) fn validate(
    manifest: &Manifest,
    d: crate::bindings::ToolDescription,
) -> Result<ToolDefinition, DefinitionProblem> {
    if d.name != manifest.name {
        return Err(DefinitionProblem::NameMismatch { component: d.name });
    }
    let description = d.description.trim().to_string();
    if description.is_empty() {
        return Err(DefinitionProblem::NoDescription);
    }
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(DefinitionProblem::DescriptionTooLong {
            limit: MAX_DESCRIPTION_BYTES,
        });
    }
    if let Some(hidden) = find_hidden(&description, Lines::Multi) {
        return Err(DefinitionProblem::HiddenDescription { hidden });
    }
    let input_schema = schema(&d.input_schema, SchemaKind::Input)?;
    if input_schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(DefinitionProblem::InputNotObject);
    }
    let output_schema = d
        .output_schema
        .as_deref()
        .map(|s| schema(s, SchemaKind::Output))
        .transpose()?;
    Ok(ToolDefinition {
        name: d.name,
        description,
        input_schema,
        output_schema,
    })
}

/// Parses a schema; agents read its descriptions as they read the tool's,
/// so the same rule against hidden text applies to every key and string.
fn schema(text: &str, kind: SchemaKind) -> Result<Value, DefinitionProblem> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => match hidden_text(&v, String::new()) {
            Some((pointer, hidden)) => Err(DefinitionProblem::HiddenSchemaText {
                schema: kind,
                pointer,
                hidden,
            }),
            None => Ok(v),
        },
        Ok(_) => Err(DefinitionProblem::SchemaNotObject { schema: kind }),
        Err(e) => Err(DefinitionProblem::SchemaNotJson {
            schema: kind,
            message: e.to_string(),
        }),
    }
}

/// The JSON pointer of the first key or string in a schema holding hidden
/// text (newline and tab are allowed), and what: the rule every tool
/// definition is held to, upstream ones included.
pub fn hidden_in_schema(schema: &Value) -> Option<(String, Hidden)> {
    hidden_text(schema, String::new())
}

/// The JSON pointer of the first key or string in `value` holding hidden
/// text (newline and tab are allowed), and what.
fn hidden_text(value: &Value, pointer: String) -> Option<(String, Hidden)> {
    let hidden = |text: &str| find_hidden(text, Lines::Multi);
    match value {
        Value::String(text) => hidden(text).map(|h| {
            let at = if pointer.is_empty() {
                "/".into()
            } else {
                pointer
            };
            (at, h)
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| hidden_text(item, format!("{pointer}/{i}"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let at = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            match hidden(key) {
                Some(h) => Some((at, h)),
                None => hidden_text(item, at),
            }
        }),
        _ => None,
    }
}

/// The hash of everything a tool promises: see
/// [`super::LoadedTool::definition_sha256`].
pub(super) fn hash(definition: &ToolDefinition, manifest: &Manifest, rules: &[Rule]) -> String {
    let limits = &manifest.limits;
    // Every capability, as a reviewer reads it: where the tool may go, with
    // which methods, on whose approval, carrying which secret bindings
    // (variable names, never values), and whether it reads files.
    let capabilities: Vec<Value> = rules
        .iter()
        .map(|rule| {
            let secrets: serde_json::Map<String, Value> = rule
                .secret_headers
                .iter()
                .map(|h| (h.name.to_string(), Value::String(h.template.to_string())))
                .collect();
            let mut capability = serde_json::json!({
                "entry": rule.to_string(),
                "approved_by": rule.approved_by,
                "secret_headers": secrets,
            });
            // Only when set, so the hashes of tools without it stay as they were.
            if rule.confirm {
                capability["confirm"] = Value::Bool(true);
            }
            capability
        })
        .collect();
    let pinned = serde_json::json!({
        "name": definition.name,
        "description": definition.description,
        "input_schema": definition.input_schema,
        "output_schema": definition.output_schema,
        "integration": manifest.integration,
        "capabilities": capabilities,
        "files": manifest.files_dir.is_some(),
        "limits": {
            "memory_bytes": limits.memory_bytes,
            "timeout_ms": u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
            "upstream_bytes": limits.upstream_bytes,
            "output_bytes": limits.output_bytes,
            "content_bytes": limits.content_bytes,
            "requests": limits.requests,
        },
    });
    // serde_json's map is ordered by key, so equal definitions hash equally.
    sha256_hex(pinned.to_string().as_bytes())
}

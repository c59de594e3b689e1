//! Each served tool's `SKILL.md` as an MCP prompt (docs/resources-and-prompts.md):
//! the prompt is named after the tool, described by the file's frontmatter
//! `description`, and takes the tool's input properties as arguments.
//! `prompts/get` answers a user message: how to use the tool (the
//! `SKILL.md` body) and, with the arguments given, the call to make; for a
//! tool of an integration, a second one embeds the integration's field
//! definitions (`fields://<integration>`).

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CacheScope, GetPromptResult, JsonObject, ListPromptsResult, Prompt, PromptArgument,
    PromptMessage, Role,
};
use serde_json::{Map, Value};

use super::Gateway;
use super::resources::{FieldUri, JSON, field_text};
use super::skills::SkillDoc;
use crate::auth::Caller;
use crate::runtime::LoadedTool;

/// The prompt of a tool with a `SKILL.md`.
pub fn prompt(tool: &LoadedTool, doc: &SkillDoc) -> Prompt {
    let description = doc
        .description
        .clone()
        .unwrap_or_else(|| tool.definition.description.clone());
    let arguments = arguments(&tool.definition.input_schema);
    let mut prompt = Prompt::new(
        tool.definition.name.clone(),
        Some(description),
        (!arguments.is_empty()).then_some(arguments),
    );
    prompt.title = Some(format!("Use {}", tool.definition.name));
    prompt
}

/// The tool's input properties as prompt arguments, in schema order, with
/// their descriptions and whether the schema requires them.
fn arguments(schema: &Value) -> Vec<PromptArgument> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut argument = PromptArgument::new(name.clone());
            argument.description = property
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned);
            argument.required = Some(required.contains(&name.as_str()));
            argument
        })
        .collect()
}

/// `prompts/list` for `caller`: the tools its scope allows that carry a
/// `SKILL.md`, by name, on one page.
pub fn list(gateway: &Gateway, caller: &Caller) -> ListPromptsResult {
    let catalog = gateway.catalog.current();
    let prompts = catalog
        .iter()
        .filter(|tool| caller.allows(&tool.definition.name))
        .filter_map(|tool| Some(prompt(tool, &SkillDoc::of(tool)?)))
        .collect();
    let mut result = ListPromptsResult::with_all_items(prompts);
    result.ttl_ms = Some(0);
    // Private to caches: what it holds depends on the caller's scope.
    result.cache_scope = Some(CacheScope::Private);
    result
}

/// Why `prompts/get` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// No prompt of that name (or not for this caller).
    #[error("unknown prompt: {0}")]
    Unknown(String),
    /// A required argument is missing.
    #[error("prompt {prompt}: missing required argument {argument:?}")]
    MissingArgument {
        /// The prompt.
        prompt: String,
        /// The argument.
        argument: String,
    },
    /// An argument the tool does not take.
    #[error("prompt {prompt}: unknown argument {argument:?}")]
    UnknownArgument {
        /// The prompt.
        prompt: String,
        /// The argument.
        argument: String,
    },
}

impl PromptError {
    /// As a JSON-RPC error: invalid params, with the prompt and argument in `data`.
    pub fn to_mcp(&self) -> McpError {
        let data = match self {
            PromptError::Unknown(name) => serde_json::json!({ "name": name }),
            PromptError::MissingArgument { prompt, argument }
            | PromptError::UnknownArgument { prompt, argument } => {
                serde_json::json!({ "name": prompt, "argument": argument })
            }
        };
        McpError::invalid_params(self.to_string(), Some(data))
    }
}

/// `prompts/get`: the tool's `SKILL.md` body and the suggested call.
pub fn get(
    gateway: &Gateway,
    caller: &Caller,
    name: &str,
    given: Option<&JsonObject>,
) -> Result<GetPromptResult, PromptError> {
    let unknown = || PromptError::Unknown(name.to_owned());
    if !caller.allows(name) {
        return Err(unknown());
    }
    let catalog = gateway.catalog.current();
    let tool = catalog.get(name).ok_or_else(unknown)?;
    let doc = SkillDoc::of(tool).ok_or_else(unknown)?;
    let prompt = prompt(tool, &doc);
    let declared = prompt.arguments.clone().unwrap_or_default();
    let empty = JsonObject::new();
    let given = given.unwrap_or(&empty);
    if let Some(argument) = given
        .keys()
        .find(|k| !declared.iter().any(|a| &a.name == *k))
    {
        return Err(PromptError::UnknownArgument {
            prompt: name.to_owned(),
            argument: argument.clone(),
        });
    }
    if let Some(argument) = declared
        .iter()
        .find(|a| a.required == Some(true) && !given.contains_key(&a.name))
    {
        return Err(PromptError::MissingArgument {
            prompt: name.to_owned(),
            argument: argument.name.clone(),
        });
    }
    let call = suggested_call(&tool.definition.input_schema, given);
    let mut text = format!(
        "Use the `{name}` tool of this MCP server. Its guide (SKILL.md) follows.\n\n{}",
        doc.body.trim_end()
    );
    if given.is_empty() {
        text.push_str(&format!(
            "\n\n---\n\nCall `{name}` with the arguments the question needs (see Input above)."
        ));
    } else {
        text.push_str(&format!(
            "\n\n---\n\nSuggested call: `{name}` with arguments\n\n```json\n{}\n```",
            serde_json::to_string_pretty(&Value::Object(call)).unwrap_or_default()
        ));
    }
    // The field definitions of the tool's integration ride along as an
    // embedded resource: how to read each field of the result.
    let fields = tool.manifest.integration.as_deref().and_then(|slug| {
        let uri = FieldUri::Integration(slug.to_owned());
        let json = field_text(&gateway.fields.current(), &uri)?;
        Some((uri.uri(), json))
    });
    if let Some((uri, _)) = &fields {
        text.push_str(&format!(
            "\n\nWhat each field of its result means: {uri}, attached."
        ));
    }
    let mut messages = vec![PromptMessage::new_text(Role::User, text)];
    if let Some((uri, json)) = fields {
        messages.push(PromptMessage::new_resource(
            Role::User,
            uri,
            Some(JSON.into()),
            Some(json),
            None,
            None,
            None,
        ));
    }
    let mut result = GetPromptResult::new(messages);
    result.description = prompt.description;
    Ok(result)
}

/// The tool arguments for the prompt arguments given (always strings): a
/// property the schema types as a number, integer, boolean, object or array
/// takes the string's JSON value when it parses as one, else the string.
fn suggested_call(schema: &Value, given: &JsonObject) -> Map<String, Value> {
    given
        .iter()
        .map(|(name, value)| {
            let typed = schema
                .pointer(&format!(
                    "/properties/{}/type",
                    name.replace('~', "~0").replace('/', "~1")
                ))
                .and_then(Value::as_str)
                .is_some_and(|t| t != "string");
            let value = match value {
                Value::String(s) if typed => serde_json::from_str::<Value>(s)
                    .ok()
                    .filter(|v| !v.is_string())
                    .unwrap_or_else(|| value.clone()),
                _ => value.clone(),
            };
            (name.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_properties_become_arguments_with_descriptions_and_required() {
        let schema = json!({"type": "object", "properties": {
            "start": {"type": "string", "description": "First day"},
            "limit": {"type": "integer"}}, "required": ["start"]});
        let args = arguments(&schema);
        let got: Vec<_> = args
            .iter()
            .map(|a| (a.name.as_str(), a.description.as_deref(), a.required))
            .collect();
        assert_eq!(
            got,
            [
                ("limit", None, Some(false)),
                ("start", Some("First day"), Some(true))
            ]
        );
    }

    #[test]
    fn the_suggested_call_types_arguments_by_the_schema() {
        let schema = json!({"properties": {"n": {"type": "integer"}, "s": {"type": "string"}}});
        let given: JsonObject =
            serde_json::from_value(json!({"n": "5", "s": "5"})).unwrap_or_default();
        assert_eq!(
            Value::Object(suggested_call(&schema, &given)),
            json!({"n": 5, "s": "5"})
        );
        let given: JsonObject = serde_json::from_value(json!({"n": "five"})).unwrap_or_default();
        assert_eq!(
            Value::Object(suggested_call(&schema, &given)),
            json!({"n": "five"})
        );
    }
}

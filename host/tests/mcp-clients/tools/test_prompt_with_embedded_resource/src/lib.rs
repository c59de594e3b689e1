//! `test_prompt_with_embedded_resource`: a tool of the `conformance`
//! integration, so the gateway's prompt for it embeds that integration's
//! field definitions (`fields://conformance`) as a resource, for the suite's
//! `prompts-get-embedded-resource`.

use gateway_tool::{Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The URI the suite names.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Any resource URI, e.g. "test://example-resource".
    #[serde(rename = "resourceUri")]
    pub resource_uri: String,
}

/// A text naming the URI.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// "Asked about <resourceUri>".
    pub text: String,
}

struct PromptWithEmbeddedResource;

impl Tool for PromptWithEmbeddedResource {
    const NAME: &'static str = "test_prompt_with_embedded_resource";
    const DESCRIPTION: &'static str = "Returns a text naming its resourceUri; its prompt embeds the conformance field definitions.";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {
        Ok(Output {
            text: format!("Asked about {}", input.resource_uri),
        })
    }
}

gateway_tool::export_tool!(PromptWithEmbeddedResource);

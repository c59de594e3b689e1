//! `test_embedded_resource`: a text document as an embedded resource, for
//! the suite's `tools-call-embedded-resource` (CONFORMANCE.md).

use gateway_tool::{Content, Tool, ToolError, attach};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// What the resource block holds.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always "test://embedded-resource".
    pub uri: String,
}

struct EmbeddedResource;

impl Tool for EmbeddedResource {
    const NAME: &'static str = "test_embedded_resource";
    const DESCRIPTION: &'static str = "Returns a text document as an embedded resource.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        let uri = "test://embedded-resource";
        attach(Content::text_resource(
            uri,
            "text/plain",
            "This is an embedded resource content.",
        ));
        Ok(Output { uri: uri.into() })
    }
}

gateway_tool::export_tool!(EmbeddedResource);

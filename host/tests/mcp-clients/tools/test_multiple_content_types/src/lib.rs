//! `test_multiple_content_types`: text, an image and a JSON resource in one
//! result, for the suite's `tools-call-mixed-content` (CONFORMANCE.md).

use gateway_tool::{Content, Tool, ToolError, attach};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A real 1×1 red PNG.
const RED_PIXEL: &[u8] = include_bytes!("red.png");

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// How many blocks follow the JSON.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always 3: a text, an image and a resource.
    pub blocks: u32,
}

struct MixedContent;

impl Tool for MixedContent {
    const NAME: &'static str = "test_multiple_content_types";
    const DESCRIPTION: &'static str = "Returns text, an image and an embedded JSON resource.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        attach(Content::Text("Multiple content types test:".into()));
        attach(Content::png(RED_PIXEL));
        attach(Content::text_resource(
            "test://mixed-content-resource",
            "application/json",
            r#"{"test":"data","value":123}"#,
        ));
        Ok(Output { blocks: 3 })
    }
}

gateway_tool::export_tool!(MixedContent);

//! `test_image_content`: a 1×1 red PNG as an image block, for the suite's
//! `tools-call-image` (CONFORMANCE.md).

use gateway_tool::{Content, Tool, ToolError, attach};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A real PNG: signature, IHDR (1×1, 8-bit RGB), one zlib IDAT, IEND.
const RED_PIXEL: &[u8] = include_bytes!("red.png");

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// What the image block holds.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always "a 1x1 red pixel".
    pub image: String,
}

struct ImageContent;

impl Tool for ImageContent {
    const NAME: &'static str = "test_image_content";
    const DESCRIPTION: &'static str = "Returns a 1x1 red PNG as an image block.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        attach(Content::png(RED_PIXEL));
        Ok(Output {
            image: "a 1x1 red pixel".into(),
        })
    }
}

gateway_tool::export_tool!(ImageContent);

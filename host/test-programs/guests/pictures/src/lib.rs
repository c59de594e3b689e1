//! `pictures`: returns the content blocks its input names, valid or not:
//! what the content-block tests drive (host/tests/it/content.rs).

use gateway_tool::{Content, Tool, ToolError, attach};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A real 1×1 red PNG.
const RED_PIXEL: &[u8] = include_bytes!("red.png");

/// Which blocks to return.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// "png", "svg", "resource", "png_as_jpeg", "svg_script" or "big".
    pub case: String,
}

/// The case, echoed.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// The input's case.
    pub case: String,
}

struct Pictures;

const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="10" height="10" fill="#36c"/></svg>"##;

impl Tool for Pictures {
    const NAME: &'static str = "pictures";
    const DESCRIPTION: &'static str = "Returns the content blocks its input names.";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {
        match input.case.as_str() {
            "png" => {
                attach(Content::Text("a red pixel".into()));
                attach(Content::png(RED_PIXEL));
            }
            "svg" => attach(Content::svg(SVG)),
            "resource" => attach(Content::text_resource(
                "pictures://note",
                "text/csv",
                "week,net\n2026-10-05,13252.23\n",
            )),
            // A valid first block, then a bad one: nothing may be sent.
            "png_as_jpeg" => {
                attach(Content::png(RED_PIXEL));
                attach(Content::jpeg(RED_PIXEL));
            }
            "svg_script" => attach(Content::svg(
                r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#,
            )),
            // A real PNG padded past the manifest's 4096-byte content cap.
            "big" => {
                let mut png = RED_PIXEL.to_vec();
                png.resize(8192, 0);
                attach(Content::png(png));
            }
            other => return Err(ToolError::InvalidInput(format!("unknown case {other:?}"))),
        }
        Ok(Output { case: input.case })
    }
}

gateway_tool::export_tool!(Pictures);

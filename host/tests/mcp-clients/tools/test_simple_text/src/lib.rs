//! `test_simple_text`: one fixed text, for the suite's `tools-call-simple-text`
//! (which sends no `arguments` at all) and check_clients.py.

use gateway_tool::{Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// The fixed text.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always "This is a simple text response for testing."
    pub text: String,
}

struct SimpleText;

impl Tool for SimpleText {
    const NAME: &'static str = "test_simple_text";
    const DESCRIPTION: &'static str = "Returns a fixed text.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        Ok(Output {
            text: "This is a simple text response for testing.".into(),
        })
    }
}

gateway_tool::export_tool!(SimpleText);

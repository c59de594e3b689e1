//! `test_simple_prompt`: a tool whose `SKILL.md` the gateway serves as the
//! prompt of that name, for the suite's `prompts-get-simple` (and as the
//! skill `test-simple-prompt` for the `sep-2640-skills-*` scenarios).

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
    /// Always "This is a simple prompt for testing."
    pub text: String,
}

struct SimplePrompt;

impl Tool for SimplePrompt {
    const NAME: &'static str = "test_simple_prompt";
    const DESCRIPTION: &'static str =
        "Returns a fixed text; its SKILL.md is a prompt without arguments.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        Ok(Output {
            text: "This is a simple prompt for testing.".into(),
        })
    }
}

gateway_tool::export_tool!(SimplePrompt);

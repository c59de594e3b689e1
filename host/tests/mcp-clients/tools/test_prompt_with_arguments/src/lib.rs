//! `test_prompt_with_arguments`: a tool with two string arguments whose
//! `SKILL.md` the gateway serves as a prompt taking `arg1` and `arg2`, for
//! the suite's `prompts-get-with-args` (the arguments reappear in the
//! prompt's suggested call).

use gateway_tool::{Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Two strings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// First test argument.
    pub arg1: String,
    /// Second test argument.
    pub arg2: String,
}

/// The arguments received.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// The input's arg1.
    pub arg1: String,
    /// The input's arg2.
    pub arg2: String,
}

struct PromptWithArguments;

impl Tool for PromptWithArguments {
    const NAME: &'static str = "test_prompt_with_arguments";
    const DESCRIPTION: &'static str =
        "Returns its two arguments; its SKILL.md is a prompt taking them.";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {
        Ok(Output {
            arg1: input.arg1,
            arg2: input.arg2,
        })
    }
}

gateway_tool::export_tool!(PromptWithArguments);

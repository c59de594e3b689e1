//! `test_logging_tool`: logs one info line. The suite's `server-stateless`
//! calls it at 2026-07-28 without asking for a log level and fails if the
//! line reaches the client.

use gateway_tool::{Tool, ToolError, log};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// A fixed text.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always "logged one line at info".
    pub text: String,
}

struct LoggingTool;

impl Tool for LoggingTool {
    const NAME: &'static str = "test_logging_tool";
    const DESCRIPTION: &'static str = "Logs one info line.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        log::info("test_logging_tool ran");
        Ok(Output {
            text: "logged one line at info".into(),
        })
    }
}

gateway_tool::export_tool!(LoggingTool);

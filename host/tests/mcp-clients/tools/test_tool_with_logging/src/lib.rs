//! `test_tool_with_logging`: three info lines about 50 ms apart, which a
//! client that set a log level must receive as `notifications/message`, in
//! order, before the result (the suite's `tools-call-with-logging`,
//! check_clients.py).

use std::time::Duration;

use gateway_tool::{Tool, ToolError, log};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The pause between lines; the suite does not check it, it only keeps the
/// lines apart in time as a real tool's would be.
const GAP: Duration = Duration::from_millis(50);

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// A fixed text.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always "Tool with logging executed successfully".
    pub text: String,
}

struct ToolWithLogging;

impl Tool for ToolWithLogging {
    const NAME: &'static str = "test_tool_with_logging";
    const DESCRIPTION: &'static str = "Logs three info lines 50 ms apart.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        log::info("Tool execution started");
        std::thread::sleep(GAP);
        log::info("Tool processing data");
        std::thread::sleep(GAP);
        log::info("Tool execution completed");
        Ok(Output {
            text: "Tool with logging executed successfully".into(),
        })
    }
}

gateway_tool::export_tool!(ToolWithLogging);

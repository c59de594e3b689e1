//! `test_tool_with_progress`: reports progress 0, 50 and 100 of 100 about
//! 50 ms apart, which a client whose `tools/call` carried
//! `_meta.progressToken` must receive as `notifications/progress` for that
//! token, before the result (the suite's `tools-call-with-progress`,
//! check_clients.py). Without a token the gateway drops the reports.

use std::time::Duration;

use gateway_tool::{Tool, ToolError, progress};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The pause between reports, as the suite describes the tool.
const GAP: Duration = Duration::from_millis(50);

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// A fixed text.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// Always "Tool with progress executed successfully".
    pub text: String,
}

struct ToolWithProgress;

impl Tool for ToolWithProgress {
    const NAME: &'static str = "test_tool_with_progress";
    const DESCRIPTION: &'static str = "Reports progress 0, 50 and 100 of 100, 50 ms apart.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        progress(0.0, Some(100.0), None);
        std::thread::sleep(GAP);
        progress(50.0, Some(100.0), None);
        std::thread::sleep(GAP);
        progress(100.0, Some(100.0), None);
        Ok(Output {
            text: "Tool with progress executed successfully".into(),
        })
    }
}

gateway_tool::export_tool!(ToolWithProgress);

//! `test_error_handling`: always fails as a tool error, which the gateway
//! must answer with `isError: true` and the message in the text, never with
//! a JSON-RPC error (the suite's `tools-call-error`, check_clients.py).

use gateway_tool::{Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {}

/// Never produced.
#[derive(Serialize, JsonSchema)]
pub struct Output {}

struct ErrorHandling;

impl Tool for ErrorHandling {
    const NAME: &'static str = "test_error_handling";
    const DESCRIPTION: &'static str = "Always fails, as a tool error.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        Err(ToolError::Internal(
            "This tool intentionally returns an error for testing".into(),
        ))
    }
}

gateway_tool::export_tool!(ErrorHandling);

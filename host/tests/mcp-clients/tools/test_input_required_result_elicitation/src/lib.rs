//! `test_input_required_result_elicitation`: one approved POST that needs the caller's confirmation
//! (docs/confirmations.md), for the conformance suite's input-required
//! scenarios: a 2026-07-28 call is answered `input_required` until the
//! client confirms, and the write leaves only then.

use gateway_tool::{Tool, ToolError, config, http};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// No arguments.
#[derive(Deserialize, JsonSchema)]
pub struct Input {}

/// What the recorder answered.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// The recorder's status: the write was sent.
    pub status: u16,
}

struct ConfirmedWrite;

impl Tool for ConfirmedWrite {
    const NAME: &'static str = "test_input_required_result_elicitation";
    const DESCRIPTION: &'static str =
        "Sends one POST to a test recorder; the gateway asks the caller to confirm it first.";
    type Input = Input;
    type Output = Output;

    fn call(_: Input) -> Result<Output, ToolError> {
        let base = config::require("recorder")?;
        let response = http::Request::new("POST", format!("{base}/write"))
            .header("content-type", "application/json")
            .body(b"{\"tool\":\"test_input_required_result_elicitation\"}".to_vec())
            .send()?;
        Ok(Output {
            status: response.status,
        })
    }
}

gateway_tool::export_tool!(ConfirmedWrite);

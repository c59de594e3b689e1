//! `test_x_mcp_header`: a string argument marked `x-mcp-header`, which
//! 2026-07-28 clients mirror into an `Mcp-Param-Region` header that the
//! server must check against the body (the suite's
//! `http-custom-header-server-validation`).

use gateway_tool::{Tool, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The region, mirrored into a header.
#[derive(Deserialize, JsonSchema)]
pub struct Input {
    /// Any region name, e.g. "us-west1".
    #[schemars(extend("x-mcp-header" = "Region"))]
    pub region: String,
}

/// The region received.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// The input's region.
    pub region: String,
}

struct XMcpHeader;

impl Tool for XMcpHeader {
    const NAME: &'static str = "test_x_mcp_header";
    const DESCRIPTION: &'static str =
        "Returns its region, which clients mirror into the Mcp-Param-Region header.";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {
        Ok(Output {
            region: input.region,
        })
    }
}

gateway_tool::export_tool!(XMcpHeader);

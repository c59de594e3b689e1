//! `json_schema_2020_12_tool`: an input schema using the JSON Schema 2020-12
//! keywords (`$defs`, `$anchor`, `allOf`/`anyOf`, `if`/`then`/`else`) that
//! must come back from `tools/list` unchanged (the suite's
//! `json-schema-2020-12`, check_clients.py). The schema is written by hand,
//! verbatim from CONFORMANCE.md; a call returns its input.

use std::borrow::Cow;

use gateway_tool::{Tool, ToolError};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Any JSON object; the schema below is what clients see.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Input(pub Map<String, Value>);

impl JsonSchema for Input {
    fn schema_name() -> Cow<'static, str> {
        "Input".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
                }
            },
            "properties": {
                "name": { "type": "string" },
                "address": { "$ref": "#/$defs/address" },
                "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                "phone": { "type": "string" },
                "email": { "type": "string" }
            },
            "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
            "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
            "then": { "required": ["phone"] },
            "else": { "required": ["email"] },
            "additionalProperties": false
        })
    }
}

/// The input, echoed.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// The arguments the tool received.
    pub received: Map<String, Value>,
}

struct JsonSchema202012;

impl Tool for JsonSchema202012 {
    const NAME: &'static str = "json_schema_2020_12_tool";
    const DESCRIPTION: &'static str = "Tool with JSON Schema 2020-12 features";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {
        Ok(Output { received: input.0 })
    }
}

gateway_tool::export_tool!(JsonSchema202012);

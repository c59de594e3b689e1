//! `legacy`: a tool built against `gateway:tool@0.1.0` with wit-bindgen
//! alone. It echoes its input with the `greeting` setting and logs a line:
//! enough to show that the 0.1.0 `call`, `log` and `config` still work.

#![allow(unsafe_code, reason = "wit-bindgen's export macro emits unsafe glue")]

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "tool-component",
});

use exports::gateway::tool::tool::{Guest, ToolDescription, ToolError};
use gateway::tool::{config, log};

struct Legacy;

impl Guest for Legacy {
    fn describe() -> ToolDescription {
        ToolDescription {
            name: "legacy".into(),
            description: "Echoes its input; built against gateway:tool@0.1.0.".into(),
            input_schema: r#"{"type":"object","properties":{"text":{"type":"string"}}}"#.into(),
            output_schema: None,
        }
    }

    fn call(input: String) -> Result<String, ToolError> {
        log::log(log::Level::Info, "legacy called");
        let greeting = config::get("greeting").unwrap_or_default();
        // The host hands over a JSON object; quoting the greeting is enough
        // for the plain text it holds.
        if greeting.contains(['"', '\\']) {
            return Err(ToolError::Internal("greeting must be plain text".into()));
        }
        Ok(format!(
            r#"{{"contract":"0.1.0","greeting":"{greeting}","input":{input}}}"#
        ))
    }
}

export!(Legacy);

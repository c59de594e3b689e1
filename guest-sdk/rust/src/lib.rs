//! Write Agent Gateway tools in Rust.
//!
//! A tool is a type implementing [`Tool`], exported with [`export_tool!`]. This
//! is a complete tool (it compiles as is; build it for `wasm32-wasip2` as a
//! `cdylib` and the gateway runs it):
//!
//! ```
//! use gateway_tool::{Tool, ToolError, config, http, log};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! /// What the agent sends.
//! #[derive(Deserialize, JsonSchema)]
//! pub struct Input {
//!     /// City name, e.g. "Lisbon".
//!     city: String,
//! }
//!
//! /// What the agent gets back.
//! #[derive(Serialize, JsonSchema)]
//! pub struct Output {
//!     /// Air temperature in degrees Celsius.
//!     temperature_c: f64,
//! }
//!
//! /// The upstream's answer; fields the tool does not need are ignored.
//! #[derive(Deserialize)]
//! struct Reading {
//!     temp: f64,
//! }
//!
//! struct WeatherNow;
//!
//! impl Tool for WeatherNow {
//!     const NAME: &'static str = "weather_now";
//!     const DESCRIPTION: &'static str = "Current air temperature in a city.";
//!     type Input = Input;
//!     type Output = Output;
//!
//!     fn call(input: Input) -> Result<Output, ToolError> {
//!         if input.city.is_empty() {
//!             return Err(ToolError::InvalidInput("city: must not be empty".into()));
//!         }
//!         let base = config::require("api_base")?;
//!         log::debug(&format!("looking up {}", input.city));
//!         let reading: Reading = http::get(&format!("{base}/now?q={}", input.city))?
//!             .error_for_status()?
//!             .json()?;
//!         Ok(Output { temperature_c: reading.temp })
//!     }
//! }
//!
//! gateway_tool::export_tool!(WeatherNow);
//! # fn main() {}
//! ```
//!
//! The tool's `Cargo.toml` needs `crate-type = ["cdylib"]` and three
//! dependencies: `gateway-tool`, `serde` (feature `derive`) and `schemars`,
//! the last two at the versions this crate re-exports as [`serde`] and
//! [`schemars`] (their derive macros refer to their own crates by name).
//! Doc comments on the input and output fields become the descriptions in
//! the JSON Schemas the agent sees.
//!
//! What a tool can reach is only what its `tool.toml` grants: [`http`] to the
//! listed hosts, [`config`] settings, and the gateway's [`log`]. The gateway
//! gives the component no environment variables, arguments, files (unless the
//! manifest names a read-only directory, visible as `/data`) or sockets.
#![deny(missing_docs)]

pub mod config;
mod error;
#[doc(hidden)]
pub mod export;
pub mod http;
pub mod log;

pub use error::ToolError;
pub use schemars;
pub use serde;

/// A tool: a name, a description, and a typed function from input to output.
///
/// The gateway calls [`Tool::call`] once per agent request, in a fresh
/// instance, so there is no state to keep between calls.
pub trait Tool {
    /// The tool's name; must equal `name` in its `tool.toml`.
    const NAME: &'static str;
    /// What the tool does, written for the agent choosing a tool.
    const DESCRIPTION: &'static str;
    /// The input object. Its JSON Schema is the tool's input schema.
    type Input: serde::de::DeserializeOwned + schemars::JsonSchema;
    /// The output object. Its JSON Schema is the tool's output schema.
    type Output: serde::Serialize + schemars::JsonSchema;

    /// Run the tool on a parsed input.
    fn call(input: Self::Input) -> Result<Self::Output, ToolError>;
}

/// Export a [`Tool`] as the component's `gateway:tool/tool` interface.
///
/// Use it once per crate, at the top level: `gateway_tool::export_tool!(MyTool);`.
#[macro_export]
macro_rules! export_tool {
    ($tool:ty) => {
        #[doc(hidden)]
        #[allow(unsafe_code)]
        const _: () = {
            struct __GatewayToolExport;

            impl $crate::export::Guest for __GatewayToolExport {
                fn describe() -> $crate::export::ToolDescription {
                    $crate::export::describe::<$tool>()
                }

                fn call(input: ::std::string::String) -> $crate::export::CallResult {
                    $crate::export::call::<$tool>(&input)
                }
            }

            $crate::bindings::__export_tool_component!(
                __GatewayToolExport with_types_in $crate::bindings
            );
        };
    };
}

/// Bindings generated from `guest-sdk/wit/tool.wit`; use the modules above instead.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "tool-component",
        pub_export_macro: true,
        export_macro_name: "__export_tool_component",
        default_bindings_module: "gateway_tool::bindings",
        // Tool crates then need no wit-bindgen dependency of their own.
        runtime_path: "gateway_tool::__wit_bindgen::rt",
    });
}

// Lets the generated code name this crate the same way from inside and out.
extern crate self as gateway_tool;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

//! Host-side bindings for the `gateway:tool` WIT worlds (docs/progress.md,
//! "WIT versions").
//!
//! The current contract, `gateway:tool@0.2.0` (`guest-sdk/rust/wit`), is
//! bound at this module's top level; the frozen `gateway:tool@0.1.0`
//! (`host/wit/0.1.0`) in [`v0_1`], so tools built against it keep loading.
//! The two worlds import the same `http`, `log` and `config` interfaces under
//! different versioned names; each capability implements both (`capability/`).

wasmtime::component::bindgen!({
    path: "../guest-sdk/rust/wit",
    world: "gateway:tool/tool-component@0.2.0",
    imports: {
        // Outbound HTTP does network I/O; the rest answers from memory. No
        // `tracing` option: it would log each guest log line as the guest
        // wrote it, before the runtime scrubs the tool's secrets from it.
        "gateway:tool/http.send": async,
    },
    exports: { default: async },
});

pub use self::exports::gateway::tool::tool::{ToolDescription, ToolError};
pub use self::gateway::tool::http as guest_http;
pub use self::gateway::tool::log::Level as GuestLogLevel;
pub use self::gateway::tool::types::{ContentBlock, Embedded, Media, ToolOutput};

/// The export tools built against the current contract provide.
pub const TOOL_EXPORT: &str = "gateway:tool/tool@0.2.0";

/// Bindings for the frozen `gateway:tool@0.1.0` contract (`host/wit/0.1.0`):
/// no progress import, and `call` returns the JSON text alone.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "gateway:tool/tool-component@0.1.0",
        imports: {
            "gateway:tool/http.send": async,
        },
        exports: { default: async },
    });

    pub use self::exports::gateway::tool::tool::{ToolDescription, ToolError};

    /// The export tools built against 0.1.0 provide.
    pub const TOOL_EXPORT: &str = "gateway:tool/tool@0.1.0";

    impl From<ToolDescription> for super::ToolDescription {
        fn from(d: ToolDescription) -> Self {
            Self {
                name: d.name,
                description: d.description,
                input_schema: d.input_schema,
                output_schema: d.output_schema,
            }
        }
    }

    impl From<ToolError> for super::ToolError {
        fn from(e: ToolError) -> Self {
            match e {
                ToolError::InvalidInput(m) => Self::InvalidInput(m),
                ToolError::Upstream(m) => Self::Upstream(m),
                ToolError::Denied(m) => Self::Denied(m),
                ToolError::Internal(m) => Self::Internal(m),
            }
        }
    }
}

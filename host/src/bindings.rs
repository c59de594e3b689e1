//! Host-side bindings for the `gateway:tool` WIT world (`guest-sdk/rust/wit`).

wasmtime::component::bindgen!({
    path: "../guest-sdk/rust/wit",
    world: "gateway:tool/tool-component",
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

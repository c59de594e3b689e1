//! The MCP surface: promoted tools and the gateway's built-in tools, served
//! over Streamable HTTP (`/mcp`), the legacy HTTP+SSE transport (`/sse`) and
//! stdio, all through one [`handler::GatewayHandler`].

pub mod handler;
pub mod http;
pub mod sessions;
pub mod sse;

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::runtime::Runtime;

/// What every MCP session shares: the sandbox, the loaded tools and the
/// server's identity.
pub struct Gateway {
    /// The sandbox runtime.
    pub runtime: Arc<Runtime>,
    /// Tools by name.
    pub catalog: Arc<Catalog>,
    /// Name announced to clients (`MCP_SERVER_NAME`).
    pub name: String,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("name", &self.name)
            .field("tools", &self.catalog.len())
            .finish_non_exhaustive()
    }
}

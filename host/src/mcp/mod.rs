//! The MCP surface: promoted tools and the gateway's built-in tools, served
//! over Streamable HTTP (`/mcp`), the legacy HTTP+SSE transport (`/sse`) and
//! stdio, all through one [`handler::GatewayHandler`].

pub mod builtin;
pub mod handler;
pub mod http;
pub mod sse;

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::fields::{LintError, Registry, Watched};
use crate::runtime::Runtime;

/// What every MCP session shares: the sandbox, the loaded tools and the
/// server's identity.
pub struct Gateway {
    /// The sandbox runtime.
    pub runtime: Arc<Runtime>,
    /// Tools by name.
    pub catalog: Arc<Catalog>,
    /// The field registry: meanings for output schemas, the validation of
    /// results, and the built-in field tools.
    pub fields: FieldSource,
    /// Name announced to clients (`MCP_SERVER_NAME`).
    pub name: String,
}

/// Where the field registry comes from.
#[derive(Debug, Clone)]
pub enum FieldSource {
    /// Loaded once (tests, or a gateway without a fields folder).
    Fixed(Arc<Registry>),
    /// A folder reloaded when its files change.
    Watched(Arc<Watched>),
}

impl FieldSource {
    /// A source with no integrations.
    pub fn empty() -> Self {
        FieldSource::Fixed(Arc::new(Registry::default()))
    }

    /// The registry in use.
    pub fn current(&self) -> Arc<Registry> {
        match self {
            FieldSource::Fixed(registry) => Arc::clone(registry),
            FieldSource::Watched(watched) => watched.current(),
        }
    }

    /// Problems in the folder's files as last read (empty when all loaded).
    pub fn problems(&self) -> Arc<Vec<LintError>> {
        match self {
            FieldSource::Fixed(_) => Arc::new(Vec::new()),
            FieldSource::Watched(watched) => watched.errors(),
        }
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("name", &self.name)
            .field("tools", &self.catalog.len())
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

//! The MCP surface: promoted tools and the gateway's built-in tools, served
//! over Streamable HTTP (`/mcp`), the legacy HTTP+SSE transport (`/sse`) and
//! stdio, all through one [`handler::GatewayHandler`].

pub mod builtin;
pub mod drain;
pub mod handler;
pub mod http;
pub mod jsonrpc;
pub mod limits;
pub mod listener;
pub mod sessions;
pub mod sse;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rmcp::model::Tool;

use crate::catalog::{Catalog, LiveCatalog};
use crate::fields::{LintError, Registry, Watched};
use crate::runtime::Runtime;

/// What every MCP session shares: the sandbox, the loaded tools and the
/// server's identity.
pub struct Gateway {
    /// The sandbox runtime.
    pub runtime: Arc<Runtime>,
    /// Tools by name, replaced whole when a tool is added, changed or removed.
    pub catalog: Arc<LiveCatalog>,
    /// The field registry: meanings for output schemas, the validation of
    /// results, and the built-in field tools.
    pub fields: FieldSource,
    /// Name announced to clients (`MCP_SERVER_NAME`).
    pub name: String,
    /// The definitions as served, for the registry they were built with.
    definitions: ArcSwapOption<Definitions>,
}

impl Gateway {
    /// A gateway serving `catalog` with the registry from `fields`.
    pub fn new(
        runtime: Arc<Runtime>,
        catalog: Arc<LiveCatalog>,
        fields: FieldSource,
        name: impl Into<String>,
    ) -> Self {
        Self {
            runtime,
            catalog,
            fields,
            name: name.into(),
            definitions: ArcSwapOption::empty(),
        }
    }

    /// Every tool's MCP definition, promoted tools by name and then the
    /// built-in ones. Built once per catalog and registry version:
    /// `tools/call` looks a tool's schema up on every 2026-07-28 request.
    pub fn definitions(&self) -> Arc<Definitions> {
        let registry = self.fields.current();
        let catalog = self.catalog.current();
        if let Some(cached) = self.definitions.load_full()
            && Arc::ptr_eq(&cached.registry, &registry)
            && Arc::ptr_eq(&cached.catalog, &catalog)
        {
            return cached;
        }
        let tools: Vec<Tool> = catalog
            .iter()
            .map(|tool| handler::definition(tool, &registry))
            .chain(builtin::definitions())
            .collect();
        let index = tools
            .iter()
            .enumerate()
            .map(|(i, tool)| (tool.name.to_string(), i))
            .collect();
        let built = Arc::new(Definitions {
            registry,
            catalog,
            tools,
            index,
        });
        self.definitions.store(Some(Arc::clone(&built)));
        built
    }
}

/// The tool definitions served for one version of the field registry.
#[derive(Debug)]
pub struct Definitions {
    registry: Arc<Registry>,
    catalog: Arc<Catalog>,
    tools: Vec<Tool>,
    index: HashMap<String, usize>,
}

impl Definitions {
    /// All of them, in `tools/list` order.
    pub fn all(&self) -> &[Tool] {
        &self.tools
    }

    /// The definition of the tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.index.get(name).map(|&i| &self.tools[i])
    }
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

    /// A receiver that changes when the registry in use is replaced; `None`
    /// for a registry that never changes.
    pub fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<Arc<Registry>>> {
        match self {
            FieldSource::Fixed(_) => None,
            FieldSource::Watched(watched) => Some(watched.subscribe()),
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
            .field("tools", &self.catalog.current().len())
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

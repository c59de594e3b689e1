//! What a store holds for one call. Built fresh per call: nothing crosses
//! calls, tools or teams.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limits::CallLimiter;
use crate::capability::log::LogBuffer;
use crate::capability::progress::ProgressSink;
use crate::capability::stdio::Capture;
use crate::capability::wasi_http::OutboundHooks;
use crate::manifest::Limits;
use crate::outbound::Outbound;
use crate::outbound::meter::Meter;

/// Everything about a tool a call needs, shared by all its calls.
#[derive(Debug)]
pub struct ToolContext {
    /// Tool name.
    pub name: String,
    /// Effective `[config]` (manifest values with gateway overrides).
    pub config: BTreeMap<String, String>,
    /// The tool's outbound door.
    pub outbound: Arc<Outbound>,
    /// Per-call limits.
    pub limits: Limits,
    /// Read-only directory mounted at `/data`.
    pub files_dir: Option<PathBuf>,
    /// A Python tool's read-only file view (standard library, packages, scripts).
    pub python_view: Option<super::pyview::PythonView>,
}

/// The `T` of `Store<T>` for one call: it holds each capability's state
/// (the log buffer, the tool's config and outbound door, the meter, the
/// wasi:http hooks, captured stdio), and `Runtime` links each capability with
/// a getter that lends it its part (`capability/mod.rs`).
pub struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: OutboundHooks,
    pub(crate) limiter: CallLimiter,
    pub(crate) tool: Arc<ToolContext>,
    pub(crate) meter: Arc<Meter>,
    pub(crate) logs: LogBuffer,
    pub(crate) progress: ProgressSink,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

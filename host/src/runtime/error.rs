//! Typed outcomes of loading and calling tools.

use std::path::PathBuf;
use std::time::Duration;

use crate::manifest::ManifestError;
use crate::outbound::SecretError;
use crate::outbound::redact::Redactor;

/// What [`CallError::Trap`] says when the call stopped on an error raised
/// by the host rather than by the guest's own code: its detail names host
/// internals, so it is logged and not shown.
pub const HOST_TRAP: &str = "the sandbox stopped the call (details in the gateway's log)";

/// What [`CallError::Trap`] says when the guest called WASI `exit`.
pub fn exited(status: i32) -> String {
    format!("the tool exited with status {status}")
}

/// Logs why a call trapped: the kind at warn, the whole error (wasm
/// backtrace, host cause) at debug.
pub(crate) fn log_trap(tool: &str, trap: Option<&wasmtime::Trap>, error: &wasmtime::Error) {
    match trap {
        Some(wasmtime::Trap::Interrupt) => {}
        Some(trap) => tracing::warn!(tool, %trap, "call trapped"),
        None => tracing::warn!(tool, "call stopped by the host: {error}"),
    }
    tracing::debug!(tool, "call trap detail: {error:?}");
}

/// Why a call failed. One variant per cause an agent or admin acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The input was not acceptable (host check or the tool's own).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The tool reported an upstream failure.
    #[error("upstream failure: {0}")]
    Upstream(String),
    /// The tool reported that the gateway refused something.
    #[error("denied: {0}")]
    Denied(String),
    /// The tool reported an internal error.
    #[error("tool error: {0}")]
    Internal(String),
    /// The call ran past its wall-clock budget.
    #[error("the call ran past its {0:?} time limit")]
    Timeout(Duration),
    /// The tool tried to grow memory past its limit.
    #[error("the tool exceeded its memory limit of {0} bytes")]
    MemoryExhausted(usize),
    /// The guest overflowed its stack.
    #[error("the tool overflowed its stack")]
    StackOverflow,
    /// The guest trapped (a panic, `unreachable`, a bad memory access):
    /// the trap's kind only, one line, e.g. "wasm trap: wasm `unreachable`
    /// instruction executed" (a Rust panic), or [`HOST_TRAP`]. The wasm
    /// backtrace goes to the gateway's log ([`log_trap`]), never to agents.
    #[error("the tool crashed: {0}")]
    Trap(String),
    /// The output exceeded the tool's output limit.
    #[error("the tool returned {actual} bytes, over its limit of {limit}")]
    OutputTooLarge {
        /// Bytes returned.
        actual: usize,
        /// The limit.
        limit: usize,
    },
    /// A content block the tool returned besides its JSON was refused
    /// (docs/content.md): the block's index and the reason.
    #[error("the tool returned unacceptable content: {0}")]
    InvalidContent(crate::content::ContentError),
    /// The output was not JSON.
    #[error("the tool returned invalid JSON: {0}")]
    InvalidOutput(String),
    /// Every sandbox slot is busy; try again.
    #[error("the gateway is at its concurrency limit")]
    Overloaded,
    /// The caller cancelled the call (`notifications/cancelled`, or it went
    /// away): the sandbox was stopped where it was (docs/progress.md).
    #[error("the caller cancelled the call")]
    Cancelled,
    /// The sandbox itself failed (not the tool's fault).
    #[error("sandbox error: {0}")]
    Host(String),
}

impl CallError {
    /// Stable machine-readable code, e.g. for MCP error data and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::InvalidInput(_) => "invalid_input",
            CallError::Upstream(_) => "upstream",
            CallError::Denied(_) => "denied",
            CallError::Internal(_) => "internal",
            CallError::Timeout(_) => "timeout",
            CallError::MemoryExhausted(_) => "memory_exhausted",
            CallError::StackOverflow => "stack_overflow",
            CallError::Trap(_) => "trap",
            CallError::OutputTooLarge { .. } => "output_too_large",
            CallError::InvalidContent(e) => e.code(),
            CallError::InvalidOutput(_) => "invalid_output",
            CallError::Overloaded => "overloaded",
            CallError::Cancelled => "cancelled",
            CallError::Host(_) => "host",
        }
    }
}

impl CallError {
    /// The same error with the tool's secrets scrubbed from its text (a
    /// tool's message may quote what an upstream said).
    pub fn redacted(self, redactor: &Redactor) -> CallError {
        let clean = |m: String| redactor.redact_str(&m).into_owned();
        match self {
            CallError::InvalidInput(m) => CallError::InvalidInput(clean(m)),
            CallError::Upstream(m) => CallError::Upstream(clean(m)),
            CallError::Denied(m) => CallError::Denied(clean(m)),
            CallError::Internal(m) => CallError::Internal(clean(m)),
            CallError::Trap(m) => CallError::Trap(clean(m)),
            CallError::InvalidOutput(m) => CallError::InvalidOutput(clean(m)),
            CallError::Host(m) => CallError::Host(clean(m)),
            CallError::InvalidContent(e) => CallError::InvalidContent(e.redacted(redactor)),
            other => other,
        }
    }
}

impl From<crate::content::ContentError> for CallError {
    /// The byte cap is the output cap (`output_too_large`), like the JSON's
    /// own; every other refusal is `invalid_content`.
    fn from(e: crate::content::ContentError) -> Self {
        match e {
            crate::content::ContentError::TooLarge { actual, limit } => {
                CallError::OutputTooLarge { actual, limit }
            }
            other => CallError::InvalidContent(other),
        }
    }
}

/// Why a tool could not be loaded. Each names the file involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The manifest was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A secret header cannot be built from the gateway's environment.
    #[error("{file}: {source}")]
    Secret {
        /// The manifest.
        file: PathBuf,
        /// What is missing.
        source: SecretError,
    },
    /// The component file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The component file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not a valid component, or it does not compile.
    #[error("{path}: {source}")]
    Compile {
        /// The component file.
        path: PathBuf,
        /// The compiler's or the cache's reason.
        #[source]
        source: super::cache::CacheError,
    },
    /// The component imports something the sandbox does not provide.
    #[error("{path}: imports something the sandbox does not provide: {source:#}")]
    Imports {
        /// The component file.
        path: PathBuf,
        /// The linker's reason, naming the import.
        #[source]
        source: wasmtime::Error,
    },
    /// The component does not export the `gateway:tool/tool` interface
    /// (0.2.0 or 0.1.0) with the functions the contract defines.
    #[error("{path}: does not export gateway:tool/tool@0.2.0 or @0.1.0: {source:#}")]
    Exports {
        /// The component file.
        path: PathBuf,
        /// What is missing.
        #[source]
        source: wasmtime::Error,
    },
    /// The Python file view carried by the component was refused or could
    /// not be extracted (runtime/pyview.rs).
    #[error("{path}: {source}")]
    PythonView {
        /// The component file.
        path: PathBuf,
        /// What went wrong.
        source: super::pyview::ViewError,
    },
    /// `describe` failed.
    #[error("{path}: describe failed: {error}")]
    Describe {
        /// The component file.
        path: PathBuf,
        /// How it failed.
        error: CallError,
    },
    /// The description is unacceptable (name mismatch, bad schema, control characters).
    #[error("{path}: {problem}")]
    Definition {
        /// The component file.
        path: PathBuf,
        /// What is wrong.
        problem: super::definition::DefinitionProblem,
    },
}

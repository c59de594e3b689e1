//! Upstream MCP servers behind the gateway (`mcp_connections.json`): a
//! vendor's whole MCP server served as `<connection>__<tool>`, before
//! purpose-built tools exist. See `docs/upstreams.md`.
//!
//! By job: [`config`] reads the connections file; [`stdio`], [`http`] and
//! [`sse`] reach one server (a child process, Streamable HTTP, the legacy
//! SSE transport); [`client`] speaks MCP to it; [`supervisor`] keeps each
//! connection up (restarts with backoff) and re-lists its tools when they
//! change; [`pins`] records every definition seen and which ones an admin
//! approved. [`Upstreams`] is what the MCP handler reads: the tools being
//! served now, swapped whole on every change like the catalog.

pub mod client;
pub mod config;
pub mod http;
pub mod pins;
pub mod sse;
pub mod stdio;
pub mod supervisor;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, JsonObject, Tool};
use rmcp::service::{Peer, ServiceError};
use serde_json::Value;
use tokio::sync::watch as channel;

pub use config::{Connection, ConnectionsError, Pin, Transport};
use pins::{PinStore, Verdict};

/// The separator between a connection's name and its tool's.
pub const SEPARATOR: &str = "__";

/// Longest served tool name (MCP clients commonly cap names at 128).
pub const MAX_NAME: usize = 128;

/// An upstream tool as it is served.
#[derive(Debug)]
pub struct UpstreamTool {
    /// The served name, `<connection>__<tool>`.
    pub name: String,
    /// The upstream's own name for it.
    pub upstream_name: String,
    /// The connection it comes from.
    pub connection: Arc<Connection>,
    /// The definition as served (the upstream's, renamed).
    pub definition: Tool,
    /// The approved hash of the upstream's definition (`pins`).
    pub hash: String,
    link: Arc<Link>,
}

/// A connection's live session, replaced on every restart: tools keep
/// pointing at the link, calls take whatever session is current.
#[derive(Debug, Default)]
pub struct Link {
    peer: ArcSwapOption<Peer<RoleClient>>,
    sessions: std::sync::atomic::AtomicU64,
    /// A call saw the transport fail: the supervisor checks the session now
    /// (an HTTP server that restarted does not close the client's side).
    suspect: tokio::sync::Notify,
}

impl Link {
    /// Puts a new session in use.
    pub(crate) fn up(&self, peer: Peer<RoleClient>) {
        self.peer.store(Some(Arc::new(peer)));
        self.sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The session ended; calls fail until the next one.
    pub(crate) fn down(&self) {
        self.peer.store(None);
    }

    /// Sessions started so far (a restart adds one).
    pub fn sessions(&self) -> u64 {
        self.sessions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a session is up now.
    pub fn is_up(&self) -> bool {
        self.peer.load().is_some()
    }
}

/// Why an upstream call gave no result. Every one is answered as a tool
/// error (`isError`) with [`CallError::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The connection is down (starting, or restarting after its server died).
    #[error("upstream {connection} is not connected (it is being restarted)")]
    Unavailable {
        /// The connection.
        connection: String,
    },
    /// No answer within the connection's `timeout_ms`; the upstream was told
    /// to cancel.
    #[error("upstream {connection} did not answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The connection.
        connection: String,
        /// Its time limit.
        timeout: Duration,
    },
    /// The upstream answered with a protocol error, or the session broke.
    #[error("upstream {connection}: {message}")]
    Failed {
        /// The connection.
        connection: String,
        /// What failed.
        message: String,
    },
    /// The result is larger than the connection's `output_bytes`.
    #[error("upstream {connection} returned {size} bytes, more than its limit of {limit}")]
    OutputTooLarge {
        /// The connection.
        connection: String,
        /// The result's size as JSON.
        size: usize,
        /// `output_bytes`.
        limit: usize,
    },
}

impl CallError {
    /// The stable code an agent reads (`structuredContent.error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            CallError::Timeout { .. } => "timeout",
            CallError::OutputTooLarge { .. } => "output_too_large",
            CallError::Unavailable { .. } | CallError::Failed { .. } => "upstream",
        }
    }
}

/// An upstream call's result and what it weighed.
#[derive(Debug)]
pub struct Forwarded {
    /// The upstream's result, as it answered it.
    pub result: CallToolResult,
    /// Its size as JSON: the bytes the upstream sent for this call.
    pub upstream_bytes: usize,
}

impl UpstreamTool {
    /// Forwards a call with the caller's arguments (and nothing else of the
    /// caller's: the connection's own credentials are the only ones the
    /// upstream sees).
    pub async fn call(&self, arguments: Option<JsonObject>) -> Result<Forwarded, CallError> {
        let connection = &self.connection;
        let Some(peer) = self.link.peer.load_full() else {
            return Err(CallError::Unavailable {
                connection: connection.name.clone(),
            });
        };
        let mut params = CallToolRequestParams::new(self.upstream_name.clone());
        params.arguments = arguments;
        // Dropping the request on timeout tells the upstream to cancel it.
        let answer = tokio::time::timeout(connection.timeout, peer.call_tool_once(params)).await;
        let failed = |message: String| CallError::Failed {
            connection: connection.name.clone(),
            message,
        };
        let result = match answer {
            Err(_) => {
                return Err(CallError::Timeout {
                    connection: connection.name.clone(),
                    timeout: connection.timeout,
                });
            }
            Ok(Ok(CallToolResponse::Complete(result))) => result,
            Ok(Ok(_)) => {
                return Err(failed(
                    "the upstream asked for input or started a task, which the gateway does not relay"
                        .into(),
                ));
            }
            Ok(Err(ServiceError::McpError(error))) => return Err(failed(error.message.into())),
            Ok(Err(ServiceError::TransportClosed | ServiceError::TransportSend(_))) => {
                self.link.suspect.notify_one();
                return Err(failed("the connection failed during the call".into()));
            }
            Ok(Err(error)) => return Err(failed(error.to_string())),
        };
        let size = serde_json::to_vec(&result).map_or(0, |v| v.len());
        if size > connection.output_bytes {
            return Err(CallError::OutputTooLarge {
                connection: connection.name.clone(),
                size,
                limit: connection.output_bytes,
            });
        }
        Ok(Forwarded {
            result,
            upstream_bytes: size,
        })
    }

    /// Whether its connection has a session now.
    pub fn is_connected(&self) -> bool {
        self.link.is_up()
    }
}

/// The upstream tools served at one moment, by served name.
#[derive(Debug, Default)]
pub struct UpstreamSet {
    tools: BTreeMap<String, Arc<UpstreamTool>>,
}

impl UpstreamSet {
    /// The tool served as `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<UpstreamTool>> {
        self.tools.get(name)
    }

    /// Every served tool, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<UpstreamTool>> {
        self.tools.values()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether none.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// What one connection listed last (filtered by its `tools` and
/// `read_only`, and checked for hidden text), kept across restarts so an
/// approval is applied without asking the upstream again.
#[derive(Debug)]
struct Listed {
    connection: Arc<Connection>,
    link: Arc<Link>,
    tools: Vec<Tool>,
}

#[derive(Debug, Default)]
struct State {
    listed: BTreeMap<String, Listed>,
    supervisors: BTreeMap<String, supervisor::Supervisor>,
}

impl State {
    /// Whether `link` is the running session of `connection`.
    fn runs(&self, connection: &Connection, link: &Arc<Link>) -> bool {
        self.supervisors
            .get(&connection.name)
            .is_some_and(|s| Arc::ptr_eq(&s.link(), link))
    }
}

/// Records what `connection` lists now with the pins, logging each tool
/// that waits for an admin.
fn observe(pins: &PinStore, connection: &Connection, tools: &[Tool]) {
    let names: Vec<String> = tools
        .iter()
        .map(|t| served_name(&connection.name, &t.name))
        .collect();
    let seen: Vec<pins::Seen<'_>> = names
        .iter()
        .zip(tools)
        .map(|(name, definition)| pins::Seen { name, definition })
        .collect();
    match pins.observe(&connection.name, connection.pin, &seen) {
        Ok(verdicts) => {
            for (name, verdict) in verdicts {
                match verdict {
                    Verdict::Approved { .. } => {}
                    Verdict::Pending { seen } => tracing::warn!(
                        tool = %name, seen = %seen,
                        "upstream tool not served until an admin approves it (gateway upstream approve)"
                    ),
                    Verdict::Changed { approved, seen } => tracing::warn!(
                        tool = %name, approved = %approved, seen = %seen,
                        "upstream tool definition changed since it was approved; not served until an admin approves the new one (gateway upstream status)"
                    ),
                }
            }
        }
        Err(error) => tracing::error!(
            connection = %connection.name,
            "upstream tools not served: the pins file cannot be used: {error}"
        ),
    }
}

/// The upstream side of the gateway: one supervised client per connection
/// and the tools they serve now.
pub struct Upstreams {
    current: ArcSwap<UpstreamSet>,
    generation: channel::Sender<u64>,
    state: Mutex<State>,
    pins: Option<PinStore>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("tools", &self.current.load().len())
            .finish_non_exhaustive()
    }
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::none()
    }
}

impl Upstreams {
    /// No upstream servers (a gateway without a connections file).
    pub fn none() -> Self {
        Self {
            current: ArcSwap::from_pointee(UpstreamSet::default()),
            generation: channel::channel(0).0,
            state: Mutex::new(State::default()),
            pins: None,
        }
    }

    /// Upstreams whose approvals live in `pins_file`.
    pub fn new(pins_file: PathBuf) -> Self {
        Self {
            pins: Some(PinStore::new(pins_file)),
            ..Self::none()
        }
    }

    /// The tools served now.
    pub fn current(&self) -> Arc<UpstreamSet> {
        self.current.load_full()
    }

    /// A receiver that changes each time the served tools change.
    pub fn subscribe(&self) -> channel::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The pins file, if this gateway has one.
    pub fn pins_file(&self) -> Option<&Path> {
        self.pins.as_ref().map(PinStore::path)
    }

    /// Connects to exactly `connections`: new ones are started, removed ones
    /// stopped (their tools leave the list), changed ones restarted; the
    /// others keep their sessions. Must be called within a tokio runtime.
    pub fn apply(self: &Arc<Self>, connections: Vec<Connection>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let wanted: BTreeMap<String, Connection> = connections
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        let keep: Vec<String> = state
            .supervisors
            .iter()
            .filter(|(name, running)| wanted.get(*name) == Some(running.connection()))
            .map(|(name, _)| name.clone())
            .collect();
        let stale: Vec<String> = state
            .supervisors
            .keys()
            .filter(|name| !keep.contains(name))
            .cloned()
            .collect();
        for name in stale {
            if let Some(running) = state.supervisors.remove(&name) {
                tracing::info!(connection = %name, "upstream connection stopped");
                running.stop();
            }
            state.listed.remove(&name);
        }
        for (name, connection) in wanted {
            if keep.contains(&name) {
                continue;
            }
            tracing::info!(connection = %name, "upstream connection starting");
            let running = supervisor::Supervisor::start(Arc::downgrade(self), Arc::new(connection));
            state.supervisors.insert(name, running);
        }
        self.publish(&state);
    }

    /// Stops every connection (at shutdown).
    pub fn stop_all(&self) {
        if let Ok(mut state) = self.state.lock() {
            for (_, running) in std::mem::take(&mut state.supervisors) {
                running.stop();
            }
            state.listed.clear();
            self.publish(&state);
        }
    }

    /// Links of the running connections, by name (for status and tests).
    pub fn links(&self) -> BTreeMap<String, Arc<Link>> {
        self.state
            .lock()
            .map(|state| {
                state
                    .supervisors
                    .iter()
                    .map(|(name, s)| (name.clone(), s.link()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A connection listed `tools` (already filtered): record them with the
    /// pins and serve those approved.
    pub(crate) fn listed(&self, connection: &Arc<Connection>, link: &Arc<Link>, tools: Vec<Tool>) {
        if !self.is_running(connection, link) {
            return;
        }
        // Recorded before the state is locked: the pins file has a lock of
        // its own, which another gateway or `gateway upstream approve` may hold.
        if let Some(pins) = &self.pins {
            observe(pins, connection, &tools);
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        // A connection stopped meanwhile lists nothing any more.
        if !state.runs(connection, link) {
            return;
        }
        state.listed.insert(
            connection.name.clone(),
            Listed {
                connection: Arc::clone(connection),
                link: Arc::clone(link),
                tools,
            },
        );
        self.publish(&state);
    }

    fn is_running(&self, connection: &Connection, link: &Arc<Link>) -> bool {
        self.state
            .lock()
            .is_ok_and(|state| state.runs(connection, link))
    }

    /// Applies approvals made since the last listing (the pins file changed).
    pub fn reapprove(&self) {
        if let Ok(state) = self.state.lock() {
            self.publish(&state);
        }
    }

    /// Serves what is listed and approved now; tells subscribers when that
    /// differs from what was served.
    fn publish(&self, state: &State) {
        let verdicts = match &self.pins {
            None => Ok(BTreeMap::new()),
            Some(pins) => pins.verdicts(),
        };
        let verdicts = match verdicts {
            Ok(v) => v,
            Err(error) => {
                if !state.listed.is_empty() {
                    tracing::error!(
                        "no upstream tool served: the pins file cannot be used: {error}"
                    );
                }
                BTreeMap::new()
            }
        };
        let mut tools = BTreeMap::new();
        for listed in state.listed.values() {
            for tool in &listed.tools {
                let name = served_name(&listed.connection.name, &tool.name);
                let hash = pins::definition_hash(tool);
                let approved = match verdicts.get(&name) {
                    Some(Verdict::Approved { hash: approved }) => *approved == hash,
                    _ => false,
                };
                if !approved {
                    continue;
                }
                let mut definition = tool.clone();
                definition.name = name.clone().into();
                tools.insert(
                    name.clone(),
                    Arc::new(UpstreamTool {
                        name,
                        upstream_name: tool.name.to_string(),
                        connection: Arc::clone(&listed.connection),
                        definition,
                        hash,
                        link: Arc::clone(&listed.link),
                    }),
                );
            }
        }
        let before = self.current.load();
        let same = before.tools.len() == tools.len()
            && before.tools.iter().zip(&tools).all(|((a, x), (b, y))| {
                a == b && x.hash == y.hash && Arc::ptr_eq(&x.link, &y.link)
            });
        self.current.store(Arc::new(UpstreamSet { tools }));
        if !same {
            self.generation.send_modify(|g| *g += 1);
        }
    }
}

/// `<connection>__<tool>`.
pub fn served_name(connection: &str, tool: &str) -> String {
    format!("{connection}{SEPARATOR}{tool}")
}

/// Why an upstream tool is not offered at all (logged when listed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Its served name would not be a valid MCP tool name.
    #[error(
        "its served name {0:?} is not a tool name (letters, digits, '_', '-', '.'; at most 128)"
    )]
    Name(String),
    /// Its description, title or a schema string hides text from a reader.
    #[error("{place}: {hidden}")]
    Hidden {
        /// Where (`description`, `title`, or the schema's JSON pointer).
        place: String,
        /// What.
        hidden: crate::text::Hidden,
    },
}

/// Checks an upstream definition as a WebAssembly tool's is checked: a name
/// clients accept, and no hidden text where an agent or a reviewer reads.
pub fn check_definition(connection: &str, tool: &Tool) -> Result<(), Refused> {
    use crate::text::{Lines, find_hidden};
    let name = served_name(connection, &tool.name);
    if name.len() > MAX_NAME
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(Refused::Name(name));
    }
    let texts = [
        ("description", tool.description.as_deref()),
        ("title", tool.title.as_deref()),
    ];
    for (place, text) in texts {
        if let Some(hidden) = text.and_then(|t| find_hidden(t, Lines::Multi)) {
            return Err(Refused::Hidden {
                place: place.into(),
                hidden,
            });
        }
    }
    let schemas = [
        (
            "inputSchema",
            Some(Value::Object((*tool.input_schema).clone())),
        ),
        (
            "outputSchema",
            tool.output_schema
                .as_ref()
                .map(|s| Value::Object((**s).clone())),
        ),
    ];
    for (place, schema) in schemas {
        if let Some(schema) = schema
            && let Some((pointer, hidden)) = crate::runtime::definition::hidden_in_schema(&schema)
        {
            return Err(Refused::Hidden {
                place: format!("{place}{pointer}"),
                hidden,
            });
        }
    }
    Ok(())
}

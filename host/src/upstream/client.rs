//! The gateway as an MCP client of one upstream server: connecting over the
//! connection's transport, listing its tools (filtered by the connection's
//! `tools` and `read_only`), and hearing when they change.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProtocolVersion, SubscriptionFilter, Tool,
};
use rmcp::service::{NotificationContext, Peer, RunningService, ServiceError};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::sync::Notify;

use super::config::{Connection, Transport};
use super::stdio::{self, Child, StdioError};

/// How long connecting and the MCP handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long listing the tools may take.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Most tools listed from one connection (pages of a runaway server stop here).
pub const MAX_TOOLS: usize = 1000;

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The child could not be started.
    #[error(transparent)]
    Stdio(#[from] StdioError),
    /// The Streamable HTTP transport could not be set up.
    #[error(transparent)]
    Http(#[from] super::http::HttpTransportError),
    /// The legacy SSE stream could not be opened.
    #[error(transparent)]
    Sse(#[from] super::sse::SseTransportError),
    /// The MCP handshake failed.
    #[error("MCP handshake: {0}")]
    Handshake(String),
    /// Connecting and the handshake took longer than [`CONNECT_TIMEOUT`].
    #[error("no MCP handshake within {} s", CONNECT_TIMEOUT.as_secs())]
    Timeout,
}

/// Why the tools could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// The upstream answered with an error or the session broke.
    #[error("tools/list: {0}")]
    Service(#[from] ServiceError),
    /// No answer within [`LIST_TIMEOUT`].
    #[error("tools/list: no answer within {} s", LIST_TIMEOUT.as_secs())]
    Timeout,
}

impl ListError {
    /// Whether the session itself failed (not the upstream's answer): the
    /// supervisor then starts a new one.
    pub fn is_broken(&self) -> bool {
        matches!(
            self,
            ListError::Timeout
                | ListError::Service(
                    ServiceError::TransportClosed | ServiceError::TransportSend(_)
                )
        )
    }
}

/// The gateway's side of one upstream session: says who it is, asks for no
/// capability (no sampling, roots or elicitation: an upstream cannot reach
/// the gateway's clients through it), and passes on list changes.
#[derive(Debug, Clone)]
pub struct Client {
    connection: String,
    changed: Arc<Notify>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("agent-gateway", env!("CARGO_PKG_VERSION")),
        );
        info.protocol_version = ProtocolVersion::default();
        info
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::debug!(connection = %self.connection, "upstream tool list changed");
        self.changed.notify_one();
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        tracing::debug!(connection = %self.connection, level = ?params.level, data = %params.data, "upstream log");
    }
}

/// An open session: the running client, the child process behind it (for
/// stdio), and the signal of its tool list changing.
pub struct Session {
    /// The running client.
    pub service: RunningService<RoleClient, Client>,
    /// Notified when the upstream says its tools changed.
    pub changed: Arc<Notify>,
    /// The child process, for a stdio connection.
    pub child: Option<Child>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("child", &self.child)
            .finish_non_exhaustive()
    }
}

/// Opens a session with `connection`'s server.
pub async fn connect(connection: &Connection) -> Result<Session, ConnectError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, open(connection)).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Timeout),
    }
}

async fn open(connection: &Connection) -> Result<Session, ConnectError> {
    let changed = Arc::new(Notify::new());
    let client = Client {
        connection: connection.name.clone(),
        changed: Arc::clone(&changed),
    };
    let handshake =
        |e: rmcp::service::ClientInitializeError| ConnectError::Handshake(e.to_string());
    let (service, child) = match &connection.transport {
        Transport::Stdio { command, args, env } => {
            let (child, stdout, stdin) = stdio::spawn(&connection.name, command, args, env)?;
            let service = client.serve((stdout, stdin)).await.map_err(handshake)?;
            (service, Some(child))
        }
        Transport::Http { url, headers } => {
            let transport = super::http::streamable_http(url, headers)?;
            (client.serve(transport).await.map_err(handshake)?, None)
        }
        Transport::Sse { url, headers } => {
            let transport = super::sse::legacy_sse(url, headers).await?;
            (client.serve(transport).await.map_err(handshake)?, None)
        }
    };
    listen_for_changes(&service, &changed).await;
    Ok(Session {
        service,
        changed,
        child,
    })
}

/// A 2026-07-28 server sends list changes only to a subscription; older
/// ones send them to the session, where [`Client`] hears them.
async fn listen_for_changes(service: &RunningService<RoleClient, Client>, changed: &Arc<Notify>) {
    let stateless = service
        .peer_info()
        .is_some_and(|info| info.protocol_version >= ProtocolVersion::V_2026_07_28);
    if !stateless {
        return;
    }
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let Ok(mut subscription) = service.peer().listen(filter).await else {
        return;
    };
    let changed = Arc::clone(changed);
    tokio::spawn(async move {
        while let Ok(Some(_)) = subscription.next().await {
            changed.notify_one();
        }
    });
}

/// Every tool the server lists, then those `connection` serves: named in its
/// `tools` (when set) and, with `read_only`, annotated `readOnlyHint: true`.
/// A tool whose definition fails [`super::check_definition`] is logged and
/// left out.
pub async fn list(
    peer: &Peer<RoleClient>,
    connection: &Connection,
) -> Result<Vec<Tool>, ListError> {
    let all = match tokio::time::timeout(LIST_TIMEOUT, list_all(peer)).await {
        Ok(result) => result?,
        Err(_) => return Err(ListError::Timeout),
    };
    Ok(select(connection, all))
}

async fn list_all(peer: &Peer<RoleClient>) -> Result<Vec<Tool>, ServiceError> {
    let mut tools = Vec::new();
    let mut cursor = None;
    loop {
        let page = peer
            .list_tools(Some(
                rmcp::model::PaginatedRequestParams::default().with_cursor(cursor),
            ))
            .await?;
        tools.extend(page.tools);
        cursor = page.next_cursor;
        if cursor.is_none() || tools.len() >= MAX_TOOLS {
            tools.truncate(MAX_TOOLS);
            return Ok(tools);
        }
    }
}

/// The tools of `all` that `connection` serves.
pub fn select(connection: &Connection, all: Vec<Tool>) -> Vec<Tool> {
    all.into_iter()
        .filter(|tool| {
            connection
                .tools
                .as_ref()
                .is_none_or(|allowed| allowed.contains(tool.name.as_ref()))
        })
        .filter(|tool| {
            !connection.read_only
                || tool
                    .annotations
                    .as_ref()
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false)
        })
        .filter(|tool| match super::check_definition(&connection.name, tool) {
            Ok(()) => true,
            Err(refused) => {
                tracing::warn!(connection = %connection.name, tool = %tool.name, "upstream tool refused: {refused}");
                false
            }
        })
        .collect()
}

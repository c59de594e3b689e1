//! `gateway serve`, assembled in one place: the settings resolved once
//! (flags, then the environment, then `gateway.toml`, then defaults), the
//! gateway built from them (runtime, tools, field registry, loader), then
//! served on one [`Transport`]. The binary and the tests build the server
//! through the same functions.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, CatalogError, LiveCatalog};
use crate::frontdoor::listener::ConnectionLimits;
use crate::frontdoor::{FrontDoor, StreamLimits};
use crate::hotload::Loader;
use crate::hotload::compile::CompileBudget;
use crate::mcp::{FieldSource, Gateway};
use crate::runtime::Runtime;
use crate::settings::ServerSettings;

/// The name announced to clients unless one is configured (the seed's).
pub const DEFAULT_NAME: &str = "agent-gateway";
/// The address bound unless one is configured: loopback only.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The port bound unless one is configured (the seed's).
pub const DEFAULT_PORT: u16 = 8000;

/// How agents reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One client on stdin/stdout (the seed's default).
    Stdio,
    /// Every HTTP transport on one listener: Streamable HTTP at `/mcp` and
    /// the legacy HTTP+SSE transport at `/sse`.
    Http,
}

impl FromStr for Transport {
    type Err = ServeError;

    /// `stdio`, or `sse`, `http` and `streamable-http` (the seed's names),
    /// which all serve every HTTP transport.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdio" => Ok(Transport::Stdio),
            "sse" | "http" | "streamable-http" => Ok(Transport::Http),
            other => Err(ServeError::Transport(other.to_owned())),
        }
    }
}

/// Why the serve settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Not a transport this gateway serves.
    #[error("MCP_TRANSPORT {0:?}: use stdio, sse or http")]
    Transport(String),
    /// The host to bind is not an IP address.
    #[error("MCP_SERVER_HOST {0:?} is not an IP address")]
    Host(String),
    /// A non-loopback address without authentication.
    #[error(
        "refusing to serve {0} without authentication: anyone who reaches it could call every tool with the organisation's secrets behind them. Turn on [auth] mode = \"keys\" or \"oauth\" in gateway.toml (docs/auth.md), bind 127.0.0.1, or, if a proxy in front authenticates, set [auth] allow_unauthenticated_network = true"
    )]
    Unauthenticated(SocketAddr),
}

/// The authenticator `gateway serve` puts at the MCP listener's front door,
/// refusing the unsafe combination: HTTP on a non-loopback address with
/// nobody asked, unless `allow_unauthenticated_network` says so out loud.
pub fn authenticator(
    auth: &crate::settings::AuthSettings,
    transport: Transport,
    addr: SocketAddr,
) -> Result<crate::auth::Authenticator, AuthSetupError> {
    use crate::auth::{Authenticator, keys::KeyStore};
    use crate::settings::AuthMode;
    match auth.mode {
        AuthMode::None => {
            if transport == Transport::Http && !addr.ip().is_loopback() {
                if !auth.allow_unauthenticated_network {
                    return Err(ServeError::Unauthenticated(addr).into());
                }
                tracing::warn!(
                    %addr,
                    "serving without authentication on a non-loopback address ([auth] allow_unauthenticated_network = true): every tool is open to whoever reaches it"
                );
            }
            Ok(Authenticator::None)
        }
        AuthMode::Keys => Ok(Authenticator::Keys(KeyStore::open(&auth.keys_file)?)),
        AuthMode::OAuth => Ok(Authenticator::OAuth(std::sync::Arc::new(
            crate::auth::oauth::OAuthValidator::new(auth)?,
        ))),
    }
}

/// Why the authenticator could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthSetupError {
    /// The settings refuse to serve.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The keys file cannot be used.
    #[error(transparent)]
    Keys(#[from] crate::auth::keys::KeyError),
    /// The OAuth settings cannot be used.
    #[error(transparent)]
    OAuth(#[from] crate::auth::oauth::OAuthError),
}

/// What the command line and the environment say (clap has already put
/// flags before environment variables); `None` and empty lists defer to
/// `gateway.toml`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--transport` / `MCP_TRANSPORT`.
    pub transport: Option<String>,
    /// `--host` / `MCP_SERVER_HOST`.
    pub host: Option<String>,
    /// `--port` / `MCP_SERVER_PORT`.
    pub port: Option<u16>,
    /// `--name` / `MCP_SERVER_NAME`.
    pub name: Option<String>,
    /// `--allowed-host`, added to the file's list.
    pub allowed_hosts: Vec<String>,
    /// `--allowed-origin`, added to the file's list.
    pub allowed_origins: Vec<String>,
    /// `--shutdown-grace-ms` / `GATEWAY_SHUTDOWN_GRACE_MS`.
    pub shutdown_grace_ms: Option<u64>,
}

/// Everything `gateway serve` needs to listen, resolved.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// How agents reach the gateway.
    pub transport: Transport,
    /// The name announced to clients.
    pub name: String,
    /// Where the HTTP transports listen (unused on stdio).
    pub addr: SocketAddr,
    /// Host/Origin allow-lists and stream caps.
    pub door: FrontDoor,
    /// Connection cap and deadlines of the HTTP listener.
    pub connection_limits: ConnectionLimits,
    /// How long calls in flight get after SIGTERM or SIGINT.
    pub grace: Duration,
}

impl ServeConfig {
    /// Flags and environment (`overrides`) over `gateway.toml`'s `[server]`
    /// over the defaults, in one place.
    pub fn resolve(file: &ServerSettings, overrides: Overrides) -> Result<Self, ServeError> {
        let transport = overrides
            .transport
            .or_else(|| file.transport.clone())
            .map_or(Ok(Transport::Stdio), |t| t.parse())?;
        let name = overrides
            .name
            .or_else(|| file.name.clone())
            .unwrap_or_else(|| DEFAULT_NAME.into());
        let host = overrides
            .host
            .or_else(|| file.host.clone())
            .unwrap_or_else(|| DEFAULT_HOST.into());
        let port = overrides.port.or(file.port).unwrap_or(DEFAULT_PORT);
        let addr = format!("{host}:{port}")
            .parse()
            .or_else(|_| format!("[{host}]:{port}").parse())
            .map_err(|_| ServeError::Host(host.clone()))?;
        let grace = Duration::from_millis(
            overrides
                .shutdown_grace_ms
                .or(file.shutdown_grace_ms)
                .unwrap_or(crate::shutdown::DEFAULT_GRACE_MS),
        );
        let mut door = FrontDoor::default();
        door.allowed_hosts.extend(
            file.allowed_hosts
                .iter()
                .chain(&overrides.allowed_hosts)
                .cloned(),
        );
        door.allowed_origins.extend(
            file.allowed_origins
                .iter()
                .chain(&overrides.allowed_origins)
                .cloned(),
        );
        door.limits = StreamLimits::from_settings(file);
        Ok(Self {
            transport,
            name,
            addr,
            door,
            connection_limits: file.connection_limits(),
            grace,
        })
    }
}

/// The gateway's serving parts, built from its settings.
#[derive(Debug)]
pub struct Assembled {
    /// What every MCP session shares.
    pub gateway: Arc<Gateway>,
    /// The one way tools change while serving (tools folder, admin API).
    pub loader: Arc<Loader>,
    /// Tool folders that were reported and skipped at start.
    pub skipped: Vec<CatalogError>,
}

/// Loads every tool under `tools_dir` on `runtime` and builds the gateway
/// and its loader (which compiles changes within `budget`).
pub async fn assemble(
    runtime: Arc<Runtime>,
    tools_dir: &Path,
    fields: FieldSource,
    name: &str,
    budget: CompileBudget,
) -> std::io::Result<Assembled> {
    let (catalog, skipped) = Catalog::load(&runtime, tools_dir).await?;
    let live = Arc::new(LiveCatalog::new(catalog));
    let loader = Arc::new(Loader::new(Arc::clone(&runtime), Arc::clone(&live), budget));
    let limits = crate::limits::Limits::new(&runtime.settings().limits);
    let upstreams = Arc::new(crate::upstream::Upstreams::new(
        runtime.settings().upstream.pins_file.clone(),
    ));
    let gateway = Arc::new(
        Gateway::new(runtime, live, fields, name)
            .with_limits(limits)
            .with_upstreams(upstreams),
    );
    let _ = loader.metrics.set(Arc::clone(&gateway.metrics));
    gateway.readiness.catalog_loaded();
    Ok(Assembled {
        gateway,
        loader,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let none = ServeConfig::resolve(&ServerSettings::default(), Overrides::default())
            .expect("defaults resolve");
        assert_eq!(none.transport, Transport::Stdio);
        assert_eq!(none.name, DEFAULT_NAME);
        assert_eq!(none.addr, SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
        assert_eq!(
            none.grace,
            Duration::from_millis(crate::shutdown::DEFAULT_GRACE_MS)
        );

        let file = ServerSettings {
            transport: Some("sse".into()),
            name: Some("from-file".into()),
            host: Some("::1".into()),
            port: Some(9000),
            allowed_hosts: vec!["file.example".into()],
            shutdown_grace_ms: Some(5),
            ..ServerSettings::default()
        };
        let from_file = ServeConfig::resolve(&file, Overrides::default()).expect("file");
        assert_eq!(from_file.transport, Transport::Http);
        assert_eq!(from_file.name, "from-file");
        assert_eq!(from_file.addr, "[::1]:9000".parse().expect("addr"));
        assert_eq!(from_file.grace, Duration::from_millis(5));

        let flags = Overrides {
            transport: Some("stdio".into()),
            name: Some("from-flag".into()),
            port: Some(9001),
            allowed_hosts: vec!["flag.example".into()],
            ..Overrides::default()
        };
        let both = ServeConfig::resolve(&file, flags).expect("both");
        assert_eq!(both.transport, Transport::Stdio);
        assert_eq!(both.name, "from-flag");
        assert_eq!(both.addr, "[::1]:9001".parse().expect("addr"));
        // Allow-lists add up: the file's and the flags'.
        assert!(
            both.door
                .allowed_hosts
                .contains(&"file.example".to_string())
        );
        assert!(
            both.door
                .allowed_hosts
                .contains(&"flag.example".to_string())
        );
    }

    #[test]
    fn bad_values_are_typed() {
        for (transport, host, expected) in [
            (
                Some("websocket"),
                None,
                ServeError::Transport("websocket".into()),
            ),
            (
                None,
                Some("localhost"),
                ServeError::Host("localhost".into()),
            ),
        ] {
            let overrides = Overrides {
                transport: transport.map(str::to_owned),
                host: host.map(str::to_owned),
                ..Overrides::default()
            };
            assert_eq!(
                ServeConfig::resolve(&ServerSettings::default(), overrides).map(|_| ()),
                Err(expected)
            );
        }
    }
}

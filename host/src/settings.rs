//! The gateway's own configuration (`gateway.toml`): the admin's authority.
//! Tool manifests say what a tool asks for; this file says what this
//! deployment grants beyond the safe defaults, and overrides tool settings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::outbound::addr::{AddrError, PrivateAllowList};

/// Why `gateway.toml` was refused; each names the file, and the line or the
/// key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The settings file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// The settings file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A value that parsed but is not acceptable.
    #[error("{file}: {key}: {problem}")]
    Invalid {
        /// The settings file.
        file: PathBuf,
        /// Dotted key, e.g. `admin.keep_versions` or `tools.probe.secrets`.
        key: String,
        /// What is wrong with it.
        #[source]
        problem: Problem,
    },
}

/// What is wrong with one value of `gateway.toml`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A count or a duration of 0, which would refuse everything.
    #[error("must be at least 1")]
    Zero,
    /// A number outside the range the gateway accepts.
    #[error("{value} is outside 1..={max}")]
    OutOfRange {
        /// The value given.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A memory size this machine cannot address.
    #[error("{mib} MiB does not fit this machine's address space")]
    TooLarge {
        /// The size given.
        mib: u64,
    },
    /// A tool name or integration slug that is not one (the manifest's rule).
    #[error(transparent)]
    Name(#[from] crate::manifest::NameError),
    /// A secret grant that is not an environment variable name.
    #[error("{0:?} is not an environment variable name ([A-Z_][A-Z0-9_]*)")]
    NotAVariable(String),
    /// A secret grant of a variable that configures the gateway itself.
    #[error("{0} configures the gateway itself ({prefixes}*): it can never be granted to a tool", prefixes = RESERVED_SECRET_PREFIXES.join("*, "))]
    ReservedVariable(String),
    /// A variable granted twice in one list.
    #[error("{0} is listed twice")]
    ListedTwice(String),
    /// An `allow_private` entry that is not an address or network.
    #[error(transparent)]
    AllowPrivate(#[from] AddrError),
    /// A call rate the gateway cannot keep (`[limits]`).
    #[error("{0} is outside {min}..={max} calls per second", min = crate::limits::MIN_CALLS_PER_SECOND, max = crate::limits::MAX_CALLS_PER_SECOND)]
    CallsPerSecond(String),
    /// A `burst` without the `calls_per_second` it is a burst of.
    #[error("burst needs calls_per_second in the same table")]
    BurstWithoutRate,
    /// A `[limits.teams.NAME]` or `[limits.tools.NAME]` table without its rate.
    #[error("set calls_per_second (and optionally burst) in this table")]
    MissingRate,
    /// A team name that is not one.
    #[error("{0:?} is not a team name (1 to 64 of A-Z a-z 0-9 _ - .)")]
    TeamName(String),
    /// A number above the largest accepted (where 0 is fine).
    #[error("{value} is more than {max}")]
    AboveMax {
        /// The value given.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
    /// An empty string or list where a value is needed.
    #[error("must not be empty")]
    Empty,
    /// A table the chosen mode requires.
    #[error("required when {0}")]
    Required(&'static str),
    /// A table the chosen mode never reads (a likely mistake).
    #[error("only read when {0}")]
    Unused(&'static str),
    /// Not an absolute URL.
    #[error("{value:?} is not an absolute URL: {reason}")]
    NotAUrl {
        /// The value given.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// A URL the gateway will not fetch from or publish.
    #[error("{value:?}: {reason}")]
    BadUrl {
        /// The value given.
        value: String,
        /// Why (plain http to a non-loopback host, a fragment, …).
        reason: &'static str,
    },
    /// A token signing algorithm the gateway does not accept.
    #[error("{0:?} is not an accepted signing algorithm (RS256, ES256, EdDSA)")]
    Algorithm(String),
    /// A value listed twice.
    #[error("{0:?} is listed twice")]
    Duplicate(String),
    /// An OAuth scope value that is not one scope token (RFC 6749 §3.3).
    #[error("{0:?} is not one OAuth scope (printable ASCII without spaces, quotes or backslashes)")]
    ScopeToken(String),
    /// A claim or team name with control characters or of absurd length.
    #[error("{0:?}: names are 1 to 256 characters without control characters")]
    BadName(String),
    /// A tool pattern that is not one.
    #[error(transparent)]
    Pattern(#[from] crate::auth::PatternError),
    /// A path that cannot name a file (empty, or ending in `/`, `.` or `..`).
    #[error("{0:?} does not name a file")]
    NotAFile(PathBuf),
}

/// The upstream timeout ceilings live with the outbound door that enforces them.
pub use crate::outbound::Timeouts;

/// `[server]`: how `gateway serve` listens (flags and the seed's
/// `MCP_*` environment variables take precedence).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Name announced to clients.
    pub name: Option<String>,
    /// `stdio`, `sse` or `http` (the last two serve every HTTP transport).
    pub transport: Option<String>,
    /// Address to bind.
    pub host: Option<String>,
    /// Port to bind.
    pub port: Option<u16>,
    /// Accepted `Host` header values beyond loopback (DNS-rebinding protection).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Accepted browser `Origin` values.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// After SIGTERM or SIGINT, how long the calls in flight get to finish
    /// before the gateway exits anyway, in milliseconds
    /// [default: [`crate::shutdown::DEFAULT_GRACE_MS`]].
    pub shutdown_grace_ms: Option<u64>,
    /// Open connections at most [`crate::frontdoor::listener::DEFAULT_MAX_CONNECTIONS`],
    /// or half the open-file limit when lower.
    pub max_connections: Option<usize>,
    /// From a request's first byte to the end of its headers, in ms
    /// [`crate::frontdoor::listener::DEFAULT_HEADER_READ_TIMEOUT_MS`].
    pub header_read_timeout_ms: Option<u64>,
    /// How long a connection without a request stays open, in ms
    /// [`crate::frontdoor::listener::DEFAULT_KEEP_ALIVE_TIMEOUT_MS`].
    pub keep_alive_timeout_ms: Option<u64>,
    /// Time a request body may take after its headers, in ms
    /// [`crate::frontdoor::limits::DEFAULT_BODY_READ_TIMEOUT_MS`].
    pub body_read_timeout_ms: Option<u64>,
    /// Live 2025 sessions at most [`crate::frontdoor::limits::DEFAULT_MAX_SESSIONS`].
    pub max_sessions: Option<usize>,
    /// Idle expiry of a 2025 session, in ms
    /// [`crate::frontdoor::limits::DEFAULT_SESSION_IDLE_TIMEOUT_MS`].
    pub session_idle_timeout_ms: Option<u64>,
    /// Open legacy SSE streams at most [`crate::frontdoor::limits::DEFAULT_MAX_SSE_STREAMS`].
    pub max_sse_streams: Option<usize>,
    /// Idle expiry of a legacy SSE stream without messages, in ms
    /// [`crate::frontdoor::limits::DEFAULT_SSE_IDLE_TIMEOUT_MS`].
    pub sse_idle_timeout_ms: Option<u64>,
    /// A file whose first line is the key replicas share to sign 2025
    /// session ids (at least 32 bytes; `GATEWAY_SESSION_KEY` instead holds
    /// the key itself). Relative to `gateway.toml`. Unset: each replica
    /// keeps its own sessions (docs/scale-out.md).
    pub session_key_file: Option<PathBuf>,
    /// After SIGTERM, how long `/readyz` answers 503 while everything else
    /// is still served, before the gateway stops taking connections: time
    /// for a load balancer to stop sending (docs/scale-out.md) [default: 0].
    pub shutdown_delay_ms: Option<u64>,
}

/// The connection limits both the `[server]` and `[admin]` tables set.
#[derive(Debug, Clone, Copy)]
struct ListenerSettings {
    max_connections: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    keep_alive_timeout_ms: Option<u64>,
}

impl ListenerSettings {
    fn connection_limits(self) -> crate::frontdoor::listener::ConnectionLimits {
        crate::frontdoor::listener::ConnectionLimits::new(
            self.max_connections,
            self.header_read_timeout_ms,
            self.keep_alive_timeout_ms,
        )
    }

    fn check(self, table: &str) -> Result<(), (String, Problem)> {
        let max = crate::frontdoor::listener::MAX_MAX_CONNECTIONS;
        if let Some(n) = self.max_connections
            && !(1..=max).contains(&n)
        {
            return Err((
                format!("{table}.max_connections"),
                Problem::OutOfRange {
                    value: n as u64,
                    max: max as u64,
                },
            ));
        }
        for (key, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("keep_alive_timeout_ms", self.keep_alive_timeout_ms),
        ] {
            if value == Some(0) {
                return Err((format!("{table}.{key}"), Problem::Zero));
            }
        }
        Ok(())
    }
}

impl ServerSettings {
    fn listener(&self) -> ListenerSettings {
        ListenerSettings {
            max_connections: self.max_connections,
            header_read_timeout_ms: self.header_read_timeout_ms,
            keep_alive_timeout_ms: self.keep_alive_timeout_ms,
        }
    }

    /// The MCP listener's connection limits in effect.
    pub fn connection_limits(&self) -> crate::frontdoor::listener::ConnectionLimits {
        self.listener().connection_limits()
    }

    fn check(&self) -> Result<(), (String, Problem)> {
        self.listener().check("server")?;
        for (key, value) in [
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("max_sessions", self.max_sessions.map(|n| n as u64)),
            ("session_idle_timeout_ms", self.session_idle_timeout_ms),
            ("max_sse_streams", self.max_sse_streams.map(|n| n as u64)),
            ("sse_idle_timeout_ms", self.sse_idle_timeout_ms),
        ] {
            if value == Some(0) {
                return Err((format!("server.{key}"), Problem::Zero));
            }
        }
        Ok(())
    }
}

/// Where the admin API listens by default: loopback, a port of its own,
/// never the agent-facing MCP port.
pub const DEFAULT_ADMIN_LISTEN: std::net::SocketAddr = std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8001),
);
/// Default cap on an admin upload's body: CPython components are ~40 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 64 << 20;
/// Default previous versions kept per tool for rollback.
pub const DEFAULT_KEEP_VERSIONS: usize = 5;
/// Most previous versions a tool may keep (each is a full component on disk).
const MAX_KEEP_VERSIONS: usize = 100;

/// `[admin]`: the admin HTTP API, served only when `GATEWAY_ADMIN_KEY` is
/// set (`--admin-listen` and `GATEWAY_ADMIN_LISTEN` take precedence over
/// `listen`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Address to bind [default: 127.0.0.1:8001].
    pub listen: Option<std::net::SocketAddr>,
    /// Largest upload body in bytes [default: 64 MiB].
    pub max_upload_bytes: Option<u64>,
    /// Previous versions kept per tool for rollback [default: 5].
    pub keep_versions: Option<usize>,
    /// Accepted `Host` header values beyond loopback (DNS-rebinding protection).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Open connections at most [`crate::frontdoor::listener::DEFAULT_MAX_CONNECTIONS`],
    /// or half the open-file limit when lower.
    pub max_connections: Option<usize>,
    /// From a request's first byte to the end of its headers, in ms
    /// [`crate::frontdoor::listener::DEFAULT_HEADER_READ_TIMEOUT_MS`].
    pub header_read_timeout_ms: Option<u64>,
    /// How long a connection without a request stays open, in ms
    /// [`crate::frontdoor::listener::DEFAULT_KEEP_ALIVE_TIMEOUT_MS`].
    pub keep_alive_timeout_ms: Option<u64>,
    /// Failed key checks one client address may make in a burst
    /// [`crate::admin::ratelimit::DEFAULT_BURST`].
    pub auth_failure_burst: Option<u32>,
    /// Time for one more failed check to be allowed back, in ms
    /// [`crate::admin::ratelimit::DEFAULT_REFILL_MS`].
    pub auth_failure_refill_ms: Option<u64>,
}

impl AdminSettings {
    /// The upload cap in effect.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes.unwrap_or(DEFAULT_MAX_UPLOAD_BYTES)
    }

    /// The number of previous versions kept in effect.
    pub fn keep_versions(&self) -> usize {
        self.keep_versions.unwrap_or(DEFAULT_KEEP_VERSIONS)
    }

    fn check(&self) -> Result<(), (String, Problem)> {
        if self.max_upload_bytes == Some(0) {
            return Err(("admin.max_upload_bytes".into(), Problem::Zero));
        }
        if let Some(keep) = self.keep_versions
            && !(1..=MAX_KEEP_VERSIONS).contains(&keep)
        {
            return Err((
                "admin.keep_versions".into(),
                Problem::OutOfRange {
                    value: keep as u64,
                    max: MAX_KEEP_VERSIONS as u64,
                },
            ));
        }
        if self.auth_failure_burst == Some(0) {
            return Err(("admin.auth_failure_burst".into(), Problem::Zero));
        }
        if self.auth_failure_refill_ms == Some(0) {
            return Err(("admin.auth_failure_refill_ms".into(), Problem::Zero));
        }
        self.listener().check("admin")
    }

    fn listener(&self) -> ListenerSettings {
        ListenerSettings {
            max_connections: self.max_connections,
            header_read_timeout_ms: self.header_read_timeout_ms,
            keep_alive_timeout_ms: self.keep_alive_timeout_ms,
        }
    }

    /// The admin listener's connection limits in effect.
    pub fn connection_limits(&self) -> crate::frontdoor::listener::ConnectionLimits {
        self.listener().connection_limits()
    }
}

/// `[runtime]`: the sandbox shared by every call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// Linear memory and tables of all calls in flight together, in bytes
    /// (`memory_budget_mib`); a call that would pass it fails as overloaded
    /// [default: [`crate::runtime::limits::default_memory_budget`]].
    pub memory_budget_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    memory_budget_mib: Option<u64>,
}

impl RawRuntime {
    fn check(&self) -> Result<RuntimeSettings, (&'static str, Problem)> {
        const KEY: &str = "runtime.memory_budget_mib";
        let memory_budget_bytes = match self.memory_budget_mib {
            None => None,
            Some(0) => return Err((KEY, Problem::Zero)),
            Some(mib) => Some(
                mib.checked_mul(1 << 20)
                    .and_then(|b| usize::try_from(b).ok())
                    .ok_or((KEY, Problem::TooLarge { mib }))?,
            ),
        };
        Ok(RuntimeSettings {
            memory_budget_bytes,
        })
    }
}

/// `[upstream]`: upstream MCP servers served through the gateway
/// (docs/upstreams.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// `mcp_connections.json`; a file that does not exist means no upstream
    /// servers (until it appears: it is watched).
    pub connections_file: PathBuf,
    /// Approved upstream tool definitions (`gateway upstream approve`),
    /// next to the connections file unless set.
    pub pins_file: PathBuf,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self::beside(PathBuf::from(DEFAULT_CONNECTIONS_FILE))
    }
}

impl UpstreamSettings {
    /// Settings for `connections_file` with the pins file beside it.
    pub fn beside(connections_file: PathBuf) -> Self {
        let pins_file = connections_file
            .parent()
            .unwrap_or(Path::new(""))
            .join(DEFAULT_PINS_FILE);
        Self {
            connections_file,
            pins_file,
        }
    }
}

/// The connections file's name when `[upstream] connections_file` does not say.
pub const DEFAULT_CONNECTIONS_FILE: &str = "mcp_connections.json";
/// The pins file's name when `[upstream] pins_file` does not say.
pub const DEFAULT_PINS_FILE: &str = "upstream-pins.json";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    connections_file: Option<PathBuf>,
    pins_file: Option<PathBuf>,
}

impl RawUpstream {
    fn check(self, base: &Path) -> UpstreamSettings {
        let connections = base.join(
            self.connections_file
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONNECTIONS_FILE)),
        );
        let mut settings = UpstreamSettings::beside(connections);
        if let Some(pins) = self.pins_file {
            settings.pins_file = base.join(pins);
        }
        settings
    }
}

/// `[metrics]`: the Prometheus endpoint (docs/observability.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Whether `/metrics` is served at all [default: true].
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Serve `/metrics` on its own listener at this address instead of the
    /// MCP listener [default: on the MCP listener].
    pub listen: Option<std::net::SocketAddr>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[telemetry]`: traces exported over OTLP/HTTP (docs/observability.md).
/// Off unless `otlp_endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`); spans
    /// go to `<otlp_endpoint>/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the spans carry [default: agent-gateway].
    pub service_name: Option<String>,
    /// Also export each promoted tool's sandbox run as a child span `call`
    /// [default: false: one span per call, `tools/call`, which carries the
    /// same tool, outcome and bytes; a second span per call costs as much
    /// again].
    #[serde(default)]
    pub sandbox_spans: bool,
}

/// `[audit]`: the audit trail (docs/audit.md). Off unless `file` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSettings {
    /// The audit file, resolved against the settings file's folder.
    pub file: Option<PathBuf>,
    /// When lines are synced to disk [default: never while serving].
    pub fsync: crate::audit::FsyncPolicy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    file: Option<PathBuf>,
    #[serde(default)]
    fsync: crate::audit::FsyncPolicy,
}

impl RawAudit {
    fn check(self, base: &Path) -> Result<AuditSettings, (&'static str, Problem)> {
        let file = match self.file {
            None => None,
            Some(file) => {
                let bytes = file.as_os_str().as_encoded_bytes();
                let names_a_file = !bytes.ends_with(b"/")
                    && !bytes.ends_with(b"/.")
                    && matches!(
                        file.components().next_back(),
                        Some(std::path::Component::Normal(_))
                    );
                if !names_a_file {
                    return Err(("audit.file", Problem::NotAFile(file)));
                }
                Some(base.join(file))
            }
        };
        Ok(AuditSettings {
            file,
            fsync: self.fsync,
        })
    }
}

/// `[limits]`, as written (docs/limits.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_calls_in_flight: Option<u64>,
    calls_per_second: Option<f64>,
    burst: Option<u64>,
    #[serde(default)]
    teams: BTreeMap<String, RawRate>,
    #[serde(default)]
    tools: BTreeMap<String, RawRate>,
}

/// `[limits.teams.NAME]` and `[limits.tools.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    calls_per_second: Option<f64>,
    burst: Option<u64>,
}

/// Whether `name` may name a team in `[limits.teams]`.
fn is_team_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl RawRate {
    /// The rate of the table at `key`: `None` when neither value is set.
    fn check(&self, key: &str) -> Result<Option<crate::limits::Rate>, (String, Problem)> {
        use crate::limits::{MAX_BURST, Rate, RateError};
        let Some(calls_per_second) = self.calls_per_second else {
            return match self.burst {
                Some(_) => Err((format!("{key}.burst"), Problem::BurstWithoutRate)),
                None => Ok(None),
            };
        };
        let burst = match self.burst {
            None => None,
            Some(0) => return Err((format!("{key}.burst"), Problem::Zero)),
            Some(b) => Some(u32::try_from(b).unwrap_or(u32::MAX)),
        };
        match Rate::new(calls_per_second, burst) {
            Ok(rate) => Ok(Some(rate)),
            Err(RateError::CallsPerSecond(v)) => Err((
                format!("{key}.calls_per_second"),
                Problem::CallsPerSecond(v.to_string()),
            )),
            Err(_) => Err((
                format!("{key}.burst"),
                Problem::OutOfRange {
                    value: self.burst.unwrap_or_default(),
                    max: u64::from(MAX_BURST),
                },
            )),
        }
    }
}

impl RawLimits {
    fn check(&self) -> Result<crate::limits::LimitSettings, (String, Problem)> {
        use crate::limits::{LimitSettings, MAX_CALLS_IN_FLIGHT, RateSettings};
        let max_calls_in_flight = match self.max_calls_in_flight {
            None => None,
            Some(0) => return Err(("limits.max_calls_in_flight".into(), Problem::Zero)),
            Some(n) if n > MAX_CALLS_IN_FLIGHT as u64 => {
                return Err((
                    "limits.max_calls_in_flight".into(),
                    Problem::OutOfRange {
                        value: n,
                        max: MAX_CALLS_IN_FLIGHT as u64,
                    },
                ));
            }
            Some(n) => usize::try_from(n).ok(),
        };
        let per_tool = RawRate {
            calls_per_second: self.calls_per_second,
            burst: self.burst,
        }
        .check("limits")?;
        let mut rates = RateSettings {
            per_tool,
            ..RateSettings::default()
        };
        for (team, raw) in &self.teams {
            let key = format!("limits.teams.{team}");
            if !is_team_name(team) {
                return Err((key, Problem::TeamName(team.clone())));
            }
            let rate = raw.check(&key)?.ok_or((key, Problem::MissingRate))?;
            rates.teams.insert(team.clone(), rate);
        }
        for (tool, raw) in &self.tools {
            let key = format!("limits.tools.{tool}");
            crate::manifest::tool_name(tool).map_err(|p| (key.clone(), p.into()))?;
            let rate = raw.check(&key)?.ok_or((key, Problem::MissingRate))?;
            rates.tools.insert(tool.clone(), rate);
        }
        Ok(LimitSettings {
            max_calls_in_flight,
            rates,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    tools_dir: Option<PathBuf>,
    fields_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    #[serde(default)]
    server: ServerSettings,
    #[serde(default)]
    admin: AdminSettings,
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    upstream: RawUpstream,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    outbound: RawOutbound,
    #[serde(default)]
    tools: BTreeMap<String, RawToolOverride>,
    #[serde(default)]
    integrations: BTreeMap<String, RawIntegrationGrant>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    metrics: MetricsSettings,
    #[serde(default)]
    telemetry: TelemetrySettings,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbound {
    #[serde(default)]
    allow_private: Vec<String>,
    connect_timeout_ms: Option<u64>,
    first_byte_timeout_ms: Option<u64>,
    between_bytes_timeout_ms: Option<u64>,
    confirm_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToolOverride {
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    confirm_writes: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIntegrationGrant {
    #[serde(default)]
    secrets: Vec<String>,
}

/// Prefixes of the environment variables that configure the gateway itself
/// (its admin key, its listeners, the seed's `MCP_*` names). No tool may bind
/// them as secrets, and no grant can allow it.
pub const RESERVED_SECRET_PREFIXES: [&str; 2] = ["GATEWAY_", "MCP_"];

/// Whether `var` configures the gateway itself and so is never a tool's secret.
pub fn is_reserved_secret(var: &str) -> bool {
    RESERVED_SECRET_PREFIXES.iter().any(|p| var.starts_with(p))
}

/// Which environment variables tools may bind in `[http.secret_headers]`:
/// the admin's grant, never the tool's own claim. A variable is granted to a
/// tool by name (`[tools.NAME] secrets = [...]`) or to every tool of an
/// integration (`[integrations.SLUG] secrets = [...]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretGrants {
    /// Tool name → variables it may bind.
    pub tools: BTreeMap<String, BTreeSet<String>>,
    /// Integration slug → variables every tool of it may bind.
    pub integrations: BTreeMap<String, BTreeSet<String>>,
}

impl SecretGrants {
    /// Whether the tool `tool` (of `integration`, if any) may bind `var`.
    /// Reserved variables are never granted.
    pub fn allows(&self, tool: &str, integration: Option<&str>, var: &str) -> bool {
        if is_reserved_secret(var) {
            return false;
        }
        let by_tool = self.tools.get(tool).is_some_and(|vars| vars.contains(var));
        let by_integration = integration
            .and_then(|slug| self.integrations.get(slug))
            .is_some_and(|vars| vars.contains(var));
        by_tool || by_integration
    }

    /// Grants `vars` to the tool `tool` (test runners and build checks,
    /// which bind fixture values or none at all).
    pub fn grant(&mut self, tool: &str, vars: impl IntoIterator<Item = String>) {
        self.tools.entry(tool.to_owned()).or_default().extend(vars);
    }
}

/// Checks the variable names of one grant list.
fn check_grant(vars: &[String]) -> Result<BTreeSet<String>, Problem> {
    let mut out = BTreeSet::new();
    for var in vars {
        if !crate::outbound::rules::is_env_var_name(var) {
            return Err(Problem::NotAVariable(var.clone()));
        }
        if is_reserved_secret(var) {
            return Err(Problem::ReservedVariable(var.clone()));
        }
        if !out.insert(var.clone()) {
            return Err(Problem::ListedTwice(var.clone()));
        }
    }
    Ok(out)
}

/// `[auth] mode`: how callers of the MCP transports authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authentication: every caller is the local operator.
    #[default]
    None,
    /// Team keys (`gateway keys create`).
    Keys,
    /// OAuth 2.1 access tokens from an authorization server (`[auth.oauth]`).
    #[serde(rename = "oauth")]
    OAuth,
}

/// `[auth]`: who may call, and which tools each team sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// How callers authenticate [default: none].
    pub mode: AuthMode,
    /// `[auth.oauth]`: present exactly when `mode = "oauth"`.
    pub oauth: Option<OAuthSettings>,
    /// `[auth.teams.NAME] tools = [...]`: the tools each team may list and
    /// call, by team name (an OAuth team claim value).
    pub teams: BTreeMap<String, crate::auth::Scope>,
    /// The team keys file [default: `keys.toml` beside `gateway.toml`].
    pub keys_file: PathBuf,
    /// Serve a non-loopback address without authentication. Off by
    /// default: `gateway serve` refuses to, and warns at every start when on.
    pub allow_unauthenticated_network: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            oauth: None,
            teams: BTreeMap::new(),
            keys_file: PathBuf::from(DEFAULT_KEYS_FILE),
            allow_unauthenticated_network: false,
        }
    }
}

/// Largest clock skew accepted on `exp` and `nbf`, in seconds.
pub const MAX_LEEWAY_S: u64 = 600;
/// Default clock skew accepted on `exp` and `nbf`, in seconds.
pub const DEFAULT_LEEWAY_S: u64 = 60;

/// `[auth.oauth]`: this gateway as an OAuth 2.1 resource server (the MCP
/// authorization spec; see `docs/auth.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// The authorization server's issuer identifier, compared byte for byte
    /// with each token's `iss`.
    pub issuer: String,
    /// This gateway's canonical resource URI (e.g.
    /// `https://gateway.example.com/mcp`), published in the protected
    /// resource metadata.
    pub resource: String,
    /// The value a token's `aud` must contain [default: `resource`]
    /// (RFC 8707 audience binding; Entra v2 tokens carry the API's client id).
    pub audience: String,
    /// Where the signing keys are [default: discovered from the issuer's
    /// metadata].
    pub jwks_url: Option<String>,
    /// The signing algorithms accepted [default: all three].
    pub algorithms: Vec<crate::auth::oauth::SigningAlgorithm>,
    /// The claim whose value (a string or an array of strings) names the
    /// caller's teams.
    pub team_claim: Option<String>,
    /// A scope every token must carry (`scope` or `scp`) [default: none checked].
    pub required_scope: Option<String>,
    /// Clock skew accepted on `exp` and `nbf`, in seconds [default: 60].
    pub leeway_s: u64,
    /// The tools of a caller whose token names no known team [default: none,
    /// the built-in tools only].
    pub default_tools: crate::auth::Scope,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    mode: AuthMode,
    oauth: Option<RawOAuth>,
    #[serde(default)]
    teams: BTreeMap<String, RawTeam>,
    keys_file: Option<PathBuf>,
    #[serde(default)]
    allow_unauthenticated_network: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOAuth {
    issuer: String,
    resource: String,
    audience: Option<String>,
    jwks_url: Option<String>,
    algorithms: Option<Vec<String>>,
    team_claim: Option<String>,
    required_scope: Option<String>,
    leeway_s: Option<u64>,
    #[serde(default)]
    default_tools: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    tools: Vec<String>,
}

impl RawAuth {
    fn check(self, base: &Path) -> Result<AuthSettings, (String, Problem)> {
        let oauth = match (self.mode, self.oauth) {
            (AuthMode::OAuth, Some(raw)) => Some(raw.check()?),
            (AuthMode::OAuth, None) => {
                return Err((
                    "auth.oauth".into(),
                    Problem::Required("auth.mode = \"oauth\""),
                ));
            }
            (_, Some(_)) => {
                return Err((
                    "auth.oauth".into(),
                    Problem::Unused("auth.mode = \"oauth\""),
                ));
            }
            (_, None) => None,
        };
        let mut teams = BTreeMap::new();
        for (name, team) in self.teams {
            let key = format!("auth.teams.{name}");
            check_name(&name).map_err(|p| (key.clone(), p))?;
            let scope = crate::auth::Scope::from_patterns(&team.tools)
                .map_err(|p| (format!("{key}.tools"), p.into()))?;
            teams.insert(name, scope);
        }
        Ok(AuthSettings {
            mode: self.mode,
            oauth,
            teams,
            keys_file: base.join(
                self.keys_file
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_KEYS_FILE)),
            ),
            allow_unauthenticated_network: self.allow_unauthenticated_network,
        })
    }
}

impl RawOAuth {
    fn check(self) -> Result<OAuthSettings, (String, Problem)> {
        let at = |key: &str| format!("auth.oauth.{key}");
        crate::auth::oauth::check_url(&self.issuer, false).map_err(|p| (at("issuer"), p))?;
        crate::auth::oauth::check_resource(&self.resource).map_err(|p| (at("resource"), p))?;
        if let Some(url) = &self.jwks_url {
            crate::auth::oauth::check_url(url, true).map_err(|p| (at("jwks_url"), p))?;
        }
        let audience = self.audience.unwrap_or_else(|| self.resource.clone());
        if audience.is_empty() {
            return Err((at("audience"), Problem::Empty));
        }
        let algorithms = match self.algorithms {
            None => crate::auth::oauth::SigningAlgorithm::ALL.to_vec(),
            Some(names) => {
                if names.is_empty() {
                    return Err((at("algorithms"), Problem::Empty));
                }
                let mut out = Vec::new();
                for name in names {
                    let alg = crate::auth::oauth::SigningAlgorithm::from_name(&name)
                        .ok_or_else(|| (at("algorithms"), Problem::Algorithm(name.clone())))?;
                    if out.contains(&alg) {
                        return Err((at("algorithms"), Problem::Duplicate(name)));
                    }
                    out.push(alg);
                }
                out
            }
        };
        if let Some(claim) = &self.team_claim {
            check_name(claim).map_err(|p| (at("team_claim"), p))?;
        }
        if let Some(scope) = &self.required_scope {
            let token_char =
                |c: char| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
            if scope.is_empty() || !scope.chars().all(token_char) {
                return Err((at("required_scope"), Problem::ScopeToken(scope.clone())));
            }
        }
        let leeway_s = self.leeway_s.unwrap_or(DEFAULT_LEEWAY_S);
        if leeway_s > MAX_LEEWAY_S {
            return Err((
                at("leeway_s"),
                Problem::AboveMax {
                    value: leeway_s,
                    max: MAX_LEEWAY_S,
                },
            ));
        }
        let default_tools = crate::auth::Scope::from_patterns(&self.default_tools)
            .map_err(|p| (at("default_tools"), p.into()))?;
        Ok(OAuthSettings {
            issuer: self.issuer,
            resource: self.resource,
            audience,
            jwks_url: self.jwks_url,
            algorithms,
            team_claim: self.team_claim,
            required_scope: self.required_scope,
            leeway_s,
            default_tools,
        })
    }
}

/// A claim or team name: 1 to 256 characters, no control characters.
fn check_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(Problem::BadName(name.to_owned()));
    }
    Ok(())
}

/// The team keys file's name when `[auth] keys_file` does not say.
pub const DEFAULT_KEYS_FILE: &str = "keys.toml";

/// Validated gateway settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Folder of tool folders.
    pub tools_dir: PathBuf,
    /// Field registry folder (`fields/<integration>.yaml`).
    pub fields_dir: PathBuf,
    /// Precompiled-artifact cache.
    pub cache_dir: PathBuf,
    /// A second cache read on a miss (never written): the per-user default,
    /// which `gateway tool build` without the server's configuration fills
    /// (docs/hotload.md). Set by the `gateway` binary, not read from a file;
    /// `None` in the library's defaults.
    pub cache_fallback: Option<PathBuf>,
    /// Private/loopback destinations this deployment lets tools reach.
    pub allow_private: PrivateAllowList,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Per-tool `[config]` overrides.
    pub tool_config: BTreeMap<String, BTreeMap<String, String>>,
    /// Which environment variables each tool may bind as secrets.
    pub secret_grants: SecretGrants,
    /// Who may call the MCP listener.
    pub auth: AuthSettings,
    /// `gateway serve` settings.
    pub server: ServerSettings,
    /// The admin API's settings.
    pub admin: AdminSettings,
    /// The sandbox runtime's settings.
    pub runtime: RuntimeSettings,
    /// Call rates and the cap on calls in flight (`[limits]`).
    pub limits: crate::limits::LimitSettings,
    /// The audit trail's settings.
    pub audit: AuditSettings,
    /// Upstream MCP servers (`[upstream]`).
    pub upstream: UpstreamSettings,
    /// The Prometheus endpoint (`[metrics]`).
    pub metrics: MetricsSettings,
    /// Traces over OTLP (`[telemetry]`).
    pub telemetry: TelemetrySettings,
    /// Which tools' writes wait for the caller's confirmation, and for how
    /// long (docs/confirmations.md).
    pub confirm: ConfirmSettings,
}

/// The longest a write waits for its confirmation by default: the client's
/// answer to an elicitation, or a 2026-07-28 retry with its `requestState`.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(120);

/// Confirmations of approved writes (docs/confirmations.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmSettings {
    /// `[tools.NAME] confirm_writes = true`: every write these tools'
    /// manifests grant waits for confirmation, as if each such `[[http]]`
    /// entry said `confirm = true`.
    pub tools: BTreeSet<String>,
    /// `[outbound] confirm_timeout_ms`: how long a confirmation is waited
    /// for, and how long a 2026-07-28 `requestState` stays valid.
    pub timeout: Duration,
}

impl Default for ConfirmSettings {
    fn default() -> Self {
        Self {
            tools: BTreeSet::new(),
            timeout: DEFAULT_CONFIRM_TIMEOUT,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            tools_dir: PathBuf::from("tools-wasm"),
            fields_dir: PathBuf::from("fields"),
            cache_dir: default_cache_dir(),
            cache_fallback: None,
            allow_private: PrivateAllowList::none(),
            timeouts: Timeouts::default(),
            tool_config: BTreeMap::new(),
            secret_grants: SecretGrants::default(),
            auth: AuthSettings::default(),
            server: ServerSettings::default(),
            admin: AdminSettings::default(),
            runtime: RuntimeSettings::default(),
            limits: crate::limits::LimitSettings::default(),
            audit: AuditSettings::default(),
            upstream: UpstreamSettings::default(),
            metrics: MetricsSettings::default(),
            telemetry: TelemetrySettings::default(),
            confirm: ConfirmSettings::default(),
        }
    }
}

/// `$XDG_CACHE_HOME/agent-gateway/components`, else `~/.cache/...`, else `./.gateway-cache`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    match base {
        Some(base) => base.join("agent-gateway").join("components"),
        None => PathBuf::from(".gateway-cache"),
    }
}

impl Settings {
    /// Reads `gateway.toml`; relative paths in it resolve against its folder.
    pub fn load(file: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(file).map_err(|source| SettingsError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        Self::parse(file, &text)
    }

    /// Parses settings text as if read from `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Self, SettingsError> {
        let raw: RawSettings = toml::from_str(text).map_err(|e| {
            let (line, column) = crate::manifest::position(text, &e);
            SettingsError::Parse {
                file: file.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        let invalid = |key: &str, problem: Problem| SettingsError::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            problem,
        };
        let base = file.parent().unwrap_or(Path::new("."));
        let defaults = Settings::default();
        let allow_private = PrivateAllowList::parse(&raw.outbound.allow_private)
            .map_err(|e| invalid("outbound.allow_private", e.into()))?;
        let ms = |key: &str, v: Option<u64>, d: Duration| match v {
            Some(0) => Err(invalid(key, Problem::Zero)),
            Some(v) => Ok(Duration::from_millis(v)),
            None => Ok(d),
        };
        let timeouts = Timeouts {
            connect: ms(
                "outbound.connect_timeout_ms",
                raw.outbound.connect_timeout_ms,
                defaults.timeouts.connect,
            )?,
            first_byte: ms(
                "outbound.first_byte_timeout_ms",
                raw.outbound.first_byte_timeout_ms,
                defaults.timeouts.first_byte,
            )?,
            between_bytes: ms(
                "outbound.between_bytes_timeout_ms",
                raw.outbound.between_bytes_timeout_ms,
                defaults.timeouts.between_bytes,
            )?,
        };
        raw.admin.check().map_err(|(key, p)| invalid(&key, p))?;
        let auth = raw.auth.check(base).map_err(|(key, p)| invalid(&key, p))?;
        raw.server.check().map_err(|(key, p)| invalid(&key, p))?;
        let runtime = raw.runtime.check().map_err(|(key, p)| invalid(key, p))?;
        let limits = raw.limits.check().map_err(|(key, p)| invalid(&key, p))?;
        let audit = raw.audit.check(base).map_err(|(key, p)| invalid(key, p))?;
        let upstream = raw.upstream.check(base);
        let confirm = ConfirmSettings {
            tools: raw
                .tools
                .iter()
                .filter(|(_, tool)| tool.confirm_writes)
                .map(|(name, _)| name.clone())
                .collect(),
            timeout: ms(
                "outbound.confirm_timeout_ms",
                raw.outbound.confirm_timeout_ms,
                DEFAULT_CONFIRM_TIMEOUT,
            )?,
        };
        let mut secret_grants = SecretGrants::default();
        for (name, tool) in &raw.tools {
            crate::manifest::tool_name(name)
                .map_err(|p| invalid(&format!("tools.{name}"), p.into()))?;
            let vars = check_grant(&tool.secrets)
                .map_err(|p| invalid(&format!("tools.{name}.secrets"), p))?;
            if !vars.is_empty() {
                secret_grants.tools.insert(name.clone(), vars);
            }
        }
        for (slug, grant) in &raw.integrations {
            crate::manifest::integration_slug(slug)
                .map_err(|p| invalid(&format!("integrations.{slug}"), p.into()))?;
            let vars = check_grant(&grant.secrets)
                .map_err(|p| invalid(&format!("integrations.{slug}.secrets"), p))?;
            if !vars.is_empty() {
                secret_grants.integrations.insert(slug.clone(), vars);
            }
        }
        Ok(Self {
            tools_dir: raw.tools_dir.map_or(defaults.tools_dir, |d| base.join(d)),
            fields_dir: raw.fields_dir.map_or(defaults.fields_dir, |d| base.join(d)),
            cache_dir: raw.cache_dir.map_or(defaults.cache_dir, |d| base.join(d)),
            cache_fallback: None,
            allow_private,
            timeouts,
            tool_config: raw.tools.into_iter().map(|(k, v)| (k, v.config)).collect(),
            secret_grants,
            auth,
            server: ServerSettings {
                session_key_file: raw.server.session_key_file.as_ref().map(|f| base.join(f)),
                ..raw.server
            },
            admin: raw.admin,
            runtime,
            limits,
            audit,
            upstream,
            metrics: raw.metrics,
            telemetry: raw.telemetry,
            confirm,
        })
    }

    /// Config overrides for one tool (empty if none).
    pub fn overrides_for(&self, tool: &str) -> BTreeMap<String, String> {
        self.tool_config.get(tool).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_writes_and_its_timeout_are_read() {
        let s = Settings::parse(
            Path::new("/etc/gw/gateway.toml"),
            "[outbound]\nconfirm_timeout_ms = 30000\n[tools.pay]\nconfirm_writes = true\n[tools.read]\nsecrets = [\"K\"]\n",
        )
        .expect("parse");
        assert_eq!(s.confirm.tools, BTreeSet::from(["pay".to_owned()]));
        assert_eq!(s.confirm.timeout, Duration::from_secs(30));
        let d = Settings::parse(Path::new("/g.toml"), "").expect("parse");
        assert_eq!(d.confirm, ConfirmSettings::default());
        assert!(matches!(
            Settings::parse(Path::new("/g.toml"), "[outbound]\nconfirm_timeout_ms = 0\n"),
            Err(SettingsError::Invalid { key, problem: Problem::Zero, .. })
                if key == "outbound.confirm_timeout_ms"
        ));
    }

    #[test]
    fn the_session_key_file_is_relative_to_the_settings_file() {
        let s = Settings::parse(
            Path::new("/etc/gw/gateway.toml"),
            "[server]\nsession_key_file = \"session.key\"\nshutdown_delay_ms = 1500\n",
        )
        .expect("parse");
        assert_eq!(
            s.server.session_key_file.as_deref(),
            Some(Path::new("/etc/gw/session.key"))
        );
        assert_eq!(s.server.shutdown_delay_ms, Some(1500));
    }

    #[test]
    fn metrics_and_telemetry_tables_are_read_and_default_to_metrics_on_traces_off() {
        let none = Settings::parse(Path::new("g.toml"), "").expect("parses");
        assert_eq!(none.metrics, MetricsSettings::default());
        assert!(none.metrics.enabled);
        assert_eq!(none.metrics.listen, None);
        assert_eq!(none.telemetry.otlp_endpoint, None);
        let set = Settings::parse(
            Path::new("g.toml"),
            "[metrics]\nenabled = false\nlisten = \"0.0.0.0:9464\"\n[telemetry]\notlp_endpoint = \"http://collector:4318\"\nsandbox_spans = true\n",
        )
        .expect("parses");
        assert!(!set.metrics.enabled);
        assert_eq!(
            set.metrics.listen,
            Some("0.0.0.0:9464".parse().expect("addr"))
        );
        assert_eq!(
            set.telemetry.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert!(set.telemetry.sandbox_spans);
        assert!(!none.telemetry.sandbox_spans);
        let typo = Settings::parse(Path::new("g.toml"), "[metrics]\nlisten_on = \"x\"\n");
        assert!(matches!(typo, Err(SettingsError::Parse { .. })));
    }

    #[test]
    fn defaults_grant_nothing() {
        let s = Settings::parse(Path::new("/etc/gateway.toml"), "").expect("parses");
        assert!(!s.allow_private.permits("127.0.0.1".parse().expect("ip")));
        assert!(
            !s.allow_private
                .permits("169.254.169.254".parse().expect("ip"))
        );
        assert_eq!(s.timeouts, Timeouts::default());
        assert!(s.tool_config.is_empty());
        assert_eq!(s.runtime.memory_budget_bytes, None);
        assert_eq!(s.audit, AuditSettings::default());
        assert_eq!(s.audit.file, None);
    }

    #[test]
    fn upstream_files_resolve_against_the_settings_folder() {
        let s = Settings::parse(Path::new("/srv/gw/gateway.toml"), "").expect("parses");
        assert_eq!(
            s.upstream.connections_file,
            Path::new("/srv/gw/mcp_connections.json")
        );
        assert_eq!(
            s.upstream.pins_file,
            Path::new("/srv/gw/upstream-pins.json")
        );
        let s = Settings::parse(
            Path::new("/srv/gw/gateway.toml"),
            "[upstream]\nconnections_file = \"up/conn.json\"\n",
        )
        .expect("parses");
        assert_eq!(
            s.upstream.pins_file,
            Path::new("/srv/gw/up/upstream-pins.json")
        );
        let s = Settings::parse(
            Path::new("/srv/gw/gateway.toml"),
            "[upstream]\npins_file = \"/var/lib/gw/pins.json\"\n",
        )
        .expect("parses");
        assert_eq!(s.upstream.pins_file, Path::new("/var/lib/gw/pins.json"));
    }

    #[test]
    fn the_audit_file_resolves_against_the_settings_folder() {
        let s = Settings::parse(
            Path::new("/srv/gw/gateway.toml"),
            "[audit]\nfile = \"audit/calls.jsonl\"\nfsync = \"batch\"\n",
        )
        .expect("parses");
        assert_eq!(
            s.audit.file.as_deref(),
            Some(Path::new("/srv/gw/audit/calls.jsonl"))
        );
        assert_eq!(s.audit.fsync, crate::audit::FsyncPolicy::Batch);
        let s = Settings::parse(
            Path::new("/srv/gw/gateway.toml"),
            "[audit]\nfile = \"/var/log/gw/audit.jsonl\"\n",
        )
        .expect("parses");
        assert_eq!(
            s.audit.file.as_deref(),
            Some(Path::new("/var/log/gw/audit.jsonl"))
        );
        assert_eq!(s.audit.fsync, crate::audit::FsyncPolicy::Never);
        for bad in ["", "logs/", ".", "logs/.", "logs/..", "/"] {
            let text = format!("[audit]\nfile = {bad:?}\n");
            match Settings::parse(Path::new("g.toml"), &text) {
                Err(SettingsError::Invalid { key, problem, .. }) => {
                    assert_eq!(key, "audit.file", "{bad:?}");
                    assert_eq!(problem, Problem::NotAFile(PathBuf::from(bad)), "{bad:?}");
                }
                other => panic!("expected Invalid for {bad:?}, got {other:?}"),
            }
        }
        for bad in ["[audit]\nfsync = \"always\"\n", "[audit]\nrotate = true\n"] {
            assert!(
                matches!(
                    Settings::parse(Path::new("g.toml"), bad),
                    Err(SettingsError::Parse { line: 2, .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_runtime_table_sets_the_memory_budget() {
        let s = Settings::parse(Path::new("g.toml"), "[runtime]\nmemory_budget_mib = 512\n")
            .expect("parses");
        assert_eq!(s.runtime.memory_budget_bytes, Some(512 << 20));
        let default = crate::runtime::limits::default_memory_budget();
        assert!(default > 0);
        assert!(default <= crate::runtime::limits::DEFAULT_MEMORY_BUDGET_BYTES);
    }

    #[test]
    fn grants_and_overrides_parse_with_paths_relative_to_the_file() {
        let s = Settings::parse(
            Path::new("/srv/gw/gateway.toml"),
            r#"
tools_dir = "tools"
fields_dir = "fields"
cache_dir = "/var/cache/gw"
[server]
shutdown_grace_ms = 5000
[outbound]
allow_private = ["127.0.0.1/32", "::1"]
connect_timeout_ms = 250
[tools.github_repo_summary.config]
api_base = "http://127.0.0.1:8089"
"#,
        )
        .expect("parses");
        assert_eq!(s.tools_dir, Path::new("/srv/gw/tools"));
        assert_eq!(s.fields_dir, Path::new("/srv/gw/fields"));
        assert_eq!(s.cache_dir, Path::new("/var/cache/gw"));
        assert!(s.allow_private.permits("127.0.0.1".parse().expect("ip")));
        assert!(!s.allow_private.permits("127.0.0.2".parse().expect("ip")));
        assert_eq!(s.timeouts.connect, Duration::from_millis(250));
        assert_eq!(s.server.shutdown_grace_ms, Some(5000));
        assert_eq!(
            s.overrides_for("github_repo_summary")["api_base"],
            "http://127.0.0.1:8089"
        );
        assert!(s.overrides_for("other").is_empty());
    }

    #[test]
    fn secrets_are_granted_per_tool_or_per_integration_and_never_reserved_ones() {
        let s = Settings::parse(
            Path::new("g.toml"),
            r#"
[tools.stripe_revenue]
secrets = ["STRIPE_API_KEY"]
[tools.stripe_revenue.config]
api_base = "http://127.0.0.1:8090"
[integrations.hubspot]
secrets = ["HUBSPOT_ACCESS_TOKEN"]
"#,
        )
        .expect("parses");
        let g = &s.secret_grants;
        assert!(g.allows("stripe_revenue", None, "STRIPE_API_KEY"));
        assert!(!g.allows("other_tool", None, "STRIPE_API_KEY"));
        assert!(!g.allows("stripe_revenue", None, "HUBSPOT_ACCESS_TOKEN"));
        assert!(g.allows("any_tool", Some("hubspot"), "HUBSPOT_ACCESS_TOKEN"));
        assert!(!g.allows("any_tool", Some("stripe"), "HUBSPOT_ACCESS_TOKEN"));
        assert_eq!(
            s.overrides_for("stripe_revenue")["api_base"],
            "http://127.0.0.1:8090"
        );
        // Nothing is granted by default, and a reserved variable never is,
        // even when a grant names it programmatically.
        let mut none = Settings::default().secret_grants;
        assert!(!none.allows("t", None, "HOME"));
        none.grant("t", ["GATEWAY_ADMIN_KEY".to_string(), "HOME".to_string()]);
        assert!(!none.allows("t", None, "GATEWAY_ADMIN_KEY"));
        assert!(none.allows("t", None, "HOME"));
    }

    #[test]
    fn the_admin_table_parses_with_safe_defaults() {
        let s = Settings::parse(Path::new("g.toml"), "").expect("parses");
        assert_eq!(s.admin, AdminSettings::default());
        assert_eq!(s.admin.max_upload_bytes(), 64 << 20);
        assert_eq!(s.admin.keep_versions(), 5);
        assert!(DEFAULT_ADMIN_LISTEN.ip().is_loopback());

        let s = Settings::parse(
            Path::new("g.toml"),
            "[admin]\nlisten = \"127.0.0.1:9001\"\nmax_upload_bytes = 1024\nkeep_versions = 2\nallowed_hosts = [\"admin.internal\"]\n",
        )
        .expect("parses");
        assert_eq!(
            s.admin.listen,
            Some("127.0.0.1:9001".parse().expect("addr"))
        );
        assert_eq!(s.admin.max_upload_bytes(), 1024);
        assert_eq!(s.admin.keep_versions(), 2);
        assert_eq!(s.admin.allowed_hosts, ["admin.internal"]);
    }

    #[test]
    fn mistakes_name_their_key() {
        let key = |text: &str| match Settings::parse(Path::new("g.toml"), text) {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        };
        assert_eq!(
            key("[outbound]\nallow_private = [\"not-an-ip\"]\n"),
            "outbound.allow_private"
        );
        assert_eq!(
            key("[outbound]\nconnect_timeout_ms = 0\n"),
            "outbound.connect_timeout_ms"
        );
        assert_eq!(
            key("[tools.\"Bad Name\".config]\nx = \"y\"\n"),
            "tools.Bad Name"
        );
        assert_eq!(
            key("[admin]\nmax_upload_bytes = 0\n"),
            "admin.max_upload_bytes"
        );
        assert_eq!(key("[admin]\nkeep_versions = 0\n"), "admin.keep_versions");
        assert_eq!(
            key("[tools.t]\nsecrets = [\"GATEWAY_ADMIN_KEY\"]\n"),
            "tools.t.secrets"
        );
        assert_eq!(
            key("[tools.t]\nsecrets = [\"MCP_SERVER_PORT\"]\n"),
            "tools.t.secrets"
        );
        assert_eq!(
            key("[tools.t]\nsecrets = [\"lower_case\"]\n"),
            "tools.t.secrets"
        );
        assert_eq!(
            key("[tools.t]\nsecrets = [\"A\", \"A\"]\n"),
            "tools.t.secrets"
        );
        assert_eq!(
            key("[integrations.stripe]\nsecrets = [\"GATEWAY_X\"]\n"),
            "integrations.stripe.secrets"
        );
        assert_eq!(
            key("[integrations.\"Bad Slug\"]\nsecrets = [\"A\"]\n"),
            "integrations.Bad Slug"
        );
        for (text, expected) in [
            ("[server]\nmax_connections = 0\n", "server.max_connections"),
            (
                "[server]\nheader_read_timeout_ms = 0\n",
                "server.header_read_timeout_ms",
            ),
            ("[server]\nmax_sessions = 0\n", "server.max_sessions"),
            (
                "[server]\nsse_idle_timeout_ms = 0\n",
                "server.sse_idle_timeout_ms",
            ),
            (
                "[admin]\nkeep_alive_timeout_ms = 0\n",
                "admin.keep_alive_timeout_ms",
            ),
            (
                "[admin]\nauth_failure_burst = 0\n",
                "admin.auth_failure_burst",
            ),
        ] {
            assert_eq!(key(text), expected, "{text:?}");
        }
        assert_eq!(
            key("[runtime]\nmemory_budget_mib = 0\n"),
            "runtime.memory_budget_mib"
        );
        assert_eq!(
            key(&format!("[runtime]\nmemory_budget_mib = {}\n", i64::MAX)),
            "runtime.memory_budget_mib"
        );
        assert!(matches!(
            Settings::parse(Path::new("g.toml"), "[outbound]\nallow_everything = true\n"),
            Err(SettingsError::Parse { line: 2, .. })
        ));
        for text in [
            "[admin]\nlisten = \"not an address\"\n",
            "[admin]\nkey = \"in-the-file\"\n",
        ] {
            assert!(
                matches!(
                    Settings::parse(Path::new("g.toml"), text),
                    Err(SettingsError::Parse { line: 2, .. })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        let problem = |text: &str| match Settings::parse(Path::new("g.toml"), text) {
            Err(SettingsError::Invalid { problem, .. }) => problem,
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        };
        let var = |v: &str| v.to_owned();
        let cases = [
            ("[admin]\nmax_upload_bytes = 0\n", Problem::Zero),
            (
                "[admin]\nkeep_versions = 0\n",
                Problem::OutOfRange {
                    value: 0,
                    max: MAX_KEEP_VERSIONS as u64,
                },
            ),
            (
                "[tools.t]\nsecrets = [\"GATEWAY_ADMIN_KEY\"]\n",
                Problem::ReservedVariable(var("GATEWAY_ADMIN_KEY")),
            ),
            (
                "[tools.t]\nsecrets = [\"lower_case\"]\n",
                Problem::NotAVariable(var("lower_case")),
            ),
            (
                "[tools.t]\nsecrets = [\"A\", \"A\"]\n",
                Problem::ListedTwice(var("A")),
            ),
            (
                &format!("[runtime]\nmemory_budget_mib = {}\n", i64::MAX),
                Problem::TooLarge {
                    mib: i64::MAX as u64,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(problem(text), want, "{text:?}");
        }
        assert!(matches!(
            problem("[outbound]\nallow_private = [\"not-an-ip\"]\n"),
            Problem::AllowPrivate(_)
        ));
        assert_eq!(
            problem("[tools.\"Bad Name\".config]\nx = \"y\"\n"),
            Problem::Name(crate::manifest::NameError::Tool("Bad Name".into()))
        );
        assert_eq!(
            problem("[integrations.\"Bad Slug\"]\nsecrets = [\"A\"]\n"),
            Problem::Name(crate::manifest::NameError::Slug("Bad Slug".into()))
        );
        let missing = Path::new("/nonexistent/gateway.toml");
        assert!(matches!(
            Settings::load(missing),
            Err(SettingsError::Io { file, .. }) if file == missing
        ));
    }

    #[test]
    fn front_door_limits_parse_for_both_listeners() {
        let s = Settings::parse(
            Path::new("g.toml"),
            "[server]\nmax_connections = 7\nheader_read_timeout_ms = 5\nkeep_alive_timeout_ms = 6\nbody_read_timeout_ms = 8\nmax_sessions = 2\nsession_idle_timeout_ms = 9\nmax_sse_streams = 3\nsse_idle_timeout_ms = 10\n[admin]\nmax_connections = 4\nauth_failure_burst = 3\nauth_failure_refill_ms = 11\n",
        )
        .expect("parses");
        let ms = Duration::from_millis;
        let mcp = s.server.connection_limits();
        assert_eq!(
            (
                mcp.max_connections,
                mcp.header_read_timeout,
                mcp.keep_alive_timeout
            ),
            (7, ms(5), ms(6))
        );
        let streams = crate::frontdoor::StreamLimits::from_settings(&s.server);
        assert_eq!(
            streams,
            crate::frontdoor::StreamLimits {
                body_read_timeout: ms(8),
                max_sessions: 2,
                session_idle_timeout: ms(9),
                max_sse_streams: 3,
                sse_idle_timeout: ms(10),
            }
        );
        assert_eq!(s.admin.connection_limits().max_connections, 4);
        assert_eq!(
            (s.admin.auth_failure_burst, s.admin.auth_failure_refill_ms),
            (Some(3), Some(11))
        );
    }
    #[test]
    fn the_limits_table_sets_rates_per_team_and_tool_and_the_cap() {
        use crate::limits::Rate;
        let s = Settings::parse(Path::new("g.toml"), "").expect("parses");
        assert_eq!(s.limits, crate::limits::LimitSettings::default());
        assert!(s.limits.rates.is_unlimited());

        let s = Settings::parse(
            Path::new("g.toml"),
            r#"
[limits]
max_calls_in_flight = 64
calls_per_second = 10
burst = 20
[limits.teams.finance]
calls_per_second = 50
[limits.tools.stripe_revenue]
calls_per_second = 0.5
burst = 2
"#,
        )
        .expect("parses");
        let rate = |cps, burst| Rate::new(cps, burst).expect("rate");
        assert_eq!(s.limits.max_calls_in_flight, Some(64));
        assert_eq!(s.limits.rates.per_tool, Some(rate(10.0, Some(20))));
        assert_eq!(s.limits.rates.teams["finance"], rate(50.0, None));
        assert_eq!(s.limits.rates.teams["finance"].burst(), 50);
        assert_eq!(s.limits.rates.tools["stripe_revenue"], rate(0.5, Some(2)));
    }

    #[test]
    fn limit_mistakes_name_their_key_and_problem() {
        let invalid = |text: &str| match Settings::parse(Path::new("g.toml"), text) {
            Err(SettingsError::Invalid { key, problem, .. }) => (key, problem),
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        };
        let cases = [
            (
                "[limits]\ncalls_per_second = 0\n",
                (
                    "limits.calls_per_second",
                    Problem::CallsPerSecond("0".into()),
                ),
            ),
            (
                "[limits]\ncalls_per_second = -1.5\n",
                (
                    "limits.calls_per_second",
                    Problem::CallsPerSecond("-1.5".into()),
                ),
            ),
            (
                "[limits]\ncalls_per_second = nan\n",
                (
                    "limits.calls_per_second",
                    Problem::CallsPerSecond("NaN".into()),
                ),
            ),
            (
                "[limits]\nburst = 5\n",
                ("limits.burst", Problem::BurstWithoutRate),
            ),
            (
                "[limits]\ncalls_per_second = 1\nburst = 0\n",
                ("limits.burst", Problem::Zero),
            ),
            (
                "[limits]\ncalls_per_second = 1\nburst = 4294967296\n",
                (
                    "limits.burst",
                    Problem::OutOfRange {
                        value: 4_294_967_296,
                        max: u64::from(crate::limits::MAX_BURST),
                    },
                ),
            ),
            (
                "[limits]\nmax_calls_in_flight = 0\n",
                ("limits.max_calls_in_flight", Problem::Zero),
            ),
            (
                "[limits]\nmax_calls_in_flight = 10000000\n",
                (
                    "limits.max_calls_in_flight",
                    Problem::OutOfRange {
                        value: 10_000_000,
                        max: crate::limits::MAX_CALLS_IN_FLIGHT as u64,
                    },
                ),
            ),
            (
                "[limits.teams.finance]\n",
                ("limits.teams.finance", Problem::MissingRate),
            ),
            (
                "[limits.teams.\"two words\"]\ncalls_per_second = 1\n",
                (
                    "limits.teams.two words",
                    Problem::TeamName("two words".into()),
                ),
            ),
            (
                "[limits.tools.echo]\nburst = 3\n",
                ("limits.tools.echo.burst", Problem::BurstWithoutRate),
            ),
            (
                "[limits.tools.Echo]\ncalls_per_second = 1\n",
                (
                    "limits.tools.Echo",
                    Problem::Name(crate::manifest::NameError::Tool("Echo".into())),
                ),
            ),
        ];
        for (text, (key, problem)) in cases {
            assert_eq!(invalid(text), (key.to_owned(), problem), "{text:?}");
        }
        for text in [
            "[limits]\nrate = 5\n",
            "[limits.tools.echo]\ncalls_per_minute = 5\n",
            "[limits]\nmax_calls_in_flight = -1\n",
        ] {
            assert!(
                matches!(
                    Settings::parse(Path::new("g.toml"), text),
                    Err(SettingsError::Parse { .. })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_auth_table_configures_oauth_and_teams() {
        let s = Settings::parse(Path::new("g.toml"), "").expect("parses");
        assert_eq!(s.auth, AuthSettings::default());
        assert_eq!(s.auth.mode, AuthMode::None);

        let s = Settings::parse(
            Path::new("g.toml"),
            r#"
[auth]
mode = "oauth"
[auth.oauth]
issuer = "https://kc.example.com/realms/acme"
resource = "https://gateway.example.com/mcp"
team_claim = "groups"
required_scope = "mcp:tools"
[auth.teams.finance]
tools = ["stripe_*", "hubspot_*"]
"#,
        )
        .expect("parses");
        assert_eq!(s.auth.mode, AuthMode::OAuth);
        let oauth = s.auth.oauth.as_ref().expect("oauth");
        assert_eq!(oauth.audience, "https://gateway.example.com/mcp");
        assert_eq!(oauth.algorithms, crate::auth::oauth::SigningAlgorithm::ALL);
        assert_eq!(oauth.leeway_s, DEFAULT_LEEWAY_S);
        assert_eq!(oauth.jwks_url, None);
        assert_eq!(oauth.default_tools, crate::auth::Scope::none());
        assert!(s.auth.teams["finance"].allows("stripe_revenue"));
        assert!(!s.auth.teams["finance"].allows("github_repo_summary"));

        for mode in ["none", "keys"] {
            let s = Settings::parse(Path::new("g.toml"), &format!("[auth]\nmode = \"{mode}\"\n"))
                .expect("parses");
            assert!(s.auth.oauth.is_none());
        }
        assert!(matches!(
            Settings::parse(Path::new("g.toml"), "[auth]\nmode = \"magic\"\n"),
            Err(SettingsError::Parse { line: 2, .. })
        ));
    }

    #[test]
    fn oauth_mistakes_name_their_key_and_problem() {
        let base = "[auth]\nmode = \"oauth\"\n[auth.oauth]\nissuer = \"https://idp.example.com\"\nresource = \"https://gw.example.com/mcp\"\n";
        let fail =
            |extra: &str| match Settings::parse(Path::new("g.toml"), &format!("{base}{extra}")) {
                Err(SettingsError::Invalid { key, problem, .. }) => (key, problem),
                other => panic!("expected Invalid for {extra:?}, got {other:?}"),
            };
        let cases: Vec<(&str, &str, Problem)> = vec![
            (
                "algorithms = [\"HS256\"]\n",
                "auth.oauth.algorithms",
                Problem::Algorithm("HS256".into()),
            ),
            (
                "algorithms = [\"none\"]\n",
                "auth.oauth.algorithms",
                Problem::Algorithm("none".into()),
            ),
            ("algorithms = []\n", "auth.oauth.algorithms", Problem::Empty),
            (
                "algorithms = [\"ES256\", \"ES256\"]\n",
                "auth.oauth.algorithms",
                Problem::Duplicate("ES256".into()),
            ),
            (
                "leeway_s = 601\n",
                "auth.oauth.leeway_s",
                Problem::AboveMax {
                    value: 601,
                    max: MAX_LEEWAY_S,
                },
            ),
            (
                "required_scope = \"two scopes\"\n",
                "auth.oauth.required_scope",
                Problem::ScopeToken("two scopes".into()),
            ),
            ("audience = \"\"\n", "auth.oauth.audience", Problem::Empty),
            (
                "jwks_url = \"http://idp.example.com/keys\"\n",
                "auth.oauth.jwks_url",
                Problem::BadUrl {
                    value: "http://idp.example.com/keys".into(),
                    reason: "plain http is accepted only to a loopback address",
                },
            ),
            (
                "default_tools = [\"Bad\"]\n",
                "auth.oauth.default_tools",
                Problem::Pattern(crate::auth::PatternError::Characters("Bad".into())),
            ),
            (
                "[auth.teams.finance]\ntools = [\"\"]\n",
                "auth.teams.finance.tools",
                Problem::Pattern(crate::auth::PatternError::Empty),
            ),
        ];
        for (extra, key, problem) in cases {
            assert_eq!(fail(extra), (key.to_owned(), problem), "{extra:?}");
        }
        let whole = |text: &str| match Settings::parse(Path::new("g.toml"), text) {
            Err(SettingsError::Invalid { key, problem, .. }) => (key, problem),
            other => panic!("expected Invalid for {text:?}, got {other:?}"),
        };
        assert_eq!(
            whole("[auth]\nmode = \"oauth\"\n"),
            (
                "auth.oauth".to_owned(),
                Problem::Required("auth.mode = \"oauth\"")
            )
        );
        assert_eq!(
            whole(
                "[auth.oauth]\nissuer = \"https://i.example\"\nresource = \"https://r.example\"\n"
            ),
            (
                "auth.oauth".to_owned(),
                Problem::Unused("auth.mode = \"oauth\"")
            )
        );
        let (key, problem) = whole(
            "[auth]\nmode = \"oauth\"\n[auth.oauth]\nissuer = \"http://idp.example.com\"\nresource = \"https://r.example\"\n",
        );
        assert_eq!(key, "auth.oauth.issuer");
        assert!(matches!(problem, Problem::BadUrl { .. }));
        let (key, problem) = whole(
            "[auth]\nmode = \"oauth\"\n[auth.oauth]\nissuer = \"https://i.example\"\nresource = \"https://r.example/mcp#frag\"\n",
        );
        assert_eq!(key, "auth.oauth.resource");
        assert!(matches!(problem, Problem::BadUrl { .. }));
        // A missing required key is a parse error on its table's line.
        assert!(matches!(
            Settings::parse(
                Path::new("g.toml"),
                "[auth]\nmode = \"oauth\"\n[auth.oauth]\nissuer = \"https://i.example\"\n"
            ),
            Err(SettingsError::Parse { .. })
        ));
    }
}

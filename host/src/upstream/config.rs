//! `mcp_connections.json`: which upstream MCP servers the gateway connects
//! to, and how.
//!
//! ```json
//! {"connections": {
//!   "stripe": {"transport": "stdio", "command": "npx",
//!              "args": ["-y", "@stripe/mcp", "--tools=all"],
//!              "env": {"STRIPE_API_KEY": "${STRIPE_API_KEY}"},
//!              "integration": "stripe", "read_only": true},
//!   "docs":   {"transport": "http", "url": "https://mcp.example.com/mcp",
//!              "headers": {"Authorization": "Bearer ${DOCS_MCP_TOKEN}"},
//!              "tools": ["search", "fetch"]}}}
//! ```
//!
//! `${VAR}` is read from the gateway's environment when the file is loaded;
//! a variable that is not set, or one that configures the gateway itself
//! (`GATEWAY_*`, `MCP_*`), is an error naming the connection and field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default time an upstream call may take.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Longest accepted `timeout_ms`.
pub const MAX_TIMEOUT_MS: u64 = 300_000;
/// Default bytes of an upstream result returned to the agent.
pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 20;
/// Largest accepted `output_bytes`.
pub const MAX_OUTPUT_BYTES: u64 = 16 << 20;

/// How the gateway reaches one upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments, `${VAR}` expanded.
        args: Vec<String>,
        /// Its whole environment: only these variables, `${VAR}` expanded.
        env: BTreeMap<String, String>,
    },
    /// The legacy SSE transport (`/sse`).
    Sse {
        /// The stream's URL.
        url: url::Url,
        /// Headers sent on every request, `${VAR}` expanded.
        headers: BTreeMap<String, String>,
    },
    /// Streamable HTTP (`/mcp`).
    Http {
        /// The endpoint.
        url: url::Url,
        /// Headers sent on every request, `${VAR}` expanded.
        headers: BTreeMap<String, String>,
    },
}

/// Whether a new or changed upstream tool definition is served before an
/// admin approves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pin {
    /// Served once an admin approves its definition hash (the default).
    #[default]
    Approve,
    /// Approved automatically the first time it is seen (trusted servers);
    /// a later change still stops it until approved.
    Auto,
}

/// One upstream server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The connection's name: the prefix of its tools (`<name>__<tool>`).
    pub name: String,
    /// How to reach it.
    pub transport: Transport,
    /// Only these upstream tools are served (`None`: all).
    pub tools: Option<BTreeSet<String>>,
    /// Only tools the upstream annotates `readOnlyHint: true` are served.
    pub read_only: bool,
    /// The field-registry slug its results are checked against.
    pub integration: Option<String>,
    /// Time a call may take.
    pub timeout: Duration,
    /// Bytes of result returned at most.
    pub output_bytes: usize,
    /// Approval of new definitions.
    pub pin: Pin,
}

/// What is wrong with one value of a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A connection name its tools could not be named after.
    #[error(
        "{0:?} is not a connection name: lowercase letters, digits and '_', starting with a letter, at most 40 characters"
    )]
    Name(String),
    /// A field the transport needs is missing.
    #[error("missing (transport {transport:?} needs it)")]
    Missing {
        /// The transport.
        transport: &'static str,
    },
    /// A field the transport does not use.
    #[error("not used with transport {transport:?}")]
    Unused {
        /// The transport.
        transport: &'static str,
    },
    /// Not an http(s) URL.
    #[error("{0:?} is not an http or https URL")]
    Url(String),
    /// `${VAR}` names a variable that is not set.
    #[error("${{{0}}} is not set in the gateway's environment")]
    Unset(String),
    /// `${VAR}` names a variable of the gateway's own configuration.
    #[error("${{{0}}} configures the gateway itself and can never be passed to an upstream")]
    Reserved(String),
    /// A `${` without its `}` or with a name that is not one.
    #[error("{0:?}: write variables as ${{NAME}} (letters, digits and '_')")]
    Placeholder(String),
    /// A number outside what the gateway accepts.
    #[error("{value} is outside 1..={max}")]
    OutOfRange {
        /// The value.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
    /// Not an integration slug.
    #[error(transparent)]
    Integration(#[from] crate::manifest::NameError),
    /// An empty allow-list (which would serve nothing: leave it out for all).
    #[error("an empty list serves nothing; leave the key out to serve every tool")]
    EmptyTools,
}

/// Why the connections file cannot be used. Nothing of it is applied then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionsError {
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not JSON of this shape (unknown keys included).
    #[error("{}:{line}:{column}: {message}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A value that parsed but cannot be used.
    #[error("{}: connections.{connection}.{field}: {problem}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The connection.
        connection: String,
        /// The field, e.g. `env.STRIPE_API_KEY` or `url`.
        field: String,
        /// What is wrong.
        #[source]
        problem: Problem,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    connections: BTreeMap<String, RawConnection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum RawTransport {
    Stdio,
    Sse,
    Http,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    transport: RawTransport,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    env: Option<BTreeMap<String, String>>,
    url: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    tools: Option<Vec<String>>,
    #[serde(default)]
    read_only: bool,
    integration: Option<String>,
    timeout_ms: Option<u64>,
    output_bytes: Option<u64>,
    #[serde(default)]
    pin: Pin,
}

/// Reads and checks `file`, taking `${VAR}` from the process environment.
pub fn load(file: &Path) -> Result<Vec<Connection>, ConnectionsError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConnectionsError::Io {
        file: file.to_owned(),
        source,
    })?;
    parse(file, &text, &|var| std::env::var(var).ok())
}

/// Checks `text` as read from `file`, taking `${VAR}` from `lookup`.
pub fn parse(
    file: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Connection>, ConnectionsError> {
    let raw: RawFile = serde_json::from_str(text).map_err(|e| ConnectionsError::Parse {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    raw.connections
        .into_iter()
        .map(|(name, raw)| connection(file, name, raw, lookup))
        .collect()
}

fn connection(
    file: &Path,
    name: String,
    raw: RawConnection,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Connection, ConnectionsError> {
    let invalid = |field: &str, problem: Problem| ConnectionsError::Invalid {
        file: file.to_owned(),
        connection: name.clone(),
        field: field.to_owned(),
        problem,
    };
    let name_ok = name.len() <= 40 && crate::manifest::tool_name(&name).is_ok();
    if !name_ok {
        return Err(invalid("", Problem::Name(name.clone())));
    }
    let expand_map = |field: &str, map: BTreeMap<String, String>| {
        map.into_iter()
            .map(|(k, v)| {
                expand(&v, lookup)
                    .map(|v| (k.clone(), v))
                    .map_err(|p| invalid(&format!("{field}.{k}"), p))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
    };
    let transport = match raw.transport {
        RawTransport::Stdio => {
            let t = "stdio";
            if raw.url.is_some() {
                return Err(invalid("url", Problem::Unused { transport: t }));
            }
            if raw.headers.is_some() {
                return Err(invalid("headers", Problem::Unused { transport: t }));
            }
            let command = raw
                .command
                .ok_or_else(|| invalid("command", Problem::Missing { transport: t }))?;
            let args = raw
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| expand(a, lookup).map_err(|p| invalid(&format!("args[{i}]"), p)))
                .collect::<Result<Vec<_>, _>>()?;
            Transport::Stdio {
                command: expand(&command, lookup).map_err(|p| invalid("command", p))?,
                args,
                env: expand_map("env", raw.env.unwrap_or_default())?,
            }
        }
        RawTransport::Sse | RawTransport::Http => {
            let t = if matches!(raw.transport, RawTransport::Sse) {
                "sse"
            } else {
                "http"
            };
            for (field, used) in [
                ("command", raw.command.is_some()),
                ("args", !raw.args.is_empty()),
                ("env", raw.env.is_some()),
            ] {
                if used {
                    return Err(invalid(field, Problem::Unused { transport: t }));
                }
            }
            let text = raw
                .url
                .ok_or_else(|| invalid("url", Problem::Missing { transport: t }))?;
            let text = expand(&text, lookup).map_err(|p| invalid("url", p))?;
            let url = url::Url::parse(&text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| invalid("url", Problem::Url(text.clone())))?;
            let headers = expand_map("headers", raw.headers.unwrap_or_default())?;
            if t == "sse" {
                Transport::Sse { url, headers }
            } else {
                Transport::Http { url, headers }
            }
        }
    };
    let tools = match raw.tools {
        Some(list) if list.is_empty() => return Err(invalid("tools", Problem::EmptyTools)),
        Some(list) => Some(list.into_iter().collect()),
        None => None,
    };
    if let Some(slug) = &raw.integration {
        crate::manifest::integration_slug(slug).map_err(|e| invalid("integration", e.into()))?;
    }
    let range = |field: &str, value: u64, max: u64| {
        if value == 0 || value > max {
            Err(invalid(field, Problem::OutOfRange { value, max }))
        } else {
            Ok(value)
        }
    };
    let timeout = range(
        "timeout_ms",
        raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        MAX_TIMEOUT_MS,
    )?;
    let output = range(
        "output_bytes",
        raw.output_bytes.unwrap_or(DEFAULT_OUTPUT_BYTES),
        MAX_OUTPUT_BYTES,
    )?;
    Ok(Connection {
        name: name.clone(),
        transport,
        tools,
        read_only: raw.read_only,
        integration: raw.integration,
        timeout: Duration::from_millis(timeout),
        output_bytes: usize::try_from(output).unwrap_or(usize::MAX),
        pin: raw.pin,
    })
}

/// `text` with each `${VAR}` replaced from `lookup`.
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| Problem::Placeholder(text.to_owned()))?;
        let var = &after[..end];
        let ok = !var.is_empty()
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !var.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(Problem::Placeholder(text.to_owned()));
        }
        if crate::settings::is_reserved_secret(var) {
            return Err(Problem::Reserved(var.to_owned()));
        }
        out.push_str(&lookup(var).ok_or_else(|| Problem::Unset(var.to_owned()))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "STRIPE_API_KEY" => Some("rk_test_upstream".into()),
            "DOCS_TOKEN" => Some("docs-token".into()),
            _ => None,
        }
    }

    fn parse_text(text: &str) -> Result<Vec<Connection>, ConnectionsError> {
        parse(Path::new("/etc/gateway/mcp_connections.json"), text, &env)
    }

    fn problem(text: &str) -> (String, String, Problem) {
        match parse_text(text) {
            Err(ConnectionsError::Invalid {
                connection,
                field,
                problem,
                ..
            }) => (connection, field, problem),
            other => panic!("expected Invalid for {text}, got {other:?}"),
        }
    }

    #[test]
    fn the_seeds_example_reads_with_its_variables_expanded() {
        let connections = parse_text(
            r#"{"connections": {"stripe": {"transport": "stdio", "command": "npx",
                "args": ["-y", "@stripe/mcp", "--tools=all"],
                "env": {"STRIPE_API_KEY": "${STRIPE_API_KEY}"}}}}"#,
        )
        .expect("parses");
        assert_eq!(
            connections,
            vec![Connection {
                name: "stripe".into(),
                transport: Transport::Stdio {
                    command: "npx".into(),
                    args: vec!["-y".into(), "@stripe/mcp".into(), "--tools=all".into()],
                    env: BTreeMap::from([("STRIPE_API_KEY".into(), "rk_test_upstream".into())]),
                },
                tools: None,
                read_only: false,
                integration: None,
                timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
                output_bytes: DEFAULT_OUTPUT_BYTES as usize,
                pin: Pin::Approve,
            }]
        );
    }

    #[test]
    fn remote_servers_take_a_url_headers_and_the_gateways_keys() {
        let connections = parse_text(
            r#"{"connections": {"docs": {"transport": "http", "url": "https://mcp.example.com/mcp",
                "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}, "tools": ["search"],
                "read_only": true, "integration": "docs", "timeout_ms": 5000,
                "output_bytes": 65536, "pin": "auto"}}}"#,
        )
        .expect("parses");
        let docs = &connections[0];
        assert_eq!(
            docs.transport,
            Transport::Http {
                url: url::Url::parse("https://mcp.example.com/mcp").expect("url"),
                headers: BTreeMap::from([("Authorization".into(), "Bearer docs-token".into())]),
            }
        );
        assert_eq!(docs.tools, Some(BTreeSet::from(["search".to_owned()])));
        assert!(docs.read_only);
        assert_eq!(docs.pin, Pin::Auto);
        assert_eq!(docs.timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_the_connection_and_field() {
        let cases = [
            (
                r#"{"connections": {"s": {"transport": "stdio", "command": "x", "env": {"K": "${NOPE}"}}}}"#,
                ("s", "env.K", Problem::Unset("NOPE".into())),
            ),
            (
                r#"{"connections": {"s": {"transport": "stdio", "command": "x", "env": {"K": "${GATEWAY_ADMIN_KEY}"}}}}"#,
                ("s", "env.K", Problem::Reserved("GATEWAY_ADMIN_KEY".into())),
            ),
            (
                r#"{"connections": {"s": {"transport": "stdio"}}}"#,
                ("s", "command", Problem::Missing { transport: "stdio" }),
            ),
            (
                r#"{"connections": {"s": {"transport": "http", "url": "ftp://x"}}}"#,
                ("s", "url", Problem::Url("ftp://x".into())),
            ),
            (
                r#"{"connections": {"s": {"transport": "sse", "url": "https://x/sse", "command": "npx"}}}"#,
                ("s", "command", Problem::Unused { transport: "sse" }),
            ),
            (
                r#"{"connections": {"s": {"transport": "http", "url": "https://x", "tools": []}}}"#,
                ("s", "tools", Problem::EmptyTools),
            ),
            (
                r#"{"connections": {"s": {"transport": "http", "url": "https://x", "timeout_ms": 0}}}"#,
                (
                    "s",
                    "timeout_ms",
                    Problem::OutOfRange {
                        value: 0,
                        max: MAX_TIMEOUT_MS,
                    },
                ),
            ),
            (
                r#"{"connections": {"Stripe": {"transport": "http", "url": "https://x"}}}"#,
                ("Stripe", "", Problem::Name("Stripe".into())),
            ),
            (
                r#"{"connections": {"s": {"transport": "stdio", "command": "x", "args": ["${BROKEN"]}}}"#,
                ("s", "args[0]", Problem::Placeholder("${BROKEN".into())),
            ),
        ];
        for (text, (connection, field, expected)) in cases {
            assert_eq!(
                problem(text),
                (connection.to_owned(), field.to_owned(), expected),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_broken_json_are_parse_errors_with_a_position() {
        for (text, line) in [
            (
                "{\n  \"connections\": {\"s\": {\"transport\": \"stdio\", \"command\": \"x\", \"cmd\": 1}}\n}",
                2,
            ),
            ("{\n\n  \"connections\": [\n", 3),
        ] {
            assert!(
                matches!(parse_text(text), Err(ConnectionsError::Parse { line: l, .. }) if l == line),
                "{text}"
            );
        }
    }
}

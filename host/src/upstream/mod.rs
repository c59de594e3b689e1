//! Upstream MCP servers behind the gateway (`mcp_connections.json`): a
//! vendor's whole MCP server served as `<connection>__<tool>`, before
//! purpose-built tools exist.
//!
//! This module holds the connections file so far: its format (the seed's,
//! plus the gateway's own keys), checked with errors that name the
//! connection and the field, and `${VAR}` taken from the gateway's
//! environment. `http` and `sse` are the client transports to a remote
//! upstream (Streamable HTTP, legacy HTTP+SSE).

pub mod config;
pub mod http;
pub mod sse;

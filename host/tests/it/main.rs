//! Integration tests for the gateway host: real components (hand-written WAT
//! and guests built once by `gateway-test-programs`), a real upstream on
//! 127.0.0.1, typed outcomes only.

mod admin;
mod audit;
mod auth;
mod cli;
mod confirm;
mod content;
mod errors;
mod example;
mod fields;
mod frontdoor;
mod gitops;
mod gitsync;
mod harness;
mod hotload;
mod limits;
mod mcp;
mod mcp_tools;
mod memory;
mod oauth;
mod observability;
mod outbound;
mod plain_scripts;
mod progress;
mod prompts;
mod pystdlib;
mod python;
mod record;
mod redaction;
mod resources;
mod sandbox;
mod secrets;
mod sessions_shared;
mod shutdown;
mod spans;
mod upstream;
mod upstream_everything;
mod upstream_mcp;
mod upstream_pins;
mod upstream_serve;
mod upstream_transports;

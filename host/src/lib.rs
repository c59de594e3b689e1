//! Agent Gateway host: runs tools as sandboxed WebAssembly components with
//! capability-limited, read-only HTTP.
//!
//! One module per concern: [`runtime`] (engine, limits, instances),
//! [`outbound`] (the HTTP door and its policy), [`capability`] (what a tool
//! may import), [`manifest`] (what a tool asks for), [`settings`] (what the
//! deployment grants), [`catalog`] (the tools folder), [`build`] (turning a
//! tool folder into a component), [`hotload`] (changing tools while
//! serving), [`debounce`] (the folder watcher both the tools and the fields
//! folder use), [`frontdoor`] (who may reach the HTTP listeners, shared by
//! both), [`admin`] (the admin HTTP API), [`limits`] (call rates and the cap on
//! calls in flight), [`mcp`] (what agents see),
//! [`content`] (the pictures and documents a tool returns besides JSON),
//! [`record`] (fixtures recorded from a tool's real upstream),
//! [`audit`] (the hash-chained record of calls and admin changes),
//! [`telemetry`] (metrics, health probes, traces and call log lines),
//! [`server`] (`gateway serve` assembled in one place).

pub mod admin;
pub mod audit;
pub mod auth;
mod bindings;
pub mod build;
pub mod capability;
pub mod catalog;
pub mod content;
pub mod debounce;
pub mod fields;
pub mod fixtures;
pub mod frontdoor;
pub mod hotload;
pub mod limits;
pub mod manifest;
pub mod mcp;
pub mod outbound;
pub mod promote;
pub mod qa;
pub mod record;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod text;
pub mod tooltest;
pub mod upstream;

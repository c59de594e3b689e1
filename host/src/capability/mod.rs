//! Host implementations of what a tool may import: the gateway's `http`,
//! `log` and `config` interfaces, `wasi:http` behind the same outbound policy,
//! and captured stdio.

pub mod config;
pub mod http;
pub mod log;
pub mod stdio;
pub mod wasi_http;

// The `types` interface has no functions; its host trait is empty.
impl crate::bindings::gateway::tool::types::Host for crate::runtime::state::CallState {}

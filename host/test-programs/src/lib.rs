//! Paths of the guest components the host's tests run.
//!
//! `build.rs` builds `tools-wasm`, `host/test-programs/guests` and
//! `host/tests/mcp-clients/tools` for `wasm32-wasip2` once per `cargo test`
//! (again only when their sources, the SDK or the WIT change) and defines one
//! const per component, named after its crate in SCREAMING_SNAKE_CASE:
//! [`GITHUB_REPO_SUMMARY`], [`PROBE`], [`ECHO`], [`TEST_SIMPLE_TEXT`], …,
//! plus [`MCP_TEST_TOOLS_DIR`] and [`MCP_TEST_TOOLS_COMPONENTS`]. If the
//! component files were deleted since, rebuild them with
//! `touch host/test-programs/build.rs`.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

pub mod wat;

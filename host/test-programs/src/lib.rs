//! Paths of the guest components the host's tests run.
//!
//! `build.rs` builds `tools-wasm` and `host/test-programs/guests` for
//! `wasm32-wasip2` once per `cargo test` (again only when their sources, the
//! SDK or the WIT change) and defines one const per component, named after
//! its crate in SCREAMING_SNAKE_CASE: [`GITHUB_REPO_SUMMARY`], [`PROBE`],
//! [`ECHO`]. If the component files were deleted since, rebuild them with
//! `touch host/test-programs/build.rs`.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

pub mod wat;

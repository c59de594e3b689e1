//! Host implementations of what a tool may import: the gateway's `http`,
//! `log` and `config` interfaces, `wasi:http` behind the same outbound policy,
//! and captured stdio.
//!
//! Each of the gateway's own interfaces owns its state and links itself:
//! a view borrowing that state (`log::GuestLog`, `config::GuestConfig`,
//! `http::GuestHttp`) implements the bindings' `Host`, and its module's
//! `add_to_linker(linker, fn(&mut T) -> View)` links it for any store data
//! `T` (the shape of wasmtime's `wasi-config`). The runtime holds the states
//! in its per-call store data and links each; no capability knows that type.
//! `wasi:http` and WASI itself are linked by wasmtime's own crates, whose
//! `WasiView`/`WasiHttpView` traits the store data implements: here they get
//! only their parts (`wasi_http::OutboundHooks`, `stdio::Capture`).

pub mod config;
pub mod http;
pub mod log;
pub mod progress;
pub mod stdio;
pub mod wasi_http;

use wasmtime::component::{HasData, Linker};

use crate::bindings::gateway::tool::types;
use crate::bindings::v0_1::gateway::tool::types as types_v0_1;

/// `gateway:tool/types` has no functions, so its host needs no state.
struct TypesOnly;

impl types::Host for TypesOnly {}
impl types_v0_1::Host for TypesOnly {}

impl HasData for TypesOnly {
    type Data<'a> = TypesOnly;
}

/// Links `gateway:tool/types`, 0.2.0 and 0.1.0 (types only: nothing to lend).
pub fn add_types_to_linker<T: 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, TypesOnly>(linker, |_| TypesOnly)?;
    types_v0_1::add_to_linker::<T, TypesOnly>(linker, |_| TypesOnly)
}

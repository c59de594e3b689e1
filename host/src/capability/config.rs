//! `gateway:tool/config`: deployment settings, never secrets.
//!
//! The settings are the tool's effective `[config]`, shared by all its calls;
//! [`GuestConfig`] is the view the bindings call into.

use std::collections::BTreeMap;

use wasmtime::component::{HasData, Linker};

use crate::bindings::gateway::tool::config::{self as bindings, Host};
use crate::bindings::v0_1::gateway::tool::config as v0_1;

/// What `gateway:tool/config` sees of a call: the tool's settings.
pub struct GuestConfig<'a> {
    vars: &'a BTreeMap<String, String>,
}

impl<'a> GuestConfig<'a> {
    /// The view over a tool's effective `[config]`.
    pub fn new(vars: &'a BTreeMap<String, String>) -> Self {
        Self { vars }
    }
}

impl Host for GuestConfig<'_> {
    fn get(&mut self, name: String) -> Option<String> {
        self.vars.get(&name).cloned()
    }
}

/// The same view for tools built against `gateway:tool@0.1.0`.
impl v0_1::Host for GuestConfig<'_> {
    fn get(&mut self, name: String) -> Option<String> {
        self.vars.get(&name).cloned()
    }
}

struct HasGuestConfig;

impl HasData for HasGuestConfig {
    type Data<'a> = GuestConfig<'a>;
}

/// Links `gateway:tool/config`; `view` lends the tool's settings.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> GuestConfig<'_>,
) -> wasmtime::Result<()> {
    bindings::add_to_linker::<T, HasGuestConfig>(linker, view)?;
    v0_1::add_to_linker::<T, HasGuestConfig>(linker, view)
}

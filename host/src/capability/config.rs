//! `gateway:tool/config`: deployment settings, never secrets.

use crate::bindings::gateway::tool::config::Host;
use crate::runtime::state::CallState;

impl Host for CallState {
    fn get(&mut self, name: String) -> Option<String> {
        self.tool.config.get(&name).cloned()
    }
}

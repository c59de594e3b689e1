//! Log lines into the gateway's logs, tagged with the tool and call.
//!
//! The host truncates long lines. Prefer these to `println!`: printed output
//! has no level, and the gateway may cap or drop it.

use crate::bindings::gateway::tool::log::{Level, log};

/// Logs at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

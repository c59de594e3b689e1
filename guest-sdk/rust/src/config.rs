//! Deployment settings from the manifest's `[config]` table.
//!
//! The gateway's own configuration may override any of them, which is how a
//! test or demo points a tool at a mock upstream. Settings are never secrets:
//! those the gateway injects into requests itself.

use crate::ToolError;
use crate::bindings::gateway::tool::config as wit;

/// The value of a setting, if it exists.
pub fn get(name: &str) -> Option<String> {
    wit::get(name)
}

/// The value of a setting that the tool cannot run without.
///
/// A missing or empty setting is a deployment mistake, so it is reported as
/// [`ToolError::Internal`] naming the key.
pub fn require(name: &str) -> Result<String, ToolError> {
    present(name, get(name))
}

fn present(name: &str, value: Option<String>) -> Result<String, ToolError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ToolError::Internal(format!(
            "config setting `{name}` is missing; set it under [config] in tool.toml"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_settings_name_the_key() {
        assert_eq!(
            present("api_base", Some("https://x".into())),
            Ok("https://x".into())
        );
        for value in [None, Some(String::new())] {
            match present("api_base", value) {
                Err(ToolError::Internal(m)) => assert!(m.contains("`api_base`"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }
}

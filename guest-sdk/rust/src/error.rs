use std::fmt;

use crate::bindings::gateway::tool::types::ToolError as WitToolError;
use crate::http;

/// Why a tool call failed, as the agent will see it.
///
/// One variant per case of the WIT `tool-error`; the string is the message
/// the agent reads, so make it say what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The input did not make sense (beyond what the schema already checks).
    InvalidInput(String),
    /// An upstream API failed or answered something unusable.
    Upstream(String),
    /// The gateway refused something the tool tried to do.
    Denied(String),
    /// A bug or unexpected state inside the tool, or a missing setting.
    Internal(String),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            ToolError::Upstream(m) => write!(f, "upstream error: {m}"),
            ToolError::Denied(m) => write!(f, "denied: {m}"),
            ToolError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for ToolError {}

/// A refusal by the gateway stays a refusal; every other HTTP failure is the upstream's.
impl From<http::Error> for ToolError {
    fn from(err: http::Error) -> Self {
        match err {
            http::Error::Denied(_) => ToolError::Denied(err.to_string()),
            _ => ToolError::Upstream(err.to_string()),
        }
    }
}

impl From<ToolError> for WitToolError {
    fn from(err: ToolError) -> Self {
        match err {
            ToolError::InvalidInput(m) => WitToolError::InvalidInput(m),
            ToolError::Upstream(m) => WitToolError::Upstream(m),
            ToolError::Denied(m) => WitToolError::Denied(m),
            ToolError::Internal(m) => WitToolError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{DeniedReason, Error};

    #[test]
    fn http_errors_map_to_denied_or_upstream() {
        let cases = [
            (Error::Denied(DeniedReason::Host), "denied"),
            (Error::Denied(DeniedReason::RequestBudget), "denied"),
            (Error::Dns("no such host".into()), "upstream"),
            (Error::Connect("refused".into()), "upstream"),
            (Error::Timeout, "upstream"),
            (Error::TooLarge, "upstream"),
            (Error::Protocol("reset".into()), "upstream"),
            (Error::Decode("expected value".into()), "upstream"),
            (
                Error::Status {
                    status: 502,
                    body: String::new(),
                },
                "upstream",
            ),
        ];
        for (err, want) in cases {
            let got = match ToolError::from(err.clone()) {
                ToolError::Denied(m) => ("denied", m),
                ToolError::Upstream(m) => ("upstream", m),
                other => panic!("{err:?} mapped to {other:?}"),
            };
            assert_eq!(got.0, want, "{err:?}");
            assert_eq!(got.1, err.to_string());
        }
    }

    #[test]
    fn tool_errors_map_one_to_one_onto_wit() {
        let m = || "m".to_string();
        assert!(matches!(
            WitToolError::from(ToolError::InvalidInput(m())),
            WitToolError::InvalidInput(s) if s == "m"
        ));
        assert!(matches!(
            WitToolError::from(ToolError::Upstream(m())),
            WitToolError::Upstream(_)
        ));
        assert!(matches!(
            WitToolError::from(ToolError::Denied(m())),
            WitToolError::Denied(_)
        ));
        assert!(matches!(
            WitToolError::from(ToolError::Internal(m())),
            WitToolError::Internal(_)
        ));
    }
}

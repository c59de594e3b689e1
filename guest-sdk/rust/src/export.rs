//! What [`export_tool!`](crate::export_tool) expands to calls into; not a public API.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;

use crate::{Tool, ToolError};

pub use crate::bindings::exports::gateway::tool::tool::Guest;
pub use crate::bindings::gateway::tool::types::ToolDescription;

/// The WIT `call` result.
pub type CallResult = Result<
    crate::bindings::gateway::tool::types::ToolOutput,
    crate::bindings::gateway::tool::types::ToolError,
>;

/// The WIT `describe` of a tool.
pub fn describe<T: Tool>() -> ToolDescription {
    ToolDescription {
        name: T::NAME.to_string(),
        description: T::DESCRIPTION.to_string(),
        input_schema: schema_json::<T::Input>(),
        output_schema: Some(schema_json::<T::Output>()),
    }
}

/// The WIT `call` of a tool: parse, run, serialise; with the content
/// blocks the tool attached ([`crate::attach`]) when it succeeded.
pub fn call<T: Tool>(input: &str) -> CallResult {
    let result = run::<T>(input);
    let content = crate::progress::take_attached();
    match result {
        Ok(json) => Ok(crate::bindings::gateway::tool::types::ToolOutput { json, content }),
        Err(e) => Err(e.into()),
    }
}

fn run<T: Tool>(input: &str) -> Result<String, ToolError> {
    let de = &mut serde_json::Deserializer::from_str(input);
    let parsed: T::Input = serde_path_to_error::deserialize(&mut *de)
        .map_err(|e| ToolError::InvalidInput(describe_path_error(&e)))?;
    de.end()
        .map_err(|e| ToolError::InvalidInput(e.to_string()))?;
    let output = T::call(parsed)?;
    serde_json::to_string(&output)
        .map_err(|e| ToolError::Internal(format!("could not serialise the output: {e}")))
}

/// JSON Schema (draft 2020-12) of `T` as JSON text.
pub fn schema_json<T: JsonSchema>() -> String {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    // A schema is a JSON value already; serialising it cannot fail.
    serde_json::to_string(&schema).unwrap_or_default()
}

/// A serde error prefixed with where it happened, e.g. `owner: invalid type: ...`.
pub fn describe_path_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    if path == "." {
        e.inner().to_string()
    } else {
        format!("{path}: {}", e.inner())
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::*;

    /// Sample input.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "only its schema is used")]
    struct In {
        /// Repository owner.
        owner: String,
        /// How many, 1 to 20.
        #[schemars(range(min = 1, max = 20))]
        count: Option<u8>,
    }

    /// Sample output.
    #[derive(Serialize, JsonSchema)]
    struct Out {
        /// Echoed owner.
        owner: String,
    }

    struct Sample;

    impl Tool for Sample {
        const NAME: &'static str = "sample";
        const DESCRIPTION: &'static str = "A sample.";
        type Input = In;
        type Output = Out;

        fn call(input: In) -> Result<Out, ToolError> {
            if input.owner == "boom" {
                return Err(ToolError::Upstream("boom".into()));
            }
            Ok(Out { owner: input.owner })
        }
    }

    fn invalid(input: &str) -> String {
        match run::<Sample>(input) {
            Err(ToolError::InvalidInput(m)) => m,
            other => panic!("{input}: {other:?}"),
        }
    }

    #[test]
    fn schemas_are_draft_2020_12_objects_with_doc_descriptions() {
        let d = describe::<Sample>();
        assert_eq!(
            (d.name.as_str(), d.description.as_str()),
            ("sample", "A sample.")
        );
        let input: Value = serde_json::from_str(&d.input_schema).unwrap_or_default();
        assert_eq!(
            input["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(input["type"], "object");
        assert_eq!(input["required"], json!(["owner"]));
        assert_eq!(
            input["properties"]["owner"]["description"],
            "Repository owner."
        );
        assert_eq!(input["properties"]["count"]["maximum"], 20);
        let output: Value = serde_json::from_str(d.output_schema.as_deref().unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(
            output["properties"]["owner"]["description"],
            "Echoed owner."
        );
    }

    #[test]
    fn call_parses_runs_and_serialises() {
        assert_eq!(
            run::<Sample>(r#"{"owner":"acme"}"#),
            Ok(r#"{"owner":"acme"}"#.into())
        );
        assert_eq!(
            run::<Sample>(r#"{"owner":"boom"}"#),
            Err(ToolError::Upstream("boom".into()))
        );
    }

    #[test]
    fn input_errors_name_the_field() {
        assert!(invalid("{}").contains("missing field `owner`"));
        assert!(invalid(r#"{"owner":5}"#).starts_with("owner: invalid type: integer `5`"));
        assert!(invalid(r#"{"owner":"a","count":300}"#).starts_with("count: invalid value"));
        assert!(invalid(r#"{"owner":"a"} x"#).contains("trailing characters"));
        assert!(invalid("not json").contains("expected"));
    }
}

//! `gateway tool new`: a tool folder that builds, calls and passes its own
//! test (`gateway tool test`) out of the box, ready to be edited.

use std::path::{Component, Path, PathBuf};

use super::{BuildError, Language, write_file};
use crate::manifest::{NameError, tool_name};

/// Why a scaffold could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaffoldError {
    /// The name is not a valid tool name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The folder exists already; nothing is overwritten.
    #[error("{0} already exists; choose another name or remove it")]
    Exists(PathBuf),
    /// A Rust tool needs the guest SDK from a checkout of this repository.
    #[error(
        "no guest-sdk/rust found above {0}; create Rust tools inside a checkout of the gateway repository"
    )]
    NoRustSdk(PathBuf),
    /// Writing a file failed.
    #[error(transparent)]
    Write(#[from] BuildError),
}

/// Creates `parent/name` for a tool in `language`; returns the folder.
pub fn new_tool(parent: &Path, name: &str, language: Language) -> Result<PathBuf, ScaffoldError> {
    tool_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let files = match language {
        Language::Python => python_files(name),
        Language::Rust => rust_files(name, &rust_sdk_path(parent)?),
    };
    for (rel, contents) in common_files(name, language).into_iter().chain(files) {
        write_file(&dir.join(rel), &contents)?;
    }
    Ok(dir)
}

/// `guest-sdk/rust` relative to the new tool folder (`parent/name`).
fn rust_sdk_path(parent: &Path) -> Result<String, ScaffoldError> {
    let start = parent
        .canonicalize()
        .map_err(|_| ScaffoldError::NoRustSdk(parent.to_path_buf()))?;
    for (depth, ancestor) in start.ancestors().enumerate() {
        if ancestor.join("guest-sdk/rust/Cargo.toml").is_file() {
            // One more level: the tool folder sits inside `parent`.
            let ups = "../".repeat(depth + 1);
            return Ok(format!("{ups}guest-sdk/rust"));
        }
        if ancestor
            .components()
            .all(|c| matches!(c, Component::RootDir))
        {
            break;
        }
    }
    Err(ScaffoldError::NoRustSdk(parent.to_path_buf()))
}

fn common_files(name: &str, language: Language) -> Vec<(String, String)> {
    let build = match language {
        Language::Python => "scripts/",
        Language::Rust => "src/lib.rs",
    };
    vec![
        (
            "tool.toml".into(),
            format!(
                r#"name = "{name}"
# integration = "example"     # the field-registry slug (fields/<integration>.yaml)

# Deployment settings; the gateway's own configuration may override them.
[config]
api_base = "https://api.example.com"

# Read-only access to one upstream; secrets go in [http.secret_headers], and an
# admin grants each variable to the tool in gateway.toml ([tools.NAME] secrets).
[[http]]
url = "${{config.api_base}}/v1/items/"

[limits]
timeout_ms = 10000
requests = 4
"#
            ),
        ),
        (
            "SKILL.md".into(),
            format!(
                "---\nname: {name}\ndescription: One line on when an agent should use {name}.\n---\n\n# {name}\n\nWhat it returns, in a sentence. The code lives in `{build}`; the recorded\nupstream answers in `fixtures/`.\n\n## When to use it\n\nThe questions it answers, and what it is not for.\n\n## Reading the output\n\nEach field and how to read it (units, time zones, what null means).\n\nBuild: `gateway tool build .`  Test: `gateway tool test .`\n"
            ),
        ),
        (
            "fixtures/routes.toml".into(),
            "# Recorded upstream answers for `gateway tool test` and `gateway fixtures serve`.\n[[route]]\nmethod = \"GET\"\npath = \"/v1/items/42\"\nfile = \"item_42.json\"\n\n[[route]]\npath = \"/v1/items/404\"\nstatus = 404\nfile = \"not_found.json\"\n".into(),
        ),
        (
            "fixtures/item_42.json".into(),
            r#"{
  "id": "42",
  "object": "item",
  "name": "Blue widget",
  "status": "active",
  "created": 1761955200,
  "updated": 1764201600,
  "owner": {"id": "usr_7", "email": "ops@example.com", "name": "Ops"},
  "metadata": {"source": "import", "batch": "2026-11"},
  "links": {"self": "https://api.example.com/v1/items/42", "owner": "https://api.example.com/v1/users/usr_7"}
}
"#
            .into(),
        ),
        (
            "fixtures/not_found.json".into(),
            "{\"error\": {\"type\": \"not_found\", \"message\": \"No such item\"}}\n".into(),
        ),
        (
            "fixtures/tests.toml".into(),
            r#"# Cases `gateway tool test` runs against the fixtures above.
upstream_config = ["api_base"]

[[case]]
name = "an item is summarised"
input = { item_id = "42" }
[case.expect]
id = "42"
name = "Blue widget"
status = "active"

[[case]]
name = "an unknown item is an upstream error"
input = { item_id = "404" }
expect_error = "upstream"

[[case]]
name = "an empty id is refused before any request"
input = { item_id = "" }
expect_error = "invalid_input"
"#
            .into(),
        ),
    ]
}

fn python_files(name: &str) -> Vec<(String, String)> {
    vec![(
        format!("scripts/{name}.py"),
        format!(
            r#"from gateway_tool import InvalidInput, config, http, tool


@tool
def {name}(item_id: str) -> dict:
    """Name, status and id of one item. Replace with what this tool answers.

    Args:
        item_id: The item's id, e.g. "42".
    """
    if not item_id:
        raise InvalidInput("item_id must not be empty")
    base = config.require("api_base")
    resp = http.get(f"{{base}}/v1/items/{{item_id}}")
    resp.raise_for_status()
    item = resp.json()
    # Return only what the agent needs, labelled with what it means.
    return {{"id": item["id"], "name": item["name"], "status": item["status"]}}
"#
        ),
    )]
}

fn rust_files(name: &str, sdk: &str) -> Vec<(String, String)> {
    vec![
        (
            "Cargo.toml".into(),
            format!(
                r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
gateway-tool = {{ path = "{sdk}" }}
# The versions gateway-tool re-exports; derives need the crates by name.
serde = {{ version = "=1.0.229", features = ["derive"] }}
schemars = {{ version = "=1.2.3", default-features = false, features = ["derive", "std"] }}

# Its own workspace, so it builds wherever it sits.
[workspace]

[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
"#
            ),
        ),
        (
            "src/lib.rs".into(),
            format!(
                r#"//! {name}: name, status and id of one item. Replace with what this tool answers.

use gateway_tool::{{Tool, ToolError, config, http}};
use schemars::JsonSchema;
use serde::{{Deserialize, Serialize}};

/// What the agent sends.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {{
    /// The item's id, e.g. "42".
    item_id: String,
}}

/// What the agent gets back: only what it needs, labelled.
#[derive(Serialize, JsonSchema)]
pub struct Output {{
    /// The item's id.
    id: String,
    /// Display name.
    name: String,
    /// Lifecycle status, e.g. "active".
    status: String,
}}

#[derive(Deserialize)]
struct Item {{
    id: String,
    name: String,
    status: String,
}}

struct ThisTool;

impl Tool for ThisTool {{
    const NAME: &'static str = "{name}";
    const DESCRIPTION: &'static str = "Name, status and id of one item.";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {{
        if input.item_id.is_empty() {{
            return Err(ToolError::InvalidInput("item_id: must not be empty".into()));
        }}
        let base = config::require("api_base")?;
        let item: Item = http::get(&format!("{{base}}/v1/items/{{}}", input.item_id))?
            .error_for_status()?
            .json()?;
        Ok(Output {{ id: item.id, name: item.name, status: item.status }})
    }}
}}

gateway_tool::export_tool!(ThisTool);
"#
            ),
        ),
    ]
}

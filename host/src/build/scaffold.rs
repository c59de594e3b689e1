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
    /// The Rust guest SDK path given (`--sdk-path`, `GATEWAY_RUST_SDK`) is
    /// not the `gateway-tool` crate.
    #[error(
        "{0}: not the Rust guest SDK (a folder whose Cargo.toml is package gateway-tool, e.g. guest-sdk/rust of a gateway checkout)"
    )]
    NotRustSdk(PathBuf),
    /// Writing a file failed.
    #[error(transparent)]
    Write(#[from] BuildError),
}

/// Environment variable naming a local Rust guest SDK (`guest-sdk/rust` of a
/// checkout) for `gateway tool new --lang rust`, like `--sdk-path`.
pub const RUST_SDK_ENV: &str = "GATEWAY_RUST_SDK";
/// Environment variable replacing the git repository a Rust scaffold outside
/// a checkout depends on (an organisation's fork of this repository).
pub const RUST_SDK_GIT_ENV: &str = "GATEWAY_RUST_SDK_GIT";
/// The repository whose `guest-sdk/rust` a Rust scaffold outside a checkout
/// depends on (`repository` in the workspace's Cargo.toml).
pub const RUST_SDK_GIT: &str = env!("CARGO_PKG_REPOSITORY");
/// The git tag of this gateway's release: a scaffold depends on the SDK (and
/// so the WIT contract) of the gateway that wrote it.
pub const RUST_SDK_TAG: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// The Rust guest SDK's package name.
const RUST_SDK_PACKAGE: &str = "gateway-tool";

/// Where a new Rust tool's `gateway-tool` dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RustSdk {
    /// A path relative to the tool folder: the tool sits inside a checkout.
    Checkout(String),
    /// An absolute path to a local SDK (`--sdk-path`, `GATEWAY_RUST_SDK`).
    Path(PathBuf),
    /// `guest-sdk/rust` of this repository at this gateway's release tag:
    /// outside a checkout, with nothing else given.
    Git {
        /// The repository.
        url: String,
        /// The tag.
        tag: String,
    },
}

impl RustSdk {
    /// Where a Rust tool created in `parent` gets its SDK: `explicit` (a
    /// local SDK folder) if given, else `guest-sdk/rust` of a checkout above
    /// `parent` by relative path, else this repository by git
    /// ([`RUST_SDK_GIT`], or `$GATEWAY_RUST_SDK_GIT`, at [`RUST_SDK_TAG`]).
    pub fn resolve(parent: &Path, explicit: Option<&Path>) -> Result<Self, ScaffoldError> {
        if let Some(sdk) = explicit {
            let not_sdk = || ScaffoldError::NotRustSdk(sdk.to_path_buf());
            let dir = sdk.canonicalize().map_err(|_| not_sdk())?;
            if !is_rust_sdk(&dir) {
                return Err(not_sdk());
            }
            return Ok(Self::Path(dir));
        }
        if let Some(relative) = checkout_sdk(parent) {
            return Ok(Self::Checkout(relative));
        }
        let url = std::env::var(RUST_SDK_GIT_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| RUST_SDK_GIT.to_owned());
        Ok(Self::Git {
            url,
            tag: RUST_SDK_TAG.to_owned(),
        })
    }

    /// The dependency as an inline TOML table for `Cargo.toml`.
    pub fn dependency(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        match self {
            Self::Checkout(path) => format!("{{ path = {} }}", quote(path)),
            Self::Path(path) => format!("{{ path = {} }}", quote(&path.to_string_lossy())),
            Self::Git { url, tag } => format!("{{ git = {}, tag = {} }}", quote(url), quote(tag)),
        }
    }
}

/// Creates `parent/name` for a tool in `language`; returns the folder. A
/// Rust tool gets its SDK as [`RustSdk::resolve`] finds it without an
/// explicit path.
pub fn new_tool(parent: &Path, name: &str, language: Language) -> Result<PathBuf, ScaffoldError> {
    new_tool_with_sdk(parent, name, language, None)
}

/// Like [`new_tool`], with a local Rust guest SDK folder to depend on
/// (`gateway tool new --sdk-path`); ignored for Python tools.
pub fn new_tool_with_sdk(
    parent: &Path,
    name: &str,
    language: Language,
    rust_sdk: Option<&Path>,
) -> Result<PathBuf, ScaffoldError> {
    tool_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let files = match language {
        Language::Python => python_files(name),
        Language::Rust => rust_files(name, &RustSdk::resolve(parent, rust_sdk)?),
    };
    for (rel, contents) in common_files(name, language).into_iter().chain(files) {
        write_file(&dir.join(rel), &contents)?;
    }
    Ok(dir)
}

/// Whether `dir` holds the Rust guest SDK: its Cargo.toml names the package.
fn is_rust_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| {
            table
                .get("package")?
                .get("name")?
                .as_str()
                .map(|n| n == RUST_SDK_PACKAGE)
        })
        .unwrap_or(false)
}

/// `guest-sdk/rust` of a checkout above `parent`, relative to the new tool
/// folder (`parent/name`).
fn checkout_sdk(parent: &Path) -> Option<String> {
    let start = parent.canonicalize().ok()?;
    for (depth, ancestor) in start.ancestors().enumerate() {
        if is_rust_sdk(&ancestor.join("guest-sdk/rust")) {
            // One more level: the tool folder sits inside `parent`.
            let ups = "../".repeat(depth + 1);
            return Some(format!("{ups}guest-sdk/rust"));
        }
        if ancestor
            .components()
            .all(|c| matches!(c, Component::RootDir))
        {
            break;
        }
    }
    None
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

fn rust_files(name: &str, sdk: &RustSdk) -> Vec<(String, String)> {
    let sdk = sdk.dependency();
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
# The gateway's Rust guest SDK: a checkout's guest-sdk/rust by path, a local
# copy (`gateway tool new --sdk-path`, GATEWAY_RUST_SDK), or this repository
# by git at the release of the gateway that wrote this file.
gateway-tool = {sdk}
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The dependency table as cargo reads it back.
    fn parsed(sdk: &RustSdk) -> toml::Table {
        format!("gateway-tool = {}", sdk.dependency())
            .parse::<toml::Table>()
            .expect("valid TOML")["gateway-tool"]
            .as_table()
            .expect("a table")
            .clone()
    }

    #[test]
    fn each_source_renders_as_the_dependency_cargo_reads() {
        let odd = PathBuf::from("/opt/sdk \"quoted\" \\ here");
        let path = parsed(&RustSdk::Path(odd.clone()));
        assert_eq!(path.get("path").and_then(|p| p.as_str()), odd.to_str());
        let relative = parsed(&RustSdk::Checkout("../../guest-sdk/rust".into()));
        assert_eq!(
            relative.get("path").and_then(|p| p.as_str()),
            Some("../../guest-sdk/rust")
        );
        let git = parsed(&RustSdk::Git {
            url: RUST_SDK_GIT.into(),
            tag: RUST_SDK_TAG.into(),
        });
        assert_eq!(git.get("git").and_then(|g| g.as_str()), Some(RUST_SDK_GIT));
        assert_eq!(
            git.get("tag").and_then(|t| t.as_str()),
            Some(concat!("v", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(git.get("path"), None);
    }

    #[test]
    fn an_explicit_sdk_must_be_the_gateway_tool_crate() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            RustSdk::resolve(dir.path(), Some(dir.path())),
            Err(ScaffoldError::NotRustSdk(_))
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(
            RustSdk::resolve(dir.path(), Some(&missing)),
            Err(ScaffoldError::NotRustSdk(_))
        ));
        let sdk = dir.path().join("sdk");
        std::fs::create_dir_all(&sdk).expect("mkdir");
        std::fs::write(
            sdk.join("Cargo.toml"),
            "[package]\nname = \"gateway-tool\"\nversion = \"0.1.0\"\n",
        )
        .expect("write");
        let canonical = sdk.canonicalize().expect("canonical");
        assert_eq!(
            RustSdk::resolve(dir.path(), Some(&sdk)).expect("an SDK"),
            RustSdk::Path(canonical)
        );
    }

    #[test]
    fn inside_a_checkout_the_sdk_is_a_relative_path() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let parent = tempfile::tempdir_in(checkout.join("tools-wasm")).expect("tempdir");
        assert_eq!(
            RustSdk::resolve(parent.path(), None).expect("resolves"),
            RustSdk::Checkout("../../../guest-sdk/rust".into())
        );
    }
}

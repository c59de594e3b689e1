//! Rust tool folders: cargo builds the crate for `wasm32-wasip2`, which
//! emits a component directly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::BuildError;

/// Guest target triple.
pub const GUEST_TARGET: &str = "wasm32-wasip2";
/// Environment variable holding a replacement for `cargo` when building
/// guests (a whitespace-separated command prefix, e.g. for a fallback toolchain).
pub const GUEST_CARGO_ENV: &str = "GATEWAY_GUEST_CARGO";

/// The cargo command prefix for guest builds.
pub fn guest_cargo() -> Vec<String> {
    std::env::var(GUEST_CARGO_ENV)
        .ok()
        .map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| vec!["cargo".to_string()])
}

/// Builds the Rust tool in `dir` and writes the component to `dest`.
pub(super) fn build_to(dir: &Path, dest: &Path) -> Result<PathBuf, BuildError> {
    let cargo_toml = dir.join("Cargo.toml");
    let prefix = guest_cargo();
    let mut cmd = Command::new(&prefix[0]);
    cmd.args(&prefix[1..])
        .args([
            "build",
            "--release",
            "--target",
            GUEST_TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&cargo_toml)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let output = cmd.output().map_err(|source| BuildError::Spawn {
        command: prefix.join(" "),
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::Cargo {
            dir: dir.to_path_buf(),
        });
    }
    let artifact = wasm_artifact(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| BuildError::NoArtifact(dir.to_path_buf()))?;
    std::fs::copy(&artifact, dest).map_err(|source| BuildError::Io {
        path: dest.to_path_buf(),
        source,
    })?;
    Ok(dest.to_path_buf())
}

/// The last `.wasm` file cargo reports as a compiler artifact.
fn wasm_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m.get("reason").and_then(|r| r.as_str()) == Some("compiler-artifact"))
        .find_map(|m| {
            m.get("filenames")?
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_component_among_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","filenames":["/t/libserde.rlib"]}"#,
            "\n",
            r#"{"reason":"compiler-artifact","filenames":["/t/wasm32-wasip2/release/my_tool.wasm"]}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            wasm_artifact(messages),
            Some(PathBuf::from("/t/wasm32-wasip2/release/my_tool.wasm"))
        );
        assert_eq!(wasm_artifact(r#"{"reason":"build-finished"}"#), None);
    }
}

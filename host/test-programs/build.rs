//! Builds every guest component once, before the host's tests compile, and
//! writes their paths as consts (`OUT_DIR/components.rs`). Tests never run
//! cargo themselves.
//!
//! Three guest workspaces, each `cargo build --release --target wasm32-wasip2`:
//! `tools-wasm` (the org's tools), `host/test-programs/guests` (test-only) and
//! `host/tests/mcp-clients/tools` (the MCP conformance suite's test tools, a
//! test-only tools folder).
//! Their target directory lives outside the repository and outside the host's
//! target directory, so it survives `cargo clean` and a fresh clone:
//! `$GATEWAY_WASM_TARGET_DIR`, else `$HOME/.cache/agent-gateway/wasm-target`.
//!
//! `GATEWAY_GUEST_CARGO` replaces `cargo` with a command prefix, such as
//! `scripts/guest-cargo-debian` (Debian's toolchain building std itself) or
//! `cargo +nightly`; `GATEWAY_GUEST_ENV` adds `KEY=VALUE` pairs to that
//! command's environment. Both are whitespace-separated.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::{env, fs};

const TARGET: &str = "wasm32-wasip2";

/// Variables the outer cargo sets for this build script (or the user set
/// for the host build) that would make the inner build target the wrong
/// thing, share the outer lock, or inherit host-only flags.
const SCRUB: &[&str] = &[
    "CARGO",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTDOC",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_CRATE_NAME",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_INCREMENTAL",
    "CARGO_MAKEFLAGS",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_LINKS",
    "CARGO_MANIFEST_PATH",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_DIR",
    "DEBUG",
    "HOST",
    "MAKEFLAGS",
    "MFLAGS",
    "NUM_JOBS",
    "OPT_LEVEL",
    "OUT_DIR",
    "PROFILE",
    "RUSTC",
    "RUSTC_LINKER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "RUSTDOC",
    "RUSTDOCFLAGS",
    "RUSTFLAGS",
    "TARGET",
];
const SCRUB_PREFIXES: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PKG_",
    "CARGO_PROFILE_",
    "DEP_",
];

fn main() {
    let here = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let repo = here
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| fail(&format!("repository root: {e}")));
    let tools = repo.join("tools-wasm");
    let guests = repo.join("host/test-programs/guests");
    let mcp_tools = repo.join("host/tests/mcp-clients/tools");
    let target_dir = wasm_target_dir();

    for var in [
        "GATEWAY_GUEST_CARGO",
        "GATEWAY_GUEST_ENV",
        "GATEWAY_WASM_TARGET_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    for path in [
        "host/wit",
        "guest-sdk/rust/wit",
        "guest-sdk/rust/Cargo.toml",
        "guest-sdk/rust/src",
    ] {
        println!("cargo:rerun-if-changed={}", repo.join(path).display());
    }

    let mut out = String::new();
    let mut tool_list = String::new();
    let mut mcp_tool_list = String::new();
    for workspace in [&tools, &guests, &mcp_tools] {
        let members = members(workspace);
        for file in ["Cargo.toml", "Cargo.lock"] {
            println!("cargo:rerun-if-changed={}", workspace.join(file).display());
        }
        for (dir, _) in &members {
            println!(
                "cargo:rerun-if-changed={}",
                workspace.join(dir).join("Cargo.toml").display()
            );
            println!(
                "cargo:rerun-if-changed={}",
                workspace.join(dir).join("src").display()
            );
        }
        build(workspace, &target_dir);
        for (dir, crate_name) in &members {
            let wasm = target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{}.wasm", crate_name.replace('-', "_")));
            if !wasm.is_file() {
                fail(&format!(
                    "the build succeeded but {} is missing",
                    wasm.display()
                ));
            }
            let wasm = wasm.display().to_string();
            let source = workspace.join(dir);
            out += &format!(
                "/// The `{crate_name}` component, built from `{}`.\npub const {}: &str = {wasm:?};\n\n",
                source.strip_prefix(&repo).unwrap_or(&source).display(),
                crate_name.to_uppercase().replace('-', "_"),
            );
            if workspace == &tools {
                tool_list += &format!("    ({dir:?}, {wasm:?}),\n");
            } else if workspace == &mcp_tools {
                mcp_tool_list += &format!("    ({dir:?}, {wasm:?}),\n");
            }
        }
    }
    out += &format!(
        "/// The `tools-wasm` folder: one tool folder (with `tool.toml`) per tool.\n\
         pub const TOOLS_WASM_DIR: &str = {:?};\n\n\
         /// Every tool in `tools-wasm`: (tool folder name, component path).\n\
         pub const TOOLS_WASM_COMPONENTS: &[(&str, &str)] = &[\n{tool_list}];\n\n\
         /// The MCP conformance test tools' folder (CONFORMANCE.md): one tool folder per tool.\n\
         pub const MCP_TEST_TOOLS_DIR: &str = {:?};\n\n\
         /// Every MCP conformance test tool: (tool folder name, component path).\n\
         pub const MCP_TEST_TOOLS_COMPONENTS: &[(&str, &str)] = &[\n{mcp_tool_list}];\n",
        tools.display().to_string(),
        mcp_tools.display().to_string(),
    );
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    fs::write(out_dir.join("components.rs"), out)
        .unwrap_or_else(|e| fail(&format!("writing components.rs: {e}")));
}

fn wasm_target_dir() -> PathBuf {
    if let Some(dir) = env::var_os("GATEWAY_WASM_TARGET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache/agent-gateway/wasm-target"),
        None => PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("wasm-target"),
    }
}

fn build(workspace: &Path, target_dir: &Path) {
    let prefix = env::var("GATEWAY_GUEST_CARGO").unwrap_or_default();
    let mut words = prefix.split_whitespace();
    let mut cmd = Command::new(words.next().unwrap_or("cargo"));
    cmd.args(words);
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--workspace",
        "--target",
        TARGET,
        "--manifest-path",
    ])
    .arg(workspace.join("Cargo.toml"));
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if SCRUB.contains(&key.as_ref()) || SCRUB_PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key.as_ref());
        }
    }
    for pair in env::var("GATEWAY_GUEST_ENV")
        .unwrap_or_default()
        .split_whitespace()
    {
        let (key, value) = pair
            .split_once('=')
            .unwrap_or_else(|| fail(&format!("GATEWAY_GUEST_ENV: {pair:?} is not KEY=VALUE")));
        cmd.env(key, value);
    }
    cmd.env("CARGO_TARGET_DIR", target_dir);
    // Cargo reads a build script's stdout for directives; keep the inner build's off it.
    cmd.stdout(Stdio::from(std::io::stderr()));

    let words: Vec<_> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|w| w.to_string_lossy())
        .collect();
    let shown = format!(
        "CARGO_TARGET_DIR={} {}",
        target_dir.display(),
        words.join(" ")
    );
    let hint = "If the wasm32-wasip2 target is missing, run `rustup target add wasm32-wasip2`. \
                If rustup cannot download it, run scripts/setup, which installs Debian's \
                toolchain, and set GATEWAY_GUEST_CARGO=scripts/guest-cargo-debian.";
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the guest components failed ({status}):\n  {shown}\n{hint}"
        )),
        Err(e) => fail(&format!(
            "could not run cargo for the guest components ({e}):\n  {shown}\n{hint}"
        )),
    }
}

/// `(folder, crate name)` of each member of a guest workspace. The manifests
/// are ours and plain, so a line-based reading is enough (no globs).
fn members(workspace: &Path) -> Vec<(String, String)> {
    let manifest = read(&workspace.join("Cargo.toml"));
    let list = manifest
        .split_once("\nmembers")
        .and_then(|(_, rest)| rest.split_once('['))
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .unwrap_or_else(|| {
            fail(&format!(
                "no `members = [...]` in {}/Cargo.toml",
                workspace.display()
            ))
        });
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .map(|dir| {
            if dir.contains('*') {
                fail(&format!(
                    "{}: list members explicitly, not {dir:?}",
                    workspace.display()
                ));
            }
            let name = package_name(&read(&workspace.join(&dir).join("Cargo.toml")))
                .unwrap_or_else(|| fail(&format!("no [package] name in {dir}/Cargo.toml")));
            (dir, name)
        })
        .collect()
}

fn package_name(manifest: &str) -> Option<String> {
    let package = manifest.split("[package]").nth(1)?.split("\n[").next()?;
    package.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
    })
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

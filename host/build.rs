//! Embeds the WIT contract and the Python guest SDK into the gateway binary,
//! so `gateway tool build` works outside a checkout of this repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let wit = root.join("guest-sdk/rust/wit/tool.wit");
    let sdk = root.join("guest-sdk/python");
    println!("cargo:rerun-if-changed={}", wit.display());
    // The SDK's packages: gateway_tool, and the requests shim over it.
    const PACKAGES: [&str; 2] = ["gateway_tool", "requests"];
    for package in PACKAGES {
        println!("cargo:rerun-if-changed={}", sdk.join(package).display());
    }

    let mut out = String::new();
    let _ = writeln!(out, "/// The WIT contract tools are built against.");
    let _ = writeln!(
        out,
        "pub const WIT: &str = include_str!({:?});",
        wit.display().to_string()
    );
    let _ = writeln!(
        out,
        "/// The Python guest SDK: (path under the SDK root, contents)."
    );
    let _ = writeln!(out, "pub const PYTHON_SDK: &[(&str, &str)] = &[");
    let mut files = Vec::new();
    for package in PACKAGES {
        collect_py(&sdk.join(package), &sdk, &mut files);
    }
    files.sort();
    for (rel, abs) in files {
        println!("cargo:rerun-if-changed={abs}");
        let _ = writeln!(out, "    ({rel:?}, include_str!({abs:?})),");
    }
    let _ = writeln!(out, "];");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}

fn collect_py(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "__pycache__") {
            collect_py(&path, root, files);
        } else if path.extension().is_some_and(|e| e == "py") {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            files.push((rel, path.display().to_string()));
        }
    }
}

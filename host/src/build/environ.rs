//! The lines a Python tool's entry module runs before importing the script:
//! they give the sandbox an `os.environ` in which each variable the manifest
//! binds as a secret reads as a placeholder (`gateway_tool._environ`), so an
//! operator's `os.environ["STRIPE_API_KEY"]` works and the header built from
//! it is dropped in favour of the gateway's own (docs/python-tools.md,
//! "Plain scripts with requests").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::BuildError;
use crate::manifest::{MANIFEST_FILE, Manifest};

/// Environment variable -> lower-case header names the manifest fills from it.
pub fn secret_bindings(manifest: &Manifest) -> Result<BTreeMap<String, BTreeSet<String>>, BuildError> {
    let mut bindings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in manifest.rules(&manifest.config)? {
        for header in &rule.secret_headers {
            for var in header.template.env_vars() {
                bindings
                    .entry(var.to_string())
                    .or_default()
                    .insert(header.name.as_str().to_string());
            }
        }
    }
    Ok(bindings)
}

/// The Python prelude for the tool folder `dir` (reads its `tool.toml`).
pub fn prelude(dir: &Path) -> Result<String, BuildError> {
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
    Ok(prelude_for(&secret_bindings(&manifest)?))
}

/// The prelude for `bindings`: JSON of strings is also a Python literal.
pub fn prelude_for(bindings: &BTreeMap<String, BTreeSet<String>>) -> String {
    let literal = serde_json::to_string(bindings).unwrap_or_else(|_| "{}".to_string());
    format!("from gateway_tool import _environ\n_environ.install({literal})\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_map_each_variable_to_its_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(MANIFEST_FILE);
        std::fs::write(
            &file,
            r#"name = "t"
version = "0.1.0"
description = "d"
[[http]]
host = "api.example.com"
[http.secret_headers]
Authorization = "Bearer ${API_KEY}"
X-Account = "${ACCOUNT_ID}:${API_KEY}"
"#,
        )
        .expect("write");
        let manifest = Manifest::load(&file).expect("manifest");
        let bindings = secret_bindings(&manifest).expect("bindings");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(bindings["API_KEY"], names(&["authorization", "x-account"]));
        assert_eq!(bindings["ACCOUNT_ID"], names(&["x-account"]));
        assert_eq!(
            prelude_for(&bindings).lines().nth(1),
            Some(r#"_environ.install({"ACCOUNT_ID":["x-account"],"API_KEY":["authorization","x-account"]})"#)
        );
    }
}

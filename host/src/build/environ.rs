//! The lines a Python tool's entry module runs before importing the script:
//! they give the sandbox an `os.environ` in which each variable the manifest
//! binds as a secret reads as a placeholder (`gateway_tool._environ`), so an
//! operator's `os.environ["STRIPE_API_KEY"]` works and the header built from
//! it is dropped in favour of the gateway's own (docs/python-tools.md,
//! "Plain scripts with requests"). They also pass the `[config]` defaults
//! that are URLs (`gateway_tool._upstreams`), so a URL a script writes
//! literally follows the deployment's override of that key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::BuildError;
use crate::manifest::{MANIFEST_FILE, Manifest};

/// Environment variable -> lower-case header names the manifest fills from it.
pub fn secret_bindings(
    manifest: &Manifest,
) -> Result<BTreeMap<String, BTreeSet<String>>, BuildError> {
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

/// The `[config]` defaults that are http(s) URLs, by key.
pub fn url_config(manifest: &Manifest) -> BTreeMap<String, String> {
    manifest
        .config
        .iter()
        .filter(|(_, v)| v.starts_with("https://") || v.starts_with("http://"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The Python prelude for the tool folder `dir` (reads its `tool.toml`).
pub fn prelude(dir: &Path) -> Result<String, BuildError> {
    let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
    Ok(prelude_for(
        &secret_bindings(&manifest)?,
        &url_config(&manifest),
    ))
}

/// The prelude for `bindings` and `bases`: JSON of strings is also a Python literal.
pub fn prelude_for(
    bindings: &BTreeMap<String, BTreeSet<String>>,
    bases: &BTreeMap<String, String>,
) -> String {
    format!(
        "from gateway_tool import _environ, _upstreams\n_environ.install({})\n_upstreams.install({})\n",
        literal(bindings),
        literal(bases)
    )
}

/// JSON of a map of strings (which cannot fail to serialise) is a Python literal.
fn literal<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string())
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
[[http]]
host = "api.example.com"
[http.secret_headers]
Authorization = "Bearer ${API_KEY}"
X-Account = "${ACCOUNT_ID}:${API_KEY}"
[config]
api_base = "https://api.example.com/"
label = "not a url"
"#,
        )
        .expect("write");
        let manifest = Manifest::load(&file).expect("manifest");
        let bindings = secret_bindings(&manifest).expect("bindings");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(bindings["API_KEY"], names(&["authorization", "x-account"]));
        assert_eq!(bindings["ACCOUNT_ID"], names(&["x-account"]));
        let bases = url_config(&manifest);
        let prelude = prelude_for(&bindings, &bases);
        let lines: Vec<&str> = prelude.lines().collect();
        assert_eq!(
            lines[1],
            r#"_environ.install({"ACCOUNT_ID":["x-account"],"API_KEY":["authorization","x-account"]})"#
        );
        assert_eq!(
            lines[2],
            r#"_upstreams.install({"api_base":"https://api.example.com/"})"#
        );
    }
}

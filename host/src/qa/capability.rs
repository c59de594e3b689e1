//! What a tool may do, in the terms an admin approves: where it connects
//! and with which methods, the secrets to provision, the files it reads,
//! its limits, and the definition hash agents are pinned to. A review shows
//! the difference between the base and the change.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::manifest::{Manifest, ManifestError};

/// A tool's grants, as the admin reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// `scheme://host[:ports][path] METHODS` per `[[http]]` entry, with the
    /// approver of any write (`approved by …`).
    pub http: BTreeSet<String>,
    /// Environment variables bound into secret headers.
    pub secrets: BTreeSet<String>,
    /// The `[files]` folder, relative to the tool folder.
    pub files: Option<String>,
    /// Limits by manifest key (`memory_mib`, `timeout_ms`, …).
    pub limits: BTreeMap<&'static str, u64>,
    /// The integration whose field registry validates its output.
    pub integration: Option<String>,
    /// The definition hash (`None` when the tool did not build or load).
    pub definition_sha256: Option<String>,
}

impl Capabilities {
    /// The grants a manifest asks for (the definition hash is filled in
    /// once the component loads).
    pub fn of(manifest: &Manifest) -> Result<Self, ManifestError> {
        let rules = manifest.rules(&manifest.config)?;
        let http = rules
            .iter()
            .map(|rule| match &rule.approved_by {
                Some(who) => format!("{rule} (approved by {who})"),
                None => rule.to_string(),
            })
            .collect();
        let limits = &manifest.limits;
        let mib = |bytes: usize| (bytes as u64) >> 20;
        Ok(Self {
            http,
            secrets: manifest.secret_vars()?,
            files: manifest.files_dir.as_ref().map(|dir| {
                dir.strip_prefix(manifest.dir().canonicalize().unwrap_or_default())
                    .unwrap_or(dir)
                    .display()
                    .to_string()
            }),
            limits: BTreeMap::from([
                ("memory_mib", mib(limits.memory_bytes)),
                ("timeout_ms", limits.timeout.as_millis() as u64),
                ("upstream_bytes", limits.upstream_bytes),
                ("output_bytes", limits.output_bytes as u64),
                ("requests", u64::from(limits.requests)),
            ]),
            integration: manifest.integration.clone(),
            definition_sha256: None,
        })
    }
}

/// One line of a capability diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What changed: `http`, `secrets`, `files`, `limits.memory_mib`, …
    pub aspect: String,
    /// Before (`None`: not there).
    pub before: Option<String>,
    /// After (`None`: removed).
    pub after: Option<String>,
}

/// The differences between two sets of grants, in a fixed order. A tool that
/// is new (or removed) has `None` on that side and every grant listed.
pub fn diff(before: Option<&Capabilities>, after: Option<&Capabilities>) -> Vec<Change> {
    let empty = Capabilities::default();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let mut changes = Vec::new();
    let mut set = |aspect: &str, b: &BTreeSet<String>, a: &BTreeSet<String>| {
        for gone in b.difference(a) {
            changes.push(Change {
                aspect: aspect.to_owned(),
                before: Some(gone.clone()),
                after: None,
            });
        }
        for new in a.difference(b) {
            changes.push(Change {
                aspect: aspect.to_owned(),
                before: None,
                after: Some(new.clone()),
            });
        }
    };
    set("http", &b.http, &a.http);
    set("secrets", &b.secrets, &a.secrets);
    let mut one = |aspect: &str, b: Option<String>, a: Option<String>| {
        if b != a {
            changes.push(Change {
                aspect: aspect.to_owned(),
                before: b,
                after: a,
            });
        }
    };
    one("files", b.files.clone(), a.files.clone());
    one("integration", b.integration.clone(), a.integration.clone());
    let keys: BTreeSet<&str> = b.limits.keys().chain(a.limits.keys()).copied().collect();
    for key in keys {
        one(
            &format!("limits.{key}"),
            b.limits.get(key).map(u64::to_string),
            a.limits.get(key).map(u64::to_string),
        );
    }
    one(
        "definition_sha256",
        b.definition_sha256.clone(),
        a.definition_sha256.clone(),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(http: &[&str], secrets: &[&str], memory: u64) -> Capabilities {
        Capabilities {
            http: http.iter().map(|s| s.to_string()).collect(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            limits: BTreeMap::from([("memory_mib", memory)]),
            definition_sha256: Some(format!("{memory:064}")),
            ..Capabilities::default()
        }
    }

    #[test]
    fn a_new_tool_lists_every_grant() {
        let after = caps(&["https://api.example.com GET,HEAD"], &["EXAMPLE_KEY"], 64);
        let changes = diff(None, Some(&after));
        let aspects: Vec<&str> = changes.iter().map(|c| c.aspect.as_str()).collect();
        assert_eq!(
            aspects,
            ["http", "secrets", "limits.memory_mib", "definition_sha256"]
        );
        assert!(
            changes
                .iter()
                .all(|c| c.before.is_none() && c.after.is_some())
        );
    }

    #[test]
    fn only_what_changed_is_listed() {
        let before = caps(&["https://a.example GET,HEAD"], &["K"], 64);
        let after = caps(
            &[
                "https://a.example GET,HEAD",
                "https://b.example POST (approved by ops)",
            ],
            &["K"],
            128,
        );
        let changes = diff(Some(&before), Some(&after));
        assert_eq!(
            changes[0],
            Change {
                aspect: "http".into(),
                before: None,
                after: Some("https://b.example POST (approved by ops)".into())
            }
        );
        assert_eq!(changes[1].aspect, "limits.memory_mib");
        assert_eq!(changes[1].before.as_deref(), Some("64"));
        assert_eq!(changes[1].after.as_deref(), Some("128"));
        assert_eq!(changes[2].aspect, "definition_sha256");
        assert_eq!(changes.len(), 3);
        assert_eq!(diff(Some(&before), Some(&before)), vec![]);
    }
}

//! The routes of a recording: one per distinct request, with its path
//! relative to the base URL it was sent under, written as `[[route]]`
//! blocks; and an existing `routes.toml` read block by block for `--append`.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::naming::{self, RequestShape};
use super::toml_out::{Block, ends_with_newline, split_blocks, subset};
use super::{RecordError, RoutesOutcome};
use crate::fixtures::FixtureFileError;
use crate::manifest::Manifest;
use crate::outbound::observe::Exchange;
use crate::outbound::redact::Redactor;

/// A route about to be written.
#[derive(Debug)]
pub(super) struct NewRoute {
    pub(super) key: RouteKey,
    pub(super) status: u16,
    pub(super) json_body: Option<toml::Table>,
    /// The request body as the file name's hash sees it.
    pub(super) request_body: Option<Vec<u8>>,
    pub(super) body: Vec<u8>,
    pub(super) json: bool,
    pub(super) file: String,
}

/// What tells routes apart: method, path, decoded query, JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RouteKey {
    pub(super) method: Option<String>,
    pub(super) path: String,
    pub(super) raw_query: Option<String>,
    pub(super) query: Vec<(String, String)>,
    pub(super) json_body: Option<Value>,
}

impl RouteKey {
    pub(super) fn new(
        method: Option<&str>,
        path: &str,
        query: Option<&str>,
        json_body: Option<Value>,
    ) -> Self {
        let mut pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        pairs.sort();
        Self {
            method: method.map(str::to_ascii_uppercase),
            path: path.to_string(),
            raw_query: query.filter(|q| !q.is_empty()).map(str::to_string),
            query: pairs,
            json_body,
        }
    }

    pub(super) fn same_request(&self, other: &Self) -> bool {
        self.method == other.method
            && self.path == other.path
            && self.query == other.query
            && self.json_body == other.json_body
    }

    pub(super) fn target(&self) -> String {
        match &self.raw_query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// The `routes.toml` a recording finds.
pub(super) enum OldRoutes {
    /// None there.
    None,
    /// Edited in place (`--append`): the text before the first route and each route.
    Append {
        preamble: String,
        routes: Vec<OldRoute>,
    },
    /// Replaced (`--force`): the file each old route named.
    Force(Vec<String>),
}

/// The `file` of each route in `file`, as far as it parses (a file
/// replaced by `--force` may be broken).
pub(super) fn route_files(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
        .and_then(|t| t.get("route").and_then(toml::Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.get("file").and_then(toml::Value::as_str))
        .map(str::to_string)
        .collect()
}

/// An existing `[[route]]` block, read.
pub(super) struct OldRoute {
    pub(super) block: Block,
    pub(super) key: RouteKey,
    pub(super) file: String,
}

const ROUTES_HEADER: &str = "\
# Recorded by `gateway fixtures record` from the tool's real upstream, with
# the tool's secrets scrubbed ([redacted:NAME]). Response headers are not
# kept. Format: docs/python-tools.md, \"Fixture routes\".
";

/// The exchanges as routes, the first of each request kept; and how many
/// repeated an earlier request.
pub(super) fn new_routes(
    exchanges: Vec<Exchange>,
    bases: &[Url],
    redactor: &Redactor,
    warnings: &mut Vec<String>,
) -> (Vec<NewRoute>, usize) {
    let mut routes: Vec<NewRoute> = Vec::new();
    let mut repeated = 0;
    for exchange in exchanges {
        let path = match route_path(&exchange.url, bases) {
            Some(path) => path,
            None => {
                warnings.push(format!(
                    "{} {} was not sent under an upstream_config key's URL: `gateway tool test` will not send it to the fixture server",
                    exchange.method,
                    redactor.redact_str(exchange.url.as_str())
                ));
                exchange.url.path().to_string()
            }
        };
        let query = exchange.url.query().filter(|q| !q.is_empty());
        let request_json = exchange
            .request_body
            .as_ref()
            .filter(|b| !b.is_empty())
            .map(|b| serde_json::from_slice::<Value>(b));
        let json_body = match request_json {
            None => None,
            Some(Ok(Value::Object(map))) => {
                let (table, dropped) = subset(&map);
                if dropped > 0 {
                    warnings.push(format!(
                        "{} {path}: {dropped} value(s) of the request body cannot be written in TOML (null); the route matches without them",
                        exchange.method
                    ));
                }
                Some(table)
            }
            Some(_) => {
                warnings.push(format!(
                    "{} {path}: the request body is not a JSON object; the route matches any body",
                    exchange.method
                ));
                None
            }
        };
        let json_value = json_body
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok());
        let key = RouteKey::new(Some(exchange.method.as_str()), &path, query, json_value);
        if routes.iter().any(|r| r.key.same_request(&key)) {
            repeated += 1;
            continue;
        }
        if !exchange.complete {
            warnings.push(format!(
                "{} {}: the tool did not read the whole response; the recording holds the {} byte(s) it read",
                exchange.method,
                key.target(),
                exchange.body.len()
            ));
        }
        if exchange.status.is_redirection() {
            warnings.push(format!(
                "{} {}: a {} redirect is recorded without its Location header (the fixture server sends no headers)",
                exchange.method,
                key.target(),
                exchange.status.as_u16()
            ));
        }
        let body = redactor.redact(&exchange.body).into_owned();
        let request_body = match &key.json_body {
            Some(json) => serde_json::to_vec(json).ok(),
            None => exchange.request_body.map(|b| b.to_vec()),
        };
        routes.push(NewRoute {
            request_body,
            json: serde_json::from_slice::<Value>(&body).is_ok(),
            key,
            status: exchange.status.as_u16(),
            json_body,
            body,
            file: String::new(),
        });
    }
    (routes, repeated)
}

/// The route path for `url`: its path below the longest base URL it was
/// sent under (the replay points that base at the fixture server), or
/// `None` when it was sent under none of them.
pub(super) fn route_path(url: &Url, bases: &[Url]) -> Option<String> {
    bases
        .iter()
        .filter(|b| {
            b.scheme() == url.scheme()
                && b.host_str() == url.host_str()
                && b.port_or_known_default() == url.port_or_known_default()
        })
        .filter_map(|b| {
            let prefix = b.path().trim_end_matches('/');
            let rest = url.path().strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((prefix.len(), rest))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, rest)| {
            if rest.is_empty() {
                "/".to_string()
            } else {
                rest.to_string()
            }
        })
}

/// Config keys whose manifest default is an http(s) URL: what a replay
/// points at the fixture server.
pub(super) fn url_config_keys(manifest: &Manifest) -> Vec<String> {
    manifest
        .config
        .iter()
        .filter(|(_, v)| {
            Url::parse(v)
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https"))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// One `[[route]]` block.
fn route_block(route: &NewRoute) -> String {
    #[derive(Serialize)]
    struct RouteOut<'a> {
        method: &'a str,
        path: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        query: Option<&'a str>,
        status: u16,
        file: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        json_body: Option<&'a toml::Table>,
    }
    #[derive(Serialize)]
    struct RoutesOut<'a> {
        route: [RouteOut<'a>; 1],
    }
    let out = RoutesOut {
        route: [RouteOut {
            method: route.key.method.as_deref().unwrap_or("GET"),
            path: &route.key.path,
            query: route.key.raw_query.as_deref(),
            status: route.status,
            file: &route.file,
            json_body: route.json_body.as_ref(),
        }],
    };
    // Serialising plain strings, integers and a table cannot fail.
    toml::to_string(&out).unwrap_or_default()
}

/// Names the new routes' files and writes the whole `routes.toml`: new,
/// in place of `old` (`--force`), or `old` with the routes for the same
/// requests replaced and the new ones added (`--append`). A name in
/// `taken` (the files already in the folder) is never given, unless an old
/// route that goes owned it.
pub(super) fn plan(
    old: OldRoutes,
    routes: &mut [NewRoute],
    mut taken: BTreeSet<String>,
) -> (RoutesOutcome, String) {
    let (outcome, mut text) = match old {
        OldRoutes::None => (
            RoutesOutcome::Created {
                routes: routes.len(),
            },
            String::from(ROUTES_HEADER),
        ),
        OldRoutes::Force(files) => {
            for file in &files {
                taken.remove(file);
            }
            (
                RoutesOutcome::Replaced {
                    routes: routes.len(),
                    previous: files.len(),
                },
                String::from(ROUTES_HEADER),
            )
        }
        OldRoutes::Append {
            preamble,
            routes: old,
        } => {
            let (replaced, kept): (Vec<OldRoute>, Vec<OldRoute>) = old
                .into_iter()
                .partition(|o| routes.iter().any(|n| n.key.same_request(&o.key)));
            let kept_files: BTreeSet<&str> = kept.iter().map(|o| o.file.as_str()).collect();
            // A replaced route's file is rewritten under its old name when
            // no kept route shares it.
            for o in &replaced {
                if kept_files.contains(o.file.as_str()) || !is_plain_name(&o.file) {
                    continue;
                }
                taken.remove(&o.file);
                if let Some(n) = routes.iter_mut().find(|n| n.key.same_request(&o.key))
                    && n.file.is_empty()
                {
                    n.file = o.file.clone();
                    taken.insert(o.file.clone());
                }
            }
            let mut text = ends_with_newline(preamble);
            for o in &kept {
                text.push_str(&o.block.text);
            }
            let new = routes
                .iter()
                .filter(|n| !replaced.iter().any(|o| n.key.same_request(&o.key)))
                .count();
            (
                RoutesOutcome::Appended {
                    added: new,
                    replaced: replaced.len(),
                    kept: kept.len(),
                },
                ends_with_newline(text),
            )
        }
    };
    for route in routes.iter_mut().filter(|r| r.file.is_empty()) {
        route.file = naming::file_name(
            RequestShape {
                method: route.key.method.as_deref().unwrap_or("GET"),
                path: &route.key.path,
                query: route.key.raw_query.as_deref(),
                body: route.request_body.as_deref(),
            },
            route.json,
            &mut taken,
        );
    }
    for route in routes.iter() {
        if !text.is_empty() && !text.ends_with("\n\n") {
            text.push('\n');
        }
        text.push_str(&route_block(route));
    }
    (outcome, text)
}

/// A single file name, nothing that leaves the fixtures folder.
fn is_plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none()
}

/// Reads `routes.toml` for editing: its text before the first route and
/// one block per route, checked against the file's own parse.
pub(super) fn read_routes(file: &Path) -> Result<(String, Vec<OldRoute>), RecordError> {
    let text = FixtureFileError::read(file)?;
    let whole: toml::Table = FixtureFileError::parse(file, &text)?;
    let count = whole
        .get("route")
        .and_then(toml::Value::as_array)
        .map_or(0, Vec::len);
    let (preamble, blocks) = split_blocks(&text, "route");
    let not_editable = |problem: String| RecordError::NotEditable {
        file: file.to_path_buf(),
        problem,
    };
    if blocks.len() != count {
        return Err(not_editable(format!(
            "{count} route(s) but {} `[[route]]` header line(s); write each route as its own [[route]] table, or pass --force",
            blocks.len()
        )));
    }
    let mut old = Vec::with_capacity(blocks.len());
    for block in blocks {
        let table: toml::Table = FixtureFileError::parse(file, &block.text)?;
        let route = table
            .get("route")
            .and_then(toml::Value::as_array)
            .and_then(|a| a.first())
            .and_then(toml::Value::as_table)
            .ok_or_else(|| not_editable(format!("line {}: not a route table", block.line)))?;
        let text_of = |k: &str| route.get(k).and_then(toml::Value::as_str);
        let path = text_of("path")
            .ok_or_else(|| not_editable(format!("line {}: route without a path", block.line)))?;
        let file_name = text_of("file")
            .ok_or_else(|| not_editable(format!("line {}: route without a file", block.line)))?;
        let json_body = route
            .get("json_body")
            .and_then(|b| serde_json::to_value(b).ok());
        let key = RouteKey::new(text_of("method"), path, text_of("query"), json_body);
        old.push(OldRoute {
            key,
            file: file_name.to_string(),
            block,
        });
    }
    Ok((preamble, old))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn route_paths_are_relative_to_the_base_they_were_sent_under() {
        let bases = [
            Url::parse("https://api.example.com/v2").unwrap(),
            Url::parse("https://api.example.com").unwrap(),
        ];
        let path = |u: &str| route_path(&Url::parse(u).unwrap(), &bases);
        assert_eq!(
            path("https://api.example.com/v2/items?x=1").as_deref(),
            Some("/items")
        );
        assert_eq!(path("https://api.example.com/v2").as_deref(), Some("/"));
        assert_eq!(
            path("https://api.example.com/v20/x").as_deref(),
            Some("/v20/x")
        );
        assert_eq!(path("https://other.example.com/v2/items"), None);
        assert_eq!(path("http://api.example.com/v2/items"), None);
    }

    #[test]
    fn routes_are_read_block_by_block_or_refused_for_editing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("routes.toml");
        std::fs::write(
            &file,
            "# mine\n\n[[route]]\nmethod = \"get\"\npath = \"/a\"\nquery = \"y=2&x=1\"\nfile = \"a.json\"\n\n# b\n[[route]]\npath = \"/b\"\nfile = \"b.json\"\n[route.json_body]\nk = 1\n",
        )
        .unwrap();
        let (preamble, old) = read_routes(&file).unwrap();
        assert_eq!(preamble, "# mine\n\n");
        assert_eq!(old.len(), 2);
        // Method case, query order and encoding do not make another request.
        let a = RouteKey::new(Some("GET"), "/a", Some("x=1&y=%32"), None);
        assert!(old[0].key.same_request(&a));
        assert_eq!(old[0].file, "a.json");
        let b = RouteKey::new(None, "/b", None, Some(json!({"k": 1})));
        assert!(old[1].key.same_request(&b));
        assert!(!old[1].key.same_request(&RouteKey::new(
            Some("GET"),
            "/b",
            None,
            Some(json!({"k": 1}))
        )));
        assert!(old[1].block.text.starts_with("# b\n[[route]]"));

        // An inline array of routes has no blocks to replace.
        std::fs::write(&file, "route = [{ path = \"/a\", file = \"a.json\" }]\n").unwrap();
        let err = read_routes(&file).err().unwrap();
        assert!(matches!(err, RecordError::NotEditable { .. }), "{err:?}");
        std::fs::write(&file, "[[route]]\npath = 1\n").unwrap();
        let err = read_routes(&file).err().unwrap();
        assert!(matches!(err, RecordError::NotEditable { .. }), "{err:?}");
    }

    #[test]
    fn plain_names_stay_in_the_folder() {
        for (name, plain) in [
            ("a.json", true),
            ("../a.json", false),
            ("x/a.json", false),
            ("/etc/passwd", false),
            ("", false),
        ] {
            assert_eq!(is_plain_name(name), plain, "{name}");
        }
    }
}

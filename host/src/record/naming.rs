//! File names for recorded responses: read from the request path, the same
//! for the same request on every run, and never one already taken.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

/// Longest slug taken from a path (the name stays readable in a listing).
const MAX_SLUG: usize = 60;

/// What a recorded request is told apart by: what a route matches on.
#[derive(Debug, Clone, Copy)]
pub struct RequestShape<'a> {
    /// The method, upper case.
    pub method: &'a str,
    /// The route path.
    pub path: &'a str,
    /// The raw query, if any.
    pub query: Option<&'a str>,
    /// The request body, if any.
    pub body: Option<&'a [u8]>,
}

/// The file name for a response to `shape`: `<method_>slug<_hash>.<ext>`.
/// `slug` is the path in lower-case letters, digits and `_` (`root` for
/// `/`); the method is named unless it is GET; a request with a query or a
/// body gets 8 hex digits of a hash of the whole request, so pages of one
/// path differ. `json` picks `.json` over `.txt`. A name in `taken` gets
/// `_2`, `_3`, ... The result is added to `taken`.
pub fn file_name(shape: RequestShape<'_>, json: bool, taken: &mut BTreeSet<String>) -> String {
    let mut stem = String::new();
    if !shape.method.eq_ignore_ascii_case("GET") {
        stem.push_str(&slug(shape.method));
        stem.push('_');
    }
    let path = slug(shape.path);
    stem.push_str(if path.is_empty() { "root" } else { &path });
    let query = shape.query.filter(|q| !q.is_empty());
    let body = shape.body.filter(|b| !b.is_empty());
    if query.is_some() || body.is_some() {
        stem.push('_');
        stem.push_str(&shape_hash(shape.method, shape.path, query, body));
    }
    let ext = if json { "json" } else { "txt" };
    let mut name = format!("{stem}.{ext}");
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{stem}_{n}.{ext}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

/// `text` as lower-case ASCII letters and digits joined by single `_`,
/// at most [`MAX_SLUG`] characters.
fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_SLUG));
    for c in text.chars() {
        if out.len() >= MAX_SLUG {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// 8 hex digits naming one request shape.
fn shape_hash(method: &str, path: &str, query: Option<&str>, body: Option<&[u8]>) -> String {
    let mut hash = Sha256::new();
    for part in [
        method.as_bytes(),
        path.as_bytes(),
        query.unwrap_or("").as_bytes(),
        body.unwrap_or(b""),
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape<'a>(method: &'a str, path: &'a str, query: Option<&'a str>) -> RequestShape<'a> {
        RequestShape {
            method,
            path,
            query,
            body: None,
        }
    }

    #[test]
    fn names_come_from_the_path_and_are_stable() {
        let name = |s: RequestShape<'_>, json: bool| file_name(s, json, &mut BTreeSet::new());
        assert_eq!(
            name(shape("GET", "/v1/charges", None), true),
            "v1_charges.json"
        );
        assert_eq!(name(shape("GET", "/", None), true), "root.json");
        assert_eq!(name(shape("GET", "", None), false), "root.txt");
        assert_eq!(
            name(shape("GET", "/Repos/Acme-Corp/widget.engine/", None), true),
            "repos_acme_corp_widget_engine.json"
        );
        assert_eq!(name(shape("HEAD", "/x", None), true), "head_x.json");
        let post = RequestShape {
            method: "POST",
            path: "/crm/v3/objects/deals/search",
            query: None,
            body: Some(br#"{"after":"100"}"#),
        };
        let first = name(post, true);
        assert!(
            first.starts_with("post_crm_v3_objects_deals_search_"),
            "{first}"
        );
        assert_eq!(
            first.len(),
            "post_crm_v3_objects_deals_search_".len() + 8 + 5
        );
        // The same request is named the same on every run.
        assert_eq!(name(post, true), first);
        // A long path is cut, non-ASCII is a separator.
        let long = name(
            shape("GET", &format!("/{}/é/x", "a".repeat(100)), None),
            true,
        );
        assert_eq!(long, format!("{}.json", "a".repeat(MAX_SLUG)));
    }

    #[test]
    fn pages_and_bodies_differ_and_nothing_taken_is_reused() {
        let mut taken = BTreeSet::from(["v1_charges.json".to_string()]);
        let plain = file_name(shape("GET", "/v1/charges", None), true, &mut taken);
        assert_eq!(plain, "v1_charges_2.json");
        let page1 = file_name(
            shape("GET", "/v1/charges", Some("page=1")),
            true,
            &mut taken,
        );
        let page2 = file_name(
            shape("GET", "/v1/charges", Some("page=2")),
            true,
            &mut taken,
        );
        assert_ne!(page1, page2);
        assert!(page1.starts_with("v1_charges_") && page1.ends_with(".json"));
        // Different paths with one slug: the second is numbered.
        let a = file_name(shape("GET", "/a-b", None), true, &mut taken);
        let b = file_name(shape("GET", "/a_b", None), true, &mut taken);
        assert_eq!((a.as_str(), b.as_str()), ("a_b.json", "a_b_2.json"));
        assert_eq!(taken.len(), 6);
        // Recorded again with nothing taken: the same names.
        let mut fresh = BTreeSet::new();
        assert_eq!(
            file_name(
                shape("GET", "/v1/charges", Some("page=1")),
                true,
                &mut fresh
            ),
            page1
        );
    }
}

//! Field paths as the registry writes them: `period.start`,
//! `by_currency.*.gross` (each value of a map), `stages[].label` (each item
//! of a list), and the tree of registered paths every check walks.

use std::collections::BTreeMap;

use super::registry::{FieldDef, FieldType, Integration};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Segment {
    /// A named object key: `period`, `.start`.
    Key(String),
    /// `.*`: every value of a map whose keys are data (currency codes, ids).
    AnyKey,
    /// `[]`: every item of a list.
    Items,
}

/// Why a registry path is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    #[error("the path is empty")]
    Empty,
    /// Two dots in a row, or a dot at either end.
    #[error("a segment is empty (a leading, trailing or doubled `.`)")]
    EmptySegment,
    /// A `[` not closed by the `]` right after it, or a stray `]`.
    #[error("`[` must be followed by `]`")]
    UnclosedBracket,
    /// `[0]`: items are described once for all, never by position.
    #[error("list items are written `[]`, never with an index")]
    Index,
    /// `*` as part of a name (`gross_*`).
    #[error("`*` stands alone as a segment (`.*`), never inside a name")]
    PartialWildcard,
    /// A name straight after `[]` (`a[]b`).
    #[error("a name after `[]` needs a `.` before it")]
    MissingDot,
    /// A space, control character or quote in a name.
    #[error("{0:?} is not allowed in a field name")]
    BadCharacter(char),
    /// The output is an object: a path begins with a field name.
    #[error("a path begins with a field name or `*`, not `[]`")]
    StartsWithList,
}

/// Parses a registry path into segments; the accepted spelling is unique,
/// so two paths name the same field exactly when their strings are equal.
pub(crate) fn parse(path: &str) -> Result<Vec<Segment>, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('[') {
        return Err(PathError::StartsWithList);
    }
    let mut segments = Vec::new();
    let mut rest = path;
    // True where a name must come next: at the start and after a dot.
    let mut need_name = true;
    while !rest.is_empty() {
        if need_name {
            let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
            let name = &rest[..end];
            if name.is_empty() {
                return Err(PathError::EmptySegment);
            }
            segments.push(name_segment(name)?);
            rest = &rest[end..];
            need_name = false;
        } else if let Some(after) = rest.strip_prefix('.') {
            if after.is_empty() {
                return Err(PathError::EmptySegment);
            }
            rest = after;
            need_name = true;
        } else if let Some(after) = rest.strip_prefix("[]") {
            segments.push(Segment::Items);
            rest = after;
        } else if let Some(after) = rest.strip_prefix('[') {
            let is_index = after.split_once(']').is_some_and(|(inner, _)| {
                !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit())
            });
            return Err(if is_index {
                PathError::Index
            } else {
                PathError::UnclosedBracket
            });
        } else if rest.starts_with(']') {
            return Err(PathError::UnclosedBracket);
        } else {
            return Err(PathError::MissingDot);
        }
    }
    Ok(segments)
}

fn name_segment(name: &str) -> Result<Segment, PathError> {
    if name == "*" {
        return Ok(Segment::AnyKey);
    }
    if name.contains('*') {
        return Err(PathError::PartialWildcard);
    }
    match name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\''))
    {
        Some(c) => Err(PathError::BadCharacter(c)),
        None => Ok(Segment::Key(name.to_owned())),
    }
}

/// `parent` extended by one segment, in registry notation.
pub(crate) fn join(parent: &str, segment: &Segment) -> String {
    match segment {
        Segment::Key(name) if parent.is_empty() => name.clone(),
        Segment::Key(name) => format!("{parent}.{name}"),
        Segment::AnyKey if parent.is_empty() => "*".to_owned(),
        Segment::AnyKey => format!("{parent}.*"),
        Segment::Items => format!("{parent}[]"),
    }
}

/// The registered paths of one integration as a tree: one node per path
/// prefix, so a response is checked in a single walk.
#[derive(Debug, Default)]
pub(crate) struct Tree<'a> {
    /// The prefix in registry notation; empty at the root.
    pub path: String,
    /// The definition when the prefix itself is registered.
    pub def: Option<&'a FieldDef>,
    pub keys: BTreeMap<String, Tree<'a>>,
    pub any: Option<Box<Tree<'a>>>,
    pub items: Option<Box<Tree<'a>>>,
}

impl<'a> Tree<'a> {
    /// Builds the tree; paths that do not parse (lint reports them) are skipped.
    pub fn build(integration: &'a Integration) -> Tree<'a> {
        let mut root = Tree::default();
        for (path, def) in &integration.fields {
            let Ok(segments) = parse(path) else { continue };
            let mut node = &mut root;
            for segment in &segments {
                let parent = node.path.clone();
                let make = || Tree {
                    path: join(&parent, segment),
                    ..Tree::default()
                };
                node = match segment {
                    Segment::Key(name) => node.keys.entry(name.clone()).or_insert_with(make),
                    Segment::AnyKey => node.any.get_or_insert_with(|| Box::new(make())),
                    Segment::Items => node.items.get_or_insert_with(|| Box::new(make())),
                };
            }
            node.def = Some(def);
        }
        root
    }

    pub fn has_children(&self) -> bool {
        !self.keys.is_empty() || self.any.is_some() || self.items.is_some()
    }

    /// Registered as a whole (an object or list whose insides are not
    /// described): its contents are not checked.
    pub fn is_opaque(&self) -> bool {
        self.def.is_some() && !self.has_children()
    }

    /// The node describing the value under `key` of an object at this node:
    /// a key registered by name wins over `*`.
    pub fn child(&self, key: &str) -> Option<&Tree<'a>> {
        self.keys.get(key).or(self.any.as_deref())
    }

    /// The type a value here must have: the registered one, or the one its
    /// registered children imply.
    pub fn expected_type(&self) -> FieldType {
        match self.def {
            Some(def) => def.r#type,
            None if self.items.is_some() && self.keys.is_empty() && self.any.is_none() => {
                FieldType::Array
            }
            None => FieldType::Object,
        }
    }

    pub fn nullable(&self) -> bool {
        self.def.is_some_and(|d| d.nullable)
    }

    /// Registered paths at and under this node, parents first.
    pub fn registered(&self) -> Vec<&Tree<'a>> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            if node.def.is_some() {
                out.push(node);
            }
            stack.extend(node.items.as_deref());
            stack.extend(node.any.as_deref());
            stack.extend(node.keys.values().rev());
        }
        out
    }
}

/// Splits a concrete location as an agent might write it (`stages[2].label`,
/// `by_currency.usd.gross`) into segments; indexes become [`Segment::Items`].
pub(crate) fn parse_location(location: &str) -> Option<Vec<Segment>> {
    let mut segments = Vec::new();
    for part in location.split('.') {
        let (name, mut brackets) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if name.is_empty() && segments.is_empty() {
            return None;
        }
        if !name.is_empty() {
            segments.push(if name == "*" {
                Segment::AnyKey
            } else {
                Segment::Key(name.to_owned())
            });
        }
        while let Some(after) = brackets.strip_prefix('[') {
            let close = after.find(']')?;
            if !after[..close].bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            segments.push(Segment::Items);
            brackets = &after[close + 1..];
        }
        if !brackets.is_empty() {
            return None;
        }
    }
    Some(segments)
}

/// How well a registered path matches a location: `None` when it does not,
/// otherwise the number of `*` it needed (fewer is a closer match).
pub(crate) fn match_location(registered: &[Segment], location: &[Segment]) -> Option<usize> {
    if registered.len() != location.len() {
        return None;
    }
    let mut wildcards = 0;
    for (r, l) in registered.iter().zip(location) {
        match (r, l) {
            (Segment::Key(a), Segment::Key(b)) if a == b => {}
            (Segment::AnyKey, Segment::Key(_) | Segment::AnyKey) => wildcards += 1,
            (Segment::Items, Segment::Items) => {}
            _ => return None,
        }
    }
    Some(wildcards)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Segment {
        Segment::Key(name.to_owned())
    }

    #[test]
    fn accepted_paths_parse_into_segments() {
        let cases: &[(&str, Vec<Segment>)] = &[
            ("full_name", vec![key("full_name")]),
            ("period.start", vec![key("period"), key("start")]),
            (
                "by_currency.*.gross",
                vec![key("by_currency"), Segment::AnyKey, key("gross")],
            ),
            (
                "stages[].weighted_amount",
                vec![key("stages"), Segment::Items, key("weighted_amount")],
            ),
            (
                "matrix[][]",
                vec![key("matrix"), Segment::Items, Segment::Items],
            ),
            ("*", vec![Segment::AnyKey]),
            ("@type", vec![key("@type")]),
            ("1148237591", vec![key("1148237591")]),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path).as_ref(), Ok(want), "{path}");
            let rebuilt = want.iter().fold(String::new(), |p, s| join(&p, s));
            assert_eq!(&rebuilt, path, "joining the segments spells the path again");
        }
    }

    #[test]
    fn malformed_paths_name_the_problem() {
        let cases = [
            ("", PathError::Empty),
            ("a..b", PathError::EmptySegment),
            (".a", PathError::EmptySegment),
            ("a.", PathError::EmptySegment),
            ("a.[]", PathError::EmptySegment),
            ("stages[0].label", PathError::Index),
            ("stages[.label", PathError::UnclosedBracket),
            ("stages].label", PathError::UnclosedBracket),
            ("stages[x]", PathError::UnclosedBracket),
            ("gross_*", PathError::PartialWildcard),
            ("by currency", PathError::BadCharacter(' ')),
            ("a.\"b\"", PathError::BadCharacter('"')),
            ("[].a", PathError::StartsWithList),
            ("a[]b", PathError::MissingDot),
        ];
        for (path, want) in cases {
            assert_eq!(parse(path), Err(want), "{path:?}");
        }
    }

    #[test]
    fn locations_match_the_closest_registered_path() {
        let cases = [
            ("by_currency.*.gross", "by_currency.usd.gross", Some(1)),
            ("by_currency.usd.gross", "by_currency.usd.gross", Some(0)),
            ("stages[].label", "stages[3].label", Some(0)),
            ("stages[].label", "stages[].label", Some(0)),
            ("stages[].label", "stages.label", None),
            ("period.start", "period.end", None),
            ("period", "period.start", None),
        ];
        for (registered, location, want) in cases {
            let r = parse(registered).unwrap_or_default();
            let l = parse_location(location).unwrap_or_default();
            assert_eq!(match_location(&r, &l), want, "{registered} vs {location}");
        }
        assert_eq!(parse_location("stages[x].label"), None);
        assert_eq!(parse_location("[0]"), None);
    }
}

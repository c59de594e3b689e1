//! A small YAML tree with a line and column on every node, built from
//! saphyr-parser's events. Mappings keep their entries in file order with
//! duplicates, so lint can point at the second `gross:` instead of a YAML
//! library silently keeping one of them.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Field files are two levels deep; this only stops hostile nesting before
/// it costs memory.
const MAX_DEPTH: usize = 32;

/// Where a node starts: line 1-based, column 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl From<Span> for Pos {
    fn from(span: Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Scalar {
        value: String,
        /// Plain scalars are the only ones YAML reads as null or booleans.
        plain: bool,
        pos: Pos,
    },
    Mapping {
        entries: Vec<(Node, Node)>,
        pos: Pos,
    },
    Sequence {
        pos: Pos,
    },
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, .. } | Node::Mapping { pos, .. } | Node::Sequence { pos } => *pos,
        }
    }

    /// The text of a scalar that is not null (`~`, `null` or nothing).
    pub fn text(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, plain, .. } if !(*plain && is_null(value)) => Some(value),
            _ => None,
        }
    }

    /// A YAML 1.2 core-schema boolean, written plain.
    pub fn boolean(&self) -> Option<bool> {
        match self {
            Node::Scalar {
                value, plain: true, ..
            } => match value.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// Why a text is not a field file's YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum YamlError {
    Syntax { message: String, pos: Pos },
    Unsupported { feature: &'static str, pos: Pos },
}

/// Parses one YAML document; `Ok(None)` for an empty file.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    // A node being filled: a mapping (with its key waiting for a value) or a
    // sequence (whose items are not kept: no field file needs them).
    enum Open {
        Mapping {
            entries: Vec<(Node, Node)>,
            key: Option<Node>,
            pos: Pos,
        },
        Sequence {
            pos: Pos,
        },
    }

    let mut stack: Vec<Open> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError::Syntax {
            message: e.info().to_owned(),
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
        })?;
        let pos = Pos::from(span);
        let unsupported = |feature| Err(YamlError::Unsupported { feature, pos });
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return unsupported("several documents in one file");
                }
                continue;
            }
            Event::Alias(_) => return unsupported("anchors and aliases"),
            Event::Scalar(_, _, anchor, _)
            | Event::MappingStart(anchor, _)
            | Event::SequenceStart(anchor, _)
                if anchor != 0 =>
            {
                return unsupported("anchors and aliases");
            }
            Event::Scalar(_, _, _, Some(_))
            | Event::MappingStart(_, Some(_))
            | Event::SequenceStart(_, Some(_)) => return unsupported("tags"),
            Event::Scalar(value, style, _, None) => Node::Scalar {
                value: value.into_owned(),
                plain: style == ScalarStyle::Plain,
                pos,
            },
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return unsupported("nesting this deep");
                }
                stack.push(match event {
                    Event::MappingStart(..) => Open::Mapping {
                        entries: Vec::new(),
                        key: None,
                        pos,
                    },
                    _ => Open::Sequence { pos },
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Open::Mapping { entries, pos, .. }) => Node::Mapping { entries, pos },
                Some(Open::Sequence { pos }) => Node::Sequence { pos },
                None => continue,
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {
                continue;
            }
        };
        match stack.last_mut() {
            Some(Open::Mapping { entries, key, .. }) => match key.take() {
                Some(k) => entries.push((k, done)),
                None => *key = Some(done),
            },
            Some(Open::Sequence { .. }) => {}
            None => root = Some(done),
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn nodes_carry_their_line_and_column_and_duplicates_survive() {
        let text = "integration: x\nfields:\n  a:\n    type: string\n  a:\n    type: integer\n";
        let Ok(Some(Node::Mapping { entries, pos })) = parse(text) else {
            panic!("not a mapping: {:?}", parse(text));
        };
        assert_eq!(pos, at(1, 1));
        assert_eq!(entries[0].0.pos(), at(1, 1));
        assert_eq!(entries[0].1.pos(), at(1, 14));
        let Node::Mapping {
            entries: fields, ..
        } = &entries[1].1
        else {
            panic!("fields is not a mapping");
        };
        let keys: Vec<_> = fields.iter().map(|(k, _)| (k.text(), k.pos())).collect();
        assert_eq!(keys, [(Some("a"), at(3, 3)), (Some("a"), at(5, 3))]);
    }

    #[test]
    fn scalars_read_as_null_and_booleans_only_when_plain() {
        let cases = [
            ("k: ~", None, None),
            ("k:", None, None),
            ("k: null", None, None),
            ("k: 'null'", Some("null"), None),
            ("k: true", Some("true"), Some(true)),
            ("k: False", Some("False"), Some(false)),
            ("k: \"true\"", Some("true"), None),
            ("k: yes", Some("yes"), None),
        ];
        for (text, want_text, want_bool) in cases {
            let Ok(Some(Node::Mapping { entries, .. })) = parse(text) else {
                panic!("{text}");
            };
            assert_eq!(entries[0].1.text(), want_text, "{text}");
            assert_eq!(entries[0].1.boolean(), want_bool, "{text}");
        }
    }

    #[test]
    fn errors_and_unsupported_features_have_positions() {
        let cases = [
            ("a: [1, 2\nb: 3\n", None),
            ("a: &x 1\nb: *x\n", Some("anchors and aliases")),
            ("a: !!str 1\n", Some("tags")),
            ("a: 1\n---\nb: 2\n", Some("several documents in one file")),
        ];
        for (text, want) in cases {
            match (parse(text), want) {
                (Err(YamlError::Syntax { pos, .. }), None) => assert!(pos.line >= 1),
                (Err(YamlError::Unsupported { feature, pos }), Some(want)) => {
                    assert_eq!(feature, want);
                    assert!(pos.line >= 1);
                }
                (other, _) => panic!("{text:?}: {other:?}"),
            }
        }
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(
            parse(&deep),
            Err(YamlError::Unsupported {
                feature: "nesting this deep",
                ..
            })
        ));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("# only a comment\n"), Ok(None));
    }
}

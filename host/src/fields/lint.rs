//! Checks registry files and reports every problem with its file, line and
//! column, the way a compiler does, so CI and editors can point at it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::path::{self, PathError, Segment};
use super::registry::{FieldDef, FieldType, Integration};
use super::yaml::{self, Node, Pos, YamlError};

/// A registry file is a few kilobytes; anything near this is not one.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The keys a field definition may have, in the order files write them.
const FIELD_KEYS: [&str; 8] = [
    "display_name",
    "description",
    "type",
    "nullable",
    "notes",
    "unit",
    "currency",
    "calculation",
];
/// Keys a definition cannot do without.
const REQUIRED_KEYS: [&str; 3] = ["display_name", "description", "type"];
/// The keys at the top of a file.
const FILE_KEYS: [&str; 2] = ["integration", "fields"];
/// Text that marks a definition as not yet written (as `discover` proposes it).
const PLACEHOLDER: &str = "TODO";

/// One problem in one registry file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintError {
    /// The file, as found in the registry folder.
    pub file: PathBuf,
    /// 1-based line; `None` for a problem with the whole file.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub kind: LintKind,
}

impl LintError {
    fn at(file: &Path, pos: Pos, kind: LintKind) -> LintError {
        LintError {
            file: file.to_owned(),
            line: Some(pos.line),
            column: Some(pos.column),
            kind,
        }
    }

    fn whole(file: &Path, kind: LintKind) -> LintError {
        LintError {
            file: file.to_owned(),
            line: None,
            column: None,
            kind,
        }
    }
}

impl fmt::Display for LintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for LintError {}

/// What is wrong, with the names involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LintKind {
    /// The file or folder could not be read.
    #[error("cannot read: {message}")]
    Io {
        /// The operating system's reason.
        message: String,
    },
    /// Larger than any registry file should be.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Not YAML.
    #[error("not valid YAML: {message}")]
    Syntax {
        /// The parser's reason.
        message: String,
    },
    /// YAML that registry files do not use (aliases, tags, several documents).
    #[error("{feature} are not allowed in field files")]
    Unsupported {
        /// The feature.
        feature: &'static str,
    },
    /// A `.yml` file, which the registry does not load.
    #[error("registry files end in `.yaml`; this file is not loaded")]
    WrongExtension,
    /// A mapping was expected (the file, `fields`, or one field's definition).
    #[error("{what} must be a mapping")]
    NotAMapping {
        /// What must be one: "the file", "`fields`", "field `gross`".
        what: String,
    },
    /// A key this format does not have; unknown keys are denied so typos show.
    #[error("unknown key `{key}`{}; allowed: {}", in_field(.field), allowed(.field))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// The field it appeared in; `None` at the top of the file.
        field: Option<String>,
    },
    /// A key written twice in the same mapping.
    #[error("`{key}` is given twice{} (first on line {first_line})", in_field(.field))]
    DuplicateKey {
        /// The key.
        key: String,
        /// The field it appeared in; `None` at the top of the file.
        field: Option<String>,
        /// Where it was first given.
        first_line: usize,
    },
    /// A required key is missing.
    #[error("`{key}` is missing{}", in_field(.field))]
    MissingKey {
        /// The key: `integration`, `fields`, `display_name`, `description` or `type`.
        key: &'static str,
        /// The field it is missing from; `None` at the top of the file.
        field: Option<String>,
    },
    /// A value of the wrong kind (a mapping for a description, `yes` for nullable).
    #[error("`{key}`{} must be {expected}", in_field(.field))]
    BadValue {
        /// The key whose value is wrong.
        key: &'static str,
        /// The field it belongs to; `None` at the top of the file.
        field: Option<String>,
        /// What it must be.
        expected: &'static str,
    },
    /// A type name the registry does not know.
    #[error("unknown type `{found}` for field `{field}`{}; types are string, integer, number, boolean, object, array",
        suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    BadType {
        /// The field.
        field: String,
        /// The type as written.
        found: String,
        /// The type probably meant (`int` → `integer`).
        suggestion: Option<FieldType>,
    },
    /// Placeholder text left from a proposal (`TODO`).
    #[error("`{key}` of field `{field}` is still a placeholder; write the definition")]
    Placeholder {
        /// The key.
        key: &'static str,
        /// The field.
        field: String,
    },
    /// Text agents read with a character nobody sees (a terminal escape, a
    /// Unicode tag, a bidi control, a zero-width character).
    #[error(
        "`{key}` of field `{field}` has a hidden character U+{codepoint:04X}; agents would read what reviewers cannot see"
    )]
    HiddenText {
        /// The key.
        key: &'static str,
        /// The field.
        field: String,
        /// The first hidden character's code point.
        codepoint: u32,
    },
    /// An `integration:` value that is not a slug.
    #[error("`{slug}` is not an integration slug (lower-case letters, digits, `_` and `-`)")]
    BadSlug {
        /// The value as written.
        slug: String,
    },
    /// `integration:` differs from the file name.
    #[error("`integration: {declared}` does not match the file name (expected `{file_stem}`)")]
    IntegrationMismatch {
        /// The value in the file.
        declared: String,
        /// The file name without `.yaml`.
        file_stem: String,
    },
    /// A field path defined twice.
    #[error("field `{path}` is defined twice (first on line {first_line})")]
    DuplicateField {
        /// The path.
        path: String,
        /// Where it was first defined.
        first_line: usize,
    },
    /// A field path that does not follow the path syntax.
    #[error("field path `{path}` is malformed: {reason}")]
    MalformedPath {
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: PathError,
    },
    /// A nested path under a parent registered with an incompatible type.
    #[error("`{path}` needs `{parent}` to be {needs}, but it is registered as {parent_type}")]
    ParentType {
        /// The nested path.
        path: String,
        /// Its registered parent.
        parent: String,
        /// The parent's registered type.
        parent_type: FieldType,
        /// The type the nesting needs (object for `.name`/`.*`, array for `[]`).
        needs: FieldType,
    },
    /// A prefix with both keyed (`x.a`, `x.*`) and list (`x[]`) children.
    #[error("`{parent}` has both object fields and list items under it")]
    MixedChildren {
        /// The prefix.
        parent: String,
    },
}

fn in_field(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!(" in field `{f}`"))
        .unwrap_or_default()
}

fn allowed(field: &Option<String>) -> String {
    match field {
        Some(_) => FIELD_KEYS.join(", "),
        None => FILE_KEYS.join(", "),
    }
}

/// Checks every registry file in `dir` (`*.yaml`; a `*.yml` is reported);
/// an empty result means the registry loads whole.
pub fn lint(dir: &Path) -> Vec<LintError> {
    let (files, mut errors) = registry_files(dir);
    for file in files {
        if let Err(found) = read_file(&file) {
            errors.extend(found);
        }
    }
    errors
}

/// The `*.yaml` files of the folder, sorted; hidden files (editor swap and
/// temporary files) are skipped, `*.yml` files reported.
pub(crate) fn registry_files(dir: &Path) -> (Vec<PathBuf>, Vec<LintError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return (Vec::new(), vec![io_error(dir, &e)]),
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                errors.push(io_error(dir, &e));
                continue;
            }
        };
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") => files.push(path),
            Some("yml") => errors.push(LintError::whole(&path, LintKind::WrongExtension)),
            _ => {}
        }
    }
    files.sort();
    errors.sort_by(|a, b| a.file.cmp(&b.file));
    (files, errors)
}

fn io_error(path: &Path, e: &std::io::Error) -> LintError {
    LintError::whole(
        path,
        LintKind::Io {
            message: e.to_string(),
        },
    )
}

pub(crate) fn read_file(file: &Path) -> Result<Integration, Vec<LintError>> {
    let too_large = std::fs::metadata(file)
        .map_err(|e| vec![io_error(file, &e)])?
        .len()
        > MAX_FILE_BYTES;
    if too_large {
        let kind = LintKind::TooLarge {
            limit: MAX_FILE_BYTES,
        };
        return Err(vec![LintError::whole(file, kind)]);
    }
    let text = std::fs::read_to_string(file).map_err(|e| vec![io_error(file, &e)])?;
    parse_text(file, &text)
}

pub(crate) fn parse_text(file: &Path, text: &str) -> Result<Integration, Vec<LintError>> {
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(YamlError::Syntax { message, pos }) => {
            return Err(vec![LintError::at(file, pos, LintKind::Syntax { message })]);
        }
        Err(YamlError::Unsupported { feature, pos }) => {
            return Err(vec![LintError::at(
                file,
                pos,
                LintKind::Unsupported { feature },
            )]);
        }
    };
    let mut check = FileCheck {
        file,
        errors: Vec::new(),
    };
    let integration = check.file(root.as_ref());
    match integration {
        Some(integration) if check.errors.is_empty() => Ok(integration),
        _ => {
            check
                .errors
                .sort_by_key(|e| (e.line.unwrap_or(0), e.column.unwrap_or(0)));
            Err(check.errors)
        }
    }
}

struct FileCheck<'f> {
    file: &'f Path,
    errors: Vec<LintError>,
}

impl FileCheck<'_> {
    fn report(&mut self, pos: Pos, kind: LintKind) {
        self.errors.push(LintError::at(self.file, pos, kind));
    }

    fn file(&mut self, root: Option<&Node>) -> Option<Integration> {
        let start = Pos { line: 1, column: 1 };
        let entries = match root {
            Some(Node::Mapping { entries, .. }) => entries.as_slice(),
            None => &[],
            Some(other) => {
                let what = "the file".to_owned();
                self.report(other.pos(), LintKind::NotAMapping { what });
                return None;
            }
        };
        let top = self.keys(entries, None, &FILE_KEYS);
        let slug = match top.get("integration") {
            Some((_, value)) => self.slug(value),
            None => {
                self.report(start, missing("integration", None));
                None
            }
        };
        let fields = match top.get("fields") {
            Some((_, Node::Mapping { entries, .. })) => self.fields(entries),
            Some((_, value)) => {
                let kind = LintKind::BadValue {
                    key: "fields",
                    field: None,
                    expected: "a mapping of field paths to definitions",
                };
                self.report(value.pos(), kind);
                BTreeMap::new()
            }
            None => {
                self.report(start, missing("fields", None));
                BTreeMap::new()
            }
        };
        Some(Integration {
            slug: slug?,
            fields,
            file: self.file.to_owned(),
        })
    }

    /// The entries of a mapping by key, reporting unknown, duplicate and
    /// non-text keys; the first of duplicates is kept.
    fn keys<'n>(
        &mut self,
        entries: &'n [(Node, Node)],
        field: Option<&str>,
        known: &[&str],
    ) -> BTreeMap<&'n str, (Pos, &'n Node)> {
        let mut seen: BTreeMap<&str, (Pos, &Node)> = BTreeMap::new();
        for (key, value) in entries {
            let Some(name) = key.text() else {
                let kind = LintKind::UnknownKey {
                    key: format!("{key:?}"),
                    field: field.map(str::to_owned),
                };
                self.report(key.pos(), kind);
                continue;
            };
            if !known.contains(&name) {
                let kind = LintKind::UnknownKey {
                    key: name.to_owned(),
                    field: field.map(str::to_owned),
                };
                self.report(key.pos(), kind);
            } else if let Some((first, _)) = seen.get(name) {
                let kind = LintKind::DuplicateKey {
                    key: name.to_owned(),
                    field: field.map(str::to_owned),
                    first_line: first.line,
                };
                self.report(key.pos(), kind);
            } else {
                seen.insert(name, (key.pos(), value));
            }
        }
        seen
    }

    fn slug(&mut self, value: &Node) -> Option<String> {
        let Some(slug) = value.text() else {
            let kind = LintKind::BadValue {
                key: "integration",
                field: None,
                expected: "the integration's slug",
            };
            self.report(value.pos(), kind);
            return None;
        };
        let valid = slug.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            let kind = LintKind::BadSlug {
                slug: slug.to_owned(),
            };
            self.report(value.pos(), kind);
            return None;
        }
        let stem = self.file.file_stem().and_then(|s| s.to_str());
        if stem != Some(slug) {
            let kind = LintKind::IntegrationMismatch {
                declared: slug.to_owned(),
                file_stem: stem.unwrap_or_default().to_owned(),
            };
            self.report(value.pos(), kind);
        }
        Some(slug.to_owned())
    }

    fn fields(&mut self, entries: &[(Node, Node)]) -> BTreeMap<String, FieldDef> {
        let mut fields = BTreeMap::new();
        let mut lines: BTreeMap<String, Pos> = BTreeMap::new();
        for (key, value) in entries {
            let Some(path) = key.text() else {
                let kind = LintKind::MalformedPath {
                    path: String::new(),
                    reason: PathError::Empty,
                };
                self.report(key.pos(), kind);
                continue;
            };
            if let Some(first) = lines.get(path) {
                let kind = LintKind::DuplicateField {
                    path: path.to_owned(),
                    first_line: first.line,
                };
                self.report(key.pos(), kind);
                continue;
            }
            lines.insert(path.to_owned(), key.pos());
            if let Err(reason) = path::parse(path) {
                let kind = LintKind::MalformedPath {
                    path: path.to_owned(),
                    reason,
                };
                self.report(key.pos(), kind);
                continue;
            }
            if let Some(def) = self.definition(path, key.pos(), value) {
                fields.insert(path.to_owned(), def);
            }
        }
        self.shapes(&fields, &lines);
        fields
    }

    fn definition(&mut self, field: &str, at: Pos, value: &Node) -> Option<FieldDef> {
        let Node::Mapping { entries, .. } = value else {
            let what = format!("field `{field}`");
            self.report(value.pos(), LintKind::NotAMapping { what });
            return None;
        };
        let keys = self.keys(entries, Some(field), &FIELD_KEYS);
        for key in REQUIRED_KEYS {
            if !keys.contains_key(key) {
                self.report(at, missing(key, Some(field)));
            }
        }
        let display_name = self.text(&keys, field, "display_name");
        let description = self.text(&keys, field, "description");
        let r#type = keys
            .get("type")
            .and_then(|&(_, node)| self.field_type(field, node));
        let nullable = match keys.get("nullable") {
            None => Some(false),
            Some((_, node)) => {
                let flag = node.boolean();
                if flag.is_none() {
                    self.report(
                        node.pos(),
                        bad_value("nullable", field, "`true` or `false`"),
                    );
                }
                flag
            }
        };
        let notes = self.text(&keys, field, "notes");
        let unit = self.text(&keys, field, "unit");
        let currency = self.text(&keys, field, "currency");
        let calculation = self.text(&keys, field, "calculation");
        Some(FieldDef {
            display_name: display_name?,
            description: description?,
            r#type: r#type?,
            nullable: nullable?,
            notes,
            unit,
            currency,
            calculation,
        })
    }

    /// The text under `key`, if present and usable: not null, a mapping or
    /// blank, and not a placeholder.
    fn text(
        &mut self,
        keys: &BTreeMap<&str, (Pos, &Node)>,
        field: &str,
        key: &'static str,
    ) -> Option<String> {
        let (_, node) = keys.get(key)?;
        let text = node.text().map(str::trim).filter(|t| !t.is_empty());
        let Some(text) = text else {
            self.report(node.pos(), bad_value(key, field, "non-empty text"));
            return None;
        };
        if let Some(hidden) = crate::text::find_hidden(text, crate::text::Lines::Multi) {
            let kind = LintKind::HiddenText {
                key,
                field: field.to_owned(),
                codepoint: u32::from(hidden.ch),
            };
            self.report(node.pos(), kind);
            return None;
        }
        if text.starts_with(PLACEHOLDER) {
            let kind = LintKind::Placeholder {
                key,
                field: field.to_owned(),
            };
            self.report(node.pos(), kind);
            return None;
        }
        Some(text.to_owned())
    }

    fn field_type(&mut self, field: &str, node: &Node) -> Option<FieldType> {
        let Some(name) = node.text() else {
            self.report(node.pos(), bad_value("type", field, "a type name"));
            return None;
        };
        let found = FieldType::from_name(name);
        if found.is_none() {
            let kind = LintKind::BadType {
                field: field.to_owned(),
                found: name.to_owned(),
                suggestion: suggest_type(name),
            };
            self.report(node.pos(), kind);
        }
        found
    }

    /// Nesting must agree with the registered types: `a.b` and `a.*.b` need
    /// `a` to be an object, `a[].b` needs it to be a list, never both. The
    /// first registered prefix that disagrees is reported.
    fn shapes(&mut self, fields: &BTreeMap<String, FieldDef>, lines: &BTreeMap<String, Pos>) {
        // Prefix -> (has keyed children, has list children, first child's position).
        let mut kinds: BTreeMap<String, (bool, bool, Pos)> = BTreeMap::new();
        for path in fields.keys() {
            let Ok(segments) = path::parse(path) else {
                continue;
            };
            let at = lines
                .get(path)
                .copied()
                .unwrap_or(Pos { line: 1, column: 1 });
            let mut prefix = String::new();
            let mut conflict = None;
            for segment in &segments {
                if !prefix.is_empty() {
                    let entry = kinds.entry(prefix.clone()).or_insert((false, false, at));
                    let needs = match segment {
                        Segment::Items => FieldType::Array,
                        _ => FieldType::Object,
                    };
                    match needs {
                        FieldType::Array => entry.1 = true,
                        _ => entry.0 = true,
                    }
                    let parent_type = fields.get(&prefix).map(|d| d.r#type);
                    if let Some(parent_type) = parent_type.filter(|&t| t != needs) {
                        conflict.get_or_insert(LintKind::ParentType {
                            path: path.clone(),
                            parent: prefix.clone(),
                            parent_type,
                            needs,
                        });
                    }
                }
                prefix = path::join(&prefix, segment);
            }
            if let Some(kind) = conflict {
                self.report(at, kind);
            }
        }
        for (parent, (keyed, listed, at)) in kinds {
            if keyed && listed {
                self.report(at, LintKind::MixedChildren { parent });
            }
        }
    }
}

fn missing(key: &'static str, field: Option<&str>) -> LintKind {
    LintKind::MissingKey {
        key,
        field: field.map(str::to_owned),
    }
}

fn bad_value(key: &'static str, field: &str, expected: &'static str) -> LintKind {
    LintKind::BadValue {
        key,
        field: Some(field.to_owned()),
        expected,
    }
}

/// The type probably meant by a name from another language or schema.
fn suggest_type(name: &str) -> Option<FieldType> {
    let lower = name.to_ascii_lowercase();
    if let Some(t) = FieldType::from_name(&lower) {
        return Some(t);
    }
    Some(match lower.as_str() {
        "str" | "text" | "date" | "datetime" | "timestamp" => FieldType::String,
        "int" | "integer64" | "long" | "i64" | "u64" => FieldType::Integer,
        "float" | "double" | "decimal" | "f64" | "money" => FieldType::Number,
        "bool" => FieldType::Boolean,
        "dict" | "map" | "mapping" | "record" => FieldType::Object,
        "list" | "sequence" | "seq" | "vec" => FieldType::Array,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

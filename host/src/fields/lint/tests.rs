use std::path::Path;

use super::*;
use crate::fields::testutil::fields_dir;

fn parse(file: &str, text: &str) -> Vec<LintError> {
    match parse_text(Path::new(file), text) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
}

fn field(name: &str) -> Option<String> {
    Some(name.to_owned())
}

/// `(line, column, kind)` of each error.
type Want = Vec<(usize, usize, LintKind)>;

#[test]
fn the_repository_registry_lints_clean() {
    let errors = lint(&fields_dir());
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown, Vec::<String>::new());
}

#[test]
fn every_problem_is_reported_with_its_line_and_column() {
    let cases: Vec<(&str, &str, &str, Want)> = vec![
        (
            "a valid file",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    display_name: A\n    description: The a.\n    type: string\n",
            vec![],
        ),
        (
            "unknown keys at the top and in a field",
            "x.yaml",
            "integration: x\nversion: 2\nfields:\n  a:\n    display_name: A\n    description: d\n    type: string\n    units: cents\n",
            vec![
                (
                    2,
                    1,
                    LintKind::UnknownKey {
                        key: "version".into(),
                        field: None,
                    },
                ),
                (
                    8,
                    5,
                    LintKind::UnknownKey {
                        key: "units".into(),
                        field: field("a"),
                    },
                ),
            ],
        ),
        (
            "missing required keys point at the field",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    type: string\n  b:\n    display_name: B\n    description: d\n",
            vec![
                (
                    3,
                    3,
                    LintKind::MissingKey {
                        key: "display_name",
                        field: field("a"),
                    },
                ),
                (
                    3,
                    3,
                    LintKind::MissingKey {
                        key: "description",
                        field: field("a"),
                    },
                ),
                (
                    5,
                    3,
                    LintKind::MissingKey {
                        key: "type",
                        field: field("b"),
                    },
                ),
            ],
        ),
        (
            "missing top-level keys",
            "x.yaml",
            "# nothing yet\n",
            vec![
                (
                    1,
                    1,
                    LintKind::MissingKey {
                        key: "integration",
                        field: None,
                    },
                ),
                (
                    1,
                    1,
                    LintKind::MissingKey {
                        key: "fields",
                        field: None,
                    },
                ),
            ],
        ),
        (
            "bad type names, with a suggestion when one is likely",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    display_name: A\n    description: d\n    type: int\n  b:\n    display_name: B\n    description: d\n    type: money-ish\n",
            vec![
                (
                    6,
                    11,
                    LintKind::BadType {
                        field: "a".into(),
                        found: "int".into(),
                        suggestion: Some(FieldType::Integer),
                    },
                ),
                (
                    10,
                    11,
                    LintKind::BadType {
                        field: "b".into(),
                        found: "money-ish".into(),
                        suggestion: None,
                    },
                ),
            ],
        ),
        (
            "integration not matching the file name",
            "stripe.yaml",
            "integration: strip\nfields: {}\n",
            vec![(
                1,
                14,
                LintKind::IntegrationMismatch {
                    declared: "strip".into(),
                    file_stem: "stripe".into(),
                },
            )],
        ),
        (
            "an integration that is not a slug",
            "Stripe.yaml",
            "integration: Stripe\nfields: {}\n",
            vec![(
                1,
                14,
                LintKind::BadSlug {
                    slug: "Stripe".into(),
                },
            )],
        ),
        (
            "duplicate field paths and duplicate keys",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    display_name: A\n    description: d\n    type: string\n    type: integer\n  a:\n    display_name: A2\n    description: d\n    type: string\n",
            vec![
                (
                    7,
                    5,
                    LintKind::DuplicateKey {
                        key: "type".into(),
                        field: field("a"),
                        first_line: 6,
                    },
                ),
                (
                    8,
                    3,
                    LintKind::DuplicateField {
                        path: "a".into(),
                        first_line: 3,
                    },
                ),
            ],
        ),
        (
            "malformed paths",
            "x.yaml",
            "integration: x\nfields:\n  stages[0].label:\n    display_name: S\n    description: d\n    type: string\n  by_currency..gross:\n    display_name: G\n    description: d\n    type: number\n  gross_*:\n    display_name: G\n    description: d\n    type: number\n",
            vec![
                (
                    3,
                    3,
                    LintKind::MalformedPath {
                        path: "stages[0].label".into(),
                        reason: PathError::Index,
                    },
                ),
                (
                    7,
                    3,
                    LintKind::MalformedPath {
                        path: "by_currency..gross".into(),
                        reason: PathError::EmptySegment,
                    },
                ),
                (
                    11,
                    3,
                    LintKind::MalformedPath {
                        path: "gross_*".into(),
                        reason: PathError::PartialWildcard,
                    },
                ),
            ],
        ),
        (
            "values of the wrong kind",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    display_name: A\n    description:\n    type: string\n    nullable: yes\n  b:\n    display_name: [B]\n    description: d\n    type: string\n",
            vec![
                (
                    5,
                    16,
                    LintKind::BadValue {
                        key: "description",
                        field: field("a"),
                        expected: "non-empty text",
                    },
                ),
                (
                    7,
                    15,
                    LintKind::BadValue {
                        key: "nullable",
                        field: field("a"),
                        expected: "`true` or `false`",
                    },
                ),
                (
                    9,
                    19,
                    LintKind::BadValue {
                        key: "display_name",
                        field: field("b"),
                        expected: "non-empty text",
                    },
                ),
            ],
        ),
        (
            "a quoted boolean is text, not a boolean",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    display_name: A\n    description: d\n    type: string\n    nullable: \"false\"\n",
            vec![(
                7,
                15,
                LintKind::BadValue {
                    key: "nullable",
                    field: field("a"),
                    expected: "`true` or `false`",
                },
            )],
        ),
        (
            "a definition that is not a mapping",
            "x.yaml",
            "integration: x\nfields:\n  a: string\n",
            vec![(
                3,
                6,
                LintKind::NotAMapping {
                    what: "field `a`".into(),
                },
            )],
        ),
        (
            "a file that is not a mapping",
            "x.yaml",
            "- integration: x\n",
            vec![(
                1,
                1,
                LintKind::NotAMapping {
                    what: "the file".into(),
                },
            )],
        ),
        (
            "fields that is not a mapping",
            "x.yaml",
            "integration: x\nfields:\n  - a\n",
            vec![(
                3,
                3,
                LintKind::BadValue {
                    key: "fields",
                    field: None,
                    expected: "a mapping of field paths to definitions",
                },
            )],
        ),
        (
            "placeholders left from a proposal",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    display_name: \"TODO: A\"\n    description: \"TODO: what a means in this business\"\n    type: string\n",
            vec![
                (
                    4,
                    19,
                    LintKind::Placeholder {
                        key: "display_name",
                        field: "a".into(),
                    },
                ),
                (
                    5,
                    18,
                    LintKind::Placeholder {
                        key: "description",
                        field: "a".into(),
                    },
                ),
            ],
        ),
        (
            "hidden text an agent would read and a reviewer would not see",
            "x.yaml",
            "integration: x\nfields:\n  a:\n    display_name: \"A\\u202E\"\n    description: \"net\\U000E0049\\U000E0047\"\n    type: string\n",
            vec![
                (
                    4,
                    19,
                    LintKind::HiddenText {
                        key: "display_name",
                        field: "a".into(),
                        codepoint: 0x202E,
                    },
                ),
                (
                    5,
                    18,
                    LintKind::HiddenText {
                        key: "description",
                        field: "a".into(),
                        codepoint: 0xE0049,
                    },
                ),
            ],
        ),
        (
            "nesting that contradicts the parent's type",
            "x.yaml",
            "integration: x\nfields:\n  stages:\n    display_name: S\n    description: d\n    type: object\n  stages[].label:\n    display_name: L\n    description: d\n    type: string\n  name:\n    display_name: N\n    description: d\n    type: string\n  name.first:\n    display_name: F\n    description: d\n    type: string\n",
            vec![
                (
                    7,
                    3,
                    LintKind::ParentType {
                        path: "stages[].label".into(),
                        parent: "stages".into(),
                        parent_type: FieldType::Object,
                        needs: FieldType::Array,
                    },
                ),
                (
                    15,
                    3,
                    LintKind::ParentType {
                        path: "name.first".into(),
                        parent: "name".into(),
                        parent_type: FieldType::String,
                        needs: FieldType::Object,
                    },
                ),
            ],
        ),
        (
            "object fields and list items under one prefix",
            "x.yaml",
            "integration: x\nfields:\n  a.b:\n    display_name: B\n    description: d\n    type: string\n  a[].c:\n    display_name: C\n    description: d\n    type: string\n",
            vec![(3, 3, LintKind::MixedChildren { parent: "a".into() })],
        ),
        (
            "YAML syntax errors",
            "x.yaml",
            "integration: x\nfields:\n  a: [unclosed\n",
            vec![],
        ),
        (
            "aliases",
            "x.yaml",
            "integration: x\nfields:\n  a: &def\n    display_name: A\n    description: d\n    type: string\n  b: *def\n",
            vec![(
                3,
                6,
                LintKind::Unsupported {
                    feature: "anchors and aliases",
                },
            )],
        ),
    ];
    for (name, file, text, want) in cases {
        let errors = parse(file, text);
        if name == "YAML syntax errors" {
            assert!(
                matches!(
                    errors.as_slice(),
                    [LintError {
                        line: Some(_),
                        column: Some(_),
                        kind: LintKind::Syntax { .. },
                        ..
                    }]
                ),
                "{name}: {errors:#?}"
            );
            continue;
        }
        let got: Want = errors
            .into_iter()
            .map(|e| (e.line.unwrap_or(0), e.column.unwrap_or(0), e.kind))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn errors_display_as_file_line_column_message() {
    let errors = parse("fields/x.yaml", "integration: y\nfields: {}\n");
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["fields/x.yaml:1:14: `integration: y` does not match the file name (expected `x`)"]
    );
    let unknown = LintError {
        file: "fields/x.yaml".into(),
        line: Some(8),
        column: Some(5),
        kind: LintKind::UnknownKey {
            key: "units".into(),
            field: field("gross"),
        },
    };
    assert_eq!(
        unknown.to_string(),
        "fields/x.yaml:8:5: unknown key `units` in field `gross`; allowed: display_name, description, type, nullable, notes, unit, currency, calculation"
    );
    let whole = LintError {
        file: "fields/x.yml".into(),
        line: None,
        column: None,
        kind: LintKind::WrongExtension,
    };
    assert_eq!(
        whole.to_string(),
        "fields/x.yml: registry files end in `.yaml`; this file is not loaded"
    );
}

#[test]
fn a_folder_reports_bad_files_and_keeps_good_ones() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        fields_dir().join("stripe.yaml"),
        dir.path().join("stripe.yaml"),
    )?;
    std::fs::write(
        dir.path().join("broken.yaml"),
        "integration: broken\nfields:\n  a:\n    type: strin\n",
    )?;
    std::fs::write(dir.path().join("old.yml"), "integration: old\nfields: {}\n")?;
    std::fs::write(dir.path().join(".stripe.yaml.swp"), "not yaml: [")?;
    std::fs::write(dir.path().join("README.md"), "# fields\n")?;

    let (registry, errors) = crate::fields::Registry::load(dir.path());
    let slugs: Vec<_> = registry.integrations().map(|i| i.slug.as_str()).collect();
    assert_eq!(slugs, ["stripe"]);
    let got: Vec<_> = errors
        .iter()
        .map(|e| {
            (
                e.file.file_name().and_then(|n| n.to_str()),
                e.line,
                e.kind.clone(),
            )
        })
        .collect();
    let want = vec![
        (Some("old.yml"), None, LintKind::WrongExtension),
        (
            Some("broken.yaml"),
            Some(3),
            LintKind::MissingKey {
                key: "display_name",
                field: field("a"),
            },
        ),
        (
            Some("broken.yaml"),
            Some(3),
            LintKind::MissingKey {
                key: "description",
                field: field("a"),
            },
        ),
        (
            Some("broken.yaml"),
            Some(4),
            LintKind::BadType {
                field: "a".into(),
                found: "strin".into(),
                suggestion: None,
            },
        ),
    ];
    assert_eq!(got, want);
    assert_eq!(lint(dir.path()), errors);

    let missing = lint(&dir.path().join("nowhere"));
    assert!(matches!(
        missing.as_slice(),
        [LintError {
            line: None,
            kind: LintKind::Io { .. },
            ..
        }]
    ));
    Ok(())
}

#[test]
fn oversized_files_are_refused_before_parsing() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let big = dir.path().join("big.yaml");
    let padding = "# padding\n".repeat(usize::try_from(MAX_FILE_BYTES / 10 + 1).unwrap_or(0));
    std::fs::write(&big, format!("integration: big\nfields: {{}}\n{padding}"))?;
    let errors = lint(dir.path());
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].kind,
        LintKind::TooLarge {
            limit: MAX_FILE_BYTES
        }
    );
    Ok(())
}

#[test]
fn nullable_defaults_to_false_and_text_is_trimmed() {
    let text = "integration: x\nfields:\n  a:\n    display_name: A\n    description: >-\n      Folded\n      text.\n    type: number\n    unit: cents\n";
    let Ok(x) = parse_text(Path::new("x.yaml"), text) else {
        panic!("does not parse");
    };
    let a = x.fields.get("a");
    assert_eq!(a.map(|d| d.nullable), Some(false));
    assert_eq!(a.map(|d| d.description.as_str()), Some("Folded text."));
    assert_eq!(a.and_then(|d| d.unit.as_deref()), Some("cents"));
    assert_eq!(a.and_then(|d| d.notes.as_deref()), None);
}

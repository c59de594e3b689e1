//! The review as the comment an admin reads on the pull request (Markdown),
//! or as JSON for other tools.

use std::fmt::Write;

use super::{Check, Finding, Review, ToolReview, ToolStatus};

/// First line of every review comment: the workflow finds its own comment
/// by it and updates it instead of adding another.
pub const MARKER: &str = "<!-- agent-gateway-qa -->";

/// The review as Markdown.
pub fn markdown(review: &Review) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{MARKER}");
    let violations: Vec<&Finding> = review.findings().collect();
    if review.passed {
        let _ = writeln!(out, "## ✅ Passed Automated QA\n");
    } else {
        let _ = writeln!(out, "## 🛑 QA FAILED\n");
        let _ = writeln!(
            out,
            "{} violation{} to fix; push again and this comment is updated.\n",
            violations.len(),
            if violations.len() == 1 { "" } else { "s" }
        );
        for tool in &review.tools {
            if tool.findings.is_empty() {
                continue;
            }
            let _ = writeln!(out, "### `{}` ({})\n", tool.name, tool.dir.display());
            for f in &tool.findings {
                finding_line(&mut out, f);
            }
            out.push('\n');
        }
        for file in &review.field_files {
            if file.findings.is_empty() {
                continue;
            }
            let _ = writeln!(out, "### Field file `{}`\n", file.file.display());
            for f in &file.findings {
                finding_line(&mut out, f);
            }
            out.push('\n');
        }
    }
    if review.tools.is_empty() && review.field_files.is_empty() {
        let _ = writeln!(out, "No tool folder or field file changed.\n");
    }
    if !review.tools.is_empty() || !review.field_files.is_empty() {
        let _ = writeln!(out, "### Migration summary (for the admin)\n");
        for tool in &review.tools {
            migration(&mut out, tool);
        }
        for file in &review.field_files {
            let _ = writeln!(
                out,
                "- Field file `{}`: {} field definition{}{}",
                file.file.display(),
                file.fields,
                if file.fields == 1 { "" } else { "s" },
                if file.findings.is_empty() {
                    ", lints clean"
                } else {
                    ", does not lint"
                }
            );
        }
        out.push('\n');
    }
    let checks = [
        (Check::Safety, "safety"),
        (Check::Security, "security"),
        (Check::Quality, "quality"),
        (Check::Tests, "tests"),
        (Check::OutputDesign, "output design"),
        (Check::Pairing, "pairing"),
        (Check::Fields, "fields"),
    ];
    let summary: Vec<String> = checks
        .iter()
        .map(|(check, name)| {
            let n = violations
                .iter()
                .filter(|f| f.code.check() == *check)
                .count();
            if n == 0 {
                format!("{name} ✓")
            } else {
                format!("{name} ✗{n}")
            }
        })
        .collect();
    let _ = writeln!(out, "<sub>Checks: {}.", summary.join(" · "));
    if let Some(base) = &review.base {
        let _ = write!(out, " Compared with {}.", &base[..base.len().min(12)]);
    }
    let _ = writeln!(out, " Deterministic review by `gateway qa`.</sub>");
    out
}

fn finding_line(out: &mut String, f: &Finding) {
    let place = match f.line {
        Some(line) => format!("{}:{line}", f.file.display()),
        None => f.file.display().to_string(),
    };
    let _ = writeln!(
        out,
        "- **{}** `{}`: {}",
        f.code.as_str(),
        place,
        one_line(&f.message)
    );
}

fn migration(out: &mut String, tool: &ToolReview) {
    let status = match tool.status {
        ToolStatus::Added => "new tool",
        ToolStatus::Changed => "changed",
        ToolStatus::Removed => "removed",
    };
    let _ = writeln!(
        out,
        "#### `{}`: {status} ({})\n",
        tool.name,
        tool.dir.display()
    );
    if !tool.approved_writes.is_empty() {
        let _ = writeln!(
            out,
            "⚠️ Writes upstream, approved in the manifest: {}. Confirm the approver before merging.\n",
            tool.approved_writes
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if tool.changes.is_empty() {
        let _ = writeln!(out, "No change in what the tool may do.\n");
    } else {
        let _ = writeln!(out, "| grant | before | after |\n|---|---|---|");
        for c in &tool.changes {
            let cell = |v: &Option<String>| match v {
                Some(v) => format!("`{}`", one_line(v).replace('|', "\\|")),
                None => "—".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                c.aspect,
                cell(&c.before),
                cell(&c.after)
            );
        }
        out.push('\n');
    }
    if !tool.secrets.is_empty() && tool.status != ToolStatus::Removed {
        let vars: Vec<String> = tool.secrets.iter().map(|s| format!("\"{s}\"")).collect();
        let _ = writeln!(
            out,
            "Provision on the gateway: {}; grant them in gateway.toml: \
             `[tools.{}] secrets = [{}]`.\n",
            tool.secrets
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            tool.name,
            vars.join(", ")
        );
    }
    if !tool.cases.is_empty() {
        let passed = tool.cases.iter().filter(|c| c.passed).count();
        let upstream: u64 = tool.cases.iter().map(|c| c.upstream_bytes).sum();
        let output: usize = tool.cases.iter().map(|c| c.output_bytes).sum();
        let ratio = if upstream > 0 {
            format!(
                " ({:.0}% of upstream)",
                output as f64 * 100.0 / upstream as f64
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "Cases: {passed}/{} passed; {output} bytes returned from {upstream} upstream bytes{ratio}.\n",
            tool.cases.len()
        );
    }
    for d in &tool.drift {
        let _ = writeln!(
            out,
            "Field drift in case {:?}: not in the registry: {}; registered but absent: {}.\n",
            d.case,
            list(&d.new_fields),
            list(&d.removed_fields)
        );
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Text for one Markdown line: newlines folded, control characters shown.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::super::{Code, FieldFileReview};
    use super::*;

    fn tool(findings: Vec<Finding>) -> ToolReview {
        ToolReview {
            name: "churn_report".into(),
            dir: PathBuf::from("local-workspace/.claude/skills/churn_report"),
            status: ToolStatus::Added,
            findings,
            changes: vec![],
            secrets: BTreeSet::from(["STRIPE_API_KEY".to_owned()]),
            approved_writes: vec![],
            cases: vec![],
            drift: vec![],
        }
    }

    #[test]
    fn a_failed_review_starts_with_the_marker_and_lists_each_violation() {
        let finding = Finding {
            code: Code::Credential,
            file: PathBuf::from(
                "local-workspace/.claude/skills/churn_report/scripts/churn_report.py",
            ),
            line: Some(7),
            message: "Stripe live secret key\nwritten".into(),
        };
        let review = Review {
            passed: false,
            base: Some("0123456789abcdef0123".into()),
            tools: vec![tool(vec![finding])],
            field_files: vec![FieldFileReview {
                file: PathBuf::from("local-workspace/fields/stripe.yaml"),
                fields: 3,
                findings: vec![],
            }],
        };
        let text = markdown(&review);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], MARKER);
        assert_eq!(lines[1], "## 🛑 QA FAILED");
        assert!(lines.contains(
            &"- **security/credential** `local-workspace/.claude/skills/churn_report/scripts/churn_report.py:7`: Stripe live secret key written"
        ));
    }

    #[test]
    fn a_passed_review_has_the_migration_summary() {
        let review = Review {
            passed: true,
            base: None,
            tools: vec![tool(vec![])],
            field_files: vec![],
        };
        let text = markdown(&review);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "## ✅ Passed Automated QA");
        assert!(lines.contains(&"### Migration summary (for the admin)"));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Provision on the gateway: `STRIPE_API_KEY`"))
        );
    }
}

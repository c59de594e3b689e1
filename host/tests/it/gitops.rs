//! The GitOps commands on real git repositories: `gateway qa` reviews what a
//! branch changed (typed findings with file and line, the capability diff),
//! and `gateway promote` turns skills into served tool folders, once.

use std::path::{Path, PathBuf};
use std::process::Command;

use gateway::build::Language;
use gateway::build::scaffold::new_tool;
use gateway::promote::{FieldsChange, PromoteError, ToolChange};
use gateway::qa::capability::Change;
use gateway::qa::{Code, Review, ToolStatus};
use tempfile::TempDir;

use crate::harness::persistent_settings;

/// Builds share one content-addressed cache; one review or promotion at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SKILLS: &str = "local-workspace/.claude/skills";

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository whose `main` has one commit, and a skill scaffolded (not
/// committed) in the skills folder.
fn repo_with_skill(name: &str) -> (TempDir, PathBuf) {
    let repo = tempfile::tempdir().expect("tempdir");
    git(repo.path(), &["init", "-q", "-b", "main"]);
    git(repo.path(), &["config", "user.email", "qa@example.com"]);
    git(repo.path(), &["config", "user.name", "QA test"]);
    std::fs::write(repo.path().join("README.md"), "# org gateway\n").expect("write");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "start"]);
    let skills = repo.path().join(SKILLS);
    std::fs::create_dir_all(&skills).expect("mkdir");
    let dir = new_tool(&skills, name, Language::Python).expect("scaffold");
    (repo, dir)
}

async fn review(repo: &Path, base: &str) -> Review {
    let _serial = SERIAL.lock().await;
    gateway::qa::review(
        gateway::qa::Options {
            repo: repo.to_owned(),
            base: Some(base.to_owned()),
            paths: vec![],
            settings: persistent_settings(),
        },
        &mut |_| {},
    )
    .await
    .expect("review runs")
}

fn rel(name: &str, file: &str) -> PathBuf {
    Path::new(SKILLS).join(name).join(file)
}

#[tokio::test]
async fn a_new_skill_passes_and_the_admin_sees_what_it_may_do() {
    let (repo, _) = repo_with_skill("item_report");
    let review = review(repo.path(), "main").await;
    assert!(review.passed, "{:#?}", review.tools);
    let [tool] = &review.tools[..] else {
        panic!("one tool: {:#?}", review.tools)
    };
    assert_eq!(
        (tool.name.as_str(), tool.status, &tool.dir),
        (
            "item_report",
            ToolStatus::Added,
            &Path::new(SKILLS).join("item_report")
        )
    );
    assert!(tool.changes.contains(&Change {
        aspect: "http".into(),
        before: None,
        after: Some("https://api.example.com/v1/items/ GET,HEAD".into()),
    }));
    let hash = tool
        .changes
        .iter()
        .find(|c| c.aspect == "definition_sha256")
        .and_then(|c| c.after.clone());
    assert_eq!(hash.map(|h| h.len()), Some(64));
    assert_eq!(tool.cases.iter().filter(|c| c.passed).count(), 3);
}

#[tokio::test]
async fn a_write_without_approval_fails_safety_at_its_line() {
    let (repo, dir) = repo_with_skill("item_writer");
    let manifest = std::fs::read_to_string(dir.join("tool.toml")).expect("read");
    let manifest = manifest.replace(
        "url = \"${config.api_base}/v1/items/\"\n",
        "url = \"${config.api_base}/v1/items/\"\nmethods = [\"POST\"]\n",
    );
    std::fs::write(dir.join("tool.toml"), &manifest).expect("write");
    let line = manifest
        .lines()
        .position(|l| l.starts_with("methods"))
        .map(|n| n + 1);

    let review = review(repo.path(), "main").await;
    assert!(!review.passed);
    let found: Vec<_> = review
        .findings()
        .map(|f| (f.code, f.file.clone(), f.line))
        .collect();
    assert_eq!(
        found,
        vec![(
            Code::UnapprovedMethod,
            rel("item_writer", "tool.toml"),
            line
        )]
    );
}

#[tokio::test]
async fn code_that_posts_without_a_grant_fails_safety() {
    let (repo, dir) = repo_with_skill("item_poster");
    let script = dir.join("scripts/item_poster.py");
    let text = std::fs::read_to_string(&script).expect("read");
    let text = text.replace(
        "    resp.raise_for_status()\n",
        "    resp.raise_for_status()\n    http.post(f\"{base}/v1/items/{item_id}/views\", json={})\n",
    );
    std::fs::write(&script, &text).expect("write");
    let line = text
        .lines()
        .position(|l| l.contains("http.post"))
        .map(|n| n + 1);

    let review = review(repo.path(), "main").await;
    let safety: Vec<_> = review
        .findings()
        .filter(|f| f.code == Code::MutatingCall)
        .map(|f| (f.file.clone(), f.line))
        .collect();
    assert_eq!(
        safety,
        vec![(rel("item_poster", "scripts/item_poster.py"), line)]
    );
    assert!(!review.passed);
}

#[tokio::test]
async fn a_hard_coded_key_fails_security_wherever_it_is() {
    let (repo, dir) = repo_with_skill("item_keyed");
    let script = dir.join("scripts/item_keyed.py");
    let text = std::fs::read_to_string(&script).expect("read");
    let text = text.replace(
        "@tool\n",
        "API_KEY = \"sk_live_51HqLyjWDarjtT1zdp7dcXbsLZ8kq\"\n\n\n@tool\n",
    );
    std::fs::write(&script, &text).expect("write");
    let line = text
        .lines()
        .position(|l| l.contains("sk_live_"))
        .map(|n| n + 1);
    // And one in a recorded fixture.
    std::fs::write(
        dir.join("fixtures/leak.json"),
        "{\n  \"token\": \"ghp_R3alL00kingT0kenAbcdefghijklmnop1234\"\n}\n",
    )
    .expect("write");

    let review = review(repo.path(), "main").await;
    let mut found: Vec<_> = review
        .findings()
        .map(|f| (f.code, f.file.clone(), f.line))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                Code::Credential,
                rel("item_keyed", "fixtures/leak.json"),
                Some(2)
            ),
            (
                Code::Credential,
                rel("item_keyed", "scripts/item_keyed.py"),
                line
            ),
        ]
    );
    let text = gateway::qa::report::markdown(&review);
    assert!(
        !text.contains("sk_live_51HqLyjWDarjtT1zdp7dcXbsLZ8kq"),
        "the review never repeats a key"
    );
}

#[tokio::test]
async fn a_changed_skill_shows_the_grants_that_change() {
    let (repo, dir) = repo_with_skill("item_grown");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "skill"]);
    git(repo.path(), &["checkout", "-q", "-b", "operator/alice"]);
    let manifest = std::fs::read_to_string(dir.join("tool.toml")).expect("read");
    std::fs::write(
        dir.join("tool.toml"),
        manifest.replace("requests = 4", "requests = 8"),
    )
    .expect("write");
    git(repo.path(), &["commit", "-q", "-am", "more requests"]);

    let review = review(repo.path(), "main").await;
    assert!(review.passed, "{:#?}", review.tools);
    let [tool] = &review.tools[..] else {
        panic!("one tool: {:#?}", review.tools)
    };
    assert_eq!(tool.status, ToolStatus::Changed);
    let aspects: Vec<(&str, Option<&str>, Option<&str>)> = tool
        .changes
        .iter()
        .filter(|c| c.aspect != "definition_sha256")
        .map(|c| (c.aspect.as_str(), c.before.as_deref(), c.after.as_deref()))
        .collect();
    assert_eq!(aspects, vec![("limits.requests", Some("4"), Some("8"))]);
    let hash = tool
        .changes
        .iter()
        .find(|c| c.aspect == "definition_sha256")
        .expect("the definition hash changes with a limit");
    assert!(hash.before.is_some() && hash.after.is_some() && hash.before != hash.after);
}

fn promote_options(repo: &Path) -> gateway::promote::Options {
    let mut settings = persistent_settings();
    settings.tools_dir = repo.join("tools-wasm");
    settings.fields_dir = repo.join("fields");
    gateway::promote::Options {
        skills: repo.join(SKILLS),
        workspace_fields: repo.join("local-workspace/fields"),
        admin_urls: vec![],
        admin_key: None,
        settings,
    }
}

async fn promote(
    options: &gateway::promote::Options,
) -> Result<gateway::promote::Promotion, PromoteError> {
    let _serial = SERIAL.lock().await;
    gateway::promote::promote(options, &mut |_| {}).await
}

#[tokio::test]
async fn promotion_serves_a_skill_once_and_merges_its_fields() {
    let (repo, dir) = repo_with_skill("item_promoted");
    let fields = repo.path().join("local-workspace/fields");
    std::fs::create_dir_all(&fields).expect("mkdir");
    std::fs::write(
        fields.join("items.yaml"),
        "integration: items\nfields:\n  status:\n    display_name: Status\n    description: Whether the item is sold.\n    type: string\n    nullable: false\n",
    )
    .expect("write");
    let options = promote_options(repo.path());

    let first = promote(&options).await.expect("promotes");
    assert_eq!(
        first.fields.iter().map(|f| &f.change).collect::<Vec<_>>(),
        vec![&FieldsChange::Added]
    );
    let [tool] = &first.tools[..] else {
        panic!("one tool")
    };
    assert_eq!((tool.change, tool.cases_passed), (ToolChange::Added, 3));
    let served = repo.path().join("tools-wasm/item_promoted");
    assert!(served.join("tool.wasm").is_file());
    assert_eq!(
        std::fs::read(served.join("scripts/item_promoted.py")).ok(),
        std::fs::read(dir.join("scripts/item_promoted.py")).ok()
    );
    assert!(repo.path().join("fields/items.yaml").is_file());
    // The staging folders are gone; nothing else appeared.
    let mut entries: Vec<String> = std::fs::read_dir(repo.path().join("tools-wasm"))
        .expect("read")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, vec!["item_promoted"]);

    // Twice on the same tree changes nothing.
    let again = promote(&options).await.expect("promotes");
    assert_eq!(again.tools[0].change, ToolChange::Unchanged);
    assert_eq!(again.fields[0].change, FieldsChange::Unchanged);

    // A changed skill is an update.
    let skill = dir.join("SKILL.md");
    let text = std::fs::read_to_string(&skill).expect("read");
    std::fs::write(&skill, text + "\nReviewed by the data team.\n").expect("write");
    let third = promote(&options).await.expect("promotes");
    assert_eq!(third.tools[0].change, ToolChange::Updated);
}

#[tokio::test]
async fn promotion_never_overwrites_what_it_did_not_write() {
    let (repo, _) = repo_with_skill("item_clash");
    let options = promote_options(repo.path());
    // A hand-written tool of the same name.
    let existing = repo.path().join("tools-wasm/item_clash");
    std::fs::create_dir_all(&existing).expect("mkdir");
    std::fs::write(existing.join("tool.toml"), "name = \"item_clash\"\n").expect("write");
    assert!(matches!(
        promote(&options).await,
        Err(PromoteError::NameTaken { ref name, .. }) if name == "item_clash"
    ));
    assert_eq!(
        std::fs::read_to_string(existing.join("tool.toml"))
            .ok()
            .as_deref(),
        Some("name = \"item_clash\"\n")
    );

    // A field defined differently is an error, not an overwrite.
    std::fs::remove_dir_all(&existing).expect("rm");
    let ws = repo.path().join("local-workspace/fields");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::create_dir_all(repo.path().join("fields")).expect("mkdir");
    let def = |d: &str| {
        format!(
            "integration: items\nfields:\n  status:\n    display_name: Status\n    description: {d}\n    type: string\n    nullable: false\n"
        )
    };
    std::fs::write(ws.join("items.yaml"), def("Sold or not.")).expect("write");
    std::fs::write(
        repo.path().join("fields/items.yaml"),
        def("Lifecycle stage."),
    )
    .expect("write");
    assert!(matches!(
        promote(&options).await,
        Err(PromoteError::FieldConflict { ref field, .. }) if field == "status"
    ));
    assert!(
        !repo.path().join("tools-wasm/item_clash").exists(),
        "nothing promoted past a conflict"
    );
}

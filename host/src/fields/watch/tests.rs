use std::time::{Duration, Instant};

use super::*;
use crate::fields::lint::LintKind;
use crate::fields::testutil::fields_dir;

/// How long a change may take to show: the debounce plus a slow CI machine.
const VISIBLE_WITHIN: Duration = Duration::from_secs(2);

/// Polls `check` until it holds or [`VISIBLE_WITHIN`] passes.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + VISIBLE_WITHIN;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const ZENDESK: &str = "integration: zendesk\nfields:\n  ticket_count:\n    display_name: Open tickets\n    description: Tickets not yet solved.\n    type: integer\n";

/// Writes through a temporary file and a rename, as editors and git do.
fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let temporary = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, dir.join(name))
}

fn slugs(watched: &Watched) -> Vec<String> {
    watched
        .current()
        .integrations()
        .map(|i| i.slug.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_show_up_and_errors_keep_the_last_good_registry() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        fields_dir().join("stripe.yaml"),
        dir.path().join("stripe.yaml"),
    )?;
    let watched = Watched::start(dir.path())?;
    assert_eq!(slugs(&watched), ["stripe"]);
    assert!(watched.errors().is_empty());
    let mut changes = watched.subscribe();

    // A new file: visible, and subscribers hear of it.
    write(dir.path(), "zendesk.yaml", ZENDESK)?;
    tokio::time::timeout(VISIBLE_WITHIN, changes.changed()).await??;
    let announced: Vec<String> = changes
        .borrow_and_update()
        .integrations()
        .map(|i| i.slug.clone())
        .collect();
    assert_eq!(announced, ["stripe", "zendesk"]);
    assert_eq!(slugs(&watched), ["stripe", "zendesk"]);

    // A broken edit: the registry in use stays, the errors are kept, no announcement.
    write(
        dir.path(),
        "zendesk.yaml",
        &ZENDESK.replace("type: integer", "type: int"),
    )?;
    assert!(
        eventually(|| !watched.errors().is_empty()),
        "the broken file was never read"
    );
    let errors = watched.errors();
    assert!(
        matches!(
            errors.as_slice(),
            [LintError {
                line: Some(6),
                kind: LintKind::BadType { .. },
                ..
            }]
        ),
        "{errors:?}"
    );
    assert_eq!(
        watched
            .current()
            .lookup("zendesk", "ticket_count")
            .map(|d| d.r#type),
        Some(crate::fields::FieldType::Integer)
    );
    assert!(!changes.has_changed()?);

    // The fix and a removal land together.
    write(
        dir.path(),
        "zendesk.yaml",
        &ZENDESK.replace("Open tickets", "Unsolved tickets"),
    )?;
    std::fs::remove_file(dir.path().join("stripe.yaml"))?;
    assert!(
        eventually(|| slugs(&watched) == ["zendesk"]
            && watched
                .current()
                .lookup("zendesk", "ticket_count")
                .map(|d| d.display_name.as_str())
                == Some("Unsolved tickets")),
        "now: {:?}",
        slugs(&watched)
    );
    assert!(watched.errors().is_empty());
    assert!(changes.has_changed()?);
    Ok(())
}

#[test]
fn a_manual_reload_says_what_it_did() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let watched = Watched::start(dir.path())?;
    assert!(watched.current().is_empty());
    let changes = watched.subscribe();

    assert_eq!(watched.reload(), Reload::Unchanged);
    std::fs::write(dir.path().join("zendesk.yaml"), ZENDESK)?;
    // The watcher may get there first; either way the registry is then current.
    let outcome = watched.reload();
    assert!(
        matches!(outcome, Reload::Applied | Reload::Unchanged),
        "{outcome:?}"
    );
    assert_eq!(slugs(&watched), ["zendesk"]);
    assert!(changes.has_changed()?);

    std::fs::write(
        dir.path().join("bad.yaml"),
        "integration: good\nfields: {}\n",
    )?;
    match watched.reload() {
        Reload::Rejected(errors) => assert!(matches!(
            errors.as_slice(),
            [LintError {
                kind: LintKind::IntegrationMismatch { .. },
                ..
            }]
        )),
        other => panic!("{other:?}"),
    }
    assert_eq!(slugs(&watched), ["zendesk"]);
    assert_eq!(watched.dir(), dir.path());
    Ok(())
}

#[test]
fn a_folder_that_is_not_there_cannot_be_watched() {
    let missing = std::env::temp_dir().join("fields-watch-test-no-such-folder");
    match Watched::start(&missing) {
        Err(WatchError::Notify { dir, .. }) => assert_eq!(dir, missing),
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_with_errors_at_start_are_left_out_and_kept_as_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("zendesk.yaml"), ZENDESK)?;
    std::fs::write(dir.path().join("broken.yaml"), "integration: [\n")?;
    let watched = Watched::start(dir.path())?;
    assert_eq!(slugs(&watched), ["zendesk"]);
    assert!(matches!(
        watched.errors().as_slice(),
        [LintError {
            kind: LintKind::Syntax { .. },
            ..
        }]
    ));
    Ok(())
}

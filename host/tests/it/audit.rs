//! `gateway audit verify` as an operator runs it, on files the real writer
//! produced.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use gateway::audit::{AuditEntry, AuditLog, Code, HexDigest, Kind, Label, Principal, verify};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

fn verify_cli(file: &Path) -> Output {
    Command::new(BIN)
        .args(["audit", "verify"])
        .arg(file)
        .env_remove("GATEWAY_CONFIG")
        .env_remove("GATEWAY_TOOLS_DIR")
        .output()
        .expect("run gateway")
}

/// An audit file of `calls` calls and one admin change, written by the
/// gateway's own writer.
async fn trail(path: &Path, calls: u64) {
    let log = AuditLog::open(path).expect("open");
    for n in 1..=calls {
        let mut call = AuditEntry::new(
            Kind::Call,
            Label::new(format!("req-{n}")).expect("label"),
            Principal::key("k_3f9a2c1d").expect("key"),
        );
        call.team = Some(Label::new("finance").expect("team"));
        call.tool = Some(Label::new("stripe_revenue").expect("tool"));
        call.component_sha256 = Some(HexDigest::of(b"component"));
        call.duration = Duration::from_micros(1500 + n);
        call.upstream_bytes = 4096;
        call.output_bytes = 128;
        if n == 2 {
            call.outcome = Code::from_static("upstream").expect("code");
        }
        log.record(call);
    }
    let mut change = AuditEntry::new(
        Kind::Admin,
        Label::new("admin-1").expect("label"),
        Principal::parse("key:9f86d081884c").expect("admin fingerprint"),
    );
    change.action = Some(Code::from_static("upload").expect("code"));
    change.tool = Some(Label::new("stripe_revenue").expect("tool"));
    log.record(change);
    log.close().await.expect("close");
    assert_eq!(log.dropped(), 0);
}

#[tokio::test]
async fn verify_accepts_a_trail_and_exits_1_on_an_edited_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    trail(&path, 3).await;

    let out = verify_cli(&path);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let summary = verify(&path).expect("verifies");
    assert_eq!(summary.lines, 4);
    assert_eq!(
        String::from_utf8(out.stdout).expect("utf-8"),
        format!("ok: 4 lines, last {}\n", summary.last_hash.short())
    );

    // Turn the failed call into a success in place, as someone hiding it would.
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut record: serde_json::Value = serde_json::from_str(&lines[1]).expect("json");
    assert_eq!(record["outcome"], "upstream");
    record["outcome"] = "ok".into();
    lines[1] = serde_json::to_string(&record).expect("json");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");

    let out = verify_cli(&path);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(matches!(
        verify(&path),
        Err(gateway::audit::VerifyError::Edited { line: 2, .. })
    ));

    // A missing file is an error too, not an empty trail.
    let out = verify_cli(&dir.path().join("missing.jsonl"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

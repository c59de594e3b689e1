//! The audit trail (docs/audit.md): one JSON line per MCP call and per admin
//! change, each carrying the SHA-256 of the line before it, so an edited,
//! deleted, inserted or reordered line shows when the file is verified.
//!
//! - [`AuditEntry`] is what the gateway records; [`AuditRecord`] is the line
//!   written, the entry plus its place in the chain (`seq`, `prev`).
//! - [`AuditLog`] appends entries from a writer thread of its own, so a call
//!   never waits on the disk; a full queue drops the line and counts it.
//! - [`verify`] checks a file line by line.
//!
//! What a line can hold is fixed by its types ([`fields`]): identifiers,
//! codes, digests, a time and numbers. There is no field, and no type, that
//! could carry a call's arguments or result, a token or a secret, and
//! reading a line back refuses any key the record does not have.

pub mod fields;
mod log;
mod verify;

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

pub use self::fields::{Code, FieldError, HexDigest, Label, Principal, Timestamp};
pub use self::log::{AuditError, AuditLog, AuditOptions, DEFAULT_QUEUE, FsyncPolicy};
pub use self::verify::{VerifyError, VerifySummary, verify};

/// Longest line [`verify`] and [`AuditLog::open`] read, in bytes: a line the
/// gateway writes is well under 2 KiB (every field is bounded).
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// What a line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An MCP tool call (answered, refused or failed).
    Call,
    /// A change through the admin API (upload, rollback, delete, …).
    Admin,
}

/// One event to record: an MCP call or an admin change. Every field is a
/// bounded, checked value (see [`fields`]); nothing here can hold a call's
/// arguments or result, a token or a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When the call or change finished.
    pub time: Timestamp,
    /// The gateway's own id for the request (not the client's JSON-RPC id,
    /// which the client chooses).
    pub request_id: Label,
    /// Call or admin change.
    pub kind: Kind,
    /// Who: `key:<id>`, `sub:<subject>` or `local`.
    pub principal: Principal,
    /// The caller's team, when it has one.
    pub team: Option<Label>,
    /// The tool called or changed, when there is one. Build it with
    /// [`Label::tool`], so a name the caller made up that is not a tool name
    /// is not recorded.
    pub tool: Option<Label>,
    /// For admin changes: `upload`, `rollback`, `delete`, …
    pub action: Option<Code>,
    /// SHA-256 of the tool's definition as served.
    pub definition_sha256: Option<HexDigest>,
    /// SHA-256 of the tool's component.
    pub component_sha256: Option<HexDigest>,
    /// `ok`, or the error code (`upstream`, `invalid_input`, `unknown_tool`,
    /// `rate_limited`, `unauthorized`, …).
    pub outcome: Code,
    /// How long the call or change took.
    pub duration: Duration,
    /// Bytes the tool received from upstreams.
    pub upstream_bytes: u64,
    /// Bytes of the result returned.
    pub output_bytes: u64,
    /// For a call that asked its caller to confirm a write
    /// (docs/confirmations.md): how it was answered (`confirmed`,
    /// `declined`, `cancelled`, `timed_out`, `unsupported`, `failed`, or
    /// `asked` for a 2026-07-28 call answered with `input_required`).
    pub confirmation: Option<Code>,
}

impl AuditEntry {
    /// An entry stamped now, outcome `ok`, without team, tool, action,
    /// digests, duration or bytes: set the fields that apply.
    pub fn new(kind: Kind, request_id: Label, principal: Principal) -> Self {
        Self {
            time: Timestamp::now(),
            request_id,
            kind,
            principal,
            team: None,
            tool: None,
            action: None,
            definition_sha256: None,
            component_sha256: None,
            outcome: Code::OK,
            duration: Duration::ZERO,
            upstream_bytes: 0,
            output_bytes: 0,
            confirmation: None,
        }
    }
}

/// One line of an audit file: an [`AuditEntry`] and its place in the chain.
/// Keys are written in this order, every key every time (`null` when
/// absent), except `confirmation`, which only a call that asked for one
/// has; a line with any other key is refused when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// RFC 3339 UTC with milliseconds: when the call or change finished.
    pub time: Timestamp,
    /// 1 for a file's first line, one more on each line after: a gap shows
    /// deleted lines, where a changed hash alone could not tell a deletion
    /// from an edit.
    pub seq: u64,
    /// The gateway's id for the request.
    pub request_id: Label,
    /// `call` or `admin`.
    pub kind: Kind,
    /// `key:<id>`, `sub:<subject>` or `local`.
    pub principal: Principal,
    /// The caller's team.
    pub team: Option<Label>,
    /// The tool.
    pub tool: Option<Label>,
    /// The admin action.
    pub action: Option<Code>,
    /// SHA-256 of the tool's definition.
    pub definition_sha256: Option<HexDigest>,
    /// SHA-256 of the tool's component.
    pub component_sha256: Option<HexDigest>,
    /// `ok` or an error code.
    pub outcome: Code,
    /// Duration in milliseconds (microsecond resolution).
    #[serde(deserialize_with = "duration_ms")]
    pub duration_ms: f64,
    /// Bytes received from upstreams.
    pub upstream_bytes: u64,
    /// Bytes of the result.
    pub output_bytes: u64,
    /// How a confirmation the call asked for was answered. Written only on
    /// the lines of calls that asked, so other lines are as they always were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Code>,
    /// SHA-256 of the previous line's bytes (without its newline), or
    /// [`HexDigest::ZERO`] on a file's first line.
    pub prev: HexDigest,
}

/// Why a line is not an audit record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// Longer than [`MAX_LINE_BYTES`].
    #[error("line is longer than {max} bytes", max = MAX_LINE_BYTES)]
    TooLong,
    /// Not JSON, or not a record: a missing, extra or malformed field.
    #[error("not an audit record: {0}")]
    NotARecord(#[source] serde_json::Error),
}

impl AuditRecord {
    /// The entry at position `seq` of a file, after the line hashing to `prev`.
    pub fn new(entry: AuditEntry, seq: u64, prev: HexDigest) -> Self {
        // Whole microseconds, so the number written is short and exact.
        let micros = u64::try_from(entry.duration.as_micros()).unwrap_or(u64::MAX);
        Self {
            time: entry.time,
            seq,
            request_id: entry.request_id,
            kind: entry.kind,
            principal: entry.principal,
            team: entry.team,
            tool: entry.tool,
            action: entry.action,
            definition_sha256: entry.definition_sha256,
            component_sha256: entry.component_sha256,
            outcome: entry.outcome,
            duration_ms: micros as f64 / 1000.0,
            upstream_bytes: entry.upstream_bytes,
            output_bytes: entry.output_bytes,
            confirmation: entry.confirmation,
            prev,
        }
    }

    /// Reads one line (without its newline).
    pub fn parse(line: &[u8]) -> Result<Self, LineError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(LineError::TooLong);
        }
        serde_json::from_slice(line).map_err(LineError::NotARecord)
    }

    /// The line as written, without its newline.
    pub fn to_line(&self) -> Vec<u8> {
        // Every field serialises infallibly (strings, integers, a finite
        // float), so this cannot fail; an empty line would fail verification
        // loudly rather than pass.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A duration in milliseconds: finite and not negative.
fn duration_ms<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let ms = f64::deserialize(d)?;
    if ms.is_finite() && ms >= 0.0 {
        Ok(ms)
    } else {
        Err(serde::de::Error::custom(FieldError::BadDuration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(n: u64) -> AuditEntry {
        let mut e = AuditEntry::new(
            Kind::Call,
            Label::new(format!("req-{n}")).expect("label"),
            Principal::key("k_3f9a2c1d").expect("key"),
        );
        e.team = Some(Label::new("finance").expect("team"));
        e.tool = Some(Label::new("stripe_revenue").expect("tool"));
        e.definition_sha256 = Some(HexDigest::of(b"definition"));
        e.component_sha256 = Some(HexDigest::of(b"component"));
        e.duration = Duration::from_micros(12_345);
        e.upstream_bytes = 5000;
        e.output_bytes = 200;
        e
    }

    #[test]
    fn a_line_holds_exactly_the_documented_keys() {
        let record = AuditRecord::new(entry(1), 1, HexDigest::ZERO);
        let line = record.to_line();
        let value: serde_json::Value = serde_json::from_slice(&line).expect("json");
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "time",
            "seq",
            "request_id",
            "kind",
            "principal",
            "team",
            "tool",
            "action",
            "definition_sha256",
            "component_sha256",
            "outcome",
            "duration_ms",
            "upstream_bytes",
            "output_bytes",
            "prev",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(value["duration_ms"], 12.345);
        assert_eq!(value["principal"], "key:k_3f9a2c1d");
        assert_eq!(value["kind"], "call");
        assert_eq!(value["action"], serde_json::Value::Null);
        assert_eq!(value["prev"], "0".repeat(64));
        assert_eq!(AuditRecord::parse(&line).expect("parses"), record);
    }

    #[test]
    fn reading_refuses_extra_keys_and_out_of_shape_values() {
        let line = AuditRecord::new(entry(1), 1, HexDigest::ZERO).to_line();
        let mut value: serde_json::Value = serde_json::from_slice(&line).expect("json");
        let with = |key: &str, v: serde_json::Value| {
            let mut changed = value.clone();
            changed[key] = v;
            AuditRecord::parse(&serde_json::to_vec(&changed).expect("json"))
        };
        for (key, v) in [
            ("arguments", serde_json::json!({"customer": "x"})),
            ("token", serde_json::json!("agw_secret")),
            ("duration_ms", serde_json::json!(-1.0)),
            ("outcome", serde_json::json!("Some free text")),
            ("principal", serde_json::json!("agw_0123")),
            ("time", serde_json::json!("yesterday")),
            ("prev", serde_json::json!("zz")),
        ] {
            assert!(
                matches!(with(key, v), Err(LineError::NotARecord(_))),
                "{key}"
            );
        }
        value
            .as_object_mut()
            .expect("object")
            .remove("team")
            .expect("team");
        // A missing optional key reads as absent.
        let parsed = AuditRecord::parse(&serde_json::to_vec(&value).expect("json")).expect("ok");
        assert_eq!(parsed.team, None);
        assert!(matches!(
            AuditRecord::parse(&vec![b' '; MAX_LINE_BYTES + 1]),
            Err(LineError::TooLong)
        ));
    }
}

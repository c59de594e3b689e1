//! The value types of an audit line. Each is checked when it is built and
//! again when a line is read back, so a line holds only what these types
//! allow: short identifiers, codes, digests, a time and numbers. None of them
//! can carry free text such as a tool's arguments or results, and the ones
//! that name a caller refuse a value shaped like a credential (a gateway key
//! or a JWT), so a caller's secret cannot be logged by mistake.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Why a value cannot go into an audit line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// Empty, where a value is required.
    #[error("{what} is empty")]
    Empty {
        /// Which kind of value.
        what: &'static str,
    },
    /// Longer than the type allows.
    #[error("{what} is {len} bytes, more than {max}")]
    TooLong {
        /// Which kind of value.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The longest accepted.
        max: usize,
    },
    /// A character the type does not allow (shown escaped).
    #[error("{what} holds {found:?}, which it may not")]
    BadChar {
        /// Which kind of value.
        what: &'static str,
        /// The first character refused.
        found: char,
    },
    /// Shaped like a credential: a gateway key (`agw_…`) or a JWT. Audit
    /// lines name callers by key id or token subject, never by the secret.
    #[error("{what} looks like a credential; audit lines never hold one")]
    LooksLikeCredential {
        /// Which kind of value.
        what: &'static str,
    },
    /// A principal that is not `key:<id>`, `sub:<subject>` or `local`.
    #[error("principal must be key:<id>, sub:<subject> or local")]
    BadPrincipal,
    /// Not 64 lowercase hexadecimal digits.
    #[error("not a SHA-256 digest (64 lowercase hex digits)")]
    BadDigest,
    /// Not `YYYY-MM-DDTHH:MM:SS.mmmZ` (a real UTC date and time).
    #[error("not an RFC 3339 UTC time with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)")]
    BadTime,
    /// A duration that is negative, not a number or infinite.
    #[error("duration_ms must be a finite number of milliseconds, at least 0")]
    BadDuration,
}

/// Prefix of the gateway's bearer keys (issue 13: `agw_…`, so secret
/// scanners recognise them). A value starting with it is refused in every
/// audit field: it is a key, not a key id.
pub const KEY_SECRET_PREFIX: &str = "agw_";

/// Whether `value` looks like a credential rather than a name for one.
fn looks_like_credential(value: &str) -> bool {
    let lower_prefix = value
        .get(..KEY_SECRET_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(KEY_SECRET_PREFIX));
    // A JWS compact serialisation: base64url JSON header (`{"` → `eyJ`),
    // payload and signature, dot-separated.
    let jwt = value.starts_with("eyJ") && value.split('.').count() == 3;
    lower_prefix || jwt
}

/// A short identifier: a request id, a team, a tool name. 1 to
/// [`Label::MAX`] bytes of ASCII letters, digits and `_ - . : @ / + =`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Longest label, in bytes.
    pub const MAX: usize = 128;

    /// Checks `value` is a label.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        check_text("label", &value, Self::MAX, |c| {
            c.is_ascii_alphanumeric() || "_-.:@/+=".contains(c)
        })?;
        Ok(Self(value))
    }

    /// `name` as a label if it is a tool name (the manifest's rule), else
    /// `None`. For the `tool` of a call: a name the caller asked for that
    /// is not a tool name (an `unknown_tool` outcome) is not recorded.
    pub fn tool(name: &str) -> Option<Self> {
        crate::manifest::tool_name(name).ok()?;
        Self::new(name).ok()
    }

    /// A fresh request id: 32 hex digits, always a label. The first 16 are
    /// drawn at random once per process, the last 16 count its calls, so
    /// ids are unique across replicas and restarts without asking the
    /// system for randomness on every call (docs/observability.md).
    pub fn request_id() -> Self {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(format!("{prefix:016x}{n:016x}"))
    }

    /// The label's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Label {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::new(value)
    }
}

impl From<Label> for String {
    fn from(label: Label) -> String {
        label.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks length, characters and credential shape of a free-standing value.
fn check_text(
    what: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::Empty { what });
    }
    if value.len() > max {
        return Err(FieldError::TooLong {
            what,
            len: value.len(),
            max,
        });
    }
    if let Some(found) = value.chars().find(|&c| !allowed(c)) {
        return Err(FieldError::BadChar { what, found });
    }
    if looks_like_credential(value) {
        return Err(FieldError::LooksLikeCredential { what });
    }
    Ok(())
}

/// A machine-readable code: an outcome (`ok`, `upstream`, `invalid_input`,
/// `unknown_tool`, `rate_limited`, `unauthorized`, …) or an admin action
/// (`upload`, `rollback`, `delete`, …). 1 to 64 bytes of lowercase ASCII
/// letters, digits and `_`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Code(std::borrow::Cow<'static, str>);

impl Code {
    /// Longest code, in bytes.
    pub const MAX: usize = 64;
    /// The outcome of a call or change that succeeded.
    pub const OK: Code = Code(std::borrow::Cow::Borrowed("ok"));

    /// Checks `value` is a code.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        Self::check(&value)?;
        Ok(Self(std::borrow::Cow::Owned(value)))
    }

    /// A code from a static string, such as `CallError::code()`'s, without
    /// allocating.
    pub fn from_static(value: &'static str) -> Result<Self, FieldError> {
        Self::check(value)?;
        Ok(Self(std::borrow::Cow::Borrowed(value)))
    }

    fn check(value: &str) -> Result<(), FieldError> {
        check_text("code", value, Self::MAX, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        })?;
        if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
            let found = value.chars().next().unwrap_or('_');
            return Err(FieldError::BadChar {
                what: "code",
                found,
            });
        }
        Ok(())
    }

    /// The code's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Code {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::new(value)
    }
}

impl From<Code> for String {
    fn from(code: Code) -> String {
        code.0.into_owned()
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who made a call or a change, as an audit line names them: never the
/// credential itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    /// `key:<id>`: a team key or the admin key, by its id or fingerprint
    /// (1 to 64 ASCII letters, digits, `_` or `-`).
    Key(String),
    /// `sub:<subject>`: an OAuth token's subject claim (1 to 256 bytes,
    /// no control characters or whitespace).
    Subject(String),
    /// `local`: a caller with no credential (stdio, or loopback without
    /// authentication configured).
    Local,
}

impl Principal {
    /// Longest key id, in bytes.
    pub const MAX_KEY_ID: usize = 64;
    /// Longest subject, in bytes.
    pub const MAX_SUBJECT: usize = 256;

    /// `key:<id>`, checked.
    pub fn key(id: impl Into<String>) -> Result<Self, FieldError> {
        let id = id.into();
        check_text("key id", &id, Self::MAX_KEY_ID, |c| {
            c.is_ascii_alphanumeric() || c == '_' || c == '-'
        })?;
        Ok(Self::Key(id))
    }

    /// `sub:<subject>`, checked.
    pub fn subject(subject: impl Into<String>) -> Result<Self, FieldError> {
        let subject = subject.into();
        check_text("subject", &subject, Self::MAX_SUBJECT, |c| {
            !c.is_control() && !c.is_whitespace()
        })?;
        Ok(Self::Subject(subject))
    }

    /// Parses the written form (`key:<id>`, `sub:<subject>`, `local`), as
    /// found in an audit line or an admin key's fingerprint.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        if text == "local" {
            Ok(Self::Local)
        } else if let Some(id) = text.strip_prefix("key:") {
            Self::key(id)
        } else if let Some(subject) = text.strip_prefix("sub:") {
            Self::subject(subject)
        } else {
            Err(FieldError::BadPrincipal)
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(id) => write!(f, "key:{id}"),
            Self::Subject(subject) => write!(f, "sub:{subject}"),
            Self::Local => f.write_str("local"),
        }
    }
}

impl TryFrom<String> for Principal {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::parse(&value)
    }
}

impl From<Principal> for String {
    fn from(principal: Principal) -> String {
        principal.to_string()
    }
}

/// A SHA-256 digest, written as 64 lowercase hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HexDigest(pub [u8; 32]);

impl HexDigest {
    /// All zeros: the `prev` of a file's first line.
    pub const ZERO: HexDigest = HexDigest([0; 32]);

    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Parses 64 lowercase hex digits (the form `runtime` writes its
    /// definition and component digests in).
    pub fn parse(hex: &str) -> Result<Self, FieldError> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return Err(FieldError::BadDigest);
        }
        let nibble = |b: u8| match b {
            b'0'..=b'9' => Ok(b - b'0'),
            b'a'..=b'f' => Ok(b - b'a' + 10),
            _ => Err(FieldError::BadDigest),
        };
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Ok(Self(out))
    }

    /// The first 12 hex digits, for people.
    pub fn short(&self) -> String {
        let mut s = self.to_string();
        s.truncate(12);
        s
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexDigest({self})")
    }
}

impl TryFrom<String> for HexDigest {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::parse(&value)
    }
}

impl From<HexDigest> for String {
    fn from(digest: HexDigest) -> String {
        digest.to_string()
    }
}

/// A UTC time with millisecond precision, written in RFC 3339 as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 1970 to 9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    millis: u64,
}

/// 9999-12-31T23:59:59.999Z, the last time the written form can hold.
const MAX_MILLIS: u64 = 253_402_300_799_999;

impl Timestamp {
    /// Now, from the system clock (1970 if the clock is before it).
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// `time`, truncated to the millisecond and clamped to 1970..=9999.
    pub fn from_system_time(time: SystemTime) -> Self {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let millis = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
        Self {
            millis: millis.min(MAX_MILLIS),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> u64 {
        self.millis
    }

    /// Parses the written form, exactly (no offsets, no other precision).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let b = text.as_bytes();
        let shape = b"dddd-dd-ddTdd:dd:dd.dddZ";
        if b.len() != shape.len()
            || !b.iter().zip(shape).all(|(&c, &s)| match s {
                b'd' => c.is_ascii_digit(),
                _ => c == s,
            })
        {
            return Err(FieldError::BadTime);
        }
        let num = |from: usize, to: usize| {
            b[from..to]
                .iter()
                .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))
        };
        let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
        let (hour, minute, second, milli) = (num(11, 13), num(14, 16), num(17, 19), num(20, 23));
        if year < 1970
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(FieldError::BadTime);
        }
        let days = days_from_civil(year, month, day);
        let millis = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milli;
        Ok(Self { millis })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.millis / 86_400_000;
        let in_day = self.millis % 86_400_000;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000
        )
    }
}

impl TryFrom<String> for Timestamp {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, FieldError> {
        Self::parse(&value)
    }
}

impl From<Timestamp> for String {
    fn from(time: Timestamp) -> String {
        time.to_string()
    }
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date in 1970..=9999
/// (H. Hinnant's `days_from_civil`, unsigned because years start at 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_labels_that_differ_and_share_the_process_prefix() {
        let (a, b) = (Label::request_id(), Label::request_id());
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert_eq!(id.as_str().len(), 32);
            assert!(id.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(Label::new(id.as_str()).ok().as_ref(), Some(id));
        }
        assert_eq!(a.as_str()[..16], b.as_str()[..16]);
    }

    #[test]
    fn times_are_written_in_rfc3339_utc_with_milliseconds_and_read_back() {
        for (millis, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_123, "2000-02-29T00:00:00.123Z"),
            (1_796_203_797_045, "2026-12-02T09:29:57.045Z"),
            (MAX_MILLIS, "9999-12-31T23:59:59.999Z"),
        ] {
            let t = Timestamp { millis };
            assert_eq!(t.to_string(), text);
            assert_eq!(Timestamp::parse(text), Ok(t));
        }
        // Every day boundary of four years round-trips (leap days included).
        for day in 0..(4 * 366) {
            let t = Timestamp {
                millis: 1_700_000_000_000 + day * 86_400_000,
            };
            assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
        }
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_string()), Ok(now));
        for bad in [
            "2026-12-02T09:29:57Z",
            "2026-12-02T09:29:57.045+00:00",
            "2026-02-29T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-12-02T24:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "2026-12-02 09:29:57.045Z",
            "",
        ] {
            assert_eq!(Timestamp::parse(bad), Err(FieldError::BadTime), "{bad:?}");
        }
    }

    #[test]
    fn callers_are_named_never_by_their_credential() {
        assert_eq!(
            Principal::parse("key:k_3f9a2c1d"),
            Ok(Principal::Key("k_3f9a2c1d".into()))
        );
        assert_eq!(
            Principal::parse("sub:auth0|5f1c"),
            Ok(Principal::Subject("auth0|5f1c".into()))
        );
        assert_eq!(Principal::parse("local"), Ok(Principal::Local));
        assert_eq!(Principal::parse("bearer:x"), Err(FieldError::BadPrincipal));
        assert_eq!(
            Principal::key("agw_0123456789abcdef"),
            Err(FieldError::LooksLikeCredential { what: "key id" })
        );
        assert_eq!(
            Principal::subject("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
            Err(FieldError::LooksLikeCredential { what: "subject" })
        );
        assert!(matches!(
            Principal::subject("two words"),
            Err(FieldError::BadChar { found: ' ', .. })
        ));
        assert!(matches!(
            Principal::key("k".repeat(65)),
            Err(FieldError::TooLong { len: 65, .. })
        ));
        for p in [
            Principal::Local,
            Principal::key("k_1").expect("key"),
            Principal::subject("ü@example.org").expect("sub"),
        ] {
            assert_eq!(Principal::parse(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn labels_codes_and_digests_hold_only_their_shape() {
        assert!(Label::new("finance").is_ok());
        assert!(Label::new("550e8400-e29b-41d4-a716-446655440000").is_ok());
        assert_eq!(Label::new(""), Err(FieldError::Empty { what: "label" }));
        assert!(matches!(
            Label::new("{\"q\":1}"),
            Err(FieldError::BadChar { found: '{', .. })
        ));
        assert_eq!(
            Label::new("AGW_live_secret"),
            Err(FieldError::LooksLikeCredential { what: "label" })
        );
        assert_eq!(
            Label::tool("stripe_revenue").map(String::from).as_deref(),
            Some("stripe_revenue")
        );
        for not_a_tool in ["Stripe", "ignore previous instructions", "agw_x", ""] {
            assert_eq!(Label::tool(not_a_tool), None, "{not_a_tool:?}");
        }
        assert!(Code::from_static("invalid_input").is_ok());
        assert_eq!(Code::OK.as_str(), "ok");
        assert!(matches!(
            Code::new("Upstream"),
            Err(FieldError::BadChar { found: 'U', .. })
        ));
        assert!(matches!(
            Code::new("_x"),
            Err(FieldError::BadChar { found: '_', .. })
        ));
        let d = HexDigest::of(b"abc");
        assert_eq!(
            d.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(HexDigest::parse(&d.to_string()), Ok(d));
        assert_eq!(d.short(), "ba7816bf8f01");
        assert_eq!(
            HexDigest::parse(&d.to_string().to_uppercase()),
            Err(FieldError::BadDigest)
        );
        assert_eq!(HexDigest::parse("00"), Err(FieldError::BadDigest));
    }
}

//! Team keys: bearer keys an admin creates per team, each limited to tool
//! patterns and optionally to a lifetime (see `docs/auth.md`).
//!
//! A key is `agw_<id>_<secret>`: the prefix makes leaked keys easy for
//! secret scanners to find, the id finds the record, and only the SHA-256
//! of the whole key is stored. The keys file is re-read whenever it
//! changes on disk (checked on each request, one `stat`), so a revoked key
//! fails on its very next request, whoever changed the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthError, Caller, PatternError, Principal, Scope};

/// Every key starts with this.
pub const KEY_PREFIX: &str = "agw_";

/// What the keys file holds: hashes and metadata, never a key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default, rename = "key")]
    keys: Vec<KeyRecord>,
}

/// One key's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// The public id (`k_` + 12 hex), part of the key itself.
    pub id: String,
    /// The team it belongs to.
    pub team: String,
    /// The tool patterns it may list and call.
    pub tools: Vec<String>,
    /// Hex SHA-256 of the whole key.
    pub sha256: String,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// When it stops working (RFC 3339, UTC); none: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// When it was revoked (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

/// Why the keys file or a key command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not a keys file.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// A record that cannot be used.
    #[error("{}: key {id}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The record's id.
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// A team name that is not one.
    #[error("{0:?} is not a team name: use lowercase letters, digits, '_' and '-'")]
    Team(String),
    /// A tool pattern that is not one.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// A lifetime that is not `<n>d`, `<n>h` or `<n>w`.
    #[error("{0:?} is not a lifetime: write e.g. 90d, 12h or 2w")]
    Lifetime(String),
    /// No key with this id.
    #[error("no key {0} in the keys file")]
    NotFound(String),
    /// Already revoked.
    #[error("key {0} is already revoked")]
    AlreadyRevoked(String),
}

/// Parses `90d`, `12h`, `2w`.
pub fn parse_lifetime(text: &str) -> Result<Duration, KeyError> {
    let bad = || KeyError::Lifetime(text.to_owned());
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let hours = match unit {
        "h" => n,
        "d" => n.checked_mul(24).ok_or_else(bad)?,
        "w" => n.checked_mul(24 * 7).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if hours == 0 || hours > 24 * 366 * 10 {
        return Err(bad());
    }
    Ok(Duration::from_secs(hours * 3600))
}

fn check_team(team: &str) -> Result<(), KeyError> {
    let ok = !team.is_empty()
        && team.len() <= 64
        && team
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(KeyError::Team(team.to_owned()))
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 244 random bits as hex: the random parts of two v4 UUIDs (one alone
/// gives 122).
fn random_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn read(path: &Path) -> Result<KeysFile, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeysFile::default()),
        Err(source) => {
            return Err(KeyError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| KeyError::Parse {
        path: path.to_owned(),
        line: crate::manifest::position(&text, &e).0,
        message: e.message().to_owned(),
    })
}

/// Writes the file whole, through a temporary file renamed over it, owner-only.
fn write(path: &Path, file: &KeysFile) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut text = String::from(
        "# Team keys for `gateway serve` ([auth] mode = \"keys\"), managed with `gateway keys`.\n\
         # Only SHA-256 hashes are stored: a key is shown once, when it is created.\n\n",
    );
    text.push_str(&toml::to_string(file).map_err(|e| io(std::io::Error::other(e)))?);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        uuid::Uuid::new_v4().simple()
    ));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Creates a key for `team` limited to `tools`; returns the key (shown once)
/// and its record, already saved in `path`.
pub fn create(
    path: &Path,
    team: &str,
    tools: &[String],
    lifetime: Option<Duration>,
) -> Result<(String, KeyRecord), KeyError> {
    check_team(team)?;
    Scope::from_patterns(tools)?;
    let mut file = read(path)?;
    let id = format!("k_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let key = format!("{KEY_PREFIX}{id}_{}", random_hex());
    let now = Utc::now();
    let record = KeyRecord {
        id,
        team: team.to_owned(),
        tools: tools.to_vec(),
        sha256: hex(&Sha256::digest(key.as_bytes())),
        created: rfc3339(now),
        expires: lifetime
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| rfc3339(now + d)),
        revoked: None,
    };
    file.keys.push(record.clone());
    write(path, &file)?;
    Ok((key, record))
}

/// Every record, in creation order.
pub fn list(path: &Path) -> Result<Vec<KeyRecord>, KeyError> {
    Ok(read(path)?.keys)
}

/// Marks key `id` revoked; it fails from the next request on.
pub fn revoke(path: &Path, id: &str) -> Result<KeyRecord, KeyError> {
    let mut file = read(path)?;
    let record = file
        .keys
        .iter_mut()
        .find(|k| k.id == id)
        .ok_or_else(|| KeyError::NotFound(id.to_owned()))?;
    if record.revoked.is_some() {
        return Err(KeyError::AlreadyRevoked(id.to_owned()));
    }
    record.revoked = Some(rfc3339(Utc::now()));
    let record = record.clone();
    write(path, &file)?;
    Ok(record)
}

/// A usable key, as the store holds it.
#[derive(Debug)]
struct Entry {
    sha256: [u8; 32],
    team: String,
    scope: Scope,
    expires: Option<DateTime<Utc>>,
    revoked: bool,
}

/// What identifies a version of the file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

fn load(path: &Path) -> Result<HashMap<String, Entry>, KeyError> {
    let mut entries = HashMap::new();
    for record in read(path)?.keys {
        let invalid = |problem: String| KeyError::Invalid {
            path: path.to_owned(),
            id: record.id.clone(),
            problem,
        };
        let digest = (0..32)
            .map(|i| {
                record
                    .sha256
                    .get(i * 2..i * 2 + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .filter(|_| record.sha256.len() == 64)
            .ok_or_else(|| invalid("sha256 is not 64 hex digits".into()))?;
        let scope = Scope::from_patterns(&record.tools).map_err(|e| invalid(e.to_string()))?;
        let expires = record
            .expires
            .as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| invalid(format!("expires: {e}")))
            })
            .transpose()?;
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&digest);
        entries.insert(
            record.id.clone(),
            Entry {
                sha256,
                team: record.team.clone(),
                scope,
                expires,
                revoked: record.revoked.is_some(),
            },
        );
    }
    Ok(entries)
}

/// The usable keys by id.
type Entries = Arc<HashMap<String, Entry>>;

/// The keys `gateway serve` accepts, following the file on disk.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    state: Mutex<(Option<Stamp>, Entries)>,
}

impl KeyStore {
    /// Loads `path` (a missing file is no keys: every request is refused).
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let entries = load(path)?;
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new((stamp(path), Arc::new(entries))),
        })
    }

    /// The file, re-read when it changed on disk. A file that became
    /// unreadable or invalid keeps the last good keys and logs why, except
    /// that a key revoked or removed in it can no longer be trusted either:
    /// while the file is broken, every key is refused.
    fn current(&self) -> Option<Entries> {
        let now = stamp(&self.path);
        let mut state = self.state.lock().ok()?;
        if state.0 != now {
            match load(&self.path) {
                Ok(entries) => {
                    tracing::info!(file = %self.path.display(), keys = entries.len(), "keys file reloaded");
                    *state = (now, Arc::new(entries));
                }
                Err(e) => {
                    tracing::error!(
                        "keys file not reloaded, refusing every key until it is fixed: {e}"
                    );
                    *state = (now, Arc::new(HashMap::new()));
                }
            }
        }
        Some(Arc::clone(&state.1))
    }

    /// The caller a presented key stands for.
    pub fn authenticate(&self, key: &str) -> Result<Caller, AuthError> {
        let rest = key.strip_prefix(KEY_PREFIX).ok_or(AuthError::Invalid)?;
        // `k_` + 12 hex, then `_` and the secret.
        let id = rest.get(..14).ok_or(AuthError::Invalid)?;
        let entries = self.current().ok_or(AuthError::Invalid)?;
        let entry = entries.get(id).ok_or(AuthError::Invalid)?;
        let digest = Sha256::digest(key.as_bytes());
        if !bool::from(digest.as_slice().ct_eq(&entry.sha256)) || entry.revoked {
            return Err(AuthError::Invalid);
        }
        if entry.expires.is_some_and(|t| t <= Utc::now()) {
            return Err(AuthError::Expired);
        }
        Ok(Caller {
            principal: Principal::Key { id: id.to_owned() },
            team: Some(entry.team.clone()),
            scope: entry.scope.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_created_key_authenticates_as_its_team_and_scope() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        let (key, record) = create(&path, "finance", &tools(&["stripe_*"]), None).expect("create");
        assert!(key.starts_with("agw_k_"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(&key), "only the hash is stored");
        let store = KeyStore::open(&path).expect("open");
        let caller = store.authenticate(&key).expect("valid");
        assert_eq!(
            caller.principal,
            Principal::Key {
                id: record.id.clone()
            }
        );
        assert_eq!(caller.team.as_deref(), Some("finance"));
        assert!(caller.allows("stripe_revenue") && !caller.allows("hubspot_pipeline"));
        // One character off, another prefix, garbage: invalid, never a panic.
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push('x');
        for bad in [
            wrong.as_str(),
            "agw_",
            "agw_k_",
            "sk_live_x",
            "",
            "agw_k_0123456789ab",
        ] {
            assert_eq!(store.authenticate(bad), Err(AuthError::Invalid), "{bad}");
        }
    }

    #[test]
    fn a_revoked_key_fails_on_the_next_request() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        let (key, record) = create(&path, "ops", &tools(&["*"]), None).expect("create");
        let store = KeyStore::open(&path).expect("open");
        assert!(store.authenticate(&key).is_ok());
        revoke(&path, &record.id).expect("revoke");
        assert_eq!(store.authenticate(&key), Err(AuthError::Invalid));
        assert!(matches!(
            revoke(&path, &record.id),
            Err(KeyError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            revoke(&path, "k_000000000000"),
            Err(KeyError::NotFound(_))
        ));
    }

    #[test]
    fn an_expired_key_is_refused_as_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        let (key, _) = create(&path, "ops", &tools(&["*"]), None).expect("create");
        let text = std::fs::read_to_string(&path).expect("read");
        let text = text.replace(
            "created = ",
            "expires = \"2020-01-01T00:00:00Z\"\ncreated = ",
        );
        std::fs::write(&path, text).expect("write");
        let store = KeyStore::open(&path).expect("open");
        assert_eq!(store.authenticate(&key), Err(AuthError::Expired));
    }

    #[test]
    fn a_broken_file_refuses_every_key_until_fixed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        let (key, _) = create(&path, "ops", &tools(&["*"]), None).expect("create");
        let store = KeyStore::open(&path).expect("open");
        let good = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, "[[key]]\nid = 3\n").expect("write");
        assert_eq!(store.authenticate(&key), Err(AuthError::Invalid));
        std::fs::write(&path, good).expect("write");
        assert!(store.authenticate(&key).is_ok());
        assert!(matches!(
            KeyStore::open(&{
                let p = dir.path().join("bad.toml");
                std::fs::write(&p, "\n[[key]]\nid = 3\n").expect("write");
                p
            }),
            Err(KeyError::Parse { line: 3, .. })
        ));
    }

    #[test]
    fn lifetimes_and_teams_are_checked() {
        assert_eq!(
            parse_lifetime("90d").ok(),
            Some(Duration::from_secs(90 * 86400))
        );
        assert_eq!(
            parse_lifetime("12h").ok(),
            Some(Duration::from_secs(12 * 3600))
        );
        for bad in ["", "d", "0d", "90", "9x", "-1d", "99999w"] {
            assert!(
                matches!(parse_lifetime(bad), Err(KeyError::Lifetime(_))),
                "{bad}"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        assert!(matches!(
            create(&path, "Fin Ance", &tools(&["*"]), None),
            Err(KeyError::Team(_))
        ));
        assert!(matches!(
            create(&path, "fin", &tools(&["A*"]), None),
            Err(KeyError::Pattern(_))
        ));
    }

    #[test]
    fn the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys.toml");
        create(&path, "ops", &tools(&["*"]), None).expect("create");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! Confirmations of approved writes (docs/confirmations.md).
//!
//! A write (POST, PUT, PATCH, DELETE) under an `[[http]]` entry with
//! `confirm = true`, or of a tool gateway.toml names with `confirm_writes`,
//! passes every policy check and then waits at the door for the caller's
//! answer: it leaves only when the call's [`Confirmer`] says
//! [`Answer::Confirmed`]. A call without a confirmer sends no such write.
//!
//! What the caller is shown is a [`WriteSummary`]: the method, the URL with
//! its query values hidden, and the body's size, content type and top-level
//! JSON keys (or its first bytes). Never a header: the secret headers are
//! added after this step and are not part of the request it sees. What a
//! confirmation is bound to is the [`WriteFingerprint`]: SHA-256 over the
//! method, the whole URL and the whole body.
//!
//! The call's [`Gate`] asks, records every question and its answer for the
//! call's report (audit, metrics, the result), and keeps the time spent
//! waiting, which the runtime adds to the call's time budget: a person
//! reading a question is not the tool using its time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::redact::Redactor;
use super::request::OutboundRequest;

/// The most body bytes shown when the body is not a JSON object.
const PREVIEW_BYTES: usize = 80;
/// The most top-level JSON keys listed.
const MAX_KEYS: usize = 24;
/// The longest key shown (longer ones are cut with `…`).
const MAX_KEY_CHARS: usize = 48;

/// SHA-256 over a write's method, URL and body: what a confirmation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WriteFingerprint(pub [u8; 32]);

impl WriteFingerprint {
    /// The fingerprint of `req`.
    pub fn of(req: &OutboundRequest) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(req.method.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(req.url.as_str().as_bytes());
        hasher.update([0]);
        if let Some(body) = &req.body {
            hasher.update(body);
        }
        Self(hasher.finalize().into())
    }

    /// Lower-case hex.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the caller is shown of a write before it leaves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteSummary {
    /// The method.
    pub method: String,
    /// Scheme, host, port and path; each query value replaced by `…`.
    pub url: String,
    /// Body size in bytes (0 without a body).
    pub body_bytes: usize,
    /// The `Content-Type` the tool set, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The top-level keys of a JSON object body, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub json_keys: Vec<String>,
    /// The first bytes of any other body, as text (control characters as `.`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

impl WriteSummary {
    /// The summary of `req`, scrubbed of the tool's secrets.
    pub fn of(req: &OutboundRequest, redactor: &Redactor) -> Self {
        let mut url = req.url.clone();
        let pairs: Vec<String> = req
            .url
            .query_pairs()
            .map(|(name, _)| format!("{name}=…"))
            .collect();
        url.set_query(None);
        let mut shown = url.to_string();
        if !pairs.is_empty() {
            shown.push('?');
            shown.push_str(&pairs.join("&"));
        }
        let body = req.body.as_deref().unwrap_or_default();
        let content_type = req
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| printable(v, 100));
        let (json_keys, preview) = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => {
                let keys = map
                    .keys()
                    .take(MAX_KEYS)
                    .map(|k| printable(k, MAX_KEY_CHARS))
                    .collect();
                (keys, None)
            }
            _ if body.is_empty() => (Vec::new(), None),
            _ => {
                let head = &body[..body.len().min(PREVIEW_BYTES)];
                let text = String::from_utf8_lossy(head);
                let mut shown = printable(&text, PREVIEW_BYTES);
                if body.len() > head.len() && !shown.ends_with('…') {
                    shown.push('…');
                }
                (Vec::new(), Some(shown))
            }
        };
        let clean = |s: String| redactor.redact_str(&s).into_owned();
        Self {
            method: req.method.as_str().to_owned(),
            url: clean(shown),
            body_bytes: body.len(),
            content_type: content_type.map(clean),
            json_keys: json_keys.into_iter().map(clean).collect(),
            preview: preview.map(clean),
        }
    }

    /// One paragraph a person reads before answering.
    pub fn message(&self, tool: &str) -> String {
        let mut body = format!("{} bytes", self.body_bytes);
        if let Some(ct) = &self.content_type {
            body.push_str(&format!(" of {ct}"));
        }
        if !self.json_keys.is_empty() {
            body.push_str(&format!(", keys: {}", self.json_keys.join(", ")));
        } else if let Some(preview) = &self.preview {
            body.push_str(&format!(", starting {preview:?}"));
        }
        format!(
            "Tool {tool} is about to send {} {} (body: {body}). Send it?",
            self.method, self.url
        )
    }
}

/// Text safe to show: control characters as `.`, at most `max` characters.
fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// A write waiting at the door.
#[derive(Debug, Clone)]
pub struct PendingWrite {
    /// What the caller is shown.
    pub summary: WriteSummary,
    /// What a confirmation is bound to.
    pub fingerprint: WriteFingerprint,
}

/// How a question about a write was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Accepted with `confirm: true`: the write leaves.
    Confirmed,
    /// The person declined, or accepted without `confirm: true`.
    Declined,
    /// The person dismissed the question.
    Cancelled,
    /// No answer within `[outbound] confirm_timeout_ms`.
    TimedOut,
    /// The client cannot be asked: it declared no elicitation capability,
    /// or the call came from somewhere nobody answers (`gateway call`).
    Unsupported,
    /// The question could not be delivered, or its answer not read.
    Failed,
    /// 2026-07-28: asked in the call's result (`input_required`); the call
    /// stops here and the client's retry carries the answer.
    Deferred,
    /// Refused without asking: an earlier write of this call is deferred,
    /// so nothing more of this run may leave.
    Stopped,
    /// 2026-07-28: refused without asking, because this run already sent a
    /// confirmed write. Asking would mean another round, whose rerun would
    /// send that write again; such a call confirms one write.
    SecondWrite,
}

impl Answer {
    /// The answer's name in audit lines, metrics and results.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Confirmed => "confirmed",
            Answer::Declined => "declined",
            Answer::Cancelled => "cancelled",
            Answer::TimedOut => "timed_out",
            Answer::Unsupported => "unsupported",
            Answer::Failed => "failed",
            Answer::Deferred => "deferred",
            Answer::Stopped => "stopped",
            Answer::SecondWrite => "second_write",
        }
    }
}

/// One question a call asked, and its answer.
#[derive(Debug, Clone)]
pub struct Confirmation {
    /// The write asked about.
    pub write: PendingWrite,
    /// The answer.
    pub answer: Answer,
}

/// Who answers a call's questions: the client through elicitation (2025
/// sessions, legacy SSE, stdio), or a 2026-07-28 retry's confirmed writes.
pub trait Confirmer: Send + Sync {
    /// Asks about `write`; resolves to the answer (bounded in time by the
    /// implementation).
    fn confirm<'a>(
        &'a self,
        write: &'a PendingWrite,
    ) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;
}

/// One call's confirmations: who answers, what was asked, and how long the
/// call waited.
pub struct Gate {
    confirmer: Box<dyn Confirmer>,
    asked: Mutex<Vec<Confirmation>>,
    waiting: AtomicU32,
    waited_nanos: AtomicU64,
    stopped: AtomicBool,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("asked", &self.confirmations().len())
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate asking `confirmer`.
    pub fn new(confirmer: impl Confirmer + 'static) -> Self {
        Self {
            confirmer: Box::new(confirmer),
            asked: Mutex::new(Vec::new()),
            waiting: AtomicU32::new(0),
            waited_nanos: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        }
    }

    /// Asks about `write` (unless the call is stopped) and records the answer.
    pub async fn ask(&self, write: PendingWrite) -> Answer {
        let answer = if self.is_stopped() {
            Answer::Stopped
        } else {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let started = Instant::now();
            let answer = self.confirmer.confirm(&write).await;
            let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.waited_nanos.fetch_add(waited, Ordering::SeqCst);
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            answer
        };
        if answer == Answer::Deferred {
            self.stopped.store(true, Ordering::SeqCst);
        }
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(Confirmation { write, answer });
        }
        answer
    }

    /// Whether a write of this call was deferred: nothing more leaves.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Whether a question is waiting for its answer now.
    pub fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// The time spent waiting for answers so far (finished questions only).
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited_nanos.load(Ordering::SeqCst))
    }

    /// Every question asked so far, in order.
    pub fn confirmations(&self) -> Vec<Confirmation> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::outbound::request::GuestRequest;

    fn request(url: &str, content_type: &str, body: &[u8]) -> OutboundRequest {
        OutboundRequest::from_guest(GuestRequest {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("content-type".into(), content_type.into())],
            body: Some(body.to_vec()),
        })
        .unwrap()
    }

    #[test]
    fn a_summary_hides_query_values_and_lists_json_keys() {
        let req = request(
            "https://api.example.com/v1/charges?key=abc&limit=5",
            "application/json",
            br#"{"amount": 5000, "currency": "eur"}"#,
        );
        let s = WriteSummary::of(&req, &Redactor::new(Vec::<(String, String)>::new()));
        assert_eq!(s.method, "POST");
        assert_eq!(s.url, "https://api.example.com/v1/charges?key=…&limit=…");
        assert_eq!(s.body_bytes, 35);
        assert_eq!(s.content_type.as_deref(), Some("application/json"));
        assert_eq!(s.json_keys, ["amount", "currency"]);
        assert_eq!(s.preview, None);
    }

    #[test]
    fn other_bodies_show_their_first_bytes_without_control_characters() {
        let body = format!("a=1&b=2\n{}", "x".repeat(200));
        let req = request("https://a.example/f", "text/plain", body.as_bytes());
        let s = WriteSummary::of(&req, &Redactor::new(Vec::<(String, String)>::new()));
        let preview = s.preview.unwrap();
        assert!(preview.starts_with("a=1&b=2.x"));
        assert_eq!(preview.chars().count(), PREVIEW_BYTES + 1);
        assert!(s.json_keys.is_empty());
    }

    #[test]
    fn the_fingerprint_covers_method_url_and_body() {
        let a = request("https://a.example/f", "text/plain", b"one");
        let b = request("https://a.example/f", "text/plain", b"two");
        let c = request("https://a.example/f?x=1", "text/plain", b"one");
        let fa = WriteFingerprint::of(&a);
        assert_eq!(fa, WriteFingerprint::of(&a.clone()));
        assert_ne!(fa, WriteFingerprint::of(&b));
        assert_ne!(fa, WriteFingerprint::of(&c));
    }

    #[tokio::test]
    async fn a_deferred_write_stops_everything_after_it() {
        struct Defer;
        impl Confirmer for Defer {
            fn confirm<'a>(
                &'a self,
                _w: &'a PendingWrite,
            ) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
                Box::pin(async { Answer::Deferred })
            }
        }
        let gate = Gate::new(Defer);
        let req = request("https://a.example/f", "text/plain", b"one");
        let write = PendingWrite {
            summary: WriteSummary::of(&req, &Redactor::new(Vec::<(String, String)>::new())),
            fingerprint: WriteFingerprint::of(&req),
        };
        assert_eq!(gate.ask(write.clone()).await, Answer::Deferred);
        assert!(gate.is_stopped());
        assert_eq!(gate.ask(write).await, Answer::Stopped);
        let answers: Vec<Answer> = gate.confirmations().iter().map(|c| c.answer).collect();
        assert_eq!(answers, [Answer::Deferred, Answer::Stopped]);
    }
}

//! Keeps a tool's bound secrets out of everything the tool, the agent and the
//! gateway's log see, when an upstream hands them back ("invalid credentials:
//! Bearer sk_live_…").
//!
//! A [`Redactor`] knows each secret value of one tool (every `${VAR}` a
//! `secret_headers` template reads, and each rendered header value) and its
//! obvious encodings, and replaces them with `[redacted:VAR]`. The outbound
//! door runs every response header and body through it before the guest reads
//! them ([`StreamRedactor`] across chunk boundaries); the runtime runs the
//! tool's output, log lines and error texts through it as a second line.
//! docs/outbound.md describes what is scrubbed and what is not.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD_NO_PAD, STANDARD_NO_PAD_INDIFFERENT, URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT,
};
use http::{HeaderMap, HeaderValue};
use memchr::memmem::Finder;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Shortest form scrubbed. A shorter "secret" is no credential, and scrubbing
/// it would redact ordinary words in every response.
pub const MIN_SECRET_BYTES: usize = 6;

/// Everything but RFC 3986 unreserved characters (Python's `quote`, Go's
/// `QueryEscape`, most HTTP clients).
const UNRESERVED_KEPT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What JavaScript's `encodeURIComponent` leaves alone.
const URI_COMPONENT_KEPT: &AsciiSet = &UNRESERVED_KEPT
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Percent-encodings an upstream may use for a value; `NON_ALPHANUMERIC`
/// is the escape-everything form.
const PERCENT_SETS: [&AsciiSet; 3] = [UNRESERVED_KEPT, URI_COMPONENT_KEPT, NON_ALPHANUMERIC];

/// One byte string to find, and the index of the name shown in its place.
struct Needle {
    finder: Finder<'static>,
    name: usize,
}

/// Scrubs one tool's secret values. `Debug` shows names, never values.
#[derive(Default)]
pub struct Redactor {
    needles: Vec<Needle>,
    names: Vec<String>,
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("names", &self.names)
            .field("needles", &self.needles.len())
            .finish()
    }
}

/// A run of bytes to replace: `[start, end)`, the names it covers, and
/// whether it continues a run whose marker was already written.
struct Span {
    start: usize,
    end: usize,
    names: Vec<usize>,
    continues: bool,
}

impl Redactor {
    /// A redactor for `(name, value)` pairs; `name` is what the marker shows.
    /// Values (and encodings) shorter than [`MIN_SECRET_BYTES`] are skipped.
    pub fn new<N: Into<String>, V: AsRef<str>>(secrets: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut redactor = Redactor::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for (name, value) in secrets {
            let name = name.into();
            let index = match redactor.names.iter().position(|n| *n == name) {
                Some(i) => i,
                None => {
                    redactor.names.push(name);
                    redactor.names.len() - 1
                }
            };
            for form in forms(value.as_ref()) {
                if form.len() < MIN_SECRET_BYTES || seen.contains(&form) {
                    continue;
                }
                redactor.longest = redactor.longest.max(form.len());
                redactor.needles.push(Needle {
                    finder: Finder::new(&form).into_owned(),
                    name: index,
                });
                seen.push(form);
            }
        }
        redactor
    }

    /// Whether there is nothing to scrub (the tool binds no secrets).
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `bytes` with every secret form replaced by its marker.
    pub fn redact<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if self.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let spans = self.spans(bytes, 0);
        if spans.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        self.write(bytes, &spans, bytes.len(), &mut out);
        Cow::Owned(out)
    }

    /// Text with every secret form replaced by its marker.
    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Needles are whole UTF-8 strings, so spans fall on char boundaries.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// Scrubs every string and key of a JSON value in place.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(clean) = self.redact_str(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                map.values_mut().for_each(|v| self.redact_json(v));
                // Rebuilt only when a key holds a secret (rare): a key cannot be changed in place.
                if map
                    .keys()
                    .any(|k| matches!(self.redact_str(k), Cow::Owned(_)))
                {
                    for (key, item) in std::mem::take(map) {
                        map.insert(self.redact_str(&key).into_owned(), item);
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Scrubs every header value in place (names are left alone).
    pub fn redact_headers(&self, headers: &mut HeaderMap) {
        if self.is_empty() {
            return;
        }
        for value in headers.values_mut() {
            if let Cow::Owned(clean) = self.redact(value.as_bytes()) {
                // A marker is visible ASCII, so this only fails if the
                // upstream's own bytes were odd; then the marker alone stands.
                *value = HeaderValue::from_bytes(&clean)
                    .unwrap_or_else(|_| HeaderValue::from_static("[redacted]"));
            }
        }
    }

    /// A scrubber for one body that arrives in chunks.
    pub fn stream(self: &Arc<Self>) -> StreamRedactor {
        StreamRedactor {
            redactor: Arc::clone(self),
            carry: Vec::new(),
            pending: 0,
        }
    }

    /// Every needle occurrence (overlapping ones too) merged into disjoint
    /// sorted spans. `carried` bytes at the start continue an earlier span.
    fn spans(&self, hay: &[u8], carried: usize) -> Vec<Span> {
        let mut hits: Vec<(usize, usize, Option<usize>)> = Vec::new();
        if carried > 0 {
            hits.push((0, carried, None));
        }
        for needle in &self.needles {
            let len = needle.finder.needle().len();
            let mut from = 0;
            while let Some(at) = hay.get(from..).and_then(|rest| needle.finder.find(rest)) {
                hits.push((from + at, from + at + len, Some(needle.name)));
                from += at + 1;
            }
        }
        hits.sort_unstable_by_key(|&(start, _, _)| start);
        let mut spans: Vec<Span> = Vec::new();
        for (start, end, name) in hits {
            match spans.last_mut() {
                Some(last) if start < last.end => {
                    last.end = last.end.max(end);
                    if let Some(n) = name
                        && !last.names.contains(&n)
                    {
                        last.names.push(n);
                    }
                }
                _ => spans.push(Span {
                    start,
                    end,
                    names: name.into_iter().collect(),
                    continues: name.is_none(),
                }),
            }
        }
        spans
    }

    /// Writes `hay[..upto]` with spans replaced; returns how many bytes past
    /// `upto` the last span still covers.
    fn write(&self, hay: &[u8], spans: &[Span], upto: usize, out: &mut Vec<u8>) -> usize {
        let mut pos = 0;
        let mut pending = 0;
        for span in spans.iter().take_while(|s| s.start < upto) {
            out.extend_from_slice(&hay[pos..span.start]);
            if !span.continues {
                out.extend_from_slice(b"[redacted:");
                for (i, name) in span.names.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(self.names[*name].as_bytes());
                }
                out.push(b']');
            }
            pos = span.end.min(upto);
            pending = span.end.saturating_sub(upto);
        }
        out.extend_from_slice(&hay[pos..upto]);
        pending
    }
}

/// Scrubs a body chunk by chunk, holding back the last (longest needle − 1)
/// bytes so a secret split across chunks is still found.
#[derive(Debug)]
pub struct StreamRedactor {
    redactor: Arc<Redactor>,
    carry: Vec<u8>,
    /// Bytes at the start of `carry` inside a span whose marker is written.
    pending: usize,
}

impl StreamRedactor {
    /// Takes the next chunk; returns what can be passed on now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.redactor.is_empty() {
            return chunk.to_vec();
        }
        self.carry.extend_from_slice(chunk);
        let hold = self.redactor.longest.saturating_sub(1);
        self.drain(self.carry.len().saturating_sub(hold))
    }

    /// The end of the body: returns what was held back.
    pub fn finish(&mut self) -> Vec<u8> {
        self.drain(self.carry.len())
    }

    fn drain(&mut self, upto: usize) -> Vec<u8> {
        if upto == 0 {
            // Nothing can be passed on yet; keep `pending` as it is.
            return Vec::new();
        }
        let spans = self.redactor.spans(&self.carry, self.pending);
        let mut out = Vec::with_capacity(upto);
        self.pending = self.redactor.write(&self.carry, &spans, upto, &mut out);
        self.carry.drain(..upto);
        out
    }
}

/// The value and the spellings an upstream is likely to echo it in.
fn forms(value: &str) -> Vec<Vec<u8>> {
    let mut out = vec![value.as_bytes().to_vec()];
    out.extend(encodings(value));
    // A value that is itself base64 of text (a Basic `user:pass`): the text,
    // and the password alone.
    let decoded = STANDARD_NO_PAD_INDIFFERENT
        .decode(value.trim())
        .or_else(|_| URL_SAFE_NO_PAD_INDIFFERENT.decode(value.trim()));
    if let Ok(bytes) = decoded
        && let Ok(text) = String::from_utf8(bytes)
        && !text.chars().any(char::is_control)
    {
        if let Some((_, password)) = text.split_once(':') {
            out.push(password.as_bytes().to_vec());
            out.extend(encodings(password));
        }
        out.extend(encodings(&text));
        out.push(text.into_bytes());
    }
    out
}

fn encodings(value: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for set in PERCENT_SETS {
        let upper = utf8_percent_encode(value, set).to_string();
        out.push(upper.replace("%20", "+").into_bytes());
        out.push(lower_hex_escapes(&upper).into_bytes());
        out.push(upper.into_bytes());
    }
    if let Ok(json) = serde_json::to_string(value) {
        let inner = json[1..json.len() - 1].to_string();
        out.push(inner.replace('/', "\\/").into_bytes());
        out.push(inner.into_bytes());
    }
    // The whole encoding (the value sent alone), and the characters whose six
    // bits all come from the value, which are the same whatever follows it.
    let stable = value.len() * 8 / 6;
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        let encoded = engine.encode(value);
        let padding = "=".repeat((4 - encoded.len() % 4) % 4);
        out.push(format!("{encoded}{padding}").into_bytes());
        out.push(encoded.as_bytes()[..stable.min(encoded.len())].to_vec());
        out.push(encoded.into_bytes());
    }
    out
}

/// `%2F` → `%2f`, leaving everything else as it is.
fn lower_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut escape = 0;
    for c in encoded.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;

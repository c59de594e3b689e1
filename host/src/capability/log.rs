//! `gateway:tool/log` and the per-call log buffer that stdio also feeds.
//!
//! The buffer is this capability's state; [`GuestLog`] is the view the
//! bindings call into, and [`add_to_linker`] links it for any store data
//! that can lend its buffer (the shape of wasmtime's `wasi-config`).

use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

use crate::bindings::GuestLogLevel;
use crate::bindings::gateway::tool::log::{self as bindings, Host};
use crate::bindings::v0_1::gateway::tool::log as v0_1;
use crate::outbound::redact::Redactor;

/// Longest log line kept from a guest; the rest is cut (guest-controlled volume).
pub const MAX_LINE_BYTES: usize = 4096;
/// Most log lines kept per call; later lines are counted, not stored.
pub const MAX_LINES: usize = 256;

/// Severity of a guest log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Finest detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd.
    Warn,
    /// Something failed.
    Error,
}

impl From<GuestLogLevel> for Level {
    fn from(level: GuestLogLevel) -> Self {
        match level {
            GuestLogLevel::Trace => Level::Trace,
            GuestLogLevel::Debug => Level::Debug,
            GuestLogLevel::Info => Level::Info,
            GuestLogLevel::Warn => Level::Warn,
            GuestLogLevel::Error => Level::Error,
        }
    }
}

impl From<v0_1::Level> for Level {
    fn from(level: v0_1::Level) -> Self {
        match level {
            v0_1::Level::Trace => Level::Trace,
            v0_1::Level::Debug => Level::Debug,
            v0_1::Level::Info => Level::Info,
            v0_1::Level::Warn => Level::Warn,
            v0_1::Level::Error => Level::Error,
        }
    }
}

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The `log` interface.
    Log,
    /// Captured stdout.
    Stdout,
    /// Captured stderr.
    Stderr,
}

impl Source {
    /// Lower-case name for log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Log => "log",
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
        }
    }
}

/// One guest log line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// Severity.
    pub level: Level,
    /// Origin.
    pub source: Source,
    /// Text, truncated to [`MAX_LINE_BYTES`], control characters replaced.
    pub message: String,
}

/// Bounded buffer of one call's log lines.
#[derive(Debug, Default)]
pub struct LogBuffer {
    lines: Vec<LogLine>,
    dropped: usize,
    redactor: Arc<Redactor>,
}

impl LogBuffer {
    /// A buffer that scrubs the tool's secrets from every line it keeps.
    pub fn new(redactor: Arc<Redactor>) -> Self {
        Self {
            redactor,
            ..Self::default()
        }
    }

    /// Adds a line, truncating it and dropping it past [`MAX_LINES`].
    /// Secrets go before truncation, which could otherwise cut one in half.
    pub fn push(&mut self, level: Level, source: Source, message: &str) {
        if self.lines.len() >= MAX_LINES {
            self.dropped += 1;
            return;
        }
        let message = self.redactor.redact_str(message);
        self.lines.push(LogLine {
            level,
            source,
            message: sanitize(&message),
        });
    }

    /// The lines kept and how many were dropped.
    pub fn into_parts(self) -> (Vec<LogLine>, usize) {
        (self.lines, self.dropped)
    }
}

/// Cuts to [`MAX_LINE_BYTES`] on a char boundary and replaces control
/// characters, so a guest cannot forge log lines or terminal escapes.
fn sanitize(message: &str) -> String {
    sanitize_to(message, MAX_LINE_BYTES)
}

/// [`sanitize`] with another length cap (progress messages).
pub(crate) fn sanitize_to(message: &str, max_bytes: usize) -> String {
    let mut end = message.len().min(max_bytes);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end]
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// What `gateway:tool/log` sees of a call: its log buffer.
pub struct GuestLog<'a> {
    logs: &'a mut LogBuffer,
}

impl<'a> GuestLog<'a> {
    /// The view over one call's buffer.
    pub fn new(logs: &'a mut LogBuffer) -> Self {
        Self { logs }
    }
}

impl Host for GuestLog<'_> {
    fn log(&mut self, level: GuestLogLevel, message: String) {
        self.logs.push(level.into(), Source::Log, &message);
    }
}

/// The same view for tools built against `gateway:tool@0.1.0`.
impl v0_1::Host for GuestLog<'_> {
    fn log(&mut self, level: v0_1::Level, message: String) {
        self.logs.push(level.into(), Source::Log, &message);
    }
}

struct HasGuestLog;

impl HasData for HasGuestLog {
    type Data<'a> = GuestLog<'a>;
}

/// Links `gateway:tool/log` (0.2.0 and 0.1.0); `view` lends the call's buffer.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> GuestLog<'_>,
) -> wasmtime::Result<()> {
    bindings::add_to_linker::<T, HasGuestLog>(linker, view)?;
    v0_1::add_to_linker::<T, HasGuestLog>(linker, view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::component::Component;
    use wasmtime::{Engine, Store};

    #[test]
    fn lines_are_truncated_sanitized_and_bounded() {
        let mut buf = LogBuffer::default();
        buf.push(Level::Info, Source::Log, "a\x1b[31mred\nforged");
        buf.push(Level::Warn, Source::Stdout, &"é".repeat(MAX_LINE_BYTES));
        for _ in 0..MAX_LINES {
            buf.push(Level::Debug, Source::Log, "x");
        }
        let (lines, dropped) = buf.into_parts();
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(dropped, 2);
        assert_eq!(lines[0].message, "a\u{fffd}[31mred\u{fffd}forged");
        assert!(lines[1].message.len() <= MAX_LINE_BYTES);
        assert_eq!(lines[1].level, Level::Warn);
    }

    #[test]
    fn secrets_are_scrubbed_before_a_line_is_cut() {
        let secret = "sk_live_0123456789";
        let mut buf = LogBuffer::new(Arc::new(Redactor::new([("KEY", secret)])));
        let head = "x".repeat(MAX_LINE_BYTES - 4);
        buf.push(Level::Info, Source::Stderr, &format!("{head}{secret}"));
        buf.push(Level::Info, Source::Log, &format!("got {secret}"));
        let (lines, _) = buf.into_parts();
        assert_eq!(lines[0].message, format!("{head}[red"));
        assert_eq!(lines[1].message, "got [redacted:KEY]");
    }

    /// Store data that is not the runtime's: the view needs only the buffer.
    struct Other {
        logs: LogBuffer,
    }

    /// A component importing `gateway:tool/log` whose `run` logs "hello" at warn.
    const LOGS_HELLO: &str = r#"(component
      (import "gateway:tool/log@0.1.0" (instance $log
        (type $level (enum "trace" "debug" "info" "warn" "error"))
        (export "level" (type $lvl (eq $level)))
        (export "log" (func (param "level" $lvl) (param "message" string)))))
      (core module $mem (memory (export "memory") 1))
      (core instance $mem (instantiate $mem))
      (alias core export $mem "memory" (core memory $memory))
      (core func $log (canon lower (func $log "log") (memory $memory)))
      (core module $m
        (import "env" "memory" (memory 1))
        (import "env" "log" (func $log (param i32 i32 i32)))
        (data (i32.const 0) "hello")
        (func (export "run") (call $log (i32.const 3) (i32.const 0) (i32.const 5))))
      (core instance $i (instantiate $m (with "env" (instance
        (export "memory" (memory $memory))
        (export "log" (func $log))))))
      (func (export "run") (canon lift (core func $i "run"))))"#;

    #[tokio::test]
    async fn the_view_links_into_any_store_data_and_fills_its_buffer() {
        let engine = Engine::default();
        let mut linker = Linker::<Other>::new(&engine);
        add_to_linker(&mut linker, |s| GuestLog::new(&mut s.logs)).expect("link");
        let bytes = wat::parse_str(LOGS_HELLO).expect("wat");
        let component = Component::new(&engine, bytes).expect("component");
        let mut store = Store::new(
            &engine,
            Other {
                logs: LogBuffer::default(),
            },
        );
        let instance = linker
            .instantiate_async(&mut store, &component)
            .await
            .expect("instantiate");
        let run = instance
            .get_typed_func::<(), ()>(&mut store, "run")
            .expect("run");
        run.call_async(&mut store, ()).await.expect("call");
        let (lines, dropped) = store.into_data().logs.into_parts();
        assert_eq!(dropped, 0);
        assert_eq!(
            lines,
            [LogLine {
                level: Level::Warn,
                source: Source::Log,
                message: "hello".into(),
            }]
        );
    }
}

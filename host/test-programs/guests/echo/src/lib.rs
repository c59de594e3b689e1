//! `echo`: returns its input text. Benchmarks use it as the cheapest real
//! tool; runtime tests use its switches to log, print, grow the output,
//! take their time or panic on demand.

use std::io::Write;

use gateway_tool::{Tool, ToolError, log};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to echo, and what else to do on the way.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Text to return.
    pub text: String,
    /// Logged at info level through the gateway's log.
    pub log: Option<String>,
    /// Write this many bytes to stdout, and as many to stderr.
    pub print_bytes: Option<u32>,
    /// Return this many 'x' characters as the text instead (the JSON is 11 bytes more).
    pub output_bytes: Option<u32>,
    /// Panic instead of answering (the instance traps).
    #[serde(default)]
    pub panic: bool,
    /// Exit the process with this status instead of answering (WASI
    /// `exit`, which stops the call with a host error, not a trap; WASI 0.2
    /// reports any non-zero status as 1).
    pub exit_code: Option<i32>,
    /// Sleep this many milliseconds first (on the WASI monotonic clock): a
    /// call that is still in flight when a test stops the gateway.
    pub sleep_ms: Option<u32>,
}

/// The echoed text.
#[derive(Serialize, JsonSchema)]
pub struct Output {
    /// The input text, or the padding asked for by `output_bytes`.
    pub text: String,
}

struct Echo;

impl Tool for Echo {
    const NAME: &'static str = "echo";
    const DESCRIPTION: &'static str = "Returns its input text.";
    type Input = Input;
    type Output = Output;

    fn call(input: Input) -> Result<Output, ToolError> {
        if let Some(ms) = input.sleep_ms {
            std::thread::sleep(std::time::Duration::from_millis(u64::from(ms)));
        }
        if let Some(message) = &input.log {
            log::info(message);
        }
        if let Some(n) = input.print_bytes {
            // A size beyond the memory limit traps, which is what tests want.
            let bytes = vec![b'o'; n as usize];
            // Output the host discards is not the tool's failure.
            let _ = std::io::stdout()
                .write_all(&bytes)
                .and_then(|()| std::io::stdout().flush());
            let _ = std::io::stderr().write_all(&bytes);
        }
        if input.panic {
            panic!("echo was asked to panic");
        }
        if let Some(code) = input.exit_code {
            std::process::exit(code);
        }
        let text = match input.output_bytes {
            Some(n) => "x".repeat(n as usize),
            None => input.text,
        };
        Ok(Output { text })
    }
}

gateway_tool::export_tool!(Echo);

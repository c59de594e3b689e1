//! An upstream MCP server run as a child process speaking MCP on its
//! stdin/stdout (`"transport": "stdio"`).
//!
//! The child gets a clean environment: `PATH` (so `npx`, `node` or `uvx`
//! resolve as they do for the gateway), `HOME` and `TMPDIR` pointing at a
//! private working directory made for this start and removed when it ends,
//! and the connection's declared `env` — nothing else of the gateway's
//! environment, so no admin key, no cloud credential and no other
//! connection's secret reaches it. Its stdin and stdout belong to the
//! gateway; each stderr line goes to the gateway's log (declared values
//! masked). It runs in its own process group, killed whole when the session
//! ends, so a launcher such as `npx` leaves no orphaned server behind.

use std::collections::BTreeMap;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout, Command};

/// Longest stderr line logged; the rest of a longer one is dropped.
const MAX_LOG_LINE: usize = 4096;

/// Why a child could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StdioError {
    /// The private working directory could not be made.
    #[error("making the private working directory: {0}")]
    WorkDir(#[source] std::io::Error),
    /// The program could not be started.
    #[error("starting {command:?}: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// A running child. Dropping it kills its whole process group and removes
/// its working directory.
#[derive(Debug)]
pub struct Child {
    child: tokio::process::Child,
    pid: Option<u32>,
    _dir: tempfile::TempDir,
}

impl Child {
    /// Its process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.pid
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(group) = self.pid.and_then(|p| i32::try_from(p).ok())
            && let Some(pid) = rustix::process::Pid::from_raw(group)
        {
            // The group may be gone already; nothing else to do then.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.start_kill();
    }
}

/// Starts `command` for connection `name`; returns the child and its
/// stdout (server messages) and stdin (client messages).
pub fn spawn(
    name: &str,
    command: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<(Child, ChildStdout, ChildStdin), StdioError> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("agw-upstream-{name}-"))
        .tempdir()
        .map_err(StdioError::WorkDir)?;
    let mut cmd = Command::new(command);
    cmd.args(args)
        .env_clear()
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("TMPDIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(env);
    let mut child = cmd.spawn().map_err(|source| StdioError::Spawn {
        command: command.to_owned(),
        source,
    })?;
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err(StdioError::Spawn {
            command: command.to_owned(),
            source: std::io::Error::other("no stdin/stdout pipe"),
        });
    };
    if let Some(stderr) = child.stderr.take() {
        let secrets: Vec<String> = env.values().filter(|v| v.len() >= 6).cloned().collect();
        tokio::spawn(log_stderr(name.to_owned(), stderr, secrets));
    }
    let pid = child.id();
    Ok((
        Child {
            child,
            pid,
            _dir: dir,
        },
        stdout,
        stdin,
    ))
}

/// Logs each stderr line of connection `name` until the child closes it.
async fn log_stderr(name: String, stderr: tokio::process::ChildStderr, secrets: Vec<String>) {
    let mut lines = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_bounded_line(&mut lines, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut text = String::from_utf8_lossy(&line).trim_end().to_string();
        for secret in &secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        let text: String = text.chars().filter(|c| !c.is_control()).collect();
        tracing::info!(connection = %name, "upstream stderr: {text}");
    }
}

/// Reads one line, keeping at most [`MAX_LOG_LINE`] bytes of it.
async fn read_bounded_line(
    reader: &mut BufReader<tokio::process::ChildStderr>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let take = chunk.len().min(MAX_LOG_LINE.saturating_sub(line.len()));
        line.extend_from_slice(&chunk[..take]);
        let used = chunk.len();
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

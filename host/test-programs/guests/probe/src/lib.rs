//! `probe`: does exactly one thing the input asks for and reports the typed
//! outcome, so host tests can check what the sandbox allows: one HTTP request
//! through the gateway's `http` interface or plain `wasi:http`, a look at the
//! environment and arguments, a read or write under `/data`, or saying
//! back a text through every channel a tool has (output, log, stdout,
//! stderr, error).

mod wasi_http;

use gateway_tool::{Tool, ToolError, http};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The door a request goes through.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The gateway's `gateway:tool/http` import.
    #[default]
    Gateway,
    /// Plain `wasi:http/outgoing-handler`.
    Wasi,
}

/// One action. With `dump_env`, `read_file` or `write_file` set, that is the
/// action; otherwise the request described by `via` .. `body`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The door for the request; default "gateway".
    #[serde(default)]
    pub via: Via,
    /// HTTP method; default "GET".
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute URL; required for a request. With `base_config`, the part
    /// after that base URL instead.
    pub url: Option<String>,
    /// A config key holding a base URL that `url` is appended to (what a
    /// deployment, or `gateway tool test`, points elsewhere).
    pub base_config: Option<String>,
    /// Leave the response headers out of the outcome (they differ between
    /// an upstream and a recording of it).
    #[serde(default)]
    pub omit_headers: bool,
    /// Request headers as [name, value] pairs.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body (UTF-8).
    pub body: Option<String>,
    /// Also report every environment variable the guest can see (where a leaked secret would be).
    #[serde(default)]
    pub read_secret_env: bool,
    /// Report environment variables and arguments instead of making a request.
    #[serde(default)]
    pub dump_env: bool,
    /// Read this file instead of making a request.
    pub read_file: Option<String>,
    /// Write a few bytes to this file instead of making a request.
    pub write_file: Option<String>,
    /// Say this text back instead of making a request: in the output, the
    /// log interface, stdout and stderr.
    pub echo: Option<String>,
    /// Fail with this text as an upstream error instead of making a request.
    pub fail_with: Option<String>,
}

fn default_method() -> String {
    "GET".to_string()
}

/// What happened. `ok` says which of `error` or the other fields to read.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Outcome {
    /// Whether the action succeeded.
    pub ok: bool,
    /// Response status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response headers as [name, value] pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<(String, String)>>,
    /// Response body, lossily decoded as UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Why the action failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Environment variables as [name, value] pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<(String, String)>>,
    /// Program arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Contents of the file read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    /// The text given in `echo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echo: Option<String>,
}

/// A typed failure, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Failure {
    /// The gateway refused the request; `reason` is the WIT `denied-reason` name.
    Denied { reason: String },
    /// Gateway door: name resolution failed.
    Dns { message: String },
    /// Gateway door: connecting or TLS failed.
    Connect { message: String },
    /// Gateway door: a timeout expired.
    Timeout,
    /// Gateway door: the response exceeded the upstream byte limit.
    TooLarge,
    /// Gateway door: the upstream broke the protocol.
    Protocol { message: String },
    /// WASI door: the `wasi:http` error-code case, e.g. "HttpRequestDenied".
    Wasi { code: String },
    /// WASI door: building the headers failed, e.g. "Forbidden".
    WasiHeader { code: String },
    /// A file operation failed; `code` is the `std::io::ErrorKind` name.
    Io { code: String },
    /// Anything else (a bug in the probe or an unexpected host answer).
    Other { message: String },
}

impl Outcome {
    fn failed(error: Failure) -> Self {
        Outcome {
            ok: false,
            error: Some(error),
            ..Outcome::default()
        }
    }
}

/// A successful response, from either door.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

struct Probe;

impl Tool for Probe {
    const NAME: &'static str = "probe";
    const DESCRIPTION: &'static str =
        "Test program: one request, environment dump or file access, typed outcome.";
    type Input = Input;
    type Output = Outcome;

    fn call(input: Input) -> Result<Outcome, ToolError> {
        if input.dump_env {
            return Ok(Outcome {
                ok: true,
                env: Some(env()),
                args: Some(std::env::args_os().map(lossy).collect()),
                ..Outcome::default()
            });
        }
        if let Some(text) = input.fail_with {
            return Err(ToolError::Upstream(text));
        }
        if let Some(text) = input.echo {
            gateway_tool::log::info(&text);
            println!("{text}");
            eprintln!("{text}");
            return Ok(Outcome {
                ok: true,
                echo: Some(text),
                ..Outcome::default()
            });
        }
        if let Some(path) = &input.read_file {
            return Ok(match std::fs::read(path) {
                Ok(bytes) => Outcome {
                    ok: true,
                    contents: Some(String::from_utf8_lossy(&bytes).into_owned()),
                    ..Outcome::default()
                },
                Err(e) => Outcome::failed(io_failure(&e)),
            });
        }
        if let Some(path) = &input.write_file {
            return Ok(match std::fs::write(path, b"written by probe\n") {
                Ok(()) => Outcome {
                    ok: true,
                    ..Outcome::default()
                },
                Err(e) => Outcome::failed(io_failure(&e)),
            });
        }
        let url = input
            .url
            .clone()
            .ok_or_else(|| ToolError::InvalidInput("url: required for a request".into()))?;
        let url = match &input.base_config {
            Some(key) => format!("{}{url}", gateway_tool::config::require(key)?),
            None => url,
        };
        let body = input.body.clone().map(String::into_bytes);
        let result = match input.via {
            Via::Gateway => gateway(&input.method, &url, input.headers.clone(), body),
            Via::Wasi => wasi_http::send(&input.method, &url, &input.headers, body.as_deref()),
        };
        let mut outcome = match result {
            Ok(r) => Outcome {
                ok: true,
                status: Some(r.status),
                headers: Some(r.headers),
                body: Some(String::from_utf8_lossy(&r.body).into_owned()),
                ..Outcome::default()
            },
            Err(f) => Outcome::failed(f),
        };
        if input.read_secret_env {
            outcome.env = Some(env());
        }
        if input.omit_headers {
            outcome.headers = None;
        }
        Ok(outcome)
    }
}

gateway_tool::export_tool!(Probe);

fn gateway(
    method: &str,
    url: &str,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
) -> Result<Reply, Failure> {
    let req = http::Request {
        method: method.to_string(),
        url: url.to_string(),
        headers,
        body,
    };
    match http::send(req) {
        Ok(r) => Ok(Reply {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }),
        Err(http::Error::Denied(reason)) => Err(Failure::Denied {
            reason: reason.as_str().to_string(),
        }),
        Err(http::Error::Dns(message)) => Err(Failure::Dns { message }),
        Err(http::Error::Connect(message)) => Err(Failure::Connect { message }),
        Err(http::Error::Timeout) => Err(Failure::Timeout),
        Err(http::Error::TooLarge) => Err(Failure::TooLarge),
        Err(http::Error::Protocol(message)) => Err(Failure::Protocol { message }),
        Err(other) => Err(Failure::Other {
            message: other.to_string(),
        }),
    }
}

fn env() -> Vec<(String, String)> {
    std::env::vars_os()
        .map(|(k, v)| (lossy(k), lossy(v)))
        .collect()
}

fn lossy(s: std::ffi::OsString) -> String {
    s.to_string_lossy().into_owned()
}

fn io_failure(e: &std::io::Error) -> Failure {
    Failure::Io {
        code: format!("{:?}", e.kind()),
    }
}

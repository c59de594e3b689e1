//! The admin API's one error type: each answer is `{"error": {"code",
//! "message"}}` with the HTTP status the code implies. Codes are stable;
//! messages are for people.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::hotload::LoaderError;
use crate::hotload::compile::CompileError;
use crate::manifest::ManifestError;
use crate::outbound::SecretError;
use crate::runtime::LoadError;

/// Why an admin request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No key, or not the admin key. Says nothing more, on purpose.
    #[error("unauthorized")]
    Unauthorized,
    /// The Host header is not one this listener answers to (DNS rebinding).
    #[error("Host not allowed")]
    HostNotAllowed,
    /// More than one Host header (RFC 9112 §3.2: 400).
    #[error("more than one Host header")]
    DuplicateHost,
    /// This client address failed the key check too often; it may try
    /// again after `retry_after_secs`.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    TooManyFailures {
        /// Seconds until one more attempt is allowed.
        retry_after_secs: u64,
    },
    /// The request came from a browser (an Origin or fetch metadata).
    #[error("browser requests are not accepted")]
    BrowserRefused,
    /// No such endpoint.
    #[error("no such endpoint")]
    UnknownEndpoint,
    /// The endpoint exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The name in the URL is not a tool name.
    #[error(transparent)]
    InvalidName(#[from] crate::manifest::NameError),
    /// The name in the URL could not be decoded (axum's reason).
    #[error("{0}")]
    UndecodableName(String),
    /// The upload is not `multipart/form-data`.
    #[error("send the upload as multipart/form-data with parts `manifest` and `component`")]
    UnsupportedMediaType,
    /// The upload's framing or parts are wrong.
    #[error("{0}")]
    BadUpload(String),
    /// The body (or a part) is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The manifest names another tool than the URL.
    #[error("the URL names tool {url:?} but the manifest names {manifest:?}")]
    NameMismatch {
        /// The name in the URL.
        url: String,
        /// The name in `tool.toml`.
        manifest: String,
    },
    /// No tool of that name is served or kept.
    #[error("no tool named {0:?}")]
    NotFound(String),
    /// Nothing to roll back to.
    #[error("tool {0:?} has no previous version to roll back to")]
    NoPreviousVersion(String),
    /// The tool is served from a folder the admin API does not manage.
    #[error(
        "tool {name:?} is served from {folder}, not from a folder named after it; change it there"
    )]
    NotManaged {
        /// The tool.
        name: String,
        /// Where it is served from.
        folder: String,
    },
    /// The folder named after the tool serves another tool.
    #[error("folder {folder} serves tool {other:?}; refusing to replace it with {name:?}")]
    FolderTaken {
        /// The tool in the URL.
        name: String,
        /// The folder.
        folder: String,
        /// The tool it serves.
        other: String,
    },
    /// The Loader refused the change; the previous version keeps serving.
    #[error("{message}")]
    Refused {
        /// Why (boxed: refusals are rare and the error is large).
        error: Box<LoaderError>,
        /// The reason with staging paths made relative.
        message: String,
    },
    /// A file operation on the gateway's side failed (the cause is logged).
    #[error("internal error: {0}")]
    Io(#[from] std::io::Error),
    /// The task running a change ended without an answer (the cause is logged).
    #[error("internal error: an admin change failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl AdminError {
    /// The refusal `error`, its message naming files relative to `dirs`
    /// (staging folders mean nothing to the client).
    pub fn refused(error: LoaderError, dirs: &[&std::path::Path]) -> Self {
        let mut message = error.to_string();
        for dir in dirs {
            message = message.replace(&format!("{}/", dir.display()), "");
        }
        AdminError::Refused {
            error: Box::new(error),
            message,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Unauthorized => "unauthorized",
            AdminError::HostNotAllowed => "host_not_allowed",
            AdminError::DuplicateHost => "duplicate_host",
            AdminError::TooManyFailures { .. } => "too_many_failures",
            AdminError::BrowserRefused => "browser_refused",
            AdminError::UnknownEndpoint => "unknown_endpoint",
            AdminError::MethodNotAllowed => "method_not_allowed",
            AdminError::InvalidName(_) | AdminError::UndecodableName(_) => "invalid_name",
            AdminError::UnsupportedMediaType => "unsupported_media_type",
            AdminError::BadUpload(_) => "bad_upload",
            AdminError::TooLarge(_) => "too_large",
            AdminError::NameMismatch { .. } => "name_mismatch",
            AdminError::NotFound(_) => "not_found",
            AdminError::NoPreviousVersion(_) => "no_previous_version",
            AdminError::NotManaged { .. } => "not_managed",
            AdminError::FolderTaken { .. } => "folder_taken",
            AdminError::Refused { error, .. } => Refusal::of(error).code(),
            AdminError::Io(_) | AdminError::Task(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::HostNotAllowed | AdminError::BrowserRefused => StatusCode::FORBIDDEN,
            AdminError::DuplicateHost => StatusCode::BAD_REQUEST,
            AdminError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            AdminError::UnknownEndpoint | AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AdminError::InvalidName(_)
            | AdminError::UndecodableName(_)
            | AdminError::BadUpload(_)
            | AdminError::NameMismatch { .. } => StatusCode::BAD_REQUEST,
            AdminError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AdminError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::NoPreviousVersion(_)
            | AdminError::NotManaged { .. }
            | AdminError::FolderTaken { .. } => StatusCode::CONFLICT,
            AdminError::Refused { error, .. } => Refusal::of(error).status(),
            AdminError::Io(_) | AdminError::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Each way the Loader refuses a change, as the admin API answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The upload lacks `tool.toml` or `tool.wasm`.
    BadUpload,
    /// An `[[http]]` entry was refused.
    CapabilityRefused,
    /// The name is a built-in tool's.
    NameReserved,
    /// Any other manifest mistake.
    ManifestInvalid,
    /// A secret the admin has not granted to this tool.
    SecretNotGranted,
    /// A secret that configures the gateway itself.
    SecretReserved,
    /// A granted secret not set on the gateway (or not a header value).
    SecretMissing,
    /// The component is not valid WebAssembly for this gateway.
    ComponentInvalid,
    /// It imports what the gateway does not offer.
    ImportsRefused,
    /// It lacks the tool exports.
    ExportsMissing,
    /// Its self-description failed.
    DescribeFailed,
    /// Its definition was refused.
    DefinitionRefused,
    /// Compiling took longer than the budget.
    CompileTimeout,
    /// Compiling needed more memory than the budget.
    CompileMemory,
    /// Another folder serves this name.
    NameTaken,
    /// No such tool.
    NotFound,
    /// The gateway's side failed (files, the compiler process).
    Internal,
}

impl Refusal {
    fn of(error: &LoaderError) -> Self {
        match error {
            LoaderError::Incomplete(_) => Refusal::BadUpload,
            LoaderError::Load(load) => match load {
                LoadError::Manifest(ManifestError::Http { .. }) => Refusal::CapabilityRefused,
                LoadError::Manifest(ManifestError::ReservedName { .. }) => Refusal::NameReserved,
                LoadError::Manifest(_) => Refusal::ManifestInvalid,
                LoadError::Secret {
                    source: SecretError::NotGranted { .. },
                    ..
                } => Refusal::SecretNotGranted,
                LoadError::Secret {
                    source: SecretError::Reserved { .. },
                    ..
                } => Refusal::SecretReserved,
                LoadError::Secret { .. } => Refusal::SecretMissing,
                LoadError::Io { .. } => Refusal::Internal,
                LoadError::Compile { .. } => Refusal::ComponentInvalid,
                LoadError::PythonView {
                    source: crate::runtime::pyview::ViewError::Io { .. },
                    ..
                } => Refusal::Internal,
                LoadError::PythonView { .. } => Refusal::ComponentInvalid,
                LoadError::Imports { .. } => Refusal::ImportsRefused,
                LoadError::Exports { .. } => Refusal::ExportsMissing,
                LoadError::Describe { .. } => Refusal::DescribeFailed,
                LoadError::Definition { .. } => Refusal::DefinitionRefused,
            },
            LoaderError::Compile { source, .. } => match source {
                CompileError::Invalid(_) => Refusal::ComponentInvalid,
                CompileError::Timeout(_) => Refusal::CompileTimeout,
                CompileError::Memory(_) => Refusal::CompileMemory,
                CompileError::Process(_) => Refusal::Internal,
            },
            LoaderError::NameTaken { .. } => Refusal::NameTaken,
            LoaderError::NotFound(_) => Refusal::NotFound,
        }
    }

    /// The stable code (docs/admin.md).
    fn code(self) -> &'static str {
        match self {
            Refusal::BadUpload => "bad_upload",
            Refusal::CapabilityRefused => "capability_refused",
            Refusal::NameReserved => "name_reserved",
            Refusal::ManifestInvalid => "manifest_invalid",
            Refusal::SecretNotGranted => "secret_not_granted",
            Refusal::SecretReserved => "secret_reserved",
            Refusal::SecretMissing => "secret_missing",
            Refusal::ComponentInvalid => "component_invalid",
            Refusal::ImportsRefused => "imports_refused",
            Refusal::ExportsMissing => "exports_missing",
            Refusal::DescribeFailed => "describe_failed",
            Refusal::DefinitionRefused => "definition_refused",
            Refusal::CompileTimeout => "compile_timeout",
            Refusal::CompileMemory => "compile_memory",
            Refusal::NameTaken => "name_taken",
            Refusal::NotFound => "not_found",
            Refusal::Internal => "internal",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::BadUpload => StatusCode::BAD_REQUEST,
            Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::NameTaken => StatusCode::CONFLICT,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            // The request was well formed; what it carried was refused.
            Refusal::CapabilityRefused
            | Refusal::NameReserved
            | Refusal::ManifestInvalid
            | Refusal::SecretNotGranted
            | Refusal::SecretReserved
            | Refusal::SecretMissing
            | Refusal::ComponentInvalid
            | Refusal::ImportsRefused
            | Refusal::ExportsMissing
            | Refusal::DescribeFailed
            | Refusal::DefinitionRefused
            | Refusal::CompileTimeout
            | Refusal::CompileMemory => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            // The cause is for the gateway's log, not the client.
            tracing::error!("admin API: {self}");
            "internal error; see the gateway's log".to_owned()
        } else {
            self.to_string()
        };
        let mut body = json!({"error": {"code": self.code(), "message": message}});
        // The variable a secret refusal is about, for tools that act on it
        // (`gateway promote` lists what the gateway lacks).
        if let AdminError::Refused { error, .. } = &self
            && let LoaderError::Load(LoadError::Secret { source, .. }) = error.as_ref()
            && let Some(var) = source.var()
        {
            body["error"]["variable"] = json!(var);
        }
        if let AdminError::TooManyFailures { retry_after_secs } = &self {
            // As the MCP limits answer (docs/limits.md): seconds to wait.
            body["error"]["retryAfter"] = json!(retry_after_secs);
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let AdminError::TooManyFailures { retry_after_secs } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after_secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_refusal_has_its_code_and_status() {
        let compile = |source| LoaderError::Compile {
            path: PathBuf::from("t/tool.wasm"),
            source,
        };
        let cases = [
            (
                LoaderError::Incomplete(PathBuf::from("t")),
                "bad_upload",
                StatusCode::BAD_REQUEST,
            ),
            (
                LoaderError::NameTaken {
                    dir: PathBuf::from("a"),
                    name: "t".into(),
                    other: PathBuf::from("b"),
                },
                "name_taken",
                StatusCode::CONFLICT,
            ),
            (
                LoaderError::NotFound("t".into()),
                "not_found",
                StatusCode::NOT_FOUND,
            ),
            (
                compile(CompileError::Timeout(Duration::from_secs(1))),
                "compile_timeout",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                compile(CompileError::Process("gone".into())),
                "internal",
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, code, status) in cases {
            let error = AdminError::refused(error, &[]);
            assert_eq!((error.code(), error.status()), (code, status), "{error}");
            assert_eq!(error.into_response().status(), status);
        }
        let io = AdminError::from(std::io::Error::other("disk"));
        assert_eq!(
            (io.code(), io.status()),
            ("internal", StatusCode::INTERNAL_SERVER_ERROR)
        );
    }
}

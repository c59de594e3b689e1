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
    #[error("{0}")]
    InvalidName(String),
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
    /// Something on the gateway's side failed (the cause is logged).
    #[error("internal error: {0}")]
    Internal(String),
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
            AdminError::InvalidName(_) => "invalid_name",
            AdminError::UnsupportedMediaType => "unsupported_media_type",
            AdminError::BadUpload(_) => "bad_upload",
            AdminError::TooLarge(_) => "too_large",
            AdminError::NameMismatch { .. } => "name_mismatch",
            AdminError::NotFound(_) => "not_found",
            AdminError::NoPreviousVersion(_) => "no_previous_version",
            AdminError::NotManaged { .. } => "not_managed",
            AdminError::FolderTaken { .. } => "folder_taken",
            AdminError::Refused { error, .. } => refusal_code(error),
            AdminError::Internal(_) => "internal",
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
            | AdminError::BadUpload(_)
            | AdminError::NameMismatch { .. } => StatusCode::BAD_REQUEST,
            AdminError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AdminError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AdminError::NoPreviousVersion(_)
            | AdminError::NotManaged { .. }
            | AdminError::FolderTaken { .. } => StatusCode::CONFLICT,
            AdminError::Refused { error, .. } => refusal_status(error),
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The code for each way the Loader refuses a change.
fn refusal_code(error: &LoaderError) -> &'static str {
    match error {
        LoaderError::Incomplete(_) => "bad_upload",
        LoaderError::Load(load) => match load {
            LoadError::Manifest(ManifestError::Http { .. }) => "capability_refused",
            LoadError::Manifest(ManifestError::ReservedName { .. }) => "name_reserved",
            LoadError::Manifest(_) => "manifest_invalid",
            LoadError::Secret {
                source: SecretError::NotGranted { .. },
                ..
            } => "secret_not_granted",
            LoadError::Secret {
                source: SecretError::Reserved { .. },
                ..
            } => "secret_reserved",
            LoadError::Secret { .. } => "secret_missing",
            LoadError::Io { .. } => "internal",
            LoadError::Compile { .. } => "component_invalid",
            LoadError::PythonView {
                source: crate::runtime::pyview::ViewError::Io { .. },
                ..
            } => "internal",
            LoadError::PythonView { .. } => "component_invalid",
            LoadError::Imports { .. } => "imports_refused",
            LoadError::Exports { .. } => "exports_missing",
            LoadError::Describe { .. } => "describe_failed",
            LoadError::Definition { .. } => "definition_refused",
        },
        LoaderError::Compile { source, .. } => match source {
            CompileError::Invalid(_) => "component_invalid",
            CompileError::Timeout(_) => "compile_timeout",
            CompileError::Memory(_) => "compile_memory",
            CompileError::Process(_) => "internal",
        },
        LoaderError::NameTaken { .. } => "name_taken",
        LoaderError::NotFound(_) => "not_found",
    }
}

fn refusal_status(error: &LoaderError) -> StatusCode {
    match refusal_code(error) {
        "bad_upload" => StatusCode::BAD_REQUEST,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        "name_taken" => StatusCode::CONFLICT,
        "not_found" => StatusCode::NOT_FOUND,
        // The request was well formed; what it carried was refused.
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<std::io::Error> for AdminError {
    fn from(e: std::io::Error) -> Self {
        AdminError::Internal(e.to_string())
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
        let body = json!({"error": {"code": self.code(), "message": message}});
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

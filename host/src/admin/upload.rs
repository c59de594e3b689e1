//! Receiving an upload: `multipart/form-data` with a `manifest` part
//! (`tool.toml` text), a `component` part (`tool.wasm` bytes) and, optionally,
//! a `skill` part (the tool's `SKILL.md`, served as its prompt and skill: see
//! docs/resources-and-prompts.md), each streamed into a staging folder as it
//! arrives, never held whole in memory.

use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use tokio::io::AsyncWriteExt;

use super::error::AdminError;
use super::store::Staged;
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE};

/// The optional part's file.
const SKILL_FILE: &str = "SKILL.md";

/// Largest manifest part: a `tool.toml` is a page of text.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Writes the request's `manifest`, `component` and optional `skill` parts
/// into `staged` as `tool.toml`, `tool.wasm` and `SKILL.md`. Any other part,
/// a part given twice, or a missing required one is refused; a body past `max_bytes` (enforced by the
/// router's body limit) is [`AdminError::TooLarge`].
pub async fn receive(request: Request, staged: &Staged, max_bytes: u64) -> Result<(), AdminError> {
    let framing = |e: MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AdminError::TooLarge(format!(
                "the upload is larger than {max_bytes} bytes (`[admin] max_upload_bytes`)"
            ))
        } else {
            AdminError::BadUpload(e.body_text())
        }
    };
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_multipart {
        return Err(AdminError::UnsupportedMediaType);
    }
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| AdminError::BadUpload(e.body_text()))?;
    let (mut manifest, mut component, mut skill) = (false, false, false);
    while let Some(mut field) = multipart.next_field().await.map_err(framing)? {
        let (file, seen, cap) = match field.name() {
            Some("manifest") => (MANIFEST_FILE, &mut manifest, Some(MAX_MANIFEST_BYTES)),
            Some("component") => (COMPONENT_FILE, &mut component, None),
            Some("skill") => (
                SKILL_FILE,
                &mut skill,
                Some(crate::runtime::MAX_SKILL_BYTES),
            ),
            Some(other) => {
                return Err(AdminError::BadUpload(format!(
                    "unexpected part {other:?}: send `manifest`, `component` and optionally `skill`"
                )));
            }
            None => return Err(AdminError::BadUpload("a part without a name".into())),
        };
        if *seen {
            return Err(AdminError::BadUpload(format!(
                "part {:?} given twice",
                field.name().unwrap_or_default()
            )));
        }
        *seen = true;
        let path = staged.path().join(file);
        let mut out = tokio::fs::File::create(&path).await?;
        let mut written: u64 = 0;
        while let Some(chunk) = field.chunk().await.map_err(framing)? {
            written += chunk.len() as u64;
            if cap.is_some_and(|cap| written > cap) {
                return Err(AdminError::TooLarge(format!(
                    "{file} is larger than {} KiB",
                    cap.unwrap_or_default() >> 10
                )));
            }
            out.write_all(&chunk).await?;
        }
        // Durable before it is renamed into place: a restart serves it.
        out.sync_all().await?;
    }
    for (present, part) in [(manifest, "manifest"), (component, "component")] {
        if !present {
            return Err(AdminError::BadUpload(format!("missing part `{part}`")));
        }
    }
    Ok(())
}

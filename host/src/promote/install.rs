//! Installing a built tool into a running gateway through its admin API
//! (`PUT /admin/tools/{name}`, multipart `manifest` + `component`; see
//! `docs/admin.md`).

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde::Serialize;
use wasmtime_wasi_http::io::TokioIo;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the gateway may take to check and compile an upload (a CPython
/// component compiles in ~15 s on a small machine).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest answer read.
const ANSWER_LIMIT: usize = 1 << 20;

/// What a gateway said to an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Installed {
    /// Accepted: `added`, `replaced` or `unchanged`.
    Accepted {
        /// The admin API's `change`.
        change: String,
    },
    /// Refused, with the admin API's stable code.
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code (`secret_missing`, `capability_refused`, …).
        code: String,
        /// The message.
        message: String,
        /// The environment variable a secret refusal is about.
        #[serde(skip_serializing_if = "Option::is_none")]
        variable: Option<String>,
    },
}

/// Why an upload did not get an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The admin URL is not an http(s) URL with a host.
    #[error("{0:?} is not an admin API URL (http://host:port or https://host)")]
    BadUrl(String),
    /// The host did not resolve or the connection failed.
    #[error("connecting to {url}: {reason}")]
    Connect {
        /// The admin URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The exchange failed or took too long.
    #[error("{url}: {reason}")]
    Exchange {
        /// The admin URL.
        url: String,
        /// What failed.
        reason: String,
    },
}

/// Uploads `manifest`, `component` and the tool's `SKILL.md` (if any) as
/// tool `name` to the admin API at `url`.
pub async fn upload(
    url: &str,
    key: &str,
    name: &str,
    manifest: &[u8],
    component: &[u8],
    skill: Option<&[u8]>,
) -> Result<Installed, InstallError> {
    let bad = || InstallError::BadUrl(url.to_owned());
    let base = url::Url::parse(url).map_err(|_| bad())?;
    let tls = match base.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(bad()),
    };
    let host = base.host_str().ok_or_else(bad)?.to_owned();
    let port = base.port_or_known_default().ok_or_else(bad)?;
    let prefix = base.path().trim_end_matches('/');
    let path = format!("{prefix}/admin/tools/{name}");
    let connect_err = |reason: String| InstallError::Connect {
        url: url.to_owned(),
        reason,
    };
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addrs: Vec<_> = tokio::net::lookup_host((bare.as_str(), port))
        .await
        .map_err(|e| connect_err(e.to_string()))?
        .collect();
    let io = crate::outbound::client::connect(&addrs, &host, tls, CONNECT_TIMEOUT)
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let exchange = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let boundary = format!("agent-gateway-{}", uuid::Uuid::new_v4().simple());
        let body = multipart(&boundary, manifest, component, skill);
        let authority = match base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let request = Request::put(path.as_str())
            .header(http::header::HOST, authority)
            .header(http::header::AUTHORIZATION, format!("Bearer {key}"))
            .header(
                http::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, bytes))
    };
    let (status, bytes) = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .map_err(|_| InstallError::Exchange {
            url: url.to_owned(),
            reason: format!("no answer within {} s", ANSWER_TIMEOUT.as_secs()),
        })?
        .map_err(|reason| InstallError::Exchange {
            url: url.to_owned(),
            reason,
        })?;
    Ok(interpret(status, &bytes))
}

fn interpret(status: StatusCode, body: &[u8]) -> Installed {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    if status.is_success() {
        return Installed::Accepted {
            change: text(&json["change"]).unwrap_or_else(|| "unknown".to_owned()),
        };
    }
    let error = &json["error"];
    Installed::Refused {
        status: status.as_u16(),
        code: text(&error["code"]).unwrap_or_else(|| "unknown".to_owned()),
        message: text(&error["message"])
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned()),
        variable: text(&error["variable"]),
    }
}

fn multipart(boundary: &str, manifest: &[u8], component: &[u8], skill: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::with_capacity(manifest.len() + component.len() + 512);
    let parts = [
        Some(("manifest", "tool.toml", "application/toml", manifest)),
        Some(("component", "tool.wasm", "application/wasm", component)),
        skill.map(|bytes| ("skill", "SKILL.md", "text/markdown", bytes)),
    ];
    for (name, file, kind, bytes) in parts.into_iter().flatten() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: {kind}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_into_typed_outcomes() {
        assert_eq!(
            interpret(StatusCode::CREATED, br#"{"change":"added","tool":{}}"#),
            Installed::Accepted {
                change: "added".into()
            }
        );
        assert_eq!(
            interpret(
                StatusCode::UNPROCESSABLE_ENTITY,
                br#"{"error":{"code":"secret_missing","message":"m","variable":"STRIPE_API_KEY"}}"#
            ),
            Installed::Refused {
                status: 422,
                code: "secret_missing".into(),
                message: "m".into(),
                variable: Some("STRIPE_API_KEY".into())
            }
        );
        assert!(matches!(
            interpret(StatusCode::BAD_GATEWAY, b"<html>proxy</html>"),
            Installed::Refused { status: 502, ref code, .. } if code == "unknown"
        ));
    }

    #[test]
    fn the_body_has_both_parts_and_the_closing_boundary() {
        let body = multipart("b", b"name = \"x\"\n", b"\0asm", None);
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("--b\r\nContent-Disposition: form-data; name=\"manifest\""));
        assert!(text.ends_with("\r\n--b--\r\n"));
        assert_eq!(text.matches("--b\r\n").count(), 2);
    }
}

//! Sends checked requests: one DNS answer, connect only to checked addresses,
//! HTTP/1.1 over plain TCP or rustls, timeouts clamped by the host.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

use super::addr::{PrivateAllowList, ResolveError, resolve_checked};
use super::body::MeteredBody;
use super::meter::Meter;
use super::policy::{DeniedReason, Policy};
use super::rules::{Rule, Scheme};
use super::{OutboundError, SecretError, SecretHeaders};
use crate::settings::Timeouts;

/// Request bodies a tool may send (writes are rare and small by design).
pub const MAX_REQUEST_BODY: usize = 1 << 20;

/// A request from the gateway `http` interface.
#[derive(Debug, Clone)]
pub struct GuestRequest {
    /// Method as the guest spelled it.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Guest-set headers.
    pub headers: Vec<(String, String)>,
    /// Body, if any (a GET/HEAD with a body is refused).
    pub body: Option<Vec<u8>>,
}

/// A fully read upstream response.
#[derive(Debug, Clone)]
pub struct FullResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// One tool's outbound door: its policy, its secrets, and the deployment's
/// private-address grants and timeouts.
#[derive(Debug)]
pub struct Outbound {
    policy: Policy,
    secrets: Vec<SecretHeaders>,
    allow_private: PrivateAllowList,
    timeouts: Timeouts,
}

impl Outbound {
    /// Builds the door; secret header values are read from `env` now.
    pub fn new(
        rules: Vec<Rule>,
        env: impl Fn(&str) -> Option<String>,
        allow_private: PrivateAllowList,
        timeouts: Timeouts,
    ) -> Result<Self, SecretError> {
        let mut secrets = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let mut headers = Vec::new();
            for secret in &rule.secret_headers {
                let value = secret
                    .template
                    .render(&env)
                    .map_err(|var| SecretError::Missing {
                        rule: index,
                        header: secret.name.to_string(),
                        var,
                    })?;
                let mut value =
                    HeaderValue::from_str(&value).map_err(|_| SecretError::InvalidValue {
                        rule: index,
                        header: secret.name.to_string(),
                    })?;
                value.set_sensitive(true);
                headers.push((secret.name.clone(), value));
            }
            secrets.push(SecretHeaders(headers));
        }
        Ok(Self {
            policy: Policy::new(rules),
            secrets,
            allow_private,
            timeouts,
        })
    }

    /// The request policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The host's timeout ceilings.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Sends a request and reads the whole body (the gateway `http` interface).
    pub async fn fetch(
        &self,
        meter: &Arc<Meter>,
        req: GuestRequest,
    ) -> Result<FullResponse, OutboundError> {
        let has_body = req.body.is_some();
        let body = Bytes::from(req.body.unwrap_or_default());
        let response = self
            .send(
                meter,
                &req.method,
                &req.url,
                &req.headers,
                has_body,
                body,
                self.timeouts,
            )
            .await?;
        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok(FullResponse {
            status,
            headers,
            body,
        })
    }

    /// Checks, connects and sends; the response body streams through the meter.
    /// `timeouts` must already be clamped to [`Outbound::timeouts`].
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        meter: &Arc<Meter>,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        has_body: bool,
        body: Bytes,
        timeouts: Timeouts,
    ) -> Result<Response<MeteredBody>, OutboundError> {
        let deny = |reason: DeniedReason| {
            meter.deny(reason);
            OutboundError::Denied(reason)
        };
        if !meter.begin_request() {
            return Err(deny(DeniedReason::RequestBudget));
        }
        let approved = self
            .policy
            .check(method, url, headers, has_body)
            .map_err(deny)?;
        if body.len() > MAX_REQUEST_BODY {
            return Err(OutboundError::TooLarge);
        }
        let addrs = resolve_checked(
            &approved.host,
            approved.port,
            &self.allow_private,
            timeouts.connect,
        )
        .await
        .map_err(|e| match e {
            ResolveError::PrivateAddress => deny(DeniedReason::PrivateAddress),
            ResolveError::Timeout => OutboundError::Timeout,
            other => OutboundError::Dns(other.to_string()),
        })?;

        let host = host_string(&approved.host);
        let tls = approved.rule.scheme == Scheme::Https;
        let io = connect(&addrs, &host, tls, timeouts.connect).await?;
        let (mut sender, conn) = tokio::time::timeout(
            timeouts.connect,
            hyper::client::conn::http1::Builder::new()
                .handshake::<_, Full<Bytes>>(TokioIo::new(io)),
        )
        .await
        .map_err(|_| OutboundError::Timeout)?
        .map_err(|e| OutboundError::Connect(e.to_string()))?;
        tokio::spawn(async move {
            // The connection ends when the response body is dropped or done.
            let _ = conn.await;
        });

        let request = self.build_request(&approved, &host, headers, body)?;
        let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
            .await
            .map_err(|_| OutboundError::Timeout)?
            .map_err(|e| OutboundError::Protocol(e.to_string()))?;
        let between = timeouts.between_bytes;
        Ok(response.map(|incoming| MeteredBody::new(incoming, Arc::clone(meter), between)))
    }

    fn build_request(
        &self,
        approved: &super::policy::Approved<'_>,
        host: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, OutboundError> {
        let path = match approved.url.query() {
            Some(q) => format!("{}?{q}", approved.url.path()),
            None => approved.url.path().to_string(),
        };
        let default_port = approved.rule.scheme.default_port();
        let authority = if approved.port == default_port {
            host.to_string()
        } else {
            format!("{host}:{}", approved.port)
        };
        let mut builder = Request::builder()
            .method(approved.method.clone())
            .uri(path)
            .header(http::header::HOST, authority);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        // Secrets last, after every check, for the matched entry only.
        if let Some(secrets) = self.secrets.get(approved.rule_index) {
            for (name, value) in &secrets.0 {
                builder = builder.header(name, value);
            }
        }
        if approved.method != Method::GET && approved.method != Method::HEAD {
            builder = builder.header(http::header::CONTENT_LENGTH, body.len());
        }
        builder
            .body(Full::new(body))
            .map_err(|e| OutboundError::Protocol(e.to_string()))
    }
}

/// `host` as it goes into SNI and the Host header.
fn host_string(host: &url::Host<String>) -> String {
    match host {
        // An absolute name's trailing dot is not part of SNI or Host.
        url::Host::Domain(d) => d.trim_end_matches('.').to_string(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn connect(
    addrs: &[SocketAddr],
    host: &str,
    tls: bool,
    timeout: Duration,
) -> Result<Box<dyn Io>, OutboundError> {
    let mut last = OutboundError::Connect("no address to connect to".into());
    for addr in addrs {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                last = OutboundError::Connect(e.to_string());
                continue;
            }
            Err(_) => {
                last = OutboundError::Timeout;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if !tls {
            return Ok(Box::new(stream));
        }
        let name = server_name(host)?;
        let connector = tokio_rustls::TlsConnector::from(tls_config());
        return match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
            Ok(Ok(tls)) => Ok(Box::new(tls)),
            Ok(Err(e)) => Err(OutboundError::Connect(format!("tls: {e}"))),
            Err(_) => Err(OutboundError::Timeout),
        };
    }
    Err(last)
}

fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, OutboundError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(bare.to_string())
        .map_err(|e| OutboundError::Connect(format!("tls server name: {e}")))
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .unwrap_or_else(|_| {
                // The ring provider always supports the default versions.
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }))
}

/// Headers as lossy UTF-8 pairs for the guest.
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value): (&HeaderName, &HeaderValue)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

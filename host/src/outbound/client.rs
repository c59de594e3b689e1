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
use super::body::{MeteredBody, RedactedBody};
use super::confirm::{Answer, PendingWrite, WriteFingerprint, WriteSummary};
use super::meter::Meter;
use super::observe::{Exchange, ExchangeObserver, Tap};
use super::policy::{Approved, DeniedReason, Policy};
use super::redact::Redactor;
use super::request::{GuestRequest, OutboundRequest, Timeouts};
use super::rules::{Rule, Scheme};
use super::{OutboundError, SecretError, SecretHeaders};

/// Request bodies a tool may send (writes are rare and small by design).
pub const MAX_REQUEST_BODY: usize = 1 << 20;

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
    redactor: Arc<Redactor>,
    allow_private: PrivateAllowList,
    timeouts: Timeouts,
    /// Who sees each exchange (recording only; `None` when serving).
    observer: Option<Arc<dyn ExchangeObserver>>,
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
        // (variable name, value) for the redactor: each variable on its own,
        // and each rendered header value.
        let mut bound: Vec<(String, String)> = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let mut headers = Vec::new();
            for secret in &rule.secret_headers {
                let vars: Vec<&str> = secret.template.env_vars().collect();
                for var in &vars {
                    if let Some(value) = env(var) {
                        bound.push(((*var).to_owned(), value));
                    }
                }
                let value =
                    secret
                        .template
                        .render(&env)
                        .map_err(|super::rules::MissingVar(var)| SecretError::Missing {
                            rule: index,
                            header: secret.name.to_string(),
                            var,
                        })?;
                let mut value =
                    HeaderValue::from_str(&value).map_err(|_| SecretError::InvalidValue {
                        rule: index,
                        header: secret.name.to_string(),
                    })?;
                // Under its first variable: a marker over the whole value
                // also names the others, whose own values it contains.
                if let Some(first) = vars.first()
                    && let Ok(rendered) = value.to_str()
                {
                    bound.push(((*first).to_owned(), rendered.to_owned()));
                }
                value.set_sensitive(true);
                headers.push((secret.name.clone(), value));
            }
            secrets.push(SecretHeaders(headers));
        }
        Ok(Self {
            policy: Policy::new(rules),
            secrets,
            redactor: Arc::new(Redactor::new(bound)),
            allow_private,
            timeouts,
            observer: None,
        })
    }

    /// The same door, handing every exchange to `observer` as the guest
    /// reads it (after the policy and the scrubbing; see `observe.rs`).
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn ExchangeObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The request policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Scrubs this tool's secret values from anything a guest or caller sees.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
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
        let req = OutboundRequest::from_guest(req);
        let response = self.send(meter, req, self.timeouts).await?;
        let status = response.status().as_u16();
        let headers = header_pairs(response.headers());
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok(FullResponse {
            status,
            headers,
            body,
        })
    }

    /// Checks, connects and sends; the response body streams through the
    /// meter, then the redactor, and its headers are scrubbed already.
    /// `req` is what the door parsed, or the policy step its parse failed at
    /// (counted after the request budget, like any other denial).
    /// `timeouts` must already be clamped to [`Outbound::timeouts`].
    pub async fn send(
        &self,
        meter: &Arc<Meter>,
        req: Result<OutboundRequest, DeniedReason>,
        timeouts: Timeouts,
    ) -> Result<Response<RedactedBody>, OutboundError> {
        let is_head = req.as_ref().is_ok_and(|r| r.method == Method::HEAD);
        // The request as a recording keeps it, scrubbed like the response
        // (a guest never holds a secret, but a recording must not depend on that).
        let witness = match (&self.observer, &req) {
            (Some(observer), Ok(r)) => Some((Arc::clone(observer), self.witnessed(r))),
            _ => None,
        };
        let (response, carries_secrets) = self
            .send_checked(meter, req, timeouts)
            .await
            .map_err(|e| e.redacted(&self.redactor))?;
        let (mut parts, body) = response.into_parts();
        if carries_secrets && is_compressed(&parts.headers) {
            // Scrubbing cannot see into compressed bytes, and identity was
            // asked for: an upstream that compresses anyway gets no say.
            return Err(OutboundError::Protocol(
                "the upstream compressed a response to a request that carries secrets".into(),
            ));
        }
        if !self.redactor.is_empty() {
            self.redactor.redact_headers(&mut parts.headers);
            if !is_head {
                // The scrubbed body may differ in length; it ends where the stream ends.
                parts.headers.remove(http::header::CONTENT_LENGTH);
            }
        }
        let tap = witness.map(|(observer, mut exchange)| {
            exchange.status = parts.status;
            Tap::new(observer, exchange)
        });
        Ok(Response::from_parts(
            parts,
            RedactedBody::new(body, &self.redactor, tap),
        ))
    }

    /// The start of an [`Exchange`] for `req`, scrubbed of this tool's secrets.
    fn witnessed(&self, req: &OutboundRequest) -> Exchange {
        let url = match self.redactor.redact_str(req.url.as_str()) {
            std::borrow::Cow::Borrowed(_) => req.url.clone(),
            std::borrow::Cow::Owned(clean) => url::Url::parse(&clean).unwrap_or_else(|_| {
                let mut bare = req.url.clone();
                bare.set_query(None);
                bare
            }),
        };
        Exchange {
            method: req.method.clone(),
            url,
            request_body: req
                .body
                .as_ref()
                .map(|b| Bytes::from(self.redactor.redact(b).into_owned())),
            status: http::StatusCode::OK,
            body: Vec::new(),
            complete: false,
        }
    }

    /// Everything of [`Outbound::send`] up to the response head; also says
    /// whether the request carried secrets.
    async fn send_checked(
        &self,
        meter: &Arc<Meter>,
        req: Result<OutboundRequest, DeniedReason>,
        timeouts: Timeouts,
    ) -> Result<(Response<MeteredBody>, bool), OutboundError> {
        let asked = |req: &OutboundRequest| (req.method.clone(), req.url.clone());
        let deny = |reason: DeniedReason, asked: Option<(http::Method, url::Url)>| {
            meter.deny(reason, asked.as_ref().map(|(m, u)| (m, u)));
            OutboundError::Denied(reason)
        };
        if !meter.begin_request() {
            return Err(deny(
                DeniedReason::RequestBudget,
                req.as_ref().ok().map(asked),
            ));
        }
        // A call whose write is waiting for a 2026-07-28 retry sends nothing more.
        if meter.gate().is_some_and(|g| g.is_stopped()) {
            return Err(deny(
                DeniedReason::NotConfirmed,
                req.as_ref().ok().map(asked),
            ));
        }
        let req = req.map_err(|reason| deny(reason, None))?;
        let approved = self
            .policy
            .check(&req)
            .map_err(|reason| deny(reason, Some(asked(&req))))?;
        if req
            .body
            .as_ref()
            .is_some_and(|b| b.len() > MAX_REQUEST_BODY)
        {
            return Err(OutboundError::TooLarge);
        }
        // After every check, before anything is resolved or sent: a write
        // that needs the caller's confirmation waits for it here.
        if approved.rule.needs_confirmation(&req.method) {
            let write = PendingWrite {
                summary: WriteSummary::of(&req, &self.redactor),
                fingerprint: WriteFingerprint::of(&req),
            };
            let answer = match meter.gate() {
                Some(gate) => gate.ask(write).await,
                None => Answer::Unsupported,
            };
            if answer != Answer::Confirmed {
                return Err(deny(DeniedReason::NotConfirmed, Some(asked(&req))));
            }
        }
        let addrs = resolve_checked(
            &approved.host,
            approved.port,
            &self.allow_private,
            timeouts.connect,
        )
        .await
        .map_err(|e| match e {
            ResolveError::PrivateAddress => deny(DeniedReason::PrivateAddress, Some(asked(&req))),
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

        let carries_secrets = self
            .secrets
            .get(approved.rule_index)
            .is_some_and(|s| !s.0.is_empty());
        let request = self.build_request(&approved, &host, req)?;
        let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
            .await
            .map_err(|_| OutboundError::Timeout)?
            .map_err(|e| OutboundError::Protocol(e.to_string()))?;
        let between = timeouts.between_bytes;
        let response =
            response.map(|incoming| MeteredBody::new(incoming, Arc::clone(meter), between));
        Ok((response, carries_secrets))
    }

    fn build_request(
        &self,
        approved: &Approved<'_>,
        host: &str,
        req: OutboundRequest,
    ) -> Result<Request<Full<Bytes>>, OutboundError> {
        let path = match req.url.query() {
            Some(q) => format!("{}?{q}", req.url.path()),
            None => req.url.path().to_string(),
        };
        let default_port = approved.rule.scheme.default_port();
        let authority = if approved.port == default_port {
            host.to_string()
        } else {
            format!("{host}:{}", approved.port)
        };
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(path)
            .header(http::header::HOST, authority);
        let secrets = self
            .secrets
            .get(approved.rule_index)
            .filter(|s| !s.0.is_empty());
        for (name, value) in &req.headers {
            // A response the redactor can read: see `send`.
            if secrets.is_some() && name == http::header::ACCEPT_ENCODING {
                continue;
            }
            builder = builder.header(name, value);
        }
        // Secrets last, after every check, for the matched entry only.
        if let Some(secrets) = secrets {
            builder = builder.header(http::header::ACCEPT_ENCODING, "identity");
            for (name, value) in &secrets.0 {
                builder = builder.header(name, value);
            }
        }
        let body = req.body.unwrap_or_default();
        if req.method != Method::GET && req.method != Method::HEAD {
            builder = builder.header(http::header::CONTENT_LENGTH, body.len());
        }
        builder
            .body(Full::new(body))
            .map_err(|e| OutboundError::Protocol(e.to_string()))
    }
}

/// Whether a content or transfer coding other than identity (and chunked
/// framing, which hyper removes) was applied to the body.
fn is_compressed(headers: &HeaderMap) -> bool {
    let coded = |name: http::header::HeaderName, plain: &[&str]| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().map_or(true, |v| {
                v.split(',')
                    .map(str::trim)
                    .any(|c| !c.is_empty() && !plain.iter().any(|p| c.eq_ignore_ascii_case(p)))
            })
        })
    };
    coded(http::header::CONTENT_ENCODING, &["identity"])
        || coded(http::header::TRANSFER_ENCODING, &["identity", "chunked"])
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

pub(crate) trait Io:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

pub(crate) async fn connect(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::outbound::rules::HttpEntrySpec;

    #[test]
    fn the_redactor_knows_each_bound_value_and_each_rendered_header() {
        let mut secret_headers = BTreeMap::new();
        secret_headers.insert(
            "Authorization".to_owned(),
            "Basic ${USER}:${PASS}".to_owned(),
        );
        let spec = HttpEntrySpec {
            host: Some("api.example.com".to_owned()),
            secret_headers,
            ..HttpEntrySpec::default()
        };
        let rule = Rule::from_spec(&spec, &|_| None).unwrap();
        let env = |var: &str| match var {
            "USER" => Some("svc-account".to_owned()),
            "PASS" => Some("hunter2-long".to_owned()),
            _ => None,
        };
        let outbound = Outbound::new(
            vec![rule],
            env,
            PrivateAllowList::default(),
            Timeouts::default(),
        )
        .unwrap();
        let r = outbound.redactor();
        let cases = [
            ("Basic svc-account:hunter2-long", "[redacted:USER,PASS]"),
            ("pw=hunter2-long", "pw=[redacted:PASS]"),
            ("user svc-account", "user [redacted:USER]"),
            ("nothing", "nothing"),
        ];
        for (given, want) in cases {
            assert_eq!(r.redact_str(given), want, "{given}");
        }
        // A tool without secrets scrubs nothing.
        let plain = Outbound::new(
            Vec::new(),
            env,
            PrivateAllowList::default(),
            Timeouts::default(),
        )
        .unwrap();
        assert!(plain.redactor().is_empty());
    }

    /// A request that did not parse at its door still counts against the
    /// request budget first, then is denied as its step; nothing is sent.
    #[tokio::test]
    async fn a_request_that_did_not_parse_is_budgeted_then_denied_as_its_step() {
        let outbound = Outbound::new(
            Vec::new(),
            |_| None,
            PrivateAllowList::default(),
            Timeouts::default(),
        )
        .unwrap();
        let malformed = || {
            OutboundRequest::from_guest(GuestRequest {
                method: "GE T".to_owned(),
                url: "https://api.example.com/".to_owned(),
                headers: Vec::new(),
                body: None,
            })
        };
        let meter = Arc::new(Meter::new(0, 1));
        let first = outbound
            .send(&meter, malformed(), Timeouts::default())
            .await;
        assert_eq!(
            first.err(),
            Some(OutboundError::Denied(DeniedReason::Method))
        );
        let second = outbound
            .send(&meter, malformed(), Timeouts::default())
            .await;
        assert_eq!(
            second.err(),
            Some(OutboundError::Denied(DeniedReason::RequestBudget))
        );
        // Both attempts count, refused ones included.
        assert_eq!(meter.requests(), 2);
        assert_eq!(
            meter.denials(),
            [DeniedReason::Method, DeniedReason::RequestBudget]
        );
    }

    #[test]
    fn compressed_means_any_coding_but_identity_and_chunked() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        let cases = [
            (headers(&[]), false),
            (headers(&[("content-encoding", "identity")]), false),
            (headers(&[("content-encoding", "IDENTITY")]), false),
            (headers(&[("transfer-encoding", "chunked")]), false),
            (headers(&[("content-encoding", "gzip")]), true),
            (headers(&[("content-encoding", "identity, br")]), true),
            (
                headers(&[
                    ("content-encoding", "identity"),
                    ("content-encoding", "zstd"),
                ]),
                true,
            ),
            (headers(&[("content-encoding", "x-custom")]), true),
            (headers(&[("transfer-encoding", "gzip, chunked")]), true),
        ];
        for (map, want) in cases {
            assert_eq!(is_compressed(&map), want, "{map:?}");
        }
    }
}

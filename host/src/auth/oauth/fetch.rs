//! Fetching the authorization server's metadata and signing keys: one HTTP/1.1
//! GET through the gateway's own client (`outbound::client::connect`), HTTPS
//! only (plain http only to a loopback address, for local test servers), no
//! redirects, a deadline and a body cap.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty, Limited};
use url::{Host, Url};
use wasmtime_wasi_http::io::TokioIo;

use super::OAuthError;
use crate::settings::Problem;

/// Largest metadata or JWKS document read (real ones are a few KiB; Entra's,
/// with certificate chains, ~20 KiB).
pub(crate) const BODY_LIMIT: usize = 256 << 10;
/// Connecting, sending and reading the whole answer together.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A fetched JSON document and how long its server lets it be cached.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The document.
    pub json: serde_json::Value,
    /// `Cache-Control: max-age` (0 for `no-store`/`no-cache`), if given.
    pub max_age: Option<Duration>,
}

/// Whether `url` names a loopback host (`127.0.0.0/8`, `::1`, `localhost`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks a URL from `[auth.oauth]` or from a metadata document: absolute,
/// https (or http to loopback), no credentials, no fragment, and no query
/// unless `query_allowed`.
pub fn check_url(value: &str, query_allowed: bool) -> Result<Url, Problem> {
    let url = Url::parse(value).map_err(|e| Problem::NotAUrl {
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    let bad = |reason| Problem::BadUrl {
        value: value.to_owned(),
        reason,
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(bad("plain http is accepted only to a loopback address")),
        _ => return Err(bad("must be an https URL")),
    }
    if url.host().is_none() {
        return Err(bad("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    if !query_allowed && url.query().is_some() {
        return Err(bad("must not have a query"));
    }
    Ok(url)
}

/// Checks the resource URI: a URL as [`check_url`] wants (no query), whose
/// path can be served as a route (no empty segment, none starting with `:`
/// or `*`, which the router reads as captures).
pub fn check_resource(value: &str) -> Result<Url, Problem> {
    let url = check_url(value, false)?;
    let path = url.path().trim_end_matches('/');
    if !path.is_empty()
        && path
            .split('/')
            .skip(1)
            .any(|seg| seg.is_empty() || seg.starts_with(':') || seg.starts_with('*'))
    {
        return Err(Problem::BadUrl {
            value: value.to_owned(),
            reason: "a path segment is empty or starts with ':' or '*'",
        });
    }
    Ok(url)
}

/// The `max-age` of a `Cache-Control` value; `no-store` and `no-cache` count
/// as 0.
pub(crate) fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        let mut parts = directive.splitn(2, '=');
        if let (Some(name), Some(value)) = (parts.next(), parts.next())
            && name.trim().eq_ignore_ascii_case("max-age")
            && let Ok(secs) = value.trim().trim_matches('"').parse::<u64>()
        {
            age = Some(Duration::from_secs(secs));
        }
    }
    age
}

/// GETs `url` and parses the answer as JSON. Only a 200 answer counts;
/// redirects are not followed.
pub(crate) async fn get_json(url: &Url) -> Result<Fetched, OAuthError> {
    let fail = |reason: String| OAuthError::Fetch {
        url: url.to_string(),
        reason,
    };
    let tls = match url.scheme() {
        "https" => true,
        "http" if is_loopback(url) => false,
        _ => {
            return Err(OAuthError::Url {
                url: url.to_string(),
                reason: "must be https (plain http only to a loopback address)",
            });
        }
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let exchange = async {
        let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|e| e.to_string())?
            .collect();
        if !tls {
            // Plain http only ever reaches this machine, whatever DNS says.
            addrs.retain(|a| a.ip().is_loopback());
        }
        let io = crate::outbound::client::connect(&addrs, &host, tls, FETCH_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let request = Request::get(target.as_str())
            .header(http::header::HOST, authority.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("agent-gateway/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        if status != 200 {
            return Ok((status, cache, Bytes::new()));
        }
        let body = Limited::new(response.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("reading the body (at most {BODY_LIMIT} bytes): {e}"))?
            .to_bytes();
        Ok::<_, String>((status, cache, body))
    };
    let (status, max_age, body) = tokio::time::timeout(FETCH_TIMEOUT, exchange)
        .await
        .map_err(|_| fail(format!("no answer within {} s", FETCH_TIMEOUT.as_secs())))?
        .map_err(fail)?;
    if status != 200 {
        return Err(OAuthError::Status {
            url: url.to_string(),
            status,
        });
    }
    let json = serde_json::from_slice(&body).map_err(|e| OAuthError::Document {
        url: url.to_string(),
        reason: format!("not JSON: {e}"),
    })?;
    Ok(Fetched { json, max_age })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        for ok in [
            "https://idp.example.com/realms/x",
            "http://127.0.0.1:8080/jwks",
            "http://[::1]:9/x",
            "http://localhost:9/x",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        let reason = |value: &str, query_allowed| match check_url(value, query_allowed) {
            Err(Problem::BadUrl { reason, .. }) => reason,
            other => panic!("{value}: {other:?}"),
        };
        assert_eq!(
            reason("http://idp.example.com/", false),
            "plain http is accepted only to a loopback address"
        );
        assert_eq!(
            reason("ftp://idp.example.com/", false),
            "must be an https URL"
        );
        assert_eq!(
            reason("https://u:p@idp.example.com/", false),
            "must not carry credentials"
        );
        assert_eq!(
            reason("https://idp.example.com/#x", true),
            "must not have a fragment"
        );
        assert_eq!(
            reason("https://idp.example.com/?a=b", false),
            "must not have a query"
        );
        assert!(check_url("https://idp.example.com/keys?a=b", true).is_ok());
        assert!(matches!(
            check_url("not a url", false),
            Err(Problem::NotAUrl { .. })
        ));
    }

    #[test]
    fn resource_paths_must_be_routable() {
        for ok in [
            "https://gw.example.com",
            "https://gw.example.com/",
            "https://gw.example.com/mcp",
            "https://gw.example.com/team/mcp/",
        ] {
            assert!(check_resource(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://gw.example.com/*x",
            "https://gw.example.com/a/:id",
            "https://gw.example.com//mcp",
        ] {
            assert!(
                matches!(check_resource(bad), Err(Problem::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("max-age=60, no-cache"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}

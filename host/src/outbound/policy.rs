//! The request check (docs/security.md, "Outbound HTTP", steps 1–5): one function
//! both doors call, which stops at the first failure and says which step
//! refused.

use std::fmt;

use http::{HeaderName, Method};
use url::Host;

use super::request::OutboundRequest;
use super::rules::{Rule, Scheme};

/// Headers that frame, route or re-interpret a request. A guest setting them
/// could smuggle a second request, reach another virtual host or turn a GET
/// into a write; no rule may inject them either.
const PROTOCOL_HEADERS: [&str; 11] = [
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Headers that tell a proxy or an upstream which host, path, method, client
/// address or scheme the request "really" had. Behind a reverse proxy they
/// can route a request past the path prefix or the host the policy checked
/// (`X-Original-URL: /admin`), or claim a trusted client address; no guest
/// may send them and no rule may inject them. Any `X-Forwarded-*` is refused
/// too (see [`is_protocol_header`]).
const ROUTING_HEADERS: [&str; 17] = [
    "forwarded",
    "x-real-ip",
    "x-original-url",
    "x-original-uri",
    "x-original-method",
    "x-original-host",
    "x-rewrite-url",
    "x-host",
    "x-http-host-override",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "true-client-ip",
    "client-ip",
    "x-proxyuser-ip",
];

/// Credentials only the host may add (from a rule's secret headers), so a
/// guest can never pass off its own as the gateway's.
const CREDENTIAL_HEADERS: [&str; 2] = ["authorization", "cookie"];

/// Which policy check refused a request; mirrors the WIT `denied-reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeniedReason {
    /// The URL did not parse, has no host, or carries userinfo.
    InvalidUrl,
    /// The scheme is not allowed for this host.
    Scheme,
    /// No allow-list entry matches the host.
    Host,
    /// The port is not the scheme default nor a listed port.
    Port,
    /// The path is outside the entry's path prefix.
    Path,
    /// The method is not granted.
    Method,
    /// GET and HEAD requests may not carry a body.
    BodyNotAllowed,
    /// The request sets a header the gateway forbids or injects itself.
    ForbiddenHeader,
    /// Every resolved address is non-global (produced by `addr`).
    PrivateAddress,
    /// The per-call request budget is used up (produced by the runtime).
    RequestBudget,
    /// A write that needs the caller's confirmation did not get it
    /// (declined, cancelled, unanswered, or nobody to ask;
    /// docs/confirmations.md). Host-side only: the WIT `denied-reason` of
    /// `gateway:tool@0.1.0` has no such case, so a tool sees `method`.
    NotConfirmed,
}

impl DeniedReason {
    /// The WIT case name (`not-confirmed` has none yet: see its variant).
    pub fn as_str(self) -> &'static str {
        match self {
            DeniedReason::InvalidUrl => "invalid-url",
            DeniedReason::Scheme => "scheme",
            DeniedReason::Host => "host",
            DeniedReason::Port => "port",
            DeniedReason::Path => "path",
            DeniedReason::Method => "method",
            DeniedReason::BodyNotAllowed => "body-not-allowed",
            DeniedReason::ForbiddenHeader => "forbidden-header",
            DeniedReason::PrivateAddress => "private-address",
            DeniedReason::RequestBudget => "request-budget",
            DeniedReason::NotConfirmed => "not-confirmed",
        }
    }
}

impl fmt::Display for DeniedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool's outbound allow-list.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    /// Sorted and deduplicated, so the header check is a binary search.
    injected: Vec<HeaderName>,
}

/// A request that passed steps 1–5, with everything the caller needs next
/// beside the request itself: the rule whose secrets to inject, and the host
/// and port to resolve.
#[derive(Debug, Clone)]
pub struct Approved<'a> {
    /// Index of the matching rule in manifest order (the first that matches).
    pub rule_index: usize,
    /// The matching rule.
    pub rule: &'a Rule,
    /// The parsed host, as in the request's URL (a trailing dot is kept).
    pub host: Host<String>,
    /// The explicit port, or the scheme's default.
    pub port: u16,
}

impl Policy {
    /// A policy over rules in manifest order.
    pub fn new(rules: Vec<Rule>) -> Self {
        let mut injected: Vec<HeaderName> = rules
            .iter()
            .flat_map(|r| r.secret_headers.iter().map(|h| h.name.clone()))
            .collect();
        injected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        injected.dedup();
        Policy { rules, injected }
    }

    /// The rules in manifest order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every header name any rule injects (guests may not set these).
    pub fn injected_header_names(&self) -> impl Iterator<Item = &HeaderName> {
        self.injected.iter()
    }

    /// Check a request; the first failing step decides the reason.
    ///
    /// Candidate rules are narrowed stage by stage (host, scheme, port, path,
    /// method), so the reason names the first stage no rule passes. When
    /// several rules pass, the first in manifest order wins, and only its
    /// secret headers are injected. A URL, method or header that does not
    /// parse was refused already, as its step, when the door built `req`
    /// ([`OutboundRequest::from_guest`]).
    pub fn check<'a>(&'a self, req: &OutboundRequest) -> Result<Approved<'a>, DeniedReason> {
        let url = &req.url;
        let scheme = match url.scheme() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            _ => return Err(DeniedReason::Scheme),
        };
        // `user@host` is the classic way to make a URL read as another host.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DeniedReason::InvalidUrl);
        }
        let parsed_host = url.host().ok_or(DeniedReason::InvalidUrl)?;
        let port = url
            .port_or_known_default()
            .ok_or(DeniedReason::InvalidUrl)?;

        // Host first: a request to a host no entry names is a `host` denial
        // whatever its scheme (docs/security.md).
        let candidates = self.rules.iter().enumerate();
        let candidates = narrow(candidates, DeniedReason::Host, |r| {
            r.matches_host(&parsed_host)
        })?;
        let candidates = narrow(candidates, DeniedReason::Scheme, |r| r.scheme == scheme)?;
        let candidates = narrow(candidates, DeniedReason::Port, |r| r.allows_port(port))?;
        let candidates = narrow(candidates, DeniedReason::Path, |r| {
            r.allows_path(url.path())
        })?;
        let method = &req.method;
        let candidates = narrow(candidates, DeniedReason::Method, |r| {
            r.methods.contains(method)
        })?;
        let host = parsed_host.to_owned();
        let (rule_index, rule) = candidates.into_iter().next().ok_or(DeniedReason::Method)?;

        if req.has_body() && (method == Method::GET || method == Method::HEAD) {
            return Err(DeniedReason::BodyNotAllowed);
        }
        if req.headers.keys().any(|name| self.is_forbidden_name(name)) {
            return Err(DeniedReason::ForbiddenHeader);
        }

        Ok(Approved {
            rule_index,
            rule,
            host,
            port,
        })
    }

    /// The same header rule, for callers that check headers one at a time
    /// (wasi:http fields). Names that are not valid HTTP tokens are forbidden.
    pub fn is_forbidden_header(&self, name: &str) -> bool {
        HeaderName::from_bytes(name.as_bytes()).map_or(true, |name| self.is_forbidden_name(&name))
    }

    fn is_forbidden_name(&self, name: &HeaderName) -> bool {
        is_protocol_header(name)
            || CREDENTIAL_HEADERS.contains(&name.as_str())
            || self
                .injected
                .binary_search_by(|h| h.as_str().cmp(name.as_str()))
                .is_ok()
    }
}

/// Headers no guest may send and no rule may inject (they frame or route the
/// request). `HeaderName` is already lower case.
pub(super) fn is_protocol_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    PROTOCOL_HEADERS.contains(&name)
        || ROUTING_HEADERS.contains(&name)
        || name.starts_with("proxy-")
        || name.starts_with("x-forwarded-")
}

/// Keep the candidates `keep` accepts; `reason` if none is left.
fn narrow<'a>(
    candidates: impl IntoIterator<Item = (usize, &'a Rule)>,
    reason: DeniedReason,
    keep: impl Fn(&Rule) -> bool,
) -> Result<Vec<(usize, &'a Rule)>, DeniedReason> {
    let kept: Vec<_> = candidates.into_iter().filter(|(_, r)| keep(r)).collect();
    if kept.is_empty() {
        Err(reason)
    } else {
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

    use std::collections::BTreeMap;

    use super::super::request::GuestRequest;
    use super::super::rules::HttpEntrySpec;
    use super::*;

    /// The gateway `http` door's path: parse the guest's strings, then check.
    fn check(
        policy: &Policy,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        has_body: bool,
    ) -> Result<usize, DeniedReason> {
        let req = OutboundRequest::from_guest(GuestRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: headers.to_vec(),
            body: has_body.then(Vec::new),
        })?;
        policy.check(&req).map(|a| a.rule_index)
    }

    fn rule(spec: HttpEntrySpec) -> Rule {
        Rule::from_spec(&spec, &|_| None).unwrap()
    }

    fn host(h: &str) -> HttpEntrySpec {
        HttpEntrySpec {
            host: Some(h.to_owned()),
            ..HttpEntrySpec::default()
        }
    }

    fn url(u: &str) -> HttpEntrySpec {
        HttpEntrySpec {
            url: Some(u.to_owned()),
            ..HttpEntrySpec::default()
        }
    }

    fn secret(spec: HttpEntrySpec, name: &str) -> HttpEntrySpec {
        let mut secret_headers = BTreeMap::new();
        secret_headers.insert(name.to_owned(), "Bearer ${TOKEN}".to_owned());
        HttpEntrySpec {
            secret_headers,
            ..spec
        }
    }

    fn writes(spec: HttpEntrySpec, methods: &[&str]) -> HttpEntrySpec {
        HttpEntrySpec {
            methods: Some(methods.iter().map(|m| (*m).to_owned()).collect()),
            approved_by: Some("alice@example.com".to_owned()),
            ..spec
        }
    }

    /// Rule indexes below refer to this order.
    fn policy() -> Policy {
        Policy::new(vec![
            // 0
            rule(secret(host("api.github.com"), "Authorization")),
            // 1
            rule(HttpEntrySpec {
                ports: Some(vec![8443]),
                ..host("*.example.com")
            }),
            // 2
            rule(url("https://api.example.org/v1")),
            // 3: reads under /read only
            rule(HttpEntrySpec {
                path_prefix: Some("/read".to_owned()),
                ..host("api.write.com")
            }),
            // 4: writes anywhere, approved
            rule(writes(host("api.write.com"), &["POST", "DELETE"])),
            // 5
            rule(url("http://127.0.0.1:8080")),
            // 6
            rule(host("bücher.example")),
            // 7: injects a header the other hosts must not receive from guests either
            rule(secret(host("other.example.net"), "X-Api-Key")),
        ])
    }

    #[test]
    fn security_md_outbound_list() {
        use DeniedReason as D;
        let cases: Vec<(&str, &str, Result<usize, DeniedReason>)> = vec![
            ("GET", "https://api.github.com/repos/o/r", Ok(0)),
            ("HEAD", "https://api.github.com/", Ok(0)),
            // The host must be parsed, never compared as text.
            ("GET", "https://api.github.com.evil.com/", Err(D::Host)),
            (
                "GET",
                "https://api.github.com@evil.com/",
                Err(D::InvalidUrl),
            ),
            ("GET", "https://user:pw@api.github.com/", Err(D::InvalidUrl)),
            ("GET", "https://evil.com#@api.github.com", Err(D::Host)),
            ("GET", "https://evil.com\\@api.github.com", Err(D::Host)),
            ("GET", "https://evil.com/?@api.github.com", Err(D::Host)),
            ("GET", "https://evilapi.github.com/", Err(D::Host)),
            ("GET", "https://api.github.com./x", Ok(0)),
            ("GET", "HTTPS://API.GITHUB.COM/x", Ok(0)),
            ("GET", "https://api.github.com:443/x", Ok(0)),
            ("GET", "https://xn--bcher-kva.example/", Ok(6)),
            ("GET", "https://bücher.example/", Ok(6)),
            ("GET", "https://BÜCHER.EXAMPLE./", Ok(6)),
            ("GET", "https://bucher.example/", Err(D::Host)),
            // Stages narrow in order: the host first, then the scheme (see
            // `host_stage_first_then_scheme`).
            ("GET", "http://api.github.com/", Err(D::Scheme)),
            ("GET", "http://evil.com/", Err(D::Host)),
            ("GET", "https://127.0.0.1:8080/", Err(D::Scheme)),
            ("GET", "file:///etc/passwd", Err(D::Scheme)),
            ("GET", "ftp://api.github.com/", Err(D::Scheme)),
            ("GET", "ws://api.github.com/", Err(D::Scheme)),
            ("GET", "data:text/plain,x", Err(D::Scheme)),
            ("GET", "/relative", Err(D::InvalidUrl)),
            ("GET", "api.github.com/x", Err(D::InvalidUrl)),
            ("GET", "", Err(D::InvalidUrl)),
            ("GET", "https://", Err(D::InvalidUrl)),
            ("GET", "https://[::1/", Err(D::InvalidUrl)),
            // Ports: the default only, unless listed (a list replaces it).
            ("GET", "https://api.github.com:8443/", Err(D::Port)),
            ("GET", "https://a.example.com:8443/", Ok(1)),
            ("GET", "https://a.b.example.com:8443/", Ok(1)),
            ("GET", "https://a.example.com/", Err(D::Port)),
            ("GET", "https://example.com:8443/", Err(D::Host)),
            ("GET", "http://127.0.0.1/", Err(D::Port)),
            // Paths: on a segment boundary, after dot segments are resolved.
            ("GET", "https://api.example.org/v1", Ok(2)),
            ("GET", "https://api.example.org/v1/repos?q=1#frag", Ok(2)),
            ("GET", "https://api.example.org/v2", Err(D::Path)),
            ("GET", "https://api.example.org/v1x", Err(D::Path)),
            ("GET", "https://api.example.org/", Err(D::Path)),
            ("GET", "https://api.example.org/v1/../admin", Err(D::Path)),
            (
                "GET",
                "https://api.example.org/v1/%2e%2e/admin",
                Err(D::Path),
            ),
            (
                "GET",
                "https://api.example.org/v1/%2E%2E/admin",
                Err(D::Path),
            ),
            ("GET", "https://api.example.org/v1/..%2Fadmin", Err(D::Path)),
            ("GET", "https://api.example.org/v1\\..\\admin", Err(D::Path)),
            // Methods are case-sensitive tokens; writes need a grant.
            ("get", "https://api.github.com/", Err(D::Method)),
            ("Get", "https://api.github.com/", Err(D::Method)),
            ("", "https://api.github.com/", Err(D::Method)),
            ("GE T", "https://api.github.com/", Err(D::Method)),
            ("POST", "https://api.github.com/", Err(D::Method)),
            ("TRACE", "https://api.github.com/", Err(D::Method)),
            ("CONNECT", "https://api.github.com/", Err(D::Method)),
            ("PUT", "https://api.write.com/x", Err(D::Method)),
            // Several rules for one host: the first that passes every stage.
            ("GET", "https://api.write.com/read/x", Ok(3)),
            // Rule 4 covers the path but grants no GET: the method stage decides.
            ("GET", "https://api.write.com/other", Err(D::Method)),
            ("POST", "https://api.write.com/other", Ok(4)),
            ("POST", "https://api.write.com/read/x", Ok(4)),
            ("DELETE", "https://api.write.com/read/x", Ok(4)),
            // IPv4 in any spelling is the same address; private is checked later.
            ("GET", "http://127.0.0.1:8080/", Ok(5)),
            ("GET", "http://2130706433:8080/", Ok(5)),
            ("GET", "http://0x7f000001:8080/", Ok(5)),
            ("GET", "http://0177.0.0.1:8080/", Ok(5)),
            ("GET", "http://0x7f.1:8080/", Ok(5)),
            ("GET", "http://127.1:8080/", Ok(5)),
            ("GET", "http://[::ffff:127.0.0.1]:8080/", Err(D::Host)),
            ("GET", "http://127.0.0.2:8080/", Err(D::Host)),
            ("GET", "https://2130706433/", Err(D::Scheme)),
            ("GET", "https://0x7f000001/", Err(D::Scheme)),
            ("GET", "https://0177.0.0.1/", Err(D::Scheme)),
        ];
        let policy = policy();
        for (method, target, want) in cases {
            let got = check(&policy, method, target, &[], false);
            assert_eq!(got, want, "{method} {target}");
        }
    }

    /// Issue 9 item 6: a path the upstream could normalise out of the
    /// prefix is refused as `Path`, whatever the spelling; ordinary paths pass.
    #[test]
    fn ambiguous_paths_are_refused_in_every_spelling() {
        use DeniedReason as D;
        let refused = [
            "/v1/..;/admin",
            "/v1/..;jsessionid=1/admin",
            "/v1/%2e%2e;/admin",
            "/v1/%2E%2E%3B/admin",
            "/v1/%252e%252e/admin",
            "/v1/%252E%252E%252Fadmin",
            "/v1/%c0%ae%c0%ae/admin",
            "/v1/%C0%AE%C0%AE%C0%AFadmin",
            "/v1/..%00/admin",
            "/v1/..%09/admin",
            "/v1/..%20/admin",
            "/v1/%u002e%u002e/admin",
            "/v1/%EF%BC%8E%EF%BC%8E/admin",
            "/v1/x%2Fy",
            "/v1/x%5Cy",
            "/v1/x%252Fy",
            "/v1/x%00y",
        ];
        let fine = [
            "/v1/charges?limit=10",
            "/v1/a.b/c",
            "/v1/%E2%82%AC",
            "/v1/caf%C3%A9?q=%2F..%2F",
            "/v1/a..b/.well-known",
            "/v1/100%25",
        ];
        let policy = policy();
        for path in refused {
            // Rule 2 has the prefix `/v1`.
            let target = format!("https://api.example.org{path}");
            let got = check(&policy, "GET", &target, &[], false);
            assert_eq!(got, Err(D::Path), "{target}");
        }
        for path in fine {
            let target = format!("https://api.example.org{path}");
            let got = check(&policy, "GET", &target, &[], false);
            assert_eq!(got, Ok(2), "{target}");
        }
        // Without a prefix, dot segments and controls are still refused;
        // encoded slashes are data (GitLab's `group%2Fproject`).
        for (path, want) in [
            ("/repos/..;/admin", Err(D::Path)),
            ("/repos/%252e%252e/x", Err(D::Path)),
            ("/repos/..%00", Err(D::Path)),
            ("/projects/group%2Fproject", Ok(0)),
            ("/repos/o/r?per_page=100", Ok(0)),
        ] {
            let target = format!("https://api.github.com{path}");
            let got = check(&policy, "GET", &target, &[], false);
            assert_eq!(got, want, "{target}");
        }
    }

    #[test]
    fn host_stage_first_then_scheme() {
        use DeniedReason as D;
        let policy = Policy::new(vec![rule(host("api.github.com"))]);
        let cases = [
            ("http://api.github.com/", Err(D::Scheme)),
            // An unlisted host is a host denial whatever its scheme.
            ("http://evil.com/", Err(D::Host)),
            ("https://evil.com/", Err(D::Host)),
            ("https://api.github.com/", Ok(0)),
        ];
        for (target, want) in cases {
            let got = check(&policy, "GET", target, &[], false);
            assert_eq!(got, want, "{target}");
        }
    }

    #[test]
    fn bodies() {
        use DeniedReason as D;
        let cases = [
            (
                "GET",
                "https://api.github.com/",
                true,
                Err(D::BodyNotAllowed),
            ),
            (
                "HEAD",
                "https://api.github.com/",
                true,
                Err(D::BodyNotAllowed),
            ),
            ("GET", "https://api.github.com/", false, Ok(0)),
            ("POST", "https://api.write.com/x", true, Ok(4)),
            ("DELETE", "https://api.write.com/x", false, Ok(4)),
            // Earlier steps win: a body on an ungranted method is a Method denial.
            ("POST", "https://api.github.com/", true, Err(D::Method)),
        ];
        let policy = policy();
        for (method, target, body, want) in cases {
            let got = check(&policy, method, target, &[], body);
            assert_eq!(got, want, "{method} {target} {body}");
        }
    }

    #[test]
    fn headers() {
        let forbidden = [
            "HOST",
            "Connection",
            "keep-ALIVE",
            "Transfer-Encoding",
            "te",
            "Trailer",
            "UPGRADE",
            "Content-length",
            "Proxy-Authorization",
            "proxy-connection",
            "PROXY-Anything",
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
            // Routing headers: a proxy in front of the upstream would obey them.
            "X-Forwarded-Host",
            "x-forwarded-for",
            "X-Forwarded-Proto",
            "X-Forwarded-Port",
            "X-Forwarded-Prefix",
            "X-Forwarded-Anything",
            "Forwarded",
            "X-Real-IP",
            "X-Original-URL",
            "X-Original-URI",
            "X-Original-Method",
            "X-Rewrite-URL",
            "X-Original-Host",
            "X-Host",
            "X-HTTP-Host-Override",
            "True-Client-IP",
            "X-Client-IP",
            "authorization",
            "COOKIE",
            // Injected by rule 7, refused on every host.
            "x-api-key",
            "X-API-KEY",
            // Not valid header names.
            "",
            "Bad Header",
            "x-a:b",
            ":authority",
            "x\r\ny",
        ];
        let policy = policy();
        let check = |headers: &[(String, String)]| {
            check(&policy, "GET", "https://api.github.com/", headers, false)
        };
        for name in forbidden {
            let headers = [
                ("Accept".to_owned(), "application/json".to_owned()),
                (name.to_owned(), "x".to_owned()),
            ];
            assert_eq!(
                check(&headers),
                Err(DeniedReason::ForbiddenHeader),
                "{name:?}"
            );
            assert!(policy.is_forbidden_header(name), "{name:?}");
        }
        for value in ["a\r\nInjected: 1", "a\nb", "nul\0", "del\u{7f}"] {
            let headers = [("X-Note".to_owned(), value.to_owned())];
            assert_eq!(
                check(&headers),
                Err(DeniedReason::ForbiddenHeader),
                "{value:?}"
            );
        }
        let fine = [
            ("Accept", "application/vnd.github+json"),
            ("User-Agent", "tool/1.0"),
            ("Content-Type", "application/json"),
            ("X-GitHub-Api-Version", "2022-11-28"),
            ("If-None-Match", "\"etag\""),
            ("X-Empty", ""),
            ("X-Tab", "a\tb"),
            ("X-Utf8", "caf\u{e9}"),
            // Near the routing names, but not them.
            ("X-Hostname", "x"),
            ("X-Request-Id", "abc"),
        ];
        for (name, value) in fine {
            let headers = [(name.to_owned(), value.to_owned())];
            assert_eq!(check(&headers), Ok(0), "{name}: {value}");
            assert!(!policy.is_forbidden_header(name), "{name}");
        }
    }

    #[test]
    fn injected_names_come_from_every_rule() {
        let policy = policy();
        let names: Vec<&str> = policy.injected_header_names().map(|h| h.as_str()).collect();
        assert_eq!(names, ["authorization", "x-api-key"]);
        // Without rules nothing is injected, but credentials stay the host's.
        let empty = Policy::new(Vec::new());
        assert_eq!(empty.injected_header_names().count(), 0);
        assert!(!empty.is_forbidden_header("X-Api-Key"));
        assert!(empty.is_forbidden_header("Authorization"));
        assert!(empty.rules().is_empty());
        assert_eq!(
            check(&empty, "GET", "https://api.github.com/", &[], false),
            Err(DeniedReason::Host)
        );
    }

    #[test]
    fn approved_carries_what_the_caller_needs() {
        let policy = policy();
        let request = |url: &str| {
            OutboundRequest::from_guest(GuestRequest {
                method: "GET".to_owned(),
                url: url.to_owned(),
                headers: Vec::new(),
                body: None,
            })
            .unwrap()
        };
        let req = request("https://API.GitHub.com./repos?x=1#frag");
        let approved = policy.check(&req).unwrap();
        assert_eq!(approved.rule_index, 0);
        assert_eq!(approved.rule.secret_headers.len(), 1);
        assert_eq!(approved.host, Host::Domain("api.github.com.".to_owned()));
        assert_eq!(approved.port, 443);
        assert_eq!(req.method, Method::GET);
        assert_eq!(req.url.as_str(), "https://api.github.com./repos?x=1");

        let req = request("http://0x7f.1:8080/");
        let approved = policy.check(&req).unwrap();
        assert_eq!(approved.rule_index, 5);
        assert_eq!(approved.host, Host::<String>::Ipv4([127, 0, 0, 1].into()));
        assert_eq!(approved.port, 8080);
    }

    #[test]
    fn reasons_match_the_wit() {
        use DeniedReason as D;
        let cases = [
            (D::InvalidUrl, "invalid-url"),
            (D::Scheme, "scheme"),
            (D::Host, "host"),
            (D::Port, "port"),
            (D::Path, "path"),
            (D::Method, "method"),
            (D::BodyNotAllowed, "body-not-allowed"),
            (D::ForbiddenHeader, "forbidden-header"),
            (D::PrivateAddress, "private-address"),
            (D::RequestBudget, "request-budget"),
        ];
        for (reason, wit) in cases {
            assert_eq!(reason.as_str(), wit);
        }
    }
}

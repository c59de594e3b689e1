//! The manifest's `[[http]]` entries, parsed once at load time into typed
//! rules, so that a malformed allow-list is refused before the tool runs and
//! the request check only ever compares parsed values.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use http::{HeaderName, HeaderValue, Method};
use url::{Host, Url};

use super::path::{Slashes, is_unambiguous};

/// DNS limit on a whole name (RFC 1035 §2.3.4); longer names cannot resolve.
const MAX_HOST_LEN: usize = 253;
/// DNS limit on one label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Methods a rule may grant. TRACE is left out because it echoes the request,
/// injected secrets included, back into the guest; CONNECT because it would
/// turn the gateway into a tunnel the policy cannot see into.
const GRANTABLE_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Whether `method` changes something upstream: POST, PUT, PATCH, DELETE
/// (what a confirmation covers; docs/confirmations.md).
pub fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Raw `[[http]]` entry as written in tool.toml (serde, deny_unknown_fields).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpEntrySpec {
    /// Scheme, host, optional port and optional path prefix in one string;
    /// may contain `${config.NAME}` references.
    pub url: Option<String>,
    /// `"https"` (the default) or `"http"`.
    pub scheme: Option<String>,
    /// Exact host, IP literal, or `*.suffix`.
    pub host: Option<String>,
    /// Allowed ports; absent means the scheme's default port only.
    pub ports: Option<Vec<u16>>,
    /// Path prefix, matched on a segment boundary; absent means any path.
    pub path_prefix: Option<String>,
    /// Granted methods; absent means GET and HEAD.
    pub methods: Option<Vec<String>>,
    /// The admin who approved methods beyond GET and HEAD.
    pub approved_by: Option<String>,
    /// Whether each write (POST, PUT, PATCH, DELETE) this entry grants waits
    /// for the caller's confirmation before it leaves (docs/confirmations.md).
    pub confirm: Option<bool>,
    /// Header name → template such as `"Bearer ${GITHUB_TOKEN}"`.
    #[serde(default)]
    pub secret_headers: BTreeMap<String, String>,
}

/// The URL schemes a rule can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP: only where the manifest names it (e.g. a mock on loopback).
    Http,
    /// HTTPS: the default.
    Https,
}

impl Scheme {
    /// The port used when a URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// The scheme as it appears in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// Case-insensitive, as URL schemes are.
    fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }
}

/// Which hosts a rule covers, in normalised form (ASCII/punycode, lower case,
/// no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this domain name.
    Exact(String),
    /// Any name strictly below this suffix, on a label boundary
    /// (`*.example.com` is stored as `Suffix("example.com")`).
    Suffix(String),
    /// Exactly this address. An IPv4 address and its IPv4-mapped IPv6 form
    /// are different hosts here: a rule names one spelling of a destination.
    Ip(IpAddr),
}

/// One allow-list entry, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The only scheme this rule allows.
    pub scheme: Scheme,
    /// The hosts this rule allows.
    pub host: HostPattern,
    /// Allowed ports; empty = the scheme's default port only. A listed set
    /// replaces the default rather than adding to it.
    pub ports: Vec<u16>,
    /// Canonical path prefix (as `url::Url` would print it); `None` = any.
    pub path_prefix: Option<String>,
    /// Granted methods, default `[GET, HEAD]`.
    pub methods: Vec<Method>,
    /// Who approved methods beyond GET/HEAD.
    pub approved_by: Option<String>,
    /// Whether a write under this rule waits for the caller's confirmation
    /// (`confirm = true`, or `[tools.NAME] confirm_writes` in gateway.toml).
    pub confirm: bool,
    /// Headers the host adds after every check. Allowed on plain `http` too:
    /// such a rule is only reachable where the manifest names `http`, which a
    /// reviewer sees, and its normal use is a mock upstream on loopback.
    pub secret_headers: Vec<SecretHeader>,
}

impl std::fmt::Display for Rule {
    /// `scheme://host[:ports][path_prefix] METHODS`, as a reviewer reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostPattern::Exact(h) => write!(f, "{h}")?,
            HostPattern::Suffix(s) => write!(f, "*.{s}")?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
        }
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        match ports.len() {
            0 => {}
            1 => write!(f, ":{}", ports[0])?,
            _ => write!(f, ":{{{}}}", ports.join(","))?,
        }
        if let Some(prefix) = &self.path_prefix {
            write!(f, "{prefix}")?;
        }
        let methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        write!(f, " {}", methods.join(","))
    }
}

/// A header whose value the host renders from its own environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHeader {
    /// Lower-case header name.
    pub name: HeaderName,
    /// The value, with `${VAR}` references to server environment variables.
    pub template: SecretTemplate,
}

/// A header value template: literal text and `${VAR}` references. It holds
/// only variable names, never their values, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretTemplate {
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Literal(String),
    Var(String),
}

impl std::fmt::Display for SecretTemplate {
    /// The template as written (`Bearer ${TOKEN}`): names, never values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => f.write_str(text)?,
                TemplatePart::Var(name) => write!(f, "${{{name}}}")?,
            }
        }
        Ok(())
    }
}

impl SecretTemplate {
    /// Parse `"Bearer ${GITHUB_TOKEN}"`. A `$` not followed by `{` is literal.
    fn parse(template: &str) -> Result<SecretTemplate, &'static str> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(TemplatePart::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("unclosed `${`")?;
            let name = &after[..end];
            if name.is_empty() {
                return Err("empty variable name");
            }
            if !is_env_var_name(name) {
                return Err("variable names are [A-Z_][A-Z0-9_]*");
            }
            parts.push(TemplatePart::Var(name.to_owned()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_owned()));
        }
        let literal_ok = parts.iter().all(|p| match p {
            TemplatePart::Literal(text) => HeaderValue::from_str(text).is_ok(),
            TemplatePart::Var(_) => true,
        });
        if !literal_ok {
            return Err("literal text is not a valid header value");
        }
        Ok(SecretTemplate { parts })
    }

    /// The environment variables the template reads, in order of use.
    pub fn env_vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Var(name) => Some(name.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }

    /// Render with a lookup; the error names the first variable it lacks.
    ///
    /// The result is not checked as a header value: the caller builds the
    /// `HeaderValue` (and marks it sensitive), which refuses CR/LF from a
    /// badly set variable.
    pub fn render(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, MissingVar> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Var(name) => match lookup(name) {
                    Some(value) => out.push_str(&value),
                    None => return Err(MissingVar(name.clone())),
                },
            }
        }
        Ok(out)
    }
}

/// A template names an environment variable that is not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingVar(pub String);

/// Environment variable names a template may use: `[A-Z_][A-Z0-9_]*`.
pub(crate) fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Why an `[[http]]` entry was refused. Every variant names the manifest key
/// it concerns ([`RuleError::field`]) and its message starts with that key,
/// so a loader printing `tool.toml: http[2].{err}` gives
/// `tool.toml: http[2].host: invalid host ...`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// `url` given together with one of the parts it already contains.
    #[error("{field}: `url` already sets this; give either `url` or the parts")]
    UrlAndParts {
        /// The conflicting part.
        field: &'static str,
    },
    /// Neither `url` nor `host` given.
    #[error("{field}: missing; give `url` or `host`")]
    MissingHost {
        /// Always `"host"`.
        field: &'static str,
    },
    /// A scheme other than `http` or `https`.
    #[error("{field}: scheme {value:?} is not allowed; use \"https\" or \"http\"")]
    InvalidScheme {
        /// `"scheme"` or `"url"`.
        field: &'static str,
        /// The scheme given.
        value: String,
    },
    /// Not a host name or IP literal.
    #[error("{field}: invalid host {value:?}: {reason}")]
    InvalidHost {
        /// `"host"` or `"url"`.
        field: &'static str,
        /// The host given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `*` anywhere but a leading `*.` on a multi-label suffix.
    #[error(
        "{field}: invalid wildcard {value:?}: only a leading `*.` before a name with at least two labels"
    )]
    InvalidWildcard {
        /// `"host"` or `"url"`.
        field: &'static str,
        /// The host given.
        value: String,
    },
    /// The `url` does not parse, or has userinfo, a query or a fragment.
    #[error("{field}: invalid url {value:?}: {reason}")]
    InvalidUrl {
        /// Always `"url"`.
        field: &'static str,
        /// The URL after `${config.NAME}` expansion (config is never secret).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `${config.NAME}` names a setting that does not exist.
    #[error("{field}: unknown config setting {name:?}")]
    UnknownConfigReference {
        /// Always `"url"`.
        field: &'static str,
        /// The setting's name.
        name: String,
    },
    /// Port 0.
    #[error("{field}: invalid port {port}")]
    InvalidPort {
        /// `"ports"` or `"url"`.
        field: &'static str,
        /// The port given.
        port: u16,
    },
    /// An empty list, which would allow nothing: almost certainly a mistake.
    #[error("{field}: empty list; leave the key out for the default")]
    EmptyList {
        /// `"ports"` or `"methods"`.
        field: &'static str,
    },
    /// A path prefix that does not start with `/` or is not in canonical form.
    #[error("{field}: invalid path prefix {value:?}: {reason}")]
    InvalidPathPrefix {
        /// Always `"path_prefix"`.
        field: &'static str,
        /// The prefix given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not an upper-case method this gateway can grant.
    #[error(
        "{field}: invalid method {value:?}: use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS"
    )]
    InvalidMethod {
        /// Always `"methods"`.
        field: &'static str,
        /// The method given.
        value: String,
    },
    /// A method beyond GET/HEAD without `approved_by`.
    #[error("{field}: method {method} needs `approved_by` (an admin's approval)")]
    WriteWithoutApproval {
        /// Always `"methods"`.
        field: &'static str,
        /// The first such method.
        method: String,
    },
    /// `confirm = true` on an entry that grants no write to confirm.
    #[error("{field}: confirms writes, but the entry grants none (POST, PUT, PATCH or DELETE)")]
    ConfirmWithoutWrite {
        /// Always `"confirm"`.
        field: &'static str,
    },
    /// `approved_by` present but blank.
    #[error("{field}: must name the approving admin")]
    EmptyApproval {
        /// Always `"approved_by"`.
        field: &'static str,
    },
    /// Not a valid HTTP header name.
    #[error("{field}: invalid header name {value:?}")]
    InvalidHeaderName {
        /// Always `"secret_headers"`.
        field: &'static str,
        /// The name given.
        value: String,
    },
    /// A header that frames or routes the request and so cannot be a secret.
    #[error("{field}: header {value:?} cannot be injected")]
    ReservedHeaderName {
        /// Always `"secret_headers"`.
        field: &'static str,
        /// The name given.
        value: String,
    },
    /// The same header twice (names are case-insensitive).
    #[error("{field}: header {value:?} given twice")]
    DuplicateHeaderName {
        /// Always `"secret_headers"`.
        field: &'static str,
        /// The second spelling.
        value: String,
    },
    /// A malformed `${VAR}` template.
    #[error("{field}: header {header:?}: {reason}")]
    InvalidSecretTemplate {
        /// Always `"secret_headers"`.
        field: &'static str,
        /// The header whose template is malformed.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl RuleError {
    /// The manifest key the error concerns.
    pub fn field(&self) -> &'static str {
        match self {
            RuleError::UrlAndParts { field }
            | RuleError::MissingHost { field }
            | RuleError::InvalidScheme { field, .. }
            | RuleError::InvalidHost { field, .. }
            | RuleError::InvalidWildcard { field, .. }
            | RuleError::InvalidUrl { field, .. }
            | RuleError::UnknownConfigReference { field, .. }
            | RuleError::InvalidPort { field, .. }
            | RuleError::EmptyList { field }
            | RuleError::InvalidPathPrefix { field, .. }
            | RuleError::InvalidMethod { field, .. }
            | RuleError::WriteWithoutApproval { field, .. }
            | RuleError::EmptyApproval { field }
            | RuleError::ConfirmWithoutWrite { field }
            | RuleError::InvalidHeaderName { field, .. }
            | RuleError::ReservedHeaderName { field, .. }
            | RuleError::DuplicateHeaderName { field, .. }
            | RuleError::InvalidSecretTemplate { field, .. } => field,
        }
    }
}

/// Where the host, scheme, ports and path prefix came from.
struct Target {
    scheme: Scheme,
    host: HostPattern,
    ports: Vec<u16>,
    path_prefix: Option<String>,
}

impl Rule {
    /// `config` resolves `${config.NAME}` references in `url` (only there).
    pub fn from_spec(
        spec: &HttpEntrySpec,
        config: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Rule, RuleError> {
        let target = match &spec.url {
            Some(url) => target_from_url(spec, url, config)?,
            None => target_from_parts(spec)?,
        };
        let approved_by = match &spec.approved_by {
            Some(who) if who.trim().is_empty() => {
                return Err(RuleError::EmptyApproval {
                    field: "approved_by",
                });
            }
            Some(who) => Some(who.clone()),
            None => None,
        };
        let methods = parse_methods(spec.methods.as_deref(), approved_by.is_some())?;
        let confirm = spec.confirm.unwrap_or(false);
        if confirm && !methods.iter().any(is_write) {
            return Err(RuleError::ConfirmWithoutWrite { field: "confirm" });
        }
        let secret_headers = parse_secret_headers(&spec.secret_headers)?;
        Ok(Rule {
            scheme: target.scheme,
            host: target.host,
            ports: target.ports,
            path_prefix: target.path_prefix,
            methods,
            approved_by,
            confirm,
            secret_headers,
        })
    }

    /// Whether `method` under this rule waits for the caller's confirmation.
    pub fn needs_confirmation(&self, method: &Method) -> bool {
        self.confirm && is_write(method)
    }

    /// Whether this rule grants a write (POST, PUT, PATCH or DELETE).
    pub fn grants_write(&self) -> bool {
        self.methods.iter().any(is_write)
    }

    /// Whether a parsed request host is one this rule covers. `host` should
    /// come from `url::Url` or `Host::parse`, which already lower-case and
    /// punycode it; ASCII case is ignored anyway.
    pub fn matches_host(&self, host: &Host<&str>) -> bool {
        match (&self.host, host) {
            (HostPattern::Exact(want), Host::Domain(name)) => name
                .strip_suffix('.')
                .unwrap_or(name)
                .eq_ignore_ascii_case(want),
            (HostPattern::Suffix(suffix), Host::Domain(name)) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                // Strictly deeper: at least one non-empty label before the dot.
                name.len() > suffix.len() + 1
                    && name
                        .get(name.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            (HostPattern::Ip(want), Host::Ipv4(ip)) => *want == IpAddr::V4(*ip),
            (HostPattern::Ip(want), Host::Ipv6(ip)) => *want == IpAddr::V6(*ip),
            _ => false,
        }
    }

    /// Whether the request's port (explicit or the scheme default) is allowed.
    pub fn allows_port(&self, port: u16) -> bool {
        if self.ports.is_empty() {
            port == self.scheme.default_port()
        } else {
            self.ports.contains(&port)
        }
    }

    /// Whether a request path (as `url::Url::path` gives it) is inside the
    /// prefix, on a segment boundary: `/v1` allows `/v1` and `/v1/x`, not
    /// `/v1x`. Any entry refuses a path an upstream could read as another
    /// one (dot segments in any spelling, control bytes, overlong UTF-8); an
    /// entry with a prefix also refuses encoded slashes (see [`super::path`]).
    pub fn allows_path(&self, path: &str) -> bool {
        let Some(prefix) = &self.path_prefix else {
            return is_unambiguous(path, Slashes::Allowed);
        };
        let inside = if prefix.ends_with('/') {
            path.starts_with(prefix.as_str())
        } else {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        inside && is_unambiguous(path, Slashes::Refused)
    }
}

fn target_from_url(
    spec: &HttpEntrySpec,
    raw: &str,
    config: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, RuleError> {
    let conflicting = [
        ("scheme", spec.scheme.is_some()),
        ("host", spec.host.is_some()),
        ("ports", spec.ports.is_some()),
        ("path_prefix", spec.path_prefix.is_some()),
    ];
    if let Some((field, _)) = conflicting.iter().find(|(_, given)| *given) {
        return Err(RuleError::UrlAndParts { field });
    }
    let expanded = expand_config(raw, config)?;
    let invalid = |reason: String| RuleError::InvalidUrl {
        field: "url",
        value: expanded.clone(),
        reason,
    };
    let url = Url::parse(&expanded).map_err(|e| invalid(e.to_string()))?;
    let scheme = Scheme::parse(url.scheme()).ok_or_else(|| RuleError::InvalidScheme {
        field: "url",
        value: url.scheme().to_owned(),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("userinfo is not allowed".to_owned()));
    }
    if url.query().is_some() {
        return Err(invalid("a query is not allowed".to_owned()));
    }
    if url.fragment().is_some() {
        return Err(invalid("a fragment is not allowed".to_owned()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| invalid("no host".to_owned()))?;
    let host = parse_host_pattern("url", host)?;
    // `Url::port` is None for the scheme's default port, which the empty list means.
    let ports = match url.port() {
        Some(0) => {
            return Err(RuleError::InvalidPort {
                field: "url",
                port: 0,
            });
        }
        Some(port) => vec![port],
        None => Vec::new(),
    };
    let path_prefix = match url.path() {
        "/" => None,
        path => Some(path.to_owned()),
    };
    Ok(Target {
        scheme,
        host,
        ports,
        path_prefix,
    })
}

/// Replace each `${config.NAME}`. Any other `${...}` is refused: secrets
/// (environment variables) must never end up in a URL.
fn expand_config(raw: &str, config: &dyn Fn(&str) -> Option<String>) -> Result<String, RuleError> {
    let invalid = |reason: &str| RuleError::InvalidUrl {
        field: "url",
        value: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| invalid("unclosed `${`"))?;
        let name = after[..end]
            .strip_prefix("config.")
            .ok_or_else(|| invalid("only `${config.NAME}` references are allowed"))?;
        let value = config(name).ok_or_else(|| RuleError::UnknownConfigReference {
            field: "url",
            name: name.to_owned(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn target_from_parts(spec: &HttpEntrySpec) -> Result<Target, RuleError> {
    let scheme = match &spec.scheme {
        None => Scheme::Https,
        Some(s) => Scheme::parse(s).ok_or_else(|| RuleError::InvalidScheme {
            field: "scheme",
            value: s.clone(),
        })?,
    };
    let host = spec
        .host
        .as_deref()
        .ok_or(RuleError::MissingHost { field: "host" })?;
    let host = parse_host_pattern("host", host)?;
    let ports = match &spec.ports {
        None => Vec::new(),
        Some(list) if list.is_empty() => return Err(RuleError::EmptyList { field: "ports" }),
        Some(list) => {
            if list.contains(&0) {
                return Err(RuleError::InvalidPort {
                    field: "ports",
                    port: 0,
                });
            }
            let mut ports = list.clone();
            ports.sort_unstable();
            ports.dedup();
            ports
        }
    };
    let path_prefix = match &spec.path_prefix {
        None => None,
        Some(prefix) => parse_path_prefix(prefix)?,
    };
    Ok(Target {
        scheme,
        host,
        ports,
        path_prefix,
    })
}

/// Requests are compared in the form `url::Url` prints paths, so a prefix
/// must already be in that form: what the reviewer reads is what is enforced.
fn parse_path_prefix(prefix: &str) -> Result<Option<String>, RuleError> {
    let invalid = |reason| RuleError::InvalidPathPrefix {
        field: "path_prefix",
        value: prefix.to_owned(),
        reason,
    };
    if !prefix.starts_with('/') {
        return Err(invalid("must start with '/'"));
    }
    if prefix.contains(['?', '#']) {
        return Err(invalid("a query or fragment is not a path"));
    }
    let canonical = Url::parse("http://prefix.invalid/")
        .and_then(|base| base.join(prefix))
        .map_err(|_| invalid("not a URL path"))?;
    if canonical.path() != prefix || !is_unambiguous(prefix, Slashes::Refused) {
        return Err(invalid(
            "not in canonical form (dot segments, `\\`, or characters that need %-encoding)",
        ));
    }
    Ok(if prefix == "/" {
        None
    } else {
        Some(prefix.to_owned())
    })
}

/// Normalise a host the way request URLs are normalised (IDNA to punycode,
/// lower case, WHATWG IPv4 spellings), then strip one trailing dot.
fn parse_host_pattern(field: &'static str, raw: &str) -> Result<HostPattern, RuleError> {
    let invalid = |reason| RuleError::InvalidHost {
        field,
        value: raw.to_owned(),
        reason,
    };
    let wildcard = || RuleError::InvalidWildcard {
        field,
        value: raw.to_owned(),
    };
    let (is_suffix, name) = match raw.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if name.contains('*') || (is_suffix && matches!(name, "" | ".")) {
        return Err(wildcard());
    }
    // Bare IPv6 is friendlier to write than the bracketed URL form.
    if let Ok(ip) = name.parse::<Ipv6Addr>() {
        return if is_suffix {
            Err(wildcard())
        } else {
            Ok(HostPattern::Ip(IpAddr::V6(ip)))
        };
    }
    let parsed = Host::parse(name).map_err(|_| invalid("not a host name or IP address"))?;
    let domain = match parsed {
        Host::Ipv4(ip) if !is_suffix => return Ok(HostPattern::Ip(IpAddr::V4(ip))),
        Host::Ipv6(ip) if !is_suffix => return Ok(HostPattern::Ip(IpAddr::V6(ip))),
        Host::Ipv4(_) | Host::Ipv6(_) => return Err(wildcard()),
        Host::Domain(domain) => domain,
    };
    let domain = domain.strip_suffix('.').unwrap_or(&domain).to_owned();
    validate_domain(&domain).map_err(invalid)?;
    if is_suffix {
        // `*.com` would allow a whole top-level domain.
        if !domain.contains('.') {
            return Err(wildcard());
        }
        Ok(HostPattern::Suffix(domain))
    } else {
        Ok(HostPattern::Exact(domain))
    }
}

/// The URL parser accepts names DNS never resolves (`a..b`, `a!b`); a
/// manifest entry must be a plausible DNS name.
fn validate_domain(domain: &str) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Err("empty host");
    }
    if domain.len() > MAX_HOST_LEN {
        return Err("longer than 253 characters");
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > MAX_LABEL_LEN {
            return Err("label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("only letters, digits, '-' and '_' are allowed in a label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label may not start or end with '-'");
        }
    }
    Ok(())
}

fn parse_methods(given: Option<&[String]>, approved: bool) -> Result<Vec<Method>, RuleError> {
    let Some(given) = given else {
        return Ok(vec![Method::GET, Method::HEAD]);
    };
    if given.is_empty() {
        return Err(RuleError::EmptyList { field: "methods" });
    }
    let mut methods: Vec<Method> = Vec::new();
    for raw in given {
        // Exact, case-sensitive match: method names are case-sensitive in HTTP.
        let method = GRANTABLE_METHODS
            .iter()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| RuleError::InvalidMethod {
                field: "methods",
                value: raw.clone(),
            })?;
        if !approved && *method != Method::GET && *method != Method::HEAD {
            return Err(RuleError::WriteWithoutApproval {
                field: "methods",
                method: raw.clone(),
            });
        }
        if !methods.contains(method) {
            methods.push(method.clone());
        }
    }
    Ok(methods)
}

fn parse_secret_headers(given: &BTreeMap<String, String>) -> Result<Vec<SecretHeader>, RuleError> {
    const FIELD: &str = "secret_headers";
    let mut headers: Vec<SecretHeader> = Vec::new();
    for (raw_name, raw_template) in given {
        let name = HeaderName::from_bytes(raw_name.as_bytes()).map_err(|_| {
            RuleError::InvalidHeaderName {
                field: FIELD,
                value: raw_name.clone(),
            }
        })?;
        if super::policy::is_protocol_header(&name) {
            return Err(RuleError::ReservedHeaderName {
                field: FIELD,
                value: raw_name.clone(),
            });
        }
        if headers.iter().any(|h| h.name == name) {
            return Err(RuleError::DuplicateHeaderName {
                field: FIELD,
                value: raw_name.clone(),
            });
        }
        let template = SecretTemplate::parse(raw_template).map_err(|reason| {
            RuleError::InvalidSecretTemplate {
                field: FIELD,
                header: raw_name.clone(),
                reason,
            }
        })?;
        headers.push(SecretHeader { name, template });
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

    use super::*;

    fn config(name: &str) -> Option<String> {
        match name {
            "api_base" => Some("https://api.github.com".to_owned()),
            "mock" => Some("http://127.0.0.1:8089/v1".to_owned()),
            "secret_ref" => Some("https://${GITHUB_TOKEN}.example.com".to_owned()),
            _ => None,
        }
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

    fn parse(spec: &HttpEntrySpec) -> Result<Rule, RuleError> {
        Rule::from_spec(spec, &config)
    }

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    fn exact(h: &str) -> HostPattern {
        HostPattern::Exact(h.to_owned())
    }

    #[test]
    fn accepted_hosts_normalise() {
        let ip = |s: &str| HostPattern::Ip(s.parse().unwrap());
        let cases: Vec<(&str, HostPattern)> = vec![
            ("api.github.com", exact("api.github.com")),
            ("API.GitHub.COM", exact("api.github.com")),
            ("api.github.com.", exact("api.github.com")),
            (
                "*.githubusercontent.com",
                HostPattern::Suffix("githubusercontent.com".into()),
            ),
            ("*.Example.COM.", HostPattern::Suffix("example.com".into())),
            ("bücher.example", exact("xn--bcher-kva.example")),
            ("xn--bcher-kva.example", exact("xn--bcher-kva.example")),
            ("BÜCHER.example", exact("xn--bcher-kva.example")),
            (
                "*.bücher.example",
                HostPattern::Suffix("xn--bcher-kva.example".into()),
            ),
            ("localhost", exact("localhost")),
            ("my_host.internal", exact("my_host.internal")),
            ("127.0.0.1", ip("127.0.0.1")),
            ("0x7f.1", ip("127.0.0.1")),
            ("[::1]", ip("::1")),
            ("::1", ip("::1")),
            ("[::ffff:127.0.0.1]", ip("::ffff:127.0.0.1")),
        ];
        for (given, want) in cases {
            let rule = parse(&host(given)).unwrap();
            assert_eq!(rule.host, want, "{given}");
            assert_eq!(rule.scheme, Scheme::Https, "{given}");
            assert!(rule.ports.is_empty(), "{given}");
            assert_eq!(rule.path_prefix, None, "{given}");
            assert_eq!(rule.methods, vec![Method::GET, Method::HEAD], "{given}");
        }
    }

    #[test]
    fn accepted_url_forms() {
        use Scheme::{Http, Https};
        let ip = |s: &str| HostPattern::Ip(s.parse().unwrap());
        let suffix = |s: &str| HostPattern::Suffix(s.to_owned());
        let idn = || exact("xn--bcher-kva.example");
        let cases = [
            (
                "https://api.github.com",
                Https,
                exact("api.github.com"),
                None,
                None,
            ),
            (
                "https://api.github.com:443/",
                Https,
                exact("api.github.com"),
                None,
                None,
            ),
            (
                "HTTP://127.0.0.1:8080/v1/",
                Http,
                ip("127.0.0.1"),
                Some(8080),
                Some("/v1/"),
            ),
            (
                "http://[::1]:9000/api",
                Http,
                ip("::1"),
                Some(9000),
                Some("/api"),
            ),
            (
                "https://*.example.com/x",
                Https,
                suffix("example.com"),
                None,
                Some("/x"),
            ),
            (
                "https://Bücher.example./a/../b",
                Https,
                idn(),
                None,
                Some("/b"),
            ),
            (
                "${config.api_base}",
                Https,
                exact("api.github.com"),
                None,
                None,
            ),
            (
                "${config.mock}/items",
                Http,
                ip("127.0.0.1"),
                Some(8089),
                Some("/v1/items"),
            ),
        ];
        for (given, scheme, host, port, prefix) in cases {
            let rule = parse(&url(given)).unwrap();
            assert_eq!(rule.scheme, scheme, "{given}");
            assert_eq!(rule.host, host, "{given}");
            assert_eq!(rule.ports, Vec::from_iter(port), "{given}");
            assert_eq!(rule.path_prefix.as_deref(), prefix, "{given}");
        }
    }

    #[test]
    fn accepted_parts() {
        let rule = parse(&HttpEntrySpec {
            scheme: Some("http".into()),
            host: Some("localhost".into()),
            ports: Some(vec![8080, 80, 8080]),
            path_prefix: Some("/v1".into()),
            ..HttpEntrySpec::default()
        })
        .unwrap();
        assert_eq!(rule.scheme, Scheme::Http);
        assert_eq!(rule.ports, vec![80, 8080]);
        assert_eq!(rule.path_prefix.as_deref(), Some("/v1"));

        let root = parse(&HttpEntrySpec {
            path_prefix: Some("/".into()),
            ..host("a.example")
        })
        .unwrap();
        assert_eq!(root.path_prefix, None);
    }

    #[test]
    fn methods_and_approval() {
        type Case = (Option<Vec<String>>, Option<&'static str>, Vec<Method>);
        let cases: Vec<Case> = vec![
            (None, None, vec![Method::GET, Method::HEAD]),
            (strings(&["GET"]), None, vec![Method::GET]),
            (
                strings(&["HEAD", "GET", "GET"]),
                None,
                vec![Method::HEAD, Method::GET],
            ),
            (
                strings(&["GET", "POST"]),
                Some("alice@example.com"),
                vec![Method::GET, Method::POST],
            ),
            (
                strings(&["PUT", "PATCH", "DELETE", "OPTIONS"]),
                Some("bob"),
                vec![Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS],
            ),
            (strings(&["GET"]), Some("carol"), vec![Method::GET]),
        ];
        for (methods, approved_by, want) in cases {
            let rule = parse(&HttpEntrySpec {
                methods: methods.clone(),
                approved_by: approved_by.map(str::to_owned),
                ..host("api.example.com")
            })
            .unwrap();
            assert_eq!(rule.methods, want, "{methods:?}");
            assert_eq!(rule.approved_by.as_deref(), approved_by);
        }
    }

    #[test]
    fn secret_templates() {
        let mut secret_headers = BTreeMap::new();
        secret_headers.insert(
            "Authorization".to_owned(),
            "Bearer ${GITHUB_TOKEN}".to_owned(),
        );
        secret_headers.insert(
            "X-Api-Key".to_owned(),
            "${_KEY}:${KEY_2}$literal".to_owned(),
        );
        secret_headers.insert("X-Static".to_owned(), "plain".to_owned());
        let rule = parse(&HttpEntrySpec {
            secret_headers,
            ..host("api.github.com")
        })
        .unwrap();
        let names: Vec<&str> = rule
            .secret_headers
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(names, ["authorization", "x-api-key", "x-static"]);

        let auth = &rule.secret_headers[0].template;
        assert_eq!(auth.env_vars().collect::<Vec<_>>(), ["GITHUB_TOKEN"]);
        let env = |name: &str| (name == "GITHUB_TOKEN").then(|| "t0k".to_owned());
        assert_eq!(auth.render(env), Ok("Bearer t0k".to_owned()));
        assert_eq!(
            auth.render(|_| None),
            Err(MissingVar("GITHUB_TOKEN".to_owned()))
        );

        let key = &rule.secret_headers[1].template;
        assert_eq!(key.env_vars().collect::<Vec<_>>(), ["_KEY", "KEY_2"]);
        let env = |name: &str| (name == "_KEY").then(|| "a".to_owned());
        assert_eq!(key.render(env), Err(MissingVar("KEY_2".to_owned())));
        let env = |name: &str| Some(name.to_lowercase());
        assert_eq!(key.render(env), Ok("_key:key_2$literal".to_owned()));

        let plain = &rule.secret_headers[2].template;
        assert_eq!(plain.env_vars().count(), 0);
        assert_eq!(plain.render(|_| None), Ok("plain".to_owned()));
    }

    /// Each rejected entry must produce this variant, naming this key.
    #[test]
    fn rejected_forms() {
        use RuleError as E;
        fn with_secret(name: &str, template: &str) -> HttpEntrySpec {
            let mut secret_headers = BTreeMap::new();
            secret_headers.insert(name.to_owned(), template.to_owned());
            HttpEntrySpec {
                secret_headers,
                ..host("api.example.com")
            }
        }
        fn with_methods(methods: &[&str]) -> HttpEntrySpec {
            HttpEntrySpec {
                methods: strings(methods),
                ..host("api.example.com")
            }
        }
        fn with_prefix(prefix: &str) -> HttpEntrySpec {
            HttpEntrySpec {
                path_prefix: Some(prefix.to_owned()),
                ..host("api.example.com")
            }
        }
        fn with_ports(ports: &[u16]) -> HttpEntrySpec {
            HttpEntrySpec {
                ports: Some(ports.to_vec()),
                ..host("api.example.com")
            }
        }
        macro_rules! rejects {
            ($($spec:expr => $want:pat,)*) => {$(
                let err = parse(&$spec).err();
                assert!(matches!(err, Some($want)), "{}: {err:?}", stringify!($spec));
            )*};
        }
        let s = |v: &str| Some(v.to_owned());
        rejects! {
            HttpEntrySpec { host: s("a.com"), ..url("https://a.com") } => E::UrlAndParts { field: "host" },
            HttpEntrySpec { scheme: s("https"), ..url("https://a.com") } => E::UrlAndParts { field: "scheme" },
            HttpEntrySpec { ports: Some(vec![443]), ..url("https://a.com") } => E::UrlAndParts { field: "ports" },
            HttpEntrySpec { path_prefix: s("/x"), ..url("https://a.com") } => E::UrlAndParts { field: "path_prefix" },
            HttpEntrySpec::default() => E::MissingHost { field: "host" },
            HttpEntrySpec { scheme: s("ftp"), ..host("a.com") } => E::InvalidScheme { field: "scheme", .. },
            url("ws://a.com") => E::InvalidScheme { field: "url", .. },
            host("a.com:8080") => E::InvalidHost { field: "host", .. },
            host("a.com/x") => E::InvalidHost { field: "host", .. },
            host("user@a.com") => E::InvalidHost { field: "host", .. },
            host("https://a.com") => E::InvalidHost { field: "host", .. },
            host("") => E::InvalidHost { field: "host", .. },
            host("a..com") => E::InvalidHost { field: "host", .. },
            host("a.com..") => E::InvalidHost { field: "host", .. },
            host("a!b.com") => E::InvalidHost { field: "host", .. },
            host("-a.com") => E::InvalidHost { field: "host", .. },
            host("example.123") => E::InvalidHost { field: "host", .. },
            url("https://a!b.com") => E::InvalidHost { field: "url", .. },
            host("*") => E::InvalidWildcard { field: "host", .. },
            host("*.") => E::InvalidWildcard { field: "host", .. },
            host("*.com") => E::InvalidWildcard { field: "host", .. },
            host("*.com.") => E::InvalidWildcard { field: "host", .. },
            host("*.localhost") => E::InvalidWildcard { field: "host", .. },
            host("a.*.com") => E::InvalidWildcard { field: "host", .. },
            host("api*.example.com") => E::InvalidWildcard { field: "host", .. },
            host("*.*.example.com") => E::InvalidWildcard { field: "host", .. },
            host("*.10.0.0.1") => E::InvalidWildcard { field: "host", .. },
            host("*.::1") => E::InvalidWildcard { field: "host", .. },
            url("https://*.com") => E::InvalidWildcard { field: "url", .. },
            url("api.github.com") => E::InvalidUrl { field: "url", .. },
            url("") => E::InvalidUrl { field: "url", .. },
            url("https://user@api.github.com") => E::InvalidUrl { field: "url", .. },
            url("https://user:pw@api.github.com") => E::InvalidUrl { field: "url", .. },
            url("https://api.github.com/?x=1") => E::InvalidUrl { field: "url", .. },
            url("https://api.github.com?") => E::InvalidUrl { field: "url", .. },
            url("https://api.github.com/#x") => E::InvalidUrl { field: "url", .. },
            url("https://${GITHUB_TOKEN}.example.com") => E::InvalidUrl { field: "url", .. },
            url("${config.api_base") => E::InvalidUrl { field: "url", .. },
            url("${config.nope}/x") => E::UnknownConfigReference { field: "url", .. },
            with_ports(&[443, 0]) => E::InvalidPort { field: "ports", port: 0 },
            url("https://a.com:0") => E::InvalidPort { field: "url", port: 0 },
            with_ports(&[]) => E::EmptyList { field: "ports" },
            with_prefix("v1") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("/v1?x=1") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("/v1#x") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("/v1/../admin") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("/v1/%2e%2e/admin") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("/v1/..%2Fadmin") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("/v1\\x") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_prefix("/caf\u{e9}") => E::InvalidPathPrefix { field: "path_prefix", .. },
            with_methods(&["get"]) => E::InvalidMethod { field: "methods", .. },
            with_methods(&["FETCH"]) => E::InvalidMethod { field: "methods", .. },
            with_methods(&["TRACE"]) => E::InvalidMethod { field: "methods", .. },
            with_methods(&["CONNECT"]) => E::InvalidMethod { field: "methods", .. },
            with_methods(&[""]) => E::InvalidMethod { field: "methods", .. },
            with_methods(&[]) => E::EmptyList { field: "methods" },
            with_methods(&["GET", "POST"]) => E::WriteWithoutApproval { field: "methods", .. },
            with_methods(&["DELETE"]) => E::WriteWithoutApproval { field: "methods", .. },
            with_methods(&["OPTIONS"]) => E::WriteWithoutApproval { field: "methods", .. },
            HttpEntrySpec { approved_by: s(" "), ..with_methods(&["POST"]) } => E::EmptyApproval { field: "approved_by" },
            HttpEntrySpec { approved_by: s(""), ..host("a.com") } => E::EmptyApproval { field: "approved_by" },
            HttpEntrySpec { confirm: Some(true), ..host("a.com") } => E::ConfirmWithoutWrite { field: "confirm" },
            HttpEntrySpec { confirm: Some(true), approved_by: s("a@x"), ..with_methods(&["GET", "OPTIONS"]) } => E::ConfirmWithoutWrite { field: "confirm" },
            with_secret("X Key", "${K}") => E::InvalidHeaderName { field: "secret_headers", .. },
            with_secret("", "${K}") => E::InvalidHeaderName { field: "secret_headers", .. },
            with_secret("Host", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("Content-Length", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("Proxy-Authorization", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("X-HTTP-Method-Override", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("X-Forwarded-Host", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("X-Forwarded-For", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("Forwarded", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("X-Real-IP", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("X-Original-URL", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("X-Rewrite-URL", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("X-Host", "${K}") => E::ReservedHeaderName { field: "secret_headers", .. },
            with_secret("Authorization", "Bearer ${TOKEN") => E::InvalidSecretTemplate { field: "secret_headers", .. },
            with_secret("Authorization", "Bearer ${}") => E::InvalidSecretTemplate { field: "secret_headers", .. },
            with_secret("Authorization", "${token}") => E::InvalidSecretTemplate { field: "secret_headers", .. },
            with_secret("Authorization", "${1TOKEN}") => E::InvalidSecretTemplate { field: "secret_headers", .. },
            with_secret("Authorization", "${A-B}") => E::InvalidSecretTemplate { field: "secret_headers", .. },
            with_secret("Authorization", "${config.api_key}") => E::InvalidSecretTemplate { field: "secret_headers", .. },
            with_secret("Authorization", "a\r\nX: ${T}") => E::InvalidSecretTemplate { field: "secret_headers", .. },
        }
    }

    #[test]
    fn duplicate_secret_header() {
        let mut secret_headers = BTreeMap::new();
        secret_headers.insert("Authorization".to_owned(), "${A}".to_owned());
        secret_headers.insert("authorization".to_owned(), "${B}".to_owned());
        let spec = HttpEntrySpec {
            secret_headers,
            ..host("a.com")
        };
        assert!(matches!(
            parse(&spec),
            Err(RuleError::DuplicateHeaderName {
                field: "secret_headers",
                ..
            })
        ));
    }

    #[test]
    fn config_values_are_not_expanded_again() {
        // `${...}` inside a config value stays literal text: not a valid host.
        assert!(matches!(
            parse(&url("${config.secret_ref}")),
            Err(RuleError::InvalidHost { field: "url", .. })
        ));
    }

    #[test]
    fn errors_name_their_field() {
        let cases = [
            (host("*.com"), "host"),
            (url("https://a.com:0"), "url"),
            (
                HttpEntrySpec {
                    approved_by: Some(String::new()),
                    ..host("a.com")
                },
                "approved_by",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(parse(&spec).err().map(|e| e.field()), Some(want));
        }
    }

    #[test]
    fn host_matching() {
        let rule = |h: &str| parse(&host(h)).unwrap();
        let domain = |d: &'static str| Host::Domain(d);
        let cases: Vec<(&str, Host<&str>, bool)> = vec![
            ("api.github.com", domain("api.github.com"), true),
            ("api.github.com", domain("api.github.com."), true),
            ("api.github.com", domain("API.github.com"), true),
            ("api.github.com", domain("api.github.com.evil.com"), false),
            ("api.github.com", domain("evil.api.github.com"), false),
            ("api.github.com", domain("github.com"), false),
            ("*.example.com", domain("a.example.com"), true),
            ("*.example.com", domain("a.b.example.com"), true),
            ("*.example.com", domain("a.example.com."), true),
            ("*.example.com", domain("example.com"), false),
            ("*.example.com", domain(".example.com"), false),
            ("*.example.com", domain("badexample.com"), false),
            ("*.example.com", domain("a.example.com.evil.com"), false),
            ("*.example.com", domain("a.example.co"), false),
            ("127.0.0.1", Host::Ipv4("127.0.0.1".parse().unwrap()), true),
            ("127.0.0.1", Host::Ipv4("127.0.0.2".parse().unwrap()), false),
            (
                "127.0.0.1",
                Host::Ipv6("::ffff:127.0.0.1".parse().unwrap()),
                false,
            ),
            ("127.0.0.1", domain("127.0.0.1"), false),
            ("::1", Host::Ipv6("::1".parse().unwrap()), true),
            ("::1", Host::Ipv4("0.0.0.1".parse().unwrap()), false),
            ("localhost", Host::Ipv4("127.0.0.1".parse().unwrap()), false),
        ];
        for (pattern, request, want) in cases {
            assert_eq!(
                rule(pattern).matches_host(&request),
                want,
                "{pattern} vs {request:?}"
            );
        }
    }

    #[test]
    fn port_matching() {
        let default = parse(&host("a.com")).unwrap();
        let http = parse(&url("http://a.com")).unwrap();
        let listed = parse(&HttpEntrySpec {
            ports: Some(vec![8443]),
            ..host("a.com")
        })
        .unwrap();
        let cases = [
            (&default, 443, true),
            (&default, 80, false),
            (&default, 8443, false),
            (&http, 80, true),
            (&http, 443, false),
            (&listed, 8443, true),
            (&listed, 443, false),
        ];
        for (rule, port, want) in cases {
            assert_eq!(rule.allows_port(port), want, "{:?} {port}", rule.ports);
        }
    }

    #[test]
    fn path_matching() {
        let rule = |p: &str| {
            parse(&HttpEntrySpec {
                path_prefix: Some(p.to_owned()),
                ..host("a.com")
            })
            .unwrap()
        };
        let cases = [
            ("/v1", "/v1", true),
            ("/v1", "/v1/", true),
            ("/v1", "/v1/x", true),
            ("/v1", "/v1x", false),
            ("/v1", "/v", false),
            ("/v1", "/", false),
            ("/v1", "/V1", false),
            ("/v1/", "/v1/x", true),
            ("/v1/", "/v1", false),
            ("/v1", "/v1/..%2Fadmin", false),
            ("/v1", "/v1/%2e%2E%2fadmin", false),
            ("/v1", "/v1/x%5C..%5Cadmin", false),
            ("/v1", "/v1/group%2Fproject", false),
            ("/v1", "/v1/a..b", true),
            ("/v1", "/v1/..;/admin", false),
            ("/v1", "/v1/%2e%2e;/admin", false),
            ("/v1", "/v1/%252e%252e/admin", false),
            ("/v1", "/v1/%c0%ae%c0%ae/admin", false),
            ("/v1", "/v1/..%00/admin", false),
            ("/v1", "/v1/..%09/admin", false),
            ("/v1", "/v1/charges", true),
            ("/v1", "/v1/a.b/c", true),
            ("/v1", "/v1/%E2%82%AC", true),
        ];
        for (prefix, path, want) in cases {
            assert_eq!(rule(prefix).allows_path(path), want, "{prefix} vs {path}");
        }
        // Without a prefix any path is allowed, but never an ambiguous one.
        let anywhere = parse(&host("a.com")).unwrap();
        assert!(anywhere.allows_path("/anything/at/all"));
        assert!(anywhere.allows_path("/v1/group%2Fproject"));
        assert!(!anywhere.allows_path("/x/..;/y"));
        assert!(!anywhere.allows_path("/x/%00"));
    }

    #[test]
    fn toml_entries() {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Manifest {
            http: Vec<HttpEntrySpec>,
        }
        let good = r#"
            [[http]]
            url = "${config.api_base}"
            methods = ["GET", "HEAD"]
            [http.secret_headers]
            Authorization = "Bearer ${GITHUB_TOKEN}"

            [[http]]
            scheme = "https"
            host = "*.githubusercontent.com"
            ports = [443]
            path_prefix = "/"
            methods = ["GET"]

            [[http]]
            host = "api.example.com"
            methods = ["GET", "POST"]
            approved_by = "alice@example.com"
        "#;
        let manifest: Manifest = toml::from_str(good).unwrap();
        let rules: Vec<Rule> = manifest
            .http
            .iter()
            .map(|spec| parse(spec).unwrap())
            .collect();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].host, exact("api.github.com"));
        assert_eq!(rules[1].ports, vec![443]);
        assert_eq!(rules[2].approved_by.as_deref(), Some("alice@example.com"));

        let cases = [
            "[[http]]\nhost = \"a.com\"\nport = 443\n",
            "[[http]]\nhost = \"a.com\"\nmethod = [\"GET\"]\n",
            "[[http]]\nhost = \"a.com\"\n[http.secret_headers]\nAuthorization = 1\n",
            "[[http]]\nhost = \"a.com\"\nports = [70000]\n",
            "[[http]]\nhost = \"a.com\"\nports = 443\n",
        ];
        for text in cases {
            assert!(toml::from_str::<Manifest>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn confirm_covers_the_writes_of_its_entry_only() {
        let spec = HttpEntrySpec {
            methods: strings(&["GET", "POST", "DELETE"]),
            approved_by: Some("alice@example.com".into()),
            confirm: Some(true),
            ..host("api.example.com")
        };
        let rule = parse(&spec).unwrap();
        assert!(rule.confirm);
        assert!(rule.needs_confirmation(&Method::POST));
        assert!(rule.needs_confirmation(&Method::DELETE));
        assert!(!rule.needs_confirmation(&Method::GET));
        let plain = parse(&HttpEntrySpec {
            confirm: None,
            ..spec
        })
        .unwrap();
        assert!(!plain.needs_confirmation(&Method::POST));
        assert!(plain.grants_write());
    }
}

#[cfg(test)]
mod display_tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
    use super::*;

    #[test]
    fn rules_print_as_a_reviewer_reads_them() {
        let none = |_: &str| None;
        let cases = [
            (
                HttpEntrySpec {
                    url: Some("https://api.github.com".into()),
                    ..Default::default()
                },
                "https://api.github.com GET,HEAD",
            ),
            (
                HttpEntrySpec {
                    host: Some("*.Stripe.com".into()),
                    ports: Some(vec![443, 8443]),
                    path_prefix: Some("/v1/".into()),
                    ..Default::default()
                },
                "https://*.stripe.com:{443,8443}/v1/ GET,HEAD",
            ),
            (
                HttpEntrySpec {
                    url: Some("http://[::1]:8080/".into()),
                    methods: Some(vec!["GET".into()]),
                    ..Default::default()
                },
                "http://[::1]:8080 GET",
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(Rule::from_spec(&spec, &none).unwrap().to_string(), expected);
        }
    }
}

"""A ``requests``-compatible surface over :mod:`gateway_tool.http`.

Inside a tool component ``import requests`` loads the SDK's top-level
``requests`` package, which re-exports this module, so an operator's script
written for the real library runs unchanged. Every request goes through the
gateway's outbound door: the hosts and methods ``tool.toml`` grants, secret
headers injected by the gateway (a header the script builds from a bound
secret in ``os.environ`` is dropped, see :mod:`gateway_tool._environ`),
redirects followed here so each hop is checked again. What is not supported
(streaming, ``files=``, proxies, certificates) raises a clear error.

A request the gateway's policy refuses raises :class:`gateway_tool.http.HttpError`
(kind ``denied``), not a ``RequestException``: a script's ``except
RequestException`` must not hide a denial. See docs/python-tools.md.
"""

import base64
import collections.abc
import json as _json
import urllib.parse

from . import _environ, http
from .http import HttpError

# How many redirects one call follows, as requests' default does (30 there).
MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently",
    302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect",
    308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class RequestException(IOError):
    """Base of the shim's errors, as in ``requests``; has ``.response`` and ``.request``."""

    def __init__(self, *args, response=None, request=None):
        super().__init__(*args)
        self.response = response
        self.request = request if request is not None else getattr(response, "request", None)


class HTTPError(RequestException):
    """Raised by :meth:`Response.raise_for_status` for a 4xx or 5xx status."""


class ConnectionError(RequestException):  # noqa: A001 (the name requests uses)
    """DNS, connection or protocol failure."""


class Timeout(RequestException):
    """The gateway's per-request timeout expired."""


class ConnectTimeout(ConnectionError, Timeout):
    """Kept for ``except`` clauses written for requests."""


class ReadTimeout(Timeout):
    """What a timeout raises here (the gateway does not tell connect from read)."""


class TooManyRedirects(RequestException):
    """More than :data:`MAX_REDIRECTS` redirects."""


class InvalidURL(RequestException, ValueError):
    """The URL is not absolute http(s)."""


class ContentTooLarge(RequestException):
    """The response exceeded the tool's upstream byte limit (tool.toml [limits])."""


class JSONDecodeError(RequestException, ValueError):
    """The body is not JSON (``Response.json()``)."""


class CaseInsensitiveDict(collections.abc.MutableMapping):
    """Header names compare case-insensitively; the last spelling set is kept."""

    def __init__(self, data=None, **kwargs):
        self._store = {}
        self.update(data or {}, **kwargs)

    def __setitem__(self, key, value):
        self._store[key.lower()] = (key, value)

    def __getitem__(self, key):
        return self._store[key.lower()][1]

    def __delitem__(self, key):
        del self._store[key.lower()]

    def __iter__(self):
        return (key for key, _ in self._store.values())

    def __len__(self):
        return len(self._store)

    def lower_items(self):
        return ((low, pair[1]) for low, pair in self._store.items())

    def copy(self):
        return CaseInsensitiveDict(self._store.values())

    def __eq__(self, other):
        if isinstance(other, collections.abc.Mapping):
            return dict(self.lower_items()) == dict(CaseInsensitiveDict(other).lower_items())
        return NotImplemented

    def __repr__(self):
        return repr(dict(self.items()))


class PreparedRequest:
    """What was sent (``response.request``): method, url, headers, body."""

    def __init__(self, method, url, headers, body):
        self.method, self.url, self.headers, self.body = method, url, headers, body

    def __repr__(self):
        return f"<PreparedRequest [{self.method}]>"


class Response:
    """An upstream response with the attributes scripts use from ``requests``."""

    def __init__(self, inner, request, history=()):
        self.status_code = inner.status
        self.headers = CaseInsensitiveDict(inner.headers)
        self.content = inner.content
        self.url = inner.url
        self.request = request
        self.history = list(history)
        self.reason = _REASONS.get(self.status_code, "")
        self.encoding = inner._charset()
        self._inner = inner

    def __repr__(self):
        return f"<Response [{self.status_code}]>"

    def __bool__(self):
        return self.ok

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Nothing to release: the gateway already read the whole body."""

    @property
    def ok(self):
        """Whether the status is below 400, as in ``requests``."""
        return self.status_code < 400

    @property
    def is_redirect(self):
        return "location" in self.headers and self.status_code in _REDIRECTS

    @property
    def text(self):
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    @property
    def links(self):
        """The ``Link`` header parsed by ``rel`` (pagination), as in ``requests``."""
        found = {}
        for part in self.headers.get("link", "").split(","):
            url, _, params = part.partition(";")
            url = url.strip().strip("<>")
            if not url:
                continue
            link = {"url": url}
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key:
                    link[key.strip()] = value.strip().strip("\"'")
            found[link.get("rel") or url] = link
        return found

    def json(self, **kwargs):
        """The body parsed as JSON; raises :class:`JSONDecodeError` otherwise."""
        try:
            return _json.loads(self.content, **kwargs)
        except ValueError as err:
            raise JSONDecodeError(
                f"{self.request.method} {self.url} (HTTP {self.status_code}) did not answer JSON: {err}",
                response=self,
            ) from None

    def iter_content(self, chunk_size=1, decode_unicode=False):
        """The body in chunks (it is already whole)."""
        data = self.text if decode_unicode else self.content
        size = chunk_size or len(data) or 1
        return (data[i:i + size] for i in range(0, len(data), size))

    def raise_for_status(self):
        """Raise :class:`HTTPError` for a 4xx or 5xx status."""
        if 400 <= self.status_code < 600:
            side = "Client" if self.status_code < 500 else "Server"
            raise HTTPError(
                f"{self.status_code} {side} Error: {self.reason or 'HTTP error'} for url: {self.url}",
                response=self,
            )


class HTTPBasicAuth:
    """``auth=(user, password)``: a Basic ``Authorization`` header."""

    def __init__(self, username, password):
        self.username, self.password = username, password

    def header(self):
        raw = f"{self.username}:{self.password}".encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")


def _merge(base, extra):
    merged = CaseInsensitiveDict(base or {})
    for key, value in (extra or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _params(base, extra):
    pairs = []
    for source in (base, extra):
        if not source:
            continue
        if isinstance(source, (str, bytes)):
            pairs.extend(urllib.parse.parse_qsl(source if isinstance(source, str) else source.decode()))
            continue
        items = source.items() if isinstance(source, collections.abc.Mapping) else source
        for key, value in items:
            values = value if isinstance(value, (list, tuple)) else [value]
            pairs.extend((key, v) for v in values if v is not None)
    return pairs


class Session:
    """Headers, params and auth shared by every request; usable in ``with``."""

    def __init__(self):
        self.headers = CaseInsensitiveDict({"Accept": "*/*", "User-Agent": "gateway-tool-requests"})
        self.params = {}
        self.auth = None
        self.max_redirects = MAX_REDIRECTS

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Nothing to release (no connections are pooled in the tool)."""

    def mount(self, prefix, adapter):
        """Accepted for compatibility: retries and pools are the gateway's business."""

    def request(self, method, url, params=None, data=None, headers=None, cookies=None,
                files=None, auth=None, timeout=None, allow_redirects=True, proxies=None,
                hooks=None, stream=None, verify=None, cert=None, json=None):
        """Send a request as ``requests.Session.request`` does.

        ``timeout``, ``verify`` and ``stream`` are accepted and ignored: the
        gateway applies its own timeouts and TLS checks and reads whole
        bodies. ``files``, ``proxies``, ``cert``, ``cookies`` and ``hooks``
        are not supported.
        """
        del timeout, verify, stream
        for name, value in (("files", files), ("proxies", proxies), ("cert", cert),
                            ("cookies", cookies), ("hooks", hooks)):
            if value:
                raise NotImplementedError(f"requests shim: {name}= is not supported in the gateway sandbox")
        method = str(method).upper()
        if not str(url).lower().startswith(("http://", "https://")):
            raise InvalidURL(f"Invalid URL {url!r}: give an absolute http(s) URL")
        merged = _merge(self.headers, headers)
        body = None
        if json is not None and data is None:
            body = _json.dumps(json, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            merged.setdefault("Content-Type", "application/json")
        elif data is not None:
            body = _form(data, merged)
        auth = auth if auth is not None else self.auth
        if isinstance(auth, tuple) and len(auth) == 2:
            auth = HTTPBasicAuth(*auth)
        if isinstance(auth, HTTPBasicAuth):
            merged["Authorization"] = auth.header() if not _uses_secret(auth) else _marker(auth)
        elif auth is not None:
            raise NotImplementedError("requests shim: auth= takes a (user, password) pair")
        full = _with_query(str(url), _params(self.params, params))
        history = []
        while True:
            request = PreparedRequest(method, full, merged, body)
            try:
                inner = http.request(method, full, headers=dict(merged), body=body)
            except HttpError as err:
                raise _translate(err, request) from None
            response = Response(inner, request, history)
            if not (allow_redirects and response.is_redirect):
                return response
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(f"exceeded {self.max_redirects} redirects", response=response)
            history.append(response)
            full = urllib.parse.urljoin(full, response.headers["location"])
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, body = ("GET" if method != "HEAD" else method), None
                merged.pop("Content-Type", None)

    def get(self, url, params=None, **kwargs):
        return self.request("GET", url, params=params, **kwargs)

    def head(self, url, **kwargs):
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", url, **kwargs)

    def options(self, url, **kwargs):
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url, data=None, json=None, **kwargs):
        return self.request("POST", url, data=data, json=json, **kwargs)

    def put(self, url, data=None, **kwargs):
        return self.request("PUT", url, data=data, **kwargs)

    def patch(self, url, data=None, **kwargs):
        return self.request("PATCH", url, data=data, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)


def _uses_secret(auth):
    return bool(_environ.secrets_in(str(auth.username)) or _environ.secrets_in(str(auth.password)))


def _marker(auth):
    # Basic credentials built from a bound secret: keep the placeholder in
    # clear so gateway_tool.http recognises and drops the header.
    names = _environ.secrets_in(str(auth.username)) + _environ.secrets_in(str(auth.password))
    return "Basic " + " ".join(_environ.placeholder(n) for n in names)


def _form(data, headers):
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (collections.abc.Mapping, list, tuple)):
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        return urllib.parse.urlencode(_params(None, data)).encode("ascii")
    raise TypeError(f"data= takes bytes, str, a dict or pairs, not {type(data).__name__}")


def _with_query(url, pairs):
    if not pairs:
        return url
    base, hash_, fragment = url.partition("#")
    if base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&" if "?" in base else "?"
    return base + separator + urllib.parse.urlencode(pairs) + hash_ + fragment


def _translate(err, request):
    """gateway_tool.http failures as requests' exceptions; denials stay HttpError."""
    if err.kind == "denied":
        return err
    text = str(err)
    if err.kind == "timeout":
        return ReadTimeout(text, request=request)
    if err.kind == "too-large":
        return ContentTooLarge(text, request=request)
    return ConnectionError(text, request=request)


def request(method, url, **kwargs):
    """One request with a fresh :class:`Session`, as ``requests.request``."""
    with Session() as session:
        return session.request(method, url, **kwargs)


def get(url, params=None, **kwargs):
    return request("GET", url, params=params, **kwargs)


def head(url, **kwargs):
    kwargs.setdefault("allow_redirects", False)
    return request("HEAD", url, **kwargs)


def options(url, **kwargs):
    return request("OPTIONS", url, **kwargs)


def post(url, data=None, json=None, **kwargs):
    return request("POST", url, data=data, json=json, **kwargs)


def put(url, data=None, **kwargs):
    return request("PUT", url, data=data, **kwargs)


def patch(url, data=None, **kwargs):
    return request("PATCH", url, data=data, **kwargs)


def delete(url, **kwargs):
    return request("DELETE", url, **kwargs)


def session():
    """A new :class:`Session` (the old ``requests.session()`` spelling)."""
    return Session()


class _Codes:
    """``requests.codes``: the common names."""

    ok = okay = 200
    created = 201
    accepted = 202
    no_content = 204
    moved_permanently = 301
    found = 302
    not_modified = 304
    bad_request = 400
    unauthorized = 401
    forbidden = 403
    not_found = 404
    conflict = 409
    unprocessable_entity = 422
    too_many_requests = 429
    internal_server_error = server_error = 500
    bad_gateway = 502
    service_unavailable = 503
    gateway_timeout = 504


codes = _Codes()

"""Outbound HTTP through the gateway.

Requests reach only the upstreams the tool's ``tool.toml`` lists, with GET and
HEAD unless an admin approved more. The gateway adds secret headers itself
(the tool never sees them), returns redirects instead of following them and
reads the whole response before handing it over::

    from gateway_tool import http

    resp = http.get("https://api.example.com/items", params={"limit": 10})
    resp.raise_for_status()
    items = resp.json()
"""

import json
import logging
import urllib.parse

from . import _environ, _host, _upstreams
from .errors import UpstreamError

__all__ = ["HttpError", "Response", "get", "request"]

# How much of an error response's body goes into HttpError's message.
_STATUS_BODY_CHARS = 200

# WIT `denied-reason` -> what it means for the tool author.
_DENIED = {
    "invalid-url": "the URL did not parse or has no host",
    "scheme": "the scheme is not allowed for this host",
    "host": "the host is not in the tool's allow-list (tool.toml [[http]])",
    "port": "the port is not allowed for this host",
    "path": "the path is outside the allowed prefix",
    "method": "the method is not granted to this tool",
    "body-not-allowed": "GET and HEAD requests may not carry a body",
    "forbidden-header": "the request sets a header the gateway forbids or injects itself",
    "private-address": "the host resolves only to private or loopback addresses",
    "request-budget": "the tool used up its requests for this call (tool.toml [limits] requests)",
    "not-confirmed": "the caller did not confirm this write (declined, no answer, or cannot be asked)",
}


class HttpError(Exception):
    """A request that gave no usable response.

    Attributes:
        kind: ``"denied"`` (the gateway's policy refused it; nothing was
            sent), ``"dns"``, ``"connect"``, ``"timeout"``, ``"too-large"``
            (over the tool's upstream byte limit), ``"protocol"``, or
            ``"status"`` (from :meth:`Response.raise_for_status`).
        reason: For ``denied``, which check refused it, e.g. ``"host"``,
            ``"method"``, ``"request-budget"``; otherwise None.
        status: For ``status``, the HTTP status code; otherwise None.
        method: The request's method.
        url: The request's URL.
        detail: Extra text from the gateway or the upstream, or None.
    """

    def __init__(self, kind, method, url, reason=None, status=None, detail=None):
        super().__init__(kind, method, url, reason, status, detail)
        self.kind = kind
        self.method = method
        self.url = url
        self.reason = reason
        self.status = status
        self.detail = detail

    def __str__(self):
        what = f"{self.method} {self.url}"
        if self.kind == "denied":
            why = _DENIED.get(self.reason, self.reason)
            return f"{what} was denied by the gateway ({self.reason}): {why}"
        if self.kind == "status":
            text = f"{what} answered HTTP {self.status}"
            return f"{text}: {self.detail}" if self.detail else text
        if self.kind == "timeout":
            return f"{what} timed out"
        if self.kind == "too-large":
            return f"{what}: the response exceeded the tool's upstream byte limit"
        label = {"dns": "DNS lookup failed", "connect": "connection failed"}.get(
            self.kind, "HTTP protocol error"
        )
        return f"{what}: {label}: {self.detail}" if self.detail else f"{what}: {label}"


class Response:
    """A complete upstream response; any status counts as a response.

    Attributes:
        status: The HTTP status code.
        headers: Header values by lower-case name (repeated headers joined
            with ``", "``).
        content: The whole body as bytes.
        method: The request's method.
        url: The request's URL.
    """

    def __init__(self, status, headers, content, method="GET", url=""):
        self.status = status
        self.headers = _header_dict(headers)
        self.content = content
        self.method = method
        self.url = url

    def __repr__(self):
        return f"<Response {self.status} from {self.method} {self.url}>"

    @property
    def ok(self):
        """Whether the status is 2xx (redirects are not followed, so 3xx is not ok)."""
        return 200 <= self.status < 300

    @property
    def text(self):
        """The body decoded with the charset of Content-Type (default UTF-8)."""
        return self.content.decode(self._charset(), errors="replace")

    def json(self):
        """The body parsed as JSON; a body that is not JSON raises :class:`UpstreamError`."""
        try:
            return json.loads(self.content)
        except ValueError as err:
            raise UpstreamError(
                f"{self.method} {self.url} (HTTP {self.status}) did not answer JSON: {err}"
            ) from None

    def raise_for_status(self):
        """Raise :class:`HttpError` (kind ``status``) unless the status is 2xx."""
        if not self.ok:
            body = " ".join(self.text.split())[:_STATUS_BODY_CHARS]
            raise HttpError("status", self.method, self.url, status=self.status, detail=body)

    def _charset(self):
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"'")
                try:
                    "".encode(charset)
                except LookupError:
                    break
                return charset
        return "utf-8"


def get(url, params=None, headers=None):
    """Send a GET request; see :func:`request`."""
    return request("GET", url, params=params, headers=headers)


def request(method, url, params=None, headers=None, body=None):
    """Send a request and read the whole response.

    Args:
        method: HTTP method, e.g. ``"GET"``; anything beyond GET and HEAD
            needs an admin's approval in ``tool.toml``.
        url: Absolute URL.
        params: Query parameters (a dict, or a list of pairs; list values
            repeat the key), URL-encoded and appended to ``url``.
        headers: Header names to values.
        body: ``bytes``, ``str`` (sent as UTF-8), or a dict/list sent as JSON
            with ``Content-Type: application/json`` unless ``headers`` sets one.

    Returns:
        The :class:`Response`, whatever its status.

    Raises:
        HttpError: The request was denied or got no response.
    """
    method = method.upper()
    url = _with_params(_upstreams.rebase(url), params)
    pairs = [(str(name), str(value)) for name, value in (headers or {}).items()]
    payload = _encode_body(body, pairs)
    pairs = _without_secret_placeholders(method, url, pairs, payload)
    try:
        status, got_headers, content = _host.send(method, url, pairs, payload)
    except _host.SendFailure as failure:
        if failure.kind == "denied":
            raise HttpError("denied", method, url, reason=failure.detail) from None
        raise HttpError(failure.kind, method, url, detail=failure.detail) from None
    return Response(status, got_headers, content, method=method, url=url)


def _without_secret_placeholders(method, url, pairs, payload):
    """Drops headers built from a bound secret (the gateway injects the real
    one); refuses a secret anywhere the gateway cannot put it."""
    for where, text in (("URL", url), ("body", payload)):
        for name in _environ.secrets_in(text):
            raise _environ.SecretMisuse(
                f"{method} {url}: the {where} uses {name}, which the gateway only sends "
                f"as the header tool.toml names ({', '.join(_environ.injected_headers(name))}); "
                "the tool never sees its value"
            )
    kept = []
    for name, value in pairs:
        used = _environ.secrets_in(value) + _environ.secrets_in(name)
        if not used:
            kept.append((name, value))
            continue
        for var in used:
            if name.lower() not in _environ.injected_headers(var):
                logging.getLogger("gateway_tool.http").warning(
                    "%s %s: dropped header %s built from %s; the gateway sends %s as %s (tool.toml)",
                    method, url, name, var, var, ", ".join(_environ.injected_headers(var)))
    return kept


def _with_params(url, params):
    if not params:
        return url
    query = urllib.parse.urlencode(params, doseq=True)
    if url.endswith(("?", "&")):
        return url + query
    return f"{url}&{query}" if "?" in url else f"{url}?{query}"


def _encode_body(body, pairs):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (dict, list)):
        if not any(name.lower() == "content-type" for name, _ in pairs):
            pairs.append(("content-type", "application/json"))
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raise TypeError(f"body must be bytes, str, dict or list, not {type(body).__name__}")


def _header_dict(pairs):
    headers = {}
    for name, value in pairs:
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers

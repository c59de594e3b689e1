"""Environment variables inside the sandbox: secrets by name, never by value.

An operator's script reads its API key from ``os.environ`` and puts it in a
header. Inside the sandbox the environment is empty and the gateway adds the
secret headers ``tool.toml`` names itself, after its policy checks, so the
tool never holds a key. The build therefore installs an ``os.environ`` in
which each variable the manifest binds (``[http.secret_headers]``) reads as a
placeholder, ``<gateway-secret:NAME>``. :mod:`gateway_tool.http` (and the
``requests`` shim over it) drops a header whose value holds a placeholder, so
the gateway's injected header is the one the upstream gets; a placeholder
anywhere else (URL, body) is refused with an error naming the variable. A
variable the manifest does not bind raises a ``KeyError`` that says how to
bind it. See docs/python-tools.md, "Plain scripts with requests".
"""

import collections.abc
import logging
import os
import re
import urllib.parse

__all__ = ["install", "placeholder", "secrets_in", "SecretMisuse"]

_PLACEHOLDER = "<gateway-secret:{}>"
# Names that look like credentials (a warning when read unbound with .get()).
_SECRETISH = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|AUTH", re.IGNORECASE)
_FOUND = re.compile(r"<gateway-secret:([A-Za-z_][A-Za-z0-9_]*)>")

# Variable -> lower-case header names tool.toml injects it into (install()).
_bindings = {}
# Whether install() ran (the build's entry module calls it).
_installed = False


class SecretMisuse(ValueError):
    """A bound secret's placeholder used where the gateway cannot inject it."""


def placeholder(name):
    """The text ``os.environ[name]`` reads as for a variable the manifest binds."""
    return _PLACEHOLDER.format(name)


def secrets_in(text):
    """Names of the bound variables whose placeholders appear in ``text``."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return []
    # A URL carries it percent-encoded (params=...).
    found = _FOUND.findall(text) + _FOUND.findall(urllib.parse.unquote_plus(text))
    return [name for name in dict.fromkeys(found) if name in _bindings]


def injected_headers(name):
    """Lower-case header names the gateway fills from variable ``name``."""
    return _bindings.get(name, ())


class _SandboxEnviron(collections.abc.MutableMapping):
    """``os.environ`` inside the sandbox: the real (empty) environment, and
    placeholders for the bound secrets that no ``clear()`` removes (the
    runtime refreshes the environment's contents when a call starts)."""

    def __init__(self, real, bound):
        self._data = dict(real)
        self._bound = bound

    def __getitem__(self, key):
        if key in self._data:
            return self._data[key]
        if key in self._bound:
            return placeholder(key)
        raise KeyError(_unbound_message(key))

    def get(self, key, default=None):
        if key in self:
            return self[key]
        if default is None and _SECRETISH.search(str(key)):
            # os.environ.get("API_TOKEN") -> None usually ends as "Bearer None"
            # or a TypeError; say why in the gateway's logs.
            logging.getLogger("gateway_tool").warning("%s", _unbound_message(key))
        return default

    def __setitem__(self, key, value):
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("environment keys and values are str")
        self._data[key] = value

    def __delitem__(self, key):
        # A bound secret's placeholder stays: componentize-py deletes every
        # variable when a call starts, then sets the runtime's.
        if key in self._data:
            del self._data[key]
        elif key not in self._bound:
            raise KeyError(key)

    def clear(self):
        self._data.clear()

    def popitem(self):
        if not self._data:
            raise KeyError("popitem(): no variables the sandbox can remove")
        return self._data.popitem()

    def __iter__(self):
        return iter(list(self._data) + [n for n in self._bound if n not in self._data])

    def __len__(self):
        return len(set(self._data) | set(self._bound))

    def copy(self):
        return dict(self.items())

    def __repr__(self):
        return f"environ({dict(self.items())!r})"


def _unbound_message(key):
    return (
        f"{key} is not set: the tool sandbox has no environment. If it is an API key, "
        f"bind it in tool.toml under [http.secret_headers] (e.g. Authorization = "
        f"\"Bearer ${{{key}}}\") and the gateway sends that header itself; if it is a "
        f"setting, put it in tool.toml [config] and read it with gateway_tool.config"
    )


def install(bindings):
    """Replace ``os.environ`` (and what ``os.getenv`` reads) for the sandbox.

    Args:
        bindings: Variable name -> header names ``tool.toml`` fills from it.
    """
    global _installed
    _bindings.clear()
    for name, headers in bindings.items():
        _bindings[name] = tuple(h.lower() for h in headers)
    _installed = True
    ensure()


def ensure():
    """Re-apply the sandbox's ``os.environ`` if the runtime replaced it.

    componentize-py refreshes ``os.environ`` from the (empty) WASI
    environment when a call starts, after the build-time snapshot; each call
    runs this first (see ``_export``).
    """
    if _installed and not isinstance(os.environ, _SandboxEnviron):
        os.environ = _SandboxEnviron(os.environ, _bindings)

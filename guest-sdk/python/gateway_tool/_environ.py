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
import os
import re
import urllib.parse

__all__ = ["install", "placeholder", "secrets_in", "SecretMisuse"]

_PLACEHOLDER = "<gateway-secret:{}>"
_FOUND = re.compile(r"<gateway-secret:([A-Za-z_][A-Za-z0-9_]*)>")

# Variable -> lower-case header names tool.toml injects it into (install()).
_bindings = {}


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
    """``os.environ`` inside the sandbox: the real (empty) environment plus placeholders."""

    def __init__(self, real, bound):
        self._data = dict(real)
        for name in bound:
            self._data.setdefault(name, placeholder(name))

    def __getitem__(self, key):
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(_unbound_message(key)) from None

    def __setitem__(self, key, value):
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError("environment keys and values are str")
        self._data[key] = value

    def __delitem__(self, key):
        del self._data[key]

    def __iter__(self):
        return iter(list(self._data))

    def __len__(self):
        return len(self._data)

    def copy(self):
        return dict(self._data)

    def __repr__(self):
        return f"environ({self._data!r})"


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
    _bindings.clear()
    for name, headers in bindings.items():
        _bindings[name] = tuple(h.lower() for h in headers)
    os.environ = _SandboxEnviron(os.environ, _bindings)

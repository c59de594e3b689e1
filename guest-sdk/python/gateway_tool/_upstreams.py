"""Literal upstream URLs follow the deployment's config.

An operator's script names its API by a literal URL (``"https://api.stripe.com/v1/charges"``).
``gateway tool import`` puts that base in ``tool.toml`` as a ``[config]`` key
(``stripe_base = "https://api.stripe.com"``) and allows ``${config.stripe_base}``
in ``[[http]]``. The build passes every ``[config]`` default that is an
http(s) URL to :func:`install`; when the gateway's config overrides such a
key (a staging API, or the fixture server in ``gateway tool test``), a
request whose URL starts with the default is sent to the override instead.
The outbound policy then checks the rewritten URL as usual: the manifest's
rules are built from the same config, so nothing the admin did not allow
becomes reachable. See docs/python-tools.md, "Plain scripts with requests".
"""

from . import _host

# Config key -> its tool.toml default (an http(s) URL without a trailing "/").
_bases = {}


def install(bases):
    """Record the URL-valued ``[config]`` defaults (key -> URL)."""
    _bases.clear()
    for key, url in bases.items():
        _bases[key] = url.rstrip("/")


def rebase(url):
    """``url`` with a default base replaced by the deployment's value for its key."""
    for key, default in _bases.items():
        rest = url[len(default):]
        if url.startswith(default) and (not rest or rest[0] in "/?#"):
            live = _host.config_get(key)
            if live and live.rstrip("/") != default:
                return live.rstrip("/") + rest
            return url
    return url

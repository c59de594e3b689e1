"""``requests`` inside a gateway tool: the SDK's compatible surface over the
gateway's outbound door (gateway_tool._requests; docs/python-tools.md).

An operator's script that does ``import requests`` runs in the sandbox with
this package in place of the real library, which needs sockets the sandbox
does not have.
"""

from gateway_tool._requests import (  # noqa: F401
    CaseInsensitiveDict,
    ConnectionError,
    ConnectTimeout,
    ContentTooLarge,
    HTTPError,
    InvalidURL,
    JSONDecodeError,
    PreparedRequest,
    ReadTimeout,
    RequestException,
    Response,
    Session,
    Timeout,
    TooManyRedirects,
    codes,
    delete,
    get,
    head,
    options,
    patch,
    post,
    put,
    request,
    session,
)

from . import auth, exceptions, structures  # noqa: F401,E402

__version__ = "2.32.3"  # the requests API this shim follows

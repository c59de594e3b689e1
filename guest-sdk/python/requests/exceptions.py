"""``requests.exceptions`` (see gateway_tool._requests)."""

from gateway_tool._requests import (  # noqa: F401
    ConnectionError,
    ConnectTimeout,
    ContentTooLarge,
    HTTPError,
    InvalidURL,
    JSONDecodeError,
    ReadTimeout,
    RequestException,
    Timeout,
    TooManyRedirects,
)

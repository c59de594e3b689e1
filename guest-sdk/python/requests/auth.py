"""``requests.auth`` (see gateway_tool._requests)."""

from gateway_tool._requests import HTTPBasicAuth  # noqa: F401

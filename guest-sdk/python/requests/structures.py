"""``requests.structures`` (see gateway_tool._requests)."""

from gateway_tool._requests import CaseInsensitiveDict  # noqa: F401

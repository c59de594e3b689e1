"""The requests shim and the sandbox's os.environ, over a fake wit_world."""

import json
import logging
import os
import unittest

import support  # noqa: F401  (puts the SDK first on sys.path)
import requests
from gateway_tool import _environ, _export, _tool, _upstreams, tool
from gateway_tool.http import HttpError


class SandboxEnviron(unittest.TestCase):
    def setUp(self):
        self.gw = support.use_fake_gateway(self)
        saved = os.environ
        self.addCleanup(setattr, os, "environ", saved)
        self.addCleanup(_environ._bindings.clear)
        self.addCleanup(setattr, _environ, "_installed", False)
        os.environ = {}  # the sandbox's environment is empty
        _environ.install({"STRIPE_API_KEY": ["Authorization"]})

    def test_a_bound_secret_reads_as_a_placeholder_and_its_header_is_dropped(self):
        key = os.environ["STRIPE_API_KEY"]
        self.assertEqual(key, "<gateway-secret:STRIPE_API_KEY>")
        self.assertEqual(os.getenv("STRIPE_API_KEY"), key)
        requests.get("https://api.stripe.com/v1/charges",
                      headers={"Authorization": f"Bearer {key}", "Accept": "application/json"})
        self.assertEqual(self.gw.sent[-1].headers, [("Accept", "application/json"),
                                                    ("User-Agent", "gateway-tool-requests")])

    def test_basic_auth_from_a_secret_is_dropped_too(self):
        requests.get("https://api.stripe.com/v1/charges", auth=(os.environ["STRIPE_API_KEY"], ""))
        names = [name.lower() for name, _ in self.gw.sent[-1].headers]
        self.assertNotIn("authorization", names)

    def test_a_header_with_another_name_is_dropped_with_a_warning(self):
        with self.assertLogs("gateway_tool.http", level=logging.WARNING) as logs:
            requests.get("https://h/x", headers={"X-Api-Key": os.environ["STRIPE_API_KEY"]})
        self.assertEqual(len(logs.records), 1)
        self.assertNotIn("x-api-key", [n.lower() for n, _ in self.gw.sent[-1].headers])

    def test_a_secret_in_the_url_or_body_is_refused_before_sending(self):
        with self.assertRaises(_environ.SecretMisuse):
            requests.get("https://h/x", params={"key": os.environ["STRIPE_API_KEY"]})
        with self.assertRaises(_environ.SecretMisuse):
            requests.post("https://h/x", json={"key": os.environ["STRIPE_API_KEY"]})
        self.assertEqual(self.gw.sent, [])

    def test_a_runtime_that_resets_os_environ_gets_it_back_at_the_next_call(self):
        for name in list(os.environ):  # what componentize-py does when a call starts
            del os.environ[name]
        os.environ.clear()
        os.environ.update({"TZ": "UTC"})
        _environ.ensure()
        self.assertEqual(os.environ["TZ"], "UTC")
        self.assertEqual(os.environ.get("STRIPE_API_KEY"), "<gateway-secret:STRIPE_API_KEY>")

    def test_an_unbound_variable_is_a_key_error_saying_how_to_bind_it(self):
        with self.assertRaises(KeyError) as caught:
            os.environ["HUBSPOT_TOKEN"]
        self.assertIn("[http.secret_headers]", caught.exception.args[0])
        with self.assertLogs("gateway_tool", level=logging.WARNING):
            self.assertIsNone(os.environ.get("HUBSPOT_TOKEN"))
        self.assertEqual(os.getenv("HUBSPOT_TOKEN", "d"), "d")
        self.assertNotIn("HUBSPOT_TOKEN", os.environ)


class Shim(unittest.TestCase):
    def setUp(self):
        self.gw = support.use_fake_gateway(self)

    def test_get_with_params_headers_and_a_json_response(self):
        self.gw.responses.append((200, [("Content-Type", "application/json")], b'{"a": [1]}'))
        resp = requests.get("https://h/x?z=1", params={"limit": 2, "skip": None, "t": ["a", "b"]},
                            headers={"Accept": "application/json"}, timeout=10)
        sent = self.gw.sent[-1]
        self.assertEqual((sent.method, sent.url), ("GET", "https://h/x?z=1&limit=2&t=a&t=b"))
        self.assertEqual((resp.status_code, resp.ok, resp.reason), (200, True, "OK"))
        self.assertEqual(resp.headers["content-type"], resp.headers["CONTENT-TYPE"])
        self.assertEqual(resp.json(), {"a": [1]})
        self.assertEqual(resp.text, '{"a": [1]}')
        self.assertEqual(resp.url, "https://h/x?z=1&limit=2&t=a&t=b")

    def test_a_session_merges_headers_and_params_and_closes(self):
        with requests.Session() as s:
            s.headers.update({"Accept": "application/json", "X-A": "1"})
            s.params = {"per_page": 100}
            s.get("https://h/x", params={"page": 2}, headers={"x-a": "2"})
        sent = self.gw.sent[-1]
        self.assertEqual(sent.url, "https://h/x?per_page=100&page=2")
        self.assertIn(("x-a", "2"), sent.headers)
        self.assertNotIn(("X-A", "1"), sent.headers)

    def test_json_and_form_bodies(self):
        requests.post("https://h/x", json={"filters": [{"v": "é"}]})
        sent = self.gw.sent[-1]
        self.assertEqual((sent.method, sent.body), ("POST", '{"filters":[{"v":"é"}]}'.encode()))
        self.assertIn(("Content-Type", "application/json"), sent.headers)
        requests.post("https://h/x", data={"a": "1 2"})
        self.assertEqual(self.gw.sent[-1].body, b"a=1+2")

    def test_raise_for_status_raises_http_error_with_the_response(self):
        self.gw.responses.append((404, [], b"{}"))
        resp = requests.get("https://h/missing")
        self.assertFalse(resp.ok)
        with self.assertRaises(requests.HTTPError) as caught:
            resp.raise_for_status()
        self.assertIs(caught.exception.response, resp)
        self.assertIsInstance(caught.exception, requests.RequestException)

    def test_transport_failures_are_requests_exceptions_and_denials_are_not(self):
        self.gw.responses.append(self.gw.http.HttpError_Timeout())
        with self.assertRaises(requests.Timeout):
            requests.get("https://h/x")
        self.gw.responses.append(self.gw.http.HttpError_Connect("refused"))
        with self.assertRaises(requests.exceptions.ConnectionError):
            requests.get("https://h/x")
        self.gw.responses.append(self.gw.http.HttpError_Denied(self.gw.http.DeniedReason.METHOD))
        with self.assertRaises(HttpError) as caught:
            try:
                requests.delete("https://h/x")
            except requests.RequestException:
                self.fail("a denial must not be a RequestException")
        self.assertEqual((caught.exception.kind, caught.exception.reason), ("denied", "method"))

    def test_redirects_are_followed_through_the_gateway(self):
        self.gw.responses.append((302, [("Location", "/next")], b""))
        self.gw.responses.append((200, [], b"{}"))
        resp = requests.get("https://h/x")
        self.assertEqual([r.url for r in self.gw.sent], ["https://h/x", "https://h/next"])
        self.assertEqual((resp.status_code, len(resp.history)), (200, 1))
        self.gw.responses.append((302, [("Location", "/next")], b""))
        resp = requests.get("https://h/x", allow_redirects=False)
        self.assertEqual(resp.status_code, 302)

    def test_a_non_json_body_raises_a_value_error(self):
        self.gw.responses.append((200, [], b"<html>"))
        with self.assertRaises(ValueError):
            requests.get("https://h/x").json()


class Rebase(unittest.TestCase):
    def setUp(self):
        self.gw = support.use_fake_gateway(self, config={"stripe_base": "http://127.0.0.1:9/"})
        _upstreams.install({"stripe_base": "https://api.stripe.com", "other": "https://b.example"})
        self.addCleanup(_upstreams.install, {})

    def test_a_literal_base_follows_the_config_override(self):
        requests.get("https://api.stripe.com/v1/charges", params={"limit": 1})
        self.assertEqual(self.gw.sent[-1].url, "http://127.0.0.1:9/v1/charges?limit=1")

    def test_only_on_a_boundary_and_only_when_overridden(self):
        requests.get("https://api.stripe.com.evil.example/x")
        self.assertEqual(self.gw.sent[-1].url, "https://api.stripe.com.evil.example/x")
        requests.get("https://b.example/y")  # "other" is not overridden
        self.assertEqual(self.gw.sent[-1].url, "https://b.example/y")


class Export(unittest.TestCase):
    def setUp(self):
        self.gw = support.use_fake_gateway(self)
        support.fresh_registry(self)

    def test_an_uncaught_http_error_is_an_upstream_tool_error(self):
        @tool
        def t(x: str) -> dict:
            """Doc."""
            requests.get("https://h/x").raise_for_status()
            return {}

        self.gw.responses.append((500, [], b"{}"))
        entry = _export.export_registered()()
        with self.assertRaises(support.Err) as caught:
            entry.call(json.dumps({"x": "a"}))
        self.assertIsInstance(caught.exception.value, self.gw.types.ToolError_Upstream)
        self.assertIsNotNone(_tool.registered())


if __name__ == "__main__":
    unittest.main()

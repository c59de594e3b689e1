"""gateway_tool.http over a fake wit_world: request building, responses, errors."""

import unittest

import support
from gateway_tool import UpstreamError, _host, http
from gateway_tool.http import HttpError


class Requests(unittest.TestCase):
    def setUp(self):
        self.gw = support.use_fake_gateway(self)

    def sent(self):
        r = self.gw.sent[-1]
        return r.method, r.url, r.headers, r.body

    def test_get_with_params_and_headers(self):
        http.get("https://api.example.com/items", params={"limit": 10, "tag": ["a b", "c"]},
                 headers={"Accept": "application/json"})
        self.assertEqual(self.sent(), (
            "GET", "https://api.example.com/items?limit=10&tag=a+b&tag=c",
            [("Accept", "application/json")], None,
        ))

    def test_params_append_to_an_existing_query(self):
        for url, expected in [
            ("https://h/x?a=1", "https://h/x?a=1&b=2"),
            ("https://h/x?", "https://h/x?b=2"),
            ("https://h/x?a=1&", "https://h/x?a=1&b=2"),
        ]:
            http.get(url, params={"b": 2})
            self.assertEqual(self.gw.sent[-1].url, expected)
        http.get("https://h/x", params=[("k", "1"), ("k", "2")])
        self.assertEqual(self.gw.sent[-1].url, "https://h/x?k=1&k=2")
        http.get("https://h/x", params={})
        self.assertEqual(self.gw.sent[-1].url, "https://h/x")

    def test_bodies(self):
        http.request("post", "https://h/x", body={"a": [1, "é"]})
        self.assertEqual(self.sent(), (
            "POST", "https://h/x", [("content-type", "application/json")], '{"a":[1,"é"]}'.encode()))
        http.request("PUT", "https://h/x", body=[1], headers={"Content-Type": "application/vnd+json"})
        self.assertEqual(self.sent()[2:], ([("Content-Type", "application/vnd+json")], b"[1]"))
        http.request("POST", "https://h/x", body="héllo")
        self.assertEqual(self.sent()[2:], ([], "héllo".encode()))
        http.request("POST", "https://h/x", body=b"\x00\x01")
        self.assertEqual(self.sent()[3], b"\x00\x01")
        with self.assertRaises(TypeError):
            http.request("POST", "https://h/x", body=3)


class Responses(unittest.TestCase):
    def setUp(self):
        self.gw = support.use_fake_gateway(self)

    def respond(self, status=200, headers=(), body=b""):
        self.gw.responses.append((status, list(headers), body))
        return http.get("https://h/x")

    def test_fields(self):
        resp = self.respond(200, [("Content-Type", "application/json"), ("X-A", "1"), ("x-a", "2")], b'{"n": 1}')
        self.assertEqual((resp.status, resp.ok, resp.content), (200, True, b'{"n": 1}'))
        self.assertEqual(resp.headers, {"content-type": "application/json", "x-a": "1, 2"})
        self.assertEqual(resp.json(), {"n": 1})
        self.assertEqual(resp.text, '{"n": 1}')
        resp.raise_for_status()

    def test_text_uses_the_charset(self):
        resp = self.respond(200, [("content-type", "text/plain; charset=ISO-8859-1")], "café".encode("latin-1"))
        self.assertEqual(resp.text, "café")
        resp = self.respond(200, [("content-type", "text/plain; charset=nope")], "café".encode())
        self.assertEqual(resp.text, "café")

    def test_json_that_is_not_json_is_an_upstream_error(self):
        with self.assertRaises(UpstreamError):
            self.respond(200, [], b"<html>").json()

    def test_non_2xx(self):
        for status in (301, 404, 500):
            resp = self.respond(status, [], b"  not\n found ")
            self.assertFalse(resp.ok)
            with self.assertRaises(HttpError) as caught:
                resp.raise_for_status()
            err = caught.exception
            self.assertEqual((err.kind, err.status, err.reason, err.detail), ("status", status, None, "not found"))
            self.assertEqual((err.method, err.url), ("GET", "https://h/x"))


class Errors(unittest.TestCase):
    def setUp(self):
        self.gw = support.use_fake_gateway(self)

    def fail_with(self, case):
        self.gw.responses.append(case)
        with self.assertRaises(HttpError) as caught:
            http.get("https://h/x")
        return caught.exception

    def test_each_wit_error(self):
        h = self.gw.http
        cases = [
            (h.HttpError_Denied(h.DeniedReason.HOST), "denied", "host", None),
            (h.HttpError_Denied(h.DeniedReason.INVALID_URL), "denied", "invalid-url", None),
            (h.HttpError_Denied(h.DeniedReason.REQUEST_BUDGET), "denied", "request-budget", None),
            (h.HttpError_Dns("no such host"), "dns", None, "no such host"),
            (h.HttpError_Connect("refused"), "connect", None, "refused"),
            (h.HttpError_Timeout(), "timeout", None, None),
            (h.HttpError_TooLarge(), "too-large", None, None),
            (h.HttpError_Protocol("reset"), "protocol", None, "reset"),
        ]
        for case, kind, reason, detail in cases:
            with self.subTest(case=case):
                err = self.fail_with(case)
                self.assertEqual((err.kind, err.reason, err.status, err.detail), (kind, reason, None, detail))
                self.assertTrue(str(err).startswith("GET https://h/x"))

    def test_every_denied_reason_has_an_explanation(self):
        for reason in self.gw.http.DeniedReason:
            err = self.fail_with(self.gw.http.HttpError_Denied(reason))
            self.assertIn(err.reason, http._DENIED)


class OutsideACall(unittest.TestCase):
    def test_build_time_use_is_a_runtime_error(self):
        support.use_fake_gateway(self, live=False)
        with self.assertRaises(RuntimeError):
            http.get("https://h/x")

    def test_without_bindings(self):
        self.assertFalse(_host._live)
        with self.assertRaises(RuntimeError):
            http.get("https://h/x")


if __name__ == "__main__":
    unittest.main()

"""gateway_tool.config and the logging handler over a fake wit_world."""

import contextlib
import io
import logging
import unittest

import support
import gateway_tool
from gateway_tool import ToolError, _logging, config


class Config(unittest.TestCase):
    def setUp(self):
        support.use_fake_gateway(self, config={"api_base": "https://api.example.com", "empty": ""})

    def test_get(self):
        self.assertEqual(config.get("api_base"), "https://api.example.com")
        self.assertIsNone(config.get("missing"))
        self.assertEqual(config.get("missing", "fallback"), "fallback")
        self.assertEqual(config.get("empty", "fallback"), "")

    def test_require(self):
        self.assertEqual(config.require("api_base"), "https://api.example.com")
        for key in ("missing", "empty"):
            with self.subTest(key=key), self.assertRaises(ToolError) as caught:
                config.require(key)
            self.assertIs(type(caught.exception), ToolError)
            self.assertEqual(caught.exception.kind, "internal")


class Logging(unittest.TestCase):
    def test_root_handler_installed_once_at_info(self):
        root = logging.getLogger()
        handlers = [h for h in root.handlers if isinstance(h, _logging.GatewayHandler)]
        self.assertEqual(len(handlers), 1)
        _logging.install()
        self.assertEqual(len([h for h in root.handlers if isinstance(h, _logging.GatewayHandler)]), 1)
        self.assertEqual(root.level, logging.INFO)

    def test_levels(self):
        for levelno, name in [(5, "trace"), (logging.DEBUG, "debug"), (logging.INFO, "info"),
                              (logging.WARNING, "warn"), (logging.ERROR, "error"), (logging.CRITICAL, "error")]:
            self.assertEqual(_logging.wit_level(levelno), name)

    def test_records_reach_the_gateway(self):
        gw = support.use_fake_gateway(self)
        log = logging.getLogger("tool.test")
        log.info("fetched %s", "acme/widget")
        log.debug("below the default level")
        log.warning("careful")
        self.assertEqual(gw.logs, [("info", "tool.test: fetched acme/widget"), ("warn", "tool.test: careful")])

    def test_build_time_logs_go_to_stderr(self):
        gw = support.use_fake_gateway(self, live=False)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            logging.getLogger("tool.test").error("at import")
        self.assertEqual((gw.logs, err.getvalue()), ([], "ERROR tool.test: at import\n"))


class Progress(unittest.TestCase):
    def test_reports_reach_the_gateway_as_floats(self):
        gw = support.use_fake_gateway(self)
        gateway_tool.progress(1, total=4, message="page 1 of 4")
        gateway_tool.progress(2)
        self.assertEqual(gw.progress, [(1.0, 4.0, "page 1 of 4"), (2.0, None, None)])

    def test_nothing_is_sent_while_the_tool_is_built(self):
        gw = support.use_fake_gateway(self, live=False)
        gateway_tool.progress(1, total=4)
        self.assertEqual(gw.progress, [])


if __name__ == "__main__":
    unittest.main()

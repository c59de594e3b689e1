"""The workspace's configuration files parse, and every skill is well formed.

- `.claude/settings.json` and `.mcp.json` are JSON of the shapes Claude Code
  reads; the hook commands point at scripts that exist.
- every `.claude/skills/*/SKILL.md` starts with YAML frontmatter holding a
  `name` and a `description`; a skill that is a tool folder (it has a
  `tool.toml`) also has the two sections the QA review requires.
"""

from __future__ import annotations

import json
import re
import unittest
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[3]
SKILLS = WORKSPACE / ".claude" / "skills"
SKILL_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
WORKFLOW_SKILLS = {"workspace-onboarding", "integration-onboarding", "process-capture", "skill-creator"}


def frontmatter(text: str) -> dict[str, str]:
    """The `key: value` entries between the opening and closing `---` lines.

    The YAML Claude Code's skill headers use: plain or quoted one-line
    strings, and folded (`>`) or literal (`|`) blocks of indented lines.
    """
    lines = text.splitlines()
    if not lines or lines[0] != "---":
        raise ValueError("does not start with a '---' line")
    try:
        end = lines.index("---", 1)
    except ValueError:
        raise ValueError("frontmatter is not closed by a '---' line") from None
    fields: dict[str, str] = {}
    block: str | None = None
    for number, line in enumerate(lines[1:end], start=2):
        if block is not None and (line.startswith((" ", "\t")) or not line.strip()):
            fields[block] = (fields[block] + " " + line.strip()).strip()
            continue
        block = None
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_-]*", key):
            raise ValueError(f"line {number}: not a 'key: value' line")
        if key in fields:
            raise ValueError(f"line {number}: {key} given twice")
        value = value.strip()
        if value in {">", "|", ">-", "|-"}:
            block, fields[key] = key, ""
            continue
        if value[:1] in {"'", '"'} and value[-1:] == value[:1] and len(value) > 1:
            value = value[1:-1]
        elif value[:1] in {"[", "{", "|", ">", "&", "*", "!", "'", '"'}:
            raise ValueError(f"line {number}: {key} must be a one-line string or a > or | block")
        elif ": " in value or value.endswith(":") or " #" in value:
            raise ValueError(f"line {number}: {key} needs quotes (it holds ': ' or ' #')")
        fields[key] = value
    return fields


class SkillsTest(unittest.TestCase):
    def test_the_workflow_skills_exist(self):
        present = {p.name for p in SKILLS.iterdir() if (p / "SKILL.md").is_file()}
        self.assertLessEqual(WORKFLOW_SKILLS, present)

    def test_every_skill_has_valid_frontmatter(self):
        for skill in sorted(p for p in SKILLS.iterdir() if p.is_dir()):
            with self.subTest(skill=skill.name):
                text = (skill / "SKILL.md").read_text(encoding="utf-8")
                meta = frontmatter(text)
                self.assertTrue(meta.get("description"), "description is empty")
                self.assertLessEqual(len(meta["description"]), 1024)
                name = meta.get("name", "")
                self.assertLessEqual(len(name), 64)
                if (skill / "tool.toml").is_file():
                    # A tool folder: the folder is the tool name (with '_'); the skill
                    # name is that name or, as /skill-creator writes it, its '-' form.
                    self.assertIn(name, {skill.name, skill.name.replace("_", "-")})
                    self.assertRegex(text, r"(?mi)^#+ *When to use")
                    self.assertRegex(text, r"(?mi)^#+ *Reading the output")
                else:
                    self.assertRegex(name, SKILL_NAME)
                    self.assertEqual(name, skill.name)

    def test_frontmatter_parser_reads_blocks_and_quotes(self):
        meta = frontmatter("---\nname: x-y\ndescription: >\n  Two lines: folded\n  into one.\n"
                           "argument-hint: \"[month]\"\n---\nbody\n")
        self.assertEqual(meta, {"name": "x-y", "description": "Two lines: folded into one.",
                                "argument-hint": "[month]"})

    def test_frontmatter_parser_refuses_broken_headers(self):
        for bad in ["no frontmatter\n", "---\nname: x\n", "---\nname x\n---\n",
                    "---\nname: a\nname: b\n---\n", "---\ndescription: a: b\n---\n"]:
            with self.subTest(text=bad), self.assertRaises(ValueError):
                frontmatter(bad)


class ConfigTest(unittest.TestCase):
    def test_settings(self):
        settings = json.loads((WORKSPACE / ".claude" / "settings.json").read_text())
        perms = settings["permissions"]
        self.assertTrue(all(isinstance(r, str) for r in perms["allow"] + perms["deny"]))
        self.assertIn("Read(./.env)", perms["deny"])
        post = settings["hooks"]["PostToolUse"]
        self.assertEqual([m["matcher"] for m in post], ["Write|Edit|MultiEdit"])
        stop = settings["hooks"]["Stop"]
        self.assertEqual(len(stop), 1)
        commands = [h["command"] for m in post + stop for h in m["hooks"]]
        for m in post + stop:
            for h in m["hooks"]:
                self.assertEqual(h["type"], "command")
                self.assertIsInstance(h["timeout"], int)
        scripts = [re.search(r'\$CLAUDE_PROJECT_DIR/([^"]+)"', c).group(1) for c in commands]
        self.assertEqual(scripts, [".claude/hooks/session-note-check.py", ".claude/hooks/commit-and-push.py"])
        for script in scripts:
            self.assertTrue((WORKSPACE / script).is_file(), script)

    def test_mcp_json(self):
        mcp = json.loads((WORKSPACE / ".mcp.json").read_text())
        servers = mcp["mcpServers"]
        gateway = servers["agent-gateway"]
        self.assertEqual(gateway["type"], "http")
        self.assertRegex(gateway["url"], r"^\$\{GATEWAY_MCP_URL(:-https?://[^}]+/mcp)?\}$")
        settings = json.loads((WORKSPACE / ".claude" / "settings.json").read_text())
        named = set(settings["enabledMcpjsonServers"]) | set(settings["disabledMcpjsonServers"])
        self.assertEqual(named, set(servers))
        self.assertNotIn("agent-gateway", settings["disabledMcpjsonServers"])
        # Credentials only as ${VAR} placeholders, never literal values.
        text = (WORKSPACE / ".mcp.json").read_text()
        for server in servers.values():
            for value in server.get("env", {}).values():
                self.assertRegex(value, r"^\$\{[A-Z][A-Z0-9_]*(:-[^}]*)?\}$")
        self.assertNotRegex(text, r"(sk|rk)_(live|test)_[A-Za-z0-9]")

    def test_env_example_lines_are_explained(self):
        lines = (WORKSPACE / ".env.example").read_text().splitlines()
        for i, line in enumerate(lines):
            if line and not line.startswith("#"):
                with self.subTest(line=line):
                    self.assertRegex(line, r"^[A-Z][A-Z0-9_]*=")
                    self.assertTrue(lines[i - 1].startswith("#"), "each variable has a comment above it")
                    value = line.partition("=")[2]
                    self.assertTrue(value == "" or value.startswith("http"), "no credential values")

    def test_env_is_ignored(self):
        ignored = (WORKSPACE / ".gitignore").read_text().splitlines()
        self.assertIn(".env", ignored)


if __name__ == "__main__":
    unittest.main()

"""copier.yml: this repository rendered as a new organisation's repository.

Renders the working tree (`copier copy --vcs-ref HEAD` includes uncommitted
changes) into a temporary folder with a project name, gateway URL and GitHub
organisation, then checks the result the way its users would: the gateway
CLI lists its tools and lints its field files there, the rendered JSON and
workflows parse (actionlint too) and carry the answers, the workflow
templates have not drifted from this repository's own workflows, and a bad
answer is refused.

Run with the gitops venv's Python (it has copier and PyYAML), e.g.
  GATEWAY_BIN=.../gateway ~/.cache/agent-gateway/gitops-venv/bin/python3 -m unittest discover -s scripts/tests
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import tomllib
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV = Path.home() / ".cache" / "agent-gateway" / "gitops-venv"
COPIER = Path(os.environ.get("GATEWAY_COPIER", VENV / "bin" / "copier"))
ACTIONLINT = Path(os.environ.get("GATEWAY_ACTIONLINT", VENV / "bin" / "actionlint"))
GATEWAY = Path(os.environ.get(
    "GATEWAY_BIN",
    Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "agent-gateway" / "target")) / "debug" / "gateway",
))
ANSWERS = {
    "project_name": "Acme Gateway",
    "gateway_url": "https://gateway.acme.example/mcp",
    "github_org": "acme-corp",
}
GITOPS_WORKFLOWS = ["auto_pr.yml", "qa_review.yml", "auto_promote.yml"]
OWN_URL = "http://127.0.0.1:8000/mcp"


def copier(dest: Path, answers: dict) -> subprocess.CompletedProcess:
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    # copier commits uncommitted changes of the template in its own clone: give
    # that commit an identity on machines that have none configured (CI).
    env = dict(os.environ)
    for role in ("AUTHOR", "COMMITTER"):
        env.setdefault(f"GIT_{role}_NAME", "template test")
        env.setdefault(f"GIT_{role}_EMAIL", "template-test@example.invalid")
    return subprocess.run(
        [str(COPIER), "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD", *data, str(ROOT), str(dest)],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, env=env,
    )


@unittest.skipUnless((ROOT / "copier.yml").is_file(), "not the template repository (no copier.yml)")
class TemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not GATEWAY.is_file():
            raise AssertionError(f"no gateway binary at {GATEWAY}; set GATEWAY_BIN")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = Path(cls.tmp.name) / "acme"
        cls.render = copier(cls.out, ANSWERS)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.assertEqual(self.render.returncode, 0, self.render.stderr)

    def gateway(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(GATEWAY), *args], cwd=self.out, capture_output=True, text=True,
                              check=False, stdin=subprocess.DEVNULL)

    def test_gateway_lists_the_tools_with_the_rendered_config(self):
        out = self.gateway("--config", "gateway.toml", "tools", "list")
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = [line.split()[:2] for line in out.stdout.splitlines()]
        tools = {d.name for d in (self.out / "tools-wasm").iterdir() if (d / "tool.toml").is_file()}
        self.assertEqual({name for name, _ in rows}, tools)
        self.assertTrue(tools)
        self.assertNotIn("invalid", {status for _, status in rows})

    def test_field_files_lint(self):
        for folder in ["fields", "local-workspace/fields"]:
            with self.subTest(folder=folder):
                out = self.gateway("fields", "lint", folder)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_mcp_json_points_at_the_gateway(self):
        mcp = json.loads((self.out / "local-workspace" / ".mcp.json").read_text())
        server = mcp["mcpServers"]["agent-gateway"]
        self.assertEqual(server, {"type": "http", "url": "${GATEWAY_MCP_URL:-https://gateway.acme.example/mcp}",
                                  "headers": {"Authorization": "Bearer ${GATEWAY_KEY:-none}"}})

    def test_gateway_toml_names_the_project_and_host(self):
        config = tomllib.loads((self.out / "gateway.toml").read_text())
        self.assertEqual(config["server"]["name"], "acme-gateway")
        self.assertEqual(config["server"]["allowed_hosts"], ["gateway.acme.example"])

    def test_workflows_parse_lint_and_carry_the_answers(self):
        workflows = self.out / ".github" / "workflows"
        for name in GITOPS_WORKFLOWS:
            with self.subTest(workflow=name):
                doc = yaml.safe_load((workflows / name).read_text())
                self.assertEqual(doc["env"]["GATEWAY_MCP_URL"], ANSWERS["gateway_url"])
                for job in doc["jobs"].values():
                    self.assertRegex(job["if"], r"^github\.repository_owner == 'acme-corp'( && .+)?$")
        yaml.safe_load((workflows / "ci.yml").read_text())
        lint = subprocess.run([str(ACTIONLINT), *sorted(str(p) for p in workflows.glob("*.yml"))],
                              cwd=self.out, capture_output=True, text=True, check=False)
        self.assertEqual(lint.returncode, 0, lint.stdout)

    def test_workflow_templates_match_this_repositorys_workflows(self):
        # The .jinja twins differ from the plain files only in the URL and the owner guard.
        for name in GITOPS_WORKFLOWS:
            with self.subTest(workflow=name):
                rendered = (self.out / ".github" / "workflows" / name).read_text()
                rendered = rendered.replace(ANSWERS["gateway_url"], OWN_URL)
                rendered = re.sub(r"(?m)^    if: github\.repository_owner == 'acme-corp'\n", "", rendered)
                rendered = rendered.replace("github.repository_owner == 'acme-corp' && ", "")
                self.assertEqual(rendered, (ROOT / ".github" / "workflows" / name).read_text())

    def test_mcp_template_matches_the_workspaces_mcp_json(self):
        rel = "local-workspace/.mcp.json"
        rendered = (self.out / rel).read_text().replace(ANSWERS["gateway_url"], OWN_URL)
        self.assertEqual(rendered, (ROOT / rel).read_text())

    def test_readme_and_answers(self):
        readme = (self.out / "README.md").read_text()
        self.assertEqual(readme.splitlines()[0], "# Acme Gateway")
        self.assertIn("https://github.com/acme-corp/acme-gateway.git", readme)
        answers = yaml.safe_load((self.out / ".copier-answers.yml").read_text())
        self.assertEqual({k: answers[k] for k in ANSWERS}, ANSWERS)
        self.assertEqual(answers["project_slug"], "acme-gateway")

    def test_templates_and_this_projects_records_are_not_copied(self):
        left = [p.relative_to(self.out).as_posix() for p in self.out.rglob("*")
                if p.name.endswith(".jinja") or p.name in {"copier.yml", "BENCHMARKS.md"}]
        self.assertEqual(left, [])

    def test_workspace_files_are_copied_as_they_are(self):
        for rel in ["local-workspace/.claude/settings.json", "local-workspace/.env.example",
                    "local-workspace/.claude/hooks/commit-and-push.py",
                    "local-workspace/.claude/skills/skill-creator/SKILL.md"]:
            with self.subTest(file=rel):
                self.assertEqual((self.out / rel).read_bytes(), (ROOT / rel).read_bytes())


@unittest.skipUnless((ROOT / "copier.yml").is_file(), "not the template repository (no copier.yml)")
class AnswersTest(unittest.TestCase):
    def test_bad_answers_are_refused(self):
        for key, bad in [("gateway_url", "ftp://gateway.acme.example/mcp"), ("github_org", "acme corp"),
                         ("gateway_url", "https://gw.example/mcp\" oops")]:
            with self.subTest(key=key, value=bad), tempfile.TemporaryDirectory() as tmp:
                out = copier(Path(tmp) / "x", dict(ANSWERS, **{key: bad}))
                self.assertNotEqual(out.returncode, 0)
                self.assertFalse((Path(tmp) / "x" / "gateway.toml").exists())


if __name__ == "__main__":
    unittest.main()

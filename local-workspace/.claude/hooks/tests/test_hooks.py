"""The workspace hooks, run as Claude Code runs them, on real git repositories.

Each test makes a bare `origin` and an operator clone holding a copy of this
`local-workspace/` (hooks included), then runs the hook scripts with JSON on
stdin and checks exit statuses and what git holds afterwards.

Run: python3 -m unittest discover -s local-workspace/.claude/hooks/tests
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[3]
HOOKS = WORKSPACE / ".claude" / "hooks"


def run(cmd: list[str], cwd: Path, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False)


class Repo:
    """A bare origin and a clone with local-workspace/ committed on main."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root / "home"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LANG": "C.UTF-8",
        }
        (root / "home").mkdir()
        self.origin = root / "origin.git"
        self.clone = root / "clone"
        self.git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.origin))
        self.git(root, "init", "--quiet", "--initial-branch=main", str(self.clone))
        self.git(self.clone, "config", "user.name", "Test Operator")
        self.git(self.clone, "config", "user.email", "operator@example.invalid")
        self.git(self.clone, "remote", "add", "origin", str(self.origin))
        ws = self.clone / "local-workspace"
        # The workspace as shipped: hooks, settings, .gitignore; not the tests' caches, a
        # local .env, or the skills (the tests write their own).
        def ignore(folder: str, names: list[str]) -> set[str]:
            if Path(folder) == WORKSPACE / ".claude" / "skills":
                return set(names)
            return {n for n in names if n in {"__pycache__", ".env"}}

        shutil.copytree(WORKSPACE, ws, ignore=ignore)
        (self.clone / "README.md").write_text("repository root\n")
        self.git(self.clone, "add", "--all")
        self.git(self.clone, "commit", "--quiet", "-m", "initial")
        self.git(self.clone, "push", "--quiet", "origin", "main")
        self.ws = ws

    def git(self, cwd: Path, *args: str) -> str:
        out = run(["git", *args], cwd, self.env)
        if out.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
        return out.stdout.strip()

    def hook(self, name: str, event: dict, **env: str) -> subprocess.CompletedProcess:
        full_env = dict(self.env, **env)
        script = self.ws / ".claude" / "hooks" / name
        return run([sys.executable, str(script)], self.ws, full_env, json.dumps(event))

    def head(self) -> str:
        return self.git(self.clone, "rev-parse", "HEAD")

    def remote_branch(self, name: str) -> str | None:
        out = run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"], self.origin, self.env)
        return out.stdout.strip() if out.returncode == 0 else None

    def files_in(self, rev: str) -> set[str]:
        return set(self.git(self.clone, "ls-tree", "-r", "--name-only", rev).splitlines())


STOP = {"session_id": "s1", "hook_event_name": "Stop", "stop_hook_active": False}


class StopHookTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.repo = Repo(Path(self.tmp.name))
        self.start = self.repo.head()

    def tearDown(self):
        self.tmp.cleanup()

    def write_skill(self):
        skill = self.repo.ws / ".claude" / "skills" / "churn_report"
        (skill / "scripts").mkdir(parents=True)
        (skill / "SKILL.md").write_text("---\nname: churn-report\ndescription: Churn.\n---\n")
        (skill / "scripts" / "churn_report.py").write_text("# tool\n")
        return "local-workspace/.claude/skills/churn_report/SKILL.md"

    def test_pushes_workspace_changes_to_the_operator_branch(self):
        skill_md = self.write_skill()
        self.repo.git(self.repo.clone, "config", "agent-gateway.operator", "alice")
        out = self.repo.hook("commit-and-push.py", STOP)
        self.assertEqual(out.returncode, 0, out.stderr)
        head = self.repo.head()
        self.assertNotEqual(head, self.start)
        self.assertEqual(self.repo.remote_branch("operator/alice"), head)
        self.assertIn(skill_md, self.repo.files_in("refs/remotes/origin/operator/alice"))
        self.assertEqual(self.repo.git(self.repo.clone, "status", "--porcelain"), "")
        subject = self.repo.git(self.repo.clone, "log", "-1", "--format=%s")
        self.assertEqual(subject, "workspace(alice): skills churn_report")

    def test_environment_name_wins_over_git_config(self):
        self.write_skill()
        self.repo.git(self.repo.clone, "config", "agent-gateway.operator", "alice")
        out = self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR="bob-2")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.repo.remote_branch("operator/bob-2"), self.repo.head())
        self.assertIsNone(self.repo.remote_branch("operator/alice"))

    def test_clean_workspace_does_nothing(self):
        self.repo.git(self.repo.clone, "config", "agent-gateway.operator", "alice")
        out = self.repo.hook("commit-and-push.py", STOP)
        self.assertEqual((out.returncode, out.stdout, out.stderr), (0, "", ""))
        self.assertEqual(self.repo.head(), self.start)
        self.assertIsNone(self.repo.remote_branch("operator/alice"))

    def test_stop_hook_active_does_nothing(self):
        self.write_skill()
        self.repo.git(self.repo.clone, "config", "agent-gateway.operator", "alice")
        out = self.repo.hook("commit-and-push.py", dict(STOP, stop_hook_active=True))
        self.assertEqual((out.returncode, out.stdout), (0, ""))
        self.assertEqual(self.repo.head(), self.start)
        self.assertIsNone(self.repo.remote_branch("operator/alice"))

    def test_bad_operator_names_are_refused(self):
        self.write_skill()
        for bad in ["Alice", "al/ice", "../x", "-x", "x-", "a b", "x" * 40, "al_ice"]:
            with self.subTest(name=bad):
                out = self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR=bad)
                self.assertEqual(out.returncode, 1, out.stderr)
                self.assertEqual(self.repo.head(), self.start)
        refs = self.repo.git(self.repo.origin, "for-each-ref", "--format=%(refname)")
        self.assertEqual(refs.splitlines(), ["refs/heads/main"])

    def test_no_operator_leaves_everything_and_does_not_block(self):
        self.write_skill()
        out = self.repo.hook("commit-and-push.py", STOP)
        self.assertEqual(out.returncode, 0)
        self.assertNotEqual(out.stderr, "")
        self.assertEqual(self.repo.head(), self.start)

    def test_only_the_workspace_is_committed(self):
        self.write_skill()
        (self.repo.clone / "outside.txt").write_text("not the workspace's\n")
        (self.repo.clone / "README.md").write_text("edited outside the workspace\n")
        self.repo.git(self.repo.clone, "add", "README.md")  # staged outside: must stay staged
        out = self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR="alice")
        self.assertEqual(out.returncode, 0, out.stderr)
        changed = self.repo.git(self.repo.clone, "diff", "--name-only", self.start, "HEAD").splitlines()
        self.assertTrue(changed)
        self.assertTrue(all(p.startswith("local-workspace/") for p in changed), changed)
        status = self.repo.git(self.repo.clone, "status", "--porcelain").splitlines()
        self.assertEqual(sorted(status), ["?? outside.txt", "M  README.md"])

    def test_env_files_are_never_committed(self):
        self.check_env_files_left_out()

    def test_env_files_are_left_out_even_without_the_gitignore(self):
        (self.repo.ws / ".gitignore").unlink()
        self.check_env_files_left_out()

    def check_env_files_left_out(self):
        (self.repo.ws / ".env").write_text("STRIPE_API_KEY=rk_live_secret\n")
        (self.repo.ws / "context").mkdir(exist_ok=True)
        (self.repo.ws / "context" / ".env.local").write_text("TOKEN=secret\n")
        (self.repo.ws / "fields").mkdir(exist_ok=True)
        (self.repo.ws / "fields" / "stripe.yaml").write_text("integration: stripe\nfields: {}\n")
        out = self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR="alice")
        self.assertEqual(out.returncode, 0, out.stderr)
        files = self.repo.files_in("HEAD")
        self.assertIn("local-workspace/fields/stripe.yaml", files)
        self.assertNotIn("local-workspace/.env", files)
        self.assertNotIn("local-workspace/context/.env.local", files)
        self.assertEqual(self.repo.remote_branch("operator/alice"), self.repo.head())

    def test_failed_push_keeps_the_commit_and_reports(self):
        self.write_skill()
        self.repo.git(self.repo.clone, "remote", "set-url", "origin", str(self.repo.root / "missing.git"))
        out = self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR="alice")
        self.assertEqual(out.returncode, 1)
        self.assertNotEqual(self.repo.head(), self.start)
        self.assertEqual(self.repo.git(self.repo.clone, "status", "--porcelain"), "")

    def test_commits_without_a_git_identity(self):
        self.write_skill()
        self.repo.git(self.repo.clone, "config", "--unset", "user.name")
        self.repo.git(self.repo.clone, "config", "--unset", "user.email")
        out = self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR="alice")
        self.assertEqual(out.returncode, 0, out.stderr)
        author = self.repo.git(self.repo.clone, "log", "-1", "--format=%an <%ae>")
        self.assertEqual(author, "alice <alice@users.noreply.invalid>")

    def test_second_stop_fast_forwards_the_branch(self):
        self.write_skill()
        self.assertEqual(self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR="alice").returncode, 0)
        first = self.repo.head()
        notes = self.repo.ws / "context" / "alice" / "sessions"
        notes.mkdir(parents=True)
        (notes / "2026-12-02.md").write_text("# notes\n")
        out = self.repo.hook("commit-and-push.py", STOP, GATEWAY_OPERATOR="alice")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.repo.git(self.repo.clone, "rev-parse", "HEAD~1"), first)
        self.assertEqual(self.repo.remote_branch("operator/alice"), self.repo.head())


WRITE = {
    "hook_event_name": "PostToolUse",
    "tool_name": "Write",
    "tool_input": {"file_path": "/tmp/x.md", "content": "x"},
}


class SessionNoteTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.repo = Repo(Path(self.tmp.name))

    def tearDown(self):
        self.tmp.cleanup()

    def note(self, day: datetime.date) -> Path:
        path = self.repo.ws / "context" / "alice" / "sessions" / f"{day.isoformat()}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def test_missing_note_is_reported_to_the_agent(self):
        out = self.repo.hook("session-note-check.py", WRITE, GATEWAY_OPERATOR="alice")
        self.assertEqual(out.returncode, 2)
        self.assertNotEqual(out.stderr, "")

    def test_only_yesterdays_note_counts_as_missing(self):
        self.note(datetime.date.today() - datetime.timedelta(days=1)).write_text("# yesterday\n")
        out = self.repo.hook("session-note-check.py", WRITE, GATEWAY_OPERATOR="alice")
        self.assertEqual(out.returncode, 2)

    def test_todays_note_passes(self):
        self.note(datetime.date.today()).write_text("# today\n")
        out = self.repo.hook("session-note-check.py", WRITE, GATEWAY_OPERATOR="alice")
        self.assertEqual((out.returncode, out.stderr), (0, ""))

    def test_another_operators_note_does_not_count(self):
        self.note(datetime.date.today()).write_text("# alice's\n")
        out = self.repo.hook("session-note-check.py", WRITE, GATEWAY_OPERATOR="bob")
        self.assertEqual(out.returncode, 2)

    def test_operator_from_git_config(self):
        self.note(datetime.date.today()).write_text("# today\n")
        self.repo.git(self.repo.clone, "config", "agent-gateway.operator", "alice")
        out = self.repo.hook("session-note-check.py", WRITE)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_no_operator_is_reported(self):
        out = self.repo.hook("session-note-check.py", WRITE)
        self.assertEqual(out.returncode, 2)

    def test_bad_operator_is_reported(self):
        out = self.repo.hook("session-note-check.py", WRITE, GATEWAY_OPERATOR="../alice")
        self.assertEqual(out.returncode, 2)

    def test_malformed_input_is_tolerated(self):
        self.note(datetime.date.today()).write_text("# today\n")
        script = self.repo.ws / ".claude" / "hooks" / "session-note-check.py"
        env = dict(self.repo.env, GATEWAY_OPERATOR="alice")
        out = run([sys.executable, str(script)], self.repo.ws, env, "not json")
        self.assertEqual(out.returncode, 0, out.stderr)


if __name__ == "__main__":
    unittest.main()

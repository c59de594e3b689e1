"""scripts/gitops/*: run for real against recording stand-ins for gh and gateway,
real git repositories (a bare origin and a clone) and a local HTTP server.

Run: python3 -m unittest discover -s scripts/gitops/tests
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import GitFixture, StandIn, clean_env, git  # noqa: E402

GITOPS = Path(__file__).resolve().parents[1]
MARKER = "<!-- agent-gateway-qa -->"
SKILL = "local-workspace/.claude/skills/churn_report"


def run(script: str, args: list[str], cwd: Path, env: dict, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(GITOPS / script), *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, check=False)


def outputs(path: Path) -> dict:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        self.env = clean_env(self.root)
        self.repo = GitFixture(self.root, self.env)
        self.gh = StandIn(self.root / "gh-bin", "gh")
        self.env["GH_BIN"] = str(self.gh.path)
        self.env["GITHUB_OUTPUT"] = str(self.root / "github-output")

    def tearDown(self):
        self.tmp.cleanup()

    def operator_branch(self, name: str, files: dict[str, str]) -> None:
        self.repo.git("checkout", "--quiet", "-b", f"operator/{name}", "main")
        for rel, text in files.items():
            self.repo.write(rel, text)
        self.repo.commit(f"workspace({name})")
        self.repo.git("push", "--quiet", "origin", f"HEAD:refs/heads/operator/{name}")
        self.repo.git("checkout", "--quiet", "main")


class AutoPrTest(Base):
    LIST = ["pr", "list", "--head", "operator/alice", "--base", "main", "--state", "open",
            "--json", "number,url", "--limit", "1"]
    BODY = ("Skills and field definitions from `alice`'s workspace (branch `operator/alice`).\n\n"
            "Skills:\n- `churn_report` (`local-workspace/.claude/skills/churn_report/`)\n\n"
            "The QA review is posted as a comment and updated on every push. Merging promotes "
            "the tools into the gateway (auto_promote); see docs/gitops.md.")

    def test_creates_the_pull_request_and_starts_qa(self):
        self.operator_branch("alice", {f"{SKILL}/SKILL.md": "skill\n", f"{SKILL}/tool.toml": "name = 'x'\n"})
        self.gh.answer(self.LIST, stdout="[]\n")
        self.gh.answer(["pr", "create"], stdout="https://github.com/acme/gw/pull/17\n")
        self.gh.answer(["workflow", "run"])
        out = run("auto-pr", ["operator/alice", "--dispatch-qa", "qa_review.yml"], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.gh.argvs(), [
            self.LIST,
            ["pr", "create", "--base", "main", "--head", "operator/alice",
             "--title", "alice: churn_report", "--body", self.BODY],
            ["workflow", "run", "qa_review.yml", "--ref", "operator/alice", "-f", "pr=17"],
        ])
        self.assertEqual(outputs(self.root / "github-output"), {"action": "created", "pr": "17"})

    def test_updates_the_open_pull_request(self):
        self.operator_branch("alice", {f"{SKILL}/SKILL.md": "skill\n",
                                       "local-workspace/fields/stripe.yaml": "integration: stripe\n"})
        self.gh.answer(self.LIST, stdout=json.dumps([{"number": 5, "url": "https://github.com/acme/gw/pull/5"}]))
        self.gh.answer(["pr", "edit"])
        out = run("auto-pr", ["operator/alice", "--dispatch-qa", "qa_review.yml"], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        argvs = self.gh.argvs()
        self.assertEqual(argvs[0], self.LIST)
        self.assertEqual(argvs[1][:4], ["pr", "edit", "5", "--title"])
        self.assertEqual(argvs[1][4], "alice: churn_report; fields stripe")
        self.assertEqual(len(argvs), 2)  # no create, no second QA run: the push itself starts it
        self.assertEqual(outputs(self.root / "github-output"), {"action": "updated", "pr": "5"})

    def test_no_skill_or_field_change_makes_no_pull_request(self):
        self.operator_branch("alice", {"local-workspace/context/alice/sessions/2026-12-02.md": "notes\n"})
        out = run("auto-pr", ["operator/alice"], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.gh.argvs(), [])
        self.assertEqual(outputs(self.root / "github-output"), {"action": "skipped", "pr": ""})

    def test_changes_that_reached_main_meanwhile_do_not_count(self):
        self.operator_branch("alice", {"local-workspace/context/alice/profile.md": "alice\n"})
        # Another operator's skill merged into main after alice's branch left it.
        self.repo.write("local-workspace/.claude/skills/other/SKILL.md", "other\n")
        self.repo.commit("merge bob's skill")
        self.repo.git("push", "--quiet", "origin", "main")
        out = run("auto-pr", ["operator/alice"], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.gh.argvs(), [])

    def test_refuses_branches_that_are_not_operator_branches(self):
        for branch in ["main", "operator/Alice", "operator/a/b", "feature/x", "operator/"]:
            with self.subTest(branch=branch):
                out = run("auto-pr", [branch], self.repo.clone, self.env)
                self.assertEqual(out.returncode, 2)
        self.assertEqual(self.gh.argvs(), [])

    def test_gh_failure_fails_the_step(self):
        self.operator_branch("alice", {f"{SKILL}/SKILL.md": "skill\n"})
        self.gh.answer(self.LIST, exit=1)
        out = run("auto-pr", ["operator/alice"], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(self.gh.argvs(), [self.LIST])


class StickyCommentTest(Base):
    LIST = ["api", "--paginate", "repos/{owner}/{repo}/issues/12/comments"]

    def comment_file(self, text: str) -> Path:
        path = self.root / "comment.md"
        path.write_text(text)
        return path

    def test_creates_the_comment_when_there_is_none(self):
        body = f"{MARKER}\n## ✅ Passed Automated QA\n"
        # Two pages, as gh api --paginate prints them; one comment quotes the marker mid-text.
        pages = json.dumps([{"id": 1, "body": "looks good"}]) + json.dumps(
            [{"id": 2, "body": f"> quoting\n{MARKER}"}])
        self.gh.answer(self.LIST, stdout=pages)
        self.gh.answer(["api", "--method", "POST"], stdout="{}")
        out = run("sticky-comment", ["12", str(self.comment_file(body))], self.root, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        calls = self.gh.calls()
        self.assertEqual([c["argv"] for c in calls], [
            self.LIST,
            ["api", "--method", "POST", "repos/{owner}/{repo}/issues/12/comments", "--input", "-"],
        ])
        self.assertEqual(json.loads(calls[1]["stdin"]), {"body": body})

    def test_updates_the_marked_comment(self):
        body = f"{MARKER}\n## 🛑 QA FAILED\n"
        comments = [{"id": 7, "body": "first"}, {"id": 42, "body": f"{MARKER}\n## ✅ Passed Automated QA"},
                    {"id": 43, "body": f"{MARKER}\nduplicate"}]
        self.gh.answer(self.LIST, stdout=json.dumps(comments))
        self.gh.answer(["api", "--method", "PATCH"], stdout="{}")
        out = run("sticky-comment", ["12", str(self.comment_file(body))], self.root, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        calls = self.gh.calls()
        self.assertEqual(calls[1]["argv"],
                         ["api", "--method", "PATCH", "repos/{owner}/{repo}/issues/comments/42", "--input", "-"])
        self.assertEqual(json.loads(calls[1]["stdin"]), {"body": body})
        self.assertEqual(len(calls), 2)

    def test_long_bodies_are_cut_below_githubs_limit(self):
        body = MARKER + "\n" + "x" * 70_000
        self.gh.answer(self.LIST, stdout="[]")
        self.gh.answer(["api", "--method", "POST"], stdout="{}")
        out = run("sticky-comment", ["12", str(self.comment_file(body))], self.root, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        sent = json.loads(self.gh.calls()[1]["stdin"])["body"]
        self.assertLess(len(sent), 65_536)
        self.assertEqual(sent.split("\n", 1)[0], MARKER)

    def test_refuses_a_file_without_the_marker(self):
        out = run("sticky-comment", ["12", str(self.comment_file("## QA\n"))], self.root, self.env)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(self.gh.argvs(), [])

    def test_refuses_a_bad_pull_request_number(self):
        out = run("sticky-comment", ["12;x", str(self.comment_file(MARKER + "\n"))], self.root, self.env)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(self.gh.argvs(), [])

    def test_gh_failure_fails_the_step(self):
        self.gh.answer(self.LIST, exit=1)
        out = run("sticky-comment", ["12", str(self.comment_file(MARKER + "\n"))], self.root, self.env)
        self.assertEqual(out.returncode, 1)


class Endpoint(http.server.BaseHTTPRequestHandler):
    """A chat completions endpoint that records requests and answers as told."""

    requests: list = []
    status = 200
    answer: object = None

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        data = json.dumps(type(self).answer).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def completion(text: str) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


class LlmReviewTest(unittest.TestCase):
    def setUp(self):
        Endpoint.requests, Endpoint.status, Endpoint.answer = [], 200, completion("- fine")
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.tmp = tempfile.TemporaryDirectory()
        self.diff = Path(self.tmp.name) / "diff"
        self.diff.write_text("diff --git a/x b/x\n+print('hi')\n")
        self.env = clean_env(Path(self.tmp.name))
        self.env["LLM_REVIEW_URL"] = f"http://127.0.0.1:{self.server.server_port}/v1/chat/completions"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.tmp.cleanup()

    def review(self, **env: str) -> subprocess.CompletedProcess:
        return run("llm-review", [str(self.diff)], Path(self.tmp.name), dict(self.env, **env))

    def test_without_a_key_says_so_and_calls_nothing(self):
        out = self.review()
        self.assertEqual(out.returncode, 0)
        self.assertEqual(out.stdout, "### LLM review (advisory)\n\n_No LLM review: the repository secret "
                                     "`OPENROUTER_API_KEY` is not set (optional; see docs/gitops.md)._\n\n")
        self.assertEqual(Endpoint.requests, [])

    def test_with_a_key_asks_the_endpoint_and_prints_its_review(self):
        out = self.review(OPENROUTER_API_KEY="test-key", LLM_REVIEW_MODEL="vendor/model-x")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(Endpoint.requests), 1)
        request = Endpoint.requests[0]
        self.assertEqual(request["path"], "/v1/chat/completions")
        self.assertEqual(request["auth"], "Bearer test-key")
        self.assertEqual(request["body"]["model"], "vendor/model-x")
        self.assertEqual([m["role"] for m in request["body"]["messages"]], ["system", "user"])
        self.assertEqual(request["body"]["messages"][1]["content"],
                         "```diff\ndiff --git a/x b/x\n+print('hi')\n\n```")
        self.assertEqual(out.stdout, "### LLM review (advisory)\n\n_Model `vendor/model-x`; advisory, not part "
                                     "of the pass/fail decision._\n\n- fine\n\n")

    def test_answer_cannot_carry_the_marker_or_the_key(self):
        Endpoint.answer = completion(f"{MARKER}\nkey is test-key")
        out = self.review(OPENROUTER_API_KEY="test-key")
        self.assertEqual(out.returncode, 0)
        self.assertNotIn(MARKER, out.stdout)
        self.assertNotIn("test-key", out.stdout)

    def test_long_diffs_are_cut(self):
        self.diff.write_text("+" * 500)
        out = self.review(OPENROUTER_API_KEY="k", LLM_REVIEW_MAX_CHARS="100")
        self.assertEqual(out.returncode, 0)
        self.assertEqual(Endpoint.requests[0]["body"]["messages"][1]["content"], "```diff\n" + "+" * 100 + "\n```")

    def test_endpoint_errors_never_fail_the_job(self):
        Endpoint.status, Endpoint.answer = 500, {"error": "boom"}
        out = self.review(OPENROUTER_API_KEY="k")
        self.assertEqual((out.returncode, out.stdout), (
            0, "### LLM review (advisory)\n\n_LLM review unavailable: the endpoint answered HTTP 500._\n\n"))

    def test_a_non_completion_answer_never_fails_the_job(self):
        Endpoint.answer = {"unexpected": True}
        out = self.review(OPENROUTER_API_KEY="k")
        self.assertEqual((out.returncode, out.stdout), (
            0, "### LLM review (advisory)\n\n_LLM review unavailable: the endpoint's answer was not a "
               "chat completion._\n\n"))

    def test_unreachable_endpoint_never_fails_the_job(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        out = self.review(OPENROUTER_API_KEY="k", LLM_REVIEW_URL=f"http://127.0.0.1:{port}/v1")
        self.assertEqual(out.returncode, 0)
        self.assertEqual(out.stdout.splitlines()[0], "### LLM review (advisory)")
        self.assertEqual(Endpoint.requests, [])


class QaReviewTest(Base):
    def setUp(self):
        super().setUp()
        self.gateway = StandIn(self.root / "gateway-bin", "gateway")
        self.env["GATEWAY"] = str(self.gateway.path)
        self.env["QA_REVIEW_OUT"] = str(self.root / "qa-out")
        self.env["GITHUB_STEP_SUMMARY"] = str(self.root / "summary.md")
        self.operator_branch("alice", {f"{SKILL}/SKILL.md": "skill\n"})
        self.repo.git("checkout", "--quiet", "operator/alice")
        self.gh.answer(["api", "--paginate"], stdout="[]")
        self.gh.answer(["api", "--method", "POST"], stdout="{}")

    def review(self) -> subprocess.CompletedProcess:
        return run("qa-review", ["--pr", "3", "--base", "origin/main"], self.repo.clone, self.env)

    def posted(self) -> str:
        post = [c for c in self.gh.calls() if c["argv"][:3] == ["api", "--method", "POST"]]
        self.assertEqual(len(post), 1)
        return json.loads(post[0]["stdin"])["body"]

    def test_passed_review_is_posted_and_passes(self):
        qa = f"{MARKER}\n## ✅ Passed Automated QA\n"
        self.gateway.answer(["qa"], stdout=qa)
        out = self.review()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.gateway.argvs(), [["qa", "--base", "origin/main", "--format", "markdown"]])
        body = self.posted()
        self.assertTrue(body.startswith(qa))
        self.assertEqual(body.rstrip("\n").splitlines()[-1],
                         "_No LLM review: the repository secret `OPENROUTER_API_KEY` is not set "
                         "(optional; see docs/gitops.md)._")
        self.assertEqual((self.root / "summary.md").read_text(), body)
        diff = (self.root / "qa-out" / "diff").read_text()
        self.assertEqual(diff.splitlines()[0], f"diff --git a/{SKILL}/SKILL.md b/{SKILL}/SKILL.md")

    def test_failed_review_is_posted_and_fails(self):
        self.gateway.answer(["qa"], stdout=f"{MARKER}\n## 🛑 QA FAILED\n", exit=1)
        out = self.review()
        self.assertEqual(out.returncode, 1)
        self.assertEqual(self.posted().splitlines()[1], "## 🛑 QA FAILED")

    def test_qa_that_cannot_run_is_reported(self):
        self.gateway.answer(["qa"], stdout="", exit=2)
        out = self.review()
        self.assertEqual(out.returncode, 2)
        self.assertEqual(self.posted().splitlines()[:2], [MARKER, "## ⚠️ QA could not run"])

    def test_output_without_the_marker_counts_as_not_run(self):
        self.gateway.answer(["qa"], stdout="something else\n", exit=0)
        out = self.review()
        self.assertEqual(out.returncode, 2)
        self.assertEqual(self.posted().splitlines()[:2], [MARKER, "## ⚠️ QA could not run"])

    def test_bad_arguments(self):
        out = run("qa-review", ["--pr", "x", "--base", "origin/main"], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 2)
        self.assertEqual(self.gateway.argvs(), [])


class PromoteTest(Base):
    BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"

    def setUp(self):
        super().setUp()
        self.gateway = StandIn(self.root / "gateway-bin", "gateway")
        self.env["GATEWAY"] = str(self.gateway.path)
        self.start = self.repo.git("rev-parse", "HEAD")

    def promotes(self, files: dict[str, str], exit: int = 0) -> None:
        self.gateway.answer(["promote"], stdout="promoted\n", exit=exit,
                            write={str(self.repo.clone / rel): text for rel, text in files.items()})

    def test_promotes_to_each_gateway_and_commits_back(self):
        self.promotes({"tools-wasm/churn_report/tool.toml": "name = 'churn_report'\n",
                       "fields/stripe.yaml": "integration: stripe\nfields: {a: 1}\n"})
        env = dict(self.env, GATEWAY_ADMIN_URLS=" http://gw-a:8001  http://gw-b:8001 ")
        out = run("promote", [], self.repo.clone, env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.gateway.argvs(),
                         [["promote", "--admin-url", "http://gw-a:8001", "--admin-url", "http://gw-b:8001"]])
        head = self.repo.git("rev-parse", "HEAD")
        self.assertEqual(self.repo.origin_rev("refs/heads/main"), head)
        self.assertEqual(self.repo.git("log", "-1", "--format=%an <%ae>"), self.BOT)
        self.assertEqual(self.repo.git("log", "-1", "--format=%s"),
                         f"promote: churn_report fields/stripe.yaml (from {self.start[:7]})")
        self.assertEqual(self.repo.git("rev-parse", "HEAD~1"), self.start)

    def test_without_urls_promotes_locally(self):
        self.promotes({"tools-wasm/churn_report/tool.toml": "x\n"})
        out = run("promote", [], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.gateway.argvs(), [["promote"]])
        self.assertNotEqual(self.repo.origin_rev("refs/heads/main"), self.start)

    def test_nothing_to_commit(self):
        self.promotes({})
        out = run("promote", [], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.repo.origin_rev("refs/heads/main"), self.start)

    def test_failed_promotion_commits_nothing(self):
        self.promotes({"tools-wasm/churn_report/tool.toml": "x\n"}, exit=1)
        out = run("promote", [], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(self.repo.git("rev-parse", "HEAD"), self.start)
        self.assertEqual(self.repo.origin_rev("refs/heads/main"), self.start)

    def test_only_tools_and_fields_are_committed(self):
        self.promotes({"tools-wasm/churn_report/tool.toml": "x\n", "stray.txt": "not promoted\n"})
        out = run("promote", [], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        changed = self.repo.git("diff", "--name-only", self.start, "HEAD").splitlines()
        self.assertEqual(changed, ["tools-wasm/churn_report/tool.toml"])

    def test_main_that_moved_meanwhile_is_rebased_onto(self):
        other = self.root / "other"
        git(self.root, self.env, "clone", "--quiet", str(self.repo.origin), str(other))
        (other / "docs.md").write_text("another merge\n")
        git(other, self.env, "add", "docs.md")
        git(other, self.env, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "--quiet", "-m", "other")
        git(other, self.env, "push", "--quiet", "origin", "main")
        moved = git(other, self.env, "rev-parse", "HEAD")
        self.promotes({"tools-wasm/churn_report/tool.toml": "x\n"})
        out = run("promote", [], self.repo.clone, self.env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.repo.origin_rev("refs/heads/main~1"), moved)
        self.assertEqual(self.repo.git("log", "-1", "--format=%an <%ae>"), self.BOT)


class PublishServedTest(Base):
    """publish-served: main's tree plus every tool's built component, on the
    branch git-sync follows (docs/deploy.md)."""

    def setUp(self):
        super().setUp()
        self.gateway = StandIn(self.root / "gateway-bin", "gateway")
        self.env["GATEWAY"] = str(self.gateway.path)
        self.repo.write(".gitignore", "tools-wasm/*/tool.wasm\n")
        for tool in ("churn_report", "stripe_revenue"):
            self.repo.write(f"tools-wasm/{tool}/tool.toml", f"name = '{tool}'\n")
        self.main = self.repo.commit("promote: churn_report stripe_revenue")
        self.repo.git("push", "--quiet", "origin", "main")

    def builds(self, tool: str, component: str, exit: int = 0) -> None:
        target = self.repo.clone / "tools-wasm" / tool / "tool.wasm"
        self.gateway.answer(["tool", "build", f"tools-wasm/{tool}"], exit=exit,
                            write={} if exit else {str(target): component})

    def publish(self, branch: str | None = "served") -> subprocess.CompletedProcess:
        env = dict(self.env)
        if branch is not None:
            env["SERVED_BRANCH"] = branch
        return run("publish-served", [], self.repo.clone, env)

    def served_refs(self) -> list[str]:
        return git(self.repo.origin, self.env, "for-each-ref", "--format=%(refname)", "refs/heads").splitlines()

    def test_publishes_mains_tree_with_every_component(self):
        self.builds("churn_report", "component churn")
        self.builds("stripe_revenue", "component stripe")
        out = self.publish()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(sorted(self.gateway.argvs()),
                         [["tool", "build", "tools-wasm/churn_report"], ["tool", "build", "tools-wasm/stripe_revenue"]])
        served = self.repo.origin_rev("refs/heads/served")
        self.assertEqual(self.repo.origin_rev("refs/heads/served~1"), self.main)
        self.assertEqual(self.repo.origin_rev("refs/heads/main"), self.main)
        show = lambda rel: git(self.repo.origin, self.env, "show", f"{served}:{rel}")  # noqa: E731
        self.assertEqual(show("tools-wasm/churn_report/tool.wasm"), "component churn")
        self.assertEqual(show("tools-wasm/stripe_revenue/tool.wasm"), "component stripe")
        self.assertEqual(show("fields/stripe.yaml"), "integration: stripe\nfields: {}")
        # main's own tree still has no component.
        self.assertEqual(self.repo.git("ls-files", "tools-wasm/churn_report"), "tools-wasm/churn_report/tool.toml")

    def test_the_same_components_push_nothing_new_ones_replace_the_branch(self):
        self.builds("churn_report", "v1")
        self.builds("stripe_revenue", "v1")
        self.assertEqual(self.publish().returncode, 0)
        first = self.repo.origin_rev("refs/heads/served")
        self.assertEqual(self.publish().returncode, 0)
        self.assertEqual(self.repo.origin_rev("refs/heads/served"), first)
        (self.gateway.folder / "answers.json").unlink()
        self.builds("churn_report", "v2")
        self.builds("stripe_revenue", "v1")
        self.assertEqual(self.publish().returncode, 0)
        second = self.repo.origin_rev("refs/heads/served")
        self.assertNotEqual(second, first)
        # Force-pushed: one commit on top of main, not a growing history.
        self.assertEqual(self.repo.origin_rev("refs/heads/served~1"), self.main)

    def test_a_tool_that_does_not_build_publishes_nothing(self):
        self.builds("churn_report", "", exit=1)
        self.builds("stripe_revenue", "ok")
        out = self.publish()
        self.assertEqual(out.returncode, 1)
        self.assertEqual(self.served_refs(), ["refs/heads/main"])

    def test_no_branch_named_publishes_nothing(self):
        out = self.publish(branch=None)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.gateway.argvs(), [])
        self.assertEqual(self.served_refs(), ["refs/heads/main"])

    def test_main_is_never_published_over(self):
        for branch in ("main", "bad..name"):
            with self.subTest(branch=branch):
                out = self.publish(branch)
                self.assertEqual(out.returncode, 1)
                self.assertEqual(self.gateway.argvs(), [])
                self.assertEqual(self.repo.origin_rev("refs/heads/main"), self.main)


if __name__ == "__main__":
    unittest.main()


class GatewayCliTest(unittest.TestCase):
    """The cached binary is used as long as its sources' hash matches (no cargo run)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.bin_dir = Path(self.tmp.name) / "bin"
        self.bin_dir.mkdir()
        (self.bin_dir / "gateway").write_text("#!/bin/sh\n")
        (self.bin_dir / "gateway").chmod(0o755)
        root = GITOPS.parents[1]
        listing = subprocess.run(["git", "ls-files", "-s", "--", "Cargo.lock", "Cargo.toml", "host", "guest-sdk"],
                                 cwd=root, capture_output=True, check=True).stdout
        self.hash = hashlib.sha256(listing).hexdigest()
        # No cargo on PATH: a build attempt would fail the script.
        self.env = {"PATH": "/usr/bin:/bin", "HOME": self.tmp.name, "GATEWAY_CLI_DIR": str(self.bin_dir)}

    def tearDown(self):
        self.tmp.cleanup()

    def test_matching_hash_reuses_the_binary(self):
        (self.bin_dir / "gateway.source").write_text(self.hash + "\n")
        out = subprocess.run([str(GITOPS / "gateway-cli")], env=self.env, capture_output=True, text=True,
                             check=False, cwd=self.tmp.name)
        self.assertEqual((out.returncode, out.stdout), (0, f"{self.bin_dir}/gateway\n"), out.stderr)

    def test_stale_hash_rebuilds(self):
        (self.bin_dir / "gateway.source").write_text("0" * 64 + "\n")
        env = dict(self.env, PATH=str(Path(self.tmp.name) / "nothing") + ":/usr/bin:/bin")
        env["CARGO_TARGET_DIR"] = str(Path(self.tmp.name) / "target")
        fake_cargo = Path(self.tmp.name) / "nothing" / "cargo"
        fake_cargo.parent.mkdir()
        # A stand-in cargo that records its arguments and "builds" the binary.
        fake_cargo.write_text("#!/bin/sh\necho \"$@\" > \"$CARGO_TARGET_DIR.args\"\n"
                              "mkdir -p \"$CARGO_TARGET_DIR/debug\"\n"
                              "printf '#!/bin/sh\\necho rebuilt\\n' > \"$CARGO_TARGET_DIR/debug/gateway\"\n"
                              "chmod +x \"$CARGO_TARGET_DIR/debug/gateway\"\n")
        fake_cargo.chmod(0o755)
        out = subprocess.run([str(GITOPS / "gateway-cli")], env=env, capture_output=True, text=True,
                             check=False, cwd=self.tmp.name)
        self.assertEqual((out.returncode, out.stdout), (0, f"{self.bin_dir}/gateway\n"), out.stderr)
        self.assertEqual(Path(env["CARGO_TARGET_DIR"] + ".args").read_text().split(),
                         ["build", "--locked", "-p", "agent-gateway", "--bin", "gateway"])
        self.assertEqual((self.bin_dir / "gateway.source").read_text().strip(), self.hash)
        rebuilt = subprocess.run([str(self.bin_dir / "gateway")], capture_output=True, text=True, check=True)
        self.assertEqual(rebuilt.stdout, "rebuilt\n")


class WorkflowsTest(unittest.TestCase):
    """Every script a workflow runs exists and is committed executable."""

    def test_scripts_named_in_workflows_are_executable_in_git(self):
        root = GITOPS.parents[1]
        modes = {}
        for line in subprocess.run(["git", "ls-files", "-s", "--", "scripts"], cwd=root, capture_output=True,
                                   text=True, check=True).stdout.splitlines():
            meta, path = line.split("\t", 1)
            modes[path] = meta.split()[0]
        named = set()
        for workflow in sorted((root / ".github" / "workflows").glob("*.yml*")):
            for path in re.findall(r"(?:\./)?(scripts/[A-Za-z0-9_./-]+)", workflow.read_text()):
                if not (root / path.rstrip(".")).is_dir():  # folders named in comments
                    named.add(path.rstrip("."))
        self.assertIn("scripts/gitops/auto-pr", named)
        for path in sorted(named):
            with self.subTest(script=path):
                self.assertEqual(modes.get(path), "100755", f"{path} is not committed as an executable")

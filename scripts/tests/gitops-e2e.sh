#!/usr/bin/env bash
# The GitOps loop end to end, on local git repositories (docs/gitops.md):
#
#   a bare origin holding an organisation's repository (local-workspace/, fields/)
#   -> an operator's sparse checkout of local-workspace/ (and fields/, to read)
#   -> a scripted agent writes a Python skill (SKILL.md, scripts/, tool.toml,
#      fixtures and cases) and its field file
#   -> the Stop hook commits and pushes to operator/alice
#   -> the auto-PR step opens one pull request (a recording stand-in for `gh`)
#   -> `gateway qa --base origin/main` passes
#   -> the pull request is merged
#   -> `gateway promote --admin-url` installs it into a `gateway serve` that was
#      running all along, and a real MCP client (the official Python SDK) calls it.
# Then two more operator branches fail QA with the right code at the right
# file:line: a POST without approval, and a hard-coded sk_live_ key.
#
# Prints the QA and merge-to-served times (BENCHMARKS.md). GITOPS_E2E_CACHE
# names the build cache (default: the tests' shared one; an empty folder
# measures a cold start); GITOPS_E2E_COLD_PROMOTE=1 gives promotion an empty
# one of its own. Needs scripts/setup.
# Exits 1 on the first failed expectation, keeping its work folder.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/scripts/tests/gitops-e2e"
source "$repo/scripts/env.sh"
mcp_py="$HOME/.cache/agent-gateway/mcp-venv/bin/python"
[ -x "$mcp_py" ] || { echo "gitops-e2e: no MCP SDK venv; run scripts/setup" >&2; exit 2; }

work="$(mktemp -d -t gitops-e2e.XXXXXX)"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    if [ "$status" -eq 0 ]; then rm -rf "$work"; else
        echo "gitops-e2e: FAILED; files and logs kept in $work" >&2
        for log in "$work"/*.log; do [ -s "$log" ] && sed "s|^|    $(basename "$log"): |" "$log" | tail -40 >&2; done
    fi
}
trap cleanup EXIT
fail() { echo "gitops-e2e: $*" >&2; exit 1; }
step() { echo "gitops-e2e: $*"; }
# expect NAME ACTUAL WANTED
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$@"; }

cargo build --locked -q -p agent-gateway --bin gateway
cp "$CARGO_TARGET_DIR/debug/gateway" "$work/gateway"
gateway="$work/gateway"
export PATH="$work/bin:$PATH"
mkdir -p "$work/bin"
ln -s "$gateway" "$work/bin/gateway"
git_id=(-c user.name=e2e -c user.email=e2e@example.com)

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- The organisation's repository on a bare origin -------------------------
step "origin: the organisation's repository"
git init -q --bare -b main "$work/origin.git"
git clone -q "$work/origin.git" "$work/admin" 2>/dev/null
(cd "$repo" && git archive HEAD local-workspace fields) | tar -x -C "$work/admin"
# The repository's own workflows and scripts come along, as in a real organisation.
(cd "$repo" && git archive HEAD .github scripts/gitops 2>/dev/null) | tar -x -C "$work/admin" || true
mkdir -p "$work/admin/tools-wasm"
touch "$work/admin/tools-wasm/.gitkeep"
(cd "$work/admin" && git add -A && git "${git_id[@]}" commit -q -m "organisation repository" && git push -q origin main)

# --- A gateway that is already running -------------------------------------
step "gateway serve, running before anything is promoted"
upstream_port="$(free_port)"
mcp_port="$(free_port)"
admin_port="$(free_port)"
mkdir -p "$work/served"
cat >"$work/gateway.toml" <<TOML
tools_dir = "$work/served"
fields_dir = "$work/admin/fields"
cache_dir = "${GITOPS_E2E_CACHE:-$HOME/.cache/agent-gateway/test-artifacts/cwasm}"

[outbound]
allow_private = ["127.0.0.1/32"]

[tools.churn_report.config]
api_base = "http://127.0.0.1:$upstream_port"

[integrations.billing]
secrets = ["BILLING_API_KEY"]
TOML
# The gateway runs elsewhere: its compile cache is its own (a new tool is
# never in it), while QA and promotion share CI's build cache.
sed -e "s|^cache_dir = .*|cache_dir = \"$work/gateway-cache\"|" "$work/gateway.toml" >"$work/serve.toml"
admin_key="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
GATEWAY_ADMIN_KEY="$admin_key" BILLING_API_KEY="billing-live-key" \
    "$gateway" --config "$work/serve.toml" serve --transport http --port "$mcp_port" \
    --admin-listen "127.0.0.1:$admin_port" >"$work/serve.log" 2>&1 &
pids+=($!)
# The billing API stand-in: the skill's recorded answers on loopback.
"$gateway" fixtures serve "$here/churn_report" --listen "127.0.0.1:$upstream_port" >"$work/upstream.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    "$mcp_py" "$repo/host/tests/mcp-clients/client.py" --transport http \
        --url "http://127.0.0.1:$mcp_port/mcp" --timeout 5 list >"$work/list0.json" 2>/dev/null && break
    sleep 0.2
done
expect "tools served before promotion" \
    "$(json "$work/list0.json" '"churn_report" in [t["name"] for t in d["tools"]]')" "False"

# --- An operator's sparse checkout -----------------------------------------
step "operator alice: sparse checkout of local-workspace/ and fields/"
git clone -q --no-checkout "$work/origin.git" "$work/alice" 2>/dev/null
(cd "$work/alice" && git sparse-checkout set --cone local-workspace fields && git checkout -q main)
[ ! -e "$work/alice/tools-wasm" ] || fail "the sparse checkout holds more than local-workspace/ and fields/"
(cd "$work/alice" && git config user.name alice && git config user.email alice@example.com \
    && git config agent-gateway.operator alice)

# The scripted agent: codifies a recurring question into a skill and its field file.
write_skill() { # CHECKOUT
    local ws="$1/local-workspace"
    mkdir -p "$ws/.claude/skills" "$ws/fields"
    cp -r "$here/churn_report" "$ws/.claude/skills/churn_report"
    cp "$here/billing.yaml" "$ws/fields/billing.yaml"
}
stop_hook() { # CHECKOUT
    (cd "$1/local-workspace" && echo '{"hook_event_name": "Stop", "stop_hook_active": false}' \
        | CLAUDE_PROJECT_DIR="$1/local-workspace" python3 .claude/hooks/commit-and-push.py)
}
write_skill "$work/alice"
step "the Stop hook commits and pushes"
stop_hook "$work/alice" >"$work/hook.log" 2>&1 || fail "the Stop hook failed"
git -C "$work/origin.git" rev-parse -q --verify refs/heads/operator/alice >/dev/null \
    || fail "nothing pushed to operator/alice"

# --- CI: the auto-PR step and the QA review --------------------------------
step "auto-PR (gh recorded)"
git clone -q "$work/origin.git" "$work/ci" 2>/dev/null
cat >"$work/bin/gh" <<'GH'
#!/usr/bin/env python3
import json, os, sys
with open(os.environ["GH_RECORD"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
if sys.argv[1:3] == ["pr", "list"]:
    print("[]")
elif sys.argv[1:3] == ["pr", "create"]:
    print("https://github.example/org/repo/pull/7")
GH
chmod +x "$work/bin/gh"
(cd "$work/ci" && git checkout -q operator/alice \
    && GH_RECORD="$work/gh.jsonl" "$repo/scripts/gitops/auto-pr" operator/alice >"$work/auto-pr.log" 2>&1) \
    || fail "auto-pr failed"
expect "gh pr create called once" \
    "$(python3 -c 'import json, sys; calls = [json.loads(l) for l in open(sys.argv[1])]; print(sum(1 for c in calls if c[:2] == ["pr", "create"]))' "$work/gh.jsonl")" "1"
expect "the pull request's head and base" \
    "$(python3 -c 'import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
c = next(c for c in calls if c[:2] == ["pr", "create"])
print(c[c.index("--head") + 1], c[c.index("--base") + 1])' "$work/gh.jsonl")" "operator/alice main"

step "gateway qa --base origin/main"
qa_started=$(date +%s.%N)
(cd "$work/ci" && gateway --config "$work/gateway.toml" qa --base origin/main --format json >"$work/qa-alice.json" 2>"$work/qa-alice.log") \
    || fail "QA failed for alice: $(cat "$work/qa-alice.json")"
qa_seconds=$(python3 -c "import time; print(f'{time.time() - $qa_started:.1f}')")
expect "QA passed" "$(json "$work/qa-alice.json" 'd["passed"]')" "True"
expect "QA reviewed the new tool" \
    "$(json "$work/qa-alice.json" '[(t["name"], t["status"]) for t in d["tools"]]')" "[('churn_report', 'added')]"
expect "QA lists the secret to provision" \
    "$(json "$work/qa-alice.json" 'd["tools"][0]["secrets"]')" "['BILLING_API_KEY']"
(cd "$work/ci" && gateway --config "$work/gateway.toml" qa --base origin/main >"$work/qa-alice.md" 2>/dev/null)
expect "the comment's verdict line" "$(sed -n 2p "$work/qa-alice.md")" "## ✅ Passed Automated QA"

# --- The one human step, then promotion ------------------------------------
step "merge, then gateway promote --admin-url"
(cd "$work/admin" && git fetch -q origin && git "${git_id[@]}" merge -q --no-ff origin/operator/alice -m "Merge operator/alice" \
    && git push -q origin main)
# GITOPS_E2E_COLD_PROMOTE=1: promotion on a runner whose build cache is empty.
promote_config="$work/gateway.toml"
if [ "${GITOPS_E2E_COLD_PROMOTE:-}" = 1 ]; then
    sed -e "s|^cache_dir = .*|cache_dir = \"$work/promote-cache\"|" "$work/gateway.toml" >"$work/promote.toml"
    promote_config="$work/promote.toml"
fi
merged=$(date +%s.%N)
(cd "$work/admin" && GATEWAY_ADMIN_KEY="$admin_key" gateway --config "$promote_config" --tools-dir tools-wasm --fields-dir fields \
    promote --admin-url "http://127.0.0.1:$admin_port" --format json >"$work/promote.json" 2>"$work/promote.log") \
    || fail "promote failed: $(cat "$work/promote.json")"
for _ in $(seq 100); do
    "$mcp_py" "$repo/host/tests/mcp-clients/client.py" --transport http \
        --url "http://127.0.0.1:$mcp_port/mcp" --timeout 5 list >"$work/list1.json" 2>/dev/null \
        && [ "$(json "$work/list1.json" '"churn_report" in [t["name"] for t in d["tools"]]')" = True ] && break
    sleep 0.1
done
served_seconds=$(python3 -c "import time; print(f'{time.time() - $merged:.1f}')")
expect "promoted" "$(json "$work/promote.json" '[(t["name"], t["change"], t["cases_passed"]) for t in d["tools"]]')" \
    "[('churn_report', 'added', 2)]"
expect "installed" "$(json "$work/promote.json" '[i["outcome"] + ":" + i["change"] for i in d["tools"][0]["installs"].values()]')" \
    "['accepted:added']"
expect "field file promoted" "$(json "$work/promote.json" '[(f["to"], f["change"]) for f in d["fields"]]')" \
    "[('fields/billing.yaml', 'added')]"
expect "served without a restart" "$(json "$work/list1.json" '"churn_report" in [t["name"] for t in d["tools"]]')" "True"

step "an MCP client calls the new tool"
"$mcp_py" "$repo/host/tests/mcp-clients/client.py" --transport http --url "http://127.0.0.1:$mcp_port/mcp" \
    call churn_report '{"month": "2026-10"}' >"$work/call.json" 2>"$work/call.log" || fail "the call failed: $(cat "$work/call.log")"
expect "the call's result" "$(json "$work/call.json" '(d["isError"], d["structuredContent"]["cancelled"], d["structuredContent"]["lost_mrr"])')" \
    "(False, 8, 440.0)"

step "promote again: nothing changes"
(cd "$work/admin" && git add -A && git "${git_id[@]}" commit -q -m "promote churn_report" && git push -q origin main)
(cd "$work/admin" && GATEWAY_ADMIN_KEY="$admin_key" gateway --config "$work/gateway.toml" --tools-dir tools-wasm --fields-dir fields \
    promote --admin-url "http://127.0.0.1:$admin_port" --format json >"$work/promote2.json" 2>>"$work/promote.log")
expect "second promotion" "$(json "$work/promote2.json" '[t["change"] for t in d["tools"]] + [f["change"] for f in d["fields"]]')" \
    "['unchanged', 'unchanged']"
expect "nothing to commit" "$(cd "$work/admin" && git status --porcelain)" ""

# --- Two branches that must not pass ---------------------------------------
failing_branch() { # OPERATOR EDIT-FUNCTION
    local who="$1" edit="$2"
    git clone -q --no-checkout "$work/origin.git" "$work/$who" 2>/dev/null
    (cd "$work/$who" && git sparse-checkout set --cone local-workspace fields && git checkout -q main \
        && git config user.name "$who" && git config user.email "$who@example.com" && git config agent-gateway.operator "$who")
    local skill="$work/$who/local-workspace/.claude/skills/churn_report"
    "$edit" "$skill"
    stop_hook "$work/$who" >>"$work/hook.log" 2>&1 || fail "the Stop hook failed for $who"
    (cd "$work/ci" && git fetch -q origin && git checkout -q -B "operator/$who" "origin/operator/$who")
    local status=0
    (cd "$work/ci" && gateway --config "$work/gateway.toml" qa --base origin/main --format json >"$work/qa-$who.json" 2>"$work/qa-$who.log") || status=$?
    expect "QA exit status for $who" "$status" "1"
}
post_without_approval() {
    python3 - "$1/tool.toml" <<'PY'
import sys
p = sys.argv[1]
text = open(p).read().replace('url = "${config.api_base}/v1/subscriptions"\n',
                              'url = "${config.api_base}/v1/subscriptions"\nmethods = ["GET", "POST"]\n')
open(p, "w").write(text)
PY
}
hard_coded_key() {
    python3 - "$1/scripts/churn_report.py" <<'PY'
import sys
p = sys.argv[1]
text = open(p).read().replace("@tool\n", 'FALLBACK_KEY = "sk_live_51NzQrT8vLmKx2pW9aBcDeFgH"\n\n\n@tool\n', 1)
open(p, "w").write(text)
PY
}
step "operator bob: a POST without approval fails safety"
failing_branch bob post_without_approval
methods_line=$(grep -n '^methods' "$work/bob/local-workspace/.claude/skills/churn_report/tool.toml" | cut -d: -f1)
expect "bob's findings" "$(json "$work/qa-bob.json" '[(f["code"], f["file"], f.get("line")) for f in d["tools"][0]["findings"]]')" \
    "[('safety/unapproved-method', 'local-workspace/.claude/skills/churn_report/tool.toml', $methods_line)]"

step "operator carol: a hard-coded key fails security"
failing_branch carol hard_coded_key
key_line=$(grep -n 'sk_live_' "$work/carol/local-workspace/.claude/skills/churn_report/scripts/churn_report.py" | cut -d: -f1)
expect "carol's findings" "$(json "$work/qa-carol.json" '[(f["code"], f["file"], f.get("line")) for f in d["tools"][0]["findings"]]')" \
    "[('security/credential', 'local-workspace/.claude/skills/churn_report/scripts/churn_report.py', $key_line)]"
(cd "$work/ci" && gateway --config "$work/gateway.toml" qa --base origin/main >"$work/qa-carol.md" 2>/dev/null) || true
expect "the comment's verdict line" "$(sed -n 2p "$work/qa-carol.md")" "## 🛑 QA FAILED"
grep -q 'sk_live_51NzQ' "$work/qa-carol.md" && fail "the QA comment repeats the key"

echo "gitops-e2e: ok (QA ${qa_seconds} s; merge to served ${served_seconds} s)"

#!/usr/bin/env bash
# Both real MCP clients against `gateway serve`, as CI runs them (scripts/test):
#
#   host/tests/mcp-clients/check_gateway.sh
#
# Builds the gateway and the conformance test tools (tools/, one tool folder
# each, with `gateway tool build`), serves that folder over HTTP on a free
# loopback port, and runs check_clients.py (legacy SSE, Streamable HTTP in the
# 2025 and 2026 eras, and stdio against the same folder) and
# run_conformance.sh. The server is stopped whatever happens; on a failure its
# log is printed and its files are kept. Needs scripts/setup and
# scripts/setup-mcp-clients. Exits 1 if any check failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
source "$repo/scripts/env.sh"
py="$HOME/.cache/agent-gateway/mcp-venv/bin/python"
[ -x "$py" ] || { echo "check_gateway: no MCP SDK venv; run scripts/setup-mcp-clients" >&2; exit 2; }

work="$(mktemp -d -t mcp-gateway.XXXXXX)"
server=""
recorder=""
stop() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null
        wait "$server" 2>/dev/null
        server=""
    fi
}
stop_recorder() {
    if [ -n "$recorder" ]; then
        kill "$recorder" 2>/dev/null
        wait "$recorder" 2>/dev/null
        recorder=""
    fi
}
trap 'stop; stop_recorder' EXIT
fail() {
    stop
    echo "check_gateway: $*" >&2
    [ -s "$work/server.log" ] && sed 's/^/    server: /' "$work/server.log" >&2
    echo "check_gateway: logs and conformance results kept in $work" >&2
    exit 1
}

# The binary cargo test just built (a no-op then), found through cargo's own report.
gateway="$(cd "$repo" && cargo build --locked -q -p agent-gateway --bin gateway --message-format=json \
    | "$py" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gateway" and m.get("executable"):
        print(m["executable"])')"
[ -x "$gateway" ] || fail "cargo did not report a gateway binary"
# Our own link: another checkout building into a shared target folder replaces that path.
ln "$gateway" "$work/gateway" 2>/dev/null || cp "$gateway" "$work/gateway" || fail "copying $gateway"
gateway="$work/gateway"

# The upstream the test_input_required_result_* tools write to once their
# caller confirms (docs/confirmations.md): answers every POST with 200 and
# logs one line per write it received.
recorder_port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$py" - "$recorder_port" >"$work/recorder.log" 2>&1 <<'PY' &
import http.server, sys
class Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        print("write", self.path, body.decode(errors="replace"), flush=True)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Recorder).serve_forever()
PY
recorder=$!

# The precompiled components outlive runs (content-addressed, so sharing is safe).
cat >"$work/gateway.toml" <<EOF
cache_dir = "$HOME/.cache/agent-gateway/test-artifacts/cwasm"
[outbound]
allow_private = ["127.0.0.1/32"]
[tools.test_input_required_result_elicitation.config]
recorder = "http://127.0.0.1:$recorder_port"
[tools.test_input_required_result_request_state.config]
recorder = "http://127.0.0.1:$recorder_port"
[tools.test_input_required_result_tampered_state.config]
recorder = "http://127.0.0.1:$recorder_port"
EOF
run_gateway=("$gateway" --config "$work/gateway.toml" --tools-dir "$here/tools" --fields-dir "$here/fields")

# gateway-test-programs' build.rs fills this folder during cargo test, so the
# cargo runs under `gateway tool build` find everything built.
guest_target="${GATEWAY_WASM_TARGET_DIR:-$HOME/.cache/agent-gateway/wasm-target}"
for dir in "$here"/tools/*/; do
    CARGO_TARGET_DIR="$guest_target" "${run_gateway[@]}" tool build "$dir" >"$work/build.log" 2>&1 \
        || { cat "$work/build.log" >&2; fail "gateway tool build $dir failed"; }
done

# A free port can be taken between asking and binding: try a few.
port=""
for _ in 1 2 3; do
    port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${run_gateway[@]}" serve --transport http --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 300); do
        kill -0 "$server" 2>/dev/null || break
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break 2
        sleep 0.1
    done
    stop
done
[ -n "$server" ] || fail "gateway serve did not start"
url="http://127.0.0.1:$port"
echo "check_gateway: gateway serve (test tools) at $url"

status=0
"$py" "$here/check_clients.py" "$url" \
    --stdio-command "$(printf '%q ' "${run_gateway[@]}" serve --transport stdio)" || status=1
CONFORMANCE_RESULTS="$work/conformance" "$here/run_conformance.sh" "$url/mcp" || status=1
"$py" "$here/check_confirm.py" "$here/client.py" "$url" "$work/recorder.log" || status=1
[ "$status" = 0 ] || fail "some checks failed (above)"
stop

# Team keys (docs/auth.md): the same tools behind [auth] mode = "keys"; the
# official client with a bearer key over /mcp and /sse sees and calls only
# its team's tools, and without a key gets 401.
cat >"$work/auth.toml" <<EOF
cache_dir = "$HOME/.cache/agent-gateway/test-artifacts/cwasm"
[auth]
mode = "keys"
keys_file = "$work/keys.toml"
[audit]
file = "$work/audit.jsonl"
EOF
key="$("$gateway" --config "$work/auth.toml" keys create --team demo --tools 'test_simple_*' 2>/dev/null)"
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$gateway" --config "$work/auth.toml" --tools-dir "$here/tools" serve --transport http --host 127.0.0.1 --port "$port" \
    >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
"$py" "$here/check_auth.py" "$here/client.py" "http://127.0.0.1:$port" "$key" || fail "team keys (above)"
stop
# The audit trail of those calls: one line each, chained, without the key.
"$gateway" audit verify "$work/audit.jsonl" || fail "the audit trail does not verify"
"$py" - "$work/audit.jsonl" "$key" <<'PY' || fail "the audit trail (above)"
import json, sys
path, key = sys.argv[1:]
text = open(path).read()
calls = [(l["principal"].split(":")[0], l["team"], l["tool"], l["outcome"])
         for l in map(json.loads, text.splitlines()) if l["kind"] == "call"]
want = [("key", "demo", "test_simple_text", "ok"), ("key", "demo", "test_logging_tool", "unknown_tool")] * 2
ok = calls == want and key not in text and "agw_" not in text
print(("ok    " if ok else "FAIL  ") + "audit: one line per call, the key id only")
if not ok:
    print(f"audit: got {calls!r}, want {want!r}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
rm -rf "$work"

#!/usr/bin/env bash
# Checks the real-client harness itself: starts reference_server.py (the
# official Python SDK's server) on a free loopback port and runs both real
# clients against it, the Python SDK (check_clients.py) and the conformance
# suite (run_conformance.sh). Everything must pass there before a failure
# against `gateway serve` can be blamed on the gateway.
# Needs scripts/setup-mcp-clients. Exits 1 if anything failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="$HOME/.cache/agent-gateway/mcp-venv/bin/python"
[ -x "$py" ] || { echo "selftest: no MCP SDK venv; run scripts/setup-mcp-clients" >&2; exit 2; }

logs="$(mktemp -d -t mcp-selftest.XXXXXX)"
"$py" "$here/reference_server.py" >"$logs/url" 2>"$logs/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT

url=""
for _ in $(seq 100); do
    url="$(head -n1 "$logs/url")"
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "selftest: the reference server did not start:" >&2
    cat "$logs/server.log" >&2
    exit 1
fi
echo "selftest: reference server (mcp SDK) at $url"

status=0
"$py" "$here/check_clients.py" "$url" --stdio-command "$(printf "%q %q --stdio" "$py" "$here/reference_server.py")" || status=1
CONFORMANCE_RESULTS="$logs/conformance" "$here/run_conformance.sh" "$url/mcp" || status=1
if [ "$status" = 0 ]; then
    rm -rf "$logs"
else
    echo "selftest: reference server log:"
    sed 's/^/    /' "$logs/server.log"
    echo "selftest: logs and conformance results kept in $logs"
fi
exit "$status"

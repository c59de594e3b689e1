#!/bin/sh
# The container's entrypoint (docs/deploy.md, "The image"): resolves the
# gateway's settings from the environment and replaces itself with
# `gateway serve`, so the gateway is PID 1 and SIGTERM reaches it directly
# (the graceful drain: README, "SIGTERM or SIGINT stops `gateway serve`").
#
#   entrypoint.sh [serve flags...]   gateway serve, configured from the environment
#   entrypoint.sh healthcheck        exit 0 when GET /healthz answers 2xx (the image's HEALTHCHECK)
#   entrypoint.sh COMMAND [args...]  any other gateway command (keys, tools, fields, audit, ...)
#
# Environment (defaults are the image's):
#   GATEWAY_BIN              the gateway binary                      [/usr/local/bin/gateway]
#   GATEWAY_CONFIG           gateway.toml; used when the file exists [/etc/agent-gateway/gateway.toml]
#   GATEWAY_TOOLS_DIR        the tools folder                        [/srv/agent-gateway/tools]
#   GATEWAY_FIELDS_DIR       the field registry                      [/srv/agent-gateway/fields]
#   MCP_TRANSPORT            http (Streamable HTTP /mcp + legacy /sse) or sse or stdio [http]
#   MCP_SERVER_HOST          address to bind                         [0.0.0.0]
#   MCP_SERVER_PORT          port                                    [8000]
#   GATEWAY_ALLOWED_HOSTS    Host values beyond loopback, separated by commas or spaces
#   GATEWAY_ALLOWED_ORIGINS  browser Origins to accept, likewise
#   XDG_CACHE_HOME           the compiled-component cache lives in $XDG_CACHE_HOME/agent-gateway [/var/cache]
# The gateway itself also reads MCP_SERVER_NAME, GATEWAY_SHUTDOWN_GRACE_MS,
# GATEWAY_ADMIN_KEY / GATEWAY_ADMIN_KEY_FILE, GATEWAY_ADMIN_LISTEN and
# GATEWAY_LOG; they pass through untouched.
#
# Binding 0.0.0.0 needs [auth] in gateway.toml (team keys or OAuth): without
# it `gateway serve` refuses to start and says why (docs/auth.md).
set -eu

gateway="${GATEWAY_BIN:-/usr/local/bin/gateway}"

die() {
    echo "entrypoint: $*" >&2
    exit 64
}

healthcheck() {
    port="${MCP_SERVER_PORT:-8000}"
    host="${MCP_SERVER_HOST:-0.0.0.0}"
    case "$host" in
        0.0.0.0 | "" | :: | "[::]") target="127.0.0.1" ;;
        *:*) target="[${host#[}"; target="${target%]}]" ;;
        *) target="$host" ;;
    esac
    # The request names a loopback Host (always accepted by the Host check)
    # and connects to wherever the gateway listens.
    exec curl --fail --silent --show-error --output /dev/null --max-time 3 \
        --connect-to "localhost:$port:$target:$port" "http://localhost:$port/healthz"
}

case "${1:-}" in
    healthcheck)
        healthcheck
        ;;
    "" | -*)
        ;; # serve, below
    serve)
        shift
        ;;
    *)
        exec "$gateway" "$@"
        ;;
esac

: "${MCP_TRANSPORT:=http}"
: "${MCP_SERVER_HOST:=0.0.0.0}"
: "${MCP_SERVER_PORT:=8000}"
: "${GATEWAY_TOOLS_DIR:=/srv/agent-gateway/tools}"
: "${GATEWAY_FIELDS_DIR:=/srv/agent-gateway/fields}"
: "${XDG_CACHE_HOME:=/var/cache}"
export MCP_TRANSPORT MCP_SERVER_HOST MCP_SERVER_PORT GATEWAY_TOOLS_DIR GATEWAY_FIELDS_DIR XDG_CACHE_HOME

case "$MCP_SERVER_PORT" in
    "" | *[!0-9]*) die "MCP_SERVER_PORT must be a port number, not '$MCP_SERVER_PORT'" ;;
esac
case "$MCP_TRANSPORT" in
    http | sse | stdio) ;;
    *) die "MCP_TRANSPORT must be http, sse or stdio, not '$MCP_TRANSPORT'" ;;
esac

if [ -n "${GATEWAY_CONFIG:-}" ]; then
    [ -f "$GATEWAY_CONFIG" ] || die "GATEWAY_CONFIG names $GATEWAY_CONFIG, which is not a file"
    export GATEWAY_CONFIG
elif [ -f /etc/agent-gateway/gateway.toml ]; then
    GATEWAY_CONFIG=/etc/agent-gateway/gateway.toml
    export GATEWAY_CONFIG
fi

[ -d "$GATEWAY_TOOLS_DIR" ] || die "the tools folder $GATEWAY_TOOLS_DIR does not exist: mount it, or set GATEWAY_TOOLS_DIR"

# Writable places on a read-only root filesystem: the cache (a volume).
mkdir -p "$XDG_CACHE_HOME/agent-gateway" 2>/dev/null || true
[ -w "$XDG_CACHE_HOME/agent-gateway" ] \
    || echo "entrypoint: warning: $XDG_CACHE_HOME/agent-gateway is not writable; every component compiles at each start" >&2

# Lists become repeated flags, ahead of the caller's own (no globbing of `*`).
set -f
lists=""
for host in $(printf '%s' "${GATEWAY_ALLOWED_HOSTS:-}" | tr ',' ' '); do
    lists="$lists --allowed-host $host"
done
for origin in $(printf '%s' "${GATEWAY_ALLOWED_ORIGINS:-}" | tr ',' ' '); do
    lists="$lists --allowed-origin $origin"
done

# shellcheck disable=SC2086 # $lists is words by design: flag, value, flag, value
exec "$gateway" serve $lists "$@"

# Sourced by the scripts: one cargo target directory that outlives clones
# (a clean wasmtime build takes ~20 minutes on 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/agent-gateway/target}"
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 \
    && rustup toolchain list 2>/dev/null | grep -q '^debian-web'; then
    export GATEWAY_GUEST_CARGO="${GATEWAY_GUEST_CARGO:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/guest-cargo-debian}"
fi
export GATEWAY_COMPONENTIZE_PY="${GATEWAY_COMPONENTIZE_PY:-$HOME/.cache/agent-gateway/venv/bin/componentize-py}"

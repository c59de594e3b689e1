# syntax=docker/dockerfile:1
# The gateway's container image (docs/deploy.md, "The image").
#
#   docker build -t agent-gateway:0.1.0 .
#
# Two stages: a pinned Rust image builds `gateway` (release), a pinned
# debian-slim runs it as a fixed non-root user. The root filesystem can be
# read-only: everything the gateway writes is a declared volume (the
# compiled-component cache and /tmp). Pin the base images by digest in your
# CI (`FROM rust:1.95.0-slim-bookworm@sha256:...`) once you have pulled them.
#
# Paths (mount what you need):
#   /etc/agent-gateway/gateway.toml   the configuration (a ConfigMap), read when present
#   /srv/agent-gateway/tools          the tools folder (GATEWAY_TOOLS_DIR), read-only
#   /srv/agent-gateway/fields         the field registry (GATEWAY_FIELDS_DIR), read-only
#   /var/cache/agent-gateway          compiled components (volume, writable)
#   /tmp                              scratch (volume, writable)

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=debian:12.12-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# The workspace (host and its test programs' manifest) and what host/build.rs
# embeds (guest-sdk/rust/wit, guest-sdk/python); .dockerignore keeps the rest out.
COPY Cargo.toml Cargo.lock ./
COPY host ./host
COPY guest-sdk ./guest-sdk
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p agent-gateway --bin gateway \
    && install -D -m 0755 target/release/gateway /out/gateway

FROM ${RUNTIME_IMAGE} AS runtime
ARG GATEWAY_UID=10001
# curl: the HEALTHCHECK's client (entrypoint.sh healthcheck). Versions are
# whatever the pinned base image's release carries (see .hadolint.yaml).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid "${GATEWAY_UID}" gateway \
    && useradd --uid "${GATEWAY_UID}" --gid "${GATEWAY_UID}" --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin gateway \
    && mkdir -p /etc/agent-gateway /srv/agent-gateway/tools /srv/agent-gateway/fields \
        /var/cache/agent-gateway \
    && chown "${GATEWAY_UID}:${GATEWAY_UID}" /var/cache/agent-gateway
COPY --from=builder /out/gateway /usr/local/bin/gateway
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/entrypoint.sh

ENV MCP_TRANSPORT=http \
    MCP_SERVER_HOST=0.0.0.0 \
    MCP_SERVER_PORT=8000 \
    GATEWAY_TOOLS_DIR=/srv/agent-gateway/tools \
    GATEWAY_FIELDS_DIR=/srv/agent-gateway/fields \
    XDG_CACHE_HOME=/var/cache \
    GATEWAY_LOG=info

USER ${GATEWAY_UID}:${GATEWAY_UID}
WORKDIR /srv/agent-gateway
VOLUME ["/var/cache/agent-gateway", "/tmp"]
EXPOSE 8000
# The gateway drains on SIGTERM (calls in flight finish, exit 0) within
# GATEWAY_SHUTDOWN_GRACE_MS (25 s by default): give `docker stop` more,
# e.g. `docker stop --time 30`.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD []

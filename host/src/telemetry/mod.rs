//! Running the gateway like infrastructure (docs/observability.md):
//! Prometheus metrics at `/metrics` ([`metrics`]), `/healthz` and
//! `/readyz` ([`health`]), traces over OTLP ([`trace`]), and the one line
//! each call leaves in the log ([`CallLine`], written by [`logs`]).
//!
//! The three endpoints pass the front door's Host check on the MCP
//! listener but not its authentication: a probe or a scraper carries no
//! team key. `[metrics] listen` moves `/metrics` to a listener of its own.

pub mod health;
pub mod logs;
pub mod metrics;
pub mod trace;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::mcp::Gateway;
use crate::shutdown::Shutdown;

/// The paths the front door lets through without credentials.
pub const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

#[derive(Clone)]
struct Probes {
    gateway: Arc<Gateway>,
    shutdown: Shutdown,
}

/// `/healthz` and `/readyz`, and `/metrics` when `with_metrics`, for the
/// MCP listener.
pub fn routes(gateway: Arc<Gateway>, shutdown: Shutdown, with_metrics: bool) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if with_metrics {
        router = router.route("/metrics", get(metrics_text));
    }
    router.with_state(Probes { gateway, shutdown })
}

async fn healthz() -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "alive" })),
    )
        .into_response()
}

async fn readyz(State(probes): State<Probes>) -> Response {
    // From the first signal (the shutdown delay announces it) to the end.
    let draining =
        probes.shutdown.draining().is_cancelled() || probes.shutdown.stop().is_cancelled();
    match probes.gateway.readiness.check(draining) {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ready" })),
        )
            .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "not_ready",
                "reason": reason,
                "message": reason.describe(),
            })),
        )
            .into_response(),
    }
}

async fn metrics_text(State(probes): State<Probes>) -> Response {
    render(&probes.gateway)
}

fn render(gateway: &Gateway) -> Response {
    let text = gateway.metrics.render(
        gateway.catalog.current().len(),
        gateway.upstreams.current().len(),
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

/// Serves `/metrics` alone on `listener` (`[metrics] listen`) until
/// `shutdown` stops. No Host check here: a scraper names the pod by its
/// address, and this port is meant to be reachable only by it.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(gateway): State<Arc<Gateway>>| async move { render(&gateway) }),
        )
        .with_state(gateway);
    let stop = shutdown.stop().clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

/// The line one call leaves in the log (target `gateway::calls`, level
/// info): request id, tool, team, outcome, duration and bytes, as typed
/// fields (numbers are numbers in `--log-format json`).
#[derive(Debug, Clone, Copy)]
pub struct CallLine<'a> {
    /// The gateway's request id (the audit line's too).
    pub request_id: &'a str,
    /// The tool as the request named it (the metrics say `""` for a name
    /// no tool is served under; the log keeps what was asked for).
    pub requested: &'a str,
    /// The call as recorded in the metrics.
    pub call: &'a metrics::CallRecord<'a>,
}

impl CallLine<'_> {
    /// Whether anyone reads call lines: only then is a request id made.
    pub fn wanted() -> bool {
        logs::call_lines().is_some()
            || tracing::enabled!(target: "gateway::calls", tracing::Level::INFO)
    }

    /// Writes the line: straight into the batched JSON log when it carries
    /// call lines (the same fields, one JSON object), else as a `tracing`
    /// event for whatever log is configured.
    pub fn emit(&self) {
        let call = self.call;
        if let Some((batch, format)) = logs::call_lines() {
            let line = match format {
                logs::CallLineFormat::Json => self.json(),
                logs::CallLineFormat::Text => self.text(),
            };
            batch.push(&line);
            return;
        }
        tracing::info!(
            target: "gateway::calls",
            request_id = self.request_id,
            tool = self.requested,
            team = call.team,
            outcome = call.outcome,
            duration_ms = call.duration.as_secs_f64() * 1000.0,
            upstream_bytes = call.upstream_bytes,
            output_bytes = call.output_bytes,
            "tool call"
        );
    }

    /// The line as the default text log writes it, newline included:
    /// timestamp, level, target, message and `key=value` fields (strings
    /// quoted and escaped as `{:?}` writes them), without colours.
    pub fn text(&self) -> Vec<u8> {
        use std::io::Write;
        let call = self.call;
        let mut out = Vec::with_capacity(200);
        // Writing into a Vec cannot fail.
        let _ = writeln!(
            out,
            "{}  INFO gateway::calls: tool call request_id={:?} tool={:?} team={:?} outcome={:?} duration_ms={} upstream_bytes={} output_bytes={}",
            crate::audit::Timestamp::now(),
            self.request_id,
            self.requested,
            call.team,
            call.outcome,
            call.duration.as_secs_f64() * 1000.0,
            call.upstream_bytes,
            call.output_bytes,
        );
        out
    }

    /// The line as `--log-format json` writes it, newline included: the
    /// shape tracing-subscriber's flattened JSON gives any other event.
    pub fn json(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            timestamp: String,
            level: &'static str,
            message: &'static str,
            request_id: &'a str,
            tool: &'a str,
            team: &'a str,
            outcome: &'a str,
            duration_ms: f64,
            upstream_bytes: u64,
            output_bytes: u64,
            target: &'static str,
        }
        let call = self.call;
        let line = Json {
            timestamp: crate::audit::Timestamp::now().to_string(),
            level: "INFO",
            message: "tool call",
            request_id: self.request_id,
            tool: self.requested,
            team: call.team,
            outcome: call.outcome,
            duration_ms: call.duration.as_secs_f64() * 1000.0,
            upstream_bytes: call.upstream_bytes,
            output_bytes: call.output_bytes,
            target: "gateway::calls",
        };
        let mut out = Vec::with_capacity(256);
        // Serialising plain strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &line);
        out.push(b'\n');
        out
    }
}

//! The gateway's Prometheus metrics (docs/observability.md lists each one).
//!
//! Every label value comes from something the operator controls: a tool
//! name from the catalog (or `""` for a call naming no served tool), a team
//! from `[auth.teams]` or the keys file, an outcome from the gateway's own
//! codes, a change kind from [`crate::hotload`]. Nothing a client sends
//! becomes a label, so the number of series stays bounded.
//!
//! Recording is atomic adds on handles a [`Family`] hands out under a read
//! lock; no lock is held across a call.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The labels of a call counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: String,
    team: String,
    outcome: &'static str,
}

/// The labels of the per-tool series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    team: String,
}

/// The label of the hot-load series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// The label of the build info series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Upper bounds of the call duration buckets, in seconds: from a warm
/// sandbox call (~100 µs) to an upstream near its deadline (30 s).
const DURATION_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// The kinds of hot-load change counted (an unchanged tool is not a change).
const CHANGE_KINDS: [&str; 3] = ["added", "replaced", "removed"];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric the gateway keeps, and the registry that exposes them.
pub struct Metrics {
    /// Off (`[metrics] enabled = false`): nothing is recorded.
    off: std::sync::atomic::AtomicBool,
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    duration: Family<ToolLabels, Histogram, fn() -> Histogram>,
    upstream_bytes: Family<ToolLabels, Counter>,
    output_bytes: Family<ToolLabels, Counter>,
    in_flight: Family<ToolLabels, Gauge>,
    changes: Family<KindLabels, Counter>,
    refusals: Family<KindLabels, Counter>,
    catalog_tools: Gauge,
    upstream_tools: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, every family registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "gateway_tool_calls",
            "Tool calls by tool, team and outcome code (ok, tool_error, rate_limited, unknown_tool, ...); refused calls included",
            calls.clone(),
        );
        let duration = Family::<ToolLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "gateway_tool_call_duration_seconds",
            "Duration of the tool calls that ran (refusals excluded), from the handler taking them to their result, by tool and team",
            duration.clone(),
        );
        let upstream_bytes = Family::<ToolLabels, Counter>::default();
        registry.register(
            "gateway_tool_upstream_bytes",
            "Bytes tools received from upstream APIs (or upstream MCP servers), by tool and team",
            upstream_bytes.clone(),
        );
        let output_bytes = Family::<ToolLabels, Counter>::default();
        registry.register(
            "gateway_tool_output_bytes",
            "Bytes of tool results returned to agents, by tool and team",
            output_bytes.clone(),
        );
        let in_flight = Family::<ToolLabels, Gauge>::default();
        registry.register(
            "gateway_tool_calls_in_flight",
            "Tool calls running now, by tool and team",
            in_flight.clone(),
        );
        let changes = Family::<KindLabels, Counter>::default();
        registry.register(
            "gateway_hotload_changes",
            "Tools added, replaced or removed while serving, by kind",
            changes.clone(),
        );
        let refusals = Family::<KindLabels, Counter>::default();
        registry.register(
            "gateway_hotload_refusals",
            "Tool changes refused while serving (the previous version kept), by kind",
            refusals.clone(),
        );
        // Every kind is exposed from the start, at 0, so a rate over the
        // first change is right and a dashboard finds the series.
        for kind in CHANGE_KINDS {
            let _ = changes.get_or_create(&KindLabels { kind });
        }
        for kind in crate::hotload::REFUSAL_KINDS {
            let _ = refusals.get_or_create(&KindLabels { kind });
        }
        let catalog_tools = Gauge::default();
        registry.register(
            "gateway_catalog_tools",
            "Promoted tools served from the tools folder",
            catalog_tools.clone(),
        );
        let upstream_tools = Gauge::default();
        registry.register(
            "gateway_upstream_tools",
            "Tools of upstream MCP servers served",
            upstream_tools.clone(),
        );
        let build = Family::<VersionLabels, Gauge>::default();
        build
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "gateway_build_info",
            "Always 1; the version label names the gateway's build",
            build,
        );
        Self {
            off: std::sync::atomic::AtomicBool::new(false),
            registry,
            calls,
            duration,
            upstream_bytes,
            output_bytes,
            in_flight,
            changes,
            refusals,
            catalog_tools,
            upstream_tools,
        }
    }

    /// Stops recording (`[metrics] enabled = false`).
    pub fn turn_off(&self) {
        self.off.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_off(&self) -> bool {
        self.off.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a call of `tool` (`""` when it names no served tool) by the
    /// caller's `team` as in flight until the guard is dropped.
    pub fn enter(&self, tool: &str, team: &str) -> Option<InFlight> {
        if self.is_off() {
            return None;
        }
        let gauge = self.in_flight.get_or_create_owned(&ToolLabels {
            tool: tool.to_owned(),
            team: team.to_owned(),
        });
        gauge.inc();
        Some(InFlight(gauge))
    }

    /// Records one finished (or refused) call.
    pub fn record_call(&self, call: &CallRecord<'_>) {
        if self.is_off() {
            return;
        }
        let tool = ToolLabels {
            tool: call.tool.to_owned(),
            team: call.team.to_owned(),
        };
        // Latency is of calls that ran: a refusal's microseconds would
        // pull a tool's percentiles down.
        if call.ran {
            self.duration
                .get_or_create(&tool)
                .observe(call.duration.as_secs_f64());
        }
        // Both byte series exist for every tool called, zero or not, so
        // "upstream minus returned" has both sides.
        self.upstream_bytes
            .get_or_create(&tool)
            .inc_by(call.upstream_bytes);
        self.output_bytes
            .get_or_create(&tool)
            .inc_by(call.output_bytes);
        let ToolLabels { tool, team } = tool;
        self.calls
            .get_or_create(&CallLabels {
                tool,
                team,
                outcome: call.outcome,
            })
            .inc();
    }

    /// Records a hot-load change (`added`, `replaced`, `removed`).
    pub fn record_change(&self, kind: &'static str) {
        self.changes.get_or_create(&KindLabels { kind }).inc();
    }

    /// Records a refused hot-load change by kind (see
    /// [`crate::hotload::LoaderError::kind`]).
    pub fn record_refusal(&self, kind: &'static str) {
        self.refusals.get_or_create(&KindLabels { kind }).inc();
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, with
    /// the catalog and upstream gauges set to `catalog_tools` and
    /// `upstream_tools` first.
    pub fn render(&self, catalog_tools: usize, upstream_tools: usize) -> String {
        self.catalog_tools
            .set(i64::try_from(catalog_tools).unwrap_or(i64::MAX));
        self.upstream_tools
            .set(i64::try_from(upstream_tools).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// What one call leaves in the metrics.
#[derive(Debug, Clone, Copy)]
pub struct CallRecord<'a> {
    /// The tool's name, or `""` for a call naming no served tool.
    pub tool: &'a str,
    /// The caller's team, or `""`.
    pub team: &'a str,
    /// The call's outcome code.
    pub outcome: &'static str,
    /// Whether it was admitted and ran (false for a refusal).
    pub ran: bool,
    /// From admission to result.
    pub duration: Duration,
    /// Bytes from upstream APIs.
    pub upstream_bytes: u64,
    /// Bytes of the result.
    pub output_bytes: u64,
}

/// One call in flight; dropping it ends its count.
#[derive(Debug)]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_counts_once_under_its_labels_and_in_flight_returns_to_zero() {
        let metrics = Metrics::new();
        {
            let _flying = metrics.enter("echo", "red");
            assert_eq!(
                metrics
                    .in_flight
                    .get_or_create(&ToolLabels {
                        tool: "echo".into(),
                        team: "red".into()
                    })
                    .get(),
                1
            );
            metrics.record_call(&CallRecord {
                tool: "echo",
                team: "red",
                outcome: "ok",
                ran: true,
                duration: Duration::from_millis(2),
                upstream_bytes: 900,
                output_bytes: 100,
            });
        }
        let labels = ToolLabels {
            tool: "echo".into(),
            team: "red".into(),
        };
        assert_eq!(metrics.in_flight.get_or_create(&labels).get(), 0);
        assert_eq!(metrics.upstream_bytes.get_or_create(&labels).get(), 900);
        assert_eq!(metrics.output_bytes.get_or_create(&labels).get(), 100);
        assert_eq!(
            metrics
                .calls
                .get_or_create(&CallLabels {
                    tool: "echo".into(),
                    team: "red".into(),
                    outcome: "ok"
                })
                .get(),
            1
        );
        let _text = metrics.render(3, 0);
        assert_eq!(metrics.catalog_tools.get(), 3);
    }
}

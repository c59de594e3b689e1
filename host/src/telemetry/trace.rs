//! Traces over OTLP/HTTP (docs/observability.md): each `tools/call` span
//! (and, with `sandbox_spans`, the sandbox's `call` span inside it) exported
//! as an OpenTelemetry span, with the W3C `traceparent` of the request's
//! `_meta` as its parent. Off unless `[telemetry] otlp_endpoint` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The spans are made with the OpenTelemetry SDK's tracer directly, not
//! through `tracing`: a call starts one span and ends it with its outcome,
//! and nothing is done on each poll of the call's future.
//!
//! The batches are sent with the gateway's own hyper on its tokio runtime:
//! the SDK's batch processor runs on a thread of its own and hands each
//! request to [`HyperOtlp`], which runs it as a task there.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::settings::TelemetrySettings;

/// The `service.name` unless one is configured.
pub const DEFAULT_SERVICE_NAME: &str = "agent-gateway";

/// How long one export may take, connecting included.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest collector answer read (an OTLP answer is a few bytes).
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// The standard environment variables naming the collector.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// An endpoint the exporter cannot reach (only `http://` is spoken).
    #[error(
        "OTLP endpoint {0:?}: only http:// endpoints are supported (send to a collector beside the gateway)"
    )]
    Endpoint(String),
    /// The OpenTelemetry exporter refused its configuration.
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Where spans go: the environment's endpoint (the OpenTelemetry SDK reads
/// it, appending `/v1/traces` to `OTEL_EXPORTER_OTLP_ENDPOINT`) over the
/// file's; `None` when neither is set.
fn endpoint(settings: &TelemetrySettings) -> Result<Option<(String, bool)>, TraceError> {
    for var in ENDPOINT_VARS {
        if let Ok(value) = std::env::var(var)
            && !value.trim().is_empty()
        {
            check_scheme(&value)?;
            return Ok(Some((value, true)));
        }
    }
    match settings.otlp_endpoint.as_deref().map(str::trim) {
        Some(base) if !base.is_empty() => {
            check_scheme(base)?;
            Ok(Some((
                format!("{}/v1/traces", base.trim_end_matches('/')),
                false,
            )))
        }
        _ => Ok(None),
    }
}

fn check_scheme(endpoint: &str) -> Result<(), TraceError> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| TraceError::Endpoint(endpoint.to_owned()))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(TraceError::Endpoint(endpoint.to_owned()));
    }
    Ok(())
}

/// The tracer provider exporting to the configured collector, or `None`
/// when traces are off. Must be called within the tokio runtime the
/// exports will run on.
pub fn provider(settings: &TelemetrySettings) -> Result<Option<SdkTracerProvider>, TraceError> {
    let Some((endpoint, from_env)) = endpoint(settings)? else {
        return Ok(None);
    };
    let client = HyperOtlp {
        runtime: tokio::runtime::Handle::current(),
    };
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT);
    if !from_env {
        builder = builder.with_endpoint(endpoint.clone());
    }
    let exporter = builder.build()?;
    let service = settings
        .service_name
        .clone()
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// The tracer the calls' spans are made with, and whether a sandbox run
/// gets a span of its own (`[telemetry] sandbox_spans`).
#[derive(Debug, Clone)]
pub struct Traces {
    tracer: SdkTracer,
    sandbox_spans: bool,
}

impl Traces {
    /// Spans from `provider`'s tracer.
    pub fn new(provider: &SdkTracerProvider, sandbox_spans: bool) -> Self {
        use opentelemetry::trace::TracerProvider as _;
        Self {
            tracer: provider.tracer("agent-gateway"),
            sandbox_spans,
        }
    }

    /// Starts the span of one `tools/call` for `tool` called by `team`,
    /// under `parent` (the request's `traceparent`) or as a new trace. The
    /// sampler decides here: an unsampled span records nothing.
    pub fn call(&self, parent: Option<opentelemetry::Context>, tool: &str, team: &str) -> CallSpan {
        let parent = parent.unwrap_or_default();
        let builder = self
            .tracer
            .span_builder("tools/call")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("tool", tool.to_owned()),
                KeyValue::new("team", team.to_owned()),
            ]);
        let span = self.tracer.build_with_context(builder, &parent);
        let recording = span.is_recording();
        CallSpan {
            context: parent.with_span(span),
            sandbox: (recording && self.sandbox_spans).then(|| self.tracer.clone()),
        }
    }
}

/// The span of one `tools/call`, ended by [`CallSpan::finish`] (or, if the
/// call is dropped first, when this is).
#[derive(Debug)]
pub struct CallSpan {
    context: opentelemetry::Context,
    /// The tracer of the sandbox's child span, when it is exported.
    sandbox: Option<SdkTracer>,
}

impl CallSpan {
    /// Whether the span is sampled: only then are its attributes worth
    /// making.
    pub fn is_recording(&self) -> bool {
        self.context.span().is_recording()
    }

    /// Ends the span with how the call ended. An outcome other than `ok` is
    /// the span's error status too.
    pub fn finish(
        &self,
        outcome: &'static str,
        request_id: Option<&str>,
        upstream: u64,
        output: u64,
    ) {
        let span = self.context.span();
        if !span.is_recording() {
            return;
        }
        let mut attributes = ended(outcome, upstream, output);
        if let Some(id) = request_id {
            attributes.push(KeyValue::new("request_id", id.to_owned()));
        }
        span.set_attributes(attributes);
        if let Some(status) = error_status(outcome) {
            span.set_status(status);
        }
        span.end();
    }

    /// Where the sandbox's own span goes, when `sandbox_spans` exports it.
    pub fn sandbox(&self) -> Option<SandboxSpans> {
        self.sandbox.as_ref().map(|tracer| SandboxSpans {
            tracer: tracer.clone(),
            parent: self.context.clone(),
        })
    }
}

/// Starts a sandbox run's `call` span as a child of its `tools/call` span.
#[derive(Debug, Clone)]
pub struct SandboxSpans {
    tracer: SdkTracer,
    parent: opentelemetry::Context,
}

impl SandboxSpans {
    /// The span of running `tool` (definition digest `definition`).
    pub fn start(&self, tool: &str, definition: &str) -> SandboxSpan {
        let builder = self.tracer.span_builder("call").with_attributes([
            KeyValue::new("tool", tool.to_owned()),
            KeyValue::new("definition", definition.to_owned()),
        ]);
        SandboxSpan(self.tracer.build_with_context(builder, &self.parent))
    }
}

/// A sandbox run's span, ended by [`SandboxSpan::finish`].
#[derive(Debug)]
pub struct SandboxSpan(opentelemetry_sdk::trace::Span);

impl SandboxSpan {
    /// Ends the span with the run's outcome, duration and bytes.
    pub fn finish(mut self, outcome: &'static str, duration: Duration, upstream: u64, output: u64) {
        let mut attributes = ended(outcome, upstream, output);
        attributes.push(KeyValue::new(
            "duration_us",
            i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
        ));
        self.0.set_attributes(attributes);
        if let Some(status) = error_status(outcome) {
            self.0.set_status(status);
        }
        self.0.end();
    }
}

/// The attributes both spans end with: the outcome code and the bytes
/// (OTLP integers are signed; a count past `i64::MAX` is clamped).
fn ended(outcome: &'static str, upstream: u64, output: u64) -> Vec<KeyValue> {
    let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    vec![
        KeyValue::new("outcome", outcome),
        KeyValue::new("upstream_bytes", signed(upstream)),
        KeyValue::new("output_bytes", signed(output)),
    ]
}

/// An outcome other than `ok` is an error status naming it; `ok` leaves
/// the status unset, as OpenTelemetry asks of a server span that succeeded.
fn error_status(outcome: &'static str) -> Option<Status> {
    (outcome != "ok").then(|| Status::error(outcome))
}

/// Sends OTLP requests with hyper, one connection per batch, on the
/// gateway's runtime.
#[derive(Debug, Clone)]
pub struct HyperOtlp {
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for HyperOtlp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let task = self.runtime.spawn(async move {
            tokio::time::timeout(EXPORT_TIMEOUT, send(request))
                .await
                .map_err(|_| HttpError::from("OTLP export timed out"))?
        });
        task.await?
    }
}

async fn send(request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
    let (mut parts, body) = request.into_parts();
    let host = parts
        .uri
        .host()
        .ok_or_else(|| HttpError::from("OTLP endpoint without a host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parts.uri.port_u16().unwrap_or(80);
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_else(|| host.clone());
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    parts.uri = path.parse()?;
    parts
        .headers
        .insert(http::header::HOST, http::HeaderValue::from_str(&authority)?);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(http::Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_ANSWER_BYTES)
        .collect()
        .await?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// The OpenTelemetry parent named by a W3C `traceparent` (and
/// `tracestate`), when it is a valid one.
pub fn parent(traceparent: &str, tracestate: Option<&str>) -> Option<opentelemetry::Context> {
    use opentelemetry::propagation::TextMapPropagator;
    struct Carrier<'a> {
        traceparent: &'a str,
        tracestate: Option<&'a str>,
    }
    impl opentelemetry::propagation::Extractor for Carrier<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => Some(self.traceparent),
                "tracestate" => self.tracestate,
                _ => None,
            }
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }
    let context = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&Carrier {
        traceparent,
        tracestate,
    });
    context.span().span_context().is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceId;

    #[test]
    fn a_valid_traceparent_is_a_parent_and_a_bad_one_is_not() {
        let parent = parent(
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
            None,
        )
        .expect("valid traceparent");
        assert_eq!(
            parent.span().span_context().trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex")
        );
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "zz-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
            "00-0af7651916cd43dd8448eb211c80319c",
        ] {
            assert!(super::parent(bad, None).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn endpoints_must_be_http() {
        for (endpoint, ok) in [
            ("http://127.0.0.1:4318", true),
            ("https://collector:4318", false),
            ("collector:4318", false),
            ("not a url", false),
        ] {
            assert_eq!(check_scheme(endpoint).is_ok(), ok, "{endpoint}");
        }
    }
}

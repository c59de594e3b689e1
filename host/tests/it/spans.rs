//! A log reader can follow one call: every call runs in a `call` span that
//! names the tool and its definition and records the outcome and the bytes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gateway_test_programs::wat;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::harness::env;

/// The fields of every `call` span in the order they opened, and which
/// one a live span id names (ids are reused once a span closes).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Recorded>>);

#[derive(Default)]
struct Recorded {
    spans: Vec<BTreeMap<String, String>>,
    live: BTreeMap<u64, usize>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "call" {
            let mut fields = BTreeMap::new();
            attrs.record(&mut Fields(&mut fields));
            let mut recorded = self.0.lock().expect("spans");
            let index = recorded.spans.len();
            recorded.spans.push(fields);
            recorded.live.insert(id.into_u64(), index);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut recorded = self.0.lock().expect("spans");
        if let Some(&index) = recorded.live.get(&id.into_u64())
            && let Some(fields) = recorded.spans.get_mut(index)
        {
            values.record(&mut Fields(fields));
        }
    }
}

#[tokio::test]
async fn every_call_runs_in_a_span_naming_tool_definition_outcome_and_bytes() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = env();
    let echo = env.load("name = \"edge\"\n", wat::echo()).await;
    let input = json!({"text": "hello"}).to_string();
    let ok = env.runtime.call(&echo, &input).await;
    let trap = env.load("name = \"edge\"\n", wat::trap()).await;
    let failed = env.runtime.call(&trap, "{}").await;

    let recorded = spans.0.lock().expect("spans").spans.clone();
    assert_eq!(recorded.len(), 2, "one span per call: {recorded:?}");
    let (echo_span, trap_span) = (&recorded[0], &recorded[1]);
    for span in [echo_span, trap_span] {
        assert_eq!(span.get("tool").map(String::as_str), Some("edge"));
    }
    assert_eq!(
        echo_span.get("definition").map(String::as_str),
        echo.definition_sha256.get(..12)
    );
    assert_eq!(echo_span.get("outcome").map(String::as_str), Some("ok"));
    assert_eq!(
        echo_span.get("output_bytes"),
        Some(&ok.output_bytes.to_string())
    );
    assert_eq!(echo_span.get("upstream_bytes"), Some(&"0".to_string()));
    assert!(echo_span.contains_key("duration_us"));

    assert_eq!(
        trap_span.get("definition").map(String::as_str),
        trap.definition_sha256.get(..12)
    );
    let code = failed.result.as_ref().expect_err("traps").code();
    assert_eq!(trap_span.get("outcome").map(String::as_str), Some(code));
}

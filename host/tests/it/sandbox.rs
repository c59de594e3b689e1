//! The sandbox survives hostile components: each failure is typed and the
//! runtime keeps serving afterwards.

use std::time::Duration;

use gateway::runtime::cache::{CacheError, CacheOutcome};
use gateway::runtime::{CallError, LoadError};

use crate::harness::env;
use gateway_test_programs::wat;

const EDGE: &str = "name = \"edge\"\n";

#[tokio::test]
async fn hostile_components_fail_with_typed_errors_and_the_host_keeps_serving() {
    let env = env();
    let echo = env.load(EDGE, wat::echo()).await;

    let cases: Vec<(&str, Vec<u8>, &str, CallError)> = vec![
        (
            "infinite loop",
            wat::infinite_loop(),
            "[limits]\ntimeout_ms = 200\n",
            CallError::Timeout(Duration::from_millis(200)),
        ),
        (
            "memory bomb",
            wat::memory_bomb(),
            "[limits]\nmemory_mib = 16\n",
            CallError::MemoryExhausted(16 << 20),
        ),
        (
            "stack overflow",
            wat::stack_overflow(),
            "",
            CallError::StackOverflow,
        ),
        (
            "oversized output",
            wat::oversized_output(65536),
            "[limits]\noutput_bytes = 1024\n",
            CallError::OutputTooLarge {
                actual: 65536,
                limit: 1024,
            },
        ),
    ];
    for (what, component, limits, expected) in cases {
        let tool = env.load(&format!("{EDGE}{limits}"), component).await;
        let report = env.runtime.call(&tool, "{}").await;
        assert_eq!(report.result, Err(expected), "{what}");
        // After every failure a well-behaved tool still answers.
        let ok = env.runtime.call(&echo, r#"{"after":"ok"}"#).await;
        assert_eq!(
            ok.result,
            Ok(serde_json::json!({"after": "ok"})),
            "after {what}"
        );
    }

    let trap = env.load(EDGE, wat::trap()).await;
    let report = env.runtime.call(&trap, "{}").await;
    assert!(
        matches!(report.result, Err(CallError::Trap(_))),
        "{:?}",
        report.result
    );
    assert_eq!(report.result.as_ref().map_err(CallError::code), Err("trap"));
}

#[tokio::test]
async fn calls_are_independent_and_concurrent() {
    let env = env();
    let echo = std::sync::Arc::new(env.load(EDGE, wat::echo()).await);
    let runtime = std::sync::Arc::new(env.runtime);
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (rt, tool) = (runtime.clone(), echo.clone());
        tasks.push(tokio::spawn(async move {
            let input = format!(r#"{{"i":{i}}}"#);
            rt.call(&tool, &input).await.result
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.expect("join"), Ok(serde_json::json!({ "i": i })));
    }
}

#[tokio::test]
async fn input_must_be_a_json_object() {
    let env = env();
    let echo = env.load(EDGE, wat::echo()).await;
    for bad in ["[1,2]", "\"text\"", "{not json", ""] {
        let report = env.runtime.call(&echo, bad).await;
        assert!(
            matches!(report.result, Err(CallError::InvalidInput(_))),
            "{bad:?}: {:?}",
            report.result
        );
    }
    let huge = format!(
        r#"{{"x":"{}"}}"#,
        "a".repeat(gateway::runtime::MAX_INPUT_BYTES)
    );
    let report = env.runtime.call(&echo, &huge).await;
    assert!(matches!(report.result, Err(CallError::InvalidInput(_))));
}

#[tokio::test]
async fn bad_components_are_refused_at_load() {
    let env = env();
    let not_wasm = env.try_load(EDGE, b"definitely not wasm".to_vec()).await;
    assert!(
        matches!(
            not_wasm,
            Err(LoadError::Compile {
                source: CacheError::Compile(_),
                ..
            })
        ),
        "{not_wasm:?}"
    );

    let core_module = ::wat::parse_str("(module)").expect("module");
    let core = env.try_load(EDGE, core_module).await;
    assert!(matches!(core, Err(LoadError::Compile { .. })), "{core:?}");

    let no_exports = ::wat::parse_str("(component)").expect("component");
    let exports = env.try_load(EDGE, no_exports).await;
    assert!(
        matches!(exports, Err(LoadError::Exports { .. })),
        "{exports:?}"
    );

    let wants_sockets = ::wat::parse_str(
        r#"(component (import "acme:evil/backdoor" (instance (export "open" (func)))))"#,
    )
    .expect("component");
    let imports = env.try_load(EDGE, wants_sockets).await;
    assert!(
        matches!(imports, Err(LoadError::Imports { .. })),
        "{imports:?}"
    );
    // Wasmtime's reason is kept as the cause, not flattened into text.
    for refused in [&exports, &imports] {
        let refused = refused.as_ref().expect_err("refused");
        assert!(std::error::Error::source(refused).is_some(), "{refused:?}");
    }

    let renamed = env.try_load("name = \"other\"\n", wat::echo()).await;
    assert!(
        matches!(
            renamed,
            Err(LoadError::Definition {
                problem: gateway::runtime::definition::DefinitionProblem::NameMismatch { .. },
                ..
            })
        ),
        "{renamed:?}"
    );

    let describe_traps = env.try_load(EDGE, wat::describe_traps()).await;
    assert!(
        matches!(
            describe_traps,
            Err(LoadError::Describe {
                error: CallError::Trap(_),
                ..
            })
        ),
        "{describe_traps:?}"
    );
}

#[tokio::test]
async fn compiled_artifacts_are_cached_by_component_and_engine() {
    let env = env();
    let first = env.load(EDGE, wat::echo()).await;
    assert_eq!(first.cache, CacheOutcome::Compiled);
    let second = env.load(EDGE, wat::echo()).await;
    assert_eq!(second.cache, CacheOutcome::Hit);
    let artifact = env.runtime.cache().artifact_path(&first.component_sha256);
    assert!(artifact.is_file(), "{}", artifact.display());

    // A corrupted artifact is recompiled, never trusted. It is replaced by a
    // new file (as any writer must: a mapped artifact is never rewritten in place).
    std::fs::remove_file(&artifact).expect("remove");
    std::fs::write(&artifact, b"garbage").expect("corrupt");
    let third = env.load(EDGE, wat::echo()).await;
    assert_eq!(third.cache, CacheOutcome::Compiled);
    let ok = env.runtime.call(&third, r#"{"a":1}"#).await;
    assert_eq!(ok.result, Ok(serde_json::json!({"a": 1})));
}

#[tokio::test]
async fn an_artifact_compiled_into_the_fallback_cache_is_adopted_not_recompiled() {
    use std::os::unix::fs::PermissionsExt;
    // A build without the server's configuration compiled into its cache…
    let builder = env();
    let built = builder.load(EDGE, wat::echo()).await;
    assert_eq!(built.cache, CacheOutcome::Compiled);
    let fallback = builder.runtime.cache().dir().to_path_buf();
    // …which a gateway with a cache of its own reads on a miss.
    let served = crate::harness::env_with(|s| s.cache_fallback = Some(fallback.clone()));
    let adopted = served.load(EDGE, wat::echo()).await;
    assert_eq!(adopted.cache, CacheOutcome::Hit);
    assert!(
        served
            .runtime
            .cache()
            .artifact_path(&adopted.component_sha256)
            .is_file(),
        "copied into the gateway's own cache"
    );
    let ok = served.runtime.call(&adopted, r#"{"a":1}"#).await;
    assert_eq!(ok.result, Ok(serde_json::json!({"a": 1})));

    // A fallback others may write is not trusted: compiled, not adopted.
    std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let wary = crate::harness::env_with(|s| s.cache_fallback = Some(fallback.clone()));
    assert_eq!(
        wary.load(EDGE, wat::echo()).await.cache,
        CacheOutcome::Compiled
    );
}

#[tokio::test]
async fn guest_logs_and_stdio_are_captured_capped_and_reported() {
    use gateway::capability::log::{Level, LogLine, MAX_LINE_BYTES, Source};

    let env = env();
    let echo = env
        .load(
            "name = \"echo\"\n",
            crate::harness::component(gateway_test_programs::ECHO),
        )
        .await;
    let report = env
        .runtime
        .call(
            &echo,
            r#"{"text":"hi","log":"fetched 3 pages","print_bytes":200000}"#,
        )
        .await;
    assert_eq!(report.result, Ok(serde_json::json!({"text": "hi"})));
    assert!(report.logs.contains(&LogLine {
        level: Level::Info,
        source: Source::Log,
        message: "fetched 3 pages".into(),
    }));
    for (source, level) in [(Source::Stdout, Level::Info), (Source::Stderr, Level::Warn)] {
        let lines: Vec<&LogLine> = report.logs.iter().filter(|l| l.source == source).collect();
        assert_eq!(lines.len(), 1, "{source:?}: one (unterminated) line");
        assert_eq!(lines[0].level, level);
        // 200 000 bytes were printed; a line keeps at most MAX_LINE_BYTES.
        assert_eq!(lines[0].message.len(), MAX_LINE_BYTES);
    }

    // A panic is a trap, and its message reaches the logs through stderr.
    let report = env
        .runtime
        .call(&echo, r#"{"text":"x","panic":true}"#)
        .await;
    assert!(
        matches!(report.result, Err(CallError::Trap(_))),
        "{:?}",
        report.result
    );
    assert!(report.logs.iter().any(|l| l.source == Source::Stderr));
}

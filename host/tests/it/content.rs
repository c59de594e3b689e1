//! docs/content.md: a 0.2.0 tool's content blocks. A real tool (the
//! `pictures` guest) returning a PNG reaches the official MCP client
//! (`tests/mcp-clients/client.py` over `gateway serve --transport stdio`) as
//! an image block with its MIME type and bytes, after the JSON; a PNG
//! declared as JPEG, an SVG with a script and a result over the manifest's
//! `limits.content_bytes` come back as typed refusals (`isError`, a code),
//! with none of the tool's blocks; the meter counts the blocks' bytes.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use gateway::content::{BlockProblem, ContentError, Format, Kind};
use gateway::runtime::CallError;
use rmcp::model::ContentBlock;
use serde_json::Value;

use crate::harness::{component, env};

/// The guest's PNG (host/test-programs/guests/pictures/src/red.png).
const RED_PIXEL: &[u8] = include_bytes!("../../test-programs/guests/pictures/src/red.png");
/// The guest's manifest: `limits.content_bytes = 4096`.
const MANIFEST: &str = "name = \"pictures\"\n\n[limits]\ncontent_bytes = 4096\n";

/// A tools folder with the `pictures` tool, and a gateway.toml caching in it.
fn tools_folder() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let tools = root.path().join("tools");
    let tool = tools.join("pictures");
    std::fs::create_dir_all(&tool).expect("mkdir");
    std::fs::write(tool.join("tool.toml"), MANIFEST).expect("manifest");
    std::fs::copy(gateway_test_programs::PICTURES, tool.join("tool.wasm")).expect("component");
    let config = root.path().join("gateway.toml");
    let cache = crate::harness::shared_cache_dir().join("cwasm");
    std::fs::write(
        &config,
        format!("cache_dir = {:?}\n", cache.display().to_string()),
    )
    .expect("config");
    (root, tools, config)
}

/// `client.py call pictures {"case": case}` over stdio against a real
/// `gateway serve`: the result as the official client read it.
async fn call_with_official_client(tools: &Path, config: &Path, case: &str) -> Value {
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp-clients/client.py");
    let command = format!(
        "{} --config {} --tools-dir {} serve --transport stdio",
        env!("CARGO_BIN_EXE_gateway"),
        config.display(),
        tools.display()
    );
    let input = serde_json::json!({ "case": case }).to_string();
    let python = crate::upstream_mcp::python();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(client)
            .args(["--transport", "stdio", "--timeout", "60", "--command"])
            .arg(command)
            .args(["call", "pictures"])
            .arg(input)
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_TOOLS_DIR")
            .output()
            .expect("run client.py")
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "client.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("client.py prints one JSON object")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_png_reaches_the_official_client_as_an_image_block_and_bad_blocks_are_refused() {
    let (_root, tools, config) = tools_folder();

    let ok = call_with_official_client(&tools, &config, "png").await;
    assert_eq!(ok["isError"], Value::Bool(false));
    assert_eq!(ok["structuredContent"]["case"], "png");
    let content = ok["content"].as_array().expect("content");
    // The JSON text first, then the tool's blocks in its order.
    assert_eq!(content.len(), 3, "{content:?}");
    assert_eq!(content[1], "a red pixel");
    assert_eq!(content[2]["type"], "image");
    assert_eq!(content[2]["mimeType"], "image/png");
    let data = content[2]["data"].as_str().expect("base64 data");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64");
    assert_eq!(bytes, RED_PIXEL);

    for (case, code) in [
        ("png_as_jpeg", "invalid_content"),
        ("svg_script", "invalid_content"),
        ("big", "output_too_large"),
    ] {
        let refused = call_with_official_client(&tools, &config, case).await;
        assert_eq!(refused["isError"], Value::Bool(true), "{case}");
        assert_eq!(
            refused["structuredContent"]["error"]["code"], code,
            "{case}"
        );
        // Only the error's own text: none of the tool's blocks, not even
        // the valid PNG before the bad one.
        let content = refused["content"].as_array().expect("content");
        assert_eq!(content.len(), 1, "{case}: {content:?}");
        assert!(content[0].is_string(), "{case}: {content:?}");
    }
}

#[tokio::test]
async fn refusals_name_the_block_and_the_reason_and_keep_no_blocks() {
    let env = env();
    let tool = env
        .load(MANIFEST, component(gateway_test_programs::PICTURES))
        .await;

    let report = env.runtime.call(&tool, r#"{"case":"png_as_jpeg"}"#).await;
    assert_eq!(
        report.result,
        Err(CallError::InvalidContent(ContentError::Block {
            index: 1,
            kind: Kind::Image,
            problem: BlockProblem::Mismatch {
                declared: "image/jpeg".into(),
                found: Some(Format::Png),
            },
        }))
    );
    assert!(report.content.is_empty());
    assert_eq!(report.output_bytes, 0);

    let report = env.runtime.call(&tool, r#"{"case":"svg_script"}"#).await;
    assert_eq!(
        report.result,
        Err(CallError::InvalidContent(ContentError::Block {
            index: 0,
            kind: Kind::Image,
            problem: BlockProblem::SvgElement("script".into()),
        }))
    );

    let report = env.runtime.call(&tool, r#"{"case":"big"}"#).await;
    let json = r#"{"case":"big"}"#.len();
    assert_eq!(
        report.result,
        Err(CallError::OutputTooLarge {
            actual: json + "image/png".len() + 8192,
            limit: 4096,
        })
    );
    assert!(report.content.is_empty());
}

#[tokio::test]
async fn valid_blocks_come_back_as_mcp_content_and_the_meter_counts_them() {
    let env = env();
    let tool = env
        .load(MANIFEST, component(gateway_test_programs::PICTURES))
        .await;

    let report = env.runtime.call(&tool, r#"{"case":"png"}"#).await;
    let value = report.result.as_ref().expect("the call succeeds");
    let json = value.to_string().len();
    match report.content.as_slice() {
        [ContentBlock::Text(text), ContentBlock::Image(image)] => {
            assert_eq!(text.text, "a red pixel");
            assert_eq!(image.mime_type, "image/png");
        }
        other => panic!("expected a text and an image, got {other:?}"),
    }
    assert_eq!(
        report.output_bytes,
        json + "a red pixel".len() + "image/png".len() + RED_PIXEL.len()
    );

    let report = env.runtime.call(&tool, r#"{"case":"svg"}"#).await;
    assert!(matches!(
        report.content.as_slice(),
        [ContentBlock::Image(image)] if image.mime_type == "image/svg+xml"
    ));

    let report = env.runtime.call(&tool, r#"{"case":"resource"}"#).await;
    match report.content.as_slice() {
        [ContentBlock::Resource(resource)] => assert!(matches!(
            &resource.resource,
            rmcp::model::ResourceContents::TextResourceContents { uri, mime_type: Some(m), .. }
                if uri == "pictures://note" && m == "text/csv"
        )),
        other => panic!("expected a resource, got {other:?}"),
    }
}

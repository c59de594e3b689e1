//! The admin API driven in-process (`oneshot`, no socket) beside the MCP
//! router over the same live catalog, with a real `Loader` whose compiles
//! run in the real `gateway` binary; and once through `gateway serve`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use gateway::admin::auth::AdminKey;
use gateway::admin::{AdminConfig, app};
use gateway::catalog::Catalog;
use gateway::frontdoor::FrontDoor;
use gateway::hotload::Loader;
use gateway::hotload::compile::CompileBudget;
use gateway::mcp::FieldSource;
use gateway::runtime::cache::sha256_hex;
use gateway::settings::AdminSettings;
use gateway_test_programs::wat;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::mcp::{json_body, serve_tools_shared, stateless};

const KEY: &str = "test-admin-key-0123456789abcdef-0123456789";
const BOUNDARY: &str = "gateway-admin-test-boundary-7d1f0c";

/// Version `v` of a tool called `name`: every call answers `{"version": v}`.
fn version(name: &str, v: u32) -> Vec<u8> {
    wat::constant(name, &format!("{{\"version\":{v}}}"))
}

struct Serving {
    admin: Router,
    mcp: Router,
    loader: Arc<Loader>,
    tools: PathBuf,
    _dir: tempfile::TempDir,
}

impl Serving {
    /// Another admin router over the same tools, compiling within `budget`.
    fn admin_with_budget(&self, budget: CompileBudget) -> Router {
        let loader = Loader::new(
            Arc::clone(self.loader.runtime()),
            Arc::clone(self.loader.catalog()),
            budget,
        );
        admin_app(Arc::new(loader), &AdminSettings::default())
    }
}

fn admin_app(loader: Arc<Loader>, settings: &AdminSettings) -> Router {
    app(
        loader,
        AdminConfig::new(AdminKey::new(KEY).expect("key"), settings),
    )
}

async fn serving_with(tools: &[(&str, String, Vec<u8>)], settings: AdminSettings) -> Serving {
    let (mcp, dir, gateway) =
        serve_tools_shared(FrontDoor::default(), tools, FieldSource::empty()).await;
    let loader = Arc::new(Loader::new(
        Arc::clone(&gateway.runtime),
        Arc::clone(&gateway.catalog),
        crate::harness::compile_budget(),
    ));
    Serving {
        admin: admin_app(Arc::clone(&loader), &settings),
        mcp,
        loader,
        tools: dir.path().join("tools"),
        _dir: dir,
    }
}

async fn serving(tools: &[(&str, String, Vec<u8>)]) -> Serving {
    serving_with(tools, AdminSettings::default()).await
}

/// A request to the admin API with the admin key.
fn admin(method: &str, uri: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:8001")
        .header("authorization", format!("Bearer {KEY}"))
}

/// A multipart body of `(part name, bytes)`.
fn multipart(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn upload(name: &str, manifest: &str, component: &[u8]) -> Request<Body> {
    upload_parts(
        name,
        &[("manifest", manifest.as_bytes()), ("component", component)],
    )
}

fn upload_parts(name: &str, parts: &[(&str, &[u8])]) -> Request<Body> {
    admin("PUT", &format!("/admin/tools/{name}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(multipart(parts)))
        .expect("request")
}

fn empty(builder: http::request::Builder) -> Request<Body> {
    builder.body(Body::empty()).expect("request")
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    json_body(app.clone().oneshot(request).await.expect("response")).await
}

/// The status and the typed error code of an answer.
async fn refusal(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let (status, body) = send(app, request).await;
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
        .to_owned();
    (status, code)
}

/// One `tools/call` over MCP: the whole JSON-RPC answer.
async fn call(mcp: &Router, name: &str) -> Value {
    let request = stateless("tools/call", json!({"name": name, "arguments": {}}), 7);
    send(mcp, request).await.1
}

async fn served_version(mcp: &Router, name: &str) -> Value {
    let answer = call(mcp, name).await;
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    answer["result"]["structuredContent"]["version"].clone()
}

/// Names of the folders in `dir` that start with `.staging-`.
fn staging_left(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read tools")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(".staging-"))
        .collect()
}

fn manifest(name: &str, version: &str) -> String {
    format!("name = \"{name}\"\nversion = \"{version}\"\n")
}

#[tokio::test]
async fn only_the_admin_key_from_a_non_browser_client_opens_the_api() {
    let s = serving(&[("edge", String::new(), wat::echo())]).await;
    let without = |method: &str, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:8001")
    };
    let wrong_key = "test-admin-key-0123456789abcdef-012345678X";
    assert_eq!(wrong_key.len(), KEY.len());
    for request in [
        empty(without("GET", "/admin/tools")),
        empty(
            without("GET", "/admin/tools").header("authorization", format!("Bearer {wrong_key}")),
        ),
        empty(without("GET", "/admin/tools").header("authorization", format!("Bearer {KEY}x"))),
        empty(without("GET", "/admin/tools").header("authorization", format!("Basic {KEY}"))),
        empty(without("GET", "/admin/tools").header("authorization", KEY)),
        // Routes are not revealed without the key, and bodies are not read.
        empty(without("GET", "/admin/nothing-here")),
        without("PUT", "/admin/tools/swap")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(vec![0u8; 1 << 20]))
            .expect("request"),
    ] {
        let response = s.admin.clone().oneshot(request).await.expect("response");
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let (status, body) = json_body(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            body,
            json!({"error": {"code": "unauthorized", "message": "unauthorized"}})
        );
    }

    let (status, list) = send(&s.admin, empty(admin("GET", "/admin/tools"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["tools"][0]["name"], json!("edge"));

    // DNS rebinding and browsers are refused even with the key.
    for (header, value, code) in [
        ("host", "evil.example.com", "host_not_allowed"),
        (
            "host",
            "127.0.0.1.evil.example.com:8001",
            "host_not_allowed",
        ),
        ("origin", "http://127.0.0.1:8001", "browser_refused"),
        ("origin", "null", "browser_refused"),
        ("sec-fetch-site", "same-origin", "browser_refused"),
    ] {
        let mut request = empty(admin("GET", "/admin/tools"));
        request.headers_mut().insert(
            http::HeaderName::from_static(header),
            value.parse().expect("value"),
        );
        assert_eq!(
            refusal(&s.admin, request).await,
            (StatusCode::FORBIDDEN, code.to_owned()),
            "{header}: {value}"
        );
    }
    // Two Host headers are a bad request (RFC 9112 §3.2), whichever comes first.
    let request = empty(admin("GET", "/admin/tools").header("host", "evil.example.com"));
    assert_eq!(
        refusal(&s.admin, request).await,
        (StatusCode::BAD_REQUEST, "duplicate_host".to_owned())
    );
    // A listed host is accepted.
    let listed = admin_app(
        Arc::clone(&s.loader),
        &AdminSettings {
            allowed_hosts: vec!["gateway-admin.internal".into()],
            ..AdminSettings::default()
        },
    );
    let mut request = empty(admin("GET", "/admin/tools"));
    request.headers_mut().insert(
        "host",
        "gateway-admin.internal:8001".parse().expect("value"),
    );
    assert_eq!(send(&listed, request).await.0, StatusCode::OK);

    assert_eq!(
        refusal(&s.admin, empty(admin("GET", "/admin/nothing-here"))).await,
        (StatusCode::NOT_FOUND, "unknown_endpoint".to_owned())
    );
    assert_eq!(
        refusal(&s.admin, empty(admin("PATCH", "/admin/tools/edge"))).await,
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed".to_owned()
        )
    );

    // The agent-facing MCP router has no admin endpoint at all.
    let mut on_mcp = empty(admin("GET", "/admin/tools"));
    on_mcp
        .headers_mut()
        .insert("host", "127.0.0.1:8000".parse().expect("value"));
    assert_eq!(
        s.mcp
            .clone()
            .oneshot(on_mcp)
            .await
            .expect("response")
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn upload_replace_roll_back_and_delete_change_what_agents_see() {
    let s = serving(&[("edge", String::new(), wat::echo())]).await;
    let v1 = version("swap", 1);
    let v2 = version("swap", 2);

    let (status, added) = send(&s.admin, upload("swap", &manifest("swap", "1.0.0"), &v1)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["change"], json!("added"));
    assert_eq!(added["previous"], Value::Null);
    let tool = &added["tool"];
    assert_eq!(tool["name"], json!("swap"));
    assert_eq!(tool["version"], json!("1.0.0"));
    assert_eq!(tool["folder"], json!("swap"));
    assert_eq!(tool["component_sha256"], json!(sha256_hex(&v1)));
    let v1_definition = tool["definition_sha256"].as_str().expect("hash").to_owned();
    assert_eq!(v1_definition.len(), 64);
    assert_eq!(served_version(&s.mcp, "swap").await, json!(1));

    let (status, list) = send(&s.admin, empty(admin("GET", "/admin/tools"))).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["edge", "swap"]);
    assert_eq!(list["tools"][1]["definition_sha256"], json!(v1_definition));
    assert_eq!(list["tools"][1]["component_sha256"], json!(sha256_hex(&v1)));
    assert_eq!(list["tools"][1]["integration"], Value::Null);

    let (status, replaced) = send(&s.admin, upload("swap", &manifest("swap", "2.0.0"), &v2)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["change"], json!("replaced"));
    assert_eq!(replaced["previous"]["version"], json!("1.0.0"));
    assert_eq!(
        replaced["previous"]["component_sha256"],
        json!(sha256_hex(&v1))
    );
    assert_eq!(replaced["tool"]["component_sha256"], json!(sha256_hex(&v2)));
    assert_eq!(replaced["tool"]["previous_versions"], json!(1));
    assert_eq!(served_version(&s.mcp, "swap").await, json!(2));

    // The same files again change nothing and keep no extra version.
    let (status, same) = send(&s.admin, upload("swap", &manifest("swap", "2.0.0"), &v2)).await;
    assert_eq!(
        (status, &same["change"]),
        (StatusCode::OK, &json!("unchanged"))
    );
    assert_eq!(same["tool"]["previous_versions"], json!(1));

    // Only the manifest's version (outside the definition hash) changes:
    // still a new version, served and listed, the old one kept.
    let (status, relabelled) =
        send(&s.admin, upload("swap", &manifest("swap", "2.0.1"), &v2)).await;
    assert_eq!(
        (status, &relabelled["change"]),
        (StatusCode::OK, &json!("replaced"))
    );
    assert_eq!(relabelled["tool"]["version"], json!("2.0.1"));
    assert_eq!(
        relabelled["tool"]["definition_sha256"],
        replaced["tool"]["definition_sha256"]
    );
    assert_eq!(relabelled["tool"]["previous_versions"], json!(2));

    let (status, rolled) = send(&s.admin, empty(admin("POST", "/admin/tools/swap/rollback"))).await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["change"], json!("rolled_back"));
    assert_eq!(rolled["previous"]["version"], json!("2.0.1"));
    assert_eq!(rolled["tool"]["version"], json!("2.0.0"));
    assert_eq!(served_version(&s.mcp, "swap").await, json!(2));
    let (status, rolled) = send(&s.admin, empty(admin("POST", "/admin/tools/swap/rollback"))).await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["previous"]["version"], json!("2.0.0"));
    assert_eq!(rolled["tool"]["version"], json!("1.0.0"));
    assert_eq!(rolled["tool"]["definition_sha256"], json!(v1_definition));
    assert_eq!(rolled["tool"]["previous_versions"], json!(0));
    assert_eq!(served_version(&s.mcp, "swap").await, json!(1));
    assert_eq!(
        refusal(&s.admin, empty(admin("POST", "/admin/tools/swap/rollback"))).await,
        (StatusCode::CONFLICT, "no_previous_version".to_owned())
    );
    assert_eq!(served_version(&s.mcp, "swap").await, json!(1));

    let (status, removed) = send(&s.admin, empty(admin("DELETE", "/admin/tools/swap"))).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["change"], json!("removed"));
    assert_eq!(removed["tool"], Value::Null);
    assert_eq!(removed["previous"]["version"], json!("1.0.0"));
    assert_eq!(call(&s.mcp, "swap").await["error"]["code"], json!(-32602));
    assert!(!s.tools.join("swap").exists());
    assert_eq!(
        refusal(&s.admin, empty(admin("GET", "/admin/tools/swap"))).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );
    assert_eq!(
        refusal(&s.admin, empty(admin("DELETE", "/admin/tools/swap"))).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );
    assert_eq!(
        refusal(
            &s.admin,
            empty(admin("POST", "/admin/tools/never/rollback"))
        )
        .await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );

    // A deleted tool is its newest previous version: a rollback restores it.
    let (status, restored) =
        send(&s.admin, empty(admin("POST", "/admin/tools/swap/rollback"))).await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["previous"], Value::Null);
    assert_eq!(served_version(&s.mcp, "swap").await, json!(1));

    // A restart serves the same tools, and nothing staged or kept aside.
    let (catalog, errors) = Catalog::load(s.loader.runtime(), &s.tools)
        .await
        .expect("catalog");
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = catalog.iter().map(|t| t.definition.name.as_str()).collect();
    assert_eq!(names, ["edge", "swap"]);
    assert_eq!(
        catalog.get("swap").expect("swap").definition_sha256,
        v1_definition
    );
    assert_eq!(staging_left(&s.tools), Vec::<String>::new());
}

#[tokio::test]
async fn bad_uploads_are_refused_and_the_previous_version_keeps_serving() {
    let s = serving(&[
        ("swap", "version = \"1.0.0\"\n".into(), version("swap", 1)),
        ("edge", String::new(), wat::echo()),
    ])
    .await;
    // A tool served from a folder not named after it.
    let twin = s.tools.join("twin-folder");
    std::fs::create_dir_all(&twin).expect("mkdir");
    std::fs::write(twin.join("tool.toml"), "name = \"twin\"\n").expect("write");
    std::fs::write(twin.join("tool.wasm"), version("twin", 1)).expect("write");
    s.loader.install_dir(&twin).await.expect("twin served");

    let v1_wasm = std::fs::read(s.tools.join("swap/tool.wasm")).expect("read");
    let (_, before) = send(&s.admin, empty(admin("GET", "/admin/tools/swap"))).await;
    let good = manifest("swap", "2.0.0");
    let escape = wat::component_described(
        "swap",
        "Sums \u{1b}[31minvoices\u{1b}[0m",
        r#"{"type":"object"}"#,
    );
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "not WebAssembly",
            upload("swap", &good, b"not a component"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "component_invalid",
        ),
        (
            "no gateway:tool export",
            upload("swap", &good, &::wat::parse_str("(component)").expect("wat")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "exports_missing",
        ),
        (
            "a manifest that does not parse",
            upload("swap", "name = \"swap\"\nlimits = 3 3\n", &version("swap", 2)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "manifest_invalid",
        ),
        (
            "a write without an admin's approval",
            upload(
                "swap",
                "name = \"swap\"\n[[http]]\nurl = \"https://api.example.com/v1/\"\nmethods = [\"POST\"]\n",
                &version("swap", 2),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "capability_refused",
        ),
        (
            "a secret the admin has not granted to the tool",
            upload(
                "swap",
                "name = \"swap\"\n[[http]]\nurl = \"https://api.example.com/\"\n[http.secret_headers]\nAuthorization = \"Bearer ${ADMIN_TEST_UNGRANTED_SECRET}\"\n",
                &version("swap", 2),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret_not_granted",
        ),
        (
            "the gateway's own admin key as a secret",
            upload(
                "swap",
                "name = \"swap\"\n[[http]]\nurl = \"https://evil.example/\"\n[http.secret_headers]\nAuthorization = \"Bearer ${GATEWAY_ADMIN_KEY}\"\n",
                &version("swap", 2),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret_reserved",
        ),
        (
            "a built-in tool's name",
            upload(
                "health_check",
                "name = \"health_check\"\n",
                &version("health_check", 2),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name_reserved",
        ),
        (
            "a read-only folder an upload cannot carry",
            upload("swap", "name = \"swap\"\n[files]\ndir = \"data\"\n", &version("swap", 2)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "manifest_invalid",
        ),
        (
            "a description with a terminal escape",
            upload("swap", &good, &escape),
            StatusCode::UNPROCESSABLE_ENTITY,
            "definition_refused",
        ),
        (
            "the URL and the manifest name different tools",
            upload("swap", &manifest("edge", "2.0.0"), &wat::echo()),
            StatusCode::BAD_REQUEST,
            "name_mismatch",
        ),
        (
            "a component describing itself under another name",
            upload("swap", &good, &version("other", 2)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "definition_refused",
        ),
        (
            "a name another folder serves",
            upload("twin", &manifest("twin", "2.0.0"), &version("twin", 2)),
            StatusCode::CONFLICT,
            "name_taken",
        ),
        (
            "not multipart",
            admin("PUT", "/admin/tools/swap")
                .header("content-type", "application/wasm")
                .body(Body::from(version("swap", 2)))
                .expect("request"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "no component part",
            upload_parts("swap", &[("manifest", good.as_bytes())]),
            StatusCode::BAD_REQUEST,
            "bad_upload",
        ),
        (
            "a part given twice",
            upload_parts(
                "swap",
                &[
                    ("manifest", good.as_bytes()),
                    ("component", &version("swap", 2)),
                    ("component", &version("swap", 3)),
                ],
            ),
            StatusCode::BAD_REQUEST,
            "bad_upload",
        ),
        (
            "an unexpected part",
            upload_parts(
                "swap",
                &[
                    ("manifest", good.as_bytes()),
                    ("component", &version("swap", 2)),
                    ("readme", b"README.md"),
                ],
            ),
            StatusCode::BAD_REQUEST,
            "bad_upload",
        ),
        (
            "broken multipart framing",
            admin("PUT", "/admin/tools/swap")
                .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .body(Body::from(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\nname = ")))
                .expect("request"),
            StatusCode::BAD_REQUEST,
            "bad_upload",
        ),
    ];
    let still_v1 = |what: &str| {
        let what = what.to_owned();
        let (s_admin, s_mcp, tools, before, v1_wasm) =
            (&s.admin, &s.mcp, &s.tools, &before, &v1_wasm);
        async move {
            assert_eq!(served_version(s_mcp, "swap").await, json!(1), "{what}");
            let (_, now) = send(s_admin, empty(admin("GET", "/admin/tools/swap"))).await;
            assert_eq!(&now, before, "{what}");
            assert_eq!(
                &std::fs::read(tools.join("swap/tool.wasm")).expect("read"),
                v1_wasm,
                "{what}"
            );
            assert_eq!(staging_left(tools), Vec::<String>::new(), "{what}");
            assert!(!tools.join(".versions").exists(), "{what}");
        }
    };
    for (what, request, status, code) in cases {
        assert_eq!(
            refusal(&s.admin, request).await,
            (status, code.to_owned()),
            "{what}"
        );
        still_v1(what).await;
    }
    assert_eq!(served_version(&s.mcp, "twin").await, json!(1));

    // A secret refusal names the variable, for deploy tools to act on.
    let (status, body) = send(
        &s.admin,
        upload(
            "swap",
            "name = \"swap\"\n[[http]]\nurl = \"https://api.example.com/\"\n[http.secret_headers]\nAuthorization = \"Bearer ${ADMIN_TEST_UNGRANTED_SECRET}\"\n",
            &version("swap", 2),
        ),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["variable"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("ADMIN_TEST_UNGRANTED_SECRET")
        )
    );

    // A compile past its time budget: too big to compile in 1 ms.
    let big: String = (0..3_000)
        .map(|i| format!("(func (export \"f{i}\") (param i32) (result i32) (i32.mul (i32.add (local.get 0) (i32.const {i})) (i32.const 7)))"))
        .collect();
    let big = ::wat::parse_str(format!("(component (core module {big}))")).expect("wat");
    let hurried = s.admin_with_budget(CompileBudget {
        timeout: Duration::from_millis(1),
        ..crate::harness::compile_budget()
    });
    assert_eq!(
        refusal(&hurried, upload("swap", &good, &big)).await,
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "compile_timeout".to_owned()
        )
    );
    still_v1("compile timeout").await;

    // And a good version goes in.
    let (status, body) = send(&s.admin, upload("swap", &good, &version("swap", 2))).await;
    assert_eq!(
        (status, &body["change"]),
        (StatusCode::OK, &json!("replaced"))
    );
    assert_eq!(served_version(&s.mcp, "swap").await, json!(2));
}

#[tokio::test]
async fn names_that_could_leave_the_tools_folder_are_refused() {
    let s = serving(&[("edge", String::new(), wat::echo())]).await;
    let outside = s.tools.parent().expect("parent").to_path_buf();
    let before: Vec<_> = std::fs::read_dir(&outside)
        .expect("read")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let component = version("edge", 2);
    for name in [
        "..",
        ".",
        ".versions",
        ".staging-x",
        "..%2F..%2Fetc",
        "%2e%2e",
        "a%2Fb",
        "a%5Cb",
        "Edge",
        "a.b",
        "%00",
        "%FF",
        &"a".repeat(65),
    ] {
        for request in [
            upload(name, &manifest("edge", "2.0.0"), &component),
            empty(admin("DELETE", &format!("/admin/tools/{name}"))),
            empty(admin("POST", &format!("/admin/tools/{name}/rollback"))),
            empty(admin("GET", &format!("/admin/tools/{name}"))),
        ] {
            let method = request.method().clone();
            assert_eq!(
                refusal(&s.admin, request).await,
                (StatusCode::BAD_REQUEST, "invalid_name".to_owned()),
                "{method} {name}"
            );
        }
    }
    // Extra path segments match no endpoint.
    for uri in [
        "/admin/tools/../../etc",
        "/admin/tools/a/b",
        "/admin/tools/edge/../x/rollback",
    ] {
        let (status, code) = refusal(&s.admin, empty(admin("DELETE", uri))).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
            "{uri}: {status}"
        );
        assert!(
            code == "unknown_endpoint" || code == "method_not_allowed",
            "{uri}: {code}"
        );
    }
    let after: Vec<_> = std::fs::read_dir(&outside)
        .expect("read")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after, "nothing was written beside the tools folder");
    assert_eq!(served_version_or_echo(&s.mcp).await, json!({}));
}

/// The echo tool still answers.
async fn served_version_or_echo(mcp: &Router) -> Value {
    let answer = call(mcp, "edge").await;
    answer["result"]["structuredContent"].clone()
}

#[tokio::test]
async fn bodies_past_the_cap_are_refused_with_413() {
    let s = serving_with(
        &[("edge", String::new(), wat::echo())],
        AdminSettings {
            max_upload_bytes: Some(64 << 10),
            ..AdminSettings::default()
        },
    )
    .await;
    let big = vec![0u8; 100 << 10];
    assert_eq!(
        refusal(&s.admin, upload("big", &manifest("big", "1"), &big)).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".to_owned())
    );
    // A manifest past its own cap, under a body cap that allows it.
    let roomy = serving(&[("edge", String::new(), wat::echo())]).await;
    let huge_manifest = format!("name = \"big\"\n#{}\n", "x".repeat(1 << 20));
    assert_eq!(
        refusal(&roomy.admin, upload("big", &huge_manifest, &wat::echo())).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".to_owned())
    );
    for tools in [&s.tools, &roomy.tools] {
        assert!(!tools.join("big").exists());
        assert_eq!(staging_left(tools), Vec::<String>::new());
    }
}

#[tokio::test]
async fn changes_to_one_tool_run_one_at_a_time_and_history_is_bounded() {
    let s = serving_with(
        &[("edge", String::new(), wat::echo())],
        AdminSettings {
            keep_versions: Some(2),
            ..AdminSettings::default()
        },
    )
    .await;
    let (a, b) = tokio::join!(
        send(
            &s.admin,
            upload("race", &manifest("race", "1"), &version("race", 1))
        ),
        send(
            &s.admin,
            upload("race", &manifest("race", "2"), &version("race", 2))
        ),
    );
    let mut changes = [a.1["change"].clone(), b.1["change"].clone()];
    changes.sort_by_key(|c| c.to_string());
    assert_eq!(changes, [json!("added"), json!("replaced")], "{a:?} {b:?}");
    let on_disk = std::fs::read(s.tools.join("race/tool.wasm")).expect("read");
    let (_, info) = send(&s.admin, empty(admin("GET", "/admin/tools/race"))).await;
    assert_eq!(info["component_sha256"], json!(sha256_hex(&on_disk)));
    assert_eq!(info["previous_versions"], json!(1));

    for v in 3..=6 {
        let (status, _) = send(
            &s.admin,
            upload(
                "race",
                &manifest("race", &v.to_string()),
                &version("race", v),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, info) = send(&s.admin, empty(admin("GET", "/admin/tools/race"))).await;
    assert_eq!(info["previous_versions"], json!(2));
    for expected in [5, 4] {
        let (status, _) = send(&s.admin, empty(admin("POST", "/admin/tools/race/rollback"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(served_version(&s.mcp, "race").await, json!(expected));
    }
    assert_eq!(
        refusal(&s.admin, empty(admin("POST", "/admin/tools/race/rollback"))).await,
        (StatusCode::CONFLICT, "no_previous_version".to_owned())
    );
}

/// `gateway serve` with the environment's key serves the admin API on its
/// own listener, and refuses to start with a short key.
#[tokio::test]
async fn gateway_serve_starts_the_admin_api_only_with_a_sound_key() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().expect("tempdir");
    let tools = dir.path().join("tools");
    std::fs::create_dir_all(&tools).expect("mkdir");
    let serve = |key: &str| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
        command
            .args(["serve", "--admin-listen", "127.0.0.1:0"])
            .arg("--tools-dir")
            .arg(&tools)
            .arg("--fields-dir")
            .arg(dir.path().join("no-fields"))
            .env_remove("GATEWAY_CONFIG")
            .env("MCP_TRANSPORT", "stdio")
            .env("GATEWAY_ADMIN_KEY", key)
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    };

    let short = serve("too-short").output();
    let short = tokio::time::timeout(Duration::from_secs(60), short)
        .await
        .expect("exits")
        .expect("runs");
    assert!(!short.status.success(), "a short key is refused at start");

    let mut child = serve(KEY).spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(rest) = line.strip_prefix("admin API on http://") {
                return rest.trim_end_matches("/admin/tools").to_owned();
            }
        }
        panic!("gateway serve exited without starting the admin API");
    })
    .await
    .expect("admin API announced");
    let status = |authorization: Option<&'static str>| {
        let addr = addr.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect");
            let auth =
                authorization.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
            tcp.write_all(
                format!(
                    "GET /admin/tools HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .expect("write");
            let mut response = String::new();
            tcp.read_to_string(&mut response).await.expect("read");
            response
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse::<u16>().ok())
                .expect("status line")
        }
    };
    assert_eq!(status(Some(KEY)).await, 200);
    assert_eq!(status(None).await, 401);
    child.kill().await.expect("kill");
}

/// The tools-folder watcher sees every rename the admin API makes and
/// agrees with it: nothing is reverted or re-added afterwards.
#[tokio::test]
async fn the_tools_folder_watcher_agrees_with_admin_changes() {
    let s = serving(&[("edge", String::new(), wat::echo())]).await;
    let _watcher = gateway::hotload::watch::ToolsWatcher::start(Arc::clone(&s.loader), &s.tools)
        .expect("watch");
    // Past the watcher's debounce (200 ms) and then some.
    let settle = || tokio::time::sleep(Duration::from_millis(700));
    let mut changes = s.loader.catalog().subscribe();

    for v in [1, 2] {
        let request = upload(
            "swap",
            &manifest("swap", &v.to_string()),
            &version("swap", v),
        );
        assert!(send(&s.admin, request).await.0.is_success());
    }
    changes.borrow_and_update();
    settle().await;
    assert_eq!(served_version(&s.mcp, "swap").await, json!(2));
    assert!(
        !changes.has_changed().expect("catalog"),
        "the watcher changed nothing after the upload"
    );

    let rollback = empty(admin("POST", "/admin/tools/swap/rollback"));
    assert_eq!(send(&s.admin, rollback).await.0, StatusCode::OK);
    settle().await;
    assert_eq!(served_version(&s.mcp, "swap").await, json!(1));

    let delete = empty(admin("DELETE", "/admin/tools/swap"));
    assert_eq!(send(&s.admin, delete).await.0, StatusCode::OK);
    settle().await;
    assert_eq!(call(&s.mcp, "swap").await["error"]["code"], json!(-32602));
    assert_eq!(served_version_or_echo(&s.mcp).await, json!({}));
}

#[tokio::test]
async fn an_uploaded_skill_md_is_served_as_the_tools_prompt() {
    let s = serving(&[("edge", String::new(), wat::echo())]).await;
    let v1 = version("swap", 1);
    let skill = |description: &str| {
        format!(
            "---\nname: swap\ndescription: {description}\n---\n\n# swap\n\n## When to use it\n\nTests.\n"
        )
    };
    let prompts = |mcp: Router| async move {
        let request = stateless("prompts/list", json!({}), 4);
        let (_, body) = json_body(mcp.oneshot(request).await.expect("list")).await;
        body["result"]["prompts"].clone()
    };
    let first = skill("The first guide.");
    let (status, added) = send(
        &s.admin,
        upload_parts(
            "swap",
            &[
                ("manifest", manifest("swap", "1.0.0").as_bytes()),
                ("component", &v1),
                ("skill", first.as_bytes()),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        prompts(s.mcp.clone()).await,
        json!([{"name": "swap", "title": "Use swap", "description": "The first guide."}])
    );
    // The same tool with only its guide changed is a change.
    let second = skill("The second guide.");
    let (status, replaced) = send(
        &s.admin,
        upload_parts(
            "swap",
            &[
                ("manifest", manifest("swap", "1.0.0").as_bytes()),
                ("component", &v1),
                ("skill", second.as_bytes()),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(
        prompts(s.mcp.clone()).await[0]["description"],
        json!("The second guide.")
    );
    assert_eq!(
        std::fs::read_to_string(s.tools.join("swap").join("SKILL.md")).expect("SKILL.md"),
        second
    );
}

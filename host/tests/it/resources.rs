//! The field registry as MCP resources (docs/resources-and-prompts.md):
//! `resources/list`, `resources/read`, `resources/templates/list`, the
//! resource-not-found error in each era, and `notifications/resources/updated`
//! for subscribers (2025 `resources/subscribe`, 2026 `subscriptions/listen`)
//! when `fields/` is edited.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use gateway::fields::{Registry, Watched};
use gateway::frontdoor::FrontDoor;
use gateway::mcp::FieldSource;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::mcp::{in_session, json_body, next_event, open_session, serve_tools, stateless};

pub(crate) const SHOP: &str = "\
integration: shop
fields:
  total:
    display_name: Order total
    description: What the customer paid, after discounts.
    type: number
    nullable: false
    unit: major currency unit
  lines[].sku:
    display_name: Product code
    description: Stock-keeping unit of the product.
    type: string
    nullable: false
";

async fn shop_gateway(fields: FieldSource) -> (Router, tempfile::TempDir) {
    let tools = [(
        "edge",
        "integration = \"shop\"\n".to_owned(),
        gateway_test_programs::wat::echo(),
    )];
    serve_tools(FrontDoor::default(), &tools, fields).await
}

fn fixed(dir: &Path) -> FieldSource {
    std::fs::write(dir.join("shop.yaml"), SHOP).expect("write shop.yaml");
    let (registry, errors) = Registry::load(dir);
    assert!(errors.is_empty(), "{errors:?}");
    FieldSource::Fixed(Arc::new(registry))
}

/// A stateless request, with the `Mcp-Name` header a `uri` names for
/// `resources/read` (`stateless` sets it from a `name`).
pub(crate) fn request(method: &str, params: Value) -> Request<Body> {
    let uri = params["uri"].as_str().map(str::to_owned);
    let mut request = stateless(method, params, 3);
    if let Some(uri) = uri.filter(|_| method == "resources/read") {
        request
            .headers_mut()
            .insert("mcp-name", uri.parse().expect("header"));
    }
    request
}

/// A stateless request's `result`, or its `error`.
pub(crate) async fn ask(app: &Router, method: &str, params: Value) -> Result<Value, Value> {
    let (status, body) = json_body(
        app.clone()
            .oneshot(request(method, params))
            .await
            .expect("request"),
    )
    .await;
    match body.get("result") {
        Some(result) if status == StatusCode::OK => Ok(result.clone()),
        _ => Err(body["error"].clone()),
    }
}

/// Reads `data:` lines of an SSE body until one holds a message whose
/// `method` is `method`.
pub(crate) async fn next_message(body: &mut Body, method: &str) -> Value {
    use http_body_util::BodyExt;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            while let Some(end) = text.find('\n') {
                let line: String = text.drain(..=end).collect();
                if let Some(data) = line.trim_end().strip_prefix("data:")
                    && let Ok(message) = serde_json::from_str::<Value>(data.trim())
                    && message["method"] == json!(method)
                {
                    return message;
                }
            }
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await
    .expect("message in time")
}

/// Replaces `shop.yaml` whole, as `git checkout` and editors do.
fn edit(dir: &Path, text: &str) {
    let staged = dir.join(".shop.yaml.tmp");
    std::fs::write(&staged, text).expect("write");
    std::fs::rename(&staged, dir.join("shop.yaml")).expect("rename");
}

const EDITED: &str = "What the customer paid, after discounts and before tax.";

#[tokio::test]
async fn field_definitions_are_resources_listed_read_and_templated() {
    let fields = tempfile::tempdir().expect("tempdir");
    let (app, _dir) = shop_gateway(fixed(fields.path())).await;

    let list = ask(&app, "resources/list", json!({})).await.expect("list");
    let listed: Vec<(String, String)> = list["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                r["uri"].as_str().unwrap_or_default().to_owned(),
                r["mimeType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let json_type = "application/json".to_owned();
    assert_eq!(
        listed,
        [
            ("fields://shop".to_owned(), json_type.clone()),
            (
                "fields://shop/lines%5B%5D.sku".to_owned(),
                json_type.clone()
            ),
            ("fields://shop/total".to_owned(), json_type),
        ]
    );
    // 2026-07-28 cache hints: the list depends on the caller's scope (its
    // skills); a field reads the same for everyone.
    assert_eq!(
        (&list["ttlMs"], &list["cacheScope"]),
        (&json!(0), &json!("private"))
    );

    let templates = ask(&app, "resources/templates/list", json!({}))
        .await
        .expect("templates");
    let uri_templates: Vec<&str> = templates["resourceTemplates"]
        .as_array()
        .expect("templates")
        .iter()
        .filter_map(|t| t["uriTemplate"].as_str())
        .collect();
    assert_eq!(
        uri_templates,
        ["fields://{integration}", "fields://{integration}/{field}"]
    );

    // One field, by its registered path.
    let read = ask(
        &app,
        "resources/read",
        json!({"uri": "fields://shop/total"}),
    )
    .await
    .expect("read");
    assert_eq!(read["cacheScope"], json!("public"));
    let [content] = read["contents"].as_array().expect("contents").as_slice() else {
        panic!("one content: {read}");
    };
    assert_eq!(content["mimeType"], json!("application/json"));
    let field: Value = serde_json::from_str(content["text"].as_str().expect("text")).expect("json");
    assert_eq!(
        (
            &field["integration"],
            &field["field"],
            &field["type"],
            &field["unit"]
        ),
        (
            &json!("shop"),
            &json!("total"),
            &json!("number"),
            &json!("major currency unit")
        )
    );
    // Through the template: a concrete location in a result.
    let read = ask(
        &app,
        "resources/read",
        json!({"uri": "fields://shop/lines%5B2%5D.sku"}),
    )
    .await
    .expect("read a location");
    let field: Value =
        serde_json::from_str(read["contents"][0]["text"].as_str().expect("text")).expect("json");
    assert_eq!(field["display_name"], json!("Product code"));
    // The whole integration.
    let read = ask(&app, "resources/read", json!({"uri": "fields://shop"}))
        .await
        .expect("read");
    let integration: Value =
        serde_json::from_str(read["contents"][0]["text"].as_str().expect("text")).expect("json");
    let mut paths: Vec<&String> = integration["fields"]
        .as_object()
        .expect("fields")
        .keys()
        .collect();
    paths.sort();
    assert_eq!(paths, ["lines[].sku", "total"]);
}

#[tokio::test]
async fn an_unknown_uri_is_resource_not_found_in_each_era() {
    let fields = tempfile::tempdir().expect("tempdir");
    let (app, _dir) = shop_gateway(fixed(fields.path())).await;
    for uri in [
        "fields://nowhere",
        "fields://shop/no_such_field",
        "test://static-text",
        "skill://nobody/SKILL.md",
    ] {
        // 2026-07-28: invalid params, with the URI.
        let error = ask(&app, "resources/read", json!({"uri": uri}))
            .await
            .expect_err("not found");
        assert_eq!(
            (&error["code"], &error["data"]["uri"]),
            (&json!(-32602), &json!(uri))
        );
    }
    // A 2025 session: -32002, the code of that era.
    let session = open_session(&app, &[]).await;
    let read = json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"fields://nowhere"}});
    let (_, body) = json_body(
        app.clone()
            .oneshot(in_session(&read, Some(&session), &[]))
            .await
            .expect("read"),
    )
    .await;
    // The answer is the SSE `data:` line that holds a message.
    let message: Value = body
        .as_str()
        .and_then(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .find(|d| d.starts_with('{'))
        })
        .and_then(|data| serde_json::from_str(data).ok())
        .unwrap_or(body);
    assert_eq!(
        (&message["error"]["code"], &message["error"]["data"]["uri"]),
        (&json!(-32002), &json!("fields://nowhere")),
        "{message}"
    );
}

/// A legacy SSE session, initialized: its event stream and how to post to it.
async fn sse_session(app: &Router) -> (Body, impl Fn(Value) -> Request<Body>) {
    let open = Request::get("/sse")
        .header("host", "127.0.0.1:8000")
        .body(Body::empty())
        .expect("request");
    let mut stream = app.clone().oneshot(open).await.expect("sse").into_body();
    let endpoint = next_event(&mut stream, "endpoint").await;
    let post = move |body: Value| {
        Request::post(endpoint.as_str())
            .header("host", "127.0.0.1:8000")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    for message in [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    ] {
        let status = app
            .clone()
            .oneshot(post(message))
            .await
            .expect("post")
            .status();
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    (stream, post)
}

#[tokio::test]
async fn a_subscriber_hears_that_an_edited_field_changed() {
    let fields = tempfile::tempdir().expect("tempdir");
    std::fs::write(fields.path().join("shop.yaml"), SHOP).expect("write");
    let watched = Watched::start(fields.path()).expect("watch");
    let (app, _dir) = shop_gateway(FieldSource::Watched(Arc::clone(&watched))).await;
    let (mut stream, post) = sse_session(&app).await;
    let init: Value =
        serde_json::from_str(&next_event(&mut stream, "message").await).expect("json");
    assert_eq!(
        init["result"]["capabilities"]["resources"],
        json!({"subscribe": true, "listChanged": true})
    );

    let subscribe = json!({"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"fields://shop/total"}});
    let status = app
        .clone()
        .oneshot(post(subscribe))
        .await
        .expect("post")
        .status();
    assert_eq!(status, StatusCode::ACCEPTED);
    let answer: Value =
        serde_json::from_str(&next_event(&mut stream, "message").await).expect("json");
    assert_eq!((&answer["id"], &answer["result"]), (&json!(2), &json!({})));
    // Outside what the gateway serves: refused as not found.
    let subscribe = json!({"jsonrpc":"2.0","id":3,"method":"resources/subscribe","params":{"uri":"test://watched-resource"}});
    app.clone().oneshot(post(subscribe)).await.expect("post");
    let answer: Value =
        serde_json::from_str(&next_event(&mut stream, "message").await).expect("json");
    assert_eq!(
        (&answer["id"], &answer["error"]["code"]),
        (&json!(3), &json!(-32002))
    );

    edit(
        fields.path(),
        &SHOP.replace("What the customer paid, after discounts.", EDITED),
    );
    let updated = next_message(&mut stream, "notifications/resources/updated").await;
    assert_eq!(updated["params"]["uri"], json!("fields://shop/total"));
    let read = ask(
        &app,
        "resources/read",
        json!({"uri": "fields://shop/total"}),
    )
    .await
    .expect("read");
    let field: Value =
        serde_json::from_str(read["contents"][0]["text"].as_str().expect("text")).expect("json");
    assert_eq!(field["description"], json!(EDITED));

    // A field added: the list changed.
    edit(
        fields.path(),
        &format!(
            "{SHOP}  coupon:\n    display_name: Coupon\n    description: Discount code used, if any.\n    type: string\n    nullable: true\n"
        ),
    );
    let changed = next_message(&mut stream, "notifications/resources/list_changed").await;
    assert_eq!(
        changed["method"],
        json!("notifications/resources/list_changed")
    );
}

#[tokio::test]
async fn a_2026_listen_stream_hears_resource_updates() {
    let fields = tempfile::tempdir().expect("tempdir");
    std::fs::write(fields.path().join("shop.yaml"), SHOP).expect("write");
    let watched = Watched::start(fields.path()).expect("watch");
    let (app, _dir) = shop_gateway(FieldSource::Watched(Arc::clone(&watched))).await;
    let listen = stateless(
        "subscriptions/listen",
        json!({"notifications": {"resourceSubscriptions": ["fields://shop/total"], "resourcesListChanged": true}}),
        1,
    );
    let response = app.clone().oneshot(listen).await.expect("listen");
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body();
    let ack = next_message(&mut stream, "notifications/subscriptions/acknowledged").await;
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["fields://shop/total"])
    );

    edit(
        fields.path(),
        &SHOP.replace("What the customer paid, after discounts.", EDITED),
    );
    let updated = next_message(&mut stream, "notifications/resources/updated").await;
    assert_eq!(updated["params"]["uri"], json!("fields://shop/total"));
}

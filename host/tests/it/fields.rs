//! The field registry over MCP: output schemas carrying business meanings,
//! the validation wrapper on results, the built-in field tools, reloading
//! when a file changes, and `gateway fields lint`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use gateway::fields::{Integration, LintKind, Registry, Watched};
use gateway::frontdoor::FrontDoor;
use gateway::mcp::FieldSource;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::mcp::{json_body, serve_tools, stateless};

const SHOP: &str = "\
integration: shop
fields:
  order_id:
    display_name: Order
    description: The order's number as customers see it.
    type: string
    nullable: false
  total:
    display_name: Order total
    description: What the customer paid, after discounts.
    type: number
    nullable: false
    unit: major currency unit
  coupon:
    display_name: Coupon
    description: Discount code used, if any.
    type: string
    nullable: true
  lines:
    display_name: Order lines
    description: One entry per product bought.
    type: array
    nullable: false
  lines[].sku:
    display_name: Product code
    description: Stock-keeping unit of the product.
    type: string
    nullable: false
";

/// The `edge` echo tool declared as a `shop` tool: its result is its input,
/// so each test chooses exactly what the wrapper sees.
async fn shop_gateway(fields: FieldSource) -> (Router, tempfile::TempDir) {
    let tools = [(
        "edge",
        "integration = \"shop\"\n".to_owned(),
        gateway_test_programs::wat::echo(),
    )];
    serve_tools(FrontDoor::default(), &tools, fields).await
}

fn shop_registry(dir: &Path) -> FieldSource {
    std::fs::write(dir.join("shop.yaml"), SHOP).expect("write shop.yaml");
    let (registry, errors) = Registry::load(dir);
    assert!(errors.is_empty(), "{errors:?}");
    FieldSource::Fixed(Arc::new(registry))
}

async fn call(app: &Router, name: &str, arguments: Value) -> Value {
    let request = stateless(
        "tools/call",
        json!({"name": name, "arguments": arguments}),
        7,
    );
    let (status, body) = json_body(app.clone().oneshot(request).await.expect("call")).await;
    assert_eq!(status, http::StatusCode::OK, "{body}");
    body["result"].clone()
}

fn error_code(result: &Value) -> &str {
    assert_eq!(result["isError"], json!(true), "{result}");
    result["structuredContent"]["error"]["code"]
        .as_str()
        .expect("typed error code")
}

#[tokio::test]
async fn output_schemas_carry_business_meanings() {
    let fields_dir = tempfile::tempdir().expect("tempdir");
    let (app, _dir) = shop_gateway(shop_registry(fields_dir.path())).await;
    let (_, list) = json_body(
        app.clone()
            .oneshot(stateless("tools/list", json!({}), 1))
            .await
            .expect("list"),
    )
    .await;
    let edge = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "edge")
        .expect("edge listed");
    let output = &edge["outputSchema"];
    assert_eq!(output["type"], json!("object"));
    assert_eq!(
        output["properties"]["total"]["description"],
        json!("Order total: What the customer paid, after discounts. Unit: major currency unit")
    );
    assert_eq!(
        output["properties"]["lines"]["items"]["properties"]["sku"]["type"],
        json!("string")
    );
    assert_eq!(
        output["properties"]["_field_validation"]["type"],
        json!("object")
    );
    // Built from the registry alone: it describes, it never makes a client
    // reject a result that lacks a field.
    assert_eq!(output.get("required"), None);
}

#[tokio::test]
async fn results_pass_unchanged_or_carry_a_validation_summary() {
    let fields_dir = tempfile::tempdir().expect("tempdir");
    let (app, _dir) = shop_gateway(shop_registry(fields_dir.path())).await;

    let clean = json!({"order_id": "A-1", "total": 12.5, "coupon": null, "lines": [{"sku": "X"}]});
    let result = call(&app, "edge", clean.clone()).await;
    assert_eq!(result["isError"], json!(false));
    assert_eq!(result["structuredContent"], clean);

    let drifted = json!({
        "order_id": 17,
        "total": 12.5,
        "lines": [{"sku": "X"}, {"qty": 2}],
        "store": "north"
    });
    let result = call(&app, "edge", drifted.clone()).await;
    assert_eq!(result["isError"], json!(false));
    let summary = &result["structuredContent"]["_field_validation"];
    assert_eq!(summary["integration"], json!("shop"));
    assert_eq!(summary["unknown_fields"], json!(["lines[].qty", "store"]));
    assert_eq!(summary["missing_fields"], json!(["lines[].sku"]));
    assert_eq!(
        summary["type_mismatches"],
        json!([{"field": "order_id", "expected": "string", "actual": "integer"}])
    );
    // Nothing of the result itself is lost.
    for (key, value) in drifted.as_object().expect("object") {
        assert_eq!(&result["structuredContent"][key], value, "{key}");
    }
}

#[tokio::test]
async fn field_tools_answer_from_the_registry() {
    let fields_dir = tempfile::tempdir().expect("tempdir");
    let (app, _dir) = shop_gateway(shop_registry(fields_dir.path())).await;

    let list = call(&app, "list_field_integrations", json!({})).await;
    assert_eq!(
        list["structuredContent"],
        json!({"integrations": [{"integration": "shop", "fields": 5, "tools": ["edge"]}]})
    );

    let total = call(
        &app,
        "lookup_field",
        json!({"integration": "shop", "field_name": "total"}),
    )
    .await;
    assert_eq!(
        total["structuredContent"]["display_name"],
        json!("Order total")
    );
    assert_eq!(total["structuredContent"]["type"], json!("number"));
    assert_eq!(
        total["structuredContent"]["unit"],
        json!("major currency unit")
    );
    // A concrete location in a result finds its registered path.
    let sku = call(
        &app,
        "lookup_field",
        json!({"integration": "shop", "field_name": "lines[3].sku"}),
    )
    .await;
    assert_eq!(
        sku["structuredContent"]["display_name"],
        json!("Product code")
    );

    let unknown = call(
        &app,
        "lookup_field",
        json!({"integration": "shop", "field_name": "order_total"}),
    )
    .await;
    assert_eq!(error_code(&unknown), "unknown_field");
    let unknown = call(
        &app,
        "lookup_field",
        json!({"integration": "stripe", "field_name": "amount"}),
    )
    .await;
    assert_eq!(error_code(&unknown), "unknown_integration");
    // Missing arguments are the tool's error, not a protocol error.
    let missing = call(&app, "lookup_field", json!({"integration": "shop"})).await;
    assert_eq!(error_code(&missing), "invalid_input");

    let all = call(
        &app,
        "get_field_definitions",
        json!({"integration": "shop"}),
    )
    .await;
    let defined: Vec<&String> = all["structuredContent"]["fields"]
        .as_object()
        .expect("fields")
        .keys()
        .collect();
    assert_eq!(
        defined,
        ["coupon", "lines", "lines[].sku", "order_id", "total"]
    );

    // Agents often send JSON as a string; both forms give the same answer.
    let sample = json!({"order_id": "A-2", "total": "12.50", "lines": [], "channel": "web"});
    for fresh_sample in [sample.clone(), json!(sample.to_string())] {
        let drift = call(
            &app,
            "check_field_drift",
            json!({"integration": "shop", "fresh_sample": fresh_sample}),
        )
        .await;
        let drift = &drift["structuredContent"];
        assert_eq!(drift["clean"], json!(false));
        assert_eq!(drift["new_fields"], json!(["channel"]));
        assert_eq!(drift["removed_fields"], json!(["coupon"]));
        assert_eq!(drift["type_changed"][0]["field"], json!("total"));
        assert_eq!(drift["unobserved"], json!(["lines[].sku"]));
    }
    let not_json = call(
        &app,
        "check_field_drift",
        json!({"integration": "shop", "fresh_sample": "{not json"}),
    )
    .await;
    assert_eq!(error_code(&not_json), "invalid_input");
}

#[tokio::test]
async fn discover_fields_proposes_yaml_for_review_and_writes_nothing() {
    let fields_dir = tempfile::tempdir().expect("tempdir");
    let (app, _dir) = shop_gateway(shop_registry(fields_dir.path())).await;
    let before = std::fs::read_dir(fields_dir.path()).expect("ls").count();

    let sample = json!({"sku": "X-1", "price": 9.5, "tags": ["new"], "stock": null});
    let result = call(
        &app,
        "discover_fields",
        json!({"integration": "catalog", "sample_response": sample}),
    )
    .await;
    let found = &result["structuredContent"];
    assert_eq!(found["registered"], json!(false));
    assert_eq!(found["file"], json!("fields/catalog.yaml"));
    let proposal = found["proposal"].as_str().expect("proposal text");

    // The proposal is a registry file that lint accepts once a person has
    // written the definitions: its only problems are the placeholders.
    let errors = Integration::parse(Path::new("catalog.yaml"), proposal)
        .expect_err("placeholders are rejected until written");
    let mut placeholders: Vec<(String, &str)> = errors
        .iter()
        .map(|e| match &e.kind {
            LintKind::Placeholder { key, field } => (field.clone(), *key),
            other => panic!("unexpected problem in the proposal: {other:?}"),
        })
        .collect();
    placeholders.sort();
    let fields: Vec<&str> = placeholders.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "price", "price", "sku", "sku", "stock", "stock", "tags", "tags"
        ]
    );
    let written = proposal.replace("TODO", "Written by a person.");
    let integration =
        Integration::parse(Path::new("catalog.yaml"), &written).expect("lint accepts it");
    assert_eq!(
        integration.fields["price"].r#type,
        gateway::fields::FieldType::Number
    );
    assert!(integration.fields["stock"].nullable);

    let bad = call(
        &app,
        "discover_fields",
        json!({"integration": "../etc/passwd", "sample_response": {}}),
    )
    .await;
    assert_eq!(error_code(&bad), "invalid_input");
    assert_eq!(
        std::fs::read_dir(fields_dir.path()).expect("ls").count(),
        before,
        "nothing written"
    );
}

#[tokio::test]
async fn an_edited_field_file_is_served_without_a_restart() {
    let fields_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(fields_dir.path().join("shop.yaml"), SHOP).expect("write");
    let watched = Watched::start(fields_dir.path()).expect("watch");
    let (app, _dir) = shop_gateway(FieldSource::Watched(Arc::clone(&watched))).await;
    let lookup = json!({"integration": "shop", "field_name": "total"});
    let described = |result: &Value| result["structuredContent"]["description"].clone();
    assert_eq!(
        described(&call(&app, "lookup_field", lookup.clone()).await),
        json!("What the customer paid, after discounts.")
    );

    let edited = SHOP.replace(
        "What the customer paid, after discounts.",
        "What the customer paid, after discounts and before tax.",
    );
    // Written whole and renamed into place, as `git checkout` and editors do.
    let staged = fields_dir.path().join(".shop.yaml.tmp");
    std::fs::write(&staged, &edited).expect("write");
    std::fs::rename(&staged, fields_dir.path().join("shop.yaml")).expect("rename");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = described(&call(&app, "lookup_field", lookup.clone()).await);
        if now == json!("What the customer paid, after discounts and before tax.") {
            break;
        }
        assert!(Instant::now() < deadline, "edit not picked up: {now}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A broken edit keeps the registry in use and is reported.
    std::fs::write(
        fields_dir.path().join("shop.yaml"),
        SHOP.replace("type: number", "type: money"),
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    let list = loop {
        let list = call(&app, "list_field_integrations", json!({})).await;
        if list["structuredContent"].get("problems").is_some() {
            break list;
        }
        assert!(Instant::now() < deadline, "broken edit not reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        list["structuredContent"]["integrations"][0]["integration"],
        json!("shop")
    );
    assert!(matches!(
        watched.errors().first().map(|e| &e.kind),
        Some(LintKind::BadType { found, .. }) if found == "money"
    ));
    assert_eq!(
        described(&call(&app, "lookup_field", lookup).await),
        json!("What the customer paid, after discounts and before tax.")
    );
}

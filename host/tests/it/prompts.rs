//! Each tool's `SKILL.md` as an MCP prompt and an SEP-2640 skill
//! (docs/resources-and-prompts.md): `prompts/list` and `prompts/get` with
//! the tool's arguments, `skills/list`, `skills/get` and `skill://`
//! resources, hot-loading, and team scopes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use gateway::auth::Authenticator;
use gateway::auth::keys::{self, KeyStore};
use gateway::frontdoor::FrontDoor;
use gateway::hotload::{Change, Loader};
use gateway::mcp::FieldSource;
use http::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;
use tower::ServiceExt;

use crate::mcp::{json_body, serve_tools_shared, stateless};
use crate::resources::{ask, next_message};

const SCHEMA: &str = r#"{"type":"object","properties":{"start":{"type":"string","description":"First day, YYYY-MM-DD."},"end":{"type":"string","description":"Day after the last, YYYY-MM-DD."},"limit":{"type":"integer"}},"required":["start","end"]}"#;

fn skill_md(name: &str) -> String {
    format!(
        "---\nname: {name}\ndescription: Revenue for a period, per currency.\nmetadata:\n  owner: finance\n---\n\n# {name}\n\n## When to use it\n\nRevenue questions.\n\n## Reading the output\n\nTotals per currency.\n"
    )
}

struct Served {
    app: Router,
    loader: Arc<Loader>,
    tools: PathBuf,
    _dir: tempfile::TempDir,
}

/// A gateway serving echo tools named `names` with [`SCHEMA`], none with a
/// `SKILL.md` yet.
async fn serving(door: FrontDoor, names: &[&str]) -> Served {
    let tools: Vec<(&str, String, Vec<u8>)> = names
        .iter()
        .map(|name| {
            (
                *name,
                String::new(),
                gateway_test_programs::wat::component_described(name, "Echo test tool", SCHEMA),
            )
        })
        .collect();
    let (app, dir, gateway) = serve_tools_shared(door, &tools, FieldSource::empty()).await;
    let loader = Arc::new(Loader::new(
        Arc::clone(&gateway.runtime),
        Arc::clone(&gateway.catalog),
        crate::harness::compile_budget(),
    ));
    Served {
        app,
        loader,
        tools: dir.path().join("tools"),
        _dir: dir,
    }
}

/// Puts a `SKILL.md` in `name`'s folder and hot-loads the folder.
async fn add_skill(served: &Served, name: &str, text: &str) -> Change {
    let dir: PathBuf = served.tools.join(name);
    std::fs::write(Path::new(&dir).join("SKILL.md"), text).expect("write SKILL.md");
    served.loader.install_dir(&dir).await.expect("installed")
}

fn names(list: &Value, key: &str, field: &str) -> BTreeSet<String> {
    list[key]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_tools_skill_md_is_a_prompt_taking_the_tools_arguments() {
    let s = serving(FrontDoor::default(), &["revenue_report"]).await;
    let list = ask(&s.app, "prompts/list", json!({})).await.expect("list");
    assert_eq!(names(&list, "prompts", "name"), BTreeSet::new());

    let change = add_skill(&s, "revenue_report", &skill_md("revenue_report")).await;
    assert!(
        matches!(change, Change::Replaced { ref name, .. } if name == "revenue_report"),
        "{change:?}"
    );
    let list = ask(&s.app, "prompts/list", json!({})).await.expect("list");
    let [prompt] = list["prompts"].as_array().expect("prompts").as_slice() else {
        panic!("one prompt: {list}");
    };
    assert_eq!(prompt["name"], json!("revenue_report"));
    assert_eq!(
        prompt["description"],
        json!("Revenue for a period, per currency.")
    );
    let mut arguments: Vec<(String, Value, Value)> = prompt["arguments"]
        .as_array()
        .expect("arguments")
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap_or_default().to_owned(),
                a["description"].clone(),
                a["required"].clone(),
            )
        })
        .collect();
    arguments.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        arguments,
        [
            (
                "end".to_owned(),
                json!("Day after the last, YYYY-MM-DD."),
                json!(true)
            ),
            ("limit".to_owned(), Value::Null, json!(false)),
            (
                "start".to_owned(),
                json!("First day, YYYY-MM-DD."),
                json!(true)
            ),
        ]
    );

    let got = ask(
        &s.app,
        "prompts/get",
        json!({"name": "revenue_report", "arguments": {"start": "2026-10-01", "end": "2026-11-01", "limit": "5"}}),
    )
    .await
    .expect("get");
    let [message] = got["messages"].as_array().expect("messages").as_slice() else {
        panic!("one message: {got}");
    };
    assert_eq!(
        (&message["role"], &message["content"]["type"]),
        (&json!("user"), &json!("text"))
    );
    let text = message["content"]["text"].as_str().expect("text");
    // The SKILL.md body, without its frontmatter.
    assert!(text.contains("# revenue_report\n\n## When to use it\n\nRevenue questions."));
    assert!(!text.contains("owner: finance"));
    // The suggested call, typed by the input schema.
    let call = text
        .rsplit_once("```json\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(call, _)| call)
        .expect("a JSON block");
    assert_eq!(
        serde_json::from_str::<Value>(call).expect("json"),
        json!({"start": "2026-10-01", "end": "2026-11-01", "limit": 5})
    );

    // Typed refusals: invalid params, naming what is wrong.
    let missing = ask(
        &s.app,
        "prompts/get",
        json!({"name": "revenue_report", "arguments": {"start": "2026-10-01"}}),
    )
    .await
    .expect_err("missing end");
    assert_eq!(
        (&missing["code"], &missing["data"]["argument"]),
        (&json!(-32602), &json!("end"))
    );
    let unknown_argument = ask(
        &s.app,
        "prompts/get",
        json!({"name": "revenue_report", "arguments": {"start": "a", "end": "b", "currency": "usd"}}),
    )
    .await
    .expect_err("unknown argument");
    assert_eq!(
        (
            &unknown_argument["code"],
            &unknown_argument["data"]["argument"]
        ),
        (&json!(-32602), &json!("currency"))
    );
    let unknown = ask(&s.app, "prompts/get", json!({"name": "no_such_tool"}))
        .await
        .expect_err("unknown prompt");
    assert_eq!(
        (&unknown["code"], &unknown["data"]["name"]),
        (&json!(-32602), &json!("no_such_tool"))
    );
}

#[tokio::test]
async fn a_tools_skill_md_is_a_skill_readable_as_a_resource() {
    let s = serving(FrontDoor::default(), &["revenue_report"]).await;
    add_skill(&s, "revenue_report", &skill_md("revenue_report")).await;
    let uri = "skill://revenue-report/SKILL.md";

    let list = ask(&s.app, "skills/list", json!({})).await.expect("skills");
    let [entry] = list["skills"].as_array().expect("skills").as_slice() else {
        panic!("one skill: {list}");
    };
    assert_eq!(entry["uri"], json!(uri));
    assert_eq!(
        entry["frontmatter"],
        json!({"name": "revenue-report", "description": "Revenue for a period, per currency.", "metadata": {"owner": "finance"}})
    );

    let read = ask(&s.app, "resources/read", json!({"uri": uri}))
        .await
        .expect("read");
    let [content] = read["contents"].as_array().expect("contents").as_slice() else {
        panic!("one content: {read}");
    };
    assert_eq!(content["mimeType"], json!("text/markdown"));
    let text = content["text"].as_str().expect("text");
    // The file as written, with its name as the skill's.
    assert_eq!(
        text,
        skill_md("revenue_report").replace("name: revenue_report", "name: revenue-report")
    );
    let digest = format!("sha256:{:x}", sha2::Sha256::digest(text.as_bytes()));
    assert_eq!(
        entry["resources"],
        json!([{"uri": uri, "digest": digest, "size": text.len()}])
    );

    let got = ask(&s.app, "skills/get", json!({"uri": uri}))
        .await
        .expect("get");
    assert_eq!(&got["skill"], entry);
    let unknown = ask(
        &s.app,
        "skills/get",
        json!({"uri": "skill://no-such-skill/SKILL.md"}),
    )
    .await
    .expect_err("unknown skill");
    assert_eq!(unknown["code"], json!(-32602));

    let resources = ask(&s.app, "resources/list", json!({}))
        .await
        .expect("list");
    assert!(names(&resources, "resources", "uri").contains(uri));
}

#[tokio::test]
async fn a_2026_listen_stream_hears_that_the_prompts_changed() {
    let s = serving(FrontDoor::default(), &["revenue_report"]).await;
    let listen = stateless(
        "subscriptions/listen",
        json!({"notifications": {"promptsListChanged": true}}),
        1,
    );
    let response = s.app.clone().oneshot(listen).await.expect("listen");
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = response.into_body();
    let ack = next_message(&mut stream, "notifications/subscriptions/acknowledged").await;
    assert_eq!(
        ack["params"]["notifications"]["promptsListChanged"],
        json!(true)
    );
    add_skill(&s, "revenue_report", &skill_md("revenue_report")).await;
    let changed = next_message(&mut stream, "notifications/prompts/list_changed").await;
    assert_eq!(
        changed["method"],
        json!("notifications/prompts/list_changed")
    );
}

#[tokio::test]
async fn a_caller_sees_only_the_prompts_and_skills_of_tools_its_scope_allows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    let (finance, _) = keys::create(&file, "finance", &["stripe_*".to_owned()], None).expect("key");
    let (everyone, _) = keys::create(&file, "ops", &["*".to_owned()], None).expect("key");
    let door = FrontDoor {
        auth: Arc::new(Authenticator::Keys(KeyStore::open(&file).expect("keys"))),
        ..FrontDoor::default()
    };
    let s = serving(door, &["stripe_revenue", "hubspot_pipeline"]).await;
    for name in ["stripe_revenue", "hubspot_pipeline"] {
        add_skill(&s, name, &skill_md(name)).await;
    }
    let ask_as = |key: &str, method: &str, params: Value| {
        let mut request = crate::resources::request(method, params);
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            format!("Bearer {key}").parse().expect("header"),
        );
        let app = s.app.clone();
        async move {
            let (_, body) = json_body(app.oneshot(request).await.expect("request")).await;
            body
        }
    };

    let prompts = ask_as(&finance, "prompts/list", json!({})).await;
    assert_eq!(
        names(&prompts["result"], "prompts", "name"),
        BTreeSet::from(["stripe_revenue".to_owned()])
    );
    assert_eq!(prompts["result"]["cacheScope"], json!("private"));
    let skills = ask_as(&finance, "skills/list", json!({})).await;
    assert_eq!(
        names(&skills["result"], "skills", "uri"),
        BTreeSet::from(["skill://stripe-revenue/SKILL.md".to_owned()])
    );
    let hidden = ask_as(
        &finance,
        "prompts/get",
        json!({"name": "hubspot_pipeline", "arguments": {"start": "a", "end": "b"}}),
    )
    .await;
    assert_eq!(hidden["error"]["code"], json!(-32602));
    let hidden = ask_as(
        &finance,
        "resources/read",
        json!({"uri": "skill://hubspot-pipeline/SKILL.md"}),
    )
    .await;
    assert_eq!(hidden["error"]["code"], json!(-32602));
    let hidden = ask_as(
        &finance,
        "skills/get",
        json!({"uri": "skill://hubspot-pipeline/SKILL.md"}),
    )
    .await;
    assert_eq!(hidden["error"]["code"], json!(-32602));
    // A key for every tool sees both; field resources are everyone's.
    let all = ask_as(&everyone, "prompts/list", json!({})).await;
    assert_eq!(
        names(&all["result"], "prompts", "name"),
        BTreeSet::from(["hubspot_pipeline".to_owned(), "stripe_revenue".to_owned()])
    );
}

#[tokio::test]
async fn editing_only_a_skill_md_in_the_tools_folder_changes_the_prompt() {
    let s = serving(FrontDoor::default(), &["revenue_report"]).await;
    let _watcher = gateway::hotload::watch::ToolsWatcher::start(Arc::clone(&s.loader), &s.tools)
        .expect("watch");
    let listen = stateless(
        "subscriptions/listen",
        json!({"notifications": {"promptsListChanged": true}}),
        1,
    );
    let response = s.app.clone().oneshot(listen).await.expect("listen");
    let mut stream = response.into_body();
    next_message(&mut stream, "notifications/subscriptions/acknowledged").await;

    // Written whole and renamed into place, as editors and `git checkout` do.
    let staged = s.tools.join("revenue_report").join(".SKILL.md.tmp");
    std::fs::write(&staged, skill_md("revenue_report")).expect("write");
    std::fs::rename(&staged, s.tools.join("revenue_report").join("SKILL.md")).expect("rename");
    next_message(&mut stream, "notifications/prompts/list_changed").await;
    let list = ask(&s.app, "prompts/list", json!({})).await.expect("list");
    assert_eq!(
        names(&list, "prompts", "name"),
        BTreeSet::from(["revenue_report".to_owned()])
    );
}

#[tokio::test]
async fn the_prompt_of_an_integrations_tool_embeds_its_field_definitions() {
    let fields = tempfile::tempdir().expect("tempdir");
    std::fs::write(fields.path().join("shop.yaml"), crate::resources::SHOP).expect("write");
    let (registry, errors) = gateway::fields::Registry::load(fields.path());
    assert!(errors.is_empty(), "{errors:?}");
    let tools = [(
        "order_report",
        "integration = \"shop\"\n".to_owned(),
        gateway_test_programs::wat::component_described("order_report", "Orders", SCHEMA),
    )];
    let (app, dir, gateway) = serve_tools_shared(
        FrontDoor::default(),
        &tools,
        FieldSource::Fixed(Arc::new(registry)),
    )
    .await;
    let loader = Loader::new(
        Arc::clone(&gateway.runtime),
        Arc::clone(&gateway.catalog),
        crate::harness::compile_budget(),
    );
    let folder = dir.path().join("tools").join("order_report");
    std::fs::write(folder.join("SKILL.md"), skill_md("order_report")).expect("write");
    loader.install_dir(&folder).await.expect("installed");

    let got = ask(
        &app,
        "prompts/get",
        json!({"name": "order_report", "arguments": {"start": "a", "end": "b"}}),
    )
    .await
    .expect("get");
    let [_, attached] = got["messages"].as_array().expect("messages").as_slice() else {
        panic!("two messages: {got}");
    };
    let resource = &attached["content"]["resource"];
    assert_eq!(
        (
            &attached["role"],
            &attached["content"]["type"],
            &resource["uri"],
            &resource["mimeType"]
        ),
        (
            &json!("user"),
            &json!("resource"),
            &json!("fields://shop"),
            &json!("application/json")
        )
    );
    let definitions: Value =
        serde_json::from_str(resource["text"].as_str().expect("text")).expect("json");
    assert_eq!(definitions["integration"], json!("shop"));
}

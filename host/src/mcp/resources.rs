//! The field registry as MCP resources, beside the skills' `SKILL.md` files
//! (docs/resources-and-prompts.md).
//!
//! - `fields://<integration>`: every definition of one integration, and
//!   `fields://<integration>/<field>`: one field (a registered path such as
//!   `period.start`, or a concrete location such as `by_currency.usd.gross`,
//!   percent-encoded where a URI needs it: `stages%5B%5D.label`). Both read
//!   as JSON, the shape the field tools return, so an agent parses one
//!   format whichever way it asked. Every authenticated caller sees them.
//! - `skill://<name>/SKILL.md`: see [`super::skills`]; a caller sees those
//!   of the tools its scope allows.
//!
//! Changes reach clients as `notifications/resources/list_changed`,
//! `notifications/resources/updated` (for subscribed URIs) and
//! `notifications/prompts/list_changed`, through [`Changes`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CacheScope, ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};
use serde_json::{Value, json};

use super::{Gateway, prompts, skills};
use crate::auth::Caller;
use crate::fields::{self, Registry};

/// The URI scheme of field definitions.
pub const SCHEME: &str = "fields://";

/// The MIME type of a field resource.
pub const JSON: &str = "application/json";

/// Characters a field path may hold that a URI path cannot hold as they are.
const ENCODED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// What a `fields://` URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldUri {
    /// `fields://<integration>`.
    Integration(String),
    /// `fields://<integration>/<field>`.
    Field(String, String),
}

impl FieldUri {
    /// Reads a `fields://` URI; `None` for any other, or one with an empty
    /// integration or field, a query or a fragment.
    pub fn parse(uri: &str) -> Option<FieldUri> {
        let rest = uri.strip_prefix(SCHEME)?;
        if rest.contains(['?', '#']) {
            return None;
        }
        let (slug, field) = match rest.split_once('/') {
            Some((slug, field)) => (slug, Some(field)),
            None => (rest, None),
        };
        if slug.is_empty() || slug.contains('%') {
            return None;
        }
        match field {
            None => Some(FieldUri::Integration(slug.to_owned())),
            Some(field) => {
                let field = percent_decode_str(field).decode_utf8().ok()?;
                (!field.is_empty()).then(|| FieldUri::Field(slug.to_owned(), field.into_owned()))
            }
        }
    }

    /// The URI.
    pub fn uri(&self) -> String {
        match self {
            FieldUri::Integration(slug) => format!("{SCHEME}{slug}"),
            FieldUri::Field(slug, field) => {
                format!("{SCHEME}{slug}/{}", utf8_percent_encode(field, ENCODED))
            }
        }
    }
}

/// The field resources of `registry`: each integration, then each of its
/// registered fields.
pub fn field_resources(registry: &Registry) -> Vec<Resource> {
    let mut out = Vec::new();
    for integration in registry.integrations() {
        let slug = &integration.slug;
        out.push(
            Resource::new(FieldUri::Integration(slug.clone()).uri(), slug.clone())
                .with_title(format!("{slug} field definitions"))
                .with_description(format!(
                    "Every field definition of the {slug} integration ({} fields): what each field of its tools' results means in this organisation.",
                    integration.fields.len()
                ))
                .with_mime_type(JSON),
        );
        for (path, def) in &integration.fields {
            out.push(
                Resource::new(
                    FieldUri::Field(slug.clone(), path.clone()).uri(),
                    format!("{slug}/{path}"),
                )
                .with_title(def.display_name.clone())
                .with_description(def.description.clone())
                .with_mime_type(JSON),
            );
        }
    }
    out
}

/// The templates: an integration, and a field of one.
pub fn templates() -> ListResourceTemplatesResult {
    let all = vec![
        ResourceTemplate::new(format!("{SCHEME}{{integration}}"), "integration-fields")
            .with_title("An integration's field definitions")
            .with_description("Every field definition of one integration (for example stripe), as JSON.")
            .with_mime_type(JSON),
        ResourceTemplate::new(format!("{SCHEME}{{integration}}/{{field}}"), "field-definition")
            .with_title("One field's definition")
            .with_description("What one field of an integration means: a registered path (period.start) or a location in a result (by_currency.usd.gross, stages[0].label, with [ and ] percent-encoded).")
            .with_mime_type(JSON),
    ];
    let mut result = ListResourceTemplatesResult::with_all_items(all);
    result.ttl_ms = Some(0);
    result.cache_scope = Some(CacheScope::Public);
    result
}

/// The JSON text of a field resource, if the registry has it.
pub fn field_text(registry: &Registry, uri: &FieldUri) -> Option<String> {
    let value = match uri {
        FieldUri::Integration(slug) => json!(registry.get(slug)?),
        FieldUri::Field(slug, field) => {
            let def = registry.lookup(slug, field)?;
            let mut out = json!({ "integration": slug, "field": field });
            if let (Some(out), Value::Object(def)) = (out.as_object_mut(), json!(def)) {
                out.extend(def);
            }
            out["summary"] = json!(fields::describe(def));
            out
        }
    };
    serde_json::to_string_pretty(&value).ok()
}

/// `resources/list` for `caller`: the field resources, then the skills its
/// scope allows, on one page. Private to caches: what it holds depends on
/// the caller's scope (as `tools/list`).
pub fn list(gateway: &Gateway, caller: &Caller) -> ListResourcesResult {
    let mut all = field_resources(&gateway.fields.current());
    all.extend(
        skills::visible(gateway, caller)
            .iter()
            .map(skills::ServedSkill::resource),
    );
    let mut result = ListResourcesResult::with_all_items(all);
    result.ttl_ms = Some(0);
    result.cache_scope = Some(CacheScope::Private);
    result
}

/// The answer for a URI this gateway does not serve (to this caller):
/// resource-not-found with the URI in `data` (rmcp sends it as -32002 before
/// 2026-07-28, as -32602 from then on).
pub fn not_found(uri: &str) -> McpError {
    McpError::resource_not_found(format!("no resource {uri}"), Some(json!({ "uri": uri })))
}

/// `resources/read` for `caller`.
pub fn read(gateway: &Gateway, caller: &Caller, uri: &str) -> Result<ReadResourceResult, McpError> {
    if let Some(field) = FieldUri::parse(uri) {
        let text = field_text(&gateway.fields.current(), &field).ok_or_else(|| not_found(uri))?;
        let contents = ResourceContents::TextResourceContents {
            uri: uri.to_owned(),
            mime_type: Some(JSON.into()),
            text,
            meta: None,
        };
        return Ok(ReadResourceResult::new(vec![contents])
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Public));
    }
    let skill = skills::find(gateway, caller, uri).ok_or_else(|| not_found(uri))?;
    Ok(ReadResourceResult::new(vec![skill.contents()])
        .with_ttl_ms(0)
        .with_cache_scope(CacheScope::Private))
}

/// Whether `resources/subscribe` accepts `uri`: any `fields://` URI (an
/// edit may create what it names) and the skills `caller` may read.
pub fn subscribable(gateway: &Gateway, caller: &Caller, uri: &str) -> bool {
    FieldUri::parse(uri).is_some()
        || (uri.starts_with(skills::SCHEME) && skills::find(gateway, caller, uri).is_some())
}

/// A digest of what `uri` reads as now for `caller` (0 when it reads as nothing).
fn digest(gateway: &Gateway, caller: &Caller, uri: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let text = match read(gateway, caller, uri) {
        Ok(result) => serde_json::to_string(&result.contents).unwrap_or_default(),
        Err(_) => return 0,
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn fingerprint<T: serde::Serialize>(items: &[T]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for item in items {
        serde_json::to_string(item)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// One session's `resources/subscribe` URIs, each with the digest of what it
/// read as when last announced.
#[derive(Debug, Default)]
pub struct Subscriptions {
    uris: Mutex<BTreeMap<String, u64>>,
}

impl Subscriptions {
    /// Subscribes to `uri` as it reads now.
    pub fn add(&self, gateway: &Gateway, caller: &Caller, uri: &str) {
        let now = digest(gateway, caller, uri);
        if let Ok(mut uris) = self.uris.lock() {
            uris.insert(uri.to_owned(), now);
        }
    }

    /// Ends the subscription to `uri` (none is fine).
    pub fn remove(&self, uri: &str) {
        if let Ok(mut uris) = self.uris.lock() {
            uris.remove(uri);
        }
    }

    /// The subscribed URIs whose content changed since last asked.
    fn changed(&self, gateway: &Gateway, caller: &Caller) -> Vec<String> {
        let Ok(mut uris) = self.uris.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (uri, seen) in uris.iter_mut() {
            let now = digest(gateway, caller, uri);
            if now != *seen {
                *seen = now;
                out.push(uri.clone());
            }
        }
        out
    }
}

/// A notification [`Changes`] found due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `notifications/resources/list_changed`.
    ResourceList,
    /// `notifications/prompts/list_changed`.
    PromptList,
    /// `notifications/resources/updated` for this URI.
    Updated(String),
}

/// What changes in one caller's resources and prompts as tools load and
/// `fields/` is edited.
pub struct Changes {
    gateway: Arc<Gateway>,
    caller: Caller,
    subscriptions: Arc<Subscriptions>,
    resources: u64,
    prompts: u64,
    catalog: tokio::sync::watch::Receiver<u64>,
    fields: Option<tokio::sync::watch::Receiver<Arc<Registry>>>,
}

impl Changes {
    /// Watches from now on.
    pub fn new(gateway: &Arc<Gateway>, caller: Caller, subscriptions: Arc<Subscriptions>) -> Self {
        let mut catalog = gateway.catalog.subscribe();
        catalog.mark_unchanged();
        let mut fields = gateway.fields.subscribe();
        if let Some(fields) = fields.as_mut() {
            fields.mark_unchanged();
        }
        Self {
            resources: fingerprint(&list(gateway, &caller).resources),
            prompts: fingerprint(&prompts::list(gateway, &caller).prompts),
            gateway: Arc::clone(gateway),
            caller,
            subscriptions,
            catalog,
            fields,
        }
    }

    /// Waits for the next change of the tools or the registry and returns
    /// the notifications it makes due (possibly none); `None` once nothing
    /// can change any more.
    pub async fn next(&mut self) -> Option<Vec<Change>> {
        let changed = match self.fields.as_mut() {
            Some(fields) => tokio::select! {
                r = self.catalog.changed() => r.is_ok(),
                r = fields.changed() => r.is_ok(),
            },
            None => self.catalog.changed().await.is_ok(),
        };
        if !changed {
            return None;
        }
        let mut due = Vec::new();
        let resources = fingerprint(&list(&self.gateway, &self.caller).resources);
        if resources != self.resources {
            self.resources = resources;
            due.push(Change::ResourceList);
        }
        let prompts = fingerprint(&prompts::list(&self.gateway, &self.caller).prompts);
        if prompts != self.prompts {
            self.prompts = prompts;
            due.push(Change::PromptList);
        }
        due.extend(
            self.subscriptions
                .changed(&self.gateway, &self.caller)
                .into_iter()
                .map(Change::Updated),
        );
        Some(due)
    }
}

/// Sends a 2025 session's resource and prompt notifications until its
/// client goes away.
pub fn forward_to_session(mut changes: Changes, peer: rmcp::Peer<rmcp::RoleServer>) {
    tokio::spawn(async move {
        let mut check = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tokio::select! {
                due = changes.next() => {
                    let Some(due) = due else { return };
                    for change in due {
                        let sent = match change {
                            Change::ResourceList => peer.notify_resource_list_changed().await,
                            Change::PromptList => peer.notify_prompt_list_changed().await,
                            Change::Updated(uri) => {
                                peer.notify_resource_updated(
                                    rmcp::model::ResourceUpdatedNotificationParam::new(uri),
                                )
                                .await
                            }
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                }
                _ = check.tick() => {
                    if peer.is_transport_closed() {
                        return;
                    }
                }
            }
        }
    });
}

/// Sends what a 2026-07-28 `subscriptions/listen` stream accepted of the
/// resource and prompt notifications; returns when the stream can take no
/// more.
pub async fn forward_to_listener(mut changes: Changes, sink: &rmcp::service::SubscriptionSink) {
    let accepted = sink.accepted().clone();
    while let Some(due) = changes.next().await {
        for change in due {
            let sent = match change {
                Change::ResourceList if accepted.resources_list_changed == Some(true) => {
                    sink.notify_resource_list_changed().await
                }
                Change::PromptList if accepted.prompts_list_changed == Some(true) => {
                    sink.notify_prompt_list_changed().await
                }
                Change::Updated(uri) => sink.notify_resource_updated(uri).await,
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    }
    std::future::pending::<()>().await;
}

/// The subscriptions of a `subscriptions/listen` filter, as a session's.
pub fn listener_subscriptions(
    gateway: &Gateway,
    caller: &Caller,
    filter: &rmcp::model::SubscriptionFilter,
) -> Arc<Subscriptions> {
    let subscriptions = Arc::new(Subscriptions::default());
    for uri in filter.resource_subscriptions.iter().flatten() {
        subscriptions.add(gateway, caller, uri);
    }
    subscriptions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_uris_round_trip_with_brackets_encoded() {
        let cases = [
            (
                "fields://stripe",
                Some(FieldUri::Integration("stripe".into())),
            ),
            (
                "fields://stripe/period.start",
                Some(FieldUri::Field("stripe".into(), "period.start".into())),
            ),
            (
                "fields://hubspot/stages%5B%5D.label",
                Some(FieldUri::Field("hubspot".into(), "stages[].label".into())),
            ),
            (
                "fields://stripe/by_currency.*.gross",
                Some(FieldUri::Field(
                    "stripe".into(),
                    "by_currency.*.gross".into(),
                )),
            ),
            ("fields://", None),
            ("fields://stripe/", None),
            ("fields://stripe?x=1", None),
            ("test://static-text", None),
        ];
        for (uri, expected) in cases {
            let parsed = FieldUri::parse(uri);
            assert_eq!(parsed, expected, "{uri}");
            if let Some(parsed) = parsed {
                assert_eq!(parsed.uri(), uri);
            }
        }
        // A client that sends the brackets as they are is understood too.
        assert_eq!(
            FieldUri::parse("fields://hubspot/stages[0].label"),
            Some(FieldUri::Field("hubspot".into(), "stages[0].label".into()))
        );
    }
}

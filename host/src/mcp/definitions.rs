//! The tools' MCP definitions: promoted tools built from the catalog, each
//! output schema enriched with the field registry's meanings, then the
//! built-in tools ([`super::builtin`]). Built once per catalog and registry
//! version, as `tools/list` answers them and `tools/call` looks a tool's
//! schema up on every 2026-07-28 request.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};

use super::{Gateway, builtin};
use crate::catalog::Catalog;
use crate::fields::{self, Integration, Registry, VALIDATION_KEY};
use crate::runtime::LoadedTool;
use crate::upstream::{UpstreamSet, UpstreamTool};

impl Gateway {
    /// Every tool's MCP definition, promoted tools by name and then the
    /// built-in ones. Built once per catalog and registry version:
    /// `tools/call` looks a tool's schema up on every 2026-07-28 request.
    pub fn definitions(&self) -> Arc<Definitions> {
        let registry = self.fields.current();
        let catalog = self.catalog.current();
        let upstream = self.upstreams.current();
        if let Some(cached) = self.definitions.load_full()
            && Arc::ptr_eq(&cached.registry, &registry)
            && Arc::ptr_eq(&cached.catalog, &catalog)
            && Arc::ptr_eq(&cached.upstream, &upstream)
        {
            return cached;
        }
        // A promoted or built-in tool keeps its name: an upstream tool
        // listed under the same one is left out (and logged).
        let upstream_tools = upstream.iter().filter(|tool| {
            let taken = catalog.get(&tool.name).is_some() || builtin::is_builtin(&tool.name);
            if taken {
                tracing::warn!(tool = %tool.name, "upstream tool not served: a promoted or built-in tool has its name");
            }
            !taken
        });
        let tools: Vec<Tool> = catalog
            .iter()
            .map(|tool| definition(tool, &registry))
            .chain(upstream_tools.map(|tool| upstream_definition(tool, &registry)))
            .chain(builtin::definitions())
            .collect();
        let index = tools
            .iter()
            .enumerate()
            .map(|(i, tool)| (tool.name.to_string(), i))
            .collect();
        let built = Arc::new(Definitions {
            registry,
            catalog,
            upstream,
            tools,
            index,
        });
        self.definitions.store(Some(Arc::clone(&built)));
        built
    }
}

/// The tool definitions served for one version of the field registry.
#[derive(Debug)]
pub struct Definitions {
    registry: Arc<Registry>,
    catalog: Arc<Catalog>,
    upstream: Arc<UpstreamSet>,
    tools: Vec<Tool>,
    index: HashMap<String, usize>,
}

impl Definitions {
    /// All of them, in `tools/list` order.
    pub fn all(&self) -> &[Tool] {
        &self.tools
    }

    /// The definition of the tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.index.get(name).map(|&i| &self.tools[i])
    }
}

/// The MCP definition of a promoted tool. When its manifest names a
/// registered integration, the output schema carries each field's business
/// meaning: the tool's own schema with descriptions added, or, for a tool
/// that declares none, one built from the registry.
pub fn definition(tool: &LoadedTool, registry: &Registry) -> Tool {
    let input = match &tool.definition.input_schema {
        Value::Object(map) => map.clone(),
        _ => JsonObject::new(),
    };
    let mut def = Tool::new(
        tool.definition.name.clone(),
        tool.definition.description.clone(),
        Arc::new(input),
    );
    let integration = tool
        .manifest
        .integration
        .as_deref()
        .and_then(|slug| registry.get(slug));
    let output = match (&tool.definition.output_schema, integration) {
        (Some(schema @ Value::Object(_)), Some(integration)) => {
            let mut schema = schema.clone();
            fields::enrich_schema(&mut schema, integration);
            Some(with_validation_property(schema, integration))
        }
        (Some(schema @ Value::Object(_)), None) => Some(schema.clone()),
        (None, Some(integration)) => {
            let mut schema = fields::schema_from_fields(integration);
            // The registry describes; it must not make a client reject a
            // result with a field missing (the summary reports that).
            drop_required(&mut schema);
            Some(with_validation_property(schema, integration))
        }
        _ => None,
    };
    if let Some(Value::Object(output)) = output {
        def = def.with_raw_output_schema(Arc::new(output));
    }
    def
}

/// The MCP definition of an upstream tool: the upstream's, renamed, its
/// output schema (if any) carrying the connection's integration's meanings
/// like a promoted tool's.
pub fn upstream_definition(tool: &UpstreamTool, registry: &Registry) -> Tool {
    let mut def = tool.definition.clone();
    let integration = tool
        .connection
        .integration
        .as_deref()
        .and_then(|slug| registry.get(slug));
    if let (Some(integration), Some(schema)) = (integration, def.output_schema.as_ref()) {
        let mut schema = Value::Object((**schema).clone());
        fields::enrich_schema(&mut schema, integration);
        if let Value::Object(schema) = with_validation_property(schema, integration) {
            def.output_schema = Some(Arc::new(schema));
        }
    }
    def
}

/// Declares the optional `_field_validation` summary, so a client checking
/// results against the schema accepts a result that carries one.
fn with_validation_property(mut schema: Value, integration: &Integration) -> Value {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.insert(
            VALIDATION_KEY.to_owned(),
            json!({
                "type": "object",
                "description": format!(
                    "Present only when this result differs from the field definitions in fields/{}.yaml: unknown_fields, missing_fields and type_mismatches list what differs.",
                    integration.slug
                ),
            }),
        );
    }
    schema
}

/// Removes `required` from a schema built from the registry, at every level.
fn drop_required(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    map.remove("required");
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(drop_required);
    }
    for key in ["additionalProperties", "items"] {
        if let Some(nested) = map.get_mut(key) {
            drop_required(nested);
        }
    }
}

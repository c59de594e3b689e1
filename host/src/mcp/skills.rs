//! Each served tool's `SKILL.md` as an MCP skill (the skills extension,
//! SEP-2640): `skills/list`, `skills/get` and `skill://<name>/SKILL.md`
//! resources, and the parsed file the prompts of [`super::prompts`] are made
//! from (docs/resources-and-prompts.md).
//!
//! A skill name is the tool's name with `_` written `-` (`stripe_revenue` is
//! the skill `stripe-revenue`): Agent Skills names are lowercase letters,
//! digits and single hyphens. The `SKILL.md` served is the tool folder's,
//! with its frontmatter `name:` set to that skill name when it differs;
//! every other byte is the file's own.

use rmcp::ErrorData as McpError;
use rmcp::model::{
    GetSkillResult, JsonObject, ListSkillsResult, Resource, ResourceContents, SkillFrontmatter,
    SkillResource, SkillResources,
};
use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use super::Gateway;
use crate::auth::Caller;
use crate::runtime::LoadedTool;

/// The URI scheme of skill files.
pub const SCHEME: &str = "skill://";

/// The capability key of the skills extension.
pub const EXTENSION: &str = "io.modelcontextprotocol/skills";

/// The MIME type of a served `SKILL.md`.
pub const MARKDOWN: &str = "text/markdown";

/// Why a `SKILL.md` is not served as a skill (it may still be a prompt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SkillError {
    /// The file does not start with a `---` delimited frontmatter block.
    #[error("SKILL.md has no --- delimited YAML frontmatter")]
    NoFrontmatter,
    /// The frontmatter is not a YAML mapping this gateway reads.
    #[error("SKILL.md frontmatter is not a YAML mapping: {0}")]
    Yaml(String),
    /// The frontmatter lacks a non-empty `description`.
    #[error("SKILL.md frontmatter has no description")]
    NoDescription,
    /// The tool's name does not give an Agent Skills name.
    #[error(
        "tool name {0:?} does not give a skill name (lowercase letters, digits, single hyphens)"
    )]
    Name(String),
}

/// One tool's `SKILL.md`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillDoc {
    /// The tool it documents.
    pub tool: String,
    /// The frontmatter `description`, if any.
    pub description: Option<String>,
    /// The Markdown after the frontmatter (the whole file without one).
    pub body: String,
    /// The skill, when the file can be served as one.
    pub skill: Result<ServedSkill, SkillError>,
}

/// A `SKILL.md` as the skills extension serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedSkill {
    /// The skill name (the tool name with `-` for `_`).
    pub name: String,
    /// `skill://<name>/SKILL.md`.
    pub uri: String,
    /// The file's text as served (frontmatter `name` set to [`Self::name`]).
    pub text: String,
    /// Its frontmatter as JSON.
    pub frontmatter: JsonObject,
    /// The frontmatter description.
    pub description: String,
}

impl ServedSkill {
    /// The `skills/list` entry: one file, with its digest and size.
    pub fn entry(&self) -> rmcp::model::Skill {
        let mut extra = self.frontmatter.clone();
        extra.remove("name");
        extra.remove("description");
        let mut frontmatter = SkillFrontmatter::new(self.name.clone(), self.description.clone());
        frontmatter.extra = extra;
        rmcp::model::Skill::new(
            self.uri.clone(),
            frontmatter,
            SkillResources::Files(vec![SkillResource::from_bytes(
                self.uri.clone(),
                self.text.as_bytes(),
            )]),
        )
    }

    /// The `resources/list` entry of the `SKILL.md`.
    pub fn resource(&self) -> Resource {
        Resource::new(self.uri.clone(), self.name.clone())
            .with_description(self.description.clone())
            .with_mime_type(MARKDOWN)
            .with_size(self.text.len() as u64)
    }

    /// What `resources/read` answers for the `SKILL.md`.
    pub fn contents(&self) -> ResourceContents {
        ResourceContents::TextResourceContents {
            uri: self.uri.clone(),
            mime_type: Some(MARKDOWN.into()),
            text: self.text.clone(),
            meta: None,
        }
    }
}

/// The skill name of a tool: `_` written `-`, if that is an Agent Skills
/// name (1-64 of `a-z0-9` in hyphen-separated runs).
pub fn skill_name(tool: &str) -> Option<String> {
    let name = tool.replace('_', "-");
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.split('-').all(|run| {
            !run.is_empty() && run.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
        });
    valid.then_some(name)
}

impl SkillDoc {
    /// Parses `text`, the `SKILL.md` of `tool`.
    pub fn parse(tool: &str, text: &str) -> SkillDoc {
        let Some(split) = split_frontmatter(text) else {
            return SkillDoc {
                tool: tool.to_owned(),
                description: None,
                body: text.to_owned(),
                skill: Err(SkillError::NoFrontmatter),
            };
        };
        let parsed = yaml_mapping(split.yaml);
        let description = parsed
            .as_ref()
            .ok()
            .and_then(|m| m.get("description"))
            .and_then(Value::as_str)
            .filter(|d| !d.trim().is_empty())
            .map(str::to_owned);
        let skill = parsed.and_then(|frontmatter| served(tool, text, &split, frontmatter));
        SkillDoc {
            tool: tool.to_owned(),
            description,
            body: text[split.body..]
                .trim_start_matches(['\r', '\n'])
                .to_owned(),
            skill,
        }
    }

    /// The parsed `SKILL.md` of a loaded tool, if it has one.
    pub fn of(tool: &LoadedTool) -> Option<SkillDoc> {
        let text = tool.skill.as_deref()?;
        Some(SkillDoc::parse(&tool.definition.name, text))
    }
}

/// Where a `SKILL.md`'s frontmatter and body are.
struct Split<'a> {
    /// The YAML between the delimiters.
    yaml: &'a str,
    /// Byte range of the frontmatter's lines (for rewriting `name:`).
    yaml_start: usize,
    /// Where the body starts.
    body: usize,
}

fn split_frontmatter(text: &str) -> Option<Split<'_>> {
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))?;
    let yaml_start = text.len() - rest.len();
    let mut offset = yaml_start;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some(Split {
                yaml: &text[yaml_start..offset],
                yaml_start,
                body: offset + line.len(),
            });
        }
        offset += line.len();
    }
    None
}

/// The served file: the frontmatter's top-level `name:` line set to the
/// skill name (added first if there is none).
fn served(
    tool: &str,
    text: &str,
    split: &Split<'_>,
    mut frontmatter: JsonObject,
) -> Result<ServedSkill, SkillError> {
    let name = skill_name(tool).ok_or_else(|| SkillError::Name(tool.to_owned()))?;
    let description = frontmatter
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map(str::to_owned)
        .ok_or(SkillError::NoDescription)?;
    let served_text = if frontmatter.get("name").and_then(Value::as_str) == Some(name.as_str()) {
        text.to_owned()
    } else {
        let mut out = String::with_capacity(text.len() + name.len());
        out.push_str(&text[..split.yaml_start]);
        let mut replaced = false;
        for line in split.yaml.split_inclusive('\n') {
            if !replaced && line.starts_with("name:") {
                let ending = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
                out.push_str(&format!("name: {name}{ending}"));
                replaced = true;
            } else {
                out.push_str(line);
            }
        }
        if !replaced {
            let mut with_name = text[..split.yaml_start].to_owned();
            with_name.push_str(&format!("name: {name}\n"));
            out = with_name + &out[split.yaml_start..];
        }
        out.push_str(&text[split.yaml_start + split.yaml.len()..]);
        out
    };
    frontmatter.insert("name".into(), Value::String(name.clone()));
    Ok(ServedSkill {
        uri: format!("{SCHEME}{name}/SKILL.md"),
        name,
        text: served_text,
        frontmatter,
        description,
    })
}

/// A YAML mapping as JSON: plain scalars read as YAML 1.2 core-schema null,
/// booleans and numbers, everything else as strings.
fn yaml_mapping(yaml: &str) -> Result<JsonObject, SkillError> {
    enum Open {
        Map(JsonObject, Option<String>),
        Seq(Vec<Value>),
    }
    const MAX_DEPTH: usize = 16;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    for event in Parser::new_from_str(yaml) {
        let (event, _) = event.map_err(|e| SkillError::Yaml(e.info().to_owned()))?;
        let done = match event {
            Event::Scalar(value, style, _, _) => scalar(&value, style),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SkillError::Yaml("nested too deep".into()));
                }
                stack.push(match event {
                    Event::MappingStart(..) => Open::Map(JsonObject::new(), None),
                    _ => Open::Seq(Vec::new()),
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Open::Map(map, _)) => Value::Object(map),
                Some(Open::Seq(items)) => Value::Array(items),
                None => continue,
            },
            Event::Alias(_) => return Err(SkillError::Yaml("aliases are not read".into())),
            _ => continue,
        };
        match stack.last_mut() {
            Some(Open::Map(map, key)) => match key.take() {
                Some(k) => {
                    map.insert(k, done);
                }
                None => {
                    *key = Some(match done {
                        Value::String(s) => s,
                        other => other.to_string(),
                    });
                }
            },
            Some(Open::Seq(items)) => items.push(done),
            None => root = Some(done),
        }
    }
    match root {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(SkillError::Yaml("not a mapping".into())),
    }
}

fn scalar(value: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(value.to_owned());
    }
    match value {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Ok(n) = value.parse::<i64>() {
                return Value::from(n);
            }
            if value.bytes().any(|b| b.is_ascii_digit())
                && let Ok(f) = value.parse::<f64>()
                && f.is_finite()
            {
                return Value::from(f);
            }
            Value::String(value.to_owned())
        }
    }
}

/// The skills `caller` may see: the `SKILL.md` of every promoted tool its
/// scope allows that can be served as a skill, by name.
pub fn visible(gateway: &Gateway, caller: &Caller) -> Vec<ServedSkill> {
    let catalog = gateway.catalog.current();
    let mut skills: Vec<ServedSkill> = catalog
        .iter()
        .filter(|tool| caller.allows(&tool.definition.name))
        .filter_map(|tool| SkillDoc::of(tool)?.skill.ok())
        .collect();
    skills.sort_by(|a, b| a.name.cmp(&b.name));
    skills
}

/// The skill served at `uri` for `caller`, if any.
pub fn find(gateway: &Gateway, caller: &Caller, uri: &str) -> Option<ServedSkill> {
    visible(gateway, caller).into_iter().find(|s| s.uri == uri)
}

/// `skills/list` for `caller`: every entry on one page.
pub fn list(gateway: &Gateway, caller: &Caller) -> ListSkillsResult {
    let entries = visible(gateway, caller)
        .iter()
        .map(ServedSkill::entry)
        .collect();
    let mut result = ListSkillsResult::with_all_items(entries);
    result.ttl_ms = Some(0);
    result.cache_scope = Some(rmcp::model::CacheScope::Private);
    result
}

/// `skills/get` for `caller`: the entry of the skill at `uri`, or invalid
/// params (-32602) with the URI in `data` when it serves none there.
pub fn get(gateway: &Gateway, caller: &Caller, uri: &str) -> Result<GetSkillResult, McpError> {
    let skill = find(gateway, caller, uri).ok_or_else(|| {
        McpError::invalid_params(
            format!("no skill {uri}"),
            Some(serde_json::json!({ "uri": uri })),
        )
    })?;
    Ok(GetSkillResult::new(skill.entry())
        .with_ttl_ms(0)
        .with_cache_scope(rmcp::model::CacheScope::Private))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "---\nname: stripe_revenue\ndescription: Revenue totals, per currency.\nmetadata:\n  owner: finance\n  tags: [a, b]\n---\n\n# stripe_revenue\n\nBody.\n";

    #[test]
    fn a_tool_skill_md_is_served_under_its_skill_name_with_only_the_name_line_changed() {
        let doc = SkillDoc::parse("stripe_revenue", TEXT);
        assert_eq!(
            doc.description.as_deref(),
            Some("Revenue totals, per currency.")
        );
        assert_eq!(doc.body, "# stripe_revenue\n\nBody.\n");
        let Ok(skill) = doc.skill else {
            panic!("not a skill: {:?}", doc.skill);
        };
        assert_eq!(skill.name, "stripe-revenue");
        assert_eq!(skill.uri, "skill://stripe-revenue/SKILL.md");
        assert_eq!(
            skill.text,
            TEXT.replace("name: stripe_revenue", "name: stripe-revenue")
        );
        assert_eq!(
            Value::Object(skill.frontmatter.clone()),
            serde_json::json!({"name": "stripe-revenue", "description": "Revenue totals, per currency.",
                "metadata": {"owner": "finance", "tags": ["a", "b"]}})
        );
        assert_eq!(skill.entry().validate(), Ok(()));
    }

    #[test]
    fn a_file_without_frontmatter_or_description_is_a_prompt_but_not_a_skill() {
        let doc = SkillDoc::parse("t", "# t\n\nBody.\n");
        assert_eq!(doc.skill, Err(SkillError::NoFrontmatter));
        assert_eq!(doc.body, "# t\n\nBody.\n");
        let doc = SkillDoc::parse("t", "---\nname: t\n---\nBody.\n");
        assert_eq!(doc.skill, Err(SkillError::NoDescription));
        let doc = SkillDoc::parse("a__b", "---\nname: a__b\ndescription: d\n---\n");
        assert_eq!(doc.skill, Err(SkillError::Name("a__b".into())));
    }

    #[test]
    fn every_example_tool_skill_md_is_a_skill() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools-wasm");
        let mut seen = 0;
        for tool in ["github_repo_summary", "hubspot_pipeline", "stripe_revenue"] {
            let text =
                std::fs::read_to_string(root.join(tool).join("SKILL.md")).unwrap_or_default();
            let doc = SkillDoc::parse(tool, &text);
            let Ok(skill) = &doc.skill else {
                panic!("{tool}: {:?}", doc.skill);
            };
            assert_eq!(skill.entry().validate(), Ok(()));
            assert!(doc.body.starts_with(&format!("# {tool}")), "{tool}");
            seen += 1;
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn skill_names_follow_the_agent_skills_rules() {
        assert_eq!(
            skill_name("test_simple_prompt").as_deref(),
            Some("test-simple-prompt")
        );
        assert_eq!(skill_name("v2_report").as_deref(), Some("v2-report"));
        for bad in ["", "_a", "a_", "a__b", "Abc", &"a".repeat(65)] {
            assert_eq!(skill_name(bad), None, "{bad}");
        }
    }
}

//! Content blocks a tool returns besides its JSON (`gateway:tool@0.2.0`):
//! checked before they reach an agent, then turned into MCP content.
//!
//! What is checked, in order (docs/content.md):
//! - the number of blocks and the call's bytes: the JSON and every block
//!   together stay under the tool's `limits.content_bytes`;
//! - each block's media type: an allow-list per kind (images, audio, text
//!   resources), well-formed and free of active content (HTML) for blobs;
//! - the bytes against the declared type: the format's magic number, and for
//!   SVG a parse as XML with an `<svg>` root and nothing that runs or loads:
//!   no script, event handler, `<foreignObject>` or external reference;
//! - an embedded resource's URI: absolute, short, printable, no credentials,
//!   no scheme a client would execute or open locally;
//! - the tool's own secrets: scrubbed from text, and a binary block that
//!   carries one is refused (its bytes cannot be scrubbed without breaking it).
//!
//! The first problem refuses the whole result with the block's index and the
//! reason: nothing partial reaches the agent.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use rmcp::model::{ContentBlock, ResourceContents};

use crate::outbound::redact::Redactor;

/// Most content blocks one call may return.
pub const MAX_BLOCKS: usize = 64;
/// Longest URI of an embedded resource.
pub const MAX_URI_BYTES: usize = 2048;
/// Longest media type, parameters included.
const MAX_MIME_BYTES: usize = 255;
/// Most XML nodes an SVG may hold (a chart has hundreds).
const MAX_SVG_NODES: u32 = 200_000;

/// SVG's XML namespace.
const SVG_NS: &str = "http://www.w3.org/2000/svg";
/// XHTML's namespace: HTML inside an SVG is foreign content that can run.
const XHTML_NS: &str = "http://www.w3.org/1999/xhtml";

/// Image types a tool may return, as the MCP spec's image block carries them.
pub const IMAGE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/svg+xml",
];
/// Audio types a tool may return.
pub const AUDIO_TYPES: &[&str] = &["audio/wav", "audio/mpeg", "audio/ogg"];
/// Media types that are HTML: a client may render and run them.
const ACTIVE_TYPES: &[&str] = &["text/html", "application/xhtml+xml"];
/// `application/*` types that are text besides `+json` and `+xml` ones.
const TEXT_APPLICATION_TYPES: &[&str] = &[
    "application/json",
    "application/xml",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/sql",
    "application/graphql",
    "application/x-ndjson",
];
/// URI schemes a client would execute, inline or open on the agent's machine.
const REFUSED_SCHEMES: &[&str] = &["javascript", "vbscript", "data", "file", "blob"];

/// A content block as a tool returned it, before any check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Extra human-readable text.
    Text(String),
    /// A picture.
    Image(Media),
    /// A sound.
    Audio(Media),
    /// An embedded resource.
    Resource(Embedded),
}

/// Bytes with their declared media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Declared media type, e.g. `image/png`.
    pub mime_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A document handed to the agent inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// What names the document, e.g. `stripe://invoices/in_1`.
    pub uri: String,
    /// Declared media type.
    pub mime_type: String,
    /// The document as text (text types).
    pub text: Option<String>,
    /// The document as bytes (any other type).
    pub blob: Option<Vec<u8>>,
}

impl Block {
    /// Its kind, for error messages.
    pub fn kind(&self) -> Kind {
        match self {
            Block::Text(_) => Kind::Text,
            Block::Image(_) => Kind::Image,
            Block::Audio(_) => Kind::Audio,
            Block::Resource(_) => Kind::Resource,
        }
    }

    /// Every byte it carries: text or data, media type and URI. What the
    /// cap and the meter count for it.
    pub fn bytes(&self) -> usize {
        match self {
            Block::Text(text) => text.len(),
            Block::Image(m) | Block::Audio(m) => m.mime_type.len() + m.data.len(),
            Block::Resource(r) => {
                r.uri.len()
                    + r.mime_type.len()
                    + r.text.as_ref().map_or(0, String::len)
                    + r.blob.as_ref().map_or(0, Vec::len)
            }
        }
    }
}

/// The kind of a content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text`.
    Text,
    /// `image`.
    Image,
    /// `audio`.
    Audio,
    /// `resource` (embedded).
    Resource,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Text => "text",
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Resource => "resource",
        })
    }
}

/// A format recognised by its leading bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF (87a or 89a).
    Gif,
    /// WebP (RIFF container).
    Webp,
    /// WAV (RIFF container).
    Wav,
    /// MPEG audio (an ID3 tag or a frame sync).
    Mpeg,
    /// Ogg.
    Ogg,
    /// PDF.
    Pdf,
    /// ZIP.
    Zip,
    /// gzip.
    Gzip,
}

impl Format {
    /// The media type this format is declared as.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Gif => "image/gif",
            Format::Webp => "image/webp",
            Format::Wav => "audio/wav",
            Format::Mpeg => "audio/mpeg",
            Format::Ogg => "audio/ogg",
            Format::Pdf => "application/pdf",
            Format::Zip => "application/zip",
            Format::Gzip => "application/gzip",
        }
    }

    /// The format a media type declares, if it has a magic number to check.
    fn declared(essence: &str) -> Option<Format> {
        Some(match essence {
            "image/png" => Format::Png,
            "image/jpeg" => Format::Jpeg,
            "image/gif" => Format::Gif,
            "image/webp" => Format::Webp,
            "audio/wav" => Format::Wav,
            "audio/mpeg" => Format::Mpeg,
            "audio/ogg" => Format::Ogg,
            "application/pdf" => Format::Pdf,
            "application/zip" => Format::Zip,
            "application/gzip" => Format::Gzip,
            _ => return None,
        })
    }

    /// The format `bytes` start like, if any this module knows.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        let riff = |kind: &[u8]| {
            bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(kind)
        };
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.get(12..16) == Some(b"IHDR") {
            Some(Format::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if riff(b"WEBP") {
            Some(Format::Webp)
        } else if riff(b"WAVE") {
            Some(Format::Wav)
        } else if bytes.starts_with(b"OggS") {
            Some(Format::Ogg)
        } else if bytes.starts_with(b"ID3") || is_mpeg_frame(bytes) {
            Some(Format::Mpeg)
        } else if bytes.starts_with(b"%PDF-") {
            Some(Format::Pdf)
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if bytes.starts_with(&[0x1F, 0x8B]) {
            Some(Format::Gzip)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime_type())
    }
}

/// An MPEG audio frame header: 11 sync bits, a version and a layer that
/// are not the reserved values.
fn is_mpeg_frame(bytes: &[u8]) -> bool {
    match bytes {
        [0xFF, second, ..] => {
            second & 0xE0 == 0xE0 && (second >> 3) & 0b11 != 0b01 && (second >> 1) & 0b11 != 0
        }
        _ => false,
    }
}

/// Why a result's content was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// One block is unacceptable.
    #[error("content block {index} ({kind}): {problem}")]
    Block {
        /// 0-based index of the block in the tool's list.
        index: usize,
        /// Its kind.
        kind: Kind,
        /// What is wrong with it.
        problem: BlockProblem,
    },
    /// More blocks than [`MAX_BLOCKS`].
    #[error("the tool returned {count} content blocks; at most {MAX_BLOCKS} are allowed")]
    TooManyBlocks {
        /// Blocks returned.
        count: usize,
    },
    /// The JSON and the blocks together are over the tool's limit.
    #[error(
        "the tool returned {actual} bytes (JSON and content blocks together), over its limit of {limit}"
    )]
    TooLarge {
        /// Bytes returned.
        actual: usize,
        /// `limits.content_bytes`.
        limit: usize,
    },
}

impl ContentError {
    /// Stable machine-readable code: `output_too_large` for the byte cap
    /// (like the JSON's own cap), `invalid_content` for everything else.
    pub fn code(&self) -> &'static str {
        match self {
            ContentError::TooLarge { .. } => "output_too_large",
            ContentError::Block { .. } | ContentError::TooManyBlocks { .. } => "invalid_content",
        }
    }
}

impl ContentError {
    /// The same error with the tool's secrets scrubbed from what it quotes
    /// (a URI, a media type, an SVG attribute value).
    pub fn redacted(self, redactor: &Redactor) -> ContentError {
        match self {
            ContentError::Block {
                index,
                kind,
                problem,
            } => ContentError::Block {
                index,
                kind,
                problem: problem.redacted(redactor),
            },
            other => other,
        }
    }
}

/// What is wrong with one block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockProblem {
    /// The media type is not a well-formed `type/subtype[; params]`.
    #[error("media type {0:?} is malformed")]
    MalformedType(String),
    /// The media type is not allowed for this kind of block.
    #[error("media type {0:?} is not allowed for this kind of block")]
    TypeNotAllowed(String),
    /// HTML: a client could render it and run what it carries.
    #[error("media type {0:?} is active content and is never passed on")]
    ActiveContent(String),
    /// No bytes.
    #[error("the block has no data")]
    Empty,
    /// The bytes are not what the type declares.
    #[error("declared {declared} but the bytes are {}", found.map_or("of no recognised format", Format::mime_type))]
    Mismatch {
        /// The declared media type.
        declared: String,
        /// What the bytes start like, if anything known.
        found: Option<Format>,
    },
    /// An SVG is not UTF-8.
    #[error("the SVG is not UTF-8 text")]
    SvgNotUtf8,
    /// An SVG does not parse as XML (a DTD counts: it is refused).
    #[error("the SVG is not well-formed XML: {0}")]
    SvgNotXml(String),
    /// An SVG's root element is not `<svg>`.
    #[error("the SVG's root element is <{0}>, not <svg>")]
    SvgRoot(String),
    /// An SVG holds an element that runs or embeds foreign content.
    #[error("the SVG holds a <{0}> element")]
    SvgElement(String),
    /// An SVG element carries an event handler attribute.
    #[error("the SVG has an event handler attribute {0:?}")]
    SvgEventHandler(String),
    /// An SVG refers to something outside itself.
    #[error("the SVG refers outside itself: {attribute}={value:?}")]
    SvgExternalReference {
        /// The attribute, style rule or processing instruction.
        attribute: String,
        /// What it refers to.
        value: String,
    },
    /// An embedded resource's URI is unacceptable.
    #[error("resource URI {uri:?}: {reason}")]
    Uri {
        /// The URI as returned (cut at 100 characters).
        uri: String,
        /// Why.
        reason: UriProblem,
    },
    /// An embedded resource with both or neither of text and blob.
    #[error("an embedded resource needs exactly one of text and blob")]
    ResourceBody,
    /// A binary block holds one of the tool's secrets.
    #[error("the block's bytes hold one of the tool's secrets")]
    Secret,
}

impl BlockProblem {
    fn redacted(self, redactor: &Redactor) -> BlockProblem {
        let clean = |m: String| redactor.redact_str(&m).into_owned();
        match self {
            BlockProblem::MalformedType(m) => BlockProblem::MalformedType(clean(m)),
            BlockProblem::TypeNotAllowed(m) => BlockProblem::TypeNotAllowed(clean(m)),
            BlockProblem::ActiveContent(m) => BlockProblem::ActiveContent(clean(m)),
            BlockProblem::Mismatch { declared, found } => BlockProblem::Mismatch {
                declared: clean(declared),
                found,
            },
            BlockProblem::SvgNotXml(m) => BlockProblem::SvgNotXml(clean(m)),
            BlockProblem::SvgRoot(m) => BlockProblem::SvgRoot(clean(m)),
            BlockProblem::SvgElement(m) => BlockProblem::SvgElement(clean(m)),
            BlockProblem::SvgEventHandler(m) => BlockProblem::SvgEventHandler(clean(m)),
            BlockProblem::SvgExternalReference { attribute, value } => {
                BlockProblem::SvgExternalReference {
                    attribute: clean(attribute),
                    value: clean(value),
                }
            }
            BlockProblem::Uri { uri, reason } => BlockProblem::Uri {
                uri: clean(uri),
                reason,
            },
            other => other,
        }
    }
}

/// Why an embedded resource's URI was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriProblem {
    /// Longer than [`MAX_URI_BYTES`].
    #[error("longer than {MAX_URI_BYTES} bytes")]
    TooLong,
    /// Holds whitespace or a control character.
    #[error("holds whitespace or a control character")]
    Unprintable,
    /// Not an absolute URI with a scheme.
    #[error("not an absolute URI")]
    NotAbsolute,
    /// A scheme a client would execute, inline or open locally.
    #[error("its scheme is refused")]
    Scheme,
    /// Carries a user name or password.
    #[error("carries credentials")]
    Credentials,
}

/// Blocks that passed every check, as MCP content, and what they weigh.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// The blocks, in the tool's order.
    pub blocks: Vec<ContentBlock>,
    /// Bytes the blocks carried (see [`Block::bytes`]), for the meter.
    pub bytes: usize,
}

/// Checks a tool's blocks and turns them into MCP content.
///
/// `json_bytes` is the size of the tool's JSON result; with the blocks it
/// must stay within `limit` (`limits.content_bytes`). `redactor` scrubs the
/// tool's secrets from text and finds them in bytes.
pub fn check(
    blocks: Vec<Block>,
    json_bytes: usize,
    limit: usize,
    redactor: &Redactor,
) -> Result<Checked, ContentError> {
    if blocks.len() > MAX_BLOCKS {
        return Err(ContentError::TooManyBlocks {
            count: blocks.len(),
        });
    }
    let bytes = blocks
        .iter()
        .fold(0usize, |sum, b| sum.saturating_add(b.bytes()));
    let actual = bytes.saturating_add(json_bytes);
    if actual > limit {
        return Err(ContentError::TooLarge { actual, limit });
    }
    let blocks = blocks
        .into_iter()
        .enumerate()
        .map(|(index, block)| {
            let kind = block.kind();
            check_block(block, redactor).map_err(|problem| ContentError::Block {
                index,
                kind,
                problem,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Checked { blocks, bytes })
}

fn check_block(block: Block, redactor: &Redactor) -> Result<ContentBlock, BlockProblem> {
    match block {
        Block::Text(text) => Ok(ContentBlock::text(redactor.redact_str(&text).into_owned())),
        Block::Image(media) => {
            let essence = media_type(&media.mime_type, IMAGE_TYPES)?;
            check_bytes(&essence, &media.data, redactor)?;
            Ok(ContentBlock::image(base64(&media.data), essence))
        }
        Block::Audio(media) => {
            let essence = media_type(&media.mime_type, AUDIO_TYPES)?;
            check_bytes(&essence, &media.data, redactor)?;
            Ok(ContentBlock::audio(base64(&media.data), essence))
        }
        Block::Resource(embedded) => check_resource(embedded, redactor),
    }
}

/// An image or audio type: well-formed and on the kind's allow-list; its
/// essence (lowercase, parameters dropped) is what the client is told.
fn media_type(declared: &str, allowed: &[&str]) -> Result<String, BlockProblem> {
    let essence = parse_type(declared)?;
    if !allowed.contains(&essence.as_str()) {
        return Err(BlockProblem::TypeNotAllowed(declared.to_owned()));
    }
    Ok(essence)
}

/// The bytes of an image, audio or blob: present, free of the tool's
/// secrets, and what `essence` declares where that can be told.
fn check_bytes(essence: &str, data: &[u8], redactor: &Redactor) -> Result<(), BlockProblem> {
    if data.is_empty() {
        return Err(BlockProblem::Empty);
    }
    if matches!(redactor.redact(data), Cow::Owned(_)) {
        return Err(BlockProblem::Secret);
    }
    if essence == "image/svg+xml" {
        let text = std::str::from_utf8(data).map_err(|_| BlockProblem::SvgNotUtf8)?;
        return check_svg(text);
    }
    if let Some(declared) = Format::declared(essence) {
        let found = Format::sniff(data);
        if found != Some(declared) {
            return Err(BlockProblem::Mismatch {
                declared: essence.to_owned(),
                found,
            });
        }
    }
    Ok(())
}

fn check_resource(embedded: Embedded, redactor: &Redactor) -> Result<ContentBlock, BlockProblem> {
    let Embedded {
        uri,
        mime_type,
        text,
        blob,
    } = embedded;
    check_uri(&uri)?;
    let uri = redactor.redact_str(&uri).into_owned();
    let essence = parse_type(&mime_type)?;
    if ACTIVE_TYPES.contains(&essence.as_str()) {
        return Err(BlockProblem::ActiveContent(mime_type));
    }
    let declared = mime_type.trim().to_owned();
    let mime_type = Some(declared.clone());
    match (text, blob) {
        (Some(text), None) => {
            if !is_text_type(&essence) {
                return Err(BlockProblem::TypeNotAllowed(declared));
            }
            if essence == "image/svg+xml" {
                check_svg(&text)?;
                if matches!(redactor.redact_str(&text), Cow::Owned(_)) {
                    return Err(BlockProblem::Secret);
                }
            }
            let text = redactor.redact_str(&text).into_owned();
            Ok(ContentBlock::resource(
                ResourceContents::TextResourceContents {
                    uri,
                    mime_type,
                    text,
                    meta: None,
                },
            ))
        }
        (None, Some(blob)) => {
            check_bytes(&essence, &blob, redactor)?;
            Ok(ContentBlock::resource(
                ResourceContents::BlobResourceContents {
                    uri,
                    mime_type,
                    blob: base64(&blob),
                    meta: None,
                },
            ))
        }
        _ => Err(BlockProblem::ResourceBody),
    }
}

/// Text resources: `text/*`, the text `application/*` types, any
/// `+json`/`+xml` type, and SVG (checked like an SVG image).
fn is_text_type(essence: &str) -> bool {
    essence.starts_with("text/")
        || TEXT_APPLICATION_TYPES.contains(&essence)
        || (essence.starts_with("application/")
            && (essence.ends_with("+json") || essence.ends_with("+xml")))
        || essence == "image/svg+xml"
}

/// A media type's essence, lowercase: `type/subtype` of RFC 6838 names,
/// then optional `; name=value` parameters, printable ASCII throughout.
fn parse_type(declared: &str) -> Result<String, BlockProblem> {
    let malformed = || BlockProblem::MalformedType(declared.to_owned());
    if declared.len() > MAX_MIME_BYTES || declared.chars().any(|c| !(' '..='~').contains(&c)) {
        return Err(malformed());
    }
    let mut parts = declared.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let (kind, subtype) = essence.split_once('/').ok_or_else(malformed)?;
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    if !name(kind) || !name(subtype) {
        return Err(malformed());
    }
    for param in parts {
        let (key, value) = param.split_once('=').ok_or_else(malformed)?;
        if !name(key.trim()) || value.trim().is_empty() {
            return Err(malformed());
        }
    }
    Ok(essence.to_ascii_lowercase())
}

fn check_uri(uri: &str) -> Result<(), BlockProblem> {
    let refuse = |reason| BlockProblem::Uri {
        uri: uri.chars().take(100).collect(),
        reason,
    };
    if uri.len() > MAX_URI_BYTES {
        return Err(refuse(UriProblem::TooLong));
    }
    // The URL parser would silently drop tabs and newlines: refuse them first.
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse(UriProblem::Unprintable));
    }
    let parsed = url::Url::parse(uri).map_err(|_| refuse(UriProblem::NotAbsolute))?;
    if REFUSED_SCHEMES.contains(&parsed.scheme()) {
        return Err(refuse(UriProblem::Scheme));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse(UriProblem::Credentials));
    }
    Ok(())
}

/// Elements that run code or embed foreign documents (SVG local names;
/// `handler` and `listener` are SVG Tiny's scripting).
const SVG_FORBIDDEN_ELEMENTS: &[&str] = &[
    "script",
    "foreignobject",
    "iframe",
    "embed",
    "object",
    "handler",
    "listener",
];

/// An SVG that can be shown and cannot act: well-formed XML without a DTD,
/// an `<svg>` root, no element that runs or embeds, no event handler, no
/// animation of a link or handler, and every reference inside the document
/// (`#id`) or an inline raster image.
fn check_svg(text: &str) -> Result<(), BlockProblem> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_SVG_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let document = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| BlockProblem::SvgNotXml(e.to_string()))?;
    let root = document.root_element();
    let root_name = root.tag_name();
    if root_name.name() != "svg" || !matches!(root_name.namespace(), None | Some(SVG_NS)) {
        return Err(BlockProblem::SvgRoot(root_name.name().to_owned()));
    }
    for node in document.root().descendants() {
        if let Some(pi) = node.pi() {
            // `<?xml-stylesheet href=…?>` loads a stylesheet from elsewhere.
            if pi.target.eq_ignore_ascii_case("xml-stylesheet") {
                return Err(BlockProblem::SvgExternalReference {
                    attribute: "<?xml-stylesheet?>".into(),
                    value: pi.value.unwrap_or_default().to_owned(),
                });
            }
            continue;
        }
        if !node.is_element() {
            continue;
        }
        let name = node.tag_name();
        let local = name.name().to_ascii_lowercase();
        if name.namespace() == Some(XHTML_NS) || SVG_FORBIDDEN_ELEMENTS.contains(&local.as_str()) {
            return Err(BlockProblem::SvgElement(name.name().to_owned()));
        }
        if local == "style" {
            let css: String = node
                .children()
                .filter_map(|c| c.text())
                .collect::<Vec<_>>()
                .concat();
            check_style("<style>", &css)?;
        }
        for attribute in node.attributes() {
            check_svg_attribute(attribute.name(), attribute.value())?;
        }
    }
    Ok(())
}

fn check_svg_attribute(name: &str, value: &str) -> Result<(), BlockProblem> {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("on") {
        return Err(BlockProblem::SvgEventHandler(name.to_owned()));
    }
    let external = || BlockProblem::SvgExternalReference {
        attribute: name.to_owned(),
        value: value.chars().take(100).collect(),
    };
    // `href` and `xlink:href` alike (roxmltree gives the local name).
    if lower == "href" || lower == "src" {
        if !is_internal_reference(value) {
            return Err(external());
        }
        return Ok(());
    }
    // `<animate attributeName="href" to="javascript:…">` and the like.
    if lower == "attributename" {
        let target = value.trim().to_ascii_lowercase();
        let target = target.rsplit(':').next().unwrap_or_default();
        if target == "href" || target.starts_with("on") {
            return Err(external());
        }
        return Ok(());
    }
    if lower == "style" {
        return check_style(name, value);
    }
    check_css(name, value)
}

/// Style sheet text (a `<style>` element or a `style` attribute): CSS
/// escapes could spell `url(` in a way [`check_css`] does not read, so
/// none are accepted.
fn check_style(attribute: &str, css: &str) -> Result<(), BlockProblem> {
    if css.contains('\\') {
        return Err(BlockProblem::SvgExternalReference {
            attribute: attribute.to_owned(),
            value: css.chars().take(100).collect(),
        });
    }
    check_css(attribute, css)
}

/// A reference an SVG may hold: a fragment of itself, or an inline raster
/// image of an allowed type.
fn is_internal_reference(value: &str) -> bool {
    let value = value.trim();
    if value.starts_with('#') {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    ["png", "jpeg", "gif", "webp"]
        .iter()
        .any(|t| lower.starts_with(&format!("data:image/{t};base64,")))
}

/// Style text (a `<style>` element, a `style` attribute or a presentation
/// attribute such as `fill`): `url(…)` must point inside the document, and
/// `@import` is refused.
fn check_css(attribute: &str, css: &str) -> Result<(), BlockProblem> {
    let lower = css.to_ascii_lowercase();
    let external = |value: &str| BlockProblem::SvgExternalReference {
        attribute: attribute.to_owned(),
        value: value.chars().take(100).collect(),
    };
    if lower.contains("@import") || lower.contains("image-set(") {
        return Err(external(css));
    }
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("url(") {
        let after = rest.get(at + 4..).unwrap_or_default();
        let target = after
            .split(')')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        if !is_internal_reference(target) {
            return Err(external(target));
        }
        rest = after;
    }
    Ok(())
}

/// One line naming a checked block for an operator's terminal, e.g.
/// `image image/png, 4018 bytes` or `resource stripe://r/1 text/csv, 120 bytes`.
pub fn summary(block: &ContentBlock) -> String {
    // Base64 carries 3 bytes in 4 characters, less its padding.
    let decoded = |b64: &str| {
        let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
        (b64.len() / 4 * 3).saturating_sub(padding)
    };
    match block {
        ContentBlock::Text(t) => format!("text, {} bytes", t.text.len()),
        ContentBlock::Image(i) => format!("image {}, {} bytes", i.mime_type, decoded(&i.data)),
        ContentBlock::Audio(a) => format!("audio {}, {} bytes", a.mime_type, decoded(&a.data)),
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::TextResourceContents {
                uri,
                mime_type,
                text,
                ..
            } => format!(
                "resource {uri} {}, {} bytes",
                mime_type.as_deref().unwrap_or("-"),
                text.len()
            ),
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => format!(
                "resource {uri} {}, {} bytes",
                mime_type.as_deref().unwrap_or("-"),
                decoded(blob)
            ),
            _ => "resource".to_owned(),
        },
        ContentBlock::ResourceLink(link) => format!("resource link {}", link.uri),
        _ => "other".to_owned(),
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests;

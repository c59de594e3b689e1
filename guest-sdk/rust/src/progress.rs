//! Progress of a long call, and content blocks besides the JSON result
//! (`gateway:tool@0.2.0`).

use std::cell::RefCell;

use crate::bindings::gateway::tool::progress::report;
use crate::bindings::gateway::tool::types::{ContentBlock, Embedded, Media};

/// Reports that `done` of `total` units are finished (`total` when known),
/// with an optional short message such as "page 3 of 7".
///
/// The gateway passes it to the agent as an MCP progress notification when
/// the agent asked for progress, and drops it otherwise, so calling it is
/// always cheap. Keep `done` from decreasing: a report that goes backwards
/// is dropped. Reports faster than the gateway's rate are coalesced, the
/// last one always arriving before the result.
pub fn progress(done: f64, total: Option<f64>, message: Option<&str>) {
    report(done, total, message);
}

/// A content block returned besides the JSON result, in the order attached.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Extra human-readable text.
    Text(String),
    /// A picture: `mime_type` is e.g. "image/png" or "image/svg+xml".
    Image {
        /// IANA media type; the gateway checks it against the bytes.
        mime_type: String,
        /// The encoded picture.
        data: Vec<u8>,
    },
    /// A sound: `mime_type` is e.g. "audio/wav".
    Audio {
        /// IANA media type; the gateway checks it against the bytes.
        mime_type: String,
        /// The encoded sound.
        data: Vec<u8>,
    },
    /// A document handed over inline (an MCP embedded resource).
    Resource {
        /// What names the document, e.g. "stripe://invoices/in_1".
        uri: String,
        /// IANA media type.
        mime_type: String,
        /// The document: text for text documents, else bytes.
        body: ResourceBody,
    },
}

/// The body of a [`Content::Resource`].
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceBody {
    /// A text document.
    Text(String),
    /// Anything else.
    Blob(Vec<u8>),
}

thread_local! {
    static ATTACHED: RefCell<Vec<Content>> = const { RefCell::new(Vec::new()) };
}

/// Adds a content block to this call's result, after the JSON and the
/// blocks attached before it. Blocks of a call that fails are dropped.
pub fn attach(block: Content) {
    ATTACHED.with(|a| a.borrow_mut().push(block));
}

/// The blocks attached during this call, in WIT form; none remain after.
pub(crate) fn take_attached() -> Vec<ContentBlock> {
    ATTACHED
        .with(|a| std::mem::take(&mut *a.borrow_mut()))
        .into_iter()
        .map(|block| match block {
            Content::Text(text) => ContentBlock::Text(text),
            Content::Image { mime_type, data } => ContentBlock::Image(Media { mime_type, data }),
            Content::Audio { mime_type, data } => ContentBlock::Audio(Media { mime_type, data }),
            Content::Resource {
                uri,
                mime_type,
                body,
            } => {
                let (text, blob) = match body {
                    ResourceBody::Text(text) => (Some(text), None),
                    ResourceBody::Blob(blob) => (None, Some(blob)),
                };
                ContentBlock::Resource(Embedded {
                    uri,
                    mime_type,
                    text,
                    blob,
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_blocks_come_out_in_order_once() {
        attach(Content::Text("a".into()));
        attach(Content::Resource {
            uri: "x://1".into(),
            mime_type: "text/csv".into(),
            body: ResourceBody::Text("a,b".into()),
        });
        let blocks = take_attached();
        assert_eq!(blocks.len(), 2);
        assert!(matches!(&blocks[0], ContentBlock::Text(t) if t == "a"));
        assert!(matches!(
            &blocks[1],
            ContentBlock::Resource(Embedded { text: Some(t), blob: None, .. }) if t == "a,b"
        ));
        assert!(take_attached().is_empty());
    }
}

//! Shorthands for the content blocks a tool attaches besides its JSON
//! (docs/content.md): `attach(Content::png(bytes))`.

use crate::{Content, ResourceBody};

impl Content {
    /// A PNG picture (`image/png`).
    pub fn png(data: impl Into<Vec<u8>>) -> Content {
        Content::image("image/png", data)
    }

    /// A JPEG picture (`image/jpeg`).
    pub fn jpeg(data: impl Into<Vec<u8>>) -> Content {
        Content::image("image/jpeg", data)
    }

    /// An SVG picture (`image/svg+xml`). The gateway refuses one with a
    /// script, an event handler, `<foreignObject>` or an external reference.
    pub fn svg(text: impl Into<String>) -> Content {
        Content::image("image/svg+xml", text.into().into_bytes())
    }

    /// A picture of any allowed type: `image/png`, `image/jpeg`,
    /// `image/gif`, `image/webp` or `image/svg+xml`.
    pub fn image(mime_type: &str, data: impl Into<Vec<u8>>) -> Content {
        Content::Image {
            mime_type: mime_type.to_owned(),
            data: data.into(),
        }
    }

    /// A WAV sound (`audio/wav`).
    pub fn wav(data: impl Into<Vec<u8>>) -> Content {
        Content::Audio {
            mime_type: "audio/wav".to_owned(),
            data: data.into(),
        }
    }

    /// A text document named by `uri` (e.g. `text/plain`, `text/csv`,
    /// `application/json`).
    pub fn text_resource(uri: &str, mime_type: &str, text: impl Into<String>) -> Content {
        Content::Resource {
            uri: uri.to_owned(),
            mime_type: mime_type.to_owned(),
            body: ResourceBody::Text(text.into()),
        }
    }

    /// A binary document named by `uri` (e.g. `application/pdf`).
    pub fn blob_resource(uri: &str, mime_type: &str, data: impl Into<Vec<u8>>) -> Content {
        Content::Resource {
            uri: uri.to_owned(),
            mime_type: mime_type.to_owned(),
            body: ResourceBody::Blob(data.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_set_the_media_type() {
        assert_eq!(
            Content::png(vec![1]),
            Content::Image {
                mime_type: "image/png".into(),
                data: vec![1]
            }
        );
        assert_eq!(
            Content::svg("<svg/>"),
            Content::Image {
                mime_type: "image/svg+xml".into(),
                data: b"<svg/>".to_vec()
            }
        );
        assert!(matches!(
            Content::text_resource("a://b", "text/csv", "x"),
            Content::Resource { body: ResourceBody::Text(t), .. } if t == "x"
        ));
    }
}

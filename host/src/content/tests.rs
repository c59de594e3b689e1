use super::*;

/// A real 1×1 red PNG (zlib-compressed IDAT, valid CRCs).
const PNG: &[u8] = include_bytes!("testdata/red.png");
/// A real 8 kHz mono WAV.
const WAV: &[u8] = include_bytes!("testdata/tone.wav");
/// A chart-like SVG: gradient, style sheet, internal `url(#…)` and `xlink:href`.
const SVG: &str = include_str!("testdata/chart.svg");
/// What tools-wasm/stripe_revenue_chart draws for October 2026 in euros.
const REVENUE_SVG: &str = include_str!("testdata/revenue.svg");
/// The head of a JFIF file.
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01,
];
const SECRET: &str = "sk_live_0123456789abcdef";
const LIMIT: usize = 1 << 20;

fn none() -> Redactor {
    Redactor::default()
}

fn image(mime: &str, data: &[u8]) -> Block {
    Block::Image(Media {
        mime_type: mime.into(),
        data: data.to_vec(),
    })
}

fn svg(text: &str) -> Block {
    image("image/svg+xml", text.as_bytes())
}

fn resource(uri: &str, mime: &str, text: Option<&str>, blob: Option<&[u8]>) -> Block {
    Block::Resource(Embedded {
        uri: uri.into(),
        mime_type: mime.into(),
        text: text.map(str::to_owned),
        blob: blob.map(<[u8]>::to_vec),
    })
}

/// The problem of the only block, or a panic naming what came instead.
fn problem(block: Block) -> BlockProblem {
    match check(vec![block], 0, LIMIT, &none()) {
        Err(ContentError::Block {
            index: 0, problem, ..
        }) => problem,
        other => panic!("expected a refused block, got {other:?}"),
    }
}

fn wrap(body: &str) -> String {
    format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">{body}</svg>"#)
}

#[test]
fn a_png_becomes_an_image_block_with_its_bytes_in_base64() {
    let checked = check(vec![image("image/png", PNG)], 10, LIMIT, &none()).expect("valid");
    let [ContentBlock::Image(img)] = checked.blocks.as_slice() else {
        panic!("expected one image, got {:?}", checked.blocks);
    };
    assert_eq!(img.mime_type, "image/png");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&img.data)
        .expect("base64");
    assert_eq!(decoded, PNG);
    assert_eq!(checked.bytes, "image/png".len() + PNG.len());
    assert_eq!(
        summary(&checked.blocks[0]),
        format!("image image/png, {} bytes", PNG.len())
    );
}

#[test]
fn a_declared_type_is_told_to_the_client_lowercase_without_parameters() {
    let checked = check(vec![image("Image/PNG", PNG)], 0, LIMIT, &none()).expect("valid");
    assert_eq!(
        checked.blocks[0].as_image().map(|i| i.mime_type.as_str()),
        Some("image/png")
    );
}

#[test]
fn a_png_declared_as_jpeg_is_refused_naming_what_the_bytes_are() {
    assert_eq!(
        problem(image("image/jpeg", PNG)),
        BlockProblem::Mismatch {
            declared: "image/jpeg".into(),
            found: Some(Format::Png),
        }
    );
    assert_eq!(
        problem(image("image/png", JPEG)),
        BlockProblem::Mismatch {
            declared: "image/png".into(),
            found: Some(Format::Jpeg),
        }
    );
    assert_eq!(
        problem(image("image/gif", b"not a picture")),
        BlockProblem::Mismatch {
            declared: "image/gif".into(),
            found: None,
        }
    );
}

#[test]
fn the_error_names_the_index_and_kind_of_the_bad_block() {
    let blocks = vec![
        Block::Text("fine".into()),
        image("image/png", PNG),
        image("image/jpeg", PNG),
    ];
    let error = check(blocks, 0, LIMIT, &none()).expect_err("third block is bad");
    assert!(matches!(
        error,
        ContentError::Block {
            index: 2,
            kind: Kind::Image,
            problem: BlockProblem::Mismatch { .. }
        }
    ));
    assert_eq!(error.code(), "invalid_content");
}

#[test]
fn types_off_the_allow_list_and_malformed_types_are_refused() {
    assert_eq!(
        problem(image("image/bmp", b"BM..")),
        BlockProblem::TypeNotAllowed("image/bmp".into())
    );
    assert_eq!(
        problem(image("audio/wav", WAV)),
        BlockProblem::TypeNotAllowed("audio/wav".into())
    );
    assert_eq!(
        problem(image("png", PNG)),
        BlockProblem::MalformedType("png".into())
    );
    assert_eq!(
        problem(image("image/png\n", PNG)),
        BlockProblem::MalformedType("image/png\n".into())
    );
    assert_eq!(problem(image("image/png", b"")), BlockProblem::Empty);
}

#[test]
fn a_wav_is_an_audio_block_and_a_wav_declared_as_mpeg_is_refused() {
    let audio = |mime: &str| {
        Block::Audio(Media {
            mime_type: mime.into(),
            data: WAV.to_vec(),
        })
    };
    let checked = check(vec![audio("audio/wav")], 0, LIMIT, &none()).expect("valid");
    assert_eq!(
        checked.blocks[0].as_audio().map(|a| a.mime_type.as_str()),
        Some("audio/wav")
    );
    assert_eq!(
        problem(audio("audio/mpeg")),
        BlockProblem::Mismatch {
            declared: "audio/mpeg".into(),
            found: Some(Format::Wav),
        }
    );
}

#[test]
fn magic_numbers_are_recognised() {
    assert_eq!(Format::sniff(PNG), Some(Format::Png));
    assert_eq!(Format::sniff(WAV), Some(Format::Wav));
    assert_eq!(Format::sniff(JPEG), Some(Format::Jpeg));
    assert_eq!(Format::sniff(b"GIF89a\x01\x00"), Some(Format::Gif));
    assert_eq!(Format::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
    assert_eq!(Format::sniff(b"OggS\0\x02"), Some(Format::Ogg));
    assert_eq!(Format::sniff(b"ID3\x04\0"), Some(Format::Mpeg));
    assert_eq!(Format::sniff(&[0xFF, 0xFB, 0x90, 0x00]), Some(Format::Mpeg));
    assert_eq!(Format::sniff(b"%PDF-1.7"), Some(Format::Pdf));
    // A PNG signature without its IHDR is not taken for a PNG.
    assert_eq!(Format::sniff(b"\x89PNG\r\n\x1a\nxxxxxxxx"), None);
}

#[test]
fn a_chart_svg_with_internal_references_passes() {
    let checked = check(vec![svg(SVG)], 0, LIMIT, &none()).expect("valid SVG");
    assert_eq!(
        checked.blocks[0].as_image().map(|i| i.mime_type.as_str()),
        Some("image/svg+xml")
    );
    assert!(check(vec![svg(REVENUE_SVG)], 0, LIMIT, &none()).is_ok());
    let inline_png =
        wrap(r#"<image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/>"#);
    assert!(check(vec![svg(&inline_png)], 0, LIMIT, &none()).is_ok());
}

#[test]
fn an_svg_with_a_script_is_refused() {
    assert_eq!(
        problem(svg(&wrap("<script>alert(1)</script>"))),
        BlockProblem::SvgElement("script".into())
    );
    assert_eq!(
        problem(svg(&wrap(
            r#"<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>"#
        ))),
        BlockProblem::SvgElement("foreignObject".into())
    );
    assert_eq!(
        problem(svg(&wrap(
            r#"<g><div xmlns="http://www.w3.org/1999/xhtml"/></g>"#
        ))),
        BlockProblem::SvgElement("div".into())
    );
}

#[test]
fn an_svg_with_an_event_handler_is_refused() {
    let with_onload = r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>"#;
    assert_eq!(
        problem(svg(with_onload)),
        BlockProblem::SvgEventHandler("onload".into())
    );
    assert_eq!(
        problem(svg(&wrap(r#"<rect onClick="x()"/>"#))),
        BlockProblem::SvgEventHandler("onClick".into())
    );
}

#[test]
fn an_svg_referring_outside_itself_is_refused() {
    for body in [
        r#"<image href="https://example.com/track.png"/>"#,
        r#"<use xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="other.svg#a"/>"#,
        r#"<a href="javascript:alert(1)"><text>x</text></a>"#,
        r#"<rect fill="url(https://example.com/p.svg#g)"/>"#,
        r#"<rect style="fill: url('//example.com/x')"/>"#,
        r#"<style>@import "https://example.com/a.css";</style>"#,
        r#"<style>rect { fill: url(http://x/y) }</style>"#,
        r#"<style>rect { background: \75 rl(http://x/y) }</style>"#,
        r#"<image href="data:image/svg+xml;base64,PHN2Zz4="/>"#,
        r#"<animate attributeName="href" to="javascript:alert(1)"/>"#,
    ] {
        assert!(
            matches!(
                problem(svg(&wrap(body))),
                BlockProblem::SvgExternalReference { .. }
            ),
            "{body}"
        );
    }
    let stylesheet = r#"<?xml-stylesheet href="https://example.com/s.css"?><svg xmlns="http://www.w3.org/2000/svg"/>"#;
    assert!(matches!(
        problem(svg(stylesheet)),
        BlockProblem::SvgExternalReference { .. }
    ));
}

#[test]
fn an_svg_must_be_xml_without_a_dtd_and_rooted_at_svg() {
    assert!(matches!(
        problem(svg("<svg><rect></svg>")),
        BlockProblem::SvgNotXml(_)
    ));
    let entities = r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>"#;
    assert!(matches!(problem(svg(entities)), BlockProblem::SvgNotXml(_)));
    assert_eq!(
        problem(svg(r#"<html xmlns="http://www.w3.org/1999/xhtml"/>"#)),
        BlockProblem::SvgRoot("html".into())
    );
    assert_eq!(
        problem(image("image/svg+xml", &[0x3C, 0xFF, 0xFE])),
        BlockProblem::SvgNotUtf8
    );
}

#[test]
fn the_json_and_the_blocks_together_are_capped() {
    let blocks = vec![image("image/png", PNG), Block::Text("note".into())];
    let weight = "image/png".len() + PNG.len() + "note".len();
    let checked = check(blocks.clone(), 100, weight + 100, &none()).expect("exactly at the cap");
    assert_eq!(checked.bytes, weight);
    let error = check(blocks, 101, weight + 100, &none()).expect_err("one byte over");
    assert_eq!(
        error,
        ContentError::TooLarge {
            actual: weight + 101,
            limit: weight + 100
        }
    );
    assert_eq!(error.code(), "output_too_large");
}

#[test]
fn too_many_blocks_are_refused() {
    let blocks = vec![Block::Text("x".into()); MAX_BLOCKS + 1];
    assert_eq!(
        check(blocks, 0, LIMIT, &none()),
        Err(ContentError::TooManyBlocks {
            count: MAX_BLOCKS + 1
        })
    );
}

#[test]
fn embedded_text_and_blob_resources_become_resource_blocks() {
    let blocks = vec![
        resource(
            "test://embedded-resource",
            "text/plain",
            Some("This is an embedded resource content."),
            None,
        ),
        resource(
            "stripe://invoices/in_1",
            "application/json",
            Some(r#"{"test":"data"}"#),
            None,
        ),
        resource(
            "https://example.com/chart.png",
            "image/png",
            None,
            Some(PNG),
        ),
        resource(
            "report://q3",
            "application/octet-stream",
            None,
            Some(b"\x00\x01"),
        ),
    ];
    let checked = check(blocks, 0, LIMIT, &none()).expect("valid");
    let contents: Vec<_> = checked
        .blocks
        .iter()
        .map(|b| b.as_resource().map(|r| r.resource.clone()))
        .collect();
    assert!(matches!(
        &contents[0],
        Some(ResourceContents::TextResourceContents { uri, mime_type: Some(m), .. })
            if uri == "test://embedded-resource" && m == "text/plain"
    ));
    assert!(matches!(
        &contents[2],
        Some(ResourceContents::BlobResourceContents { mime_type: Some(m), blob, .. })
            if m == "image/png" && *blob == base64(PNG)
    ));
    assert!(matches!(
        &contents[3],
        Some(ResourceContents::BlobResourceContents { .. })
    ));
}

#[test]
fn resources_are_checked_for_body_type_and_bytes() {
    assert_eq!(
        problem(resource("a://b", "text/plain", Some("x"), Some(b"x"))),
        BlockProblem::ResourceBody
    );
    assert_eq!(
        problem(resource("a://b", "text/plain", None, None)),
        BlockProblem::ResourceBody
    );
    assert_eq!(
        problem(resource("a://b", "image/png", Some("not text"), None)),
        BlockProblem::TypeNotAllowed("image/png".into())
    );
    assert_eq!(
        problem(resource("a://b", "text/html", Some("<b>x</b>"), None)),
        BlockProblem::ActiveContent("text/html".into())
    );
    assert_eq!(
        problem(resource("a://b", "application/pdf", None, Some(PNG))),
        BlockProblem::Mismatch {
            declared: "application/pdf".into(),
            found: Some(Format::Png),
        }
    );
    assert_eq!(
        problem(resource(
            "a://b",
            "image/svg+xml",
            Some(&wrap("<script/>")),
            None
        )),
        BlockProblem::SvgElement("script".into())
    );
}

#[test]
fn resource_uris_must_be_sane() {
    let uri_problem = |uri: &str| match problem(resource(uri, "text/plain", Some("x"), None)) {
        BlockProblem::Uri { reason, .. } => reason,
        other => panic!("expected a URI problem, got {other:?}"),
    };
    assert_eq!(uri_problem("relative/path"), UriProblem::NotAbsolute);
    assert_eq!(uri_problem("javascript:alert(1)"), UriProblem::Scheme);
    assert_eq!(uri_problem("file:///etc/passwd"), UriProblem::Scheme);
    assert_eq!(uri_problem("data:text/plain,hi"), UriProblem::Scheme);
    assert_eq!(
        uri_problem("https://u:p@example.com/"),
        UriProblem::Credentials
    );
    assert_eq!(
        uri_problem("https://exa\nmple.com/"),
        UriProblem::Unprintable
    );
    assert_eq!(
        uri_problem(&format!(
            "https://example.com/{}",
            "a".repeat(MAX_URI_BYTES)
        )),
        UriProblem::TooLong
    );
}

#[test]
fn secrets_are_scrubbed_from_text_and_refuse_binary_blocks() {
    let redactor = Redactor::new([("STRIPE_KEY", SECRET)]);
    let text = Block::Text(format!("key {SECRET}"));
    let checked = check(vec![text], 0, LIMIT, &redactor).expect("text is scrubbed");
    let shown = checked.blocks[0]
        .as_text()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert!(!shown.contains(SECRET));

    let mut png = PNG.to_vec();
    png.extend_from_slice(SECRET.as_bytes());
    assert!(matches!(
        check(vec![image("image/png", &png)], 0, LIMIT, &redactor),
        Err(ContentError::Block {
            problem: BlockProblem::Secret,
            ..
        })
    ));
    let svg_with_secret = wrap(&format!("<text>{SECRET}</text>"));
    assert!(matches!(
        check(vec![svg(&svg_with_secret)], 0, LIMIT, &redactor),
        Err(ContentError::Block {
            problem: BlockProblem::Secret,
            ..
        })
    ));
}

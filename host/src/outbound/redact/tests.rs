#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use super::*;

const TOKEN: &str = "sk_live_4f9a8c1e2b7d";

fn redactor(pairs: &[(&str, &str)]) -> Arc<Redactor> {
    Arc::new(Redactor::new(pairs.iter().copied()))
}

fn text(r: &Redactor, s: &str) -> String {
    r.redact_str(s).into_owned()
}

/// Feeds `input` split at every pair of points (three chunks) and checks
/// the streamed result equals the one-shot result.
fn assert_streams_like_one_shot(r: &Arc<Redactor>, input: &[u8]) {
    let whole = r.redact(input).into_owned();
    for i in 0..=input.len() {
        for j in i..=input.len() {
            let mut s = r.stream();
            let mut out = s.push(&input[..i]);
            out.extend(s.push(&input[i..j]));
            out.extend(s.push(&input[j..]));
            out.extend(s.finish());
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&whole),
                "split at {i}, {j}"
            );
        }
    }
}

#[test]
fn values_are_replaced_by_their_name() {
    let r = redactor(&[("STRIPE_KEY", TOKEN)]);
    assert_eq!(
        text(&r, &format!("invalid credentials: Bearer {TOKEN}.")),
        "invalid credentials: Bearer [redacted:STRIPE_KEY]."
    );
    assert_eq!(
        text(&r, &format!("{TOKEN}{TOKEN}")),
        "[redacted:STRIPE_KEY][redacted:STRIPE_KEY]"
    );
    assert_eq!(
        text(&r, &format!("{TOKEN} and {TOKEN}")),
        "[redacted:STRIPE_KEY] and [redacted:STRIPE_KEY]"
    );
    assert_eq!(text(&r, "nothing here"), "nothing here");
    assert!(matches!(r.redact_str("nothing here"), Cow::Borrowed(_)));
    // Case matters: a secret is exact bytes.
    assert_eq!(text(&r, &TOKEN.to_uppercase()), TOKEN.to_uppercase());
}

#[test]
fn encodings_are_replaced_too() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    let value = "p@s/w0rd_+\"x\"";
    let r = redactor(&[("PW", value)]);
    let b64 = STANDARD.encode(value);
    let cases = [
        value.to_owned(),
        // Percent-encoded, upper and lower hex.
        "p%40s%2Fw0rd_%2B%22x%22".to_owned(),
        "p%40s%2fw0rd_%2b%22x%22".to_owned(),
        "p%40s%2Fw0rd%5F%2B%22x%22".to_owned(),
        // JSON-escaped, with and without `\/`.
        "p@s/w0rd_+\\\"x\\\"".to_owned(),
        "p@s\\/w0rd_+\\\"x\\\"".to_owned(),
        // Base64 and base64url, padded or not.
        b64.clone(),
        b64.trim_end_matches('=').to_owned(),
        URL_SAFE.encode(value),
        URL_SAFE_NO_PAD.encode(value),
    ];
    for form in cases {
        assert_eq!(text(&r, &format!("<{form}>")), "<[redacted:PW]>", "{form}");
    }
    // Base64 of the value followed by more text: the characters that only
    // the value determines are replaced.
    let longer = STANDARD.encode(format!("{value}:tail"));
    let stable = value.len() * 8 / 6;
    assert_eq!(
        text(&r, &longer),
        format!("[redacted:PW]{}", &longer[stable..])
    );
}

#[test]
fn a_basic_credential_is_scrubbed_encoded_decoded_and_by_password() {
    let user_pass = "svc-user:hunter2-long";
    let basic = base64::engine::general_purpose::STANDARD.encode(user_pass);
    let r = redactor(&[("BASIC", &basic)]);
    let cases = [
        (format!("Basic {basic}"), "Basic [redacted:BASIC]"),
        (
            format!("user {user_pass} rejected"),
            "user [redacted:BASIC] rejected",
        ),
        (
            "password hunter2-long rejected".to_owned(),
            "password [redacted:BASIC] rejected",
        ),
        ("svc-user%3Ahunter2-long".to_owned(), "[redacted:BASIC]"),
        // The user name alone is not a secret.
        ("svc-user".to_owned(), "svc-user"),
    ];
    for (given, want) in cases {
        assert_eq!(text(&r, &given), want, "{given}");
    }
}

#[test]
fn a_split_secret_is_found_at_every_split_point() {
    let r = redactor(&[("TOKEN", TOKEN)]);
    let body = format!("{{\"error\":\"Bearer {TOKEN} is invalid\",\"again\":\"{TOKEN}\"}}");
    assert_streams_like_one_shot(&r, body.as_bytes());
    // Several secrets and encodings in one body, split everywhere.
    let basic = base64::engine::general_purpose::STANDARD.encode("svc:pa55-w0rd-long");
    let two = redactor(&[("TOKEN", TOKEN), ("BASIC", &basic)]);
    let mixed = format!(
        "a={TOKEN}&b={}&c=pa55-w0rd-long&d={basic}&e=svc%3Apa55-w0rd-long",
        base64::engine::general_purpose::STANDARD.encode(TOKEN)
    );
    assert_eq!(
        text(&two, &mixed),
        "a=[redacted:TOKEN]&b=[redacted:TOKEN]&c=[redacted:BASIC]&d=[redacted:BASIC]&e=[redacted:BASIC]"
    );
    assert_streams_like_one_shot(&two, mixed.as_bytes());

    let mut s = r.stream();
    let mut out = Vec::new();
    for byte in body.as_bytes() {
        out.extend(s.push(std::slice::from_ref(byte)));
    }
    out.extend(s.finish());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"error\":\"Bearer [redacted:TOKEN] is invalid\",\"again\":\"[redacted:TOKEN]\"}"
    );
}

#[test]
fn overlapping_needles_are_merged_into_one_marker() {
    // Two secrets that overlap in the text: the union is redacted.
    let r = redactor(&[("A", "abcdefgh"), ("B", "efghijkl")]);
    assert_eq!(text(&r, "xxabcdefghijklyy"), "xx[redacted:A,B]yy");
    assert_eq!(text(&r, "abcdefgh efghijkl"), "[redacted:A] [redacted:B]");
    // A self-overlapping value in a run: every byte of every occurrence goes.
    let r = redactor(&[("RUN", "aaaaaa")]);
    assert_eq!(text(&r, "baaaaaaaaab"), "b[redacted:RUN]b");
    assert_streams_like_one_shot(&r, b"baaaaaaaaab");
    let r = redactor(&[("A", "abcdefgh"), ("B", "efghijkl")]);
    assert_streams_like_one_shot(&r, b"-abcdefghijkl-abcdefgh-efghijkl-");
}

#[test]
fn a_span_that_outlives_the_chunk_is_not_written_twice() {
    let r = redactor(&[("A", "abcdefgh"), ("B", "efghijklmnopqrst")]);
    let mut s = r.stream();
    let mut out = s.push(b"..abcdefghijklmnopqrst");
    out.extend(s.push(b"tail"));
    out.extend(s.finish());
    assert_eq!(String::from_utf8(out).unwrap(), "..[redacted:A,B]tail");
}

#[test]
fn short_values_and_empty_redactors_change_nothing() {
    let r = redactor(&[("SHORT", "abc")]);
    assert!(r.is_empty());
    assert_eq!(text(&r, "abc abc"), "abc abc");
    let empty = Arc::new(Redactor::default());
    let mut s = empty.stream();
    assert_eq!(s.push(b"data"), b"data");
    assert_eq!(s.finish(), b"");
}

#[test]
fn json_headers_and_utf8_are_handled() {
    let r = redactor(&[("TOKEN", TOKEN)]);
    let mut value = serde_json::json!({
        "ok": true,
        "list": [format!("x{TOKEN}"), 3],
        TOKEN: {"nested": TOKEN},
    });
    r.redact_json(&mut value);
    assert_eq!(
        value,
        serde_json::json!({
            "ok": true,
            "list": ["x[redacted:TOKEN]", 3],
            "[redacted:TOKEN]": {"nested": "[redacted:TOKEN]"},
        })
    );

    let mut headers = HeaderMap::new();
    headers.insert(
        "www-authenticate",
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
    );
    headers.insert("x-other", HeaderValue::from_static("fine"));
    r.redact_headers(&mut headers);
    assert_eq!(headers["www-authenticate"], "Bearer [redacted:TOKEN]");
    assert_eq!(headers["x-other"], "fine");

    let r = redactor(&[("EURO", "€€€-secret")]);
    assert_eq!(text(&r, "é€€€-secretü"), "é[redacted:EURO]ü");
}

#[test]
fn debug_shows_names_not_values() {
    let r = redactor(&[("TOKEN", TOKEN)]);
    assert!(!format!("{r:?}").contains(TOKEN));
}

#[test]
fn an_echo_in_three_byte_chunks_comes_out_as_markers() {
    // What `tests/it/upstream.rs` `echo-auth` sends, fed as it arrives.
    let r = Arc::new(Redactor::new([
        ("TOKEN", TOKEN.to_owned()),
        ("TOKEN", format!("Bearer {TOKEN}")),
    ]));
    let pct = percent_encoding::utf8_percent_encode(TOKEN, NON_ALPHANUMERIC);
    let body = format!("invalid credentials: Bearer {TOKEN}; pct={pct}; end");
    assert_streams_like_one_shot(&r, body.as_bytes());
    let mut s = r.stream();
    let mut out = Vec::new();
    for chunk in body.as_bytes().chunks(3) {
        out.extend(s.push(chunk));
    }
    out.extend(s.finish());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "invalid credentials: [redacted:TOKEN]; pct=[redacted:TOKEN]; end"
    );
}

//! Line scans of a tool folder's files: credentials written into them, and
//! code that calls a method the manifest does not grant. Deterministic and
//! conservative: each hit names the file and line, and what it saw is shown
//! only in part, so the review itself never republishes a secret.

use std::collections::BTreeSet;

/// Token prefixes of credentials that are never written into a tool.
/// (prefix, what it is, characters that must follow at least).
const PREFIXES: &[(&str, &str, usize)] = &[
    ("sk_live_", "Stripe live secret key", 8),
    ("rk_live_", "Stripe live restricted key", 8),
    ("ghp_", "GitHub personal access token", 20),
    ("gho_", "GitHub OAuth token", 20),
    ("ghs_", "GitHub app installation token", 20),
    ("ghu_", "GitHub user-to-server token", 20),
    ("github_pat_", "GitHub fine-grained token", 20),
    ("xoxb-", "Slack bot token", 10),
    ("xoxp-", "Slack user token", 10),
    ("AKIA", "AWS access key id", 16),
    ("AIza", "Google API key", 30),
    ("pat-na1-", "HubSpot private app token", 20),
    ("pat-eu1-", "HubSpot private app token", 20),
];

/// Shortest token the entropy check looks at.
const ENTROPY_MIN_LEN: usize = 32;
/// Bits per character above which a long mixed token reads as random.
const ENTROPY_BITS: f64 = 4.2;

/// What a credential scan found on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialHit {
    /// A token with a known credential prefix.
    Known {
        /// What kind of credential.
        kind: &'static str,
        /// The token with all but its first characters masked.
        masked: String,
    },
    /// `Bearer <literal>` rather than a placeholder.
    Bearer {
        /// The token, masked.
        masked: String,
    },
    /// A long token of random-looking characters.
    HighEntropy {
        /// The token, masked.
        masked: String,
        /// Its Shannon entropy, bits per character (one decimal).
        bits_tenths: u32,
    },
}

/// Credentials on one line of text.
pub fn credentials(line: &str) -> Vec<CredentialHit> {
    let mut hits = Vec::new();
    for token in tokens(line, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        if let Some((_, kind, _)) = PREFIXES.iter().find(|(prefix, _, rest)| {
            token.starts_with(prefix) && token.len() >= prefix.len() + rest
        }) {
            hits.push(CredentialHit::Known {
                kind,
                masked: mask(token),
            });
        }
    }
    hits.extend(bearer(line));
    if hits.is_empty() {
        // URLs are left out (opaque ids in receipt links and the like; a key
        // in a query string is caught by its prefix above), and `/` and `=`
        // split tokens: paths and query strings are not keys.
        let without_urls = strip_urls(line);
        for token in tokens(&without_urls, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+')
        }) {
            if let Some(bits) = random_looking(token) {
                hits.push(CredentialHit::HighEntropy {
                    masked: mask(token),
                    bits_tenths: (bits * 10.0) as u32,
                });
            }
        }
    }
    hits
}

fn bearer(line: &str) -> Option<CredentialHit> {
    let at = line.find("Bearer ")?;
    let rest = &line[at + "Bearer ".len()..];
    let token: &str = rest
        .split(|c: char| {
            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '+' | '/' | '=' | '-'))
        })
        .next()
        .unwrap_or("");
    // `Bearer ${VAR}`, `Bearer {token}`, `Bearer <token>`, `Bearer [redacted:VAR]`
    // and the like start with a character outside the token alphabet.
    (token.len() >= 8 && !token.chars().all(|c| c.is_ascii_lowercase())).then(|| {
        CredentialHit::Bearer {
            masked: mask(token),
        }
    })
}

/// Entropy in bits per character of a token that looks like a random key:
/// long, mixed upper case, lower case and digits, not a plain hex digest.
fn random_looking(token: &str) -> Option<f64> {
    if token.len() < ENTROPY_MIN_LEN || encodes_text(token) {
        return None;
    }
    let upper = token.chars().any(|c| c.is_ascii_uppercase());
    let lower = token.chars().any(|c| c.is_ascii_lowercase());
    let digit = token.chars().any(|c| c.is_ascii_digit());
    if !(upper && lower && digit) {
        return None;
    }
    let mut counts = [0u32; 128];
    for b in token.bytes() {
        counts[usize::from(b & 0x7f)] += 1;
    }
    let n = token.len() as f64;
    let bits = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum::<f64>();
    (bits >= ENTROPY_BITS).then_some(bits)
}

/// `line` with every `scheme://…` run (up to whitespace or a quote) blanked.
fn strip_urls(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("://") {
        // Back up over the scheme's letters.
        let start = rest[..at]
            .rfind(|c: char| !c.is_ascii_alphanumeric() && c != '+' && c != '.' && c != '-')
            .map_or(0, |i| i + 1);
        out.push_str(&rest[..start]);
        let tail = &rest[at + 3..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(tail.len());
        out.push(' ');
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `token` is base64 of printable text (GitHub's node ids, for
/// one): an encoding of words, not a random key.
fn encodes_text(token: &str) -> bool {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = token.trim_end_matches('=');
    // Decode the longest prefix of whole 4-character groups: a token cut
    // short by the line still shows what it encodes.
    let whole = &trimmed[..trimmed.len() / 4 * 4];
    [STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().any(|engine| {
        engine.decode(whole).is_ok_and(|bytes| {
            !bytes.is_empty() && bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
        })
    })
}

fn tokens(line: &str, in_token: impl Fn(char) -> bool) -> impl Iterator<Item = &str> {
    line.split(move |c: char| !in_token(c))
        .filter(|t| !t.is_empty())
}

/// The first four characters, then `…` and the length: enough for the
/// operator to find it, not enough to use it.
fn mask(token: &str) -> String {
    let head: String = token.chars().take(4).collect();
    format!("{head}… ({} characters)", token.chars().count())
}

/// Methods beyond GET/HEAD that a line of tool code appears to call.
pub fn mutating_calls(line: &str) -> BTreeSet<&'static str> {
    const METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];
    let code = strip_comment(line);
    let mut found = BTreeSet::new();
    for method in METHODS {
        let lower = method.to_ascii_lowercase();
        let quoted = [format!("\"{method}\""), format!("'{method}'")];
        let call = format!(".{lower}(");
        let variant = [
            format!("Method::{method}"),
            format!("Method::{}{}", &method[..1], &lower[1..]),
        ];
        if quoted.iter().any(|q| code.contains(q.as_str()))
            || code.contains(call.as_str())
            || variant.iter().any(|v| code.contains(v.as_str()))
        {
            found.insert(method);
        }
    }
    found
}

/// The code part of a Python or Rust line (a `#` or `//` comment removed
/// when it starts the line; trailing comments stay, which errs on the side
/// of a finding).
pub(crate) fn strip_comment(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with("//") {
        ""
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_prefixes_are_found_and_masked() {
        let hits = credentials(r#"KEY = "sk_live_51Habcdefghijklmnop""#);
        assert_eq!(
            hits,
            vec![CredentialHit::Known {
                kind: "Stripe live secret key",
                masked: "sk_l… (27 characters)".into()
            }]
        );
        assert!(matches!(
            credentials("token: ghp_0123456789abcdefghijABCDEFGHIJ0123")[..],
            [CredentialHit::Known {
                kind: "GitHub personal access token",
                ..
            }]
        ));
        assert!(matches!(
            credentials("AKIAIOSFODNN7EXAMPLE")[..],
            [CredentialHit::Known {
                kind: "AWS access key id",
                ..
            }]
        ));
    }

    #[test]
    fn a_prefix_alone_in_prose_is_not_a_credential() {
        assert_eq!(credentials("never paste an sk_live_ key here"), vec![]);
        assert_eq!(credentials("HubSpot tokens start with pat-na1-"), vec![]);
    }

    #[test]
    fn bearer_literals_are_found_placeholders_are_not() {
        assert!(matches!(
            credentials(r#"headers = {"Authorization": "Bearer abc123XYZ789def"}"#)[..],
            [CredentialHit::Bearer { .. }]
        ));
        for line in [
            r#"Authorization = "Bearer ${HUBSPOT_ACCESS_TOKEN}""#,
            r#"f"Bearer {token}""#,
            r#""Bearer " + token"#,
            "Authorization: Bearer <token>",
            r#""authorization": "Bearer [redacted:GITHUB_TOKEN]""#,
            "the Bearer scheme is standard",
        ] {
            assert_eq!(credentials(line), vec![], "{line}");
        }
    }

    #[test]
    fn random_tokens_are_found_ids_and_digests_are_not() {
        assert!(matches!(
            credentials("secret = 'q8Zr4Lx2Vw9Tn6Kp3Jh7Fd1Sb5Mc0Ng8Ye2Ua4Wi'")[..],
            [CredentialHit::HighEntropy { .. }]
        ));
        for line in [
            "sha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'",
            "id: ch_3PQx8ZK1abcdEFGH12345678",
            "property: hs_analytics_first_touch_converting_campaign",
            "request_id: 550e8400-e29b-41d4-a716-446655440000",
            "node_id: MDEyOk9yZ2FuaXphdGlvbjEyMzQ1Njc4OTA=",
            r#""receipt_url": "https://pay.stripe.com/receipts/payment/CAMaFwoVYWNjdF8xUHE3Um5aMmVLdk5hSGZqamZoKKOHQN4eKxZR3t9-SQKZPf?s=ap","#,
            "url: https://api.stripe.com/v1/charges?starting_after=ch_3PQx8ZK1abcdEFGH12345678&limit=100",
        ] {
            assert_eq!(credentials(line), vec![], "{line}");
        }
    }

    #[test]
    fn a_key_in_a_url_is_found_by_its_prefix() {
        assert!(matches!(
            credentials("https://maps.example.com/api?key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q")
                [..],
            [CredentialHit::Known {
                kind: "Google API key",
                ..
            }]
        ));
        assert_eq!(strip_urls("a \"https://x.example/p?q=1\" b"), "a \" \" b");
    }

    #[test]
    fn mutating_calls_in_python_and_rust() {
        assert_eq!(
            mutating_calls("    r = requests.post(url, json=body)"),
            BTreeSet::from(["POST"])
        );
        assert_eq!(
            mutating_calls(r#"http.request("DELETE", url)"#),
            BTreeSet::from(["DELETE"])
        );
        assert_eq!(
            mutating_calls("let req = Request::new(Method::Patch, url);"),
            BTreeSet::from(["PATCH"])
        );
        assert_eq!(
            mutating_calls("    # requests.post would write"),
            BTreeSet::new()
        );
        assert_eq!(mutating_calls("r = requests.get(url)"), BTreeSet::new());
    }
}

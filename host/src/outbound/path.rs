//! Request paths the upstream could read differently from the policy.
//!
//! The policy compares the path `url::Url` prints; the upstream (or a proxy
//! in front of it) may decode it again, strip `;` parameters, fold overlong
//! UTF-8 or Unicode look-alikes, or stop at a NUL. Any of those can turn a
//! path that starts with the allowed prefix into `..` and step out of it with
//! the secret attached. So a path is refused when, at any depth of
//! percent-decoding, it has a dot segment in any spelling, a control byte or
//! an overlong UTF-8 sequence; and, under a path prefix, an encoded slash.

use std::borrow::Cow;

/// Rounds of percent-decoding looked through. A path still changing after
/// this many is refused: no API needs a quadruple-encoded path.
const MAX_DECODE_ROUNDS: usize = 4;

/// What the caller allows beyond the always-refused forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slashes {
    /// `%2F`/`%5C` are data (e.g. GitLab's `group%2Fproject`): the entry
    /// allows the whole host, so a slash the upstream decodes escapes nothing.
    Allowed,
    /// The entry has a path prefix: an encoded slash is refused, since an
    /// upstream that decodes it sees different segments than the policy did.
    Refused,
}

/// Whether the request path (`url::Url::path`) means the same thing to every
/// reasonable decoder.
pub(super) fn is_unambiguous(path: &str, slashes: Slashes) -> bool {
    let mut current: Cow<'_, [u8]> = Cow::Borrowed(path.as_bytes());
    for round in 0..=MAX_DECODE_ROUNDS {
        if has_control_or_overlong(&current)
            || has_dot_segment(&current)
            || has_iis_unicode_escape(&current)
        {
            return false;
        }
        if slashes == Slashes::Refused && has_encoded_slash(&current, round > 0) {
            return false;
        }
        let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode(&current).into();
        if decoded == current {
            return true;
        }
        current = Cow::Owned(decoded.into_owned());
    }
    false
}

/// C0 controls, DEL (`..%00`, `..%09` end or pad a segment for some servers)
/// and UTF-8 sequences that encode a code point with more bytes than needed
/// (`%C0%AE` is an overlong `.`, `%C0%AF` an overlong `/`).
fn has_control_or_overlong(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b < 0x20 || b == 0x7f)
        || bytes.windows(2).any(|w| {
            matches!(
                (w[0], w[1]),
                (0xc0 | 0xc1, _) | (0xe0, 0x80..=0x9f) | (0xf0, 0x80..=0x8f)
            )
        })
        || bytes.last().is_some_and(|&b| b == 0xc0 || b == 0xc1)
}

/// `%uXXXX`, the old IIS escape (`%u002e` is `.`): no standard decoder reads
/// it, so it has no legitimate use, and the one that does would see a dot.
fn has_iis_unicode_escape(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| {
        w[0] == b'%' && (w[1] == b'u' || w[1] == b'U') && w[2..].iter().all(u8::is_ascii_hexdigit)
    })
}

/// `%2F` or `%5C` still encoded in `bytes`, or (`decoded`) a `\` that a
/// decoding round produced: `url` turns a raw `\` into `/` before we see it.
fn has_encoded_slash(bytes: &[u8], decoded: bool) -> bool {
    bytes.windows(3).any(|w| {
        w[0] == b'%'
            && (w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f')
                || w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'))
    }) || (decoded && bytes.contains(&b'\\'))
}

/// A segment that is only dots once its `;` parameters and surrounding
/// whitespace are gone (`..;jsessionid=x`, `.. `, `...`), with `/`, `\` and
/// their full-width and division-slash look-alikes as separators and the
/// full-width, small and leader dots as dots (servers that NFKC-fold see
/// plain ones).
fn has_dot_segment(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.split(['/', '\\', '\u{ff0f}', '\u{ff3c}', '\u{2215}', '\u{2044}'])
        .any(|segment| {
            let segment = segment.split(';').next().unwrap_or(segment);
            let segment = segment.trim_matches(|c: char| c.is_whitespace());
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| matches!(c, '.' | '\u{ff0e}' | '\u{fe52}' | '\u{2024}'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_step_out_is_refused() {
        let refused = [
            // Plain and matrix-parameter dot segments.
            "/v1/..;/admin",
            "/v1/..;x=1/admin",
            "/v1/.;/admin",
            "/v1/...",
            "/v1/.. /admin",
            "/v1/..%20/admin",
            // Encoded once, twice, three times; either case.
            "/v1/%2e%2e;/admin",
            "/v1/%2E%2E/admin",
            "/v1/.%2e/admin",
            "/v1/%252e%252e/admin",
            "/v1/%25252e%25252e/admin",
            "/v1/%252e%252e%253b/admin",
            // Overlong UTF-8 for `.` and `/`; IIS `%u`; Unicode look-alikes.
            "/v1/%c0%ae%c0%ae/admin",
            "/v1/%C0%AE%C0%AE%C0%AFadmin",
            "/v1/%e0%80%ae%e0%80%ae/admin",
            "/v1/%f0%80%80%ae/admin",
            "/v1/%25c0%25ae%25c0%25ae/admin",
            "/v1/%c0",
            "/v1/%u002e%u002e/admin",
            "/v1/%U002E%U002E/admin",
            "/v1/%EF%BC%8E%EF%BC%8E/admin",
            "/v1/x%EF%BC%8F%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin",
            "/v1/%E2%80%A4%E2%80%A4/admin",
            // NUL and other controls that end or pad a segment.
            "/v1/..%00/admin",
            "/v1/..%09/admin",
            "/v1/..%0a/admin",
            "/v1/%00",
            "/v1/a%7fb",
            "/v1/%2500",
            // Dot segments behind encoded slashes.
            "/v1/x%2f..%2fadmin",
            "/v1/x%5c..%5cadmin",
            "/v1/x%255c..%255cadmin",
            // Too deep to be an honest path.
            "/v1/%2525252525",
        ];
        for path in refused {
            for slashes in [Slashes::Allowed, Slashes::Refused] {
                assert!(!is_unambiguous(path, slashes), "{path} {slashes:?}");
            }
        }
    }

    #[test]
    fn encoded_slashes_are_refused_only_under_a_prefix() {
        for path in [
            "/v1/group%2Fproject",
            "/v1/group%2fproject",
            "/v1/a%5Cb",
            "/v1/a%252Fb",
        ] {
            assert!(!is_unambiguous(path, Slashes::Refused), "{path}");
            assert!(is_unambiguous(path, Slashes::Allowed), "{path}");
        }
    }

    #[test]
    fn ordinary_paths_pass() {
        let fine = [
            "/",
            "/v1",
            "/v1/",
            "/v1/charges",
            "/v1/a.b/c",
            "/v1/a..b",
            "/v1/.well-known/x",
            "/v1/..x",
            "/v1/x..",
            "/v1/%E2%82%AC",
            "/v1/caf%C3%A9",
            "/v1/100%25",
            "/v1/50%25off",
            "/v1/a%20b",
            "/v1/a;b=c/d",
            "/v1/repos/o/r/contents/src/main.rs",
            "/v1/%",
            "/v1/%zz",
        ];
        for path in fine {
            for slashes in [Slashes::Allowed, Slashes::Refused] {
                assert!(is_unambiguous(path, slashes), "{path} {slashes:?}");
            }
        }
    }
}

//! Text that agents and reviewers read (tool descriptions, schema strings,
//! manifest values): refuse what a person cannot see but a model still reads.
//!
//! Control characters and terminal escapes rewrite what a reviewer's
//! terminal shows; Unicode tag characters (U+E0000–U+E007F) spell out
//! invisible instructions a model follows; bidirectional overrides and
//! isolates reorder what is displayed; zero-width characters and runs of
//! variation selectors hide data between visible letters. See
//! `docs/security.md` ("Hidden text").

/// Why a piece of text was refused: the first hidden character and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hidden {
    /// The offending character.
    pub ch: char,
    /// Its byte offset in the text (texts past 4 GiB are refused long before).
    pub offset: u32,
}

impl std::fmt::Display for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hidden character U+{:04X} ({}) at byte {}",
            u32::from(self.ch),
            kind(self.ch),
            self.offset
        )
    }
}

/// Whether newlines and tabs are allowed (descriptions have paragraphs;
/// one-line values such as a version do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// `\n` and `\t` are allowed.
    Multi,
    /// Every control character is refused.
    Single,
}

/// The first character of `text` a reader cannot see, if any.
pub fn find_hidden(text: &str, lines: Lines) -> Option<Hidden> {
    let mut previous_was_selector = false;
    for (offset, ch) in text.char_indices() {
        let selector = is_variation_selector(ch);
        let hidden = if ch.is_control() {
            !(lines == Lines::Multi && (ch == '\n' || ch == '\t'))
        } else if selector {
            // One selector after a visible character picks a glyph (❤️);
            // a run of them, or a supplementary one, encodes data.
            previous_was_selector || offset == 0 || u32::from(ch) >= 0xE0100
        } else {
            is_invisible(ch)
        };
        if hidden {
            return Some(Hidden {
                ch,
                offset: u32::try_from(offset).unwrap_or(u32::MAX),
            });
        }
        previous_was_selector = selector;
    }
    None
}

fn is_variation_selector(ch: char) -> bool {
    matches!(u32::from(ch), 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// Invisible format characters: tags, bidi controls, zero-width characters.
fn is_invisible(ch: char) -> bool {
    matches!(
        u32::from(ch),
        0xE0000..=0xE007F       // tag characters
        | 0x202A..=0x202E       // bidi embeddings and overrides
        | 0x2066..=0x2069       // bidi isolates
        | 0x200E | 0x200F | 0x061C // directional marks
        | 0x200B..=0x200D       // zero-width space, non-joiner, joiner
        | 0x2060..=0x2064       // word joiner, invisible operators
        | 0xFEFF                // zero-width no-break space
        | 0x00AD                // soft hyphen
        | 0x180E                // Mongolian vowel separator
        | 0x115F | 0x1160 | 0x3164 | 0xFFA0 // Hangul fillers
        | 0xFFF9..=0xFFFB // interlinear annotation
    )
}

fn kind(ch: char) -> &'static str {
    match u32::from(ch) {
        _ if ch.is_control() => "control character or terminal escape",
        0xE0000..=0xE007F => "tag character",
        0x202A..=0x202E | 0x2066..=0x2069 | 0x200E | 0x200F | 0x061C => "bidirectional control",
        0xFE00..=0xFE0F | 0xE0100..=0xE01EF => "variation selector run",
        _ => "invisible character",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_hidden_text_is_found_with_its_offset() {
        let cases = [
            ("a\u{1b}[31mred", Lines::Multi, '\u{1b}', 1),
            ("line\rover", Lines::Multi, '\r', 4),
            ("one\nline", Lines::Single, '\n', 3),
            ("tab\there", Lines::Single, '\t', 3),
            ("ok\u{E0049}\u{E0047}", Lines::Multi, '\u{E0049}', 2),
            ("abc\u{E007F}", Lines::Multi, '\u{E007F}', 3),
            ("x\u{202E}gnp.exe", Lines::Multi, '\u{202E}', 1),
            ("x\u{2066}y\u{2069}", Lines::Multi, '\u{2066}', 1),
            ("zero\u{200B}width", Lines::Multi, '\u{200B}', 4),
            ("join\u{200D}er", Lines::Multi, '\u{200D}', 4),
            ("\u{FEFF}bom", Lines::Multi, '\u{FEFF}', 0),
            ("word\u{2060}joiner", Lines::Multi, '\u{2060}', 4),
            ("mark\u{200F}", Lines::Multi, '\u{200F}', 4),
            ("soft\u{AD}hyphen", Lines::Multi, '\u{AD}', 4),
            ("a\u{FE0F}\u{FE0E}", Lines::Multi, '\u{FE0E}', 4),
            ("a\u{E0100}", Lines::Multi, '\u{E0100}', 1),
            ("\u{FE0F}start", Lines::Multi, '\u{FE0F}', 0),
        ];
        for (text, lines, ch, offset) in cases {
            assert_eq!(
                find_hidden(text, lines),
                Some(Hidden { ch, offset }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn ordinary_text_in_any_script_passes() {
        for text in [
            "Summarises a GitHub repository.\n\n\tArgs: owner, repo",
            "Montant facturé en centimes (€), après remboursements",
            "Сумма платежа — 日本語の説明 — مبلغ الدفع",
            "I \u{2764}\u{FE0F} invoices",
            "",
        ] {
            assert_eq!(find_hidden(text, Lines::Multi), None, "{text:?}");
        }
        assert_eq!(find_hidden("1.2.0-beta", Lines::Single), None);
    }
}

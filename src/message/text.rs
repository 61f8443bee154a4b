//! Character rules shared by every chat adapter for text that may come from
//! outside Lookout (a client's Klaviyo account, a person's note).
//!
//! Each adapter keeps its own markup escaping (Slack `&<>` and `mrkdwn`,
//! Discord markdown, terminal escape sequences); what is the same on every
//! surface lives here: which characters can reorder a line, hide inside a
//! word, or drive a terminal, and so are never shown.

/// Whether `c` changes the display order of text: the embeddings and
/// overrides U+202A–U+202E, the isolates U+2066–U+2069, the marks U+200E and
/// U+200F, and the Arabic letter mark U+061C. A flow name holding one could
/// make a line read differently from what it says.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Whether `c` is an invisible zero-width character: zero-width space,
/// non-joiner and joiner (U+200B–U+200D), word joiner (U+2060) and the byte
/// order mark (U+FEFF). In a name they would hide a word split (`@​here`
/// that is not `@here`) or glue two words that look apart.
pub fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Whether `c` is a control character (C0, DEL or C1), tab and newline included.
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Whether `c` ends a line somewhere: `\n`, `\r`, vertical tab, form feed,
/// next line (U+0085) and the Unicode line and paragraph separators.
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Whether `c` is never shown from outside text on any surface: controls
/// (except `\n` and `\t`, which each adapter lays out itself), bidi controls
/// and zero-width characters.
pub fn is_hidden(c: char) -> bool {
    (is_control(c) && c != '\n' && c != '\t') || is_bidi_control(c) || is_zero_width(c)
}

/// `s` without hidden characters; line breaks other than `\n` become `\n`
/// and `\n`/`\t` are kept, for adapters that lay out lines themselves.
pub fn strip_hidden(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if is_line_break(c) {
                Some('\n')
            } else if is_hidden(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// `s` as one line of visible text: every line break and tab becomes a
/// space, hidden characters go. For text from a client account (names,
/// subjects), which must never start a new line in chat: a new line is
/// where quotes, headings and lists begin.
pub fn one_line(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if is_line_break(c) || c == '\t' {
                Some(' ')
            } else if is_hidden(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

/// Whether the text right after an `@` spells a broadcast (`channel`,
/// `here`, `everyone`), case-insensitively; each adapter breaks such an `@`
/// its own way, so typed text can never read as a broadcast.
pub fn is_broadcast_word(rest: &[char]) -> bool {
    ["channel", "here", "everyone"].iter().any(|w| {
        rest.len() >= w.len()
            && rest
                .iter()
                .zip(w.chars())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_character_is_caught() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            assert!(is_bidi_control(c) && is_hidden(c), "{:04X}", c as u32);
        }
        for c in ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'] {
            assert!(is_zero_width(c) && is_hidden(c), "{:04X}", c as u32);
        }
        for c in ['\u{0}', '\u{1B}', '\u{7F}', '\u{9B}', '\r'] {
            assert!(is_control(c) && is_hidden(c), "{:04X}", c as u32);
        }
        for c in ['a', ' ', 'é', '漢', '🙂', '＠', '\n', '\t'] {
            assert!(!is_hidden(c), "{c:?}");
        }
    }

    #[test]
    fn one_line_and_strip_hidden() {
        let s = "a\u{202E}b\u{200D}c\r\nd\u{2028}e\tf\u{1B}[31m";
        assert_eq!(one_line(s), "abc  d e f[31m");
        assert_eq!(strip_hidden(s), "abc\n\nd\ne\tf[31m");
        assert_eq!(one_line("Welcome Series"), "Welcome Series");
    }

    #[test]
    fn broadcast_words() {
        let w = |s: &str| is_broadcast_word(&s.chars().collect::<Vec<_>>());
        assert!(w("here") && w("Everyone!") && w("CHANNEL"));
        assert!(!w("her") && !w("ana") && !w(""));
    }
}

//! What every error message and every log line goes through on its way out:
//! control characters escaped, and the API keys of the calls under way on
//! this thread redacted. It depends on no other module, so the error type,
//! the logger and the request code can all use it.

use std::cell::RefCell;

thread_local! {
    /// The keys of the calls under way on this thread (innermost last).
    static KEYS_IN_USE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Marks `key` as in use on this thread until the guard drops.
pub(crate) fn key_in_use(key: &str) -> KeyInUse {
    let _ = KEYS_IN_USE.try_with(|k| k.borrow_mut().push(key.to_owned()));
    KeyInUse(())
}

/// While alive, its key is scrubbed from every message and log line made on
/// this thread.
pub(crate) struct KeyInUse(());

impl Drop for KeyInUse {
    fn drop(&mut self) {
        let _ = KEYS_IN_USE.try_with(|k| k.borrow_mut().pop());
    }
}

/// What every error message and every log line goes through, whatever its
/// source (the server's `message`, a header, a redirect target, a name from
/// an archive, an OS error, a path the caller gave): control characters are
/// escaped, so no text can forge a line or reach a terminal as an escape
/// sequence, and the keys of the calls under way on this thread are
/// redacted. Applying it twice changes nothing more.
pub(crate) fn scrub(text: &str) -> String {
    let escaped = escape_controls(text);
    KEYS_IN_USE
        .try_with(|keys| {
            keys.borrow()
                .iter()
                .fold(escaped.clone(), |text, key| redact(key, &text))
        })
        .unwrap_or(escaped)
}

/// Replaces every occurrence of `key` in `text`, in any letter case (a host
/// name in a URL is lower-cased). A short key is redacted too, even where it
/// is part of an ordinary word: a mangled message is better than a leaked
/// key (a server may echo whatever key it got, `bb-download` prints it).
pub(crate) fn redact(key: &str, text: &str) -> String {
    let key = key.as_bytes();
    if key.is_empty() {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i + key.len() <= bytes.len() {
        // The key is ASCII: a match starts and ends on char boundaries.
        if bytes[i..i + key.len()].eq_ignore_ascii_case(key) {
            out.push_str(&text[copied..i]);
            out.push_str("[redacted]");
            i += key.len();
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether a character must not reach a message or a log line as it is:
/// C0 and C1 controls and DEL (newlines, ESC, BEL...), the Unicode line and
/// paragraph separators, and the bidirectional overrides that reorder what
/// a terminal shows.
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `text` with every hostile character written as an escape: `\n`, `\r`,
/// `\t`, `\0`, `\u{1b}` (ESC), `\u{85}`.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_hostile) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if is_hostile(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_the_key_in_any_case_even_a_short_one() {
        assert_eq!(
            redact("bb_live_secret", "x bb_live_secret y"),
            "x [redacted] y"
        );
        // Host names are lower-cased in URLs: any case is the key.
        assert_eq!(
            redact(
                "bb_live_SeCrEt",
                "bb_live_secret.example.com/BB_LIVE_SECRET/é"
            ),
            "[redacted].example.com/[redacted]/é"
        );
        assert_eq!(
            redact("abc", "key ABC: xabcx"),
            "key [redacted]: x[redacted]x"
        );
    }

    #[test]
    fn scrub_escapes_controls_and_redacts_keys_in_use() {
        let text = "a\nb\r\u{1b}[31m\u{7}\u{7f}\u{85}\t\0\u{202e}z";
        assert_eq!(
            scrub(text),
            "a\\nb\\r\\u{1b}[31m\\u{7}\\u{7f}\\u{85}\\t\\0\\u{202e}z"
        );
        assert_eq!(scrub(&scrub(text)), scrub(text));
        assert_eq!(scrub("plain é ✓"), "plain é ✓");
        assert_eq!(scrub("bb_live_secret"), "bb_live_secret");
        {
            let _in_use = key_in_use("bb_live_secret");
            assert_eq!(scrub("to bb_live_secret.x\n"), "to [redacted].x\\n");
        }
        assert_eq!(scrub("bb_live_secret"), "bb_live_secret");
    }
}

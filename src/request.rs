//! What goes on the wire: the checked API key, the checked session id, and the
//! one URL a session id may turn into.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Url;

use crate::error::{Error, Result};
use crate::scrub;

/// The environment variable read when no key is given.
pub const API_KEY_ENV: &str = "BROWSERBASE_API_KEY";

/// Longest session id accepted; real ids are 36-character UUIDs.
const MAX_SESSION_ID_LEN: usize = 1024;

/// Everything but RFC 3986's unreserved characters is percent-encoded, so the
/// id stays exactly one path segment whatever it holds (`/`, `?`, `#`, `%`...).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An API key that is safe to put in a header. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Checks a key: non-empty, visible ASCII only (so no CR/LF can reach the
    /// wire). The message names the argument, never the key.
    pub fn new(key: &str, what: &str) -> Result<ApiKey> {
        if key.is_empty() {
            return Err(Error::invalid_argument(format!("{what} is empty")));
        }
        if let Some(pos) = key.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            let b = key.as_bytes()[pos];
            let what_char = if b < 0x20 || b == 0x7f {
                "a control character"
            } else if b == b' ' {
                "a space"
            } else {
                "a non-ASCII character"
            };
            return Err(Error::invalid_argument(format!(
                "{what} contains {what_char} at byte {pos}; API keys are visible ASCII"
            )));
        }
        Ok(ApiKey(key.to_owned()))
    }

    /// The key from `BROWSERBASE_API_KEY`.
    pub fn from_env() -> Result<ApiKey> {
        match std::env::var(API_KEY_ENV) {
            Ok(v) => ApiKey::new(&v, API_KEY_ENV),
            Err(std::env::VarError::NotPresent) => Err(Error::invalid_argument(format!(
                "no API key was given and {API_KEY_ENV} is not set"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid_argument(format!(
                "{API_KEY_ENV} is not valid UTF-8"
            ))),
        }
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Marks the key as in use on this thread until the guard drops: every
    /// message and log line made meanwhile on this thread is scrubbed of it
    /// (see [`scrub::scrub`]).
    pub(crate) fn in_use(&self) -> scrub::KeyInUse {
        scrub::key_in_use(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Checks a session id: non-empty, no control characters, not a dot segment.
/// Any other character is allowed; it is percent-encoded on the wire.
pub fn check_session_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid_argument("session_id is empty"));
    }
    if id.len() > MAX_SESSION_ID_LEN {
        return Err(Error::invalid_argument(format!(
            "session_id is {} bytes long; at most {MAX_SESSION_ID_LEN} are accepted",
            id.len()
        )));
    }
    // C0, DEL and C1 controls (U+0080..U+009F): never part of a real id.
    if let Some((pos, _)) = id.char_indices().find(|(_, c)| c.is_control()) {
        return Err(Error::invalid_argument(format!(
            "session_id contains a control character at byte {pos}"
        )));
    }
    // URL parsers treat "." and ".." (even percent-encoded) as dot segments.
    if id == "." || id == ".." {
        return Err(Error::invalid_argument(format!(
            "session_id {id:?} is not a session id"
        )));
    }
    Ok(())
}

/// `{base}/v1/sessions/{id}/downloads`, with the id as exactly one segment.
/// The id must have passed [`check_session_id`].
///
/// Only the path is parsed: the base URL (already parsed, without query or
/// fragment) is copied and given the new path, which is what parsing the
/// whole string gives, at a fraction of the cost (no scheme or host
/// parsing: a batch builds one URL per session).
pub fn downloads_url(base: &Url, session_id: &str) -> Result<Url> {
    let encoded = utf8_percent_encode(session_id, SEGMENT);
    let expected = format!(
        "{}/v1/sessions/{encoded}/downloads",
        base.path().trim_end_matches('/')
    );
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&expected);
    // Belt and braces: the parsed path must be exactly what we meant.
    if url.path() != expected || url.query().is_some() || url.fragment().is_some() {
        return Err(Error::internal(
            "the session id did not stay one path segment; request not sent",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://api.browserbase.com").unwrap()
    }

    #[test]
    fn uuid_is_unchanged() {
        let u = downloads_url(&base(), "78596eea-2f71-4632-b591-e76f88a3cde9").unwrap();
        assert_eq!(
            u.as_str(),
            "https://api.browserbase.com/v1/sessions/78596eea-2f71-4632-b591-e76f88a3cde9/downloads"
        );
    }

    #[test]
    fn hostile_ids_stay_one_segment() {
        for (id, enc) in [
            ("../projects", "..%2Fprojects"),
            ("a/b", "a%2Fb"),
            ("?x", "%3Fx"),
            ("#", "%23"),
            ("%2e%2e", "%252e%252e"),
            ("a b", "a%20b"),
            ("é", "%C3%A9"),
            ("...", "..."),
            ("\\..\\", "%5C..%5C"),
        ] {
            check_session_id(id).unwrap();
            let u = downloads_url(&base(), id).unwrap();
            assert_eq!(u.path(), format!("/v1/sessions/{enc}/downloads"), "{id}");
            assert!(u.query().is_none() && u.fragment().is_none());
        }
    }

    /// The URL as it was built before: the whole string parsed.
    fn parsed_whole(base: &Url, id: &str) -> Url {
        let prefix = base.as_str().trim_end_matches('/');
        let encoded = utf8_percent_encode(id, SEGMENT);
        Url::parse(&format!("{prefix}/v1/sessions/{encoded}/downloads")).unwrap()
    }

    #[test]
    fn only_the_path_is_parsed_and_the_url_is_the_same() {
        for b in [
            "https://api.browserbase.com",
            "https://api.browserbase.com/",
            "https://example.com/prefix/",
            "https://example.com/a//b",
            "http://127.0.0.1:8080/proxy/bb/",
            "http://[::1]:9000",
            "http://localhost:1/x%2Fy/",
            "https://b\u{fc}cher.example/",
            "HTTPS://API.Browserbase.COM:443/p/../q/./",
        ] {
            let b = Url::parse(b).unwrap();
            for id in [
                "78596eea-2f71-4632-b591-e76f88a3cde9",
                "../projects",
                "a/b",
                "?x",
                "#",
                "%2e%2e",
                "%2E",
                "a b",
                "\u{e9}",
                "...",
                "\\..\\",
                "~user",
                "a;b=c",
                "\u{1F600}",
            ] {
                let u = downloads_url(&b, id).unwrap();
                let whole = parsed_whole(&b, id);
                assert_eq!(u.as_str(), whole.as_str(), "{b} {id}");
                assert_eq!(u, whole, "{b} {id}");
            }
        }
    }

    #[test]
    fn base_path_prefix_is_kept() {
        let b = Url::parse("http://127.0.0.1:8080/proxy/bb/").unwrap();
        let u = downloads_url(&b, "s1").unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/proxy/bb/v1/sessions/s1/downloads"
        );
    }

    #[test]
    fn bad_ids_are_refused() {
        for id in [
            "", ".", "..", "a\nb", "a\rb", "\0", "x\x7f", "a\u{85}b", "\u{9f}",
        ] {
            let e = check_session_id(id).unwrap_err();
            assert!(e.message().contains("session_id"), "{}", e.message());
        }
        assert!(check_session_id(&"a".repeat(2000)).is_err());
    }

    #[test]
    fn bad_keys_are_refused_without_echo() {
        for key in ["", "abc\r\nX-Evil: 1", "ab c", "clé", "k\x00"] {
            let e = ApiKey::new(key, "api_key").unwrap_err();
            assert!(e.message().starts_with("api_key"), "{}", e.message());
            if !key.is_empty() {
                assert!(!e.message().contains(key));
            }
        }
        let k = ApiKey::new("bb_live_secret", "api_key").unwrap();
        assert!(!format!("{k:?}").contains("secret"));
    }
}

//! Resuming a cut body instead of fetching it again from byte 0 (issue 14):
//! what a whole answer allows, the headers of a retry that continues it,
//! and whether a `206` answer really continues it.
//!
//! A retry continues a cut body when the last whole (`200`) answer offered
//! ranges (`Accept-Ranges: bytes`), announced its length, and carried a
//! validator `If-Range` may hold (RFC 9110 section 13.1.5): a strong `ETag`;
//! without any `ETag`, a `Last-Modified` at least a second older than the
//! answer's `Date` (section 8.8.2.2). A weak `ETag` allows no resume at all
//! (neither the tag nor, since there is a tag, the date may be used). The
//! retry asks `Range: bytes=N-` and `If-Range: <validator>`; a `206` must
//! say `Content-Range: bytes N-(total-1)/total` with the first answer's
//! total and, when it carries the validator, the same one. Anything else is
//! refused, and the call stops resuming: its next attempt starts over.

use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT_RANGES, CONTENT_RANGE, DATE, ETAG, LAST_MODIFIED};

use crate::error::{Error, ErrorKind};

/// What the last whole answer allows a retry to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    /// The whole body's length.
    pub(crate) total: u64,
    pub(crate) validator: Validator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Validator {
    /// A strong entity tag, with its quotes.
    ETag(String),
    /// An HTTP date, as the server wrote it.
    LastModified(String),
}

impl Validator {
    /// The `If-Range` value.
    pub(crate) fn value(&self) -> &str {
        match self {
            Validator::ETag(v) | Validator::LastModified(v) => v,
        }
    }
}

/// One call's resume state, across its attempts.
#[derive(Debug)]
pub(crate) struct Resume {
    /// The client's setting; cleared for the rest of the call once a
    /// server's `206` did not continue the body as asked.
    enabled: bool,
    offer: Option<Offer>,
}

impl Resume {
    pub(crate) fn new(enabled: bool) -> Resume {
        Resume {
            enabled,
            offer: None,
        }
    }

    /// A whole answer arrived: what it offers replaces what the last one did.
    pub(crate) fn whole_answer(&mut self, headers: &HeaderMap, length: Option<u64>) {
        self.offer = if self.enabled {
            offer(headers, length)
        } else {
            None
        };
    }

    /// The server's answer did not continue the body: no more resuming in
    /// this call.
    pub(crate) fn give_up(&mut self) {
        self.enabled = false;
        self.offer = None;
    }

    /// Where a retry continues, and with what, when a sink holding
    /// `held` bytes of the body (`None`: a sink that cannot continue) may.
    pub(crate) fn continue_at(&self, held: Option<u64>) -> Option<(u64, &Offer)> {
        let offer = self.offer.as_ref().filter(|_| self.enabled)?;
        let at = held.filter(|&n| n > 0 && n < offer.total)?;
        Some((at, offer))
    }
}

/// What a whole answer's headers (and its length) allow, if anything.
pub(crate) fn offer(headers: &HeaderMap, length: Option<u64>) -> Option<Offer> {
    let total = length.filter(|&n| n > 0)?;
    let ranges = headers
        .get_all(ACCEPT_RANGES)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("bytes"));
    if !ranges {
        return None;
    }
    let one = |name| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok().map(str::trim),
            _ => None,
        }
    };
    let validator = match headers.get(ETAG) {
        Some(_) => {
            let tag = one(ETAG)?;
            // A strong tag: `"opaque"`, no `W/`, nothing a header could not hold.
            let strong = tag.len() >= 2
                && tag.starts_with('"')
                && tag.ends_with('"')
                && !tag[1..tag.len() - 1].contains('"');
            if !strong {
                return None;
            }
            Validator::ETag(tag.to_owned())
        }
        None => {
            let modified = one(LAST_MODIFIED)?;
            let at = httpdate::parse_http_date(modified).ok()?;
            let date = httpdate::parse_http_date(one(DATE)?).ok()?;
            if date.duration_since(at).ok()? < Duration::from_secs(1) {
                return None;
            }
            Validator::LastModified(modified.to_owned())
        }
    };
    Some(Offer { total, validator })
}

/// Checks that a `206` answer to `Range: bytes=at-` continues the body the
/// offer describes; `length` is the answer's Content-Length.
pub(crate) fn check_partial(
    headers: &HeaderMap,
    length: Option<u64>,
    at: u64,
    offer: &Offer,
) -> Result<(), Error> {
    let total = offer.total;
    let wanted = format!("bytes {at}-{}/{total}", total - 1);
    let refuse = |what: String| {
        Err(Error::new(
            ErrorKind::Http,
            format!("HTTP 206: the rest of the archive was asked for ({wanted}) but {what}"),
        ))
    };
    let mut ranges = headers.get_all(CONTENT_RANGE).iter();
    let range = match (ranges.next(), ranges.next()) {
        (Some(v), None) => v.to_str().unwrap_or(""),
        (None, _) => return refuse("the answer has no Content-Range".into()),
        _ => return refuse("the answer has several Content-Range headers".into()),
    };
    if parse_content_range(range) != Some((at, total - 1, total)) {
        return refuse(format!("the answer is {:?}", short(range)));
    }
    if let Some(n) = length.filter(|&n| n != total - at) {
        return refuse(format!("its Content-Length is {n}"));
    }
    let (name, shown, same) = match &offer.validator {
        Validator::ETag(tag) => (ETAG, "ETag", tag),
        Validator::LastModified(date) => (LAST_MODIFIED, "Last-Modified", date),
    };
    for v in headers.get_all(&name) {
        if v.to_str().ok().map(str::trim) != Some(same.as_str()) {
            return refuse(format!(
                "its {shown} changed to {:?}",
                short(&String::from_utf8_lossy(v.as_bytes()))
            ));
        }
    }
    Ok(())
}

/// The length a `416` answer gives the body (`Content-Range: bytes */N`).
pub(crate) fn unsatisfied_length(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(CONTENT_RANGE)?.to_str().ok()?;
    let n = v.trim().strip_prefix("bytes */")?;
    n.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| n.parse().ok())?
}

/// A header value as shown in a message: at most 80 characters (the
/// message escapes what is not printable).
fn short(v: &str) -> String {
    v.chars().take(80).collect()
}

/// `bytes A-B/T` (digits only; `*` for T is not a body this client asked for).
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let num = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    Some((num(a)?, num(b)?, num(total)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    const LM: &str = "Mon, 30 Nov 2026 10:00:00 GMT";
    const LATER: &str = "Mon, 30 Nov 2026 10:00:01 GMT";

    #[test]
    fn what_a_whole_answer_offers() {
        let etag = Validator::ETag("\"v1\"".into());
        let o = |pairs: &[(&'static str, &str)], len| offer(&headers(pairs), len);
        let ranges = ("accept-ranges", "bytes");
        assert_eq!(
            o(
                &[ranges, ("etag", "\"v1\""), ("last-modified", LM)],
                Some(10)
            ),
            Some(Offer {
                total: 10,
                validator: etag.clone()
            })
        );
        assert_eq!(
            o(
                &[("accept-ranges", "none, bytes"), ("etag", "\"v1\"")],
                Some(10)
            )
            .unwrap()
            .validator,
            etag
        );
        // No ranges, no length, no validator: nothing.
        assert_eq!(o(&[("etag", "\"v1\"")], Some(10)), None);
        assert_eq!(
            o(&[("accept-ranges", "none"), ("etag", "\"v1\"")], Some(10)),
            None
        );
        assert_eq!(o(&[ranges, ("etag", "\"v1\"")], None), None);
        assert_eq!(o(&[ranges], Some(10)), None);
        // A weak tag: nothing, not even the date (RFC 9110 section 13.1.5).
        assert_eq!(
            o(
                &[
                    ranges,
                    ("etag", "W/\"v1\""),
                    ("last-modified", LM),
                    ("date", LATER)
                ],
                Some(10)
            ),
            None
        );
        assert_eq!(o(&[ranges, ("etag", "v1")], Some(10)), None);
        // A date, only when a second older than the answer.
        assert_eq!(
            o(&[ranges, ("last-modified", LM), ("date", LATER)], Some(10))
                .unwrap()
                .validator,
            Validator::LastModified(LM.into())
        );
        assert_eq!(
            o(&[ranges, ("last-modified", LM), ("date", LM)], Some(10)),
            None
        );
        assert_eq!(o(&[ranges, ("last-modified", LM)], Some(10)), None);
        // A date in the future of the answer's own: no resume.
        assert_eq!(
            o(&[ranges, ("last-modified", LATER), ("date", LM)], Some(10)),
            None
        );
        assert_eq!(
            o(
                &[ranges, ("last-modified", "yesterday"), ("date", LATER)],
                Some(10)
            ),
            None
        );
    }

    #[test]
    fn a_206_must_continue_the_body_as_asked() {
        let offer = Offer {
            total: 100,
            validator: Validator::ETag("\"v1\"".into()),
        };
        let check =
            |pairs: &[(&'static str, &str)], len| check_partial(&headers(pairs), len, 40, &offer);
        assert!(check(&[("content-range", "bytes 40-99/100")], Some(60)).is_ok());
        assert!(check(
            &[("content-range", "bytes 40-99/100"), ("etag", "\"v1\"")],
            None
        )
        .is_ok());
        for (pairs, says) in [
            (&[][..], "no Content-Range"),
            (
                &[("content-range", "bytes 41-99/100")][..],
                "bytes 41-99/100",
            ),
            (&[("content-range", "bytes 40-99/101")], "bytes 40-99/101"),
            (&[("content-range", "bytes 40-98/100")], "bytes 40-98/100"),
            (&[("content-range", "bytes 40-99/*")], "bytes 40-99/*"),
            (
                &[("content-range", "bytes 40-99/100"), ("etag", "\"v2\"")],
                "changed",
            ),
            (
                &[
                    ("content-range", "bytes 40-99/100"),
                    ("content-range", "bytes 40-99/100"),
                ],
                "several",
            ),
        ] {
            let e = check(pairs, None).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Http);
            assert!(e.message().contains(says), "{e}");
            assert!(e.message().contains("bytes 40-99/100"), "{e}");
        }
        // Hostile numbers and forms: refused, never wrapped or half-read.
        for range in [
            "bytes 40-18446744073709551615/18446744073709551616",
            "bytes 40-99/18446744073709551616",
            "bytes 18446744073709551656-99/100",
            "bytes -40-99/100",
            "bytes 40--99/100",
            "bytes +40-99/100",
            "bytes 40-99/100, bytes 0-39/100",
            "bytes 40-99/100/100",
            "bytes=40-99/100",
            "multipart/byteranges; boundary=x",
            "",
        ] {
            let e = check(&[("content-range", range)], None).unwrap_err();
            assert!(e.message().contains("bytes 40-99/100"), "{range}: {e}");
        }
        let e = check(&[("content-range", "bytes 40-99/100")], Some(61)).unwrap_err();
        assert!(e.message().contains("Content-Length is 61"), "{e}");
    }

    #[test]
    fn the_length_a_416_gives() {
        let l = |v: &str| unsatisfied_length(&headers(&[("content-range", v)]));
        assert_eq!(l("bytes */524595"), Some(524_595));
        assert_eq!(l("bytes */"), None);
        assert_eq!(l("bytes 0-1/2"), None);
        assert_eq!(l("bytes */-1"), None);
        assert_eq!(unsatisfied_length(&HeaderMap::new()), None);
    }

    #[test]
    fn a_call_continues_only_inside_the_body_and_stops_after_a_bad_206() {
        let mut r = Resume::new(true);
        assert!(r.continue_at(Some(5)).is_none());
        r.whole_answer(
            &headers(&[("accept-ranges", "bytes"), ("etag", "\"a\"")]),
            Some(10),
        );
        assert_eq!(r.continue_at(Some(5)).map(|(n, _)| n), Some(5));
        for held in [None, Some(0), Some(10)] {
            assert!(r.continue_at(held).is_none(), "{held:?}");
        }
        r.give_up();
        r.whole_answer(
            &headers(&[("accept-ranges", "bytes"), ("etag", "\"a\"")]),
            Some(10),
        );
        assert!(r.continue_at(Some(5)).is_none());
        let mut off = Resume::new(false);
        off.whole_answer(
            &headers(&[("accept-ranges", "bytes"), ("etag", "\"a\"")]),
            Some(10),
        );
        assert!(off.continue_at(Some(5)).is_none());
    }
}

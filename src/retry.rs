//! When to try again and how long to wait: the official SDKs' policy.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

const INITIAL_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(8);
/// A server's Retry-After is honoured only up to this (as the SDKs do).
const MAX_SERVER_DELAY: Duration = Duration::from_secs(60);

/// Whether a response with this status is worth another attempt: 408, 409,
/// 429 and 5xx, unless the server's `x-should-retry` header says otherwise.
pub fn status_is_retryable(status: u16, headers: &HeaderMap) -> bool {
    match header_str(headers, "x-should-retry") {
        Some(v) if v.eq_ignore_ascii_case("true") => return true,
        Some(v) if v.eq_ignore_ascii_case("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429 | 500..=599)
}

/// The delay the server asks for: `retry-after-ms`, then `Retry-After` as
/// seconds or an HTTP date; honoured only when more than 0 and at most 60 s,
/// as the official SDKs do. Anything else (0, negative, a date in the past,
/// more than 60 s) is `None`: the caller's backoff applies, so a server
/// cannot make the client retry back to back.
pub fn server_delay(headers: &HeaderMap) -> Option<Duration> {
    let wanted = header_str(headers, "retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|ms| ms / 1000.0)
        .or_else(|| {
            let v = header_str(headers, "retry-after")?.trim();
            v.parse::<f64>().ok().or_else(|| {
                let at = httpdate::parse_http_date(v).ok()?;
                // A date in the past asks for no wait: not honoured.
                at.duration_since(SystemTime::now())
                    .ok()
                    .map(|d| d.as_secs_f64())
            })
        })?;
    (wanted.is_finite() && wanted > 0.0 && wanted <= MAX_SERVER_DELAY.as_secs_f64())
        .then(|| Duration::from_secs_f64(wanted))
}

/// `min(0.5 s * 2^n, 8 s)`, less up to 25 % random jitter; `n` is the number
/// of retries already taken.
pub fn backoff(retries_taken: u32) -> Duration {
    let full = INITIAL_DELAY
        .saturating_mul(1u32 << retries_taken.min(16))
        .min(MAX_DELAY);
    full.mul_f64(1.0 - 0.25 * fastrand::f64())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retryable_statuses() {
        let none = HeaderMap::new();
        for s in [408, 409, 429, 500, 502, 503, 504, 599] {
            assert!(status_is_retryable(s, &none), "{s}");
        }
        for s in [400, 401, 403, 404, 422, 302] {
            assert!(!status_is_retryable(s, &none), "{s}");
        }
        assert!(!status_is_retryable(
            500,
            &headers(&[("x-should-retry", "false")])
        ));
        assert!(status_is_retryable(
            400,
            &headers(&[("x-should-retry", "true")])
        ));
    }

    #[test]
    fn server_delays() {
        let d = |pairs: &[(&'static str, &str)]| server_delay(&headers(pairs));
        assert_eq!(
            d(&[("retry-after-ms", "1500")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(d(&[("retry-after", "2")]), Some(Duration::from_secs(2)));
        assert_eq!(
            d(&[("retry-after-ms", "100"), ("retry-after", "9")]),
            Some(Duration::from_millis(100))
        );
        assert_eq!(d(&[("retry-after", "61")]), None);
        assert_eq!(d(&[("retry-after", "-1")]), None);
        assert_eq!(d(&[("retry-after", "0")]), None);
        assert_eq!(d(&[("retry-after-ms", "0")]), None);
        assert_eq!(d(&[("retry-after-ms", "-5")]), None);
        assert_eq!(d(&[("retry-after", "60")]), Some(Duration::from_secs(60)));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(5));
        assert_eq!(d(&[("retry-after", &past)]), None);
        assert_eq!(d(&[("retry-after", "soon")]), None);
        let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(5));
        let got = d(&[("retry-after", &at)]).unwrap();
        assert!(
            got > Duration::from_secs(3) && got <= Duration::from_secs(5),
            "{got:?}"
        );
    }

    #[test]
    fn backoff_grows_to_a_cap_with_jitter() {
        for n in 0..10 {
            let full = (0.5 * 2f64.powi(n as i32)).min(8.0);
            let got = backoff(n).as_secs_f64();
            assert!(got <= full && got >= full * 0.75, "n={n} got={got}");
        }
    }
}

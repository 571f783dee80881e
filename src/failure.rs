//! Shaping failures: why one attempt failed and whether another may help,
//! and the final error a caller sees.

use std::time::Duration;

use reqwest::{StatusCode, Url};

use crate::config::{is_loopback, ClientConfig};
use crate::error::{chain, Error, ErrorKind};

/// Why one attempt failed and whether another may help.
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) retryable: bool,
    pub(crate) server_delay: Option<Duration>,
}

impl Failure {
    pub(crate) fn fatal(error: Error) -> Failure {
        Failure {
            error,
            retryable: false,
            server_delay: None,
        }
    }

    /// A wait's cutoff passed during the attempt (see [`Client::attempt`]).
    pub(crate) fn cut_off() -> Failure {
        Failure {
            error: Error::new(
                ErrorKind::Timeout,
                "the wait's timeout passed while this poll was under way",
            ),
            retryable: true,
            server_delay: None,
        }
    }

    /// The request could not be sent (`e`) or no response came within the
    /// silence limit (`None`).
    pub(crate) fn transport(
        e: Option<&reqwest::Error>,
        url: &Url,
        config: &ClientConfig,
    ) -> Failure {
        let host_of = |u: &Url| {
            u.host_str()
                .map(|h| match u.port_or_known_default() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
                .unwrap_or_default()
        };
        // Through a proxy, the connection that failed may be the proxy's:
        // name both. (Credentials in the proxy URL are not shown.)
        let host = match (&config.proxy, system_proxy(url, config)) {
            (Some(proxy), _) => format!("{} through the proxy {}", host_of(url), host_of(proxy)),
            (None, Some(proxy)) => format!("{} through the system proxy {proxy}", host_of(url)),
            (None, None) => host_of(url),
        };
        let no_response = || {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "no response from {host} within {} ms",
                    config.timeout.as_millis()
                ),
            )
        };
        let error = match e {
            // The connect timeout is reqwest's, the silence limit ours.
            Some(e) if e.is_connect() && e.is_timeout() => Error::new(
                ErrorKind::Timeout,
                format!(
                    "cannot connect to {host} within {} ms",
                    config.connect_timeout.as_millis()
                ),
            ),
            Some(e) if e.is_timeout() => no_response(),
            None => no_response(),
            Some(e) if e.is_connect() => Error::new(
                ErrorKind::Connection,
                format!("cannot connect to {host}: {}", chain(e)),
            ),
            Some(e) => Error::new(
                ErrorKind::Connection,
                format!("request to {host} failed: {}", chain(e)),
            ),
        };
        Failure {
            error,
            retryable: true,
            server_delay: None,
        }
    }

    /// Reading the body failed part-way (`e`), or the server went silent
    /// for longer than the silence limit (`None`).
    pub(crate) fn body(e: Option<&reqwest::Error>, got: u64, expected: Option<u64>) -> Failure {
        let of = expected.map(|n| format!(" of {n}")).unwrap_or_default();
        let error = match e {
            Some(e) if !e.is_timeout() => Error::new(
                ErrorKind::Connection,
                format!(
                    "the connection failed after {got}{of} bytes of the body: {}",
                    chain(e)
                ),
            ),
            _ => Error::new(
                ErrorKind::Timeout,
                format!("the server went silent after {got}{of} bytes of the body"),
            ),
        };
        Failure {
            error,
            retryable: true,
            server_delay: None,
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        f.error
    }
}

/// The proxy that `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
/// (read now, as reqwest read them when the transport was built) choose for
/// `url`, as `host:port`; `None` when they choose none or do not apply: an
/// explicit proxy replaces them and a loopback base URL turns them off
/// (`transport.rs`).
fn system_proxy(url: &Url, config: &ClientConfig) -> Option<String> {
    if config.proxy.is_some() || is_loopback(&config.base_url) {
        return None;
    }
    let target = url.as_str().parse::<http::Uri>().ok()?;
    let matcher = hyper_util::client::proxy::matcher::Matcher::from_env();
    let proxy = matcher.intercept(&target)?;
    let uri = proxy.uri();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    Some(format!("{}:{port}", uri.host()?))
}

pub(crate) fn deadline_error(config: &ClientConfig) -> Error {
    let ms = config.deadline.map(|d| d.as_millis()).unwrap_or_default();
    Error::new(
        ErrorKind::Timeout,
        format!("the deadline of {ms} ms passed"),
    )
}

/// The error for a non-2xx response with (the start of) this body.
pub(crate) fn error_from_body(status: StatusCode, body: &[u8]) -> Error {
    // " Not Found"; nothing for a status without one (599), not "HTTP 599 :".
    let reason = status
        .canonical_reason()
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    let server_message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .filter(|m| !m.trim().is_empty());
    let text = match server_message {
        Some(m) => format!("HTTP {}{reason}: {m}", status.as_u16()),
        None => format!("HTTP {}{reason}", status.as_u16()),
    };
    Error::http(status.as_u16(), text.trim_end().to_owned())
}

/// The final error: the last failure's kind and status; its message says
/// how many attempts were made and why each failed.
pub(crate) fn summarize(mut failures: Vec<Error>, why_stopped: &str) -> Error {
    let last = failures.pop().expect("at least one failure");
    if failures.is_empty() {
        let message = format!("{}{why_stopped}", last.message());
        return last.with_message(message);
    }
    let mut message = format!("failed after {} attempts: ", failures.len() + 1);
    for (i, f) in failures.iter().chain(std::iter::once(&last)).enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        message.push_str(&format!("attempt {}: {}", i + 1, f.message()));
    }
    message.push_str(why_stopped);
    last.with_message(message)
}

//! The client and the one download loop every sink goes through.

use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, LOCATION};
use reqwest::{StatusCode, Url};

use crate::archive;
use crate::config::{check_transport, is_loopback, ClientConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{bb_log, Level};
use crate::request::{check_session_id, downloads_url, ApiKey};
use crate::retry;
use crate::sink::{BufferSink, CallbackSink, FileSink, Sink};
use crate::transport::{Transport, Transports};

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 10;
/// An error body is read up to this size for its message...
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// ...and for at most this long in all: a server trickling it a byte at a
/// time must not hold the call (the silence limit alone would let it).
const ERROR_BODY_BUDGET: Duration = Duration::from_secs(2);

/// A connection pool plus settings. Cheap to share between threads: every
/// method takes `&self`.
pub struct Client {
    /// The HTTP stacks the calls run on (see `transport.rs`).
    transports: Transports,
    config: ClientConfig,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish()
    }
}

impl Client {
    /// Builds a client. It starts no thread: each call runs on the thread
    /// that makes it (but for host name lookups: see `transport.rs`).
    /// A plain-http base URL with a plain-http proxy on another host is
    /// refused ([`ClientConfig::check_proxy`]).
    pub fn new(config: ClientConfig) -> Result<Client> {
        config.check_proxy("proxy")?;
        Ok(Client {
            transports: Transports::new(&config)?,
            config,
        })
    }

    /// A client configured from the `BROWSERBASE_*` environment variables.
    pub fn from_env() -> Result<Client> {
        Client::new(ClientConfig::from_env()?)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Downloads session `session_id`'s archive into `sink`; returns its size.
    ///
    /// The key is `api_key`, else the client's, else `BROWSERBASE_API_KEY`.
    /// All arguments are checked before anything is sent.
    pub fn download(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        sink: &mut dyn Sink,
    ) -> Result<u64> {
        let key = self.resolve_key(api_key)?;
        check_session_id(session_id)?;
        let url = downloads_url(&self.config.base_url, session_id)?;
        self.fetch(&key, &url, sink)
    }

    /// Writes the archive to `path` atomically (see [`FileSink`]).
    pub fn download_to_file(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        path: &Path,
    ) -> Result<u64> {
        // Check key and id first, so a bad argument creates no file.
        let key = self.resolve_key(api_key)?;
        check_session_id(session_id)?;
        let url = downloads_url(&self.config.base_url, session_id)?;
        let mut sink = FileSink::create(path, self.config.fsync)?;
        self.fetch(&key, &url, &mut sink)
    }

    /// Returns the archive in memory.
    pub fn download_to_vec(&self, api_key: Option<&str>, session_id: &str) -> Result<Vec<u8>> {
        let mut sink = BufferSink::new();
        self.download(api_key, session_id, &mut sink)?;
        Ok(sink.into_vec())
    }

    /// Hands each chunk to `on_chunk`; returning `false` cancels.
    pub fn download_with<F: FnMut(&[u8]) -> bool>(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        on_chunk: F,
    ) -> Result<u64> {
        let mut sink = CallbackSink::new(on_chunk);
        self.download(api_key, session_id, &mut sink)
    }

    pub(crate) fn resolve_key(&self, api_key: Option<&str>) -> Result<ApiKey> {
        match (api_key, &self.config.api_key) {
            (Some(k), _) => ApiKey::new(k, "api_key"),
            (None, Some(k)) => Ok(k.clone()),
            (None, None) => ApiKey::from_env(),
        }
    }

    /// The retry loop around single attempts.
    fn fetch(&self, key: &ApiKey, url: &Url, sink: &mut dyn Sink) -> Result<u64> {
        let _in_use = key.in_use();
        // A deadline too far to represent is no deadline.
        let deadline = self
            .config
            .deadline
            .and_then(|d| Instant::now().checked_add(d));
        let mut failures: Vec<Error> = Vec::new();
        let attempts = self.config.max_retries + 1;
        loop {
            let tag = format!("attempt {}/{attempts}", failures.len() + 1);
            let failure = match self.attempt(key, url, sink, deadline, None, &tag) {
                Ok(n) => return Ok(n),
                Err(f) => f,
            };
            let retries_taken = failures.len() as u32;
            failures.push(failure.error);
            let mut stop_reason = None;
            if !failure.retryable || retries_taken >= self.config.max_retries {
                stop_reason = Some("");
            } else if !sink.can_restart() {
                stop_reason = Some(" (not retried: bytes were already handed to the callback)");
            }
            let delay = failure
                .server_delay
                .unwrap_or_else(|| retry::backoff(retries_taken));
            if stop_reason.is_none() {
                if let Some(at) = deadline {
                    if Instant::now() + delay >= at {
                        stop_reason = Some(" (not retried: the deadline would pass)");
                    }
                }
            }
            if let Some(why) = stop_reason {
                return Err(summarize(failures, why));
            }
            bb_log!(
                Level::Warn,
                "GET {}: retrying in {} ms ({tag} failed: {})",
                url.path(),
                delay.as_millis(),
                failures.last().map_or("", |e| e.message())
            );
            std::thread::sleep(delay);
        }
    }

    /// One attempt, logged as one line: `GET <path> -> <status>, <bytes>,
    /// <time> (<tag>)`. Without the retries of [`Client::download`], it also
    /// serves a loop that owns its retrying (the wait loop in `wait.rs`): the
    /// failure says whether another try may help and how long the server
    /// asked to wait. `tag` names the attempt ("attempt 1/3", "poll 4").
    ///
    /// `deadline` ends the attempt whatever it is doing; `cutoff` (a wait's
    /// timeout) ends it too, unless the body turned out to be an archive with
    /// files (it starts with a local file header), whose transfer only the
    /// deadline and the silence limit bound. Passing the cutoff is a
    /// retryable [`ErrorKind::Timeout`] failure.
    pub(crate) fn attempt(
        &self,
        key: &ApiKey,
        url: &Url,
        sink: &mut dyn Sink,
        deadline: Option<Instant>,
        cutoff: Option<Instant>,
        tag: &str,
    ) -> Result<u64, Failure> {
        // Whatever the server sends back (messages, redirect targets) is
        // scrubbed of the key in `Error` and the log (`request::scrub`).
        let _in_use = key.in_use();
        let started = Instant::now();
        let result = self.request_into(key, url, sink, deadline, cutoff);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok((status, bytes)) => {
                bb_log!(
                    Level::Info,
                    "GET {} -> {status}, {bytes} bytes in {ms} ms ({tag})",
                    url.path()
                );
            }
            Err(f) => {
                let status = f
                    .error
                    .http_status()
                    .map_or("no response".to_owned(), |s| s.to_string());
                bb_log!(
                    Level::Info,
                    "GET {} -> {status}, failed in {ms} ms ({tag}): {}",
                    url.path(),
                    f.error.message()
                );
            }
        }
        result.map(|(_, bytes)| bytes)
    }

    /// The request (following redirects), then the body into the sink.
    /// Returns the final status and the body's size.
    fn request_into(
        &self,
        key: &ApiKey,
        url: &Url,
        sink: &mut dyn Sink,
        deadline: Option<Instant>,
        cutoff: Option<Instant>,
    ) -> Result<(u16, u64), Failure> {
        let transport = self.transports.lease().map_err(Failure::fatal)?;
        let early = earliest(deadline, cutoff);
        let mut response = self
            .send(&transport, key, url, early)
            .map_err(|f| self.cut_off(f, deadline, cutoff))?;
        let status = response.status();
        if !status.is_success() {
            let retryable = retry::status_is_retryable(status.as_u16(), response.headers());
            let server_delay = retry::server_delay(response.headers());
            let error = self.http_error(&transport, &mut response, early);
            return Err(Failure {
                error,
                retryable,
                server_delay,
            });
        }
        let content_length = response.content_length();
        sink.begin(content_length).map_err(Failure::fatal)?;
        let total = self.stream_body(
            &transport,
            &mut response,
            sink,
            content_length,
            deadline,
            cutoff,
        )?;
        sink.finish().map_err(Failure::fatal)?;
        Ok((status.as_u16(), total))
    }

    /// Sends the GET, following up to [`MAX_REDIRECTS`] redirects by hand: the
    /// key goes only to the base URL's origin, and never over plain http to a
    /// non-loopback host.
    fn send(
        &self,
        transport: &Transport,
        key: &ApiKey,
        url: &Url,
        deadline: Option<Instant>,
    ) -> Result<reqwest::Response, Failure> {
        let origin = self.config.base_url.origin();
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = transport
                .http()
                .get(url.clone())
                .header(ACCEPT, "application/zip");
            if url.origin() == origin {
                let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
                    Failure::fatal(Error::invalid_argument(
                        "api_key is not a valid header value",
                    ))
                })?;
                value.set_sensitive(true);
                request = request.header("X-BB-API-Key", value);
            }
            let limit = self
                .wait_limit(deadline)
                .ok_or_else(|| Failure::fatal(deadline_error(&self.config)))?;
            let response = match transport.send(limit, request).map_err(Failure::fatal)? {
                Some(Ok(response)) => response,
                _ if deadline_passed(deadline) => {
                    return Err(Failure::fatal(deadline_error(&self.config)))
                }
                // Without the URL: after a redirect it may be a presigned one.
                Some(Err(e)) => {
                    let e = e.without_url();
                    return Err(Failure::transport(Some(&e), &url, &self.config));
                }
                None => return Err(Failure::transport(None, &url, &self.config)),
            };
            if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED
            {
                return Ok(response);
            }
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    Failure::fatal(Error::http(
                        status,
                        format!("HTTP {status}: a redirect without a Location"),
                    ))
                })?;
            let next = url.join(location).map_err(|e| {
                Failure::fatal(Error::http(
                    status,
                    format!("HTTP {status}: unusable redirect target: {e}"),
                ))
            })?;
            bb_log!(
                Level::Debug,
                "GET {} -> {status}: following the redirect to {}{} ({})",
                url.path(),
                next.origin().ascii_serialization(),
                next.path(),
                if next.origin() == origin {
                    "same origin, key sent"
                } else {
                    "another origin, key not sent"
                }
            );
            check_transport(&next, "redirect target").map_err(|e| {
                Failure::fatal(Error::http(
                    status,
                    format!("HTTP {status}: refused to follow: {}", e.message()),
                ))
            })?;
            url = next;
        }
        Err(Failure::fatal(Error::new(
            ErrorKind::Http,
            format!("more than {MAX_REDIRECTS} redirects"),
        )))
    }
}

impl Client {
    /// A failure because `cutoff` passed (not `deadline`) becomes the
    /// retryable timeout [`Client::attempt`] promises.
    fn cut_off(&self, f: Failure, deadline: Option<Instant>, cutoff: Option<Instant>) -> Failure {
        let cut = deadline_passed(cutoff) && !deadline_passed(deadline);
        if !cut || f.error.kind() != ErrorKind::Timeout {
            return f;
        }
        Failure::cut_off()
    }

    /// How long the next wait for the server may last: the silence limit,
    /// cut to what is left of the deadline; `None` once the deadline passed.
    fn wait_limit(&self, deadline: Option<Instant>) -> Option<Duration> {
        match deadline {
            None => Some(self.config.timeout),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| left.min(self.config.timeout))
            }
        }
    }

    /// Reads the body into the sink, each chunk as the connection delivers
    /// it (no copy in between). Nothing reaches the sink before the first
    /// bytes are known to start a ZIP archive.
    fn stream_body(
        &self,
        transport: &Transport,
        response: &mut reqwest::Response,
        sink: &mut dyn Sink,
        content_length: Option<u64>,
        deadline: Option<Instant>,
        mut cutoff: Option<Instant>,
    ) -> Result<u64, Failure> {
        let progress = self.config.progress.as_ref();
        // Progress first hears of the attempt before any byte: (0, total).
        let report = |done: u64| -> Result<(), Failure> {
            match progress {
                Some(p) if !(p.0)(done, content_length) => Err(Failure::fatal(Error::new(
                    ErrorKind::Cancelled,
                    "the progress callback cancelled the download",
                ))),
                _ => Ok(()),
            }
        };
        report(0)?;
        let mut total: u64 = 0;
        // The first bytes, held back until the signature can be checked
        // (only when the first chunk is shorter than the signature).
        let mut head: Vec<u8> = Vec::new();
        let mut checked = false;
        loop {
            let got = total + head.len() as u64;
            let body_deadline = || {
                if !deadline_passed(deadline) && deadline_passed(cutoff) {
                    return Failure::cut_off();
                }
                Failure::fatal(Error::new(
                    ErrorKind::Timeout,
                    format!("the deadline passed after {got} bytes of the body"),
                ))
            };
            let until = earliest(deadline, cutoff);
            let limit = self.wait_limit(until).ok_or_else(body_deadline)?;
            let waited = transport.run(limit, response.chunk());
            let chunk = match waited.map_err(Failure::fatal)? {
                Some(Ok(chunk)) => chunk,
                _ if deadline_passed(until) => return Err(body_deadline()),
                Some(Err(e)) => {
                    let e = e.without_url();
                    return Err(Failure::body(Some(&e), got, content_length));
                }
                None => return Err(Failure::body(None, got, content_length)),
            };
            let chunk = match chunk {
                Some(chunk) if checked => chunk,
                Some(chunk) if head.is_empty() && chunk.len() >= archive::SIGNATURE_LEN => {
                    archive::check_leading_signature(&chunk).map_err(Failure::fatal)?;
                    checked = true;
                    cutoff = cutoff.filter(|_| !holds_files(&chunk));
                    chunk
                }
                Some(chunk) => {
                    head.extend_from_slice(&chunk);
                    if head.len() < archive::SIGNATURE_LEN {
                        continue;
                    }
                    archive::check_leading_signature(&head).map_err(Failure::fatal)?;
                    checked = true;
                    cutoff = cutoff.filter(|_| !holds_files(&head));
                    std::mem::take(&mut head).into()
                }
                None if checked => break,
                None => {
                    // The body ended before a whole signature: an empty or
                    // too short body is not an archive.
                    let refused = archive::check_leading_signature(&head).err();
                    return Err(Failure::fatal(refused.unwrap_or_else(|| {
                        Error::invalid_archive("the response ended inside its first bytes")
                    })));
                }
            };
            sink.write(&chunk).map_err(Failure::fatal)?;
            total += chunk.len() as u64;
            report(total)?;
        }
        if let Some(expected) = content_length {
            if total != expected {
                return Err(Failure {
                    error: Error::new(
                        ErrorKind::Connection,
                        format!("the body ended after {total} of {expected} bytes"),
                    ),
                    retryable: true,
                    server_delay: None,
                });
            }
        }
        Ok(total)
    }

    /// The error for a non-2xx response: the status and the server's
    /// message (escaped and scrubbed of the key by `Error`, as every message).
    fn http_error(
        &self,
        transport: &Transport,
        response: &mut reqwest::Response,
        deadline: Option<Instant>,
    ) -> Error {
        let status = response.status();
        let mut body = Vec::new();
        // Up to MAX_ERROR_BODY bytes within ERROR_BODY_BUDGET; a body that
        // does not come in time leaves the message with the status alone.
        let budget = Instant::now().checked_add(ERROR_BODY_BUDGET);
        while (body.len() as u64) < MAX_ERROR_BODY {
            let Some(limit) = self.wait_limit(earliest(deadline, budget)) else {
                break;
            };
            match transport.run(limit, response.chunk()) {
                Ok(Some(Ok(Some(chunk)))) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(MAX_ERROR_BODY as usize);
        error_from_body(status, &body)
    }
}

/// Why one attempt failed and whether another may help.
pub(crate) struct Failure {
    pub(crate) error: Error,
    pub(crate) retryable: bool,
    pub(crate) server_delay: Option<Duration>,
}

impl Failure {
    fn fatal(error: Error) -> Failure {
        Failure {
            error,
            retryable: false,
            server_delay: None,
        }
    }

    /// A wait's cutoff passed during the attempt (see [`Client::attempt`]).
    fn cut_off() -> Failure {
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
    fn transport(e: Option<&reqwest::Error>, url: &Url, config: &ClientConfig) -> Failure {
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
    fn body(e: Option<&reqwest::Error>, got: u64, expected: Option<u64>) -> Failure {
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

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether the first bytes of a body are a ZIP local file header: the
/// archive holds at least one entry (the empty one starts with its end
/// record).
fn holds_files(start: &[u8]) -> bool {
    start.starts_with(b"PK\x03\x04")
}

fn deadline_passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|at| Instant::now() >= at)
}

fn deadline_error(config: &ClientConfig) -> Error {
    let ms = config.deadline.map(|d| d.as_millis()).unwrap_or_default();
    Error::new(
        ErrorKind::Timeout,
        format!("the deadline of {ms} ms passed"),
    )
}

/// The error for a non-2xx response with (the start of) this body.
fn error_from_body(status: StatusCode, body: &[u8]) -> Error {
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
fn summarize(mut failures: Vec<Error>, why_stopped: &str) -> Error {
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

/// An error's message followed by its sources', without repeats.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    // The innermost cause is the most useful; the outer ones add context.
    parts.reverse();
    parts.truncate(2);
    parts.join(" (") + &")".repeat(parts.len().saturating_sub(1))
}

/// The process-wide client of the free functions: built from the environment
/// on first use and kept for the life of the process (never freed). A forked
/// child keeps its settings and gets its own HTTP stack on first use there
/// (see `transport.rs`).
///
/// No lock: a pointer set once. A lock held by another thread at the moment
/// of a fork() would stay locked forever in the child.
static DEFAULT_CLIENT: AtomicPtr<Arc<Client>> = AtomicPtr::new(std::ptr::null_mut());

pub fn default_client() -> Result<Arc<Client>> {
    let current = DEFAULT_CLIENT.load(Ordering::Acquire);
    // SAFETY: non-null only from `Box::into_raw` below, and never freed.
    if let Some(client) = unsafe { current.as_ref() } {
        return Ok(client.clone());
    }
    // An unusable environment is an error at every call until it is fixed.
    let built = Box::into_raw(Box::new(Arc::new(Client::from_env()?)));
    match DEFAULT_CLIENT.compare_exchange(
        std::ptr::null_mut(),
        built,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: `built` is now the slot's, never freed.
        Ok(_) => Ok(unsafe { (*built).clone() }),
        Err(winner) => {
            // Another thread was first: use its client; ours goes (in the
            // process that built it, so its thread is joined normally).
            // SAFETY: `built` was not published; `winner` is never freed.
            drop(unsafe { Box::from_raw(built) });
            Ok(unsafe { (*winner).clone() })
        }
    }
}

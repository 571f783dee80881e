//! The one download loop every sink goes through: the retry loop around
//! single attempts; each attempt follows redirects by hand and streams the
//! body into the sink, within the silence limit and the deadline.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, LOCATION};
use reqwest::{StatusCode, Url};

use crate::archive;
use crate::cancel::CallOptions;
use crate::client::Client;
use crate::config::check_scheme;
use crate::error::{Error, ErrorKind, Result};
use crate::failure::{deadline_error, error_from_body, summarize, Failure};
use crate::log::{bb_log, Level};
use crate::request::ApiKey;
use crate::retry;
use crate::sink::Sink;
use crate::transport::{Transport, Watch};

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 10;
/// An error body is read up to this size for its message...
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// ...and for at most this long in all: a server trickling it a byte at a
/// time must not hold the call (the silence limit alone would let it).
const ERROR_BODY_BUDGET: Duration = Duration::from_secs(2);

impl Client {
    /// A whole download on the calling thread: one `block_on`, on a leased
    /// transport, around the retry loop ([`Client::fetch`]).
    pub(crate) fn fetch_blocking(
        &self,
        key: &ApiKey,
        url: &Url,
        sink: &mut dyn Sink,
        options: &CallOptions,
    ) -> Result<u64> {
        let transport = self.transports.lease()?;
        // Declared after the lease, so it is dropped (unregistered from the
        // transport's runtime) before the transport goes back.
        let watch = transport.watch(options.cancel.as_ref())?;
        let watch = watch.as_ref();
        transport.block_on(self.fetch(&transport, watch, key, url, sink, options))?
    }

    /// One [`Client::attempt`] on the calling thread, for a loop that owns
    /// its retrying (the wait loop in `wait.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn attempt_blocking(
        &self,
        key: &ApiKey,
        url: &Url,
        sink: &mut dyn Sink,
        deadline: Option<Instant>,
        cutoff: Option<Instant>,
        tag: &str,
        options: &CallOptions,
    ) -> Result<u64, Failure> {
        let transport = self.transports.lease().map_err(Failure::fatal)?;
        let watch = transport
            .watch(options.cancel.as_ref())
            .map_err(Failure::fatal)?;
        let watch = watch.as_ref();
        let attempt = self.attempt(
            &transport, watch, key, url, sink, deadline, cutoff, tag, options,
        );
        transport.block_on(attempt).map_err(Failure::fatal)?
    }

    /// The retry loop around single attempts, on `transport`'s runtime;
    /// `watch` is the call's cancel handle (shared by the transfers of a
    /// batch).
    pub(crate) async fn fetch(
        &self,
        transport: &Transport,
        watch: Option<&Watch>,
        key: &ApiKey,
        url: &Url,
        sink: &mut dyn Sink,
        options: &CallOptions,
    ) -> Result<u64> {
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
            let attempt = self.attempt(
                transport, watch, key, url, sink, deadline, None, &tag, options,
            );
            let failure = match attempt.await {
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
            // A cancel ends the sleep, and the call.
            transport.sleep(delay, watch).await?;
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn attempt(
        &self,
        transport: &Transport,
        watch: Option<&Watch>,
        key: &ApiKey,
        url: &Url,
        sink: &mut dyn Sink,
        deadline: Option<Instant>,
        cutoff: Option<Instant>,
        tag: &str,
        options: &CallOptions,
    ) -> Result<u64, Failure> {
        // Whatever the server sends back (messages, redirect targets) is
        // scrubbed of the key in `Error` and the log (`scrub.rs`).
        let _in_use = key.in_use();
        let started = Instant::now();
        let result = self
            .request_into(transport, watch, key, url, sink, deadline, cutoff, options)
            .await;
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
    #[allow(clippy::too_many_arguments)]
    async fn request_into(
        &self,
        transport: &Transport,
        watch: Option<&Watch>,
        key: &ApiKey,
        url: &Url,
        sink: &mut dyn Sink,
        deadline: Option<Instant>,
        cutoff: Option<Instant>,
        options: &CallOptions,
    ) -> Result<(u16, u64), Failure> {
        let early = earliest(deadline, cutoff);
        let mut response = self
            .send(transport, watch, key, url, early)
            .await
            .map_err(|f| self.cut_off(f, deadline, cutoff))?;
        let status = response.status();
        if !status.is_success() {
            let retryable = retry::status_is_retryable(status.as_u16(), response.headers());
            let server_delay = retry::server_delay(response.headers());
            let error = self
                .http_error(transport, watch, &mut response, early)
                .await;
            return Err(Failure {
                error,
                retryable,
                server_delay,
            });
        }
        let content_length = response.content_length();
        if let (Some(len), Some(max)) = (content_length, self.config.max_archive_bytes) {
            if len > max {
                return Err(Failure::fatal(too_large(
                    max,
                    format_args!("the server announced {len} bytes"),
                )));
            }
        }
        sink.begin(content_length).map_err(Failure::fatal)?;
        let total = self
            .stream_body(
                transport,
                watch,
                options,
                &mut response,
                sink,
                content_length,
                deadline,
                cutoff,
            )
            .await?;
        sink.finish().map_err(Failure::fatal)?;
        Ok((status.as_u16(), total))
    }

    /// Sends the GET, following up to [`MAX_REDIRECTS`] redirects by hand: the
    /// key goes only to the base URL's origin, and never over plain http to a
    /// non-loopback host.
    async fn send(
        &self,
        transport: &Transport,
        watch: Option<&Watch>,
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
            let response = match transport
                .send(limit, watch, request)
                .await
                .map_err(Failure::fatal)?
            {
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
            check_scheme(&next, "redirect target").map_err(|e| {
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
    #[allow(clippy::too_many_arguments)]
    async fn stream_body(
        &self,
        transport: &Transport,
        watch: Option<&Watch>,
        options: &CallOptions,
        response: &mut reqwest::Response,
        sink: &mut dyn Sink,
        content_length: Option<u64>,
        deadline: Option<Instant>,
        mut cutoff: Option<Instant>,
    ) -> Result<u64, Failure> {
        // This call's progress function, else the client's.
        let progress = options.progress.as_ref().or(self.config.progress.as_ref());
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
            let waited = transport.run(limit, watch, response.chunk()).await;
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
            if let Some(max) = self.config.max_archive_bytes {
                if total + chunk.len() as u64 > max {
                    return Err(Failure::fatal(too_large(
                        max,
                        format_args!("more arrived; nothing past the limit was kept"),
                    )));
                }
            }
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
    async fn http_error(
        &self,
        transport: &Transport,
        watch: Option<&Watch>,
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
            match transport.run(limit, watch, response.chunk()).await {
                Ok(Some(Ok(Some(chunk)))) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(MAX_ERROR_BODY as usize);
        error_from_body(status, &body)
    }
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

pub(crate) fn deadline_passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|at| Instant::now() >= at)
}

/// A body over the client's `max_archive_bytes`: a refusal, not a fault a
/// retry could mend.
fn too_large(max: u64, detail: std::fmt::Arguments<'_>) -> Error {
    Error::new(
        ErrorKind::Http,
        format!("the archive is larger than the limit of {max} bytes ({detail})"),
    )
}

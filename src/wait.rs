//! Waiting until a session's files are there.
//!
//! The service syncs a session's downloads after the session ends; until
//! then it answers the 22-byte empty archive. The wait loop polls, each poll
//! being one request (no inner retries), until the archive holds at least
//! one file (and, with [`WaitOptions::stable`], until two polls in a row see
//! the same entries).
//!
//! Schedule: the first poll at once, then waits of 250 ms growing by half
//! each time to a cap of 2 s, less up to 10 % random jitter (so many waits
//! started together drift apart). No wait sleeps past its deadline: the last
//! poll happens right at it. A transient failure (connection, timeout, 408,
//! 429, 5xx) is retried on the same schedule, waiting at least as long as
//! the server's `Retry-After` asks (capped at the time left); any other
//! failure (401, 403, 404, a body that is not a ZIP archive, a local file
//! error) ends the wait at once.
//!
//! Memory: each poll goes through the destination's sink. For a file, that
//! is the temporary file beside the destination; it is listed there and
//! renamed into place only when ready, so waiting never holds the archive in
//! memory.

use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Url;

use crate::archive::{zip_error, Archive};
use crate::cancel::CallOptions;
use crate::client::Client;
use crate::error::{without_temp_path, Error, ErrorKind, Result};
use crate::extract::{DirGuard, ExtractLimits, Extracted};
use crate::request::{check_session_id, downloads_url, ApiKey};
use crate::sink::{BufferSink, FileSink, Sink};

/// The wait before the second poll.
pub const FIRST_POLL_DELAY: Duration = Duration::from_millis(250);
/// The longest wait between two polls.
pub const MAX_POLL_DELAY: Duration = Duration::from_secs(2);
/// Each wait is this much longer than the one before, up to the cap.
const POLL_GROWTH: f64 = 1.5;
/// Waits are shortened by up to this fraction, at random.
const POLL_JITTER: f64 = 0.1;
/// How long past the wait's timeout a poll still under way may go on
/// before its body shows files (the last poll starts right at the timeout).
pub const POLL_OVERRUN: Duration = Duration::from_secs(2);

/// How long and for what to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    timeout: Duration,
    stable: bool,
}

impl WaitOptions {
    /// Wait up to `timeout` for the archive to hold at least one file.
    /// A zero timeout polls exactly once.
    pub fn new(timeout: Duration) -> WaitOptions {
        WaitOptions {
            timeout,
            stable: false,
        }
    }

    /// When on, the archive must also hold the same entries (names, sizes,
    /// CRC-32s) in two successful polls in a row, for sessions whose files
    /// arrive one by one. A failed poll in between does not break the run.
    pub fn stable(mut self, on: bool) -> WaitOptions {
        self.stable = on;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn is_stable(&self) -> bool {
        self.stable
    }
}

/// What a successful wait did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitReport {
    /// Requests made, the last one included.
    pub polls: u32,
    /// Entries in the archive.
    pub files: usize,
    /// Size of the archive in bytes.
    pub size: u64,
    /// Time from the call to the archive being in place.
    pub elapsed: Duration,
}

impl Client {
    /// Waits until session `session_id`'s archive holds at least one file,
    /// then writes it to `path` atomically, as [`Client::download_to_file`].
    /// Times out with [`ErrorKind::NotReady`].
    ///
    /// `options.timeout` bounds the waiting: no poll starts and no sleep
    /// ends after it, and a poll still under way is cut off
    /// [`POLL_OVERRUN`] after it, unless its body has begun with a file.
    /// The transfer of such a (ready) archive is bounded by the client's own
    /// timeout (silence) and deadline (which, when set, also bounds the whole
    /// call), so it is never cut short by `options.timeout`.
    pub fn wait_for_downloads(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        path: &Path,
        options: &WaitOptions,
    ) -> Result<WaitReport> {
        self.wait_for_downloads_with_options(
            api_key,
            session_id,
            path,
            options,
            &CallOptions::default(),
        )
    }

    /// As [`Client::wait_for_downloads`], with per-call options: a triggered
    /// [`Cancel`](crate::Cancel) ends it with [`ErrorKind::Cancelled`],
    /// during a poll or between polls, leaving no file.
    pub fn wait_for_downloads_with_options(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        path: &Path,
        options: &WaitOptions,
        call: &CallOptions,
    ) -> Result<WaitReport> {
        let (key, url) = self.wait_target(api_key, session_id, call)?;
        // Every message of the call is scrubbed of the key from here on.
        let _in_use = key.in_use();
        let mut sink = FileSink::create(path, self.config().fsync)?;
        self.wait_loop(&key, session_id, &url, options, &mut sink, call)
    }

    /// As [`Client::wait_for_downloads`], returning the archive in memory.
    pub fn wait_for_downloads_to_vec(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        options: &WaitOptions,
    ) -> Result<(Vec<u8>, WaitReport)> {
        self.wait_for_downloads_to_vec_with_options(
            api_key,
            session_id,
            options,
            &CallOptions::default(),
        )
    }

    /// As [`Client::wait_for_downloads_to_vec`], with per-call options (see
    /// [`Client::wait_for_downloads_with_options`]).
    pub fn wait_for_downloads_to_vec_with_options(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        options: &WaitOptions,
        call: &CallOptions,
    ) -> Result<(Vec<u8>, WaitReport)> {
        let (key, url) = self.wait_target(api_key, session_id, call)?;
        // Every message of the call is scrubbed of the key from here on.
        let _in_use = key.in_use();
        let mut sink = BufferSink::new();
        let report = self.wait_loop(&key, session_id, &url, options, &mut sink, call)?;
        Ok((sink.into_vec(), report))
    }

    /// Waits as [`Client::wait_for_downloads`], then extracts the files into
    /// `dir` as [`Archive::extract_to`] does. The archive is kept in an
    /// unnamed temporary file in `dir` (never in memory, never visible) and
    /// is gone when the call returns. `dir` is created if missing (its parent
    /// must exist); a `dir` this call created is removed again, if empty, when
    /// it fails.
    pub fn extract_downloads(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        dir: &Path,
        options: &WaitOptions,
        limits: &ExtractLimits,
    ) -> Result<Vec<Extracted>> {
        self.extract_downloads_with_options(
            api_key,
            session_id,
            dir,
            options,
            limits,
            &CallOptions::default(),
        )
    }

    /// As [`Client::extract_downloads`], with per-call options: a triggered
    /// [`Cancel`](crate::Cancel) ends the wait or the extraction with
    /// [`ErrorKind::Cancelled`], leaving `dir` as it was.
    pub fn extract_downloads_with_options(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        dir: &Path,
        options: &WaitOptions,
        limits: &ExtractLimits,
        call: &CallOptions,
    ) -> Result<Vec<Extracted>> {
        let (key, url) = self.wait_target(api_key, session_id, call)?;
        // Every message of the call is scrubbed of the key from here on.
        let _in_use = key.in_use();
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid_argument("dir is empty"));
        }
        let mut created = DirGuard::ensure(dir)?;
        let file = tempfile::tempfile_in(dir).map_err(|e| {
            Error::io(
                format_args!("cannot create a file in {}", dir.display()),
                &without_temp_path(e),
            )
        })?;
        let mut spool = SpoolSink { file, dir };
        self.wait_loop(&key, session_id, &url, options, &mut spool, call)?;
        let archive = Archive::from_file(spool.file)?
            .with_label(format!("the archive of session {session_id}"));
        let extracted = archive.extract_into_existing(dir, limits, call)?;
        created.keep();
        Ok(extracted)
    }

    /// Checks key and id, and that the call is not cancelled already,
    /// before anything is created or sent.
    fn wait_target(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        call: &CallOptions,
    ) -> Result<(ApiKey, Url)> {
        let key = self.resolve_key(api_key)?;
        check_session_id(session_id)?;
        let url = downloads_url(&self.config().base_url, session_id)?;
        call.check()?;
        Ok((key, url))
    }

    fn wait_loop(
        &self,
        key: &ApiKey,
        session_id: &str,
        url: &Url,
        options: &WaitOptions,
        sink: &mut dyn Staged,
        call: &CallOptions,
    ) -> Result<WaitReport> {
        let _in_use = key.in_use();
        let start = Instant::now();
        let call_deadline = self.config().deadline.and_then(|d| start.checked_add(d));
        let wait_deadline = start.checked_add(options.timeout);
        let mut delay = FIRST_POLL_DELAY;
        let mut polls: u32 = 0;
        let mut previous: Option<Listing> = None;
        loop {
            polls += 1;
            let mut holding = Holding {
                inner: &mut *sink,
                listing: None,
            };
            let tag = format!("poll {polls}");
            // A poll is cut off POLL_OVERRUN after the wait's timeout,
            // unless its body turns out to hold files (see `attempt`).
            let cutoff = wait_deadline.and_then(|at| at.checked_add(POLL_OVERRUN));
            let outcome =
                self.attempt_blocking(key, url, &mut holding, call_deadline, cutoff, &tag, call);
            let listing = holding.listing.take();
            let (seen, server_delay) = match outcome {
                Ok(size) => {
                    let listing = listing
                        .ok_or_else(|| Error::internal("a finished poll left no listing"))?;
                    let ready = !listing.is_empty()
                        && (!options.stable || previous.as_ref() == Some(&listing));
                    if ready {
                        sink.commit()?;
                        return Ok(WaitReport {
                            polls,
                            files: listing.len(),
                            size,
                            elapsed: start.elapsed(),
                        });
                    }
                    let seen = Seen::Files {
                        now: listing.len(),
                        before: previous.as_ref().map(Listing::len),
                    };
                    previous = Some(listing);
                    (seen, None)
                }
                Err(f) if f.retryable => (Seen::Failed(f.error), f.server_delay),
                // Server text in messages was scrubbed of the key on entry.
                Err(f) => return Err(f.error),
            };
            let now = Instant::now();
            let left = match wait_deadline {
                Some(at) => at.saturating_duration_since(now),
                None => Duration::MAX,
            };
            let not_ready = || not_ready(session_id, polls, start.elapsed(), &seen);
            if left.is_zero() {
                return Err(not_ready());
            }
            let sleep = jittered(delay)
                .max(server_delay.unwrap_or_default())
                .min(left);
            // The client's whole-call deadline would refuse the next poll.
            if call_deadline.is_some_and(|at| now + sleep >= at) {
                return Err(not_ready());
            }
            // A cancel ends the sleep, and the wait.
            call.sleep(sleep)?;
            delay = next_delay(delay);
        }
    }
}

/// The wait after `delay`: half as long again, up to the cap.
pub(crate) fn next_delay(delay: Duration) -> Duration {
    delay.mul_f64(POLL_GROWTH).min(MAX_POLL_DELAY)
}

fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(1.0 - POLL_JITTER * fastrand::f64())
}

/// What the last poll saw, for the timeout's message.
enum Seen {
    Files { now: usize, before: Option<usize> },
    Failed(Error),
}

fn files_phrase(n: usize) -> String {
    if n == 1 {
        "1 file".to_owned()
    } else {
        format!("{n} files")
    }
}

fn not_ready(session_id: &str, polls: u32, elapsed: Duration, seen: &Seen) -> Error {
    let what = match seen {
        Seen::Files { now: 0, .. } => "the last poll saw an empty archive (0 files)".to_owned(),
        Seen::Files { now, before: None } => format!(
            "the last poll saw {}, not yet confirmed by a second poll (stable wait)",
            files_phrase(*now)
        ),
        Seen::Files {
            now,
            before: Some(before),
        } if now == before => format!(
            "the files were still changing: the last poll saw {}, different ones from the poll before",
            files_phrase(*now)
        ),
        Seen::Files {
            now,
            before: Some(before),
        } => format!(
            "the files were still changing: the last poll saw {}, the poll before {}",
            files_phrase(*now),
            files_phrase(*before)
        ),
        Seen::Failed(e) => format!("the last poll failed: {}", e.message()),
    };
    let polls = if polls == 1 {
        "1 poll".to_owned()
    } else {
        format!("{polls} polls")
    };
    Error::new(
        ErrorKind::NotReady,
        format!(
            "session {session_id} not ready after {polls} in {:.1} s: {what}",
            elapsed.as_secs_f64()
        ),
    )
}

/// What one successful poll saw: each entry's raw name, size and CRC-32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing(Vec<(Vec<u8>, u64, u32)>);

impl Listing {
    fn read<R: Read + Seek>(reader: R) -> Result<Listing> {
        let zip = zip::ZipArchive::new(reader).map_err(|e| zip_error("the response", e))?;
        let mut entries = Vec::with_capacity(zip.len());
        for i in 0..zip.len() {
            let e = zip
                .by_index_data(i)
                .map_err(|e| zip_error("the response", e))?;
            entries.push((e.name_raw().to_vec(), e.size(), e.crc32()));
        }
        Ok(Listing(entries))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A sink the wait loop can poll into: after a complete body it can list
/// what arrived, and only `commit` makes it visible.
pub(crate) trait Staged: Sink {
    /// The entries of the complete body just written.
    fn listing(&mut self) -> Result<Listing>;
    /// Makes the body visible (the file sink's rename).
    fn commit(&mut self) -> Result<()>;
}

impl Staged for FileSink {
    fn listing(&mut self) -> Result<Listing> {
        Listing::read(&mut *self.staged_file())
    }

    fn commit(&mut self) -> Result<()> {
        self.finish()
    }
}

impl Staged for BufferSink {
    fn listing(&mut self) -> Result<Listing> {
        Listing::read(Cursor::new(self.bytes()))
    }

    fn commit(&mut self) -> Result<()> {
        self.finish()
    }
}

/// An unnamed temporary file (already unlinked) in `dir`, the caller's
/// destination, which its errors name: nothing to clean up.
struct SpoolSink<'a> {
    file: std::fs::File,
    dir: &'a Path,
}

impl SpoolSink<'_> {
    fn write_error(&self, e: &std::io::Error) -> Error {
        Error::io(format_args!("cannot write in {}", self.dir.display()), e)
    }
}

impl Sink for SpoolSink<'_> {
    fn begin(&mut self, _content_length: Option<u64>) -> Result<()> {
        let res = self
            .file
            .set_len(0)
            .and_then(|_| self.file.seek(SeekFrom::Start(0)).map(drop));
        res.map_err(|e| self.write_error(&e))
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let res = self.file.write_all(chunk);
        res.map_err(|e| self.write_error(&e))
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

impl Staged for SpoolSink<'_> {
    fn listing(&mut self) -> Result<Listing> {
        Listing::read(&mut self.file)
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Passes a poll's body to the destination, but on `finish` only lists it:
/// the wait loop decides whether to commit.
struct Holding<'a> {
    inner: &'a mut dyn Staged,
    listing: Option<Listing>,
}

impl Sink for Holding<'_> {
    fn begin(&mut self, content_length: Option<u64>) -> Result<()> {
        self.listing = None;
        self.inner.begin(content_length)
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.inner.write(chunk)
    }

    fn finish(&mut self) -> Result<()> {
        self.listing = Some(self.inner.listing()?);
        Ok(())
    }

    fn can_restart(&self) -> bool {
        self.inner.can_restart()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_grows_by_half_to_two_seconds() {
        let mut d = FIRST_POLL_DELAY;
        let mut seen = vec![d.as_micros()];
        for _ in 0..7 {
            d = next_delay(d);
            seen.push(d.as_micros());
        }
        assert_eq!(
            seen,
            [250_000, 375_000, 562_500, 843_750, 1_265_625, 1_898_437, 2_000_000, 2_000_000]
        );
        for _ in 0..100 {
            let j = jittered(MAX_POLL_DELAY);
            assert!(j <= MAX_POLL_DELAY && j >= MAX_POLL_DELAY.mul_f64(0.9));
        }
    }

    #[test]
    fn not_ready_messages_say_what_the_last_poll_saw() {
        let m = |seen: Seen, polls| {
            not_ready("s1", polls, Duration::from_millis(10_040), &seen)
                .message()
                .to_owned()
        };
        assert_eq!(
            m(Seen::Files { now: 0, before: None }, 12),
            "session s1 not ready after 12 polls in 10.0 s: the last poll saw an empty archive (0 files)"
        );
        assert!(m(
            Seen::Files {
                now: 1,
                before: None
            },
            1
        )
        .contains("after 1 poll in"));
        assert!(m(
            Seen::Files {
                now: 3,
                before: Some(2)
            },
            5
        )
        .contains("saw 3 files, the poll before 2 files"));
        assert!(m(
            Seen::Files {
                now: 2,
                before: Some(2)
            },
            5
        )
        .contains("different ones"));
        let e = Error::http(503, "HTTP 503 Service Unavailable");
        let text = m(Seen::Failed(e), 4);
        assert!(
            text.ends_with("the last poll failed: HTTP 503 Service Unavailable"),
            "{text}"
        );
        let e = not_ready(
            "s",
            1,
            Duration::ZERO,
            &Seen::Files {
                now: 0,
                before: None,
            },
        );
        assert_eq!((e.kind(), e.http_status()), (ErrorKind::NotReady, None));
    }
}

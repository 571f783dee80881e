//! Many sessions in one call: each session's archive to `<dir>/<name>.zip`,
//! at most N transfers at once, all driven on the calling thread's runtime
//! (one leased transport, one `block_on`): no thread of ours, every callback
//! from the calling thread, and the transfers share the transport's
//! kept-alive connections.
//!
//! Memory stays flat in the number of ids: only the N transfers in flight
//! exist as futures (each with its temporary file and connection); the
//! others are an index into the caller's list until their turn. What grows
//! with the count is one small result per id and, while the call checks its
//! arguments, the set of ids (duplicates are refused).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};

use crate::cancel::CallOptions;
use crate::client::Client;
use crate::config::Progress;
use crate::error::{Error, ErrorKind, Result};
use crate::request::{check_session_id, downloads_url, ApiKey};
use crate::sink::FileSink;
use crate::transport::{Transport, Watch};

/// Transfers in flight when the caller asks for 0.
pub const DEFAULT_CONCURRENCY: u32 = 8;
/// Transfers in flight at most: a larger request is lowered to this.
pub const MAX_CONCURRENCY: u32 = 64;
/// Session ids one call accepts at most.
pub const MAX_BATCH_SESSIONS: usize = 1_000_000;
/// Failures named in a batch's error message (the lowest indices).
const NAMED_FAILURES: usize = 3;
/// The longest file name most file systems take (bytes).
const MAX_FILE_NAME: usize = 255;

/// The file name a batch writes session `session_id`'s archive to:
/// `<encoded id>.zip`. Bytes of the id outside `[A-Za-z0-9._-]` are written
/// `%XX` (upper-case hex, UTF-8 bytes one by one), and so is a leading `.`
/// (`%2E`); `%` itself is therefore `%25`. The same id always gives the same
/// name, two ids never give the same name, and
/// [`session_id_from_file_name`] gives the id back.
pub fn session_file_name(session_id: &str) -> String {
    let mut name = String::with_capacity(session_id.len() + 4);
    for (i, b) in session_id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".zip");
    name
}

/// The session id of a file named by [`session_file_name`]; `None` for a
/// name it cannot have produced.
pub fn session_id_from_file_name(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".zip")?;
    let mut bytes = Vec::with_capacity(stem.len());
    let mut rest = stem.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let id = String::from_utf8(bytes).ok()?;
    (session_file_name(&id) == name).then_some(id)
}

/// What a batch's progress function is told, on the calling thread: after
/// each chunk of a session (and before its first, with `received` 0), and
/// once when a session ends (`finished`).
///
/// One aggregate bar: `(succeeded + failed) / count` is the share of
/// sessions done; `batch_received` the bytes transferred so far over the
/// whole batch (a retried attempt's bytes count again). Per-session bars:
/// `index`, `received` and `total`.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BatchProgress<'a> {
    /// The session's index in the caller's list.
    pub index: usize,
    pub session_id: &'a str,
    /// This session's bytes so far (this attempt's: a retry starts at 0).
    pub received: u64,
    /// This session's size, when the server announced it.
    pub total: Option<u64>,
    /// `Some` once the session ended: `Ok(())` or its failure.
    pub finished: Option<std::result::Result<(), &'a Error>>,
    /// Sessions ended so far, successfully and not (this one included
    /// when `finished`).
    pub succeeded: usize,
    pub failed: usize,
    /// Sessions in the batch.
    pub count: usize,
    /// Bytes received over the whole batch so far.
    pub batch_received: u64,
}

/// A batch's progress function: returning `false` cancels the whole batch.
#[derive(Clone)]
pub struct BatchProgressFn(Arc<dyn Fn(&BatchProgress<'_>) -> bool + Send + Sync>);

impl BatchProgressFn {
    pub fn new(f: impl Fn(&BatchProgress<'_>) -> bool + Send + Sync + 'static) -> BatchProgressFn {
        BatchProgressFn(Arc::new(f))
    }
}

impl std::fmt::Debug for BatchProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchProgressFn(..)")
    }
}

/// How one session of a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionResult {
    /// Its archive is at `<dir>/<name>.zip`.
    Ok,
    Failed(ErrorKind),
}

/// What a batch did: one result per id, in order, and the first failures
/// (lowest indices) with their reasons.
#[derive(Debug)]
pub struct BatchReport {
    pub results: Vec<SessionResult>,
    pub failed: usize,
    /// At most a few `(index, error)`, by index.
    pub first_failures: Vec<(usize, Error)>,
}

impl BatchReport {
    /// `None` when every session succeeded; otherwise an error of the first
    /// failed session's kind, saying how many failed and naming the first
    /// few with their reasons.
    pub fn error(&self, session_ids: &[&str]) -> Option<Error> {
        let (_, first_error) = self.first_failures.first()?;
        let named: Vec<String> = self
            .first_failures
            .iter()
            .map(|(i, e)| {
                let id = session_ids.get(*i).copied().unwrap_or("?");
                format!("session_ids[{i}] {id:?}: {}", e.message())
            })
            .collect();
        let more = self.failed.saturating_sub(named.len());
        let more = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        Some(Error::new(
            first_error.kind(),
            format!(
                "{} of {} sessions failed: {}{more}",
                self.failed,
                self.results.len(),
                named.join("; ")
            ),
        ))
    }
}

/// The counters every session's progress reports share.
#[derive(Default)]
struct Totals {
    succeeded: AtomicUsize,
    failed: AtomicUsize,
    received: AtomicU64,
}

impl Client {
    /// Downloads each session of `session_ids` to `<dir>/<name>.zip` (name:
    /// [`session_file_name`]), each file atomically as
    /// [`Client::download_to_file`], at most `concurrency` at once (0:
    /// [`DEFAULT_CONCURRENCY`]; above [`MAX_CONCURRENCY`]: that), each with
    /// the client's retry policy and deadline on its own.
    ///
    /// `Err` only for bad arguments, before anything is sent or created:
    /// no ids or more than [`MAX_BATCH_SESSIONS`], a bad or duplicate id
    /// (the message names its index), `dir` not an existing directory, a
    /// bad key, or a cancel handle already triggered. Otherwise the report
    /// says how each session ended; one's failure never stops the others.
    ///
    /// Progress: `options.progress` (else the client's) hears each session's
    /// `(received, total)`; `batch_progress` hears [`BatchProgress`]. Either
    /// returning `false`, or `options.cancel` triggered, stops the batch:
    /// finished files stay, unfinished ones leave nothing, and every session
    /// not finished is [`ErrorKind::Cancelled`].
    pub fn download_sessions(
        &self,
        api_key: Option<&str>,
        session_ids: &[&str],
        dir: &Path,
        concurrency: u32,
        options: &CallOptions,
        batch_progress: Option<BatchProgressFn>,
    ) -> Result<BatchReport> {
        let key = self.resolve_key(api_key)?;
        // Every message of the call is scrubbed of the key from here on.
        let _in_use = key.in_use();
        check_batch(session_ids)?;
        for id in session_ids {
            downloads_url(&self.config.base_url, id)?;
        }
        check_dir(dir)?;
        options.check()?;
        let in_flight = match concurrency {
            0 => DEFAULT_CONCURRENCY,
            n => n.min(MAX_CONCURRENCY),
        } as usize;
        let transport = self.transports.lease()?;
        // Dropped before the transport goes back (see `fetch_blocking`).
        let watch = transport.watch(options.cancel.as_ref())?;
        let batch = Batch {
            client: self,
            transport: &transport,
            watch: watch.as_ref(),
            key: &key,
            ids: session_ids,
            dir,
            options,
            progress: batch_progress,
            totals: Arc::new(Totals::default()),
        };
        transport.block_on(batch.run(in_flight))
    }
}

/// The arguments every session of a batch shares.
struct Batch<'a> {
    client: &'a Client,
    transport: &'a Transport,
    watch: Option<&'a Watch>,
    key: &'a ApiKey,
    ids: &'a [&'a str],
    dir: &'a Path,
    options: &'a CallOptions,
    progress: Option<BatchProgressFn>,
    totals: Arc<Totals>,
}

impl Batch<'_> {
    async fn run(&self, in_flight: usize) -> BatchReport {
        let count = self.ids.len();
        // `None`: not finished (yet).
        let mut ended: Vec<Option<SessionResult>> = vec![None; count];
        let mut report = BatchReport {
            results: Vec::new(),
            failed: 0,
            first_failures: Vec::new(),
        };
        {
            // Lazily: a session's future (its file, its request) exists only
            // while it is one of the `in_flight` under way.
            let mut running = stream::iter(0..count)
                .map(|i| async move { (i, self.session(i).await) })
                .buffer_unordered(in_flight);
            while let Some((i, outcome)) = running.next().await {
                let stop = match &outcome {
                    Ok(_) => {
                        ended[i] = Some(SessionResult::Ok);
                        self.totals.succeeded.fetch_add(1, Ordering::Relaxed);
                        false
                    }
                    Err(e) => {
                        ended[i] = Some(SessionResult::Failed(e.kind()));
                        self.totals.failed.fetch_add(1, Ordering::Relaxed);
                        // Only the cancel handle or a progress function
                        // cancels a file download: either stops the batch.
                        e.kind() == ErrorKind::Cancelled
                    }
                };
                let go_on = self.report_end(i, &outcome);
                if let Err(e) = outcome {
                    keep_first(&mut report.first_failures, i, e);
                }
                if stop || !go_on {
                    // Dropping the stream drops the transfers under way:
                    // their temporary files go, their files are not
                    // committed (a transfer commits as its last step, with
                    // no wait after it).
                    break;
                }
            }
        }
        let cancelled = || {
            Error::new(
                ErrorKind::Cancelled,
                "not downloaded: the batch was cancelled",
            )
        };
        report.results = ended
            .into_iter()
            .enumerate()
            .map(|(i, r)| match r {
                Some(r) => r,
                None => {
                    if report.first_failures.len() < NAMED_FAILURES
                        || report
                            .first_failures
                            .last()
                            .is_some_and(|(last, _)| *last > i)
                    {
                        keep_first(&mut report.first_failures, i, cancelled());
                    }
                    SessionResult::Failed(ErrorKind::Cancelled)
                }
            })
            .collect();
        report.failed = report
            .results
            .iter()
            .filter(|r| **r != SessionResult::Ok)
            .count();
        report
    }

    /// One session: its file, its request with the client's retries.
    async fn session(&self, index: usize) -> Result<u64> {
        let id = self.ids[index];
        let client = self.client;
        let url = downloads_url(&client.config.base_url, id)?;
        let path = self.dir.join(session_file_name(id));
        let mut sink = FileSink::create(&path, client.config.fsync)?;
        let call = self.session_options(index);
        client
            .fetch(self.transport, self.watch, self.key, &url, &mut sink, &call)
            .await
    }

    /// The call's options for session `index`: its progress reaches the
    /// caller's per-session progress function (the call's, else the
    /// client's) and the batch's.
    fn session_options(&self, index: usize) -> CallOptions {
        let mut call = CallOptions {
            cancel: self.options.cancel.clone(),
            progress: None,
        };
        let plain = self
            .options
            .progress
            .clone()
            .or_else(|| self.client.config.progress.clone());
        let batch = self.progress.clone();
        if plain.is_none() && batch.is_none() {
            return call;
        }
        let id = self.ids[index].to_owned();
        let count = self.ids.len();
        let totals = Arc::clone(&self.totals);
        let last = AtomicU64::new(0);
        call.progress = Some(Progress::new(move |received, total| {
            // A retry starts again from 0: its bytes count again.
            let before = last.swap(received, Ordering::Relaxed);
            let new = received.checked_sub(before).unwrap_or(received);
            let batch_received = totals.received.fetch_add(new, Ordering::Relaxed) + new;
            let plain_goes_on = plain.as_ref().is_none_or(|p| (p.0)(received, total));
            let batch_goes_on = batch.as_ref().is_none_or(|b| {
                (b.0)(&BatchProgress {
                    index,
                    session_id: &id,
                    received,
                    total,
                    finished: None,
                    succeeded: totals.succeeded.load(Ordering::Relaxed),
                    failed: totals.failed.load(Ordering::Relaxed),
                    count,
                    batch_received,
                })
            });
            plain_goes_on && batch_goes_on
        }));
        call
    }

    /// Tells the batch progress function that session `index` ended;
    /// `false` when it asks to stop.
    fn report_end(&self, index: usize, outcome: &Result<u64>) -> bool {
        let Some(batch) = &self.progress else {
            return true;
        };
        let received = *outcome.as_ref().unwrap_or(&0);
        (batch.0)(&BatchProgress {
            index,
            session_id: self.ids[index],
            received,
            total: outcome.as_ref().ok().copied(),
            finished: Some(outcome.as_ref().map(drop)),
            succeeded: self.totals.succeeded.load(Ordering::Relaxed),
            failed: self.totals.failed.load(Ordering::Relaxed),
            count: self.ids.len(),
            batch_received: self.totals.received.load(Ordering::Relaxed),
        })
    }
}

/// Keeps the [`NAMED_FAILURES`] failures of lowest index, sorted.
fn keep_first(first: &mut Vec<(usize, Error)>, index: usize, error: Error) {
    let at = first.partition_point(|(i, _)| *i < index);
    if at >= NAMED_FAILURES {
        return;
    }
    first.insert(at, (index, error));
    first.truncate(NAMED_FAILURES);
}

/// The list itself: its size, each id, no id twice, each id's file name
/// short enough for the file system.
fn check_batch(session_ids: &[&str]) -> Result<()> {
    if session_ids.is_empty() {
        return Err(Error::invalid_argument("session_ids is empty (count is 0)"));
    }
    if session_ids.len() > MAX_BATCH_SESSIONS {
        return Err(Error::invalid_argument(format!(
            "count is {}; at most {MAX_BATCH_SESSIONS} sessions are accepted in one call",
            session_ids.len()
        )));
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(session_ids.len());
    for (i, id) in session_ids.iter().enumerate() {
        check_session_id(id).map_err(|e| {
            let message = format!("session_ids[{i}]: {}", e.message());
            e.with_message(message)
        })?;
        if session_file_name(id).len() > MAX_FILE_NAME {
            return Err(Error::invalid_argument(format!(
                "session_ids[{i}]: too long for a file name once encoded ({} bytes; at most \
                 {MAX_FILE_NAME})",
                session_file_name(id).len()
            )));
        }
        if !seen.insert(id) {
            let first = session_ids
                .iter()
                .position(|other| other == id)
                .unwrap_or(0);
            return Err(Error::invalid_argument(format!(
                "session_ids[{i}] {id:?} is a duplicate of session_ids[{first}]"
            )));
        }
    }
    Ok(())
}

/// `dir` exists and is a directory (a symbolic link to one is fine).
fn check_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() {
        return Err(Error::invalid_argument("dir is empty"));
    }
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::new(
            ErrorKind::Io,
            format!("dir {}: Not a directory", dir.display()),
        )),
        Err(e) => Err(Error::io(format_args!("dir {}", dir.display()), &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_stable_and_reversible() {
        for (id, name) in [
            ("abc-DEF_1.2", "abc-DEF_1.2.zip"),
            (".hidden", "%2Ehidden.zip"),
            ("a/b", "a%2Fb.zip"),
            ("50%", "50%25.zip"),
            ("é", "%C3%A9.zip"),
            ("a b", "a%20b.zip"),
        ] {
            assert_eq!(session_file_name(id), name);
            assert_eq!(session_id_from_file_name(name).as_deref(), Some(id));
        }
        assert_eq!(session_id_from_file_name("%2ehidden.zip"), None);
        assert_eq!(session_id_from_file_name("a%2.zip"), None);
        assert_eq!(session_id_from_file_name("a.txt"), None);
    }

    #[test]
    fn the_first_failures_are_kept_by_index() {
        let mut first = Vec::new();
        for i in [9, 4, 7, 1, 8, 2] {
            keep_first(&mut first, i, Error::internal(format!("{i}")));
        }
        let kept: Vec<usize> = first.iter().map(|(i, _)| *i).collect();
        assert_eq!(kept, [1, 2, 4]);
    }
}

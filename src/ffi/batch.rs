//! Many sessions in one call: `bb_download_sessions` and its client forms.

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::path::Path;

use super::cancel::{bb_call_options, read_call_options};
use super::client::bb_client;
use super::default_client::with_client;
use super::error::{bb_code, bb_error};
use super::{ffi_guard, path_arg, ref_arg, str_arg, CallerData};
use crate::batch::{BatchProgressFn, SessionResult, MAX_BATCH_SESSIONS};
use crate::error::{Error, Result};

/// What a batch progress callback (`bb_call_options.batch_progress`) is
/// given, on the thread that called the batch function: after each chunk of
/// a session (and once before its first, with `received` 0), and once when
/// a session ends (`finished` 1). An extensible output struct: the library
/// sets `struct_size` to the size it fills; read only the fields your
/// header declares (a later version may add fields at the end).
///
/// One aggregate bar: `(succeeded + failed) / count` is the share of
/// sessions done, `batch_received` the bytes received so far over the whole
/// batch (bytes of a retried attempt count again). Per-session bars: by
/// `index`, from `received` and `total`.
///
/// Ownership: the struct and its strings are the library's, valid only
/// during the callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct bb_batch_progress {
    /// `sizeof(bb_batch_progress)` as the library declares it.
    pub struct_size: usize,
    /// The session's index in `session_ids`.
    pub index: usize,
    /// `session_ids[index]` (the caller's string).
    pub session_id: *const c_char,
    /// This session's bytes so far (a retried attempt starts again at 0).
    pub received: u64,
    /// This session's size as the server announced it, or -1 when unknown.
    pub total: i64,
    /// 1 when this call reports that the session ended, 0 while it runs.
    pub finished: c_int,
    /// When `finished`: `BB_OK`, or the session's failure (as `results`
    /// will say). `BB_OK` while it runs.
    pub code: bb_code,
    /// When `finished` with a failure: its reason (scrubbed of the key);
    /// NULL otherwise.
    pub message: *const c_char,
    /// Sessions ended so far, successfully and not (this one included when
    /// `finished`).
    pub succeeded: usize,
    pub failed: usize,
    /// Sessions in the batch (`count`).
    pub count: usize,
    /// Bytes received over the whole batch so far.
    pub batch_received: u64,
}

/// Receives a batch's progress (see `bb_batch_progress`), on the thread that
/// called the batch function. Return 0 to go on, anything else to cancel the
/// whole batch (as a cancel handle would).
pub type bb_batch_progress_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, progress: *const bb_batch_progress) -> c_int,
>;

/// The caller's id array, read again by the batch progress trampoline for
/// `session_id` (valid for the call, documented).
struct Ids(*const *const c_char);
// SAFETY: only read, on the calling thread, during the call.
unsafe impl Send for Ids {}
// SAFETY: as above.
unsafe impl Sync for Ids {}

#[allow(clippy::too_many_arguments)]
fn to_dir(
    client: Option<&bb_client>,
    api_key: *const c_char,
    session_ids: *const *const c_char,
    count: usize,
    dir: *const c_char,
    concurrency: c_uint,
    options: *const bb_call_options,
    results: *mut bb_code,
) -> Result<()> {
    // SAFETY: NULL or a NUL-terminated string valid for the call (documented).
    let api_key = unsafe { super::opt_str_arg(api_key, "api_key") }?;
    if session_ids.is_null() {
        return Err(Error::invalid_argument("session_ids is NULL"));
    }
    if count == 0 {
        return Err(Error::invalid_argument(
            "count is 0: no sessions to download",
        ));
    }
    // Before reading the array: a wrong count must not walk off its end.
    if count > MAX_BATCH_SESSIONS {
        return Err(Error::invalid_argument(format!(
            "count is {count}; at most {MAX_BATCH_SESSIONS} sessions are accepted in one call"
        )));
    }
    // SAFETY: `session_ids` points to `count` pointers (documented).
    let raw = unsafe { std::slice::from_raw_parts(session_ids, count) };
    let mut ids: Vec<&str> = Vec::with_capacity(count);
    for (i, &id) in raw.iter().enumerate() {
        // SAFETY: each is NULL or a NUL-terminated string valid for the call.
        ids.push(unsafe { str_arg(id, &format!("session_ids[{i}]")) }?);
    }
    // SAFETY: NULL or a NUL-terminated string valid for the call.
    let dir: &Path = unsafe { path_arg(dir, "dir") }?;
    // SAFETY: NULL or a bb_call_options (documented).
    let o = unsafe { read_call_options(options) }?;
    // SAFETY: as above; the same struct.
    let call = unsafe { super::cancel::call_options(options) }?;
    let progress = o
        .and_then(|o| o.batch_progress.map(|f| (f, o.batch_progress_user_data)))
        .map(|(callback, data)| batch_trampoline(callback, CallerData(data), Ids(session_ids)));
    let report = with_client(client, |c| {
        c.download_sessions(api_key, &ids, dir, concurrency, &call, progress)
    })?;
    if !results.is_null() {
        for (i, r) in report.results.iter().enumerate() {
            let code = match r {
                SessionResult::Ok => bb_code::BB_OK,
                SessionResult::Failed(kind) => (*kind).into(),
            };
            // SAFETY: `results` has room for `count` codes (documented).
            unsafe { results.add(i).write(code) };
        }
    }
    match report.error(&ids) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

fn batch_trampoline(
    callback: unsafe extern "C" fn(*mut c_void, *const bb_batch_progress) -> c_int,
    data: CallerData,
    ids: Ids,
) -> BatchProgressFn {
    BatchProgressFn::new(move |p| {
        let (data, ids) = (&data, &ids);
        let (code, message) = match p.finished {
            Some(Err(e)) => (
                e.kind().into(),
                CString::new(e.message()).unwrap_or_default(),
            ),
            _ => (bb_code::BB_OK, CString::default()),
        };
        let progress = bb_batch_progress {
            struct_size: std::mem::size_of::<bb_batch_progress>(),
            index: p.index,
            // SAFETY: the caller's array of `count` pointers, valid for the
            // call; `index` is below `count`.
            session_id: unsafe { *ids.0.add(p.index) },
            received: p.received,
            total: p.total.and_then(|t| i64::try_from(t).ok()).unwrap_or(-1),
            finished: c_int::from(p.finished.is_some()),
            code,
            message: if code == bb_code::BB_OK {
                std::ptr::null()
            } else {
                message.as_ptr()
            },
            succeeded: p.succeeded,
            failed: p.failed,
            count: p.count,
            batch_received: p.batch_received,
        };
        // SAFETY: the caller's callback with its own user data, on the
        // calling thread, during the call; `progress` outlives the call.
        unsafe { callback(data.0, &progress) == 0 }
    })
}

/// Downloads many sessions' archives into the directory `dir`, each to
/// `<dir>/<name>.zip`, using the process-wide default client (settings from
/// the `BROWSERBASE_*` variables, as `bb_download_session`).
///
/// - `session_ids`: `count` ids, each as `bb_download_session` takes it, no
///   id twice; `count` from 1 to 1,000,000.
/// - File names: an id made only of `A-Z a-z 0-9 . _ -` and not starting
///   with `.` is its own name (`<id>.zip`); any other byte, and a leading
///   `.`, is written `%XX` (upper-case hex of each UTF-8 byte), so `%` is
///   `%25`, `/` is `%2F`, `.x` is `%2Ex`: the same id always gives the same
///   name, and the name gives the id back. An id whose name would be longer
///   than 255 bytes is refused.
/// - Each file is written atomically, exactly as `bb_download_session`
///   writes `path` (temporary file, checked, renamed; symbolic links as
///   there); a failed session leaves no file and no temporary file, and a
///   file already at its name untouched.
/// - `dir` must be an existing directory (a symbolic link to one is fine).
/// - `concurrency`: at most this many downloads at once; 0 means 8, and
///   more than 64 means 64. They run concurrently on the calling thread
///   (no thread is started), over the client's kept-alive connections.
///   Each session gets the client's retry policy and deadline on its own;
///   one session's failure never stops or changes the others.
/// - `results`: NULL, or room for `count` codes: `results[i]` receives
///   session i's code (`BB_OK` or its failure) once the batch ran. When the
///   call is refused before anything is sent (a bad argument), `results` is
///   left as it was.
///
/// Returns `BB_OK` when every session succeeded; otherwise the code of the
/// failed session of lowest index, and `*err` says how many failed and
/// names the first three with their reasons. Refused before anything is
/// sent or created (`BB_ERR_INVALID_ARGUMENT`, `BB_ERR_IO` for `dir`): a
/// NULL array, `count` 0 or over 1,000,000, a NULL, empty, non-UTF-8 or
/// otherwise bad id (the message names its index), a duplicate id, a NULL,
/// missing or non-directory `dir`.
///
/// Progress and cancelling: see `bb_client_download_sessions_opts`.
///
/// Ownership: every string and the array are borrowed for the call;
/// `results` is written, never kept. On failure `*err` (when `err` is not
/// NULL) receives an error the caller frees with `bb_error_free`.
#[no_mangle]
pub extern "C" fn bb_download_sessions(
    api_key: *const c_char,
    session_ids: *const *const c_char,
    count: usize,
    dir: *const c_char,
    concurrency: c_uint,
    results: *mut bb_code,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        to_dir(
            None,
            api_key,
            session_ids,
            count,
            dir,
            concurrency,
            std::ptr::null(),
            results,
        )
    })
}

/// As `bb_download_sessions`, through `client`. `api_key` NULL means the
/// client's key, then `BROWSERBASE_API_KEY`.
///
/// Ownership: `client`, the strings and the array are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_download_sessions(
    client: *const bb_client,
    api_key: *const c_char,
    session_ids: *const *const c_char,
    count: usize,
    dir: *const c_char,
    concurrency: c_uint,
    results: *mut bb_code,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { ref_arg(client, "client") }?;
        to_dir(
            Some(client),
            api_key,
            session_ids,
            count,
            dir,
            concurrency,
            std::ptr::null(),
            results,
        )
    })
}

/// As `bb_client_download_sessions`, with per-call `options` (`client`
/// NULL: the default client; `options` NULL: the defaults).
///
/// - `options->cancel` triggered, or a progress callback returning non-zero,
///   cancels the whole batch: it returns within about 100 ms; files of the
///   sessions that finished stay, the sessions under way leave nothing (no
///   file, no temporary file), and every session that did not finish gets
///   `BB_ERR_CANCELLED` in `results`.
/// - `options->progress` (else the client's progress callback) is called
///   per session, with that session's `(received, total)`, as for one
///   download: it cannot tell sessions apart.
/// - `options->batch_progress` is called with a `bb_batch_progress` (which
///   session, its bytes, how many ended, the batch's bytes): enough for one
///   aggregate bar and one bar per session in flight.
/// - Every callback runs on the thread that called this function, one at a
///   time (the downloads are interleaved on that thread, not run on others).
///
/// Ownership: as `bb_client_download_sessions`; `options` (with its cancel
/// handle and user data) is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_download_sessions_opts(
    client: *const bb_client,
    api_key: *const c_char,
    session_ids: *const *const c_char,
    count: usize,
    dir: *const c_char,
    concurrency: c_uint,
    options: *const bb_call_options,
    results: *mut bb_code,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { client.as_ref() };
        to_dir(
            client,
            api_key,
            session_ids,
            count,
            dir,
            concurrency,
            options,
            results,
        )
    })
}

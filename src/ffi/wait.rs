//! Waiting until a session's files are there: free functions over the
//! process-wide default client, and `bb_client_*` ones (with flags) over a
//! caller's client.

use std::ffi::c_char;
use std::path::Path;
use std::time::Duration;

use super::buffer::give_buffer;
use super::cancel::{bb_call_options, call_options};
use super::client::bb_client;
use super::default_client::with_client;
use super::error::{bb_code, bb_error};
use super::{ffi_guard, opt_str_arg, out_arg, path_arg, ref_arg, str_arg};
use crate::error::{Error, Result};
use crate::wait::WaitOptions;

/// Flags of the `bb_client_wait_*` and `bb_client_extract_downloads`
/// functions, passed as a `uint32_t`; combine them with `|`. The values are
/// part of the ABI. An unknown bit is `BB_ERR_INVALID_ARGUMENT`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum bb_wait_flags {
    /// Wait until the archive holds at least one file.
    BB_WAIT_DEFAULT = 0,
    /// Also wait until two successful polls in a row see the same entries
    /// (names, sizes, CRC-32s): for sessions whose files arrive one by one.
    BB_WAIT_STABLE = 1,
}

/// The options a C call asks for.
pub(crate) fn wait_options(timeout_ms: u32, flags: u32) -> Result<WaitOptions> {
    let known = bb_wait_flags::BB_WAIT_STABLE as u32;
    if flags & !known != 0 {
        return Err(Error::invalid_argument(format!(
            "flags has unknown bits 0x{:x}",
            flags & !known
        )));
    }
    Ok(WaitOptions::new(Duration::from_millis(timeout_ms.into())).stable(flags & known != 0))
}

fn to_file(
    client: Option<&bb_client>,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    path: *const c_char,
    call: *const bb_call_options,
) -> Result<()> {
    let options = wait_options(timeout_ms, flags)?;
    // SAFETY: `api_key` is NULL or a NUL-terminated string that stays valid for the call
    // (its documented contract).
    let api_key = unsafe { opt_str_arg(api_key, "api_key") }?;
    // SAFETY: `session_id` is NULL or a NUL-terminated string that stays valid for the call
    // (its documented contract).
    let session_id = unsafe { str_arg(session_id, "session_id") }?;
    // SAFETY: `path` is NULL or a NUL-terminated string that stays valid for the call (its
    // documented contract).
    let path: &Path = unsafe { path_arg(path, "path") }?;
    // SAFETY: NULL or a bb_call_options (documented).
    let call = unsafe { call_options(call) }?;
    with_client(client, |c| {
        c.wait_for_downloads_with_options(api_key, session_id, path, &options, &call)
    })
    .map(drop)
}

#[allow(clippy::too_many_arguments)]
fn to_buffer(
    client: Option<&bb_client>,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    call: *const bb_call_options,
) -> Result<()> {
    let out_data = out_arg(out_data, "out_data")?;
    let out_len = out_arg(out_len, "out_len")?;
    let options = wait_options(timeout_ms, flags)?;
    // SAFETY: `api_key` is NULL or a NUL-terminated string that stays valid for the call
    // (its documented contract).
    let api_key = unsafe { opt_str_arg(api_key, "api_key") }?;
    // SAFETY: `session_id` is NULL or a NUL-terminated string that stays valid for the call
    // (its documented contract).
    let session_id = unsafe { str_arg(session_id, "session_id") }?;
    // SAFETY: NULL or a bb_call_options (documented).
    let call = unsafe { call_options(call) }?;
    let (data, _) = with_client(client, |c| {
        c.wait_for_downloads_to_vec_with_options(api_key, session_id, &options, &call)
    })?;
    // SAFETY: both outputs were checked non-NULL; writable (documented).
    unsafe { give_buffer(data, out_data, out_len) };
    Ok(())
}

/// Waits until session `session_id`'s archive holds at least one file, then
/// writes it to `path` atomically, exactly as `bb_download_session` does;
/// uses the process-wide default client.
///
/// The service answers a 22-byte empty archive until it has synced the
/// session's files, which happens after the session ends. This function
/// polls: the first request at once, then after 250 ms, waits growing by
/// half each time up to 2 s (so a ready archive is seen within a fraction of
/// a second early on, and the service is asked at most every 2 s later).
/// Connection failures, timeouts, 429 and 5xx answers are retried on the
/// same schedule, waiting at least as long as a `Retry-After` header asks;
/// 401, 403, 404 and any other failure end the wait at once with their own
/// code.
///
/// - `timeout_ms`: how long to wait for the files; 0 polls exactly once.
///   No poll starts and no sleep ends after it, and a poll still under way
///   is cut off 2 s after it (the call then fails with `BB_ERR_NOT_READY`)
///   unless its body has begun with a file: the transfer of a ready archive
///   is bounded by the client's timeout and deadline settings instead, never
///   cut short by `timeout_ms`.
/// - On timeout: `BB_ERR_NOT_READY`, whose message says how many polls were
///   made in how long and what the last one saw (an empty archive, or the
///   error it got). No file is created and a file at `path` is untouched.
/// - Memory use does not grow with the archive: every poll goes to a
///   temporary file beside `path`, renamed over `path` only when ready.
///
/// Ownership: all strings are borrowed for the call. On failure, `*err`
/// (when `err` is not NULL) receives an error the caller frees with
/// `bb_error_free`.
#[no_mangle]
pub extern "C" fn bb_wait_for_downloads(
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    path: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        to_file(
            None,
            api_key,
            session_id,
            timeout_ms,
            0,
            path,
            std::ptr::null(),
        )
    })
}

/// As `bb_wait_for_downloads`, returning the archive in memory.
///
/// Ownership: strings are borrowed for the call. On success `*out_data`
/// receives a buffer of `*out_len` bytes that the caller owns and frees with
/// `bb_buffer_free(data, len)`; neither output is written on failure.
#[no_mangle]
pub extern "C" fn bb_wait_for_downloads_to_buffer(
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        to_buffer(
            None,
            api_key,
            session_id,
            timeout_ms,
            0,
            out_data,
            out_len,
            std::ptr::null(),
        )
    })
}

/// As `bb_wait_for_downloads`, through `client`, with `flags` (a bitwise OR
/// of `bb_wait_flags` values, such as `BB_WAIT_STABLE`). `api_key` NULL
/// means the client's key, then `BROWSERBASE_API_KEY`. When the client has
/// a deadline (`bb_client_builder_set_deadline_ms`), it bounds the whole
/// call, the wait included.
///
/// Ownership: `client` and the strings are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_wait_for_downloads(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    path: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `client` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let client = unsafe { ref_arg(client, "client") }?;
        to_file(
            Some(client),
            api_key,
            session_id,
            timeout_ms,
            flags,
            path,
            std::ptr::null(),
        )
    })
}

/// As `bb_wait_for_downloads_to_buffer`, through `client`, with `flags` as
/// `bb_client_wait_for_downloads`.
///
/// Ownership: as `bb_wait_for_downloads_to_buffer`; `client` is borrowed.
#[no_mangle]
pub extern "C" fn bb_client_wait_for_downloads_to_buffer(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `client` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let client = unsafe { ref_arg(client, "client") }?;
        to_buffer(
            Some(client),
            api_key,
            session_id,
            timeout_ms,
            flags,
            out_data,
            out_len,
            std::ptr::null(),
        )
    })
}

/// As `bb_client_wait_for_downloads`, with per-call `options` (see
/// `bb_call_options`). `client` NULL means the process-wide default client;
/// `options` NULL the defaults. A triggered cancel handle ends the wait
/// with `BB_ERR_CANCELLED` within about 100 ms, during a poll or between
/// polls, with no file created and a file already at `path` untouched.
///
/// Ownership: `client`, the strings and `options` (with its cancel handle)
/// are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_wait_for_downloads_opts(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    path: *const c_char,
    options: *const bb_call_options,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { client.as_ref() };
        to_file(
            client, api_key, session_id, timeout_ms, flags, path, options,
        )
    })
}

/// As `bb_client_wait_for_downloads_to_buffer`, with per-call `options` as
/// `bb_client_wait_for_downloads_opts` (`client` NULL: the default client).
///
/// Ownership: as `bb_client_wait_for_downloads_to_buffer`; `options` is
/// borrowed.
#[no_mangle]
pub extern "C" fn bb_client_wait_for_downloads_to_buffer_opts(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    options: *const bb_call_options,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { client.as_ref() };
        to_buffer(
            client, api_key, session_id, timeout_ms, flags, out_data, out_len, options,
        )
    })
}

//! The download functions: free ones over the process-wide default client,
//! and `bb_client_*` ones over a caller's client. All share the core's one
//! download loop; they differ only in the sink.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

use super::buffer::give_buffer;
use super::cancel::{bb_call_options, call_options};
use super::client::bb_client;
use super::default_client::with_client;
use super::error::{bb_code, bb_error};
use super::{ffi_guard, opt_str_arg, out_arg, path_arg, ref_arg, str_arg};
use crate::error::{Error, Result};
use crate::sink::CallbackSink;

/// Receives the next chunk of the archive: `len` bytes at `data`, which are
/// valid only during the call. Return 0 to go on, anything else to cancel the
/// download (it then fails with `BB_ERR_CANCELLED`). Chunks arrive in order,
/// from the thread that called the download function.
pub type bb_write_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, data: *const u8, len: usize) -> c_int>;

/// Arguments every download takes, checked before anything is sent.
struct Target<'a> {
    api_key: Option<&'a str>,
    session_id: &'a str,
}

/// # Safety
/// Both pointers are NULL or NUL-terminated strings that outlive `'a`.
unsafe fn target<'a>(api_key: *const c_char, session_id: *const c_char) -> Result<Target<'a>> {
    // SAFETY: the caller's promise for both pointers is what these need.
    let api_key = unsafe { opt_str_arg(api_key, "api_key") }?;
    // SAFETY: as above.
    let session_id = unsafe { str_arg(session_id, "session_id") }?;
    Ok(Target {
        api_key,
        session_id,
    })
}

fn to_file(
    client: Option<&bb_client>,
    api_key: *const c_char,
    session_id: *const c_char,
    path: *const c_char,
    options: *const bb_call_options,
) -> Result<()> {
    // SAFETY: both are NULL or NUL-terminated strings that stay valid for
    // the call (the exported functions' documented contract).
    let t = unsafe { target(api_key, session_id) }?;
    // SAFETY: `path` is NULL or a NUL-terminated string that stays valid for the call (its
    // documented contract).
    let path: &Path = unsafe { path_arg(path, "path") }?;
    // SAFETY: NULL or a bb_call_options (documented).
    let call = unsafe { call_options(options) }?;
    with_client(client, |c| {
        c.download_to_file_with_options(t.api_key, t.session_id, path, &call)
    })
    .map(drop)
}

fn to_buffer(
    client: Option<&bb_client>,
    api_key: *const c_char,
    session_id: *const c_char,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    options: *const bb_call_options,
) -> Result<()> {
    let out_data = out_arg(out_data, "out_data")?;
    let out_len = out_arg(out_len, "out_len")?;
    // SAFETY: both are NULL or NUL-terminated strings that stay valid for
    // the call (the exported functions' documented contract).
    let t = unsafe { target(api_key, session_id) }?;
    // SAFETY: NULL or a bb_call_options (documented).
    let call = unsafe { call_options(options) }?;
    let data = with_client(client, |c| {
        c.download_to_vec_with_options(t.api_key, t.session_id, &call)
    })?;
    // SAFETY: both outputs are non-NULL and writable (documented).
    unsafe { give_buffer(data, out_data, out_len) };
    Ok(())
}

fn to_callback(
    client: Option<&bb_client>,
    api_key: *const c_char,
    session_id: *const c_char,
    write: bb_write_callback,
    user_data: *mut c_void,
    options: *const bb_call_options,
) -> Result<()> {
    let write = write.ok_or_else(|| Error::invalid_argument("write is NULL"))?;
    // SAFETY: both are NULL or NUL-terminated strings that stay valid for
    // the call (the exported functions' documented contract).
    let t = unsafe { target(api_key, session_id) }?;
    // SAFETY: NULL or a bb_call_options (documented).
    let call = unsafe { call_options(options) }?;
    let mut sink = CallbackSink::new(|chunk: &[u8]| {
        // SAFETY: the caller's callback, given the user data it asked for
        // and a chunk valid for the call.
        unsafe { write(user_data, chunk.as_ptr(), chunk.len()) == 0 }
    });
    with_client(client, |c| {
        c.download_with_options(t.api_key, t.session_id, &mut sink, &call)
    })
    .map(drop)
}

/// Downloads the archive of files that session `session_id` downloaded and
/// writes it to the file `path`, using the process-wide default client.
///
/// - `api_key`: the Browserbase API key; NULL reads `BROWSERBASE_API_KEY`.
/// - `session_id`: any non-empty string without control characters; it is
///   percent-encoded as one URL path segment.
/// - `path`: the destination file. It is written atomically: the archive
///   goes to a temporary file in the same directory, is checked to be a ZIP
///   archive, and is renamed over `path` only then. On any failure no
///   temporary file remains and a file already at `path` is untouched.
///   Non-UTF-8 paths are fine. A symbolic link at `path` is written through,
///   except, in a sticky, world-writable directory such as /tmp, a link
///   owned by neither the caller nor the directory's owner: `BB_ERR_IO`
///   before any request (the kernel's fs.protected_symlinks rule).
/// - The base URL and other settings come from the `BROWSERBASE_*`
///   environment variables, read once when the default client is first used.
///
/// Ownership: all strings are borrowed for the call. On failure, `*err`
/// (when `err` is not NULL) receives an error the caller frees with
/// `bb_error_free`.
#[no_mangle]
pub extern "C" fn bb_download_session(
    api_key: *const c_char,
    session_id: *const c_char,
    path: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        to_file(None, api_key, session_id, path, std::ptr::null())
    })
}

/// Downloads session `session_id`'s archive into memory, using the
/// process-wide default client. Arguments as `bb_download_session`.
///
/// Ownership: on success `*out_data` receives a buffer of `*out_len` bytes
/// that the caller owns and must free with `bb_buffer_free(data, len)`
/// (not `free`, see `bb_buffer_free`). Neither output is written on
/// failure. When the server sends a Content-Length of at most 8 MiB, the
/// buffer is allocated once, at its final size; a larger announced size is
/// not trusted up front: 8 MiB is reserved and the buffer doubles as the
/// bytes arrive (never past the announced size).
/// `bb_client_builder_set_max_archive_bytes` bounds it.
#[no_mangle]
pub extern "C" fn bb_download_session_to_buffer(
    api_key: *const c_char,
    session_id: *const c_char,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        to_buffer(
            None,
            api_key,
            session_id,
            out_data,
            out_len,
            std::ptr::null(),
        )
    })
}

/// Downloads session `session_id`'s archive and hands it, chunk by chunk,
/// to `write` with `user_data`, using the process-wide default client.
/// Memory use does not grow with the archive's size.
///
/// The first bytes are checked to start a ZIP archive before any chunk is
/// handed over, and the end before `BB_OK` is returned, from the last
/// 256 KiB of the body (kept, besides the chunks): the end-of-central-
/// directory record (ZIP64's too) must end the body exactly, on one disk,
/// with the central directory ending where it begins; when the central
/// directory fits in those 256 KiB, each entry in it must be whole, as many
/// as the record says, and start before it. A body cut short or padded is
/// `BB_ERR_INVALID_ARCHIVE` after its chunks were handed over. The entries'
/// data (local headers, compressed bytes, CRC-32s) is not checked, so the
/// callback should treat the data as unverified until `BB_OK` returns. Once
/// a chunk was handed over, a failure is not started over (the callback
/// would see bytes twice); a cut body is resumed where it stopped when the
/// server allows (see `bb_client_builder_set_resume`), which hands no byte
/// over twice. Failures before the first chunk are retried as usual.
///
/// Ownership: strings are borrowed for the call; `user_data` is passed
/// through untouched.
#[no_mangle]
pub extern "C" fn bb_download_session_to_callback(
    api_key: *const c_char,
    session_id: *const c_char,
    write: bb_write_callback,
    user_data: *mut c_void,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        to_callback(
            None,
            api_key,
            session_id,
            write,
            user_data,
            std::ptr::null(),
        )
    })
}

/// As `bb_download_session`, through `client`. `api_key` NULL means the
/// client's key (`bb_client_builder_set_api_key`), then `BROWSERBASE_API_KEY`.
///
/// Ownership: `client` and the strings are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_download(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    path: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `client` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let client = unsafe { ref_arg(client, "client") }?;
        to_file(Some(client), api_key, session_id, path, std::ptr::null())
    })
}

/// As `bb_download_session_to_buffer`, through `client`.
///
/// Ownership: as `bb_download_session_to_buffer`; `client` is borrowed.
#[no_mangle]
pub extern "C" fn bb_client_download_to_buffer(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
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
            out_data,
            out_len,
            std::ptr::null(),
        )
    })
}

/// As `bb_download_session_to_callback`, through `client`.
///
/// Ownership: as `bb_download_session_to_callback`; `client` is borrowed.
#[no_mangle]
pub extern "C" fn bb_client_download_to_callback(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    write: bb_write_callback,
    user_data: *mut c_void,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `client` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let client = unsafe { ref_arg(client, "client") }?;
        to_callback(
            Some(client),
            api_key,
            session_id,
            write,
            user_data,
            std::ptr::null(),
        )
    })
}

/// As `bb_client_download`, with per-call `options` (see `bb_call_options`:
/// a cancel handle, a progress callback for this call). `client` NULL means
/// the process-wide default client (as `bb_download_session`); `options`
/// NULL means the defaults. A triggered cancel handle ends the call with
/// `BB_ERR_CANCELLED` within about 100 ms (at once, nothing sent, when it
/// was triggered before the call), with no file created and a file already
/// at `path` untouched.
///
/// Ownership: `client`, the strings and `options` (with its cancel handle)
/// are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_download_opts(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    path: *const c_char,
    options: *const bb_call_options,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { client.as_ref() };
        to_file(client, api_key, session_id, path, options)
    })
}

/// As `bb_client_download_to_buffer`, with per-call `options` as
/// `bb_client_download_opts` (`client` NULL: the default client).
/// Cancelled, neither output is written.
///
/// Ownership: as `bb_client_download_to_buffer`; `options` is borrowed.
#[no_mangle]
pub extern "C" fn bb_client_download_to_buffer_opts(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    options: *const bb_call_options,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { client.as_ref() };
        to_buffer(client, api_key, session_id, out_data, out_len, options)
    })
}

/// As `bb_client_download_to_callback`, with per-call `options` as
/// `bb_client_download_opts` (`client` NULL: the default client). A
/// cancelled call makes no further call to `write`.
///
/// Ownership: as `bb_client_download_to_callback`; `options` is borrowed.
#[no_mangle]
pub extern "C" fn bb_client_download_to_callback_opts(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    write: bb_write_callback,
    user_data: *mut c_void,
    options: *const bb_call_options,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { client.as_ref() };
        to_callback(client, api_key, session_id, write, user_data, options)
    })
}

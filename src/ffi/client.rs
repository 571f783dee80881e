//! Client handles: a builder collects settings, a client is immutable and
//! shared freely between threads.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;
use std::time::Duration;

use super::error::{bb_code, bb_error};
use super::{ffi_guard, opt_str_arg, out_arg, path_arg, ref_arg, str_arg, CallerData};
use crate::client::Client;
use crate::config::{ClientConfig, Progress};
use crate::error::Result;

/// Settings for a new client. Create with `bb_client_builder_new`, change
/// with the `bb_client_builder_set_*` functions, turn into a client with
/// `bb_client_new`, free with `bb_client_builder_free`. Safe to use from
/// several threads (calls are serialized).
pub struct bb_client_builder {
    config: Mutex<ClientConfig>,
}

/// A client: kept-alive connections plus settings. Create with
/// `bb_client_new`, free with `bb_client_free`. Safe to use from many
/// threads at once (threads calling at the same time use connections of
/// their own; calls one after another reuse one); it must outlive every call
/// that uses it. After fork(),
/// the child may keep using (and free) a client made before the fork: it
/// gets its own network stack there on first use, with the same settings.
pub struct bb_client {
    pub(crate) inner: Client,
}

impl bb_client_builder {
    fn update(&self, f: impl FnOnce(&mut ClientConfig) -> Result<()>) -> Result<()> {
        let mut config = self.config.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut config)
    }
}

/// Shared body of the setters: check the builder pointer, then apply.
fn with_builder(
    builder: *mut bb_client_builder,
    err: *mut *mut bb_error,
    f: impl FnOnce(&mut ClientConfig) -> Result<()>,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `builder` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let builder = unsafe { ref_arg(builder, "builder") }?;
        builder.update(f)
    })
}

/// A builder holding the built-in defaults (not the environment): base URL
/// https://api.browserbase.com, connect timeout 5000 ms, timeout 60000 ms,
/// no deadline, 2 retries, no proxy, no fsync, no archive size limit,
/// resume on.
///
/// Ownership: the caller owns the result and frees it with
/// `bb_client_builder_free`. Never returns NULL.
#[no_mangle]
pub extern "C" fn bb_client_builder_new() -> *mut bb_client_builder {
    Box::into_raw(Box::new(bb_client_builder {
        config: Mutex::new(ClientConfig::default()),
    }))
}

/// Frees a builder. NULL is fine. Clients built from it are unaffected.
///
/// Ownership: takes ownership of `builder`.
#[no_mangle]
pub extern "C" fn bb_client_builder_free(builder: *mut bb_client_builder) {
    ffi_guard!(value: (), {
        if !builder.is_null() {
            // SAFETY: from Box::into_raw in bb_client_builder_new (documented).
            drop(unsafe { Box::from_raw(builder) });
        }
    })
}

/// Applies every `BROWSERBASE_*` environment variable that is set (the same
/// ones the free functions read) over the builder's settings. On failure
/// (an unparsable value) the builder is unchanged.
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_load_env(
    builder: *mut bb_client_builder,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        let mut next = c.clone();
        next.apply_env()?;
        *c = next;
        Ok(())
    })
}

/// Sets the service's base URL, e.g. "https://api.browserbase.com". Plain
/// "http://" is accepted only for a loopback host (127.0.0.0/8, ::1,
/// localhost), so the key never travels in clear text. `localhost` is the
/// exact name (not `*.localhost`), and it is only ever connected to at a
/// loopback address: if the resolver says otherwise, the call fails with
/// `BB_ERR_CONNECTION` and nothing is sent.
///
/// Ownership: `url` is borrowed for the call (copied).
#[no_mangle]
pub extern "C" fn bb_client_builder_set_base_url(
    builder: *mut bb_client_builder,
    url: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    // SAFETY (all setters): string arguments are NULL or NUL-terminated (documented).
    with_builder(builder, err, |c| {
        // SAFETY: `url` is NULL or a NUL-terminated string that stays valid for the call
        // (its documented contract).
        c.set_base_url(unsafe { str_arg(url, "url") }?)
    })
}

/// Sets the API key used when a call passes `api_key` NULL (it is then
/// preferred over `BROWSERBASE_API_KEY`).
///
/// Ownership: `api_key` is borrowed for the call (copied).
#[no_mangle]
pub extern "C" fn bb_client_builder_set_api_key(
    builder: *mut bb_client_builder,
    api_key: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        // SAFETY: `api_key` is NULL or a NUL-terminated string that stays valid for the
        // call (its documented contract).
        c.set_api_key(unsafe { str_arg(api_key, "api_key") }?)
    })
}

/// Sets how long to wait for a connection (TCP and TLS), in milliseconds (> 0).
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_connect_timeout_ms(
    builder: *mut bb_client_builder,
    timeout_ms: u32,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        c.set_connect_timeout(Duration::from_millis(timeout_ms.into()))
    })
}

/// Sets the longest silence allowed while waiting for the response or
/// reading its body, in milliseconds (> 0).
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_timeout_ms(
    builder: *mut bb_client_builder,
    timeout_ms: u32,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        c.set_timeout(Duration::from_millis(timeout_ms.into()))
    })
}

/// Sets a limit on a whole call, retries and waits included, in
/// milliseconds; 0 means no limit (the default).
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_deadline_ms(
    builder: *mut bb_client_builder,
    deadline_ms: u32,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        c.set_deadline(Some(Duration::from_millis(deadline_ms.into())));
        Ok(())
    })
}

/// Sets how many times a failed request is retried (default 2, at most 100).
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_max_retries(
    builder: *mut bb_client_builder,
    max_retries: u32,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| c.set_max_retries(max_retries))
}

/// Appends `suffix` (printable ASCII, e.g. "mytool/1.2") to the User-Agent
/// "browserbase-c/<version>".
///
/// Ownership: `suffix` is borrowed for the call (copied).
#[no_mangle]
pub extern "C" fn bb_client_builder_set_user_agent_suffix(
    builder: *mut bb_client_builder,
    suffix: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        // SAFETY: `suffix` is NULL or a NUL-terminated string that stays valid for the call
        // (its documented contract).
        c.set_user_agent_suffix(unsafe { str_arg(suffix, "suffix") }?)
    })
}

/// Trusts the CA certificates in the PEM file at `pem_path`, in addition to
/// the built-in and system roots. The file is read now.
///
/// Ownership: `pem_path` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_add_ca_file(
    builder: *mut bb_client_builder,
    pem_path: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        // SAFETY: `pem_path` is NULL or a NUL-terminated string that stays valid for the
        // call (its documented contract).
        c.add_ca_file(unsafe { path_arg(pem_path, "pem_path") }?)
    })
}

/// Sends every request through the proxy at `proxy_url` ("http://host:port"
/// or "https://host:port", credentials allowed in the URL; other schemes,
/// "socks5://" included, are refused). NULL restores the default: the
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` variables, never for loopback.
/// With a plain "http://" (loopback) base URL the proxy receives each request
/// whole, key included: a plain "http://" proxy on a non-loopback host is
/// then refused by `bb_client_new` (`BB_ERR_INVALID_ARGUMENT`, nothing sent).
///
/// Ownership: `proxy_url` is borrowed for the call (copied).
#[no_mangle]
pub extern "C" fn bb_client_builder_set_proxy(
    builder: *mut bb_client_builder,
    proxy_url: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        // SAFETY: `proxy_url` is NULL or a NUL-terminated string that stays valid for the
        // call (its documented contract).
        match unsafe { opt_str_arg(proxy_url, "proxy_url") }? {
            Some(url) => c.set_proxy(url),
            None => {
                c.proxy = None;
                Ok(())
            }
        }
    })
}

/// When `enabled` is non-zero, a downloaded file is flushed to disk (fsync
/// of the file, then of its directory after the rename) before the call
/// returns. Default off, like curl: it costs one disk flush per download.
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_fsync(
    builder: *mut bb_client_builder,
    enabled: c_int,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        c.set_fsync(enabled != 0);
        Ok(())
    })
}

/// When `enabled` is non-zero (the default), a retry after a body was cut
/// continues it instead of starting over: it asks for the rest (`Range:
/// bytes=N-` with `If-Range`) when the first response offered ranges
/// (`Accept-Ranges: bytes`) and carried a validator (a strong `ETag`, else a
/// `Last-Modified` at least a second older than the response's `Date`), and
/// appends a matching `206` to what was received. A `200` (the archive
/// changed, or ranges are not served) starts over, as does an answer that
/// does not match what was asked; the finished archive is checked as
/// always. With 0, every retry starts over from byte 0. Environment:
/// `BROWSERBASE_RESUME` (0 or 1).
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_resume(
    builder: *mut bb_client_builder,
    enabled: c_int,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        c.set_resume(enabled != 0);
        Ok(())
    })
}

/// Sets the largest archive a download through the client accepts, in
/// bytes; 0 means no limit (the default, for files, buffers and callbacks
/// alike). A larger archive fails with `BB_ERR_HTTP` ("the archive is larger
/// than the limit of N bytes", `bb_error_http_status` 0), never retried: at
/// once when the server announces its size (Content-Length), before the byte
/// past the limit otherwise. Nothing is left behind: no file is written or
/// replaced, no buffer returned, and no byte past the limit reaches a
/// callback. Without a limit, a buffer download reserves at most 8 MiB
/// before the bytes arrive, whatever size the server announces, and grows
/// as they come. Environment: `BROWSERBASE_MAX_ARCHIVE_BYTES`.
///
/// Ownership: `builder` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_max_archive_bytes(
    builder: *mut bb_client_builder,
    max_bytes: u64,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        c.set_max_archive_bytes(Some(max_bytes));
        Ok(())
    })
}

/// Receives a download's progress: `received` bytes so far and `total` (the
/// server's Content-Length, or -1 when unknown). Called before the first
/// byte (with 0) and after each chunk, on the thread that called the download
/// function. Return 0 to go on, anything else to cancel (`BB_ERR_CANCELLED`).
/// A retried download reports from 0 again; one that resumes a cut body
/// reports from the bytes already received, with the same total.
pub type bb_progress_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, received: u64, total: i64) -> c_int>;

/// Calls `callback` with `user_data` as every download through clients built
/// from this builder progresses (see `bb_progress_callback`). `callback`
/// NULL removes it.
///
/// Ownership: `builder` is borrowed for the call. `user_data` is passed to
/// `callback` untouched; it must stay valid, and be safe to use from every
/// thread that downloads through the client, until the client is freed.
#[no_mangle]
pub extern "C" fn bb_client_builder_set_progress(
    builder: *mut bb_client_builder,
    callback: bb_progress_callback,
    user_data: *mut c_void,
    err: *mut *mut bb_error,
) -> bb_code {
    with_builder(builder, err, |c| {
        let progress = callback.map(|callback| {
            let data = CallerData(user_data);
            Progress::new(move |received, total| {
                let total = total.and_then(|t| i64::try_from(t).ok()).unwrap_or(-1);
                let data = &data;
                // SAFETY: the caller's callback with its own user data.
                unsafe { callback(data.0, received, total) == 0 }
            })
        });
        c.set_progress(progress);
        Ok(())
    })
}

/// Creates a client from `builder`'s settings, or, when `builder` is NULL,
/// from the built-in defaults and the `BROWSERBASE_*` environment variables
/// (the settings of the free functions). It starts no thread: every call
/// through the client does its network work on the calling thread (a host
/// name lookup runs on a helper thread, which exits after 10 s unused;
/// neither a call past its deadline nor `bb_client_free` waits for it).
///
/// Ownership: `builder` is borrowed (it may be freed or reused afterwards).
/// On success `*out` receives a client the caller owns and frees with
/// `bb_client_free`.
#[no_mangle]
pub extern "C" fn bb_client_new(
    builder: *const bb_client_builder,
    out: *mut *mut bb_client,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        let out = out_arg(out, "out")?;
        // SAFETY: NULL or a live builder (documented).
        let config = match unsafe { builder.as_ref() } {
            Some(b) => b.config.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            None => ClientConfig::from_env()?,
        };
        let client = Client::new(config)?;
        // SAFETY: out is non-NULL and writable (documented).
        unsafe { *out = Box::into_raw(Box::new(bb_client { inner: client })) };
        Ok(())
    })
}

/// Frees a client and closes its connections. NULL is fine. No call may be
/// using the client at the time.
///
/// Ownership: takes ownership of `client`.
#[no_mangle]
pub extern "C" fn bb_client_free(client: *mut bb_client) {
    ffi_guard!(value: (), {
        if !client.is_null() {
            // SAFETY: from Box::into_raw in bb_client_new (documented).
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

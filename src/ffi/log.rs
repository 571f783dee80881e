//! Routing the library's log lines into the host application's logger.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;

use super::error::{bb_code, bb_error};
use super::{ffi_guard, CallerData};
use crate::error::{Error, Result};
use crate::log::{set_logger, set_logger_nowait, silence, silence_nowait, Level, LogFn, Release};

/// How much a log line matters. A logger set to a level receives that level
/// and everything more severe.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum bb_log_level {
    /// No lines at all.
    BB_LOG_OFF = 0,
    BB_LOG_ERROR = 1,
    /// Retries and failures.
    BB_LOG_WARN = 2,
    /// One line per request: method, URL path, status, bytes, time, attempt.
    BB_LOG_INFO = 3,
    /// Also redirects and other details.
    BB_LOG_DEBUG = 4,
}

/// A level as it arrives from C (any int is safe); the header names it
/// `bb_log_level` (see cbindgen.toml).
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct bb_log_level_arg(pub c_int);

/// Receives one log line: `message` is a NUL-terminated UTF-8 line without a
/// trailing newline, valid only during the call. Called from whichever
/// thread is downloading, possibly from several at once; it must not block
/// for long. It never contains the API key, nor a control character (they
/// are written as escapes: `\n`, `\u{1b}`).
pub type bb_log_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, level: bb_log_level, message: *const c_char),
>;

/// Sends the library's log lines at `max_level` and more severe to
/// `callback` instead of stderr, for the whole process. `callback` NULL
/// restores the default: stderr, at the level the `BROWSERBASE_LOG`
/// environment variable asks for (`debug`, `info`, `warn`, `error`; unset
/// means off; read once, when the library first logs or this function is
/// first called). `max_level` `BB_LOG_OFF` silences the library entirely,
/// also with `callback` NULL and whatever `BROWSERBASE_LOG` says.
///
/// Returns only once calls of the replaced callback still running on other
/// threads have finished (a callback may call this function to replace
/// itself, also from a nested call: a library call it makes logs and the
/// line reaches it again; its own calls are not waited for). So a callback
/// must not wait for a lock that the thread calling this function holds.
/// In a child process made by fork(), calls that other threads of the
/// parent had under way are not waited for (they never end there).
///
/// Ownership: `user_data` is passed to every call of `callback` untouched;
/// it must stay valid, and be safe to use from any thread, until the
/// callback is replaced by another call of this function, which returns
/// only when no call of it is running any more. (A replacement by
/// `bb_set_log_callback_v2` does not wait: use that setter's `destroy` to
/// learn when `user_data` is no longer used.)
#[no_mangle]
pub extern "C" fn bb_set_log_callback(
    callback: bb_log_callback,
    user_data: *mut c_void,
    max_level: bb_log_level_arg,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        let max = level_arg(max_level)?;
        match (callback, max) {
            (None, None) => silence(),
            (None, Some(_)) => set_logger(None, None),
            (Some(callback), max) => set_logger(Some(sink(callback, user_data)), max),
        }
        Ok(())
    })
}

/// Releases a caller's `user_data` (the `destroy` of `bb_set_log_callback_v2`), once.
pub type bb_destroy_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// As `bb_set_log_callback`, but never waits: lines logged from now on go
/// to `callback` (or stderr, or nowhere) at once, while calls of the
/// replaced callback still running on other threads finish there. It is
/// safe to call from any thread, from inside a log callback, and while the
/// calling thread holds a lock that a callback waits for (in Node, while
/// the event loop is the "lock").
///
/// Ownership, as sqlite's `xDestroy`: on success the library owns
/// `user_data`, and calls `destroy(user_data)` (when `destroy` is not NULL)
/// exactly once, when it is done with it: when this callback has been
/// replaced by a later call of either setter and its last call still
/// running has returned. That happens on whichever thread ends that call,
/// or inside the replacing setter call when none is running; from inside
/// the callback itself, once that call has returned. With `callback` NULL,
/// `destroy(user_data)` is called at once, before this returns. On failure
/// (an unknown `max_level`) nothing changes and `destroy` is not called.
/// `destroy` is not called at process exit for the callback installed
/// then. In a child made by fork(), the installed callback's calls that
/// other threads of the parent had under way do not count (they never end
/// there); a callback replaced before the fork with calls still running on
/// other threads is never released in the child.
///
/// `max_level` is as for `bb_set_log_callback`.
#[no_mangle]
pub extern "C" fn bb_set_log_callback_v2(
    callback: bb_log_callback,
    user_data: *mut c_void,
    destroy: bb_destroy_callback,
    max_level: bb_log_level_arg,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        let max = level_arg(max_level)?;
        let data = CallerData(user_data);
        let release = destroy.map(|destroy| -> Release {
            Box::new(move || {
                let data = &data;
                // SAFETY: the caller's destroy with its own user data, called
                // once, after the last call of the callback that used it.
                unsafe { destroy(data.0) }
            })
        });
        match (callback, max) {
            (None, None) => {
                silence_nowait();
                if let Some(release) = release {
                    release();
                }
            }
            (None, Some(_)) => set_logger_nowait(None, None, release),
            (Some(callback), max) => {
                set_logger_nowait(Some(sink(callback, user_data)), max, release)
            }
        }
        Ok(())
    })
}

fn level_arg(max_level: bb_log_level_arg) -> Result<Option<Level>> {
    match max_level.0 {
        0 => Ok(None),
        1 => Ok(Some(Level::Error)),
        2 => Ok(Some(Level::Warn)),
        3 => Ok(Some(Level::Info)),
        4 => Ok(Some(Level::Debug)),
        other => Err(Error::invalid_argument(format!(
            "max_level {other} is not a bb_log_level"
        ))),
    }
}

/// The caller's callback as the core's log sink.
fn sink(
    callback: unsafe extern "C" fn(*mut c_void, bb_log_level, *const c_char),
    user_data: *mut c_void,
) -> LogFn {
    let user_data = CallerData(user_data);
    Arc::new(move |level: Level, line: &str| {
        let level = match level {
            Level::Error => bb_log_level::BB_LOG_ERROR,
            Level::Warn => bb_log_level::BB_LOG_WARN,
            Level::Info => bb_log_level::BB_LOG_INFO,
            Level::Debug => bb_log_level::BB_LOG_DEBUG,
        };
        let line = CString::new(line.replace('\0', " ")).unwrap_or_default();
        let data = &user_data;
        // SAFETY: the caller's callback with its own user data.
        unsafe { callback(data.0, level, line.as_ptr()) };
    })
}

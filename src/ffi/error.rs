//! Result codes and the error object.

use std::ffi::{c_char, c_int, CString};

use super::ffi_guard;
use crate::error::{Error, ErrorKind, Result};

/// What a call returned. The numeric values are part of the ABI and never
/// change once released; new codes get new numbers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum bb_code {
    /// Success.
    BB_OK = 0,
    /// An argument (or the environment variable standing in for it) is
    /// unusable: NULL, empty, not UTF-8, a control character, a missing key,
    /// a bad URL. Nothing was sent and no file was touched.
    BB_ERR_INVALID_ARGUMENT = 1,
    /// HTTP 401: the API key was refused.
    BB_ERR_AUTHENTICATION = 2,
    /// HTTP 403.
    BB_ERR_PERMISSION_DENIED = 3,
    /// HTTP 404: no such session.
    BB_ERR_NOT_FOUND = 4,
    /// HTTP 429.
    BB_ERR_RATE_LIMITED = 5,
    /// HTTP 5xx.
    BB_ERR_SERVER = 6,
    /// Any other non-2xx HTTP status, or a redirect that was refused.
    BB_ERR_HTTP = 7,
    /// No usable connection: refused, reset, DNS, TLS, or a body cut short.
    BB_ERR_CONNECTION = 8,
    /// The server stayed silent too long, or the call's deadline passed.
    BB_ERR_TIMEOUT = 9,
    /// The local file system: missing directory, permission, disk full...
    BB_ERR_IO = 10,
    /// The response is not a usable ZIP archive.
    BB_ERR_INVALID_ARCHIVE = 11,
    /// A callback asked to stop.
    BB_ERR_CANCELLED = 12,
    /// Waiting for a session's files ran out of time.
    BB_ERR_NOT_READY = 13,
    /// A bug in the library (a caught panic) or out of memory.
    BB_ERR_INTERNAL = 14,
}

impl From<ErrorKind> for bb_code {
    fn from(kind: ErrorKind) -> bb_code {
        match kind {
            ErrorKind::InvalidArgument => bb_code::BB_ERR_INVALID_ARGUMENT,
            ErrorKind::Authentication => bb_code::BB_ERR_AUTHENTICATION,
            ErrorKind::PermissionDenied => bb_code::BB_ERR_PERMISSION_DENIED,
            ErrorKind::NotFound => bb_code::BB_ERR_NOT_FOUND,
            ErrorKind::RateLimited => bb_code::BB_ERR_RATE_LIMITED,
            ErrorKind::Server => bb_code::BB_ERR_SERVER,
            ErrorKind::Http => bb_code::BB_ERR_HTTP,
            ErrorKind::Connection => bb_code::BB_ERR_CONNECTION,
            ErrorKind::Timeout => bb_code::BB_ERR_TIMEOUT,
            ErrorKind::Io => bb_code::BB_ERR_IO,
            ErrorKind::InvalidArchive => bb_code::BB_ERR_INVALID_ARCHIVE,
            ErrorKind::Cancelled => bb_code::BB_ERR_CANCELLED,
            ErrorKind::NotReady => bb_code::BB_ERR_NOT_READY,
            ErrorKind::Internal => bb_code::BB_ERR_INTERNAL,
        }
    }
}

/// Every code with its name, for `bb_code_name`; NUL-terminated statics.
const CODE_NAMES: [(bb_code, &str); 15] = [
    (bb_code::BB_OK, "BB_OK\0"),
    (
        bb_code::BB_ERR_INVALID_ARGUMENT,
        "BB_ERR_INVALID_ARGUMENT\0",
    ),
    (bb_code::BB_ERR_AUTHENTICATION, "BB_ERR_AUTHENTICATION\0"),
    (
        bb_code::BB_ERR_PERMISSION_DENIED,
        "BB_ERR_PERMISSION_DENIED\0",
    ),
    (bb_code::BB_ERR_NOT_FOUND, "BB_ERR_NOT_FOUND\0"),
    (bb_code::BB_ERR_RATE_LIMITED, "BB_ERR_RATE_LIMITED\0"),
    (bb_code::BB_ERR_SERVER, "BB_ERR_SERVER\0"),
    (bb_code::BB_ERR_HTTP, "BB_ERR_HTTP\0"),
    (bb_code::BB_ERR_CONNECTION, "BB_ERR_CONNECTION\0"),
    (bb_code::BB_ERR_TIMEOUT, "BB_ERR_TIMEOUT\0"),
    (bb_code::BB_ERR_IO, "BB_ERR_IO\0"),
    (bb_code::BB_ERR_INVALID_ARCHIVE, "BB_ERR_INVALID_ARCHIVE\0"),
    (bb_code::BB_ERR_CANCELLED, "BB_ERR_CANCELLED\0"),
    (bb_code::BB_ERR_NOT_READY, "BB_ERR_NOT_READY\0"),
    (bb_code::BB_ERR_INTERNAL, "BB_ERR_INTERNAL\0"),
];

/// A code as it arrives from C: any int, since C may pass a value that is not
/// one of ours, and a Rust enum must never hold such a value. The header
/// names it `bb_code` (see cbindgen.toml).
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct bb_code_arg(pub c_int);

/// Details of a failed call. Opaque: read it with the `bb_error_*`
/// functions, free it with `bb_error_free`.
pub struct bb_error {
    code: bb_code,
    http_status: c_int,
    message: CString,
}

impl bb_error {
    pub(crate) fn from_error(e: &Error) -> bb_error {
        // A message with an interior NUL (from a server) is cut there, not lost.
        let bytes = e.message().as_bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        bb_error {
            code: e.kind().into(),
            http_status: e.http_status().map_or(0, c_int::from),
            message: CString::new(&bytes[..end]).unwrap_or_default(),
        }
    }
}

/// Turns a body's result into the code, storing the error for the caller.
pub(crate) fn report(result: Result<()>, err_out: *mut *mut bb_error) -> bb_code {
    match result {
        Ok(()) => bb_code::BB_OK,
        Err(e) => {
            let code = e.kind().into();
            if !err_out.is_null() {
                // SAFETY: the caller passed a writable `bb_error **` (documented).
                unsafe { *err_out = Box::into_raw(Box::new(bb_error::from_error(&e))) };
            }
            code
        }
    }
}

/// The code of an error. Returns `BB_OK` when `err` is NULL.
///
/// Ownership: `err` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_error_code(err: *const bb_error) -> bb_code {
    ffi_guard!(value: bb_code::BB_ERR_INTERNAL, {
        // SAFETY: NULL or a live bb_error from this library (documented).
        unsafe { err.as_ref() }.map_or(bb_code::BB_OK, |e| e.code)
    })
}

/// The HTTP status of the response that caused the error, or 0 when no HTTP
/// response came (a connection failure, a bad argument, a local I/O error)
/// or `err` is NULL.
///
/// Ownership: `err` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_error_http_status(err: *const bb_error) -> c_int {
    ffi_guard!(value: 0, {
        // SAFETY: as bb_error_code.
        unsafe { err.as_ref() }.map_or(0, |e| e.http_status)
    })
}

/// A message for people, in English, UTF-8: the HTTP status and the server's
/// message, or the OS or network reason. Never contains the API key, and is
/// one line: control characters, whoever sent them, are written as escapes
/// (`\n`, `\u{1b}`).
///
/// Ownership: the string belongs to `err` and is valid until
/// `bb_error_free(err)`; do not free it. Returns "" when `err` is NULL.
#[no_mangle]
pub extern "C" fn bb_error_message(err: *const bb_error) -> *const c_char {
    ffi_guard!(value: c"".as_ptr(), {
        // SAFETY: as bb_error_code.
        match unsafe { err.as_ref() } {
            Some(e) => e.message.as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// Frees an error. NULL is fine. `err` must not be used afterwards.
///
/// Ownership: takes ownership of `err`, which must come from this library.
#[no_mangle]
pub extern "C" fn bb_error_free(err: *mut bb_error) {
    ffi_guard!(value: (), {
        if !err.is_null() {
            // SAFETY: err came from Box::into_raw in `report` (documented).
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

/// The name of a code, such as "BB_ERR_NOT_FOUND"; "BB_UNKNOWN_CODE" for a
/// value that is not a code.
///
/// Ownership: a static string; do not free it.
#[no_mangle]
pub extern "C" fn bb_code_name(code: bb_code_arg) -> *const c_char {
    ffi_guard!(value: c"BB_UNKNOWN_CODE".as_ptr(), {
        CODE_NAMES
            .iter()
            .find(|(c, _)| *c as c_int == code.0)
            .map_or(c"BB_UNKNOWN_CODE".as_ptr(), |(_, name)| name.as_ptr().cast())
    })
}

/// This library's version, such as "0.1.0": the library loaded at run
/// time, which may be newer than the header a program was compiled with
/// (`BB_VERSION_STRING`).
///
/// Ownership: a static string; do not free it.
#[no_mangle]
pub extern "C" fn bb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A decimal version component from Cargo, at compile time.
const fn component(s: &str) -> u32 {
    let bytes = s.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// `(major << 16) | (minor << 8) | patch`, as `BB_VERSION_NUMBER`.
pub const VERSION_NUMBER: u32 = (component(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
    | (component(env!("CARGO_PKG_VERSION_MINOR")) << 8)
    | component(env!("CARGO_PKG_VERSION_PATCH"));

/// This library's version as one number, `(major << 16) | (minor << 8) |
/// patch` (0.1.0 is 0x000100), the form of the header's
/// `BB_VERSION_NUMBER`. A program can check at run time that the library it
/// loaded is at least the one it was compiled against:
/// `bb_version_number() >= BB_VERSION_NUMBER`.
#[no_mangle]
pub extern "C" fn bb_version_number() -> u32 {
    VERSION_NUMBER
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_code_has_its_name() {
        for (i, (code, name)) in CODE_NAMES.iter().enumerate() {
            assert_eq!(*code as c_int, i as c_int);
            // SAFETY: bb_code_name returns a static NUL-terminated string.
            let got = unsafe { CStr::from_ptr(bb_code_name(bb_code_arg(i as c_int))) };
            assert_eq!(got.to_bytes_with_nul(), name.as_bytes());
        }
        // SAFETY: as above, for any value.
        let unknown = unsafe { CStr::from_ptr(bb_code_name(bb_code_arg(999))) };
        assert_eq!(unknown.to_str().unwrap(), "BB_UNKNOWN_CODE");
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(bb_code_name(bb_code_arg(-1))) };
        assert_eq!(unknown.to_str().unwrap(), "BB_UNKNOWN_CODE");
    }

    #[test]
    fn the_version_number_is_the_version_string() {
        // SAFETY: bb_version returns a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(bb_version()) }.to_str().unwrap();
        let parts: Vec<u32> = text.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(
            bb_version_number(),
            (parts[0] << 16) | (parts[1] << 8) | parts[2]
        );
    }

    #[test]
    fn null_error_is_harmless() {
        assert_eq!(bb_error_code(std::ptr::null()), bb_code::BB_OK);
        assert_eq!(bb_error_http_status(std::ptr::null()), 0);
        assert_eq!(
            // SAFETY: the message of a NULL error is a static "".
            unsafe { CStr::from_ptr(bb_error_message(std::ptr::null())) }.to_bytes(),
            b""
        );
        bb_error_free(std::ptr::null_mut());
    }
}

//! The C ABI: a thin skin over the Rust core. Each exported function checks
//! its arguments, converts them, calls the core, and converts back; its body
//! runs inside [`ffi_guard!`], so no panic ever crosses into C.
//!
//! Ownership rules, once for every function (the header repeats them):
//! - Outputs (`*out`, `*out_data`, `*out_len`) are written only on success.
//! - `*err` is written only on failure; the caller then owns the `bb_error`
//!   and frees it with `bb_error_free`. `err` itself may be NULL. `*err`
//!   must be NULL on entry; when it is not, it is left alone (GLib's rule).
//! - Every `_new` has a `_free`; every `_free` accepts NULL.
//! - Strings passed in are only borrowed for the duration of the call.

#![allow(non_camel_case_types)]
// C has no `unsafe`: every exported function takes raw pointers whose
// contract (NULL or valid) is in its doc comment and is checked where it can be.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

// The order of these modules is the order of the functions in the header
// (cbindgen follows it), which is written to read like a manual: downloading
// first (and the buffers it hands out), then clients, cancellation and
// per-call options, many sessions in one call, waiting, archives, errors
// and logging.
mod default_client;

pub mod download;

pub mod buffer;

pub mod client;

pub mod cancel;

pub mod batch;

pub mod wait;

pub mod archive;

pub mod error;

pub mod log;

pub use archive::*;
pub use batch::*;
pub use buffer::*;
pub use cancel::*;
pub use client::*;
pub use download::*;
pub use error::*;
pub use log::*;
pub use wait::*;

// Each exported function's symbol version, from abi/browserbase.map (see
// build.rs).
include!(concat!(env!("OUT_DIR"), "/symver.rs"));

/// Runs an exported function's body, catching any panic.
///
/// `ffi_guard!(err, { ... })` is for functions that return `bb_code`: the
/// body returns `Result<()>`; an `Err` (or a panic, as `BB_ERR_INTERNAL`) is
/// written to `*err` when `err` is not NULL. `ffi_guard!(value: default, {..})`
/// is for the others: the body returns the value, a panic returns `default`.
macro_rules! ffi_guard {
    ($err:expr, $body:block) => {{
        let err_out: *mut *mut $crate::ffi::error::bb_error = $err;
        let result = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> $crate::error::Result<()> { $body },
        ))
        .unwrap_or_else(|panic| Err($crate::ffi::panic_error(panic)));
        $crate::ffi::error::report(result, err_out)
    }};
    (value: $default:expr, $body:block) => {{
        ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)).unwrap_or($default)
    }};
}
pub(crate) use ffi_guard;

pub(crate) fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::internal(format!(
        "internal error in libbrowserbase (please report): {what}"
    ))
}

/// A required string argument: not NULL, valid UTF-8, not empty.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    // SAFETY: the caller's promise about `ptr` is the one opt_str_arg needs.
    match unsafe { opt_str_arg(ptr, name) }? {
        None => Err(Error::invalid_argument(format!("{name} is NULL"))),
        Some("") => Err(Error::invalid_argument(format!("{name} is empty"))),
        Some(s) => Ok(s),
    }
}

/// An optional string argument: NULL is `None`; otherwise valid UTF-8.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL (checked above), and the caller promises a
    // NUL-terminated string that lives for 'a.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map(Some).map_err(|e| {
        Error::invalid_argument(format!(
            "{name} is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })
}

/// A file-system path: not NULL, not empty. Any bytes are allowed, as in
/// every POSIX API: a file name need not be UTF-8.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn path_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a Path> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    // SAFETY: not NULL (checked above), and the caller promises a
    // NUL-terminated string that lives for 'a.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if bytes.is_empty() {
        return Err(Error::invalid_argument(format!("{name} is empty")));
    }
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// A required pointer to an object of ours.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that outlives `'a`.
pub(crate) unsafe fn ref_arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: the caller promises NULL (None) or a live, aligned `T` that
    // outlives 'a.
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid_argument(format!("{name} is NULL")))
}

/// A caller's `user_data` for a callback the library keeps (progress, log):
/// it is handed to the callback from whichever thread downloads. That this
/// is safe is the caller's promise, stated in each setter's documentation.
pub(crate) struct CallerData(pub(crate) *mut std::ffi::c_void);
// SAFETY: the pointer is only handed back to the caller's own callback; each
// setter that stores one documents that the callback may run on any thread
// (downloads run on the threads that call them), and the caller promises
// that `user_data` can be used that way.
unsafe impl Send for CallerData {}
// SAFETY: as for Send: the library never dereferences it, and the caller
// promises its callback may be called from several threads at once.
unsafe impl Sync for CallerData {}

/// Writes an extensible output struct (one that starts with a `size_t
/// struct_size`) the way every such struct is written: the fields of
/// `value` after `struct_size` that end within the caller's `room` bytes,
/// and nothing else: neither `struct_size` nor any byte past the last
/// whole field that fits. `field_ends` lists where each field after
/// `struct_size` ends, in order.
///
/// # Safety
/// `out` is writable for `room` bytes.
pub(crate) unsafe fn write_fields<T: Copy>(
    out: *mut T,
    value: &T,
    room: usize,
    field_ends: &[usize],
) {
    let start = std::mem::size_of::<usize>();
    let end = field_ends
        .iter()
        .copied()
        .take_while(|&end| end <= room.min(std::mem::size_of::<T>()))
        .last()
        .unwrap_or(start);
    if end > start {
        // SAFETY: `start..end` lies within `T` (every end is at most
        // size_of::<T>()), so both offsets stay inside `value`; `out` is
        // writable for `room >= end` bytes (the caller's promise); `value`
        // is a reference and `out` the caller's memory, so they do not
        // overlap; bytes are copied, so alignment does not matter.
        unsafe {
            let from = (value as *const T).cast::<u8>().add(start);
            std::ptr::copy_nonoverlapping(from, out.cast::<u8>().add(start), end - start);
        }
    }
}

/// Reads an extensible input struct (one that starts with a `size_t
/// struct_size`) the way every such struct is read, the mirror of
/// [`write_fields`]: the fields after `struct_size` that end within the
/// caller's `struct_size` come from the caller, the others (added by a
/// later version than the caller's header) keep their values in
/// `defaults`. A `struct_size` smaller than `first_version` (where the
/// struct's first version ends) is an error naming `what`.
///
/// # Safety
/// `src` points to a readable `size_t`, and to `struct_size` readable bytes
/// as far as they go within `T`.
pub(crate) unsafe fn read_fields<T: Copy>(
    src: *const T,
    defaults: T,
    field_ends: &[usize],
    first_version: usize,
    what: &str,
) -> Result<T> {
    // SAFETY: the caller promises the leading size_t is readable.
    let room = unsafe { src.cast::<usize>().read_unaligned() };
    if room < first_version {
        return Err(Error::invalid_argument(format!(
            "{what}->struct_size is {room}, smaller than any version of {what}'s struct \
             ({first_version} bytes): set it with its _INIT macro"
        )));
    }
    let start = std::mem::size_of::<usize>();
    let end = field_ends
        .iter()
        .copied()
        .take_while(|&end| end <= room.min(std::mem::size_of::<T>()))
        .last()
        .unwrap_or(start);
    let mut value = defaults;
    if end > start {
        // SAFETY: bytes [start, end) lie within both the caller's
        // `struct_size` bytes and `value`; they are whole fields.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.cast::<u8>().add(start),
                (&mut value as *mut T).cast::<u8>().add(start),
                end - start,
            )
        };
    }
    Ok(value)
}

/// A required output pointer, checked before any work is done.
pub(crate) fn out_arg<T>(ptr: *mut T, name: &str) -> Result<*mut T> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    Ok(ptr)
}

#[cfg(test)]
mod tests {
    use super::error::{bb_code, bb_error, bb_error_free, bb_error_http_status, bb_error_message};
    use super::write_fields;
    use std::ffi::CStr;

    fn panicking(err: *mut *mut bb_error) -> bb_code {
        ffi_guard!(err, {
            if err.is_null() || !err.is_null() {
                panic!("boom {}", 42);
            }
            Ok(())
        })
    }

    #[test]
    fn a_panic_becomes_bb_err_internal_with_its_message() {
        let mut err: *mut bb_error = std::ptr::null_mut();
        assert_eq!(panicking(&mut err), bb_code::BB_ERR_INTERNAL);
        assert!(!err.is_null());
        // SAFETY: a live error's message is a NUL-terminated string it owns.
        let message = unsafe { CStr::from_ptr(bb_error_message(err)) }
            .to_str()
            .unwrap();
        assert!(message.contains("boom 42"), "{message}");
        assert_eq!(bb_error_http_status(err), 0);
        bb_error_free(err);
        // And with err NULL: just the code.
        assert_eq!(panicking(std::ptr::null_mut()), bb_code::BB_ERR_INTERNAL);
    }

    /// A later version of an extensible struct, with two fields added, as
    /// the library would know it; callers compiled against the earlier
    /// declarations pass smaller sizes.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Later {
        struct_size: usize,
        a: u64,
        b: u32,
        c: u32,
        d: u64,
    }

    #[test]
    fn write_fields_writes_only_whole_fields_within_the_callers_size() {
        let ends = [16, 20, 24, 32];
        let value = Later {
            struct_size: 999,
            a: 1,
            b: 2,
            c: 3,
            d: 4,
        };
        for (room, (a, b, c, d)) in [
            (8usize, (0xEE, 0xEE, 0xEE, 0xEE)),
            (16, (1, 0xEE, 0xEE, 0xEE)),
            (22, (1, 2, 0xEE, 0xEE)),
            (24, (1, 2, 3, 0xEE)),
            (31, (1, 2, 3, 0xEE)),
            (32, (1, 2, 3, 4)),
            (4096, (1, 2, 3, 4)),
        ] {
            // The caller's struct, then a canary: nothing but whole fields
            // inside `room` may change, and never struct_size.
            let mut memory = [0xEEu8; 48];
            memory[..8].copy_from_slice(&room.to_ne_bytes());
            let out = memory.as_mut_ptr().cast::<Later>();
            // SAFETY: `out` points at 48 writable bytes, more than any
            // `room` up to size_of::<Later>() that write_fields uses.
            unsafe { write_fields(out, &value, room, &ends) };
            // SAFETY: 48 bytes hold a whole Later (40); read unaligned.
            let got = unsafe { out.read_unaligned() };
            let fill32 = |v: u32| if v == 0xEE { 0xEEEE_EEEE } else { v };
            let fill64 = |v: u64| if v == 0xEE { 0xEEEE_EEEE_EEEE_EEEE } else { v };
            assert_eq!(got.struct_size, room, "room {room}");
            assert_eq!(got.a, fill64(a), "room {room}");
            assert_eq!(got.b, fill32(b), "room {room}");
            assert_eq!(got.c, fill32(c), "room {room}");
            assert_eq!(got.d, fill64(d), "room {room}");
            assert!(memory[32..].iter().all(|&b| b == 0xEE), "room {room}");
        }
    }

    #[test]
    fn a_panic_in_a_value_function_returns_the_default() {
        let got: i32 = ffi_guard!(value: -1, {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            7
        });
        assert_eq!(got, -1);
    }
}

//! Cancel handles and per-call options from C.

use std::ffi::{c_int, c_void};

use super::batch::bb_batch_progress_callback;
use super::client::bb_progress_callback;
use super::error::{bb_code, bb_error};
use super::{ffi_guard, out_arg, read_fields, CallerData};
use crate::cancel::{CallOptions, Cancel};
use crate::config::Progress;
use crate::error::Result;

/// A cancel handle: triggered once, it makes every call it was passed to
/// (through `bb_call_options.cancel`) return `BB_ERR_CANCELLED` within
/// about 100 ms, wherever that call is (connecting, waiting for the server,
/// reading the body, sleeping between retries or wait polls, extracting),
/// leaving nothing behind. Create with `bb_cancel_new`, free with
/// `bb_cancel_free`. One handle may serve several calls, on several threads,
/// at once; once triggered it stays triggered (use a new handle for the
/// next operation).
pub struct bb_cancel {
    inner: Cancel,
}

/// Creates an untriggered cancel handle. It holds one file descriptor (an
/// eventfd, close-on-exec) until `bb_cancel_free`.
///
/// Ownership: on success `*out` receives a handle the caller owns and frees
/// with `bb_cancel_free`. Fails (`BB_ERR_IO`) only when the process is out
/// of file descriptors.
#[no_mangle]
pub extern "C" fn bb_cancel_new(out: *mut *mut bb_cancel, err: *mut *mut bb_error) -> bb_code {
    ffi_guard!(err, {
        let out = out_arg(out, "out")?;
        let cancel = Box::new(bb_cancel {
            inner: Cancel::new()?,
        });
        // SAFETY: `out` was checked non-NULL and is writable (documented).
        unsafe { out.write(Box::into_raw(cancel)) };
        Ok(())
    })
}

/// Triggers `cancel`: every call using it returns `BB_ERR_CANCELLED`, now
/// and later. Safe from any thread, and async-signal-safe (it may be called
/// from a signal handler): it is an atomic store and one write(2) to the
/// handle's eventfd, with no allocation and no lock. Calling it again does
/// nothing. NULL is a no-op.
///
/// Ownership: `cancel` is borrowed; it must not be freed meanwhile.
#[no_mangle]
pub extern "C" fn bb_cancel_trigger(cancel: *mut bb_cancel) {
    // No ffi_guard!: nothing here can panic, and catching a panic is not
    // something a signal handler may do.
    // SAFETY: NULL or a live handle (documented).
    if let Some(cancel) = unsafe { cancel.as_ref() } {
        cancel.inner.trigger();
    }
}

/// Returns 1 when `cancel` was triggered, 0 when not (and for NULL).
/// Async-signal-safe.
///
/// Ownership: `cancel` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_cancel_is_triggered(cancel: *const bb_cancel) -> c_int {
    // SAFETY: NULL or a live handle (documented).
    match unsafe { cancel.as_ref() } {
        Some(c) => c_int::from(c.inner.is_triggered()),
        None => 0,
    }
}

/// Frees a cancel handle and closes its descriptor. NULL is fine. It must
/// not be in use by a running call, nor be triggered meanwhile (for example
/// by a signal handler that may still run).
///
/// Ownership: takes ownership of `cancel`.
#[no_mangle]
pub extern "C" fn bb_cancel_free(cancel: *mut bb_cancel) {
    ffi_guard!(value: (), {
        if !cancel.is_null() {
            // SAFETY: from Box::into_raw in bb_cancel_new (documented).
            drop(unsafe { Box::from_raw(cancel) });
        }
    })
}

/// Per-call options of the `_opts` functions. An extensible struct (see the
/// header's preamble): initialize it with `BB_CALL_OPTIONS_INIT`, which sets
/// `struct_size` and leaves every option off, then set what you need:
/// `bb_call_options o = BB_CALL_OPTIONS_INIT; o.cancel = cancel;`.
/// A later version may add fields at the end; a program compiled against
/// this header keeps working (the library reads only the fields that fit
/// within `struct_size`, the others keep their defaults). Passing NULL
/// instead of a struct means all defaults.
///
/// Ownership: the struct and what it points to are borrowed for the call;
/// `cancel` must stay valid (not freed) until the call returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct bb_call_options {
    /// `sizeof(bb_call_options)` as the caller's header declares it (set by
    /// `BB_CALL_OPTIONS_INIT`); never written by the library.
    pub struct_size: usize,
    /// A cancel handle that stops the call (`BB_ERR_CANCELLED`); NULL: the
    /// call cannot be cancelled.
    pub cancel: *mut bb_cancel,
    /// This call's progress callback, called on the calling thread as
    /// `bb_progress_callback` describes; NULL: the client's progress
    /// callback, if any (`bb_client_builder_set_progress`). It replaces the
    /// client's for this call. Extraction reports no progress.
    pub progress: bb_progress_callback,
    /// Passed to `progress` untouched.
    pub progress_user_data: *mut c_void,
    /// Batch calls only (`bb_client_download_sessions_opts`; other calls
    /// ignore it): called on the calling thread with each session's
    /// progress and end (`bb_batch_progress_callback`), besides `progress`.
    /// NULL: none. Added in 0.3 (a caller's `struct_size` without it means
    /// NULL).
    pub batch_progress: bb_batch_progress_callback,
    /// Passed to `batch_progress` untouched.
    pub batch_progress_user_data: *mut c_void,
}

impl Default for bb_call_options {
    /// `BB_CALL_OPTIONS_INIT`: `struct_size` set, every option off.
    fn default() -> bb_call_options {
        bb_call_options {
            struct_size: std::mem::size_of::<bb_call_options>(),
            cancel: std::ptr::null_mut(),
            progress: None,
            progress_user_data: std::ptr::null_mut(),
            batch_progress: None,
            batch_progress_user_data: std::ptr::null_mut(),
        }
    }
}

/// Where each field of `bb_call_options` ends, in order. The first version
/// ends after `progress_user_data`; a smaller `struct_size` is refused.
const OPTIONS_FIELD_ENDS: [usize; 5] = [
    std::mem::offset_of!(bb_call_options, cancel) + std::mem::size_of::<*mut bb_cancel>(),
    std::mem::offset_of!(bb_call_options, progress) + std::mem::size_of::<bb_progress_callback>(),
    std::mem::offset_of!(bb_call_options, progress_user_data) + std::mem::size_of::<*mut c_void>(),
    std::mem::offset_of!(bb_call_options, batch_progress)
        + std::mem::size_of::<bb_batch_progress_callback>(),
    std::mem::offset_of!(bb_call_options, batch_progress_user_data)
        + std::mem::size_of::<*mut c_void>(),
];

/// A C call's `options` argument as the library's struct (`None` for NULL),
/// the fields past the caller's `struct_size` at their defaults.
///
/// # Safety
/// As [`call_options`].
pub(crate) unsafe fn read_call_options(
    options: *const bb_call_options,
) -> Result<Option<bb_call_options>> {
    if options.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and readable for its struct_size (documented).
    unsafe {
        read_fields(
            options,
            bb_call_options::default(),
            &OPTIONS_FIELD_ENDS,
            OPTIONS_FIELD_ENDS[2],
            "options",
        )
    }
    .map(Some)
}

/// The core's options for a C call's `options` argument (NULL: defaults).
///
/// # Safety
/// `options` is NULL or points to a `bb_call_options` of `struct_size`
/// bytes, whose `cancel` is NULL or a live handle (documented).
pub(crate) unsafe fn call_options(options: *const bb_call_options) -> Result<CallOptions> {
    // SAFETY: the caller's promise is the one read_call_options needs.
    let Some(o) = unsafe { read_call_options(options) }? else {
        return Ok(CallOptions::default());
    };
    let mut call = CallOptions::default();
    // SAFETY: NULL or a live handle for the call (documented).
    if let Some(cancel) = unsafe { o.cancel.as_ref() } {
        call.cancel = Some(cancel.inner.clone());
    }
    if let Some(callback) = o.progress {
        let data = CallerData(o.progress_user_data);
        call.progress = Some(Progress::new(move |received, total| {
            let total = total.and_then(|t| i64::try_from(t).ok()).unwrap_or(-1);
            let data = &data;
            // SAFETY: the caller's callback with its own user data, called
            // on the calling thread during the call.
            unsafe { callback(data.0, received, total) == 0 }
        }));
    }
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_by_struct_size() {
        let mut cancel: *mut bb_cancel = std::ptr::null_mut();
        assert_eq!(
            bb_cancel_new(&mut cancel, std::ptr::null_mut()),
            bb_code::BB_OK
        );
        let mut o = bb_call_options {
            cancel,
            ..Default::default()
        };
        // SAFETY: `o` is a whole bb_call_options whose
        // cancel is a live handle, or NULL is passed.
        let call = unsafe { call_options(&o) }.unwrap();
        assert!(call.cancel.is_some() && call.progress.is_none());
        // Smaller than the first version (which ends at progress_user_data).
        o.struct_size = OPTIONS_FIELD_ENDS[2] - 1;
        // SAFETY: as above.
        let e = unsafe { call_options(&o) }.unwrap_err();
        assert!(e.message().contains("struct_size"), "{}", e.message());
        // A 0.2 caller's struct ends before batch_progress: not read.
        unsafe extern "C" fn batch(
            _: *mut c_void,
            _: *const super::super::bb_batch_progress,
        ) -> c_int {
            0
        }
        o.batch_progress = Some(batch);
        o.struct_size = OPTIONS_FIELD_ENDS[2];
        // SAFETY: as above.
        let read = unsafe { read_call_options(&o) }.unwrap().unwrap();
        assert!(read.batch_progress.is_none() && read.cancel == cancel);
        o.struct_size = std::mem::size_of::<bb_call_options>();
        // SAFETY: as above.
        let read = unsafe { read_call_options(&o) }.unwrap().unwrap();
        assert!(read.batch_progress.is_some());
        o.batch_progress = None;
        o.struct_size = 4096; // a later header: the known fields are read
                              // SAFETY: as above; only the fields within size_of are read.
        assert!(unsafe { call_options(&o) }.unwrap().cancel.is_some());
        // SAFETY: NULL is allowed.
        assert!(unsafe { call_options(std::ptr::null()) }
            .unwrap()
            .cancel
            .is_none());
        assert_eq!(bb_cancel_is_triggered(cancel), 0);
        bb_cancel_trigger(cancel);
        bb_cancel_trigger(cancel);
        assert_eq!(bb_cancel_is_triggered(cancel), 1);
        bb_cancel_trigger(std::ptr::null_mut());
        assert_eq!(bb_cancel_is_triggered(std::ptr::null()), 0);
        bb_cancel_free(cancel);
        bb_cancel_free(std::ptr::null_mut());
    }
}

//! Reading archives from C: open, list, extract; and the one-call
//! download-and-extract functions.

use std::ffi::{c_char, CString};
use std::path::Path;
use std::sync::Mutex;

use super::cancel::{bb_call_options, call_options};
use super::client::bb_client;
use super::default_client::with_client;
use super::error::{bb_code, bb_error};
use super::wait::wait_options;
use super::{ffi_guard, opt_str_arg, out_arg, path_arg, ref_arg, str_arg, write_fields};
use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::extract::ExtractLimits;

/// An opened ZIP archive: its entry list and the limits its extraction
/// obeys. Create with `bb_archive_open_file` or `bb_archive_open_buffer`,
/// free with `bb_archive_free`. Safe to use from several threads at once
/// (extractions of one archive run one after the other).
pub struct bb_archive {
    inner: Archive,
    /// (name, original name) of each entry, as C strings.
    names: Vec<(CString, CString)>,
    limits: Mutex<ExtractLimits>,
}

/// One entry of an archive, filled by `bb_archive_entry_at`. An extensible
/// struct (see the header's preamble): set `struct_size` before the call,
/// best with `bb_archive_entry e = BB_ARCHIVE_ENTRY_INIT;`. Later versions
/// may add fields at the end; the library fills only those that fit inside
/// `struct_size`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct bb_archive_entry {
    /// `sizeof(bb_archive_entry)` as the caller's header declares it; set by
    /// the caller (`BB_ARCHIVE_ENTRY_INIT`), never written by the library.
    pub struct_size: usize,
    /// The name as stored, UTF-8, such as "report-1719265797164.pdf"; a
    /// directory entry's name ends with '/'. It may be hostile (such as
    /// "../x"): extract with `bb_archive_extract_to`, which checks every
    /// name, rather than by hand.
    pub name: *const c_char,
    /// The name without the service's "-<13-digit millisecond timestamp>"
    /// before the extension, such as "report.pdf"; the stored name when it
    /// carries no timestamp.
    pub original_name: *const c_char,
    /// Uncompressed size in bytes, as the archive declares it.
    pub size: u64,
    /// Modification time, seconds since 1970 (the entry's MS-DOS date and
    /// time read as UTC; 2-second precision); -1 when the archive has none.
    pub mtime_unix: i64,
    /// When the browser downloaded the file: the timestamp in the stored
    /// name, milliseconds since 1970 (UTC); -1 when the name carries none.
    pub download_time_ms: i64,
}

impl Default for bb_archive_entry {
    /// `BB_ARCHIVE_ENTRY_INIT`: `struct_size` set, everything else empty.
    fn default() -> bb_archive_entry {
        bb_archive_entry {
            struct_size: std::mem::size_of::<bb_archive_entry>(),
            name: std::ptr::null(),
            original_name: std::ptr::null(),
            size: 0,
            mtime_unix: 0,
            download_time_ms: 0,
        }
    }
}

/// Where each field of `bb_archive_entry` ends, in order: the library writes
/// a field only when it ends inside the caller's `struct_size`. The first
/// version ends after `download_time_ms`; a smaller `struct_size` is refused.
const ENTRY_FIELD_ENDS: [usize; 5] = [
    std::mem::offset_of!(bb_archive_entry, name) + std::mem::size_of::<*const c_char>(),
    std::mem::offset_of!(bb_archive_entry, original_name) + std::mem::size_of::<*const c_char>(),
    std::mem::offset_of!(bb_archive_entry, size) + std::mem::size_of::<u64>(),
    std::mem::offset_of!(bb_archive_entry, mtime_unix) + std::mem::size_of::<i64>(),
    std::mem::offset_of!(bb_archive_entry, download_time_ms) + std::mem::size_of::<i64>(),
];
const ENTRY_V1_SIZE: usize = ENTRY_FIELD_ENDS[4];

impl bb_archive {
    fn new(inner: Archive) -> Result<bb_archive> {
        let mut names = Vec::with_capacity(inner.len());
        for e in inner.entries() {
            // Names with a NUL byte are refused when the archive is opened.
            let c = |s: &str| {
                CString::new(s).map_err(|_| Error::internal("an entry name holds a NUL byte"))
            };
            names.push((c(e.name())?, c(e.original_name())?));
        }
        Ok(bb_archive {
            inner,
            names,
            limits: Mutex::new(ExtractLimits::default()),
        })
    }

    fn limits(&self) -> ExtractLimits {
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// # Safety
/// `out` is non-NULL and writable.
unsafe fn give_archive(archive: Archive, out: *mut *mut bb_archive) -> Result<()> {
    let handle = bb_archive::new(archive)?;
    // SAFETY: the caller promises `out` is non-NULL and writable.
    unsafe { *out = Box::into_raw(Box::new(handle)) };
    Ok(())
}

/// Opens the ZIP archive in the file at `path` (such as one written by
/// `bb_download_session` or `bb_wait_for_downloads`) and reads its entry
/// list. The file is read as needed, never loaded whole, and kept open until
/// `bb_archive_free`.
///
/// Fails with `BB_ERR_IO` when the file cannot be read or is not a regular
/// file (a FIFO, a device or a directory is refused at once, without
/// waiting for a writer) and
/// `BB_ERR_INVALID_ARCHIVE` when it is not a ZIP archive, holds two entries
/// with one name, or a name with a NUL byte. Hostile names, symbolic links
/// and zip bombs can be listed; `bb_archive_extract_to` refuses them.
///
/// Ownership: `path` is borrowed for the call. On success `*out` receives an
/// archive the caller owns and frees with `bb_archive_free`.
#[no_mangle]
pub extern "C" fn bb_archive_open_file(
    path: *const c_char,
    out: *mut *mut bb_archive,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        let out = out_arg(out, "out")?;
        // SAFETY: `path` is NULL or a NUL-terminated string that stays valid for the call
        // (its documented contract).
        let path: &Path = unsafe { path_arg(path, "path") }?;
        let archive = Archive::open_file(path)?;
        // SAFETY: out is non-NULL and writable (documented).
        unsafe { give_archive(archive, out) }
    })
}

/// Opens the ZIP archive in the `len` bytes at `data`, such as a buffer from
/// `bb_download_session_to_buffer` or `bb_wait_for_downloads_to_buffer`.
/// The bytes are copied: the buffer may be freed right after the call.
/// Errors as `bb_archive_open_file`.
///
/// Ownership: `data` is borrowed for the call (NULL only with `len` 0). On
/// success `*out` receives an archive the caller owns and frees with
/// `bb_archive_free`.
#[no_mangle]
pub extern "C" fn bb_archive_open_buffer(
    data: *const u8,
    len: usize,
    out: *mut *mut bb_archive,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        let out = out_arg(out, "out")?;
        let bytes = if len == 0 {
            Vec::new()
        } else if data.is_null() {
            return Err(Error::invalid_argument("data is NULL"));
        } else {
            // SAFETY: data points to len readable bytes (documented).
            unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
        };
        let archive = Archive::from_bytes(bytes)?;
        // SAFETY: out is non-NULL and writable (documented).
        unsafe { give_archive(archive, out) }
    })
}

/// The number of entries in `archive` (0 for the service's empty archive,
/// and when `archive` is NULL).
///
/// Ownership: `archive` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_archive_entry_count(archive: *const bb_archive) -> usize {
    ffi_guard!(value: 0, {
        // SAFETY: NULL or a live archive (documented).
        unsafe { archive.as_ref() }.map_or(0, |a| a.inner.len())
    })
}

/// Fills `*out` with entry `index` (from 0, in the archive's order) of
/// `archive`. An index at or past `bb_archive_entry_count` is
/// `BB_ERR_INVALID_ARGUMENT`.
///
/// `out->struct_size` must be set first (`BB_ARCHIVE_ENTRY_INIT` does it):
/// the library writes only the fields that end within `struct_size` bytes,
/// never past them, and leaves `struct_size` itself and any later field it
/// does not know as they were. A `struct_size` smaller than this first
/// version of the struct (48 bytes on 64-bit systems) is
/// `BB_ERR_INVALID_ARGUMENT`.
///
/// Ownership: `archive` is borrowed. The strings written to `out` belong to
/// `archive` and stay valid until `bb_archive_free(archive)`; do not free
/// them. `*out` is written only on success.
#[no_mangle]
pub extern "C" fn bb_archive_entry_at(
    archive: *const bb_archive,
    index: usize,
    out: *mut bb_archive_entry,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        let out = out_arg(out, "out")?;
        // SAFETY: out points to a struct that starts with its size (documented).
        let room = unsafe { out.cast::<usize>().read_unaligned() };
        if room < ENTRY_V1_SIZE {
            return Err(Error::invalid_argument(format!(
                "out->struct_size is {room}, less than the {ENTRY_V1_SIZE} bytes of a \
                 bb_archive_entry: initialize it with BB_ARCHIVE_ENTRY_INIT"
            )));
        }
        // SAFETY: `archive` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let archive = unsafe { ref_arg(archive, "archive") }?;
        let count = archive.inner.len();
        let entry = archive.inner.entries().get(index).ok_or_else(|| {
            Error::invalid_argument(format!(
                "index {index} is out of range: the archive has {count} entries"
            ))
        })?;
        let (name, original) = &archive.names[index];
        let filled = bb_archive_entry {
            struct_size: room,
            name: name.as_ptr(),
            original_name: original.as_ptr(),
            size: entry.size(),
            mtime_unix: entry.mtime_unix().unwrap_or(-1),
            download_time_ms: entry
                .download_time_ms()
                .and_then(|ms| i64::try_from(ms).ok())
                .unwrap_or(-1),
        };
        // SAFETY: out is non-NULL and has room for `room` bytes (documented).
        unsafe { write_fields(out, &filled, room, &ENTRY_FIELD_ENDS) };
        Ok(())
    })
}

/// Sets the zip-bomb limits that `bb_archive_extract_to` enforces on
/// `archive`, counting the bytes actually decompressed:
///
/// - `max_total_bytes`: the most bytes one extraction may write; 0 restores
///   the default, 4 GiB (UINT64_MAX: no practical limit).
/// - `max_ratio`: the most an entry may expand (decompressed bytes per
///   compressed byte), checked once the entry passes 1 MiB; 0 restores the
///   default, 200 (UINT32_MAX: no practical limit).
///
/// An archive also may not hold more than 100000 entries. Exceeding a limit
/// is `BB_ERR_INVALID_ARCHIVE`, with a message naming the limit.
///
/// Ownership: `archive` is borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_archive_set_limits(
    archive: *mut bb_archive,
    max_total_bytes: u64,
    max_ratio: u32,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live archive (documented).
        let archive = unsafe { ref_arg(archive.cast_const(), "archive") }?;
        let defaults = ExtractLimits::default();
        let mut limits = archive.limits.lock().unwrap_or_else(|p| p.into_inner());
        limits.max_total_bytes = match max_total_bytes {
            0 => defaults.max_total_bytes,
            n => n,
        };
        limits.max_ratio = match max_ratio {
            0 => defaults.max_ratio,
            n => n,
        };
        Ok(())
    })
}

/// Extracts every entry of `archive` into the directory `dir`, safely:
///
/// - Every entry lands inside `dir`. An archive with an unsafe name (a `..`
///   component, an absolute path, a drive letter such as `C:`, a backslash,
///   a control character: C0, DEL or C1), a symbolic link, an encrypted
///   entry or an unsupported compression method is refused whole:
///   `BB_ERR_INVALID_ARCHIVE`, nothing written. `.` and empty components
///   (`./a`, `a//b`) are dropped; subdirectories are created.
/// - Files get their original names (`report.pdf`). When several entries
///   have the same original name, each of them keeps its stored, timestamped
///   name instead (`report-1719265797164.pdf`), so none is lost.
/// - A file already at a destination is replaced; other files in `dir` are
///   left alone. A directory in the way, or a symbolic link where a
///   subdirectory is needed, is `BB_ERR_IO`, nothing written.
/// - Zip bombs: see `bb_archive_set_limits`. A CRC-32 mismatch or a size
///   that differs from the header is `BB_ERR_INVALID_ARCHIVE`.
/// - All or nothing: every path (shorter than PATH_MAX, names within
///   NAME_MAX) and every directory written in (writable by the caller, on
///   the file system of `dir`) is checked before anything is written
///   (`BB_ERR_IO`, nothing written). Everything is then decompressed into a
///   hidden temporary directory inside `dir`, then renamed into place, so a
///   bad entry, a limit or a full disk leaves `dir` as it was (and no
///   temporary directory). Should a rename still fail (`dir` changed
///   meanwhile), what was done is undone: replaced files are put back, new
///   files and directories removed; only if that fails too does the
///   message say what stayed. No file is ever half-written. `dir` is
///   created if missing (its parent must exist); a `dir` the call created is
///   removed again, if empty, when it fails. `dir` may be a symbolic link,
///   except, in a sticky, world-writable directory such as /tmp, one owned
///   by neither the caller nor the directory's owner (`BB_ERR_IO`).
/// - Each file's modification time is the entry's.
///
/// Ownership: `archive` and `dir` are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_archive_extract_to(
    archive: *const bb_archive,
    dir: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    bb_archive_extract_to_opts(archive, dir, std::ptr::null(), err)
}

/// As `bb_archive_extract_to`, with per-call `options` (see
/// `bb_call_options`; `options` NULL: the defaults). A triggered cancel
/// handle stops the extraction with `BB_ERR_CANCELLED` (checked between
/// entries and between chunks of 256 KiB, until files are put in place),
/// leaving `dir` as it was. No progress is reported.
///
/// Ownership: `archive`, `dir` and `options` are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_archive_extract_to_opts(
    archive: *const bb_archive,
    dir: *const c_char,
    options: *const bb_call_options,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `archive` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let archive = unsafe { ref_arg(archive, "archive") }?;
        // SAFETY: `dir` is NULL or a NUL-terminated string that stays valid for the call
        // (its documented contract).
        let dir: &Path = unsafe { path_arg(dir, "dir") }?;
        // SAFETY: NULL or a bb_call_options (documented).
        let call = unsafe { call_options(options) }?;
        archive
            .inner
            .extract_to_with_options(dir, &archive.limits(), &call)
            .map(drop)
    })
}

/// Frees an archive (and closes its file). NULL is fine. The strings of its
/// entries become invalid.
///
/// Ownership: takes ownership of `archive`.
#[no_mangle]
pub extern "C" fn bb_archive_free(archive: *mut bb_archive) {
    ffi_guard!(value: (), {
        if !archive.is_null() {
            // SAFETY: from Box::into_raw in give_archive (documented).
            drop(unsafe { Box::from_raw(archive) });
        }
    })
}

/// Opens the archive at `zip_path` and extracts it into `dir` with the
/// default limits: `bb_archive_open_file` then `bb_archive_extract_to`.
///
/// Ownership: both strings are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_archive_extract(
    zip_path: *const c_char,
    dir: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `zip_path` is NULL or a NUL-terminated string that stays valid for the
        // call (its documented contract).
        let zip_path: &Path = unsafe { path_arg(zip_path, "zip_path") }?;
        // SAFETY: `dir` is NULL or a NUL-terminated string that stays valid for the call
        // (its documented contract).
        let dir: &Path = unsafe { path_arg(dir, "dir") }?;
        let archive = Archive::open_file(zip_path)?;
        archive.extract_to(dir, &ExtractLimits::default()).map(drop)
    })
}

fn extract_downloads(
    client: Option<&bb_client>,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    dir: *const c_char,
    call: *const bb_call_options,
) -> Result<()> {
    let options = wait_options(timeout_ms, flags)?;
    // SAFETY: `api_key` is NULL or a NUL-terminated string that stays valid for the call
    // (its documented contract).
    let api_key = unsafe { opt_str_arg(api_key, "api_key") }?;
    // SAFETY: `session_id` is NULL or a NUL-terminated string that stays valid for the call
    // (its documented contract).
    let session_id = unsafe { str_arg(session_id, "session_id") }?;
    // SAFETY: `dir` is NULL or a NUL-terminated string that stays valid for the call (its
    // documented contract).
    let dir: &Path = unsafe { path_arg(dir, "dir") }?;
    // SAFETY: NULL or a bb_call_options (documented).
    let call = unsafe { call_options(call) }?;
    with_client(client, |c| {
        c.extract_downloads_with_options(
            api_key,
            session_id,
            dir,
            &options,
            &ExtractLimits::default(),
            &call,
        )
    })
    .map(drop)
}

/// Waits for session `session_id`'s files as `bb_wait_for_downloads` does
/// (same `timeout_ms`, same `BB_ERR_NOT_READY`), then extracts them into
/// `dir` as `bb_archive_extract_to` does, with the default limits; uses the
/// process-wide default client. The archive itself is kept in an unnamed
/// temporary file in `dir` (never in memory, never visible) and is gone when
/// the call returns.
///
/// Ownership: all strings are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_extract_downloads(
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    dir: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        extract_downloads(
            None,
            api_key,
            session_id,
            timeout_ms,
            0,
            dir,
            std::ptr::null(),
        )
    })
}

/// As `bb_extract_downloads`, through `client`, with `flags` (a bitwise OR
/// of `bb_wait_flags` values) as `bb_client_wait_for_downloads`.
///
/// Ownership: `client` and the strings are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_extract_downloads(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    dir: *const c_char,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: `client` is NULL or a live object this library handed out, which the
        // caller keeps alive for the call (its documented contract).
        let client = unsafe { ref_arg(client, "client") }?;
        extract_downloads(
            Some(client),
            api_key,
            session_id,
            timeout_ms,
            flags,
            dir,
            std::ptr::null(),
        )
    })
}

/// As `bb_client_extract_downloads`, with per-call `options` (see
/// `bb_call_options`). `client` NULL means the process-wide default client;
/// `options` NULL the defaults. A triggered cancel handle ends the wait or
/// the extraction with `BB_ERR_CANCELLED` within about 100 ms, leaving
/// `dir` as it was (a `dir` the call created is removed again).
///
/// Ownership: `client`, the strings and `options` (with its cancel handle)
/// are borrowed for the call.
#[no_mangle]
pub extern "C" fn bb_client_extract_downloads_opts(
    client: *const bb_client,
    api_key: *const c_char,
    session_id: *const c_char,
    timeout_ms: u32,
    flags: u32,
    dir: *const c_char,
    options: *const bb_call_options,
    err: *mut *mut bb_error,
) -> bb_code {
    ffi_guard!(err, {
        // SAFETY: NULL or a live client (documented).
        let client = unsafe { client.as_ref() };
        extract_downloads(client, api_key, session_id, timeout_ms, flags, dir, options)
    })
}

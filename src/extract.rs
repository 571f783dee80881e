//! Extracting an [`Archive`] into a directory, safely.
//!
//! The rules, all checked before anything is written:
//! - Every entry name must be a plain relative path: no `..` component, no
//!   leading `/`, no drive letter (`C:`), no backslash, no control character
//!   (C0, DEL or C1: U+0000-U+001F, U+007F-U+009F), no component longer
//!   than 255 bytes. `.` and empty components (`a//b`,
//!   `./a`) are dropped. One unsafe name refuses the whole archive.
//! - Symbolic-link entries, encrypted entries and compression methods other
//!   than stored and deflate refuse the whole archive.
//! - Files are written under their original names (the service's stamp
//!   removed). When several entries have the same original name (the same
//!   file downloaded twice), each of them keeps its stored, stamped name
//!   instead, so nothing is lost and the names tell them apart. Two entries
//!   that would still land on the same path refuse the archive.
//! - A file already at a destination is replaced (atomically, by rename);
//!   other files in the directory are left alone. A directory in the way, or
//!   a symbolic link where a parent directory should be, is an `Io` error.
//! - Zip bombs: the bytes actually decompressed (never the sizes the headers
//!   declare) are counted against [`ExtractLimits`]; the declared sizes are
//!   also checked first, so an honest bomb is refused before any work.
//!   Overlapping entries and local headers that disagree with the central
//!   directory are refused. A CRC-32 mismatch is an error.
//!
//! All or nothing: before anything is written, every path is checked (no
//! path as long as PATH_MAX, no name longer than the file system's
//! NAME_MAX, nothing in the way) and so is every directory something is
//! created or replaced in (writable by the caller, on the destination's
//! file system, no other user's file to replace in a sticky directory).
//! Entries are then decompressed into a temporary directory inside the
//! destination (same file system), and each file is renamed into place. A
//! failure before the renames (a bad entry, a cap, a full disk) leaves the
//! destination exactly as it was; the temporary directory is removed.
//! Should a step of the renames still fail (the directory changed
//! meanwhile, a disk error), what was done is undone: files replaced are
//! put back (each replacement is a `RENAME_EXCHANGE`, so the old file waits
//! in the temporary directory; where the file system cannot exchange, a
//! hard link keeps it), new files and directories are removed. Only if
//! undoing fails too does the error say what stayed (an old file that
//! could not be put back stays in the temporary directory, which is then
//! kept). No file is ever half-written at its final path.
//!
//! Not handled: another process changing the destination during the call
//! (such as swapping a subdirectory for a link between the check and the
//! rename), and names equal only on a case-insensitive or
//! Unicode-normalizing file system.

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use zip::CompressionMethod;

use crate::archive::{Archive, Entry, EntryKind};
use crate::cancel::CallOptions;
use crate::error::{without_temp_path, Error, ErrorKind, Result};

/// Default cap on the bytes one extraction writes: 4 GiB.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 4 << 30;
/// Default cap on an entry's decompressed size over its compressed size.
/// Deflate tops out near 1032:1; text and CSV files rarely pass 50:1.
pub const DEFAULT_MAX_RATIO: u32 = 200;
/// Default cap on the number of entries.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
/// The ratio cap applies to an entry only past this many output bytes, so a
/// small, very compressible file (a page of zeros) is never refused.
pub const RATIO_GRACE_BYTES: u64 = 1 << 20;

/// Longest path component most file systems accept.
const MAX_COMPONENT: usize = 255;
const COPY_BUFFER: usize = 256 * 1024;

/// Caps that refuse zip bombs. Exceeding one is `InvalidArchive`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtractLimits {
    /// Total bytes written by one extraction.
    pub max_total_bytes: u64,
    /// Decompressed bytes per compressed byte, per entry, checked once the
    /// entry passes [`RATIO_GRACE_BYTES`]. `u32::MAX` is no practical limit.
    pub max_ratio: u32,
    /// Entries in the archive (directories included).
    pub max_entries: usize,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_ratio: DEFAULT_MAX_RATIO,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// One file an extraction wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The entry's index in [`Archive::entries`].
    pub index: usize,
    /// Where it was written: the destination directory joined with the
    /// entry's original name (or its stored name, after a collision).
    pub path: PathBuf,
}

/// One entry, planned: its relative destination.
struct Item {
    index: usize,
    rel: Vec<String>,
    is_dir: bool,
}

impl Item {
    fn rel_path(&self) -> PathBuf {
        self.rel.iter().collect()
    }
}

impl Archive {
    /// Extracts every entry into `dir` under the rules of this module
    /// (see its documentation). `dir` is created if missing (its parent must
    /// exist); a `dir` this call created is removed again, if empty, when it
    /// fails.
    ///
    /// Returns the files written, in archive order. On error the destination
    /// holds no partial file.
    pub fn extract_to(&self, dir: &Path, limits: &ExtractLimits) -> Result<Vec<Extracted>> {
        self.extract_to_with_options(dir, limits, &CallOptions::default())
    }

    /// As [`Archive::extract_to`], stopped by `options`' cancel handle
    /// ([`ErrorKind::Cancelled`]) between entries and between chunks of
    /// 256 KiB, before any file is put in place: a cancelled extraction
    /// leaves the destination as it was. (The progress function is not
    /// called: it reports downloads.)
    pub fn extract_to_with_options(
        &self,
        dir: &Path,
        limits: &ExtractLimits,
        options: &CallOptions,
    ) -> Result<Vec<Extracted>> {
        if dir.as_os_str().is_empty() {
            return Err(Error::invalid_argument("dir is empty"));
        }
        options.check()?;
        let mut created = DirGuard::ensure(dir)?;
        let result = self.extract_into_existing(dir, limits, options);
        if result.is_ok() {
            created.keep();
        }
        result
    }

    /// As [`Archive::extract_to`], for a `dir` that exists (its creation and
    /// clean-up are the caller's).
    pub(crate) fn extract_into_existing(
        &self,
        dir: &Path,
        limits: &ExtractLimits,
        options: &CallOptions,
    ) -> Result<Vec<Extracted>> {
        options.check()?;
        let mut zip = self.zip.lock().unwrap_or_else(|p| p.into_inner());
        let items = self.plan(limits)?;
        if !self.entries().is_empty() {
            zip.validate_header_consistency()
                .map_err(|e| self.unsafe_archive(&zip_error_text(e)))?;
        }
        check_path_lengths(dir, &items)?;
        let targets = items
            .iter()
            .map(|item| check_destination(dir, item))
            .collect::<Result<Vec<_>>>()?;
        check_writable(dir, &targets)?;

        let temp = tempfile::Builder::new()
            .prefix(".bb-extract-")
            .tempdir_in(dir)
            .map_err(|e| {
                Error::io(
                    format_args!("cannot create a directory in {}", dir.display()),
                    &without_temp_path(e),
                )
            })?;

        // Decompress every file into the temporary directory, counting.
        let mut total: u64 = 0;
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut staged: HashMap<usize, PathBuf> = HashMap::new();
        for item in items.iter().filter(|i| !i.is_dir) {
            options.check()?;
            let entry = &self.entries()[item.index];
            let temp_path = temp.path().join(item.index.to_string());
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp_path)
                .map_err(|e| write_error(dir, &e))?;
            let mut file = zip
                .by_index(item.index)
                .map_err(|e| self.corrupt(entry, &zip_error_text(e)))?;
            let mut written: u64 = 0;
            loop {
                options.check()?;
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if e.raw_os_error().is_some() => {
                        return Err(Error::io(format_args!("cannot read {}", self.label), &e))
                    }
                    Err(e) => return Err(self.corrupt(entry, &read_error_text(&e))),
                };
                written += n as u64;
                total += n as u64;
                if total > limits.max_total_bytes {
                    return Err(self.bomb(format!(
                        "it expands to more than {} bytes (the limit) by entry {} ({:?})",
                        limits.max_total_bytes,
                        entry.index(),
                        entry.name()
                    )));
                }
                if written > RATIO_GRACE_BYTES && written > ratio_cap(entry, limits) {
                    return Err(self.bomb(format!(
                        "entry {} ({:?}) expands more than {}-fold ({} compressed bytes gave {} and counting)",
                        entry.index(),
                        entry.name(),
                        limits.max_ratio,
                        entry.compressed_size(),
                        written
                    )));
                }
                out.write_all(&buf[..n]).map_err(|e| write_error(dir, &e))?;
            }
            drop(file);
            if written != entry.size() {
                return Err(self.corrupt(
                    entry,
                    &format!(
                        "it holds {written} bytes but its header says {}",
                        entry.size()
                    ),
                ));
            }
            if let Some(t) = entry.mtime_unix().and_then(unix_time) {
                // The file's time is the entry's, as unzip does; best effort.
                let _ = out.set_modified(t);
            }
            drop(out);
            staged.insert(item.index, temp_path);
        }
        drop(zip);
        // The last moment to stop: from here on, files are put in place.
        options.check()?;

        // Everything is complete: move it into place, or undo what was done.
        let mut changes = Vec::new();
        match place(dir, &items, &staged, temp.path(), &mut changes) {
            Ok(done) => {
                temp.close().map_err(|e| {
                    Error::io(
                        format_args!("cannot clean up in {}", dir.display()),
                        &without_temp_path(e),
                    )
                })?;
                Ok(done)
            }
            Err(e) => {
                let (e, keep) = undo(changes, e);
                if keep {
                    // It holds an old file that could not be put back.
                    let _ = temp.keep();
                }
                Err(e)
            }
        }
    }

    /// Checks every entry and decides where each one goes. Writes nothing.
    fn plan(&self, limits: &ExtractLimits) -> Result<Vec<Item>> {
        let entries = self.entries();
        if entries.len() > limits.max_entries {
            return Err(self.bomb(format!(
                "it has {} entries, more than the limit of {}",
                entries.len(),
                limits.max_entries
            )));
        }
        let mut declared: u64 = 0;
        // (stored components, original components) per entry.
        let mut names: Vec<(Vec<String>, Option<Vec<String>>)> = Vec::new();
        for e in entries {
            let what = || format!("entry {} ({:?})", e.index(), e.name());
            match e.kind() {
                EntryKind::Symlink => {
                    return Err(self.unsafe_archive(&format!(
                        "{} is a symbolic link, and links are never extracted",
                        what()
                    )))
                }
                EntryKind::File | EntryKind::Directory => {}
            }
            if e.encrypted() {
                return Err(self
                    .unsafe_archive(&format!("{} is encrypted, which is not supported", what())));
            }
            if !matches!(
                e.compression(),
                CompressionMethod::Stored | CompressionMethod::Deflated
            ) {
                return Err(Error::invalid_archive(format!(
                    "{}: {} uses compression method {}, which is not supported (only stored and deflate); nothing was extracted",
                    self.label,
                    what(),
                    e.compression()
                )));
            }
            let stored = safe_components(e.name())
                .map_err(|why| self.unsafe_archive(&format!("{} {why}", what())))?;
            declared = declared.saturating_add(e.size());
            if declared > limits.max_total_bytes {
                return Err(self.bomb(format!(
                    "its entries declare more than {} bytes (the limit) by entry {} ({:?})",
                    limits.max_total_bytes,
                    e.index(),
                    e.name()
                )));
            }
            if e.size() > RATIO_GRACE_BYTES && e.size() > ratio_cap(e, limits) {
                return Err(self.bomb(format!(
                    "{} declares {} bytes from {} compressed, more than {}-fold",
                    what(),
                    e.size(),
                    e.compressed_size(),
                    limits.max_ratio
                )));
            }
            // The original name is used only if it is itself safe.
            let original = match e.kind() {
                EntryKind::File => safe_components(e.original_name()).ok(),
                _ => None,
            };
            names.push((stored, original));
        }

        // Several entries with one original name keep their stored names.
        let mut by_original: HashMap<&[String], usize> = HashMap::new();
        for (_, original) in &names {
            if let Some(o) = original {
                *by_original.entry(o.as_slice()).or_default() += 1;
            }
        }
        let mut items: Vec<Item> = Vec::with_capacity(entries.len());
        for (e, (stored, original)) in entries.iter().zip(&names) {
            let rel = match original {
                Some(o) if by_original[o.as_slice()] == 1 => o.clone(),
                _ => stored.clone(),
            };
            items.push(Item {
                index: e.index(),
                rel,
                is_dir: e.kind() == EntryKind::Directory,
            });
        }

        // No two files on one path; no file where a directory must be.
        let mut files: HashMap<&[String], usize> = HashMap::new();
        let mut dirs: HashSet<&[String]> = HashSet::new();
        for item in &items {
            if item.is_dir {
                dirs.insert(&item.rel);
            } else if let Some(other) = files.insert(&item.rel, item.index) {
                return Err(self.unsafe_archive(&format!(
                    "entries {other} and {} would both be written to {:?}",
                    item.index,
                    item.rel.join("/")
                )));
            }
            for n in 1..item.rel.len() {
                dirs.insert(&item.rel[..n]);
            }
        }
        for item in items.iter().filter(|i| !i.is_dir) {
            if dirs.contains(item.rel.as_slice()) {
                return Err(self.unsafe_archive(&format!(
                    "entry {} would write the file {:?}, which other entries need as a directory",
                    item.index,
                    item.rel.join("/")
                )));
            }
        }
        Ok(items)
    }

    fn unsafe_archive(&self, why: &str) -> Error {
        Error::invalid_archive(format!(
            "{} is unsafe to extract: {why}; nothing was extracted",
            self.label
        ))
    }

    fn bomb(&self, why: String) -> Error {
        Error::invalid_archive(format!(
            "{} looks like a zip bomb: {why}; nothing was extracted (the limits are \
             ExtractLimits in Rust, bb_archive_set_limits in C)",
            self.label
        ))
    }

    fn corrupt(&self, entry: &Entry, why: &str) -> Error {
        Error::invalid_archive(format!(
            "{} is corrupt: entry {} ({:?}): {why}; nothing was extracted",
            self.label,
            entry.index(),
            entry.name()
        ))
    }
}

/// Splits a stored name into the components of a safe relative path, or
/// says why it is unsafe (the text follows "entry N (name)").
pub(crate) fn safe_components(name: &str) -> std::result::Result<Vec<String>, String> {
    if name.is_empty() {
        return Err("has an empty name".into());
    }
    // C0, DEL and C1 (U+0080-U+009F: U+0085 is a line break, U+009B a CSI).
    if name.chars().any(char::is_control) {
        return Err("has a control character in its name".into());
    }
    if name.contains('\\') {
        return Err("has a backslash in its name (a Windows path separator)".into());
    }
    if name.starts_with('/') {
        return Err("is an absolute path".into());
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("starts with a drive letter".into());
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err("climbs out of the directory with \"..\"".into()),
            p if p.len() > MAX_COMPONENT => {
                return Err(format!(
                    "has a path component longer than {MAX_COMPONENT} bytes"
                ))
            }
            p => parts.push(p.to_owned()),
        }
    }
    if parts.is_empty() {
        return Err("names no file".into());
    }
    Ok(parts)
}

/// What extracting one item changes, found before anything is written.
struct Target {
    /// The existing directory in which an entry is created or replaced;
    /// `None` for a directory item that exists already (nothing to do).
    writes_in: Option<PathBuf>,
    /// The owner of the file (or link) at the item's path, which it replaces.
    replaces: Option<u32>,
}

/// Refuses, before anything is written, a path the kernel would refuse as
/// too long: each entry's path in `dir` must be shorter than PATH_MAX, and
/// each of its names no longer than the file system takes (NAME_MAX).
fn check_path_lengths(dir: &Path, items: &[Item]) -> Result<()> {
    let path_max = libc::PATH_MAX as usize; // with the terminating NUL
    let name_max = name_max(dir);
    for item in items {
        // dir + "/" + the components joined by "/".
        let len = dir.as_os_str().len() + item.rel.iter().map(|p| p.len() + 1).sum::<usize>();
        let too_long = |what: String| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot extract entry {} into {}: {what}: File name too long; nothing was extracted",
                    item.index,
                    dir.display()
                ),
            )
        };
        if len >= path_max {
            return Err(too_long(format!(
                "its path there would be {len} bytes, and the system takes fewer than {path_max}"
            )));
        }
        if let Some(part) = item.rel.iter().find(|p| p.len() > name_max) {
            return Err(too_long(format!(
                "it has a name of {} bytes, and the file system takes at most {name_max}",
                part.len()
            )));
        }
    }
    Ok(())
}

/// The longest name the file system of `dir` takes (255 where unknown).
fn name_max(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return MAX_COMPONENT;
    };
    // SAFETY: a NUL-terminated string that outlives the call.
    let n = unsafe { libc::pathconf(c.as_ptr(), libc::_PC_NAME_MAX) };
    usize::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(MAX_COMPONENT)
}

/// Refuses a destination that is unusable before anything is written, and
/// says what extracting `item` will change.
fn check_destination(dir: &Path, item: &Item) -> Result<Target> {
    let mut path = dir.to_path_buf();
    for (i, part) in item.rel.iter().enumerate() {
        let parent = path.clone();
        path.push(part);
        let last = i + 1 == item.rel.len();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Target {
                    writes_in: Some(parent),
                    replaces: None,
                })
            }
            Err(e) => {
                return Err(Error::io(
                    format_args!("cannot check {}", path.display()),
                    &e,
                ))
            }
        };
        let wants_dir = !last || item.is_dir;
        let ft = meta.file_type();
        if ft.is_symlink() {
            // A link at a file's own path is replaced by the rename, never
            // followed; a link where a directory is needed would be.
            if wants_dir {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "{} is a symbolic link; refusing to extract through it",
                        path.display()
                    ),
                ));
            }
        } else if ft.is_dir() {
            if !wants_dir {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot write {}: a directory is in the way", path.display()),
                ));
            }
        } else if wants_dir {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "cannot create directory {}: a file is in the way",
                    path.display()
                ),
            ));
        }
        if last && !item.is_dir {
            use std::os::unix::fs::MetadataExt;
            return Ok(Target {
                writes_in: Some(parent),
                replaces: Some(meta.uid()),
            });
        }
    }
    Ok(Target {
        writes_in: None,
        replaces: None,
    })
}

/// Refuses, before anything is written, a directory the extraction would
/// fail to write in: one the caller may not write (a read-only
/// subdirectory; root may write anywhere but on a read-only file system),
/// one on another file system than `dir` (a mount point: nothing can be
/// renamed into it), and one that is sticky where a file only its owner
/// may replace would be replaced.
fn check_writable(dir: &Path, targets: &[Target]) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let dev = fs::metadata(dir)
        .map_err(|e| Error::io(format_args!("cannot check {}", dir.display()), &e))?
        .dev();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let refused = |what: &Path, why: String| {
        Error::new(
            ErrorKind::Io,
            format!(
                "cannot write in {}: {why}; nothing was extracted",
                what.display()
            ),
        )
    };
    let mut checked: HashMap<&Path, fs::Metadata> = HashMap::new();
    for t in targets {
        let Some(w) = t.writes_in.as_deref() else {
            continue;
        };
        if !checked.contains_key(w) {
            let meta = fs::metadata(w).map_err(|e| refused(w, e.to_string()))?;
            let c = std::ffi::CString::new(w.as_os_str().as_bytes())
                .map_err(|_| refused(w, "a NUL byte in the path".to_owned()))?;
            // SAFETY: a NUL-terminated string that outlives the call.
            let rc = unsafe {
                libc::faccessat(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    libc::W_OK | libc::X_OK,
                    libc::AT_EACCESS,
                )
            };
            if rc != 0 {
                return Err(refused(w, std::io::Error::last_os_error().to_string()));
            }
            if meta.dev() != dev {
                return Err(refused(
                    w,
                    format!(
                        "it is on another file system than {} (a mount point), where files \
                         cannot be moved",
                        dir.display()
                    ),
                ));
            }
            checked.insert(w, meta);
        }
        let meta = &checked[w];
        if let Some(owner) = t.replaces {
            let sticky = meta.mode() & 0o1000 != 0;
            if sticky && euid != 0 && owner != euid && meta.uid() != euid {
                let e = std::io::Error::from_raw_os_error(libc::EPERM);
                return Err(refused(
                    w,
                    format!(
                        "{e} (a sticky directory, and the file to replace belongs to uid {owner})"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One visible change made while moving the files into place, and what
/// undoes it.
enum Change {
    /// A directory created.
    Dir(PathBuf),
    /// A file put where nothing was.
    New(PathBuf),
    /// A file put over another, which waits at `old` (in the temporary
    /// directory) to be put back.
    Replaced { dest: PathBuf, old: PathBuf },
    /// A file put over another that could not be kept (a file system with
    /// neither RENAME_EXCHANGE nor hard links).
    Overwritten(PathBuf),
}

/// Moves every staged file (and directory) into place, in archive order,
/// recording each change in `changes`.
fn place(
    dir: &Path,
    items: &[Item],
    staged: &HashMap<usize, PathBuf>,
    temp: &Path,
    changes: &mut Vec<Change>,
) -> Result<Vec<Extracted>> {
    let mut done = Vec::new();
    for item in items {
        if item.is_dir {
            create_dirs(dir, &item.rel, changes)?;
            continue;
        }
        create_dirs(dir, &item.rel[..item.rel.len() - 1], changes)?;
        let dest = dir.join(item.rel_path());
        let backup = temp.join(format!("old-{}", item.index));
        let change = put(&staged[&item.index], &dest, &backup)
            .map_err(|e| Error::io(format_args!("cannot write {}", dest.display()), &e))?;
        changes.push(change);
        done.push(Extracted {
            index: item.index,
            path: dest,
        });
    }
    Ok(done)
}

/// Renames `from` to `dest`, keeping what was at `dest` so it can be put
/// back: with RENAME_EXCHANGE the two swap atomically (the old file is
/// then at `from`); where the file system cannot do that, the old file is
/// hard-linked to `backup` first.
fn put(from: &Path, dest: &Path, backup: &Path) -> std::io::Result<Change> {
    match rename_exchange(from, dest) {
        Ok(()) => {
            return Ok(Change::Replaced {
                dest: dest.to_owned(),
                old: from.to_owned(),
            })
        }
        // Nothing at `dest` (or `from` is gone, which the rename reports).
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            fs::rename(from, dest)?;
            return Ok(Change::New(dest.to_owned()));
        }
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
            ) => {}
        Err(e) => return Err(e),
    }
    let kept = fs::hard_link(dest, backup).is_ok();
    let existed = kept || fs::symlink_metadata(dest).is_ok();
    fs::rename(from, dest)?;
    Ok(match (kept, existed) {
        (true, _) => Change::Replaced {
            dest: dest.to_owned(),
            old: backup.to_owned(),
        },
        (false, true) => Change::Overwritten(dest.to_owned()),
        (false, false) => Change::New(dest.to_owned()),
    })
}

/// `renameat2(from, to, RENAME_EXCHANGE)`: swaps two paths atomically.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn rename_exchange(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn rename_exchange(_from: &Path, _to: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Undoes `changes`, last first, after the failure `e`: puts replaced
/// files back, removes new files and created directories. Returns the
/// error to report and whether the temporary directory must be kept (it
/// holds an old file that could not be put back).
fn undo(changes: Vec<Change>, e: Error) -> (Error, bool) {
    let mut problems = Vec::new();
    let mut keep = false;
    for change in changes.into_iter().rev() {
        let undone = match &change {
            Change::Dir(d) => fs::remove_dir(d).map_err(|err| (d, err)),
            Change::New(f) => fs::remove_file(f).map_err(|err| (f, err)),
            Change::Replaced { dest, old } => fs::rename(old, dest).map_err(|err| {
                keep = true;
                problems.push(format!(
                    "the old {} is kept as {}",
                    dest.display(),
                    old.display()
                ));
                (dest, err)
            }),
            Change::Overwritten(f) => {
                problems.push(format!(
                    "{} was replaced for good (this file system can neither exchange nor \
                     link files)",
                    f.display()
                ));
                Ok(())
            }
        };
        if let Err((path, err)) = undone {
            problems.push(format!(
                "cannot undo the change to {}: {err}",
                path.display()
            ));
        }
    }
    let message = if problems.is_empty() {
        format!(
            "{}; what was extracted before was undone, so nothing was extracted",
            e.message()
        )
    } else {
        format!(
            "{}; undoing it failed: {}",
            e.message(),
            problems.join("; ")
        )
    };
    (e.with_message(message), keep)
}

/// Creates `dir/parts...` one level at a time, never through a link,
/// recording each directory it creates in `changes`.
fn create_dirs(dir: &Path, parts: &[String], changes: &mut Vec<Change>) -> Result<()> {
    let mut path = dir.to_path_buf();
    for part in parts {
        path.push(part);
        match fs::create_dir(&path) {
            Ok(()) => changes.push(Change::Dir(path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let is_real_dir = fs::symlink_metadata(&path)
                    .map(|m| m.file_type().is_dir())
                    .unwrap_or(false);
                if !is_real_dir {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!(
                            "cannot create directory {}: something else is in the way",
                            path.display()
                        ),
                    ));
                }
            }
            Err(e) => {
                return Err(Error::io(
                    format_args!("cannot create directory {}", path.display()),
                    &e,
                ))
            }
        }
    }
    Ok(())
}

/// Creates a destination directory if missing and, unless told to keep it,
/// removes it again (when still empty) on drop.
pub(crate) struct DirGuard {
    created: Option<PathBuf>,
}

impl DirGuard {
    pub(crate) fn ensure(dir: &Path) -> Result<DirGuard> {
        match fs::create_dir(dir) {
            Ok(()) => Ok(DirGuard {
                created: Some(dir.to_owned()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Every later call resolves `dir` as a directory inside a
                // path, where the kernel's fs.protected_symlinks never
                // applies: its rule is applied to links at `dir` here.
                let _target = crate::sink::follow_symlinks(dir)?;
                if dir.is_dir() {
                    Ok(DirGuard { created: None })
                } else {
                    Err(Error::new(
                        ErrorKind::Io,
                        format!("cannot extract into {}: Not a directory", dir.display()),
                    ))
                }
            }
            Err(e) => Err(Error::io(
                format_args!("cannot create directory {}", dir.display()),
                &e,
            )),
        }
    }

    pub(crate) fn keep(&mut self) {
        self.created = None;
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.created.take() {
            // Only if empty: never removes anything but what this call made.
            let _ = fs::remove_dir(dir);
        }
    }
}

fn write_error(dir: &Path, e: &std::io::Error) -> Error {
    Error::io(format_args!("cannot write in {}", dir.display()), e)
}

fn zip_error_text(e: zip::result::ZipError) -> String {
    match e {
        zip::result::ZipError::Io(io) => read_error_text(&io),
        other => other.to_string(),
    }
}

fn read_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("Invalid checksum") {
        "its CRC-32 checksum does not match its data".to_owned()
    } else {
        text
    }
}

/// The most bytes `entry` may expand to under the ratio cap.
fn ratio_cap(entry: &Entry, limits: &ExtractLimits) -> u64 {
    entry
        .compressed_size()
        .max(1)
        .saturating_mul(u64::from(limits.max_ratio))
}

fn unix_time(secs: i64) -> Option<std::time::SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names() {
        let ok = |n: &str| safe_components(n).unwrap().join("/");
        assert_eq!(ok("report.pdf"), "report.pdf");
        assert_eq!(ok("a/b/c.txt"), "a/b/c.txt");
        assert_eq!(ok("./a//b/"), "a/b");
        assert_eq!(ok("dir/"), "dir");
        assert_eq!(ok("notes: v2.txt"), "notes: v2.txt");
        assert_eq!(ok("..."), "...");
        assert_eq!(ok("..a"), "..a");
        for (bad, why) in [
            ("", "empty"),
            ("../x", ".."),
            ("a/../../x", ".."),
            ("a/..", ".."),
            ("/etc/passwd", "absolute"),
            ("C:/x", "drive"),
            ("c:x", "drive"),
            ("..\\x", "backslash"),
            ("a\\b", "backslash"),
            ("a\nb", "control"),
            ("a\0b", "control"),
            ("a\u{7f}b", "control"),
            ("a\u{85}b", "control"),
            ("a\u{9f}b", "control"),
            (".", "no file"),
            ("./", "no file"),
        ] {
            let e = safe_components(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert!(safe_components(&"x".repeat(256)).is_err());
        assert!(safe_components(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn a_move_that_fails_after_the_checks_undoes_the_moves_before_it() {
        // A failure no check foresaw (here: a staged file gone, as when the
        // directory changes meanwhile) comes after a file was replaced, a
        // directory tree created and a new file put in it: all undone.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("a.txt"), b"old a").unwrap();
        fs::create_dir(dir.join("keep")).unwrap();
        fs::write(dir.join("keep/k.txt"), b"k").unwrap();
        let temp = tempfile::tempdir_in(&dir).unwrap();
        fs::write(temp.path().join("0"), b"new a").unwrap();
        fs::write(temp.path().join("1"), b"new b").unwrap();
        fs::write(temp.path().join("3"), b"new k").unwrap();
        let item = |index: usize, rel: &[&str]| Item {
            index,
            rel: rel.iter().map(|s| s.to_string()).collect(),
            is_dir: false,
        };
        let items = [
            item(0, &["a.txt"]),
            item(1, &["sub", "deeper", "b.txt"]),
            item(3, &["keep", "new.txt"]),
            item(2, &["c.txt"]),
        ];
        let staged: HashMap<usize, PathBuf> = (0..4)
            .map(|i| (i, temp.path().join(i.to_string())))
            .collect();
        let mut changes = Vec::new();
        let e = place(&dir, &items, &staged, temp.path(), &mut changes).unwrap_err();
        assert_eq!(changes.len(), 5, "replaced, 2 directories, 2 new files");
        let (e, keep) = undo(changes, e);
        assert!(!keep);
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.message().contains("c.txt"), "{e}");
        assert!(e.message().contains("nothing was extracted"), "{e}");
        assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"old a");
        assert_eq!(fs::read(dir.join("keep/k.txt")).unwrap(), b"k");
        assert!(!dir.join("keep/new.txt").exists());
        assert!(!dir.join("sub").exists());
        assert!(!dir.join("c.txt").exists());
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with(".tmp"))
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "keep"]);
    }
}

//! Where a download's bytes go. The download loop in `client.rs` is the one
//! code path; a file, a buffer and a caller's callback are sinks under it.
//!
//! Protocol, per download: `begin` once per attempt (a retry calls it again
//! and the sink must start over or refuse) or, for a retry that continues a
//! cut body, `resume` (the sink keeps what it holds and appends), `write`
//! for each chunk, then `finish` once the whole body arrived. On failure the sink is dropped, and
//! dropping an unfinished sink must leave nothing behind.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::archive;
use crate::error::{without_temp_path, Error, ErrorKind, Result};

pub trait Sink {
    /// Starts (or restarts, on a retry) the body. `content_length` is the
    /// server's Content-Length, when it sent one.
    fn begin(&mut self, content_length: Option<u64>) -> Result<()>;
    /// Takes the next chunk of the body.
    fn write(&mut self, chunk: &[u8]) -> Result<()>;
    /// The whole body arrived: check it and make it visible.
    fn finish(&mut self) -> Result<()>;
    /// Whether a retry after bytes were written is possible (`begin` again).
    fn can_restart(&self) -> bool {
        true
    }
    /// How many bytes of the body this sink holds since `begin` and can
    /// continue after ([`Sink::resume`]); `None` for a sink that cannot.
    fn resume_point(&self) -> Option<u64> {
        None
    }
    /// Continues the body (on a retry answered with the rest of it) after
    /// the [`Sink::resume_point`] bytes it holds: the next `write` appends.
    /// `total` is the whole body's length.
    fn resume(&mut self, _total: u64) -> Result<()> {
        Err(Error::internal("this download cannot be resumed"))
    }
}

/// Writes the archive to `path` atomically: a temporary file beside it,
/// checked as a ZIP archive, then given the name `path`. Dropping it
/// unfinished removes the temporary file; a file already at `path` is never
/// touched unless the new one is complete.
pub struct FileSink {
    path: PathBuf,
    staging: Option<Staging>,
    fsync: bool,
    /// Whether the temporary file may hold bytes or be read past its start
    /// (anything since it was created or last emptied): only then does
    /// `begin` need to empty and rewind it.
    dirty: bool,
    /// A copy of the body while it is at most [`CHECK_IN_MEMORY_MAX`] bytes:
    /// `finish` checks the archive from it instead of reading the file back
    /// (ten `lseek`/`read` calls saved per small download).
    copy: Option<Vec<u8>>,
    /// The Content-Length of this attempt when it is large enough to reserve
    /// disk for, how much of it is reserved, and how much was written.
    announced: Option<u64>,
    reserved: u64,
    written: u64,
    /// The process that created the temporary file: only it removes it.
    owner: u32,
}

impl Drop for FileSink {
    fn drop(&mut self) {
        // A child forked mid-download (from a callback) that lets go of its
        // copy of the sink must not remove the parent's temporary file,
        // whose name the parent's download still needs.
        if std::process::id() != self.owner {
            if let Some(Staging::Named(temp)) = self.staging.take() {
                let _ = temp.into_temp_path().keep();
            }
        }
    }
}

/// Bodies up to this size are checked from a copy in memory.
const CHECK_IN_MEMORY_MAX: usize = 1 << 20;

impl FileSink {
    /// Checks the destination and creates the temporary file, so a bad
    /// destination fails before any request is sent.
    pub fn create(path: &Path, fsync: bool) -> Result<FileSink> {
        if path.as_os_str().is_empty() {
            return Err(Error::invalid_argument("path is empty"));
        }
        // "name/" names a directory, as in every POSIX call: it is refused
        // now, not after the download when the rename would fail.
        if path.as_os_str().as_bytes().ends_with(b"/") {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "cannot write {}: Is a directory (the path ends in /)",
                    path.display()
                ),
            ));
        }
        // So do "name/." and "name/.." (which `Path` would quietly read as
        // "name" and "name/.."'s parent): refused now with what the file
        // system says of them, as any other missing or existing directory.
        if matches!(
            path.as_os_str().as_bytes().rsplit(|&b| b == b'/').next(),
            Some(b".") | Some(b"..")
        ) {
            let why = match std::fs::metadata(path) {
                Ok(_) => "Is a directory".to_owned(),
                Err(e) => e.to_string(),
            };
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot write {}: {why}", path.display()),
            ));
        }
        // A symlink is written through, as `curl -o link` does: the file it
        // points to is replaced and the link stays a link.
        let (path, metadata) = follow_symlinks(path)?;
        let name = path.file_name().ok_or_else(|| {
            Error::invalid_argument(format!("path {} does not name a file", path.display()))
        })?;
        let existing = match metadata {
            Ok(m) => Some(m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::io(
                    format_args!("cannot write {}", path.display()),
                    &e,
                ))
            }
        };
        if let Some(m) = &existing {
            if m.is_dir() {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot write {}: Is a directory", path.display()),
                ));
            }
            // Renaming over a device or FIFO would replace it (think of
            // /dev/null as root); there is no atomic way to write one.
            if !m.is_file() {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "cannot write {}: not a regular file (devices, FIFOs and sockets are never replaced; use the callback variant to stream)",
                        path.display()
                    ),
                ));
            }
        }
        let dir = parent_dir(&path);
        // ".<name>.XXXXXX.bbpart", with the name cut so the whole stays
        // within NAME_MAX (255) for any valid destination name.
        let mut prefix = std::ffi::OsString::from(".");
        let name_bytes = name.as_bytes();
        prefix.push(OsStr::from_bytes(&name_bytes[..name_bytes.len().min(200)]));
        prefix.push(".");
        let unnamed = match existing {
            None => open_unnamed(dir),
            Some(_) => None,
        };
        let staging = match unnamed {
            Some(file) => Staging::Unnamed {
                file,
                temp_prefix: prefix,
            },
            None => {
                // The caller's path, not the temporary file's (issue 16).
                let temp = named_temp(dir, &prefix)
                    .map_err(|e| Error::io(format_args!("cannot write {}", path.display()), &e))?;
                if let Some(m) = &existing {
                    adopt(temp.as_file(), m).map_err(|e| {
                        Error::io(format_args!("cannot write {}", path.display()), &e)
                    })?;
                }
                Staging::Named(temp)
            }
        };
        Ok(FileSink {
            path,
            staging: Some(staging),
            fsync,
            dirty: false,
            copy: None,
            announced: None,
            reserved: 0,
            written: 0,
            owner: std::process::id(),
        })
    }

    /// The temporary file holding the body so far (before `finish` renames
    /// it): the wait loop reads a finished poll's listing from it.
    pub(crate) fn staged_file(&mut self) -> &mut File {
        // The caller reads it, moving the position: `begin` must rewind.
        self.dirty = true;
        self.file()
    }

    fn file(&mut self) -> &mut File {
        match self.staging.as_mut().expect("file sink used after finish") {
            Staging::Unnamed { file, .. } => file,
            Staging::Named(temp) => temp.as_file_mut(),
        }
    }

    fn write_error(&self, e: &std::io::Error) -> Error {
        Error::io(format_args!("cannot write {}", self.path.display()), e)
    }

    /// Reserves disk for the body up to twice `end`, the bytes it will hold
    /// after the next write (at least [`PREALLOCATE_MIN`]), never past the
    /// announced length: a server earns its reservation by sending, so a
    /// Content-Length of terabytes followed by a stall reserves 1 MiB, and
    /// an honest 1 GiB body is reserved in 11 steps.
    fn grow_reservation(&mut self, end: u64) {
        let Some(announced) = self.announced else {
            return;
        };
        let target = announced.min(end.saturating_mul(2).max(PREALLOCATE_MIN));
        if target > self.reserved {
            let from = self.reserved;
            preallocate(self.file(), from, target - from);
            self.reserved = target;
        }
    }
}

impl Sink for FileSink {
    fn begin(&mut self, content_length: Option<u64>) -> Result<()> {
        // A fresh temporary file is already empty. Truncating it anyway is
        // not free: on ext4 a truncation to 0 marks the file for a flush at
        // close (auto_da_alloc), which makes the close start writing the
        // whole archive back to disk.
        if self.dirty {
            let f = self.file();
            let res = f
                .set_len(0)
                .and_then(|_| f.seek(SeekFrom::Start(0)).map(|_| ()));
            res.map_err(|e| self.write_error(&e))?;
            self.dirty = false;
        }
        self.announced = content_length.filter(|&n| n >= PREALLOCATE_MIN);
        self.reserved = 0;
        self.written = 0;
        self.grow_reservation(0);
        self.copy = match content_length {
            Some(len) if len > CHECK_IN_MEMORY_MAX as u64 => None,
            Some(len) => Some(Vec::with_capacity(len as usize)),
            None => Some(Vec::new()),
        };
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.dirty = true;
        let end = self.written + chunk.len() as u64;
        if end > self.reserved {
            self.grow_reservation(end);
        }
        self.written = end;
        let res = self.file().write_all(chunk);
        res.map_err(|e| self.write_error(&e))?;
        if let Some(copy) = &mut self.copy {
            if copy.len() + chunk.len() <= CHECK_IN_MEMORY_MAX {
                copy.extend_from_slice(chunk);
            } else {
                self.copy = None;
            }
        }
        Ok(())
    }

    fn resume_point(&self) -> Option<u64> {
        self.staging.as_ref().map(|_| self.written)
    }

    fn resume(&mut self, total: u64) -> Result<()> {
        // The temporary file holds exactly the bytes written (a failed
        // write ends the download); the next byte goes after them.
        let at = self.written;
        let res = self.file().seek(SeekFrom::Start(at));
        res.map_err(|e| self.write_error(&e))?;
        self.announced = Some(total).filter(|&n| n >= PREALLOCATE_MIN);
        if total > CHECK_IN_MEMORY_MAX as u64 {
            self.copy = None;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let fsync = self.fsync;
        match self.copy.take() {
            Some(copy) => archive::check_archive(std::io::Cursor::new(copy))?,
            None => archive::check_archive(&mut *self.file())?,
        };
        let file = self.file();
        if fsync {
            let res = file.sync_all();
            res.map_err(|e| self.write_error(&e))?;
        }
        let staging = self.staging.take().expect("file sink finished twice");
        let placed = match staging {
            Staging::Unnamed {
                mut file,
                temp_prefix,
            } => {
                give_name(&mut file, &self.path, &temp_prefix, fsync)
                // The unnamed file goes with `file` on failure.
            }
            // On failure `e.file` drops, removing the temporary file.
            Staging::Named(temp) => temp.persist(&self.path).map(drop).map_err(|e| e.error),
        };
        placed.map_err(|e| self.write_error(&e))?;
        if fsync {
            // The rename is durable only once the directory is synced.
            let dir = parent_dir(&self.path);
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(format_args!("cannot sync {}", dir.display()), &e))?;
        }
        Ok(())
    }
}

/// Where the body waits until `finish` puts it at the destination.
enum Staging {
    /// A file without a name (`O_TMPFILE`) in the destination's directory,
    /// given its name by `linkat` once complete: used when nothing is at the
    /// destination, the usual case. On this machine's ext4 it costs about
    /// what writing the destination directly does (2,000 files of 20 KiB,
    /// three rounds: 60–106 ms written directly, 70–112 ms unnamed then
    /// linked, 100–166 ms named then renamed), and a process killed
    /// mid-download leaves nothing behind.
    Unnamed {
        file: File,
        /// `.<name>.` for the rare fallback in [`give_name`].
        temp_prefix: std::ffi::OsString,
    },
    /// A named temporary file `.<name>.XXXXXX.bbpart` beside the
    /// destination, renamed over it: replacing a file atomically needs a
    /// name to rename from. Also where `O_TMPFILE` or `/proc/self/fd` is
    /// missing (another OS, a file system without it, a chroot without
    /// /proc).
    Named(tempfile::NamedTempFile),
}

/// A file without a name in `dir`, readable and writable, mode 0666 less
/// the umask; `None` where that is not possible here (the named fallback
/// then reports any real error, such as a missing directory).
#[cfg(target_os = "linux")]
fn open_unnamed(dir: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if !proc_fd_usable() {
        return None;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o666)
        .open(dir)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_unnamed(_dir: &Path) -> Option<File> {
    None
}

/// Whether `/proc/self/fd` is there: `linkat` names an unnamed file through
/// it (`AT_EMPTY_PATH` would need CAP_DAC_READ_SEARCH). Looked up once; a
/// race rather than a lock (threads racing to look it up find the same
/// answer, and no fork can inherit a lock held).
#[cfg(target_os = "linux")]
fn proc_fd_usable() -> bool {
    static USABLE: once_cell::race::OnceBool = once_cell::race::OnceBool::new();
    USABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// Gives the complete unnamed `file` the name `path` with `linkat`. Where
/// that cannot be done (something appeared at `path` since the download
/// began, and `linkat` never replaces; or `/proc` refuses, as in some
/// sandboxes), its bytes are copied into a named temporary file beside
/// `path` that is renamed over it, as if the download had been staged that
/// way from the start (keeping the owner and mode of a file found there).
/// What appeared is another writer racing us for the same path: if it is a
/// symlink, it is replaced, not written through (the link was not there to
/// follow when the download began).
fn give_name(
    file: &mut File,
    path: &Path,
    temp_prefix: &OsStr,
    fsync: bool,
) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let from = format!("/proc/self/fd/{}", file.as_raw_fd());
    if link(Path::new(&from), path).is_ok() {
        return Ok(());
    }
    let dir = parent_dir(path);
    let mut named = named_temp(dir, temp_prefix)?;
    file.seek(SeekFrom::Start(0))?;
    std::io::copy(file, named.as_file_mut())?;
    if let Ok(m) = std::fs::metadata(path) {
        if m.is_file() {
            adopt(named.as_file(), &m)?;
        }
    }
    if fsync {
        named.as_file().sync_all()?;
    }
    // On failure the named file is removed as it drops.
    named.persist(path).map(drop).map_err(|e| e.error)
}

/// The directory `path` is in; a bare file name lives in the current one.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new temporary file `<prefix>XXXXXX.bbpart` in `dir`, mode 0666 less the
/// umask like any new file (curl's too), not tempfile's 0600.
/// Its errors do not name it (see [`without_temp_path`]).
fn named_temp(dir: &Path, prefix: &OsStr) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".bbpart")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(without_temp_path)
}

/// Makes `file`, about to replace a file described by `old`, keep its owner
/// where this process may give it (root; or the group, for a member) and
/// then its permission bits (after: a change of owner clears setuid): a
/// 0600 file stays private.
fn adopt(file: &File, old: &std::fs::Metadata) -> std::io::Result<()> {
    keep_owner(file, old);
    file.set_permissions(std::fs::Permissions::from_mode(
        old.permissions().mode() & 0o7777,
    ))
}

/// `linkat(2)` following `from` (a `/proc/self/fd` link to an open file).
fn link(from: &Path, to: &Path) -> std::io::Result<()> {
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Gives `file` the owner and group of `like`, as far as this process may:
/// both as root, the group alone when it is one of the caller's (the
/// new file's owner is the caller otherwise). Not an error when it cannot:
/// the replacement is still the caller's to make, as with `mv`.
fn keep_owner(file: &File, like: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: the descriptor is open for the duration of the calls.
    unsafe {
        if libc::fchown(fd, like.uid(), like.gid()) != 0 {
            let _ = libc::fchown(fd, libc::uid_t::MAX, like.gid());
        }
    }
}

/// Bodies at least this large get their disk space reserved up front.
const PREALLOCATE_MIN: u64 = 1 << 20;

/// Reserves `len` bytes of disk for `file` from `offset` without changing
/// its size (`fallocate` with `FALLOC_FL_KEEP_SIZE`): the file system
/// allocates extents in a few large steps instead of block by block as the
/// writes arrive, which cuts the kernel's share of writing a large archive
/// by about a fifth on ext4. Only a hint: any failure (a file system without
/// it, no space, which the writes will then report) is ignored, and on a
/// failed download the temporary file goes with its reservation.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn preallocate(file: &File, offset: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open for the duration of the call.
    let _ = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) };
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn preallocate(_file: &File, _offset: u64, _len: u64) {}

/// Collects the archive in memory: one allocation of Content-Length bytes
/// when the server sends at most [`BUFFER_RESERVE_MAX`]; past that, the
/// announced length is not trusted up front: [`BUFFER_RESERVE_MAX`] is
/// reserved, and the buffer doubles as the bytes arrive (never past the
/// announced length, so an honest body ends in a buffer of its size).
#[derive(Default)]
pub struct BufferSink {
    data: Vec<u8>,
    announced: Option<u64>,
}

/// The most memory a buffer download reserves before the bytes arrive.
pub const BUFFER_RESERVE_MAX: usize = 8 << 20;

impl BufferSink {
    pub fn new() -> BufferSink {
        BufferSink::default()
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    /// The bytes received so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl Sink for BufferSink {
    fn begin(&mut self, content_length: Option<u64>) -> Result<()> {
        self.data.clear();
        self.announced = content_length;
        if let Some(len) = content_length {
            let up_front = len.min(BUFFER_RESERVE_MAX as u64) as usize;
            self.data
                .try_reserve_exact(up_front)
                .map_err(|_| too_big(up_front as u64))?;
        }
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        let needed = self.data.len() + chunk.len();
        if needed > self.data.capacity() {
            let doubled = needed.max(self.data.capacity().saturating_mul(2));
            let target = match self.announced {
                Some(len) if len >= needed as u64 => {
                    doubled.min(usize::try_from(len).unwrap_or(usize::MAX))
                }
                _ => doubled,
            };
            self.data
                .try_reserve_exact(target - self.data.len())
                .map_err(|_| too_big(target as u64))?;
        }
        self.data.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        archive::check_archive(std::io::Cursor::new(&self.data))?;
        Ok(())
    }

    fn resume_point(&self) -> Option<u64> {
        Some(self.data.len() as u64)
    }

    fn resume(&mut self, total: u64) -> Result<()> {
        self.announced = Some(total);
        Ok(())
    }
}

/// The final target of a chain of symlinks (relative targets are relative
/// to the link's directory), with what `lstat` said of it (which, for a
/// target that is not a link, is what `stat` says). A dangling link resolves
/// to the missing target. A link that [`refuse_to_follow`] refuses is an
/// `Io` error.
pub(crate) fn follow_symlinks(
    path: &Path,
) -> Result<(PathBuf, std::io::Result<std::fs::Metadata>)> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Some(why) = refuse_to_follow(&current, &m) {
                    return Err(Error::new(
                        ErrorKind::Io,
                        format!("cannot write {}: {why}", path.display()),
                    ));
                }
                let target = std::fs::read_link(&current).map_err(|e| {
                    Error::io(format_args!("cannot read link {}", current.display()), &e)
                })?;
                current = match current.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            found => return Ok((current, found)),
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        format!(
            "cannot write {}: too many levels of symbolic links",
            path.display()
        ),
    ))
}

/// Why the symlink `link` (described by `meta`, from `lstat`) must not be
/// followed, or `None` when it may be. The kernel's `fs.protected_symlinks`
/// rule, which `open(2)` applies but which never sees a link the library
/// resolves itself: in a sticky, world-writable directory (such as /tmp) a
/// link is followed only when its owner is the directory's owner or the
/// caller (the effective uid). Otherwise another user could point it at a
/// file of the caller's, which writing through the link would replace.
fn refuse_to_follow(link: &Path, meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dir = parent_dir(link);
    let d = match std::fs::metadata(dir) {
        Ok(d) => d,
        Err(e) => {
            return Some(format!(
                "cannot check the directory of the symbolic link {}: {e}",
                link.display()
            ))
        }
    };
    let shared = d.mode() & 0o1002 == 0o1002;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if !shared || meta.uid() == d.uid() || meta.uid() == euid {
        return None;
    }
    Some(format!(
        "refusing to follow the symbolic link {}: it is in the sticky, world-writable \
         directory {} and belongs to uid {}, neither the directory's owner nor this \
         process (the rule of fs.protected_symlinks)",
        link.display(),
        dir.display(),
        meta.uid()
    ))
}

fn too_big(len: u64) -> Error {
    Error::internal(format!("cannot allocate {len} bytes for the archive"))
}

/// Hands each chunk to a caller's function. The function returns `true` to go
/// on and `false` to cancel. Chunks already handed over cannot be taken back,
/// so a download through this sink is not started over once bytes were
/// delivered; it can continue where they stopped ([`Sink::resume`]), which
/// hands no byte over twice.
/// The end of the body is kept ([`archive::StreamTail`], at most 256 KiB) so
/// that `finish` can refuse a body that does not end as a ZIP archive.
pub struct CallbackSink<F> {
    on_chunk: F,
    /// Bytes handed over.
    delivered: u64,
    tail: archive::StreamTail,
}

impl<F: FnMut(&[u8]) -> bool> CallbackSink<F> {
    pub fn new(on_chunk: F) -> Self {
        CallbackSink {
            on_chunk,
            delivered: 0,
            tail: archive::StreamTail::new(None),
        }
    }
}

impl<F: FnMut(&[u8]) -> bool> Sink for CallbackSink<F> {
    fn begin(&mut self, content_length: Option<u64>) -> Result<()> {
        if self.delivered > 0 {
            return Err(Error::internal(
                "callback download restarted after delivery",
            ));
        }
        self.tail = archive::StreamTail::new(content_length);
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.delivered += chunk.len() as u64;
        self.tail.push(chunk);
        if (self.on_chunk)(chunk) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Cancelled,
                "the write callback cancelled the download",
            ))
        }
    }

    fn finish(&mut self) -> Result<()> {
        self.tail.check().map(drop)
    }

    fn can_restart(&self) -> bool {
        self.delivered == 0
    }

    fn resume_point(&self) -> Option<u64> {
        Some(self.delivered)
    }

    fn resume(&mut self, _total: u64) -> Result<()> {
        // The tail goes on from the last byte handed over.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored ZIP archive of one entry, `n` bytes of content.
    fn small_zip(n: usize) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("a.bin", options).unwrap();
        w.write_all(&vec![5u8; n]).unwrap();
        w.finish().unwrap().into_inner()
    }

    /// A file sink continues after a cut with the bytes it staged, and
    /// starts from zero again on `begin` (issue 14, resume).
    #[test]
    fn a_file_sink_resumes_after_what_it_staged_and_restarts_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.zip");
        for len in [5000, (2 << 20) + 77] {
            let zip = small_zip(len);
            let total = zip.len() as u64;
            let cut = zip.len() / 3;
            let mut sink = FileSink::create(&path, false).unwrap();
            // A first try that is started over, then a try cut at a third.
            sink.begin(Some(total)).unwrap();
            sink.write(&[9; 100]).unwrap();
            sink.begin(Some(total)).unwrap();
            assert_eq!(sink.resume_point(), Some(0));
            sink.write(&zip[..cut]).unwrap();
            assert_eq!(sink.resume_point(), Some(cut as u64));
            sink.resume(total).unwrap();
            sink.write(&zip[cut..]).unwrap();
            sink.finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), zip, "{len}");
            assert_eq!(sink.resume_point(), None);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_buffer_sink_resumes_and_restarts() {
        let zip = small_zip(3000);
        let mut sink = BufferSink::new();
        sink.begin(Some(zip.len() as u64)).unwrap();
        sink.write(&zip[..1000]).unwrap();
        assert_eq!(sink.resume_point(), Some(1000));
        sink.resume(zip.len() as u64).unwrap();
        sink.write(&zip[1000..]).unwrap();
        sink.finish().unwrap();
        assert_eq!(sink.bytes(), &zip[..]);
        sink.begin(Some(zip.len() as u64)).unwrap();
        assert_eq!(sink.resume_point(), Some(0));
    }

    /// The callback sink continues without handing a byte over twice, and
    /// still refuses to start over once it handed bytes over.
    #[test]
    fn a_callback_sink_resumes_but_never_restarts_after_delivery() {
        let zip = small_zip(3000);
        let mut got = Vec::new();
        {
            let mut sink = CallbackSink::new(|c: &[u8]| {
                got.extend_from_slice(c);
                true
            });
            sink.begin(Some(zip.len() as u64)).unwrap();
            sink.write(&zip[..1234]).unwrap();
            assert!(!sink.can_restart());
            assert_eq!(sink.resume_point(), Some(1234));
            sink.resume(zip.len() as u64).unwrap();
            sink.write(&zip[1234..]).unwrap();
            sink.finish().unwrap();
            assert!(sink.begin(Some(zip.len() as u64)).is_err());
        }
        assert_eq!(got, zip);
    }

    /// An announced length is not reserved up front past 8 MiB; the buffer
    /// grows as the bytes come, and an honest body ends in a buffer of its
    /// exact size (issue 10, row 14).
    #[test]
    fn a_buffer_reserves_what_arrives_not_what_is_announced() {
        let mut sink = BufferSink::new();
        sink.begin(Some(4 << 30)).unwrap();
        assert!(sink.data.capacity() <= BUFFER_RESERVE_MAX);
        sink.write(&[7; 1000]).unwrap();
        assert!(sink.data.capacity() <= BUFFER_RESERVE_MAX);

        let len = 3 * BUFFER_RESERVE_MAX + 12_345;
        sink.begin(Some(len as u64)).unwrap();
        let chunk = vec![1u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            sink.write(&chunk[..n]).unwrap();
            assert!(sink.data.capacity() <= (2 * sink.data.len()).max(BUFFER_RESERVE_MAX));
            left -= n;
        }
        assert_eq!(sink.data.len(), len);
        assert_eq!(sink.data.capacity(), len, "not the exact size");

        // Unannounced: grows as needed.
        sink.begin(None).unwrap();
        sink.write(&chunk).unwrap();
        assert_eq!(sink.bytes(), &chunk[..]);
    }
}

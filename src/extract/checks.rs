//! The checks made before an extraction changes anything: path lengths,
//! what is in the way, and whether every directory touched may be written.

use super::*;

/// What extracting one item changes, found before anything is written.
pub(super) struct Target {
    /// The existing directory in which an entry is created or replaced;
    /// `None` for a directory item that exists already (nothing to do).
    writes_in: Option<PathBuf>,
    /// The owner of the file (or link) at the item's path, which it replaces.
    replaces: Option<u32>,
}

/// Refuses, before anything is written, a path the kernel would refuse as
/// too long: each entry's path in `dir` must be shorter than PATH_MAX, and
/// each of its names no longer than the file system takes (NAME_MAX).
pub(super) fn check_path_lengths(dir: &Path, items: &[Item]) -> Result<()> {
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
pub(super) fn name_max(dir: &Path) -> usize {
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
pub(super) fn check_destination(dir: &Path, item: &Item) -> Result<Target> {
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
pub(super) fn check_writable(dir: &Path, targets: &[Target]) -> Result<()> {
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

//! Putting extracted files in place, and undoing that when a later step
//! fails: the only part of an extraction the destination can see.

use super::*;

/// One visible change made while moving the files into place, and what
/// undoes it.
pub(super) enum Change {
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
pub(super) fn place(
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
pub(super) fn put(from: &Path, dest: &Path, backup: &Path) -> std::io::Result<Change> {
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
pub(super) fn rename_exchange(from: &Path, to: &Path) -> std::io::Result<()> {
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
pub(super) fn rename_exchange(_from: &Path, _to: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Undoes `changes`, last first, after the failure `e`: puts replaced
/// files back, removes new files and created directories. Returns the
/// error to report and whether the temporary directory must be kept (it
/// holds an old file that could not be put back).
pub(super) fn undo(changes: Vec<Change>, e: Error) -> (Error, bool) {
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
pub(super) fn create_dirs(dir: &Path, parts: &[String], changes: &mut Vec<Change>) -> Result<()> {
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

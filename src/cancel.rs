//! Stopping a call under way from another thread or a signal handler, and
//! the per-call options that carry the means to.
//!
//! A [`Cancel`] is an atomic flag plus an eventfd (a pipe where there is
//! none). [`Cancel::trigger`] sets the flag and writes to the eventfd once:
//! no allocation, no lock, so it may run in a signal handler. Every wait of
//! a call watches it: the transport's waits for the server (connect,
//! headers, each chunk of the body) watch the eventfd's readiness on the
//! call's runtime (`transport.rs`); the sleeps between retries and between
//! wait polls are a `poll(2)` on it; extraction checks the flag between
//! entries and between chunks. The eventfd is never drained: once
//! triggered, a handle stays triggered, so every later wait ends at once.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Progress;
use crate::error::{Error, ErrorKind, Result};

/// A handle that stops the calls it is passed to (through [`CallOptions`]).
/// Clones share one state: triggering any of them triggers all. Triggered
/// for good: a handle cannot be reset (make a new one per operation).
#[derive(Clone)]
pub struct Cancel(Arc<Inner>);

struct Inner {
    triggered: AtomicBool,
    /// Becomes readable when triggered: the eventfd, or a pipe's read end.
    wake: OwnedFd,
    /// Where `trigger` writes: `None` for an eventfd (written through
    /// `wake`), a pipe's write end otherwise.
    write_end: Option<OwnedFd>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Cancel {
    /// A new, untriggered handle. Fails only when the process is out of file
    /// descriptors (it holds one, or two where there is no eventfd).
    pub fn new() -> Result<Cancel> {
        let (wake, write_end) =
            wake_fds().map_err(|e| Error::io("cannot create a cancel handle", &e))?;
        Ok(Cancel(Arc::new(Inner {
            triggered: AtomicBool::new(false),
            wake,
            write_end,
        })))
    }

    /// Stops every call using this handle, now and later. Safe from any
    /// thread and from a signal handler (an atomic store and at most one
    /// `write(2)`); calling it again does nothing.
    pub fn trigger(&self) {
        if self.0.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        let fd = match &self.0.write_end {
            Some(w) => w.as_raw_fd(),
            None => self.0.wake.as_raw_fd(),
        };
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to a descriptor this
        // handle owns; a failure (a full pipe: then it is readable already)
        // changes nothing, the flag is set.
        let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }

    /// Whether [`Cancel::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        self.0.triggered.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once triggered.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_triggered() {
            return Err(cancelled());
        }
        Ok(())
    }

    /// The descriptor that becomes readable when triggered.
    pub(crate) fn wake_fd(&self) -> RawFd {
        self.0.wake.as_raw_fd()
    }

    /// Sleeps for `duration`, or less when triggered (`Err(Cancelled)`).
    pub(crate) fn sleep(&self, duration: Duration) -> Result<()> {
        let until = Instant::now().checked_add(duration);
        loop {
            self.check()?;
            let left = match until {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Ok(());
            }
            // Rounded up, so the sleep is never shorter than asked.
            let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            let mut fds = libc::pollfd {
                fd: self.wake_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call. An
            // interruption (EINTR) just goes round the loop.
            unsafe { libc::poll(&mut fds, 1, ms) };
        }
    }
}

/// The error of a call stopped by its [`Cancel`].
pub(crate) fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "the call was cancelled")
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn wake_fds() -> std::io::Result<(OwnedFd, Option<OwnedFd>)> {
    // SAFETY: no pointers; the result is checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, None))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn wake_fds() -> std::io::Result<(OwnedFd, Option<OwnedFd>)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: two new descriptors that nothing else owns.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&r, &w] {
        // SAFETY: plain fcntl calls on descriptors we own.
        unsafe {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
        }
    }
    Ok((r, Some(w)))
}

/// What one call may be given besides its arguments: a [`Cancel`] that
/// stops it, and a progress function for this call alone (instead of the
/// client's, [`crate::ClientConfig::set_progress`]). The default is
/// neither: the call is not cancellable and reports to the client's
/// progress function, if any.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    pub cancel: Option<Cancel>,
    pub progress: Option<Progress>,
}

impl CallOptions {
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// Stopped by `cancel`.
    pub fn cancel(mut self, cancel: Cancel) -> CallOptions {
        self.cancel = Some(cancel);
        self
    }

    /// Reports to `progress` instead of the client's progress function.
    pub fn progress(mut self, progress: Progress) -> CallOptions {
        self.progress = Some(progress);
        self
    }

    /// `Err(Cancelled)` once the cancel handle, if any, was triggered.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.cancel {
            Some(c) => c.check(),
            None => Ok(()),
        }
    }

    /// Sleeps `duration`, cut short by the cancel handle.
    pub(crate) fn sleep(&self, duration: Duration) -> Result<()> {
        match &self.cancel {
            Some(c) => c.sleep(duration),
            None => {
                std::thread::sleep(duration);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_is_idempotent_and_ends_sleeps() {
        let c = Cancel::new().unwrap();
        assert!(!c.is_triggered());
        let clone = c.clone();
        let t = std::thread::spawn(move || {
            let started = Instant::now();
            let r = clone.sleep(Duration::from_secs(60));
            (r, started.elapsed())
        });
        // The other thread may or may not be asleep yet: both must end.
        c.trigger();
        c.trigger();
        let (r, took) = t.join().unwrap();
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
        assert!(took < Duration::from_secs(30), "{took:?}");
        assert!(c.is_triggered());
        assert_eq!(c.check().unwrap_err().kind(), ErrorKind::Cancelled);
    }

    #[test]
    fn an_untriggered_sleep_lasts_its_time() {
        let c = Cancel::new().unwrap();
        let started = Instant::now();
        c.sleep(Duration::from_millis(30)).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}

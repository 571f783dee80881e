//! The troubleshooting log: one line per request, retry and redirect, to
//! stderr when `BROWSERBASE_LOG` asks for it, or to the host application's
//! own logger through a callback. Every line goes through
//! [`crate::scrub::scrub`] on its way out (control characters escaped, the
//! keys of the calls under way on this thread redacted), whatever it holds.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard};

pub const LOG_ENV: &str = "BROWSERBASE_LOG";

/// How much a line matters; a logger shows its level and everything above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    fn from_u8(v: u8) -> Option<Level> {
        match v {
            1 => Some(Level::Error),
            2 => Some(Level::Warn),
            3 => Some(Level::Info),
            4 => Some(Level::Debug),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where lines go when the host application takes them.
pub type LogFn = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// `max` and `ENV_LEVEL` before `BROWSERBASE_LOG` was read.
const UNREAD: u8 = u8::MAX;

struct Logger {
    /// The most detailed level shown; 0 is off. Checked before any formatting.
    max: AtomicU8,
    /// Held only to swap or clone the pointer (never while a callback runs),
    /// and taken around fork() by the handlers below, so a child never
    /// inherits it locked.
    sink: RwLock<Option<Arc<Installed>>>,
}

/// No `Lazy`: a fork while another thread initialised one would leave the
/// child waiting for it forever.
static LOGGER: Logger = Logger {
    max: AtomicU8::new(UNREAD),
    sink: RwLock::new(None),
};

/// The level `BROWSERBASE_LOG` asked for when first read (0: off).
static ENV_LEVEL: AtomicU8 = AtomicU8::new(UNREAD);

/// Runs once when a replaced callback's last call under way has ended.
pub type Release = Box<dyn FnOnce() + Send>;

/// A callback with the number of its calls under way, so that replacing it
/// can wait for them (the caller may free what the old one uses), or run its
/// `release` when the last of them ends.
struct Installed {
    f: LogFn,
    calls: AtomicUsize,
    /// No longer installed: no new call of it starts.
    retired: AtomicBool,
    /// Taken by whoever first sees it retired with no call under way: the
    /// replacer, or the thread ending the last call. Only ever locked by
    /// that one thread, so never contended (nor held across a fork).
    release: Mutex<Option<Release>>,
}

impl Installed {
    fn new(f: LogFn, release: Option<Release>) -> Installed {
        Installed {
            f,
            calls: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
            release: Mutex::new(release),
        }
    }

    /// Runs `release` if the callback is retired and no call of it is under
    /// way, at most once. Both the replacer (after marking it retired) and
    /// each ending call (after counting itself out) check: with SeqCst, at
    /// least one of them sees both changes.
    fn release_if_done(&self) {
        if !self.retired.load(Ordering::SeqCst) || self.calls.load(Ordering::SeqCst) != 0 {
            return;
        }
        let release = self
            .release
            .try_lock()
            .ok()
            .and_then(|mut release| release.take());
        if let Some(release) = release {
            // A panic must not escape from a Drop during unwinding (abort),
            // nor fail the log line that ended the call.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(release));
        }
    }
}

/// Ends one call of a callback, even if it panics: its count of calls under
/// way drops, this thread no longer counts as inside it, and if it was the
/// last call of a replaced callback, that callback is released.
struct CallGuard<'a>(&'a Installed);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let _ = CALLING.try_with(|c| c.borrow_mut().pop());
        if self.0.calls.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.release_if_done();
        }
    }
}

thread_local! {
    /// The callbacks this thread is inside of (their addresses), innermost
    /// last: a callback that replaces itself must not wait for its own
    /// calls, however deeply they nest (callback, library call, log line,
    /// the same callback again).
    static CALLING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// The logger's lock, held by the forking thread from just before a
    /// fork() until just after it (in parent and child).
    static FORK_GUARD: RefCell<Option<RwLockWriteGuard<'static, Option<Arc<Installed>>>>> =
        const { RefCell::new(None) };
}

/// Makes fork() safe for the logger (once per process): the lock is taken
/// before the fork, so no other thread holds it at the instant of the fork,
/// and in the child the installed callback's count of calls under way is
/// reset to the forking thread's own (those continue in the child), since
/// the calls other threads had under way are not the child's and will never
/// end there. A callback replaced before the fork whose calls were still
/// under way on other threads is never released in the child.
fn handle_forks() {
    static HANDLING: AtomicBool = AtomicBool::new(false);
    if !HANDLING.load(Ordering::Acquire) && !HANDLING.swap(true, Ordering::AcqRel) {
        // SAFETY: the handlers only lock, swap and unlock; the library is
        // never unmapped (-z nodelete), so they stay valid.
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(in_child)) };
    }
}

extern "C" fn before_fork() {
    let guard = LOGGER.sink.write().unwrap_or_else(|p| p.into_inner());
    let _ = FORK_GUARD.try_with(|g| *g.borrow_mut() = Some(guard));
}

extern "C" fn after_fork() {
    let _ = FORK_GUARD.try_with(|g| g.borrow_mut().take());
}

extern "C" fn in_child() {
    let _ = FORK_GUARD.try_with(|g| {
        if let Some(sink) = g.borrow_mut().take() {
            if let Some(installed) = sink.as_ref() {
                let own = own_calls(installed);
                installed.calls.store(own, Ordering::SeqCst);
            }
        }
    });
}

/// How many calls of `installed` this thread is inside of.
fn own_calls(installed: &Arc<Installed>) -> usize {
    let ptr = Arc::as_ptr(installed) as usize;
    CALLING
        .try_with(|c| {
            c.try_borrow()
                .map_or(0, |c| c.iter().filter(|&&p| p == ptr).count())
        })
        .unwrap_or(0)
}

/// The level `BROWSERBASE_LOG` asks for (0: off), read once per process: an
/// unknown value is reported once on stderr and turns logging off, rather
/// than failing every call.
fn env_level() -> u8 {
    let read = ENV_LEVEL.load(Ordering::Acquire);
    if read != UNREAD {
        return read;
    }
    let value = std::env::var(LOG_ENV).ok();
    let (level, complaint) = match value.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => (0, None),
        Some(v) => match v.as_str() {
            "" | "off" | "none" | "0" => (0, None),
            "error" => (Level::Error as u8, None),
            "warn" | "warning" => (Level::Warn as u8, None),
            "info" => (Level::Info as u8, None),
            "debug" | "trace" => (Level::Debug as u8, None),
            _ => (0, value.as_deref()),
        },
    };
    match ENV_LEVEL.compare_exchange(UNREAD, level, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            if let Some(value) = complaint {
                to_stderr(&format!(
                    "browserbase: {LOG_ENV}={value:?} is not one of debug, info, warn, error, off; logging stays off\n"
                ));
            }
            level
        }
        Err(first) => first,
    }
}

/// The most detailed level shown now, reading `BROWSERBASE_LOG` on first use.
fn max_level() -> u8 {
    let max = LOGGER.max.load(Ordering::Relaxed);
    if max != UNREAD {
        return max;
    }
    let level = env_level();
    // A logger set meanwhile wins.
    match LOGGER
        .max
        .compare_exchange(UNREAD, level, Ordering::Relaxed, Ordering::Relaxed)
    {
        Ok(_) => level,
        Err(set) => set,
    }
}

/// Whether a line at `level` would go anywhere.
pub fn enabled(level: Level) -> bool {
    level as u8 <= max_level()
}

/// Sends a line at `level` to the callback, or else to stderr.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    handle_forks();
    let line = crate::scrub::scrub(&args.to_string());
    // Counted while the lock is held, so a replacement either sees this call
    // or this call sees the replacement.
    let installed = {
        let sink = LOGGER.sink.read().unwrap_or_else(|p| p.into_inner());
        sink.as_ref().map(|i| {
            i.calls.fetch_add(1, Ordering::SeqCst);
            i.clone()
        })
    };
    match installed {
        Some(i) => {
            CALLING.with(|c| c.borrow_mut().push(Arc::as_ptr(&i) as usize));
            let _counted = CallGuard(&i);
            (i.f)(level, &line);
        }
        None => to_stderr(&format!("browserbase: {level}: {line}\n")),
    }
}

/// Writes `text` to file descriptor 2 with write(2) itself, not through
/// std's stderr: that takes a process-wide lock, and a thread of the parent
/// blocked inside it (stderr a full pipe) at the instant of a fork() would
/// hold it forever in the child. Also one write per line, so lines from
/// several threads do not interleave. Errors are ignored: logging never
/// fails a call.
fn to_stderr(text: &str) {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writes from a live buffer of that length.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(n) if n > 0 => rest = &rest[n..],
            _ if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}

/// Routes lines at `max` and above to `sink`. `None` restores the default:
/// stderr, at the level `BROWSERBASE_LOG` asked for when first read. Returns
/// once calls of the replaced callback under way on other threads have
/// finished, so whatever it used may be freed then (a callback may replace
/// itself, also from a nested call: its own calls on this thread are not
/// waited for).
pub fn set_logger(sink: Option<LogFn>, max: Option<Level>) {
    let level = match &sink {
        Some(_) => max.map_or(0, |l| l as u8),
        None => env_level(),
    };
    replace(sink, level, None, true);
}

/// As [`set_logger`], but never waits: new lines go to `sink` at once, and a
/// replaced callback's calls still under way finish on their threads.
/// `release` belongs to `sink`: it runs exactly once, when `sink` has been
/// replaced in turn and its last call under way has ended, on whichever
/// thread that is (the one replacing it, when none is under way). With
/// `sink` `None` it runs at once, before this returns.
pub fn set_logger_nowait(sink: Option<LogFn>, max: Option<Level>, release: Option<Release>) {
    let level = match &sink {
        Some(_) => max.map_or(0, |l| l as u8),
        None => env_level(),
    };
    replace(sink, level, release, false);
}

/// As [`silence`], but never waits, as [`set_logger_nowait`].
pub fn silence_nowait() {
    replace(None, 0, None, false);
}

/// Silences the library entirely, whatever `BROWSERBASE_LOG` says, until the
/// next [`set_logger`]. Waits for calls of a replaced callback as
/// [`set_logger`] does.
pub fn silence() {
    replace(None, 0, None, true);
}

fn replace(sink: Option<LogFn>, level: u8, release: Option<Release>, wait: bool) {
    handle_forks();
    let (installed, unused) = match sink {
        Some(f) => (Some(Arc::new(Installed::new(f, release))), None),
        None => (None, release),
    };
    let old = {
        let mut slot = LOGGER.sink.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *slot, installed)
    };
    LOGGER.max.store(level, Ordering::Relaxed);
    if let Some(old) = old {
        old.retired.store(true, Ordering::SeqCst);
        old.release_if_done();
        if wait {
            let own = own_calls(&old);
            while old.calls.load(Ordering::SeqCst) > own {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    }
    if let Some(release) = unused {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(release));
    }
}

/// The level lines are shown at now (`None`: off).
pub fn current_level() -> Option<Level> {
    Level::from_u8(max_level())
}

/// `bb_log!(Level::Info, "format", args...)`: formats only when enabled.
macro_rules! bb_log {
    ($level:expr, $($arg:tt)+) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)+));
        }
    };
}
pub(crate) use bb_log;

#[cfg(test)]
mod tests {
    use super::{CallGuard, Installed, CALLING};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    /// A replacer (marks it retired, then checks) racing the thread that
    /// ends the last call (counts itself out, then checks): `release` runs
    /// exactly once, whichever sees the other's change, and never while the
    /// call is still counted.
    #[test]
    fn release_runs_exactly_once_when_replacer_and_last_call_race() {
        for _ in 0..500 {
            let released = Arc::new(AtomicUsize::new(0));
            let r = released.clone();
            let installed = Arc::new(Installed::new(
                Arc::new(|_, _: &str| {}),
                Some(Box::new(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                })),
            ));
            installed.calls.fetch_add(1, Ordering::SeqCst);
            let barrier = Arc::new(Barrier::new(2));
            let (i, b) = (installed.clone(), barrier.clone());
            let caller = std::thread::spawn(move || {
                CALLING.with(|c| c.borrow_mut().push(Arc::as_ptr(&i) as usize));
                let guard = CallGuard(&i);
                b.wait();
                drop(guard);
            });
            barrier.wait();
            installed.retired.store(true, Ordering::SeqCst);
            installed.release_if_done();
            caller.join().unwrap();
            assert_eq!(released.load(Ordering::SeqCst), 1);
            installed.release_if_done();
            assert_eq!(released.load(Ordering::SeqCst), 1, "released twice");
        }
    }

    #[test]
    fn a_callback_still_installed_is_never_released() {
        let released = Arc::new(AtomicUsize::new(0));
        let r = released.clone();
        let installed = Installed::new(
            Arc::new(|_, _: &str| {}),
            Some(Box::new(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })),
        );
        installed.release_if_done();
        assert_eq!(released.load(Ordering::SeqCst), 0);
    }
}

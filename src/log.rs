//! The troubleshooting log: one line per request, retry and redirect, to
//! stderr when `BROWSERBASE_LOG` asks for it, or to the host application's
//! own logger through a callback. Lines never contain the API key: nothing
//! that formats a line ever has it.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use once_cell::sync::Lazy;

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

struct Logger {
    /// The most detailed level shown; 0 is off. Checked before any formatting.
    max: AtomicU8,
    sink: RwLock<Option<Arc<Installed>>>,
}

/// A callback with the number of its calls under way, so that replacing it
/// can wait for them (the caller may free what the old one uses).
struct Installed {
    f: LogFn,
    calls: AtomicUsize,
}

/// Decrements a callback's count of calls under way, even if it panics.
struct CallGuard<'a>(&'a Installed);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    /// The callback this thread is inside of (its address), if any: a
    /// callback that replaces itself must not wait for its own call.
    static CALLING: Cell<usize> = const { Cell::new(0) };
}

static LOGGER: Lazy<Logger> = Lazy::new(|| Logger {
    max: AtomicU8::new(env_level().map_or(0, |l| l as u8)),
    sink: RwLock::new(None),
});

/// The level `BROWSERBASE_LOG` asks for (`debug`, `info`, `warn`, `error`;
/// unset, empty or `off` is none). An unknown value is reported once on
/// stderr and turns logging off, rather than failing every call.
fn env_level() -> Option<Level> {
    let value = std::env::var(LOG_ENV).ok()?;
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "off" | "none" | "0" => None,
        "error" => Some(Level::Error),
        "warn" | "warning" => Some(Level::Warn),
        "info" => Some(Level::Info),
        "debug" | "trace" => Some(Level::Debug),
        _ => {
            eprintln!(
                "browserbase: {LOG_ENV}={value:?} is not one of debug, info, warn, error, off; logging stays off"
            );
            None
        }
    }
}

/// Whether a line at `level` would go anywhere.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LOGGER.max.load(Ordering::Relaxed)
}

/// Sends a line at `level` to the callback, or else to stderr.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = args.to_string();
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
            let _counted = CallGuard(&i);
            let outer = CALLING.with(|c| c.replace(Arc::as_ptr(&i) as usize));
            (i.f)(level, &line);
            CALLING.with(|c| c.set(outer));
        }
        None => eprintln!("browserbase: {level}: {line}"),
    }
}

/// Routes lines at `max` and above to `sink`. `None` restores the default:
/// stderr, at the level `BROWSERBASE_LOG` asks for. Returns once calls of the
/// replaced callback under way on other threads have finished, so whatever
/// it used may be freed then (a callback may replace itself: its own call is
/// not waited for).
pub fn set_logger(sink: Option<LogFn>, max: Option<Level>) {
    let level = match &sink {
        Some(_) => max.map_or(0, |l| l as u8),
        None => env_level().map_or(0, |l| l as u8),
    };
    let installed = sink.map(|f| {
        Arc::new(Installed {
            f,
            calls: AtomicUsize::new(0),
        })
    });
    let old = {
        let mut slot = LOGGER.sink.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *slot, installed)
    };
    LOGGER.max.store(level, Ordering::Relaxed);
    if let Some(old) = old {
        let own = CALLING.with(|c| usize::from(c.get() == Arc::as_ptr(&old) as usize));
        while old.calls.load(Ordering::SeqCst) > own {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

/// The level lines are shown at now (`None`: off).
pub fn current_level() -> Option<Level> {
    Level::from_u8(LOGGER.max.load(Ordering::Relaxed))
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

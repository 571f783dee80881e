//! The troubleshooting log: one line per request, retry and redirect, to
//! stderr when `BROWSERBASE_LOG` asks for it, or to the host application's
//! own logger through a callback. Lines never contain the API key: nothing
//! that formats a line ever has it.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
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
    sink: RwLock<Option<LogFn>>,
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
    // Clone the callback out of the lock: it may itself change the logger.
    let sink = LOGGER
        .sink
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match sink {
        Some(f) => f(level, &line),
        None => eprintln!("browserbase: {level}: {line}"),
    }
}

/// Routes lines at `max` and above to `sink`. `None` restores the default:
/// stderr, at the level `BROWSERBASE_LOG` asks for.
pub fn set_logger(sink: Option<LogFn>, max: Option<Level>) {
    let level = match &sink {
        Some(_) => max.map_or(0, |l| l as u8),
        None => env_level().map_or(0, |l| l as u8),
    };
    *LOGGER.sink.write().unwrap_or_else(|p| p.into_inner()) = sink;
    LOGGER.max.store(level, Ordering::Relaxed);
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

//! The command line.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "usage: bb-stand-in-server [--listen ADDR] [--api-key KEY] [--sessions DIR] [--demo] [--sync-polls N] [--idle-timeout-ms MS] [--exit-on-stdin-eof]";

/// Idle / read timeout of a connection.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Config {
    pub listen: String,
    pub api_key: String,
    pub sessions_dir: Option<PathBuf>,
    pub demo: bool,
    /// Every session answers the empty archive to its first this many requests.
    pub sync_polls: u64,
    /// How long a read of a request may wait (between requests: how long an
    /// idle kept-alive connection stays open).
    pub read_timeout: Duration,
    pub exit_on_stdin_eof: bool,
}

pub fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        api_key: "bb_test_key".into(),
        sessions_dir: None,
        demo: false,
        sync_polls: 0,
        read_timeout: READ_TIMEOUT,
        exit_on_stdin_eof: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => config.listen = value()?,
            "--api-key" => config.api_key = value()?,
            "--sessions" => config.sessions_dir = Some(PathBuf::from(value()?)),
            "--demo" => config.demo = true,
            "--sync-polls" => {
                let v = value()?;
                config.sync_polls = v.parse().map_err(|_| {
                    format!("--sync-polls needs a whole number of requests, not {v:?}")
                })?;
            }
            "--idle-timeout-ms" => {
                let v = value()?;
                config.read_timeout = v
                    .parse()
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        format!(
                            "--idle-timeout-ms needs a positive number of milliseconds, not {v:?}"
                        )
                    })?;
            }
            "--exit-on-stdin-eof" => config.exit_on_stdin_eof = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if let Some(dir) = &config.sessions_dir {
        if !dir.is_dir() {
            return Err(format!("--sessions {}: not a directory", dir.display()));
        }
    }
    Ok(config)
}

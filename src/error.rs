//! The one error type of the core: a kind (what went wrong, for programs),
//! the HTTP status when a response came, and a message for people.

use std::fmt;

use crate::scrub::scrub;

/// What went wrong, coarse enough for a program to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A caller's argument (or an environment variable standing in for one) is unusable.
    InvalidArgument,
    /// HTTP 401.
    Authentication,
    /// HTTP 403.
    PermissionDenied,
    /// HTTP 404.
    NotFound,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    Server,
    /// Any other non-2xx HTTP status, or a redirect we refuse to follow.
    Http,
    /// No usable connection: refused, reset, DNS, TLS, a body cut short.
    Connection,
    /// The server stayed silent longer than allowed, or the whole-call deadline passed.
    Timeout,
    /// The local file system.
    Io,
    /// The body is not a usable ZIP archive.
    InvalidArchive,
    /// The caller's callback asked to stop.
    Cancelled,
    /// Waiting for the session's files ran out of time.
    NotReady,
    /// A bug in this library (a caught panic, an impossible state) or out of memory.
    Internal,
}

impl ErrorKind {
    /// The kind that an HTTP error status maps to.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Http,
        }
    }
}

/// An error with a kind, the HTTP status (if a response came) and a message
/// meant for people. Every message goes through [`scrub`] when it is made
/// (here, the one place): control characters escaped, and never the API
/// key of a call under way on this thread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    http_status: Option<u16>,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            http_status: None,
            message: scrub(&message.into()),
        }
    }

    pub fn http(status: u16, message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::from_status(status),
            http_status: Some(status),
            message: scrub(&message.into()),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// A local file-system failure, with the OS reason.
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    pub fn invalid_archive(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArchive, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status of the response that caused this error, if one came.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with its message rewritten (keeps kind and status).
    pub(crate) fn with_message(mut self, message: String) -> Error {
        self.message = scrub(&message);
        self
    }
}

/// `e` without the path the `tempfile` crate appends to its errors (`...
/// at path "/dir/.out.zip.XXXXXX.bbpart"`): a message names the path the
/// caller gave, never the library's temporary file. OS errors (which carry
/// no path) pass unchanged.
pub(crate) fn without_temp_path(e: std::io::Error) -> std::io::Error {
    if e.get_ref().is_none() {
        return e;
    }
    let text = e.to_string();
    match text.rfind(" at path \"") {
        Some(at) => std::io::Error::new(e.kind(), text[..at].to_owned()),
        None => e,
    }
}

/// An error's message followed by its sources', without repeats.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    // The innermost cause is the most useful; the outer ones add context.
    parts.reverse();
    parts.truncate(2);
    parts.join(" (") + &")".repeat(parts.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_files_path_is_cut_from_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let e = tempfile::Builder::new()
            .prefix(".x.zip.")
            .suffix(".bbpart")
            .tempfile_in(&missing)
            .unwrap_err();
        assert!(e.to_string().contains(".bbpart"), "{e}");
        let cut = without_temp_path(e);
        assert_eq!(cut.kind(), std::io::ErrorKind::NotFound);
        assert!(!cut.to_string().contains(".bbpart"), "{cut}");
        assert!(cut.to_string().contains("No such file"), "{cut}");
        let os = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(without_temp_path(os).raw_os_error(), Some(libc::EMFILE));
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(ErrorKind::from_status(401), ErrorKind::Authentication);
        assert_eq!(ErrorKind::from_status(403), ErrorKind::PermissionDenied);
        assert_eq!(ErrorKind::from_status(404), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_status(500), ErrorKind::Server);
        assert_eq!(ErrorKind::from_status(599), ErrorKind::Server);
        assert_eq!(ErrorKind::from_status(400), ErrorKind::Http);
        assert_eq!(ErrorKind::from_status(418), ErrorKind::Http);
        assert_eq!(Error::http(503, "x").http_status(), Some(503));
    }
}

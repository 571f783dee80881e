//! libbrowserbase: fetch the files a Browserbase browser session downloaded.
//!
//! The Rust core (this crate's public API) knows nothing of C: a [`Client`]
//! with its [`ClientConfig`], one download loop, and sinks for a file, a
//! buffer or a callback. The C ABI in [`ffi`] is a thin skin over it that
//! checks arguments, converts, and catches panics.

mod archive;
mod client;
mod config;
mod error;
pub mod ffi;
mod request;
mod retry;
mod sink;

pub use archive::{check_archive, check_leading_signature, EMPTY_ARCHIVE};
pub use client::{default_client, Client};
pub use config::*;
pub use error::{Error, ErrorKind, Result};
pub use request::{check_session_id, downloads_url, ApiKey, API_KEY_ENV};
pub use sink::{BufferSink, CallbackSink, FileSink, Sink};

/// This library's version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

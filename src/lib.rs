//! libbrowserbase: fetch the files a Browserbase browser session downloaded.
//!
//! The Rust core (this crate's public API) knows nothing of C: a [`Client`]
//! with its [`ClientConfig`], one download loop, and sinks for a file, a
//! buffer or a callback; waiting until a session's files are there
//! ([`Client::wait_for_downloads`]); and reading an archive ([`Archive`]):
//! listing its entries and extracting them safely. The C ABI in [`ffi`] is a
//! thin skin over it that checks arguments, converts, and catches panics.

// Every unsafe operation sits in an `unsafe` block of its own, even inside an
// `unsafe fn`, and every such block says why it is sound.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod archive;
mod batch;
mod cancel;
mod client;
mod config;
mod error;
mod extract;
mod failure;
mod fetch;
pub mod ffi;
pub mod log;
mod request;
mod retry;
mod scrub;
mod sink;
mod tls;
mod transport;
mod wait;

pub use archive::{
    check_archive, check_leading_signature, original_name, Archive, Entry, EntryKind, EMPTY_ARCHIVE,
};
pub use batch::{
    session_file_name, session_id_from_file_name, BatchProgress, BatchProgressFn, BatchReport,
    SessionResult, DEFAULT_CONCURRENCY, MAX_BATCH_SESSIONS, MAX_CONCURRENCY,
};
pub use cancel::{CallOptions, Cancel};
pub use client::Client;
pub use config::*;
pub use error::{Error, ErrorKind, Result};
pub use extract::{
    ExtractLimits, Extracted, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_RATIO, DEFAULT_MAX_TOTAL_BYTES,
    RATIO_GRACE_BYTES,
};
pub use request::{check_session_id, downloads_url, ApiKey, API_KEY_ENV};
pub use sink::{BufferSink, CallbackSink, FileSink, Sink};
pub use wait::{WaitOptions, WaitReport, FIRST_POLL_DELAY, MAX_POLL_DELAY, POLL_OVERRUN};

/// This library's version, as in Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The types that cross threads, checked when the crate compiles: a
/// [`Client`] (and the C handles around it) is shared by every thread that
/// calls it, and a transport leased by one thread goes back to the pool for
/// another (`transport.rs`).
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    const fn send<T: Send>() {}
    send_and_sync::<Client>();
    send_and_sync::<transport::Transports>();
    send::<transport::Transport>();
    send_and_sync::<ffi::bb_client>();
    send_and_sync::<ffi::bb_archive>();
    send_and_sync::<Archive>();
};

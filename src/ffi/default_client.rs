//! The process-wide client of the free functions (`bb_download_session`,
//! `bb_wait_for_downloads`, ...): only the C layer has calls without a
//! client.

use std::sync::Arc;

use once_cell::race::OnceBox;

use super::client::bb_client;
use crate::client::Client;
use crate::error::Result;

/// Built from the environment on first use and kept for the life of the
/// process (never freed). A forked child keeps its settings and gets its own
/// HTTP stack on first use there (see `transport.rs`).
///
/// A race, not a lock: threads that build it at once each build one and the
/// first to publish wins. A lock held by another thread at the moment of a
/// fork() would stay locked forever in the child.
static DEFAULT_CLIENT: OnceBox<Arc<Client>> = OnceBox::new();

/// The default client, built on first use. An unusable environment is an
/// error at every call until it is fixed.
pub(crate) fn default_client() -> Result<Arc<Client>> {
    DEFAULT_CLIENT
        .get_or_try_init(|| Client::from_env().map(|client| Box::new(Arc::new(client))))
        .cloned()
}

/// The client a call uses: the caller's, or the process-wide default one.
/// Every C call that takes an optional `bb_client` goes through this.
pub(crate) fn with_client<T>(
    client: Option<&bb_client>,
    f: impl FnOnce(&Client) -> Result<T>,
) -> Result<T> {
    match client {
        Some(c) => f(&c.inner),
        None => f(&*default_client()?),
    }
}

//! The client: its settings, its connections, and the public calls. Each
//! call checks its arguments, picks a sink, and hands over to the one
//! download loop (`fetch.rs`).

use std::path::Path;

use crate::cancel::CallOptions;
use crate::config::ClientConfig;
use crate::error::Result;
use crate::request::{check_session_id, downloads_url, ApiKey};
use crate::sink::{BufferSink, CallbackSink, FileSink, Sink};
use crate::transport::Transports;

/// A connection pool plus settings. Cheap to share between threads: every
/// method takes `&self`.
pub struct Client {
    /// The HTTP stacks the calls run on (see `transport.rs`).
    pub(crate) transports: Transports,
    pub(crate) config: ClientConfig,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish()
    }
}

impl Client {
    /// Builds a client. It starts no thread: each call runs on the thread
    /// that makes it (but for host name lookups: see `transport.rs`).
    /// A plain-http base URL with a plain-http proxy on another host is
    /// refused ([`ClientConfig::check_proxy`]).
    pub fn new(config: ClientConfig) -> Result<Client> {
        config.check_proxy("proxy")?;
        Ok(Client {
            transports: Transports::new(&config)?,
            config,
        })
    }

    /// A client configured from the `BROWSERBASE_*` environment variables.
    pub fn from_env() -> Result<Client> {
        Client::new(ClientConfig::from_env()?)
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Downloads session `session_id`'s archive into `sink`; returns its size.
    ///
    /// The key is `api_key`, else the client's, else `BROWSERBASE_API_KEY`.
    /// All arguments are checked before anything is sent.
    pub fn download(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        sink: &mut dyn Sink,
    ) -> Result<u64> {
        self.download_with_options(api_key, session_id, sink, &CallOptions::default())
    }

    /// As [`Client::download`], with per-call options: a triggered
    /// [`Cancel`](crate::Cancel) ends it with [`ErrorKind::Cancelled`]
    /// (at once, nothing sent, when triggered before the call).
    ///
    /// [`ErrorKind::Cancelled`]: crate::ErrorKind::Cancelled
    pub fn download_with_options(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        sink: &mut dyn Sink,
        options: &CallOptions,
    ) -> Result<u64> {
        let key = self.resolve_key(api_key)?;
        // Every message of the call is scrubbed of the key from here on.
        let _in_use = key.in_use();
        check_session_id(session_id)?;
        let url = downloads_url(&self.config.base_url, session_id)?;
        options.check()?;
        self.fetch_blocking(&key, &url, sink, options)
    }

    /// Writes the archive to `path` atomically (see [`FileSink`]).
    pub fn download_to_file(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        path: &Path,
    ) -> Result<u64> {
        self.download_to_file_with_options(api_key, session_id, path, &CallOptions::default())
    }

    /// As [`Client::download_to_file`], with per-call options (see
    /// [`Client::download_with_options`]). Cancelled, it leaves no file.
    pub fn download_to_file_with_options(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        path: &Path,
        options: &CallOptions,
    ) -> Result<u64> {
        // Check key and id first, so a bad argument creates no file.
        let key = self.resolve_key(api_key)?;
        // Every message of the call, those about `path` included (which
        // may hold the key), is scrubbed of the key from here on.
        let _in_use = key.in_use();
        check_session_id(session_id)?;
        let url = downloads_url(&self.config.base_url, session_id)?;
        options.check()?;
        let mut sink = FileSink::create(path, self.config.fsync)?;
        self.fetch_blocking(&key, &url, &mut sink, options)
    }

    /// Returns the archive in memory.
    pub fn download_to_vec(&self, api_key: Option<&str>, session_id: &str) -> Result<Vec<u8>> {
        self.download_to_vec_with_options(api_key, session_id, &CallOptions::default())
    }

    /// As [`Client::download_to_vec`], with per-call options (see
    /// [`Client::download_with_options`]).
    pub fn download_to_vec_with_options(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        options: &CallOptions,
    ) -> Result<Vec<u8>> {
        let mut sink = BufferSink::new();
        self.download_with_options(api_key, session_id, &mut sink, options)?;
        Ok(sink.into_vec())
    }

    /// Hands each chunk to `on_chunk`; returning `false` cancels.
    pub fn download_with<F: FnMut(&[u8]) -> bool>(
        &self,
        api_key: Option<&str>,
        session_id: &str,
        on_chunk: F,
    ) -> Result<u64> {
        let mut sink = CallbackSink::new(on_chunk);
        self.download(api_key, session_id, &mut sink)
    }

    pub(crate) fn resolve_key(&self, api_key: Option<&str>) -> Result<ApiKey> {
        match (api_key, &self.config.api_key) {
            (Some(k), _) => ApiKey::new(k, "api_key"),
            (None, Some(k)) => Ok(k.clone()),
            (None, None) => ApiKey::from_env(),
        }
    }
}

//! Client settings: their defaults, their checks, and how the process-wide
//! default client reads them from the environment.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::error::{Error, Result};
use crate::request::ApiKey;

pub const DEFAULT_BASE_URL: &str = "https://api.browserbase.com";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(5_000);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(60_000);
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// More retries than this is a configuration mistake, not a policy.
pub const MAX_RETRIES_LIMIT: u32 = 100;

pub const BASE_URL_ENV: &str = "BROWSERBASE_BASE_URL";
pub const CONNECT_TIMEOUT_ENV: &str = "BROWSERBASE_CONNECT_TIMEOUT_MS";
pub const TIMEOUT_ENV: &str = "BROWSERBASE_TIMEOUT_MS";
pub const DEADLINE_ENV: &str = "BROWSERBASE_DEADLINE_MS";
pub const MAX_RETRIES_ENV: &str = "BROWSERBASE_MAX_RETRIES";
pub const USER_AGENT_SUFFIX_ENV: &str = "BROWSERBASE_USER_AGENT_SUFFIX";
pub const CA_FILE_ENV: &str = "BROWSERBASE_CA_FILE";
pub const PROXY_ENV: &str = "BROWSERBASE_PROXY";
pub const FSYNC_ENV: &str = "BROWSERBASE_FSYNC";
pub const MAX_ARCHIVE_BYTES_ENV: &str = "BROWSERBASE_MAX_ARCHIVE_BYTES";
pub const RESUME_ENV: &str = "BROWSERBASE_RESUME";

/// Called as a download progresses with the bytes received so far and the
/// total when the server sent Content-Length; `false` cancels the download.
/// A retried download reports from 0 again.
#[derive(Clone)]
pub struct Progress(pub(crate) Arc<dyn Fn(u64, Option<u64>) -> bool + Send + Sync>);

impl Progress {
    pub fn new(f: impl Fn(u64, Option<u64>) -> bool + Send + Sync + 'static) -> Progress {
        Progress(Arc::new(f))
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// Settings of a [`crate::Client`]. Every setter checks its input, so a
/// config that exists is a config that can be used.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) base_url: Url,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) deadline: Option<Duration>,
    pub(crate) max_retries: u32,
    pub(crate) user_agent_suffix: Option<String>,
    pub(crate) extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    pub(crate) proxy: Option<Url>,
    pub(crate) fsync: bool,
    pub(crate) progress: Option<Progress>,
    pub(crate) max_archive_bytes: Option<u64>,
    /// A retry after a cut body continues it with a range request, when
    /// the server allows (see `fetch.rs`).
    pub(crate) resume: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("default base URL parses"),
            api_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            deadline: None,
            max_retries: DEFAULT_MAX_RETRIES,
            user_agent_suffix: None,
            extra_roots: Vec::new(),
            proxy: None,
            fsync: false,
            progress: None,
            max_archive_bytes: None,
            resume: true,
        }
    }
}

impl ClientConfig {
    /// Built-in defaults overridden by the `BROWSERBASE_*` environment
    /// variables. An unusable value is an `InvalidArgument` naming the variable.
    pub fn from_env() -> Result<ClientConfig> {
        let mut c = ClientConfig::default();
        c.apply_env()?;
        Ok(c)
    }

    /// Applies every `BROWSERBASE_*` variable that is set over these settings.
    pub fn apply_env(&mut self) -> Result<()> {
        let c = self;
        if let Some(v) = env_var(BASE_URL_ENV)? {
            c.set_base_url_named(&v, BASE_URL_ENV)?;
        }
        if let Some(ms) = env_u64(CONNECT_TIMEOUT_ENV)? {
            c.connect_timeout = positive_ms(ms, CONNECT_TIMEOUT_ENV)?;
        }
        if let Some(ms) = env_u64(TIMEOUT_ENV)? {
            c.timeout = positive_ms(ms, TIMEOUT_ENV)?;
        }
        if let Some(ms) = env_u64(DEADLINE_ENV)? {
            c.deadline = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(n) = env_u64(MAX_RETRIES_ENV)? {
            c.set_max_retries_named(n, MAX_RETRIES_ENV)?;
        }
        if let Some(v) = env_var(USER_AGENT_SUFFIX_ENV)? {
            c.set_user_agent_suffix_named(&v, USER_AGENT_SUFFIX_ENV)?;
        }
        if let Some(v) = env_var(CA_FILE_ENV)? {
            c.add_ca_file(Path::new(&v)).map_err(|e| {
                let message = format!("{CA_FILE_ENV}: {}", e.message());
                e.with_message(message)
            })?;
        }
        if let Some(v) = env_var(PROXY_ENV)? {
            c.set_proxy_named(&v, PROXY_ENV)?;
            c.check_proxy(PROXY_ENV)?;
        }
        if let Some(n) = env_u64(MAX_ARCHIVE_BYTES_ENV)? {
            c.set_max_archive_bytes((n > 0).then_some(n));
        }
        if let Some(v) = env_var(FSYNC_ENV)? {
            c.fsync = env_bool(&v, FSYNC_ENV)?;
        }
        if let Some(v) = env_var(RESUME_ENV)? {
            c.resume = env_bool(&v, RESUME_ENV)?;
        }
        Ok(())
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `https://` anywhere; plain `http://` only to a loopback host, so the
    /// key never travels in clear text over a network.
    pub fn set_base_url(&mut self, url: &str) -> Result<()> {
        self.set_base_url_named(url, "base_url")
    }

    fn set_base_url_named(&mut self, url: &str, what: &str) -> Result<()> {
        self.base_url = check_base_url(url, what)?;
        Ok(())
    }

    /// The key used when a call passes none (before `BROWSERBASE_API_KEY`).
    pub fn set_api_key(&mut self, key: &str) -> Result<()> {
        self.api_key = Some(ApiKey::new(key, "api_key")?);
        Ok(())
    }

    pub fn set_connect_timeout(&mut self, t: Duration) -> Result<()> {
        self.connect_timeout = positive(t, "connect_timeout")?;
        Ok(())
    }

    /// Longest silence allowed while waiting for or reading the response.
    pub fn set_timeout(&mut self, t: Duration) -> Result<()> {
        self.timeout = positive(t, "timeout")?;
        Ok(())
    }

    /// A limit on the whole call, retries and waits included. `None`: no limit.
    pub fn set_deadline(&mut self, t: Option<Duration>) {
        self.deadline = t.filter(|d| !d.is_zero());
    }

    pub fn set_max_retries(&mut self, n: u32) -> Result<()> {
        self.set_max_retries_named(n as u64, "max_retries")
    }

    fn set_max_retries_named(&mut self, n: u64, what: &str) -> Result<()> {
        if n > MAX_RETRIES_LIMIT as u64 {
            return Err(Error::invalid_argument(format!(
                "{what} is {n}; at most {MAX_RETRIES_LIMIT} retries are allowed"
            )));
        }
        self.max_retries = n as u32;
        Ok(())
    }

    /// Appended to `browserbase-c/<version>` in the User-Agent header.
    pub fn set_user_agent_suffix(&mut self, suffix: &str) -> Result<()> {
        self.set_user_agent_suffix_named(suffix, "user_agent_suffix")
    }

    fn set_user_agent_suffix_named(&mut self, suffix: &str, what: &str) -> Result<()> {
        if suffix.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
            return Err(Error::invalid_argument(format!(
                "{what} must be printable ASCII"
            )));
        }
        self.user_agent_suffix = (!suffix.trim().is_empty()).then(|| suffix.trim().to_owned());
        Ok(())
    }

    pub fn user_agent(&self) -> String {
        let base = format!("browserbase-c/{}", crate::VERSION);
        match &self.user_agent_suffix {
            Some(s) => format!("{base} {s}"),
            None => base,
        }
    }

    /// Trusts the CA certificates in a PEM file, beside the built-in roots.
    pub fn add_ca_file(&mut self, path: &Path) -> Result<()> {
        let pem = read_ca_file(path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::invalid_argument(format!("CA file {} is not valid PEM: {e}", path.display()))
            })?;
        if certs.is_empty() {
            return Err(Error::invalid_argument(format!(
                "CA file {} holds no certificate",
                path.display()
            )));
        }
        // The roots are loaded on the first https handshake (src/tls.rs):
        // a certificate that cannot be a trust anchor is refused now.
        let mut check = rustls::RootCertStore::empty();
        for (i, cert) in certs.iter().enumerate() {
            check.add(cert.clone()).map_err(|e| {
                Error::invalid_argument(format!(
                    "CA file {}: certificate {} is unusable: {e}",
                    path.display(),
                    i + 1
                ))
            })?;
        }
        self.extra_roots.extend(certs);
        Ok(())
    }

    /// All requests go through this proxy: an `http://` or `https://` URL
    /// (anything else, `socks5://` included, is refused). With a plain-http
    /// (loopback) base URL the proxy receives each request whole, key
    /// included, so it must then be loopback or `https://`: [`Client::new`]
    /// refuses a plain-http proxy on another host (see [`Self::check_proxy`]).
    ///
    /// [`Client::new`]: crate::Client::new
    pub fn set_proxy(&mut self, url: &str) -> Result<()> {
        self.set_proxy_named(url, "proxy")
    }

    /// Refuses a plain-http base URL through a plain-http proxy on another
    /// host: the request, `X-BB-API-Key` included, would cross the network
    /// in clear text to the proxy (which then reaches *its* loopback, not
    /// ours). The proxy must be acceptable as a base URL itself. System
    /// proxies (`HTTP_PROXY`...) never apply to a loopback base URL, so only
    /// an explicit proxy is checked. `what` names the proxy's source.
    pub(crate) fn check_proxy(&self, what: &str) -> Result<()> {
        let Some(proxy) = &self.proxy else {
            return Ok(());
        };
        if self.base_url.scheme() != "http" || proxy.scheme() != "http" || is_loopback(proxy) {
            return Ok(());
        }
        // The host alone: the proxy URL may carry credentials.
        Err(Error::invalid_argument(format!(
            "{what} is plain http:// to a non-loopback host ({}) and the base URL {} is plain http://: \
             the API key would travel in clear text to the proxy; use an https:// base URL, \
             an https:// proxy or a loopback one",
            proxy.host_str().unwrap_or(""),
            self.base_url.origin().ascii_serialization()
        )))
    }

    fn set_proxy_named(&mut self, url: &str, what: &str) -> Result<()> {
        let parsed = Url::parse(url)
            .map_err(|e| Error::invalid_argument(format!("{what} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid_argument(format!(
                "{what} must be an http:// or https:// URL"
            )));
        }
        self.proxy = Some(parsed);
        Ok(())
    }

    /// Reports each download's progress (see [`Progress`]); `None` stops it.
    pub fn set_progress(&mut self, progress: Option<Progress>) {
        self.progress = progress;
    }

    /// fsync the file (and its directory) before and after the rename.
    pub fn set_fsync(&mut self, on: bool) {
        self.fsync = on;
    }

    /// The largest archive a download accepts, in bytes; `None` (or 0): no
    /// limit, the default. A larger one fails with an `Http` error, not
    /// retried: at once when the server announces its size, otherwise
    /// before the byte past the limit reaches the file, buffer or callback.
    /// Whether a retry after a cut body continues it (`Range`/`If-Range`)
    /// when the server allows, instead of starting over. Default on.
    pub fn set_resume(&mut self, on: bool) {
        self.resume = on;
    }

    pub fn set_max_archive_bytes(&mut self, max: Option<u64>) {
        self.max_archive_bytes = max.filter(|&n| n > 0);
    }
}

/// Largest CA file read: real bundles are a few hundred KiB.
const MAX_CA_FILE: u64 = 16 << 20;

/// A CA file's bytes. Only a regular file of sane size is read: a FIFO
/// would block forever and a device such as /dev/zero would never end.
fn read_ca_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io =
        |e: std::io::Error| Error::io(format_args!("cannot read CA file {}", path.display()), &e);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(Error::invalid_argument(format!(
            "CA file {} is not a regular file",
            path.display()
        )));
    }
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE + 1)
        .read_to_end(&mut pem)
        .map_err(io)?;
    if pem.len() as u64 > MAX_CA_FILE {
        return Err(Error::invalid_argument(format!(
            "CA file {} is larger than {} MiB",
            path.display(),
            MAX_CA_FILE >> 20
        )));
    }
    Ok(pem)
}

/// Whether a URL's host is loopback: an address in 127.0.0.0/8, ::1, or the
/// exact name `localhost` (which the HTTP stack only ever connects to at a
/// loopback address: `transport.rs`). Other names, `*.localhost` included,
/// are not: `/etc/hosts` or DNS may send them anywhere.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => is_localhost(d),
        None => false,
    }
}

/// The one host name taken for loopback.
pub(crate) fn is_localhost(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
}

/// May a request (and so the key) go to this URL? https, or http to loopback.
pub(crate) fn check_scheme(url: &Url, what: &str) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::invalid_argument(format!(
            "{what} uses plain http:// to a non-loopback host ({}); the API key must not travel in clear text: use https://",
            url.host_str().unwrap_or("")
        ))),
        s => Err(Error::invalid_argument(format!(
            "{what} has scheme {s:?}; only https:// (or http:// to loopback) is supported"
        ))),
    }
}

fn check_base_url(url: &str, what: &str) -> Result<Url> {
    let parsed = Url::parse(url.trim())
        .map_err(|e| Error::invalid_argument(format!("{what} {url:?} is not a URL: {e}")))?;
    check_scheme(&parsed, what)?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid_argument(format!("{what} has no host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid_argument(format!(
            "{what} must not carry credentials"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid_argument(format!(
            "{what} must not have a query or fragment"
        )));
    }
    Ok(parsed)
}

fn positive(t: Duration, what: &str) -> Result<Duration> {
    if t.is_zero() {
        return Err(Error::invalid_argument(format!("{what} must be positive")));
    }
    Ok(t)
}

fn positive_ms(ms: u64, what: &str) -> Result<Duration> {
    positive(Duration::from_millis(ms), what)
}

/// A variable's value; set but empty counts as unset, as in most tools.
fn env_var(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::invalid_argument(format!(
            "{name} is not valid UTF-8"
        ))),
    }
}

fn env_bool(v: &str, name: &str) -> Result<bool> {
    match v {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(Error::invalid_argument(format!(
            "{name} must be 0 or 1, not {v:?}"
        ))),
    }
}

fn env_u64(name: &str) -> Result<Option<u64>> {
    let Some(v) = env_var(name)? else {
        return Ok(None);
    };
    v.trim().parse::<u64>().map(Some).map_err(|_| {
        Error::invalid_argument(format!(
            "{name} must be a non-negative whole number, not {v:?}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        let mut c = ClientConfig::default();
        for ok in [
            "https://api.browserbase.com",
            "https://example.com/prefix/",
            "http://127.0.0.1:8080",
            "http://127.5.6.7",
            "http://[::1]:9000",
            "http://localhost:1",
        ] {
            c.set_base_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "http://bb.localhost:1",
            "http://localhost.example.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@example.com",
            "https://example.com/?q=1",
            "",
        ] {
            let e = c.set_base_url(bad).unwrap_err();
            assert!(e.message().contains("base_url"), "{bad}: {e}");
        }
    }

    #[test]
    fn user_agent_has_version_and_suffix() {
        let mut c = ClientConfig::default();
        assert_eq!(c.user_agent(), format!("browserbase-c/{}", crate::VERSION));
        c.set_user_agent_suffix("mytool/2.0").unwrap();
        assert!(c.user_agent().ends_with(" mytool/2.0"));
        assert!(c.set_user_agent_suffix("x\r\ny").is_err());
    }
}

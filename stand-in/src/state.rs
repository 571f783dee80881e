//! The server's state: sessions (in memory or from `--sessions DIR`), fault
//! scripts, and the log of requests received.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::cli::Config;
use crate::script::Step;

#[derive(Clone)]
pub struct FileEntry {
    pub data: Arc<Vec<u8>>,
    pub mtime_ms: u64,
}

pub enum Content {
    /// Files zipped on demand.
    Files(BTreeMap<String, FileEntry>),
    /// Bytes answered verbatim.
    Raw(Arc<Vec<u8>>),
}

pub struct MemSession {
    pub content: Content,
    /// Changes whenever the content changes; guards the archive cache and
    /// names the archive in its `ETag`.
    pub version: u64,
    pub cache: Option<Arc<Vec<u8>>>,
    /// The archive's `Last-Modified`, in seconds since 1970.
    pub modified_s: u64,
}

/// How a session's archive answers may be validated and cut into ranges
/// (`/_control/sessions/<id>/ranges`, `etag`, `last-modified`): all on
/// unless a test turns them off, as a CDN in front of the service would.
#[derive(Clone, Copy)]
pub struct Validation {
    /// `Accept-Ranges: bytes`, and `Range: bytes=N-` honoured.
    pub ranges: bool,
    pub etag: EtagMode,
    pub last_modified: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EtagMode {
    Strong,
    Weak,
    Off,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            ranges: true,
            etag: EtagMode::Strong,
            last_modified: true,
        }
    }
}

pub struct ReadyAfter {
    pub ms: u64,
    pub started: Option<Instant>,
}

/// Signature of a session directory on disk: (name, length, mtime in ns) per file.
pub type DirSignature = Vec<(String, u64, i128)>;

/// When the server started: request times are logged relative to it.
pub fn server_started() -> Instant {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Connections accepted since start: tests use it to see keep-alive at work.
pub static CONNECTIONS_ACCEPTED: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

#[derive(Default)]
pub struct State {
    pub sessions: HashMap<String, MemSession>,
    pub scripts: HashMap<String, VecDeque<Step>>,
    pub ready_after: HashMap<String, ReadyAfter>,
    /// Content requests answered per session, for `--sync-polls`.
    pub sync_seen: HashMap<String, u64>,
    /// One entry per logged request: request line and header lines joined by '\n'.
    pub log: Vec<String>,
    /// When each logged request arrived, in microseconds since the server started.
    pub log_times: Vec<u128>,
    /// Body bytes of the answer to each logged request (what the server
    /// wrote or set out to write), in the order of `log`.
    pub log_sent: Vec<u64>,
    /// Incremented whenever the log is cleared: an answer recorded after a
    /// clear does not land on another request's line.
    pub log_epoch: u64,
    pub validation: HashMap<String, Validation>,
    /// The archive a session takes at its next `change` script step.
    pub next_archive: HashMap<String, Arc<Vec<u8>>>,
    /// The last `Last-Modified` given to any archive: each new one is later.
    pub last_modified_s: u64,
    pub dir_cache: HashMap<String, (DirSignature, Arc<Vec<u8>>)>,
    pub next_version: u64,
}

impl State {
    pub fn bump(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    /// A `Last-Modified` for new content: an hour before now (so that the
    /// answer's `Date` is well after it, which makes it a strong validator,
    /// RFC 9110 section 8.8.2.2), and later than every earlier one, so
    /// that a change is always seen even within one second.
    pub fn next_modified(&mut self) -> u64 {
        let now_s = crate::archive::now_ms() / 1000;
        self.last_modified_s = (now_s.saturating_sub(3600)).max(self.last_modified_s + 1);
        self.last_modified_s
    }

    pub fn validation(&self, id: &str) -> Validation {
        self.validation.get(id).copied().unwrap_or_default()
    }

    pub fn put_file(&mut self, id: &str, name: String, entry: FileEntry) {
        let version = self.bump();
        let modified_s = self.next_modified();
        let session = self
            .sessions
            .entry(id.to_string())
            .or_insert_with(|| MemSession {
                content: Content::Files(BTreeMap::new()),
                version,
                cache: None,
                modified_s: 0,
            });
        if let Content::Raw(_) = session.content {
            session.content = Content::Files(BTreeMap::new());
        }
        if let Content::Files(files) = &mut session.content {
            files.insert(name, entry);
        }
        session.version = version;
        session.cache = None;
        session.modified_s = modified_s;
    }

    pub fn set_content(&mut self, id: &str, content: Content) {
        let version = self.bump();
        let modified_s = self.next_modified();
        self.sessions.insert(
            id.to_string(),
            MemSession {
                content,
                version,
                cache: None,
                modified_s,
            },
        );
    }
}

pub struct Server {
    pub config: Config,
    pub state: Mutex<State>,
}

impl Server {
    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the whole server down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

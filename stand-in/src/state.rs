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
    /// Changes whenever the content changes; guards the archive cache.
    pub version: u64,
    pub cache: Option<Arc<Vec<u8>>>,
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
    pub dir_cache: HashMap<String, (DirSignature, Arc<Vec<u8>>)>,
    pub next_version: u64,
}

impl State {
    pub fn bump(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    pub fn put_file(&mut self, id: &str, name: String, entry: FileEntry) {
        let version = self.bump();
        let session = self
            .sessions
            .entry(id.to_string())
            .or_insert_with(|| MemSession {
                content: Content::Files(BTreeMap::new()),
                version,
                cache: None,
            });
        if let Content::Raw(_) = session.content {
            session.content = Content::Files(BTreeMap::new());
        }
        if let Content::Files(files) = &mut session.content {
            files.insert(name, entry);
        }
        session.version = version;
        session.cache = None;
    }

    pub fn set_content(&mut self, id: &str, content: Content) {
        let version = self.bump();
        self.sessions.insert(
            id.to_string(),
            MemSession {
                content,
                version,
                cache: None,
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

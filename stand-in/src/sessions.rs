//! Answers for a session's downloads: its archive, the empty archive while its
//! files "sync", or 404.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::archive::{build_zip, is_safe_segment, EMPTY_ZIP};
use crate::http::response::{Body, Response};
use crate::state::{Content, DirSignature, FileEntry, Server};

impl Server {
    /// The archive of a session held in memory (control API or demo).
    pub fn memory_archive(&self, id: &str) -> Option<Body> {
        let (files, version) = {
            let state = self.state();
            let session = state.sessions.get(id)?;
            match &session.content {
                Content::Raw(bytes) => return Some(Body::Bytes(bytes.clone())),
                Content::Files(files) => {
                    if let Some(cached) = &session.cache {
                        return Some(Body::Bytes(cached.clone()));
                    }
                    let files: Vec<(String, FileEntry)> =
                        files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    (files, session.version)
                }
            }
        };
        // Built without holding the lock; cached only if nothing changed meanwhile.
        let built = match build_zip(&files) {
            Ok(bytes) => Arc::new(bytes),
            Err(e) => {
                eprintln!("bb-stand-in-server: cannot build archive for {id:?}: {e}");
                return None;
            }
        };
        let mut state = self.state();
        if let Some(session) = state.sessions.get_mut(id) {
            if session.version == version {
                session.cache = Some(built.clone());
            }
        }
        Some(Body::Bytes(built))
    }

    /// A session from `--sessions DIR`: a directory zipped on demand, or `<id>.zip`.
    pub fn disk_archive(&self, id: &str) -> Option<Body> {
        let dir = self.config.sessions_dir.as_ref()?;
        if !is_safe_segment(id) {
            return None;
        }
        let session_dir = dir.join(id);
        if session_dir.is_dir() {
            return self.dir_archive(id, &session_dir);
        }
        let zip_path = dir.join(format!("{id}.zip"));
        let file = File::open(&zip_path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(Body::File(file, meta.len()))
    }

    pub fn dir_archive(&self, id: &str, dir: &Path) -> Option<Body> {
        let mut listing: Vec<(String, PathBuf, u64, i128, u64)> = Vec::new();
        for entry in fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
            let (ns, ms) = match mtime.duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_nanos() as i128, d.as_millis() as u64),
                Err(_) => (0, 0),
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            listing.push((name, path, meta.len(), ns, ms));
        }
        listing.sort_by(|a, b| a.0.cmp(&b.0));
        let signature: DirSignature = listing
            .iter()
            .map(|(name, _, len, ns, _)| (name.clone(), *len, *ns))
            .collect();
        if let Some((sig, bytes)) = self.state().dir_cache.get(id) {
            if *sig == signature {
                return Some(Body::Bytes(bytes.clone()));
            }
        }
        let mut files = Vec::with_capacity(listing.len());
        for (name, path, _, _, ms) in listing {
            let data = fs::read(&path).ok()?;
            files.push((
                name,
                FileEntry {
                    data: Arc::new(data),
                    mtime_ms: ms,
                },
            ));
        }
        let built = Arc::new(build_zip(&files).ok()?);
        self.state()
            .dir_cache
            .insert(id.to_string(), (signature, built.clone()));
        Some(Body::Bytes(built))
    }

    /// The answer for a session as if the key were right.
    pub fn content_answer(&self, id: &str) -> Response {
        {
            let mut state = self.state();
            if let Some(ready) = state.ready_after.get(id) {
                let started = ready.started.unwrap_or_else(Instant::now);
                if started.elapsed() < Duration::from_millis(ready.ms) {
                    return Response::zip(Body::Static(&EMPTY_ZIP));
                }
                state.ready_after.remove(id);
            }
        }
        match self.memory_archive(id).or_else(|| self.disk_archive(id)) {
            Some(body) => {
                if self.config.sync_polls > 0 {
                    let mut state = self.state();
                    let seen = state.sync_seen.entry(id.to_string()).or_default();
                    *seen += 1;
                    if *seen <= self.config.sync_polls {
                        return Response::zip(Body::Static(&EMPTY_ZIP));
                    }
                }
                Response::zip(body)
            }
            None => Response::json(404, "Session not found"),
        }
    }
}

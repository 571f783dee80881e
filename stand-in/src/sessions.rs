//! Answers for a session's downloads: its archive, the empty archive while its
//! files "sync", or 404.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use std::hash::{Hash, Hasher};

use crate::archive::{build_zip, civil_from_days, is_safe_segment, now_ms, EMPTY_ZIP};
use crate::http::request::Head;
use crate::http::response::{Body, Response};
use crate::state::{Content, DirSignature, EtagMode, FileEntry, Server, Validation};

impl Server {
    /// The archive of a session held in memory (control API or demo).
    pub fn memory_archive(&self, id: &str) -> Option<Archive> {
        let (files, version, modified_s) = {
            let state = self.state();
            let session = state.sessions.get(id)?;
            let archive = |bytes: &Arc<Vec<u8>>| Archive {
                tag: format!("m{}-{:x}", session.version, bytes.len()),
                modified_s: session.modified_s,
                body: Body::Bytes(bytes.clone()),
            };
            match &session.content {
                Content::Raw(bytes) => return Some(archive(bytes)),
                Content::Files(files) => {
                    if let Some(cached) = &session.cache {
                        return Some(archive(cached));
                    }
                    let files: Vec<(String, FileEntry)> =
                        files.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    (files, session.version, session.modified_s)
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
        Some(Archive {
            tag: format!("m{version}-{:x}", built.len()),
            modified_s,
            body: Body::Bytes(built),
        })
    }

    /// A session from `--sessions DIR`: a directory zipped on demand, or `<id>.zip`.
    pub fn disk_archive(&self, id: &str) -> Option<Archive> {
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
        let (ns, s) = match meta.modified().map(|t| t.duration_since(UNIX_EPOCH)) {
            Ok(Ok(d)) => (d.as_nanos(), d.as_secs()),
            _ => (0, 0),
        };
        Some(Archive {
            tag: format!("f{ns:x}-{:x}", meta.len()),
            modified_s: s,
            body: Body::File(file, meta.len()),
        })
    }

    pub fn dir_archive(&self, id: &str, dir: &Path) -> Option<Archive> {
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
        let identity = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            signature.hash(&mut hasher);
            hasher.finish()
        };
        let modified_s = signature
            .iter()
            .map(|(_, _, ns)| (*ns / 1_000_000_000).max(0) as u64)
            .max()
            .unwrap_or(0);
        let archive = |bytes: &Arc<Vec<u8>>| Archive {
            tag: format!("d{identity:x}-{:x}", bytes.len()),
            modified_s,
            body: Body::Bytes(bytes.clone()),
        };
        if let Some((sig, bytes)) = self.state().dir_cache.get(id) {
            if *sig == signature {
                return Some(archive(bytes));
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
        Some(archive(&built))
    }

    /// The answer for a session as if the key were right: its archive,
    /// whole or (for `Range: bytes=N-` with a matching `If-Range`, when
    /// ranges are on) from byte N, with the session's validators; `fault`
    /// makes a `206` lie in one of the ways a client must catch.
    pub fn content_answer(&self, id: &str, head: &Head, fault: Option<RangeFault>) -> Response {
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
            Some(archive) => {
                let validation = {
                    let mut state = self.state();
                    if self.config.sync_polls > 0 {
                        let seen = state.sync_seen.entry(id.to_string()).or_default();
                        *seen += 1;
                        if *seen <= self.config.sync_polls {
                            return Response::zip(Body::Static(&EMPTY_ZIP));
                        }
                    }
                    state.validation(id)
                };
                archive_answer(archive, validation, head, fault)
            }
            None => Response::json(404, "Session not found"),
        }
    }
}

/// A session's archive and what identifies this version of it.
pub struct Archive {
    pub body: Body,
    /// The opaque part of its entity tag (without quotes or `W/`).
    pub tag: String,
    pub modified_s: u64,
}

/// The ways a `206` answer can be wrong (fault steps).
#[derive(Debug, Clone, Copy)]
pub enum RangeFault {
    /// Starts one byte after the asked start (and says so).
    WrongStart,
    /// Says the whole is one byte longer than it is.
    WrongTotal,
    /// No `Content-Range` at all.
    NoContentRange,
    /// A `206` from byte N (`unasked-206 N`), whether or not a range was asked.
    Unasked(u64),
    /// A `206` as asked, carrying another entity tag and date than the
    /// archive's (the ones If-Range matched).
    OtherValidator,
}

fn archive_answer(
    archive: Archive,
    validation: Validation,
    head: &Head,
    fault: Option<RangeFault>,
) -> Response {
    let etag = match validation.etag {
        EtagMode::Strong => Some(format!("\"{}\"", archive.tag)),
        EtagMode::Weak => Some(format!("W/\"{}\"", archive.tag)),
        EtagMode::Off => None,
    };
    let modified = validation
        .last_modified
        .then(|| http_date(archive.modified_s));
    let len = archive.body.len();
    let start = asked_start(head).filter(|_| validation.ranges).filter(|_| {
        // If-Range: a strong entity tag or the date, compared exactly
        // (weak tags never match, RFC 9110 section 13.1.5).
        match head.values("if-range").next() {
            None => true,
            Some(v) if v.starts_with("W/") => false,
            Some(v) if v.starts_with('"') => {
                validation.etag == EtagMode::Strong && etag.as_deref() == Some(v)
            }
            Some(v) => modified.as_deref() == Some(v),
        }
    });
    let (start, fault) = match fault {
        Some(RangeFault::Unasked(n)) => (Some(n), None),
        Some(f) if start.is_some() => (start, Some(f)),
        _ => (start, None),
    };
    let mut resp = match start {
        Some(n) if n >= len => Response::json(416, "Range Not Satisfiable")
            .header("Content-Range", &format!("bytes */{len}")),
        Some(n) => {
            let (from, total) = match fault {
                Some(RangeFault::WrongStart) => ((n + 1).min(len), len),
                Some(RangeFault::WrongTotal) => (n, len + 1),
                _ => (n, len),
            };
            let mut resp = Response::zip(Body::Part(Box::new(archive.body), from));
            resp.status = 206;
            if !matches!(fault, Some(RangeFault::NoContentRange)) {
                resp = resp.header(
                    "Content-Range",
                    &format!("bytes {from}-{}/{total}", len.saturating_sub(1)),
                );
            }
            resp
        }
        None => Response::zip(archive.body),
    };
    if validation.ranges {
        resp = resp.header("Accept-Ranges", "bytes");
    }
    let lie = matches!(fault, Some(RangeFault::OtherValidator));
    if let Some(etag) = etag {
        let etag = if lie {
            etag.replace(&archive.tag, "other")
        } else {
            etag
        };
        resp = resp.header("ETag", &etag);
    }
    if let Some(modified) = modified {
        let modified = if lie {
            http_date(archive.modified_s + 1)
        } else {
            modified
        };
        resp = resp.header("Last-Modified", &modified);
    }
    resp.header("Date", &http_date(now_ms() / 1000))
}

/// N from a `Range: bytes=N-` (or `bytes=N-M`, served from N to the end:
/// the client never asks for less). Any other form is not honoured.
fn asked_start(head: &Head) -> Option<u64> {
    let mut values = head.values("range");
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, _) = spec.split_once('-')?;
    first.trim().parse().ok()
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

//! `bb-stand-in-server`: a stand-in for the Browserbase session downloads endpoint.
//!
//! Used by the tests (Rust, Python and C), the demo and the benchmarks. It speaks
//! hand-written HTTP/1.1 over `std::net` so that faults can be injected precisely:
//! connections cut mid-body, lying `Content-Length`, stalls, resets.
//!
//! ```text
//! bb-stand-in-server [--listen ADDR] [--api-key KEY] [--sessions DIR] [--demo]
//!                    [--sync-polls N] [--idle-timeout-ms MS] [--exit-on-stdin-eof]
//! ```
//!
//! `--idle-timeout-ms MS` closes a connection that sends nothing for MS
//! milliseconds (default 120000): kept-alive connections the server closes
//! while the client has them idle, as real servers and load balancers do.
//!
//! `--sync-polls N` makes every session answer the 22-byte empty archive for its
//! first N downloads requests (with a valid key, to an existing session), as the
//! service does while it syncs a session's files; then its files. Deleting a
//! session through the control API resets its count.
//!
//! After binding, exactly one line `listening http://HOST:PORT` is printed to stdout.
//!
//! * `GET /v1/sessions/<id>/downloads` with `X-BB-API-Key` answers the session's files
//!   as a ZIP archive, the way the real service does (timestamped entry names, the
//!   22-byte empty archive for a session without files).
//! * `/_control/...` (no key) manages sessions, scripts faults and exposes the log of
//!   every non-control request received. See `control()` below.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Cursor, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted on a control request (archives, files).
const MAX_CONTROL_BODY: u64 = 1 << 30;
/// Largest body accepted (and discarded) on any other request.
const MAX_OTHER_BODY: u64 = 1 << 20;
/// Idle / read timeout of a connection.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Write timeout (a write making no progress for this long fails).
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);
/// Buffer size of the read/write fallback when `sendfile` is not usable.
const COPY_CHUNK: usize = 1 << 20;
/// Bodies up to this size are sent in the same write as the head.
const COALESCE_LIMIT: usize = 256 * 1024;

/// The archive the service answers for a session without files: an end of central
/// directory record and nothing else.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

const DEMO_SESSION: &str = "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80";
const DEMO_EMPTY_SESSION: &str = "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91";
/// Fixed "download times" of the demo files, so the demo archive is reproducible.
const DEMO_PDF_MS: u64 = 1_719_265_797_164;
const DEMO_CSV_MS: u64 = 1_719_265_797_171;

const USAGE: &str = "usage: bb-stand-in-server [--listen ADDR] [--api-key KEY] [--sessions DIR] [--demo] [--sync-polls N] [--idle-timeout-ms MS] [--exit-on-stdin-eof]";

// ---------------------------------------------------------------------------
// Configuration and state
// ---------------------------------------------------------------------------

struct Config {
    listen: String,
    api_key: String,
    sessions_dir: Option<PathBuf>,
    demo: bool,
    /// Every session answers the empty archive to its first this many requests.
    sync_polls: u64,
    /// How long a read of a request may wait (between requests: how long an
    /// idle kept-alive connection stays open).
    read_timeout: Duration,
    exit_on_stdin_eof: bool,
}

#[derive(Clone)]
struct FileEntry {
    data: Arc<Vec<u8>>,
    mtime_ms: u64,
}

enum Content {
    /// Files zipped on demand.
    Files(BTreeMap<String, FileEntry>),
    /// Bytes answered verbatim.
    Raw(Arc<Vec<u8>>),
}

struct MemSession {
    content: Content,
    /// Changes whenever the content changes; guards the archive cache.
    version: u64,
    cache: Option<Arc<Vec<u8>>>,
}

struct ReadyAfter {
    ms: u64,
    started: Option<Instant>,
}

/// Signature of a session directory on disk: (name, length, mtime in ns) per file.
type DirSignature = Vec<(String, u64, i128)>;

/// When the server started: request times are logged relative to it.
fn server_started() -> Instant {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Connections accepted since start: tests use it to see keep-alive at work.
static CONNECTIONS_ACCEPTED: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

#[derive(Default)]
struct State {
    sessions: HashMap<String, MemSession>,
    scripts: HashMap<String, VecDeque<Step>>,
    ready_after: HashMap<String, ReadyAfter>,
    /// Content requests answered per session, for `--sync-polls`.
    sync_seen: HashMap<String, u64>,
    /// One entry per logged request: request line and header lines joined by '\n'.
    log: Vec<String>,
    /// When each logged request arrived, in microseconds since the server started.
    log_times: Vec<u128>,
    dir_cache: HashMap<String, (DirSignature, Arc<Vec<u8>>)>,
    next_version: u64,
}

impl State {
    fn bump(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    fn put_file(&mut self, id: &str, name: String, entry: FileEntry) {
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

    fn set_content(&mut self, id: &str, content: Content) {
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

struct Server {
    config: Config,
    state: Mutex<State>,
}

impl Server {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the whole server down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------
// Fault scripts
// ---------------------------------------------------------------------------

/// One step of a session's fault script (`POST /_control/sessions/<id>/script`, one
/// step a line; each downloads request to the session consumes one):
/// `ok`, `status CODE | Header: value | ...` (the pseudo-header `Message: "..."`,
/// a JSON string literal so it can hold any character, replaces the JSON
/// body's `message` instead of being sent), `empty`, `reset` (RST before the
/// headers), `cut N` (N body bytes, then RST), `long-length N` (Content-Length N
/// more than the body), `chunked-cut N` (chunked, ends after N bytes without the
/// last chunk), `stall-headers MS`, `stall-body N MS` (N bytes, then MS of
/// silence, then the rest), `trickle N MS` (the body N bytes at a time, MS
/// between writes: slow but never silent for long), `redirect URL`, `html`.
/// `GET /_control/requests/times` lists when each logged request arrived
/// (microseconds since the server started, one a line).
#[derive(Debug, Clone)]
enum Step {
    Ok,
    Status(u16, Vec<(String, String)>),
    Empty,
    Reset,
    Cut(u64),
    LongLength(u64),
    ChunkedCut(u64),
    StallHeaders(u64),
    StallBody(u64, u64),
    Trickle(u64, u64),
    Redirect(String),
    Html,
}

fn parse_u64(s: Option<&str>, what: &str) -> Result<u64, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.parse::<u64>()
        .map_err(|_| format!("bad {what}: {s:?} (expected a decimal number)"))
}

fn parse_step(line: &str) -> Result<Step, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let step = match verb {
        "ok" => Step::Ok,
        "empty" => Step::Empty,
        "reset" => Step::Reset,
        "html" => Step::Html,
        "cut" => Step::Cut(parse_u64(words.next(), "byte count")?),
        "long-length" => Step::LongLength(parse_u64(words.next(), "byte count")?),
        "chunked-cut" => Step::ChunkedCut(parse_u64(words.next(), "byte count")?),
        "stall-headers" => Step::StallHeaders(parse_u64(words.next(), "milliseconds")?),
        "stall-body" => {
            let n = parse_u64(words.next(), "byte count")?;
            let ms = parse_u64(words.next(), "milliseconds")?;
            Step::StallBody(n, ms)
        }
        "trickle" => {
            let n = parse_u64(words.next(), "byte count")?;
            let ms = parse_u64(words.next(), "milliseconds")?;
            if n == 0 {
                return Err("trickle needs at least 1 byte per write".into());
            }
            Step::Trickle(n, ms)
        }
        "redirect" => {
            let url = words.next().ok_or("missing redirect URL")?;
            Step::Redirect(url.to_string())
        }
        "status" => {
            let mut parts = line.trim_start()["status".len()..].split('|');
            let code_text = parts.next().unwrap_or("").trim();
            let code: u16 = code_text
                .parse()
                .map_err(|_| format!("bad status code {code_text:?}"))?;
            if !(200..=599).contains(&code) {
                return Err(format!("status code {code} out of range 200..=599"));
            }
            let mut headers = Vec::new();
            for part in parts {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let (name, value) = part
                    .split_once(':')
                    .ok_or_else(|| format!("bad header {part:?} (expected Name: value)"))?;
                let name = name.trim();
                if name.is_empty() || !name.bytes().all(is_tchar) {
                    return Err(format!("bad header name {name:?}"));
                }
                headers.push((name.to_string(), value.trim().to_string()));
            }
            return Ok(Step::Status(code, headers));
        }
        _ => return Err(format!("unknown step {verb:?}")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?} after step {verb:?}"));
    }
    Ok(step)
}

fn parse_script(text: &str) -> Result<VecDeque<Step>, String> {
    let mut steps = VecDeque::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        steps.push_back(parse_step(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(steps)
}

// ---------------------------------------------------------------------------
// Archives
// ---------------------------------------------------------------------------

/// `report.pdf` -> `report-1719265797164.pdf`; `README` -> `README-1719265797164`;
/// `archive.tar.gz` -> `archive.tar-1719265797164.gz`. Only the last path component's
/// last extension counts; a leading dot (`.bashrc`) is not an extension.
fn stamped_name(name: &str, ms: u64) -> String {
    let file_start = name.rfind('/').map_or(0, |i| i + 1);
    match name[file_start..].rfind('.') {
        Some(dot) if dot > 0 => {
            let dot = file_start + dot;
            format!("{}-{:013}{}", &name[..dot], ms, &name[dot..])
        }
        _ => format!("{name}-{ms:013}"),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// ZIP (DOS) modification time for a Unix time in ms, in UTC.
fn zip_time(ms: u64) -> DateTime {
    let secs = (ms / 1000) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    if !(1980..=2107).contains(&year) {
        return DateTime::default();
    }
    DateTime::from_date_and_time(
        year as u16,
        month as u8,
        day as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
    .unwrap_or_default()
}

fn build_zip(files: &[(String, FileEntry)]) -> io::Result<Vec<u8>> {
    if files.is_empty() {
        return Ok(EMPTY_ZIP.to_vec());
    }
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, entry) in files {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(zip_time(entry.mtime_ms))
            .unix_permissions(0o644)
            .large_file(entry.data.len() as u64 >= 0xFFFF_FFFF);
        writer.start_file(stamped_name(name, entry.mtime_ms), options)?;
        writer.write_all(&entry.data)?;
    }
    Ok(writer.finish()?.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A session id usable as a file name inside `--sessions DIR`.
fn is_safe_segment(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains(['/', '\\', '\0'])
}

// ---------------------------------------------------------------------------
// Demo content
// ---------------------------------------------------------------------------

fn demo_pdf() -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
    out.extend_from_slice(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    out.extend_from_slice(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    out.extend_from_slice(
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n",
    );
    // Deterministic pseudo-random stream content (xorshift64).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let stream: Vec<u8> = (0..3584)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    out.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n", stream.len()).as_bytes());
    out.extend_from_slice(&stream);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    out.extend_from_slice(b"trailer\n<< /Root 1 0 R /Size 5 >>\n%%EOF\n");
    out
}

fn demo_csv() -> Vec<u8> {
    b"date,item,quantity,unit_price\n\
2024-06-24,widget,3,9.99\n\
2024-06-24,gadget,1,24.50\n\
2024-06-25,gizmo,12,1.25\n\
2024-06-25,doohickey,7,3.10\n"
        .to_vec()
}

// ---------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------

enum Body {
    Bytes(Arc<Vec<u8>>),
    Static(&'static [u8]),
    /// A file streamed from disk (never loaded in memory), with its length.
    File(File, u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Static(b) => b.len() as u64,
            Body::File(_, len) => *len,
        }
    }

    fn slice(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            Body::Static(b) => Some(b),
            Body::File(..) => None,
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
    /// Close the connection after this response.
    close: bool,
}

impl Response {
    fn new(status: u16, content_type: &str, body: Body) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
            close: false,
        }
    }

    fn json(status: u16, message: &str) -> Self {
        let text = serde_json::json!({ "code": status, "message": message }).to_string();
        Response::new(
            status,
            "application/json",
            Body::Bytes(Arc::new(text.into_bytes())),
        )
    }

    fn text(status: u16, text: impl Into<String>) -> Self {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            Body::Bytes(Arc::new(text.into().into_bytes())),
        )
    }

    fn zip(body: Body) -> Self {
        Response::new(200, "application/zip", body)
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// How a response travels on the wire.
#[derive(Clone, Copy)]
enum Delivery {
    Normal,
    Cut(u64),
    LongLength(u64),
    ChunkedCut(u64),
    StallBody(u64, u64),
    /// The body `n` bytes at a time with a pause of `ms` between writes.
    Trickle(u64, u64),
}

/// What happens to the connection after a request.
enum Next {
    KeepAlive,
    /// Close gracefully (FIN, then drain what the client still sends).
    Close,
    /// Already dealt with (reset or dead): just drop it.
    Closed,
}

enum Framing {
    Length(u64),
    Chunked,
    None,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
}

enum HeadRead {
    Head(Vec<u8>),
    Eof,
    TooLarge,
    Truncated,
}

impl Conn {
    fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more bytes into the buffer. `Ok(0)` is end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 16 * 1024, 0);
        loop {
            match self.stream.read(&mut self.buf[old..]) {
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
    }

    fn read_head(&mut self) -> HeadRead {
        let mut scanned = 0;
        loop {
            // Tolerate empty lines before a request line (RFC 9112 section 2.2).
            let blanks = self
                .unread()
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blanks > 0 {
                self.consume(blanks);
                scanned = 0;
            }
            let data = self.unread();
            if let Some((head_len, total)) = find_head_end(data, scanned) {
                if head_len > MAX_HEAD {
                    return HeadRead::TooLarge;
                }
                let head = data[..head_len].to_vec();
                self.consume(total);
                return HeadRead::Head(head);
            }
            if data.len() > MAX_HEAD {
                return HeadRead::TooLarge;
            }
            scanned = data.len().saturating_sub(2);
            let had_data = !data.is_empty();
            match self.fill() {
                Ok(0) | Err(_) if had_data => return HeadRead::Truncated,
                Ok(0) | Err(_) => return HeadRead::Eof,
                Ok(_) => {}
            }
        }
    }

    fn read_exact_body(&mut self, n: u64, out: &mut Vec<u8>) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            if self.unread().is_empty() && self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = (self.unread().len() as u64).min(left) as usize;
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.consume(take);
            left -= take as u64;
        }
        Ok(())
    }

    fn read_line(&mut self, limit: usize) -> io::Result<String> {
        loop {
            if let Some(i) = self.unread().iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&self.unread()[..i])
                    .trim_end_matches('\r')
                    .to_string();
                self.consume(i + 1);
                return Ok(line);
            }
            if self.unread().len() > limit {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads a chunked body. `Ok(None)` when it exceeds `limit`.
    fn read_chunked_body(&mut self, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            let line = self.read_line(4096)?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                let mut total = 0;
                loop {
                    let trailer = self.read_line(MAX_HEAD)?;
                    total += trailer.len();
                    if trailer.is_empty() {
                        return Ok(Some(out));
                    }
                    if total > MAX_HEAD {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "trailers"));
                    }
                }
            }
            if out.len() as u64 + size > limit {
                return Ok(None);
            }
            self.read_exact_body(size, &mut out)?;
            if !self.read_line(2)?.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "chunk end"));
            }
        }
    }
}

/// Finds the empty line ending a request head. Returns (head length without the final
/// line break, length including the empty line).
fn find_head_end(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < data.len() {
        if data[i] == b'\n' {
            match data.get(i + 1) {
                Some(b'\n') => return Some((i, i + 2)),
                Some(b'\r') if data.get(i + 2) == Some(&b'\n') => return Some((i, i + 3)),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

struct Head {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
}

impl Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            false
        } else if self.http10 {
            self.has_token("connection", "keep-alive")
        } else {
            true
        }
    }

    fn framing(&self) -> Result<Framing, &'static str> {
        let te: Vec<&str> = self.values("transfer-encoding").collect();
        let cl: Vec<&str> = self.values("content-length").collect();
        if !te.is_empty() {
            if !cl.is_empty() {
                return Err("both Transfer-Encoding and Content-Length");
            }
            let last = te
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|t| !t.is_empty())
                .unwrap_or("");
            return if last.eq_ignore_ascii_case("chunked") {
                Ok(Framing::Chunked)
            } else {
                Err("unsupported Transfer-Encoding")
            };
        }
        let mut length = None;
        for v in cl {
            for part in v.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("bad Content-Length");
                }
                let n: u64 = part.parse().map_err(|_| "bad Content-Length")?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length");
                }
                length = Some(n);
            }
        }
        Ok(length.map_or(Framing::None, Framing::Length))
    }
}

fn parse_head(lines: &[String]) -> Result<Head, &'static str> {
    let request_line = lines.first().ok_or("empty request")?;
    if request_line.contains(['\r', '\0']) {
        return Err("bad request line");
    }
    let parts: Vec<&str> = request_line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err("bad request line");
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err("bad method");
    }
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("bad request target");
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err("unsupported HTTP version"),
    };
    let mut headers = Vec::with_capacity(lines.len() - 1);
    for line in &lines[1..] {
        if line.starts_with([' ', '\t']) {
            return Err("obsolete line folding");
        }
        if line.contains(['\r', '\0']) {
            return Err("bad header line");
        }
        let (name, value) = line.split_once(':').ok_or("header line without colon")?;
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err("bad header name");
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        http10,
        headers,
    })
}

/// The path part of a request target (origin-form or absolute-form), without query.
fn target_path(target: &str) -> &str {
    let path = match target.find("://") {
        Some(i) if !target.starts_with('/') => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        _ => target,
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_all_fd(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    let mut s = stream;
    while !data.is_empty() {
        match s.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends `[start, end)` of `file` with `sendfile`; returns the offset reached, which is
/// `start` when `sendfile` cannot be used for this pair of descriptors.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn sendfile_range(stream: &TcpStream, file: &File, start: u64, end: u64) -> io::Result<u64> {
    let mut off = start as libc::off_t;
    while (off as u64) < end {
        let count = (end - off as u64).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the duration of the call and `off`
        // is a valid, exclusively borrowed offset.
        let r = unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
        if r > 0 {
            continue;
        }
        if r == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than announced",
            ));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
                if off as u64 == start =>
            {
                return Ok(start);
            }
            _ => return Err(err),
        }
    }
    Ok(off as u64)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn sendfile_range(_: &TcpStream, _: &File, start: u64, _: u64) -> io::Result<u64> {
    Ok(start)
}

/// Copies `[start, end)` of `file` to the socket: `sendfile` where possible, else
/// 1 MiB reads and writes. Never holds the file in memory.
fn send_file_range(stream: &TcpStream, file: &File, start: u64, end: u64) -> io::Result<()> {
    let mut pos = sendfile_range(stream, file, start, end)?;
    if pos >= end {
        return Ok(());
    }
    let mut buf = vec![0u8; COPY_CHUNK];
    while pos < end {
        let want = (end - pos).min(COPY_CHUNK as u64) as usize;
        let n = match file.read_at(&mut buf[..want], pos) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than announced",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write_all_fd(stream, &buf[..n])?;
        pos += n as u64;
    }
    Ok(())
}

fn write_body(stream: &TcpStream, body: &Body, start: u64, end: u64) -> io::Result<()> {
    if start >= end {
        return Ok(());
    }
    match body {
        Body::File(file, _) => send_file_range(stream, file, start, end),
        _ => {
            let bytes = body.slice().unwrap_or_default();
            write_all_fd(stream, &bytes[start as usize..end as usize])
        }
    }
}

fn write_chunks(stream: &TcpStream, body: &Body, end: u64) -> io::Result<()> {
    const CHUNK: u64 = 64 * 1024;
    let mut pos = 0;
    let mut buf = Vec::new();
    while pos < end {
        let n = (end - pos).min(CHUNK);
        write_all_fd(stream, format!("{n:x}\r\n").as_bytes())?;
        match body {
            Body::File(file, _) => {
                buf.resize(n as usize, 0);
                file.read_exact_at(&mut buf, pos)?;
                write_all_fd(stream, &buf)?;
            }
            _ => write_body(stream, body, pos, pos + n)?,
        }
        write_all_fd(stream, b"\r\n")?;
        pos += n;
    }
    Ok(())
}

fn head_bytes(resp: &Response, framing: Framing, keep_alive: bool, http10: bool) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    head.push_str("Server: bb-stand-in\r\n");
    for (name, value) in &resp.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    match framing {
        Framing::Length(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::None => {}
    }
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    } else if http10 {
        head.push_str("Connection: keep-alive\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Sets SO_LINGER to 0 so that closing the socket sends a RST.
fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized `linger` value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Waits (bounded) until the kernel has delivered what was written, so that a reset
/// does not discard bytes the client is meant to receive.
fn wait_send_queue_drained(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut last = i32::MAX;
        let mut last_progress = Instant::now();
        loop {
            let mut queued: libc::c_int = 0;
            // SAFETY: TIOCOUTQ (SIOCOUTQ) writes one int.
            let r = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
            if r != 0 || queued <= 0 {
                return;
            }
            if queued < last {
                last = queued;
                last_progress = Instant::now();
            } else if last_progress.elapsed() > Duration::from_secs(2) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = stream;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sleeps `ms` milliseconds; returns false early if the client hangs up meanwhile.
fn sleep_unless_hangup(stream: &TcpStream, ms: u64) -> bool {
    let deadline = Instant::now() + Duration::from_millis(ms);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        let slice = (deadline - now).min(Duration::from_millis(50));
        let mut pfd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, slice.as_millis().max(1) as libc::c_int) };
        if r <= 0 {
            continue;
        }
        if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return false;
        }
        let mut byte = 0u8;
        // SAFETY: peeking one byte into a valid buffer.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                &mut byte as *mut u8 as *mut libc::c_void,
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n == 0 {
            return false;
        }
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::WouldBlock && err.kind() != io::ErrorKind::Interrupted {
                return false;
            }
        } else {
            // The client sent more (pipelining): cannot wait on readability any more.
            std::thread::sleep(slice);
        }
    }
}

fn graceful_close(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 8192];
    let mut s = &stream;
    let mut total = 0usize;
    while Instant::now() < deadline && total < (1 << 20) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn send(
    conn: &mut Conn,
    resp: Response,
    delivery: Delivery,
    keep_alive: bool,
    http10: bool,
) -> io::Result<Next> {
    let keep_alive = keep_alive && !resp.close;
    let stream = &conn.stream;
    let len = resp.body.len();
    let no_body = resp.status == 204 || resp.status == 304;
    match delivery {
        Delivery::Normal => {
            let framing = if resp.status == 204 {
                Framing::None
            } else {
                Framing::Length(if no_body { 0 } else { len })
            };
            let mut head = head_bytes(&resp, framing, keep_alive, http10);
            match resp.body.slice() {
                Some(bytes) if no_body || bytes.len() <= COALESCE_LIMIT => {
                    if !no_body {
                        head.extend_from_slice(bytes);
                    }
                    write_all_fd(stream, &head)?;
                }
                _ => {
                    write_all_fd(stream, &head)?;
                    write_body(stream, &resp.body, 0, len)?;
                }
            }
            Ok(if keep_alive {
                Next::KeepAlive
            } else {
                Next::Close
            })
        }
        Delivery::Cut(n) => {
            write_all_fd(
                stream,
                &head_bytes(&resp, Framing::Length(len), keep_alive, http10),
            )?;
            write_body(stream, &resp.body, 0, n.min(len))?;
            wait_send_queue_drained(stream);
            set_linger_zero(stream);
            Ok(Next::Closed)
        }
        Delivery::LongLength(n) => {
            write_all_fd(
                stream,
                &head_bytes(&resp, Framing::Length(len + n), keep_alive, http10),
            )?;
            write_body(stream, &resp.body, 0, len)?;
            Ok(Next::Close)
        }
        Delivery::ChunkedCut(n) => {
            write_all_fd(
                stream,
                &head_bytes(&resp, Framing::Chunked, keep_alive, http10),
            )?;
            write_chunks(stream, &resp.body, n.min(len))?;
            Ok(Next::Close)
        }
        Delivery::StallBody(n, ms) => {
            write_all_fd(
                stream,
                &head_bytes(&resp, Framing::Length(len), keep_alive, http10),
            )?;
            let first = n.min(len);
            write_body(stream, &resp.body, 0, first)?;
            std::thread::sleep(Duration::from_millis(ms));
            write_body(stream, &resp.body, first, len)?;
            Ok(if keep_alive {
                Next::KeepAlive
            } else {
                Next::Close
            })
        }
        Delivery::Trickle(n, ms) => {
            write_all_fd(
                stream,
                &head_bytes(&resp, Framing::Length(len), keep_alive, http10),
            )?;
            let mut at = 0;
            while at < len {
                if at > 0 {
                    std::thread::sleep(Duration::from_millis(ms));
                }
                let next = (at + n).min(len);
                write_body(stream, &resp.body, at, next)?;
                at = next;
            }
            Ok(if keep_alive {
                Next::KeepAlive
            } else {
                Next::Close
            })
        }
    }
}

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

enum Action {
    Respond(Response, Delivery),
    Reset,
    StallThenNormal(u64),
}

impl Server {
    fn log(&self, lines: &[String]) {
        let entry = lines.join("\n");
        let mut state = self.state();
        state.log.push(entry);
        state.log_times.push(server_started().elapsed().as_micros());
    }

    /// The archive of a session held in memory (control API or demo).
    fn memory_archive(&self, id: &str) -> Option<Body> {
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
    fn disk_archive(&self, id: &str) -> Option<Body> {
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

    fn dir_archive(&self, id: &str, dir: &std::path::Path) -> Option<Body> {
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
    fn content_answer(&self, id: &str) -> Response {
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

    fn normal_answer(&self, id: &str, head: &Head) -> Response {
        let mut keys = head.values("x-bb-api-key");
        match (keys.next(), keys.next()) {
            (Some(key), None) if key == self.config.api_key => self.content_answer(id),
            _ => Response::json(401, "Invalid or missing API key"),
        }
    }

    fn downloads(&self, id: &str, head: &Head) -> Action {
        if head.method != "GET" {
            return Action::Respond(
                Response::json(405, "Method Not Allowed").header("Allow", "GET"),
                Delivery::Normal,
            );
        }
        let step = {
            let mut state = self.state();
            if let Some(ready) = state.ready_after.get_mut(id) {
                ready.started.get_or_insert_with(Instant::now);
            }
            let step = state.scripts.get_mut(id).and_then(VecDeque::pop_front);
            if state.scripts.get(id).is_some_and(VecDeque::is_empty) {
                state.scripts.remove(id);
            }
            step
        };
        let content = |delivery| Action::Respond(self.content_answer(id), delivery);
        match step {
            None | Some(Step::Ok) => {
                Action::Respond(self.normal_answer(id, head), Delivery::Normal)
            }
            Some(Step::Status(code, mut headers)) => {
                let message = headers
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case("message"))
                    .map(|i| headers.remove(i).1)
                    .and_then(|literal| serde_json::from_str::<String>(&literal).ok())
                    .unwrap_or_else(|| format!("stand-in fault {code}"));
                let mut resp = Response::json(code, &message);
                if headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                {
                    resp.headers.clear();
                }
                for (name, value) in headers {
                    if name.eq_ignore_ascii_case("connection")
                        && value.to_ascii_lowercase().contains("close")
                    {
                        resp.close = true;
                        continue;
                    }
                    resp.headers.push((name, value));
                }
                Action::Respond(resp, Delivery::Normal)
            }
            Some(Step::Empty) => {
                Action::Respond(Response::zip(Body::Static(&EMPTY_ZIP)), Delivery::Normal)
            }
            Some(Step::Reset) => Action::Reset,
            Some(Step::Cut(n)) => content(Delivery::Cut(n)),
            Some(Step::LongLength(n)) => content(Delivery::LongLength(n)),
            Some(Step::ChunkedCut(n)) => content(Delivery::ChunkedCut(n)),
            Some(Step::StallBody(n, ms)) => content(Delivery::StallBody(n, ms)),
            Some(Step::Trickle(n, ms)) => content(Delivery::Trickle(n, ms)),
            Some(Step::StallHeaders(ms)) => Action::StallThenNormal(ms),
            Some(Step::Redirect(url)) => Action::Respond(
                Response::new(302, "text/plain; charset=utf-8", Body::Static(b""))
                    .header("Location", &url),
                Delivery::Normal,
            ),
            Some(Step::Html) => Action::Respond(
                Response::new(
                    200,
                    "text/html; charset=utf-8",
                    Body::Static(
                        b"<!DOCTYPE html>\n<html><head><title>Network Login</title></head>\n\
<body><h1>Sign in to continue</h1><p>This network requires you to log in \
before accessing the Internet.</p></body></html>\n",
                    ),
                ),
                Delivery::Normal,
            ),
        }
    }

    fn control(&self, method: &str, rest: &str, body: Vec<u8>) -> Response {
        match (method, rest) {
            ("GET", "requests") => {
                let state = self.state();
                let mut text = String::new();
                for entry in &state.log {
                    text.push_str(entry);
                    text.push_str("\n\n");
                }
                return Response::text(200, text);
            }
            ("DELETE", "requests") => {
                let mut state = self.state();
                state.log.clear();
                state.log_times.clear();
                return Response::text(200, "cleared\n");
            }
            ("GET", "requests/count") => {
                return Response::text(200, self.state().log.len().to_string());
            }
            ("GET", "requests/times") => {
                let text: String = self
                    .state()
                    .log_times
                    .iter()
                    .map(|us| format!("{us}\n"))
                    .collect();
                return Response::text(200, text);
            }
            ("GET", "connections/count") => {
                let n = CONNECTIONS_ACCEPTED.load(std::sync::atomic::Ordering::Relaxed);
                return Response::text(200, n.to_string());
            }
            ("GET", "health") => return Response::text(200, "ok\n"),
            (
                _,
                "requests" | "requests/count" | "requests/times" | "health" | "connections/count",
            ) => return Response::text(405, "method not allowed\n"),
            _ => {}
        }
        let Some(after) = rest.strip_prefix("sessions/") else {
            return Response::text(404, "unknown control path\n");
        };
        let (id_raw, tail) = after.split_once('/').unwrap_or((after, ""));
        let id = percent_decode(id_raw);
        if id.is_empty() {
            return Response::text(400, "empty session id\n");
        }
        let (what, name_raw) = tail.split_once('/').unwrap_or((tail, ""));
        let allowed: &[&str] = match what {
            "" => &["DELETE"],
            "files" => &["PUT", "POST"],
            "archive" | "empty" => &["PUT", "POST"],
            "script" | "ready-after-ms" => &["POST", "PUT"],
            _ => return Response::text(404, "unknown control path\n"),
        };
        if !allowed.contains(&method) {
            return Response::text(405, "method not allowed\n")
                .header("Allow", &allowed.join(", "));
        }
        if what != "files" && !name_raw.is_empty() {
            return Response::text(404, "unknown control path\n");
        }
        match what {
            "" => {
                let mut state = self.state();
                let existed = state.sessions.remove(&id).is_some();
                state.scripts.remove(&id);
                state.ready_after.remove(&id);
                state.sync_seen.remove(&id);
                state.dir_cache.remove(&id);
                Response::text(200, if existed { "deleted\n" } else { "absent\n" })
            }
            "files" => {
                let name = percent_decode(name_raw);
                if name.is_empty() {
                    return Response::text(400, "empty file name\n");
                }
                let entry = FileEntry {
                    data: Arc::new(body),
                    mtime_ms: now_ms(),
                };
                self.state().put_file(&id, name, entry);
                Response::text(200, "ok\n")
            }
            "archive" => {
                self.state().set_content(&id, Content::Raw(Arc::new(body)));
                Response::text(200, "ok\n")
            }
            "empty" => {
                self.state()
                    .set_content(&id, Content::Files(BTreeMap::new()));
                Response::text(200, "ok\n")
            }
            "script" => {
                let Ok(text) = std::str::from_utf8(&body) else {
                    return Response::text(400, "script is not UTF-8\n");
                };
                match parse_script(text) {
                    Ok(steps) => {
                        let count = steps.len();
                        let mut state = self.state();
                        if steps.is_empty() {
                            state.scripts.remove(&id);
                        } else {
                            state.scripts.insert(id, steps);
                        }
                        Response::text(200, format!("{count} steps\n"))
                    }
                    Err(e) => Response::text(400, format!("bad script: {e}\n")),
                }
            }
            "ready-after-ms" => {
                let text = String::from_utf8_lossy(&body);
                match text.trim().parse::<u64>() {
                    Ok(ms) => {
                        self.state()
                            .ready_after
                            .insert(id, ReadyAfter { ms, started: None });
                        Response::text(200, "ok\n")
                    }
                    Err(_) => Response::text(400, "body must be a decimal number of ms\n"),
                }
            }
            _ => Response::text(404, "unknown control path\n"),
        }
    }

    /// Serves one request. I/O errors end the connection.
    fn serve_one(&self, conn: &mut Conn) -> io::Result<Next> {
        let raw = match conn.read_head() {
            HeadRead::Head(raw) => raw,
            HeadRead::Eof | HeadRead::Truncated => return Ok(Next::Closed),
            HeadRead::TooLarge => {
                let resp = Response::json(431, "Request Header Fields Too Large").closing();
                return send(conn, resp, Delivery::Normal, false, false);
            }
        };
        let lines: Vec<String> = raw
            .split(|&b| b == b'\n')
            .map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                String::from_utf8_lossy(line).into_owned()
            })
            .collect();
        let is_control = lines
            .first()
            .and_then(|l| l.split(' ').nth(1))
            .is_some_and(|t| target_path(t).starts_with("/_control/"));
        if !is_control {
            self.log(&lines);
        }
        let bad_request = |message: &str| Response::json(400, message).closing();
        let head = match parse_head(&lines) {
            Ok(head) => head,
            Err(message) => {
                return send(conn, bad_request(message), Delivery::Normal, false, false)
            }
        };
        let keep_alive = head.keep_alive();
        let http10 = head.http10;
        let framing = match head.framing() {
            Ok(framing) => framing,
            Err(message) => {
                return send(conn, bad_request(message), Delivery::Normal, false, http10)
            }
        };
        let limit = if is_control {
            MAX_CONTROL_BODY
        } else {
            MAX_OTHER_BODY
        };
        let too_large = || Response::json(413, "Content Too Large").closing();
        let expects_continue = !http10 && head.has_token("expect", "100-continue");
        let body = match framing {
            Framing::None | Framing::Length(0) => Vec::new(),
            Framing::Length(n) if n > limit => {
                return send(conn, too_large(), Delivery::Normal, false, http10)
            }
            Framing::Length(n) => {
                if expects_continue {
                    write_all_fd(&conn.stream, b"HTTP/1.1 100 Continue\r\n\r\n")?;
                }
                let mut body = Vec::with_capacity(n.min(16 << 20) as usize);
                conn.read_exact_body(n, &mut body)?;
                body
            }
            Framing::Chunked => {
                if expects_continue {
                    write_all_fd(&conn.stream, b"HTTP/1.1 100 Continue\r\n\r\n")?;
                }
                match conn.read_chunked_body(limit) {
                    Ok(Some(body)) => body,
                    Ok(None) => return send(conn, too_large(), Delivery::Normal, false, http10),
                    Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                        let resp = bad_request("bad chunked body");
                        return send(conn, resp, Delivery::Normal, false, http10);
                    }
                    Err(e) => return Err(e),
                }
            }
        };

        let path = target_path(&head.target).to_string();
        if let Some(rest) = path.strip_prefix("/_control/") {
            let resp = self.control(&head.method, rest, body);
            return send(conn, resp, Delivery::Normal, keep_alive, http10);
        }
        let segments: Vec<&str> = path.split('/').collect();
        let action = match segments[..] {
            ["", "v1", "sessions", id, "downloads"] if !id.is_empty() => {
                self.downloads(&percent_decode(id), &head)
            }
            _ => Action::Respond(Response::json(404, "Not Found"), Delivery::Normal),
        };
        match action {
            Action::Respond(resp, delivery) => send(conn, resp, delivery, keep_alive, http10),
            Action::Reset => {
                set_linger_zero(&conn.stream);
                Ok(Next::Closed)
            }
            Action::StallThenNormal(ms) => {
                if !sleep_unless_hangup(&conn.stream, ms) {
                    return Ok(Next::Closed);
                }
                let id = percent_decode(segments[3]);
                let resp = self.normal_answer(&id, &head);
                send(conn, resp, Delivery::Normal, keep_alive, http10)
            }
        }
    }
}

fn handle_connection(server: Arc<Server>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(server.config.read_timeout));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        pos: 0,
    };
    loop {
        match server.serve_one(&mut conn) {
            Ok(Next::KeepAlive) => continue,
            Ok(Next::Close) => {
                graceful_close(conn.stream);
                return;
            }
            Ok(Next::Closed) | Err(_) => return,
        }
    }
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        api_key: "bb_test_key".into(),
        sessions_dir: None,
        demo: false,
        sync_polls: 0,
        read_timeout: READ_TIMEOUT,
        exit_on_stdin_eof: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => config.listen = value()?,
            "--api-key" => config.api_key = value()?,
            "--sessions" => config.sessions_dir = Some(PathBuf::from(value()?)),
            "--demo" => config.demo = true,
            "--sync-polls" => {
                let v = value()?;
                config.sync_polls = v.parse().map_err(|_| {
                    format!("--sync-polls needs a whole number of requests, not {v:?}")
                })?;
            }
            "--idle-timeout-ms" => {
                let v = value()?;
                config.read_timeout = v
                    .parse()
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        format!(
                            "--idle-timeout-ms needs a positive number of milliseconds, not {v:?}"
                        )
                    })?;
            }
            "--exit-on-stdin-eof" => config.exit_on_stdin_eof = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if let Some(dir) = &config.sessions_dir {
        if !dir.is_dir() {
            return Err(format!("--sessions {}: not a directory", dir.display()));
        }
    }
    Ok(config)
}

fn main() {
    let config = match parse_args() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bb-stand-in-server: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(&config.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "bb-stand-in-server: cannot listen on {}: {e}",
                config.listen
            );
            std::process::exit(1);
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("bb-stand-in-server: {e}");
            std::process::exit(1);
        }
    };

    let mut state = State::default();
    if config.demo {
        state.put_file(
            DEMO_SESSION,
            "report.pdf".into(),
            FileEntry {
                data: Arc::new(demo_pdf()),
                mtime_ms: DEMO_PDF_MS,
            },
        );
        state.put_file(
            DEMO_SESSION,
            "data.csv".into(),
            FileEntry {
                data: Arc::new(demo_csv()),
                mtime_ms: DEMO_CSV_MS,
            },
        );
        state.set_content(DEMO_EMPTY_SESSION, Content::Files(BTreeMap::new()));
    }
    if config.exit_on_stdin_eof {
        // Lets a test harness that dies without cleaning up take the server with it.
        std::thread::spawn(|| {
            let mut sink = [0u8; 256];
            let mut stdin = io::stdin();
            loop {
                match stdin.read(&mut sink) {
                    Ok(0) => std::process::exit(0),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => std::process::exit(0),
                }
            }
        });
    }
    let server = Arc::new(Server {
        config,
        state: Mutex::new(state),
    });

    {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "listening http://{addr}");
        let _ = out.flush();
    }

    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                CONNECTIONS_ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let server = Arc::clone(&server);
                let spawned = std::thread::Builder::new()
                    .name("bb-conn".into())
                    .stack_size(256 * 1024)
                    .spawn(move || handle_connection(server, stream));
                if spawned.is_err() {
                    // Out of threads: the stream was dropped (closed); back off a little.
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Err(_) => {
                // EMFILE and friends: do not spin.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

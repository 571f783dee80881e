//! Test support: runs `bb-stand-in-server` (this crate's stand-in Browserbase server)
//! as a child process and drives its `/_control/` API.
//!
//! Std only (plus the `zip` crate for [`zip_entry_names`], and rustls for
//! [`tls_server`]): it must not depend on the library under test. Include it from an integration test with `mod support;`.
//! Every helper panics with a clear message on failure. [`cbuild`] builds and runs C
//! programs against the freshly built shared and static libraries.
#![allow(dead_code)]

pub mod cbuild;
pub mod tls_server;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Timeout of the helpers' own HTTP exchanges, so that a broken server fails a test
/// instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The stand-in server's executable: `BB_STAND_IN_SERVER` when set, else the
/// one beside this test's profile directory (`target/debug/bb-stand-in-server`).
/// The server is a crate of its own in the workspace; `cargo test` at the
/// workspace root (what `make test` runs) builds it fresh, because its own
/// integration tests need it.
pub fn stand_in_exe() -> PathBuf {
    if let Some(exe) = std::env::var_os("BB_STAND_IN_SERVER") {
        return PathBuf::from(exe);
    }
    // target/<profile>/deps/<test binary>
    let test_exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let exe = profile_dir.join("bb-stand-in-server");
    assert!(
        exe.exists(),
        "{} is missing: run the tests from the workspace root (`make test` or `cargo test`), \
         which builds the stand-in server, or set BB_STAND_IN_SERVER",
        exe.display()
    );
    exe
}

/// A running stand-in server; killed (and reaped) on drop.
pub struct StandInServer {
    child: Child,
    addr: SocketAddr,
    // Held open: the server runs with `--exit-on-stdin-eof`, so it also goes away when
    // the test process dies without running destructors.
    _stdin: Option<ChildStdin>,
    _stdout: BufReader<ChildStdout>,
}

/// One request as the server received it (from `GET /_control/requests`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The request target exactly as sent (e.g. `/v1/sessions/abc/downloads`).
    pub target: String,
    /// E.g. `HTTP/1.1`.
    pub version: String,
    /// Header lines as received: name as sent, value without surrounding whitespace.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response read off the wire by the helpers' minimal HTTP/1.1 client.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl StandInServer {
    pub const KEY: &'static str = "bb_test_key";
    pub const DEMO_SESSION: &'static str = "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80";
    pub const DEMO_EMPTY_SESSION: &'static str = "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91";

    /// Starts a server on `127.0.0.1:0` with the default key and no sessions.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments (`--demo`, `--api-key K`, `--sessions DIR`,
    /// even `--listen ADDR`, which then replaces the default `127.0.0.1:0`).
    pub fn start_with(args: &[&str]) -> Self {
        let exe = stand_in_exe();
        let mut command = Command::new(&exe);
        if !args
            .iter()
            .any(|a| *a == "--listen" || a.starts_with("--listen="))
        {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command
            .args(args)
            .arg("--exit-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("stand-in server: cannot spawn {}: {e}", exe.display()));
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let addr = read.ok().and_then(|_| {
            line.trim()
                .strip_prefix("listening http://")
                .and_then(|a| a.parse::<SocketAddr>().ok())
        });
        let Some(mut addr) = addr else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "stand-in server {} {args:?} did not start: first stdout line {line:?}, \
                 exit status {status:?}",
                exe.display()
            );
        };
        // A wildcard listen address is reachable through the loopback interface.
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        StandInServer {
            child,
            addr,
            _stdin: stdin,
            _stdout: stdout,
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `{base}/v1/sessions/{session, percent-encoded}/downloads`.
    pub fn downloads_url(&self, session: &str) -> String {
        format!(
            "{}/v1/sessions/{}/downloads",
            self.base_url(),
            encode_segment(session)
        )
    }

    /// Adds or replaces file `name` in `session` (creating the session).
    pub fn add_file(&self, session: &str, name: &str, content: &[u8]) {
        let path = format!(
            "/_control/sessions/{}/files/{}",
            encode_segment(session),
            encode_segment(name)
        );
        self.control_ok("PUT", &path, content);
    }

    /// Makes `session` answer exactly `bytes` (as `application/zip`).
    pub fn set_archive(&self, session: &str, bytes: &[u8]) {
        let path = format!("/_control/sessions/{}/archive", encode_segment(session));
        self.control_ok("PUT", &path, bytes);
    }

    /// Makes `session` exist with no files (it answers the 22-byte empty archive).
    pub fn set_empty(&self, session: &str) {
        let path = format!("/_control/sessions/{}/empty", encode_segment(session));
        self.control_ok("PUT", &path, b"");
    }

    /// Removes `session` (its files, archive, script and ready-after delay).
    pub fn delete_session(&self, session: &str) {
        let path = format!("/_control/sessions/{}", encode_segment(session));
        self.control_ok("DELETE", &path, b"");
    }

    /// Replaces the fault script of `session`: the next downloads requests to it consume
    /// one step each (`"status 429 | Retry-After: 1"`, `"cut 100"`, `"reset"`, ...).
    pub fn script(&self, session: &str, steps: &[&str]) {
        let path = format!("/_control/sessions/{}/script", encode_segment(session));
        self.control_ok("POST", &path, steps.join("\n").as_bytes());
    }

    /// `session` answers the empty archive until `ms` after the next downloads request.
    pub fn ready_after_ms(&self, session: &str, ms: u64) {
        let path = format!(
            "/_control/sessions/{}/ready-after-ms",
            encode_segment(session)
        );
        self.control_ok("POST", &path, ms.to_string().as_bytes());
    }

    /// Every non-control request received since start or the last clear, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let body = self.control_ok("GET", "/_control/requests", b"");
        parse_request_log(&String::from_utf8_lossy(&body))
    }

    pub fn request_count(&self) -> usize {
        let body = self.control_ok("GET", "/_control/requests/count", b"");
        let text = String::from_utf8_lossy(&body);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("stand-in server: bad request count {text:?}"))
    }

    /// When each request of [`StandInServer::requests`] arrived, as offsets from the
    /// server's start (from `GET /_control/requests/times`).
    pub fn request_times(&self) -> Vec<Duration> {
        let body = self.control_ok("GET", "/_control/requests/times", b"");
        String::from_utf8_lossy(&body)
            .lines()
            .map(|l| {
                let us: u64 = l
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("stand-in server: bad request time {l:?}"));
                Duration::from_micros(us)
            })
            .collect()
    }

    /// Connections the server accepted so far (control connections included).
    pub fn connection_count(&self) -> usize {
        let body = self.control_ok("GET", "/_control/connections/count", b"");
        String::from_utf8_lossy(&body)
            .trim()
            .parse()
            .expect("connection count")
    }

    /// The body bytes of the answer to each logged request, in log order
    /// (`GET /_control/requests/bytes`).
    pub fn bytes_sent(&self) -> Vec<u64> {
        let text = String::from_utf8(self.control_ok("GET", "/_control/requests/bytes", b""))
            .expect("UTF-8");
        text.lines().map(|l| l.parse().expect("a number")).collect()
    }

    /// Turns a session's `ranges`, `etag` (`on`/`weak`/`off`) or
    /// `last-modified` on or off.
    pub fn set_validation(&self, session: &str, what: &str, value: &str) {
        let path = format!("/_control/sessions/{}/{what}", encode_segment(session));
        self.control_ok("POST", &path, value.as_bytes());
    }

    /// The archive the session takes at its next `change` script step.
    pub fn set_next_archive(&self, session: &str, bytes: &[u8]) {
        let path = format!(
            "/_control/sessions/{}/next-archive",
            encode_segment(session)
        );
        self.control_ok("POST", &path, bytes);
    }

    pub fn clear_requests(&self) {
        self.control_ok("DELETE", "/_control/requests", b"");
    }

    /// Any control request; panics unless the answer is 2xx. Returns the body.
    pub fn control_ok(&self, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
        let resp = self.control(method, path, body);
        if !(200..300).contains(&resp.status) {
            panic!(
                "stand-in server: {method} {path} answered {}: {}",
                resp.status,
                resp.body_text().trim()
            );
        }
        resp.body
    }

    /// Any control request, whatever the answer (for testing bad control input).
    pub fn control(&self, method: &str, path: &str, body: &[u8]) -> RawResponse {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.exchange(&request)
            .unwrap_or_else(|e| panic!("stand-in server: {method} {path} failed: {e}"))
    }

    /// A `GET` of `target` (a path) with extra headers, on a fresh connection.
    pub fn http_get(&self, target: &str, headers: &[(&str, &str)]) -> RawResponse {
        let mut request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.exchange(request.as_bytes())
            .unwrap_or_else(|e| panic!("stand-in server: GET {target} failed: {e}"))
    }

    /// `GET /v1/sessions/<session>/downloads`, with `X-BB-API-Key: key` if given.
    pub fn download(&self, session: &str, key: Option<&str>) -> RawResponse {
        let target = format!("/v1/sessions/{}/downloads", encode_segment(session));
        match key {
            Some(key) => self.http_get(&target, &[("X-BB-API-Key", key)]),
            None => self.http_get(&target, &[]),
        }
    }

    /// A fresh connection to the server, with the helpers' I/O timeouts.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| panic!("stand-in server: cannot connect to {}: {e}", self.addr));
        stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
        stream.set_write_timeout(Some(IO_TIMEOUT)).ok();
        stream
    }

    fn exchange(&self, request: &[u8]) -> io::Result<RawResponse> {
        let mut stream = self.connect();
        stream.write_all(request)?;
        read_response(&mut BufReader::new(stream))
    }
}

impl Drop for StandInServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one HTTP/1.1 response: framed by `Content-Length`, chunked encoding, or the
/// end of the connection. Usable on a kept-alive connection (wrap it in one
/// `BufReader` for all its responses). Skips `1xx` interim responses.
pub fn read_response<R: BufRead>(reader: &mut R) -> io::Result<RawResponse> {
    loop {
        let status_line = read_line(reader)?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|_| version.starts_with("HTTP/1."))
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(reader)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
            headers.push((name.to_string(), value.trim().to_string()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        let mut resp = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        if status == 204 || status == 304 {
            // No body.
        } else if chunked {
            loop {
                let line = read_line(reader)?;
                let size_text = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
                if size == 0 {
                    while !read_line(reader)?.is_empty() {}
                    break;
                }
                let start = resp.body.len();
                resp.body.resize(start + size, 0);
                reader.read_exact(&mut resp.body[start..])?;
                read_line(reader)?;
            }
        } else if let Some(length) = resp.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
            resp.body.resize(length, 0);
            reader.read_exact(&mut resp.body)?;
        } else {
            reader.read_to_end(&mut resp.body)?;
        }
        return Ok(resp);
    }
}

fn read_line<R: BufRead>(reader: &mut R) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Parses the text of `GET /_control/requests`.
pub fn parse_request_log(text: &str) -> Vec<RecordedRequest> {
    let mut requests = Vec::new();
    let mut current: Option<RecordedRequest> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            requests.extend(current.take());
            continue;
        }
        match &mut current {
            None => {
                let mut parts = line.splitn(3, ' ');
                current = Some(RecordedRequest {
                    method: parts.next().unwrap_or("").to_string(),
                    target: parts.next().unwrap_or("").to_string(),
                    version: parts.next().unwrap_or("").to_string(),
                    headers: Vec::new(),
                });
            }
            Some(request) => {
                // A malformed request may hold a line without a colon; keep it anyway.
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                request
                    .headers
                    .push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    requests.extend(current);
    requests
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so that `s` stays
/// one path segment.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Entry names of a ZIP archive, in central-directory order. Panics if `bytes` is
/// not a readable archive.
pub fn zip_entry_names(bytes: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(io::Cursor::new(bytes))
        .unwrap_or_else(|e| panic!("not a readable ZIP archive ({} bytes): {e}", bytes.len()));
    (0..archive.len())
        .map(|i| {
            archive
                .name_for_index(i)
                .expect("index in range")
                .unwrap_or_else(|e| panic!("ZIP entry {i}: bad name: {e}"))
                .into_owned()
        })
        .collect()
}

/// True if `name` is `<stem>-<13 digits><ext>` (the service's timestamped names),
/// e.g. `report-1719265797164.pdf` for `stem = "report"`, `ext = ".pdf"`.
pub fn is_stamped_name(name: &str, stem: &str, ext: &str) -> bool {
    name.strip_prefix(stem)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| rest.strip_suffix(ext))
        .is_some_and(|digits| digits.len() == 13 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Names in `dir` that are not in `keep` (left-over temporary files).
pub fn leftovers(dir: &std::path::Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

/// A fresh directory and the path `out.zip` inside it.
pub fn scratch() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zip");
    (dir, path)
}

/// A listener whose accept queue is full: a new connection's SYN is dropped,
/// so connecting hangs until the connect timeout.
pub struct Unanswering {
    listener: std::net::TcpListener,
    _filler: std::net::TcpStream,
}

impl Unanswering {
    pub fn new() -> Unanswering {
        use std::os::fd::AsRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // Backlog 0: one connection fills the queue, the next SYN is dropped.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let filler = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        Unanswering {
            listener,
            _filler: filler,
        }
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }
}

//! Writing responses, faithfully or with a fault.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::request::Conn;
use super::Framing;

/// Buffer size of the read/write fallback when `sendfile` is not usable.
pub const COPY_CHUNK: usize = 1 << 20;
/// Bodies up to this size are sent in the same write as the head.
pub const COALESCE_LIMIT: usize = 256 * 1024;

pub enum Body {
    Bytes(Arc<Vec<u8>>),
    Static(&'static [u8]),
    /// A file streamed from disk (never loaded in memory), with its length.
    File(File, u64),
    /// The bytes of a body from an offset on (a `206` answer's part).
    Part(Box<Body>, u64),
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Static(b) => b.len() as u64,
            Body::File(_, len) => *len,
            Body::Part(body, from) => body.len().saturating_sub(*from),
        }
    }

    pub fn slice(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            Body::Static(b) => Some(b),
            Body::File(..) => None,
            Body::Part(body, from) => body.slice().map(|b| &b[(*from as usize).min(b.len())..]),
        }
    }

    /// The body this one is a part of, and where the part starts in it.
    fn whole(&self) -> (&Body, u64) {
        match self {
            Body::Part(body, from) => {
                let (whole, at) = body.whole();
                (whole, at + from)
            }
            body => (body, 0),
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Body) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
            close: false,
        }
    }

    pub fn json(status: u16, message: &str) -> Self {
        let text = serde_json::json!({ "code": status, "message": message }).to_string();
        Response::new(
            status,
            "application/json",
            Body::Bytes(Arc::new(text.into_bytes())),
        )
    }

    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            Body::Bytes(Arc::new(text.into().into_bytes())),
        )
    }

    pub fn zip(body: Body) -> Self {
        Response::new(200, "application/zip", body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

/// How a response travels on the wire.
#[derive(Clone, Copy)]
pub enum Delivery {
    Normal,
    Cut(u64),
    LongLength(u64),
    ChunkedCut(u64),
    StallBody(u64, u64),
    /// The body `n` bytes at a time with a pause of `ms` between writes.
    Trickle(u64, u64),
    /// HTTP/1.0 without Content-Length: `n` body bytes, then a clean close.
    CloseCut(u64),
    /// Content-Length `len`, `n` body bytes, `ms` of silence, a close.
    LieLength(u64, u64, u64),
}

impl Delivery {
    /// The body bytes an answer of `len` body bytes carries this way (what
    /// the server writes, or sets out to write: a client that hangs up
    /// early receives less).
    pub fn body_bytes(self, len: u64) -> u64 {
        match self {
            Delivery::Normal
            | Delivery::LongLength(_)
            | Delivery::StallBody(..)
            | Delivery::Trickle(..) => len,
            Delivery::Cut(n) | Delivery::ChunkedCut(n) | Delivery::CloseCut(n) => n.min(len),
            Delivery::LieLength(_, n, _) => n.min(len),
        }
    }
}

/// What happens to the connection after a request.
pub enum Next {
    KeepAlive,
    /// Close gracefully (FIN, then drain what the client still sends).
    Close,
    /// Already dealt with (reset or dead): just drop it.
    Closed,
}

pub fn reason(status: u16) -> &'static str {
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

pub fn write_all_fd(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
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
pub fn sendfile_range(stream: &TcpStream, file: &File, start: u64, end: u64) -> io::Result<u64> {
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
pub fn sendfile_range(_: &TcpStream, _: &File, start: u64, _: u64) -> io::Result<u64> {
    Ok(start)
}

/// Copies `[start, end)` of `file` to the socket: `sendfile` where possible, else
/// 1 MiB reads and writes. Never holds the file in memory.
pub fn send_file_range(stream: &TcpStream, file: &File, start: u64, end: u64) -> io::Result<()> {
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

pub fn write_body(stream: &TcpStream, body: &Body, start: u64, end: u64) -> io::Result<()> {
    if start >= end {
        return Ok(());
    }
    let (body, at) = body.whole();
    let (start, end) = (start + at, end + at);
    match body {
        Body::File(file, _) => send_file_range(stream, file, start, end),
        _ => {
            let bytes = body.slice().unwrap_or_default();
            write_all_fd(stream, &bytes[start as usize..end as usize])
        }
    }
}

pub fn write_chunks(stream: &TcpStream, body: &Body, end: u64) -> io::Result<()> {
    const CHUNK: u64 = 64 * 1024;
    let (whole, at) = body.whole();
    let mut pos = 0;
    let mut buf = Vec::new();
    while pos < end {
        let n = (end - pos).min(CHUNK);
        write_all_fd(stream, format!("{n:x}\r\n").as_bytes())?;
        match whole {
            Body::File(file, _) => {
                buf.resize(n as usize, 0);
                file.read_exact_at(&mut buf, at + pos)?;
                write_all_fd(stream, &buf)?;
            }
            _ => write_body(stream, body, pos, pos + n)?,
        }
        write_all_fd(stream, b"\r\n")?;
        pos += n;
    }
    Ok(())
}

pub fn head_bytes(resp: &Response, framing: Framing, keep_alive: bool, http10: bool) -> Vec<u8> {
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
pub fn set_linger_zero(stream: &TcpStream) {
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
pub fn wait_send_queue_drained(stream: &TcpStream) {
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
pub fn sleep_unless_hangup(stream: &TcpStream, ms: u64) -> bool {
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

pub fn graceful_close(stream: TcpStream) {
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

pub fn send(
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
        Delivery::CloseCut(n) => {
            let mut head = head_bytes(&resp, Framing::None, false, true);
            head[..8].copy_from_slice(b"HTTP/1.0");
            write_all_fd(stream, &head)?;
            write_body(stream, &resp.body, 0, n.min(len))?;
            Ok(Next::Close)
        }
        Delivery::LieLength(announced, n, ms) => {
            write_all_fd(
                stream,
                &head_bytes(&resp, Framing::Length(announced), false, http10),
            )?;
            write_body(stream, &resp.body, 0, n.min(len))?;
            sleep_unless_hangup(stream, ms);
            Ok(Next::Close)
        }
    }
}

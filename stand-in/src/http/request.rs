//! Reading requests from a connection: heads and chunk sizes are parsed by
//! httparse; this module only frames them and applies the server's limits.

use std::io::{self, Read};
use std::net::TcpStream;

use httparse::Status;

use super::Framing;

/// Largest request head (request line + headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header lines accepted in one request head.
const MAX_HEADERS: usize = 128;
/// Largest body accepted on a control request (archives, files).
pub const MAX_CONTROL_BODY: u64 = 1 << 30;
/// Largest body accepted (and discarded) on any other request.
pub const MAX_OTHER_BODY: u64 = 1 << 20;

/// A connection's socket and the bytes read from it but not yet used.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
}

pub enum HeadRead {
    /// A request head: its lines as received (for the request log) and the
    /// request, or why it is malformed.
    Head {
        lines: Vec<String>,
        parsed: Result<Head, String>,
    },
    Eof,
    TooLarge,
    Truncated,
}

pub struct Head {
    pub method: String,
    pub target: String,
    pub http10: bool,
    pub headers: Vec<(String, String)>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
            pos: 0,
        }
    }

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

    /// Fills the buffer, or fails at end of stream.
    fn fill_or_eof(&mut self) -> io::Result<()> {
        match self.fill()? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }

    pub fn read_head(&mut self) -> HeadRead {
        loop {
            // Tolerate empty lines before a request line (RFC 9112 section 2.2).
            let blanks = self
                .unread()
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.consume(blanks);
            let data = self.unread();
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            let (len, parsed) = match request.parse(data) {
                Ok(Status::Complete(len)) if len > MAX_HEAD => return HeadRead::TooLarge,
                Ok(Status::Complete(len)) => (len, Ok(Head::from_request(&request))),
                Ok(Status::Partial) if data.len() > MAX_HEAD => return HeadRead::TooLarge,
                Err(httparse::Error::TooManyHeaders) => return HeadRead::TooLarge,
                // A malformed head: the log records whatever came, up to its
                // end when that is there.
                Err(e) => (head_end(data).unwrap_or(data.len()), Err(e.to_string())),
                Ok(Status::Partial) => {
                    let had_data = !data.is_empty();
                    match self.fill() {
                        Ok(0) | Err(_) if had_data => return HeadRead::Truncated,
                        Ok(0) | Err(_) => return HeadRead::Eof,
                        Ok(_) => continue,
                    }
                }
            };
            let lines = lines_of(&data[..len]);
            self.consume(len);
            return HeadRead::Head { lines, parsed };
        }
    }

    pub fn read_exact_body(&mut self, n: u64, out: &mut Vec<u8>) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            if self.unread().is_empty() {
                self.fill_or_eof()?;
            }
            let take = (self.unread().len() as u64).min(left) as usize;
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.consume(take);
            left -= take as u64;
        }
        Ok(())
    }

    /// Reads a chunked body. `Ok(None)` when it exceeds `limit`; an
    /// `InvalidData` error when it is malformed.
    pub fn read_chunked_body(&mut self, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let mut out = Vec::new();
        loop {
            let (used, size) = loop {
                match httparse::parse_chunk_size(self.unread()) {
                    Ok(Status::Complete(found)) => break found,
                    Ok(Status::Partial) if self.unread().len() > 4096 => {
                        return Err(invalid("chunk size line too long"))
                    }
                    Ok(Status::Partial) => self.fill_or_eof()?,
                    Err(_) => return Err(invalid("bad chunk size")),
                }
            };
            self.consume(used);
            if size == 0 {
                self.skip_trailers()?;
                return Ok(Some(out));
            }
            if out.len() as u64 + size > limit {
                return Ok(None);
            }
            self.read_exact_body(size, &mut out)?;
            while self.unread().len() < 2 {
                self.fill_or_eof()?;
            }
            if !self.unread().starts_with(b"\r\n") {
                return Err(invalid("chunk not followed by CRLF"));
            }
            self.consume(2);
        }
    }

    /// The trailer section after the last chunk, up to its empty line.
    fn skip_trailers(&mut self) -> io::Result<()> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(self.unread(), &mut headers) {
                Ok(Status::Complete((used, _))) => {
                    self.consume(used);
                    return Ok(());
                }
                Ok(Status::Partial) if self.unread().len() <= MAX_HEAD => self.fill_or_eof()?,
                _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "bad trailers")),
            }
        }
    }
}

/// The length of a head up to and including its empty line, if it is all there.
fn head_end(data: &[u8]) -> Option<usize> {
    let lf_lf = data.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = data.windows(3).position(|w| w == b"\n\r\n").map(|i| i + 3);
    lf_lf.into_iter().chain(crlf).min()
}

/// A head's non-empty lines, without their line breaks.
fn lines_of(head: &[u8]) -> Vec<String> {
    head.split(|&b| b == b'\n')
        .map(|line| String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

impl Head {
    fn from_request(request: &httparse::Request<'_, '_>) -> Head {
        Head {
            method: request.method.unwrap_or_default().to_string(),
            target: request.path.unwrap_or_default().to_string(),
            http10: request.version == Some(0),
            headers: request
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value);
                    (
                        h.name.to_string(),
                        value.trim_matches([' ', '\t']).to_string(),
                    )
                })
                .collect(),
        }
    }

    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            false
        } else if self.http10 {
            self.has_token("connection", "keep-alive")
        } else {
            true
        }
    }

    pub fn framing(&self) -> Result<Framing, &'static str> {
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

/// The path part of a request target (origin-form or absolute-form), without query.
pub fn target_path(target: &str) -> &str {
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

/// A percent-encoded path segment, decoded (invalid UTF-8 replaced).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

//! Serving a connection: one request after another, routed to the downloads
//! endpoint or the control API.

use std::collections::VecDeque;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::archive::EMPTY_ZIP;
use crate::http::request::{
    percent_decode, target_path, Conn, Head, HeadRead, MAX_CONTROL_BODY, MAX_OTHER_BODY,
};
use crate::http::response::{
    graceful_close, send, set_linger_zero, sleep_unless_hangup, write_all_fd, Body, Delivery, Next,
    Response,
};
use crate::http::Framing;
use crate::script::Step;
use crate::state::{server_started, Content, Server};

/// Write timeout (a write making no progress for this long fails).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

pub enum Action {
    Respond(Response, Delivery),
    Reset,
    StallThenNormal(u64),
}

impl Server {
    /// Logs a request; returns where (the log's epoch and the index).
    pub fn log(&self, lines: &[String]) -> (u64, usize) {
        let entry = lines.join("\n");
        let mut state = self.state();
        state.log.push(entry);
        state.log_times.push(server_started().elapsed().as_micros());
        state.log_sent.push(0);
        (state.log_epoch, state.log.len() - 1)
    }

    /// Records the body bytes of the answer to the request logged at `at`.
    pub fn log_sent(&self, at: (u64, usize), bytes: u64) {
        let mut state = self.state();
        if state.log_epoch == at.0 {
            if let Some(slot) = state.log_sent.get_mut(at.1) {
                *slot = bytes;
            }
        }
    }

    pub fn normal_answer(&self, id: &str, head: &Head) -> Response {
        let mut keys = head.values("x-bb-api-key");
        match (keys.next(), keys.next()) {
            (Some(key), None) if key == self.config.api_key => self.content_answer(id, head, None),
            _ => Response::json(401, "Invalid or missing API key"),
        }
    }

    pub fn downloads(&self, id: &str, head: &Head) -> Action {
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
        let content = |delivery| Action::Respond(self.content_answer(id, head, None), delivery);
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
            Some(Step::CloseCut(n)) => content(Delivery::CloseCut(n)),
            Some(Step::LieLength(len, n, ms)) => content(Delivery::LieLength(len, n, ms)),
            Some(Step::TrickleStatus(code, len, n, ms)) => {
                let mut resp = Response::json(code, &format!("stand-in fault {code}"));
                if let Body::Bytes(json) = &resp.body {
                    // JSON allows trailing white space: the message still parses.
                    let mut padded = json.to_vec();
                    padded.resize(padded.len().max(len as usize), b' ');
                    resp.body = Body::Bytes(Arc::new(padded));
                }
                Action::Respond(resp, Delivery::Trickle(n, ms))
            }
            Some(Step::StallHeaders(ms)) => Action::StallThenNormal(ms),
            Some(Step::Change) => {
                {
                    let mut state = self.state();
                    if let Some(next) = state.next_archive.remove(id) {
                        state.set_content(id, Content::Raw(next));
                    }
                }
                Action::Respond(self.normal_answer(id, head), Delivery::Normal)
            }
            Some(Step::Range(fault)) => {
                Action::Respond(self.content_answer(id, head, Some(fault)), Delivery::Normal)
            }
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

    /// Serves one request. I/O errors end the connection.
    pub fn serve_one(&self, conn: &mut Conn) -> io::Result<Next> {
        let (lines, parsed) = match conn.read_head() {
            HeadRead::Head { lines, parsed } => (lines, parsed),
            HeadRead::Eof | HeadRead::Truncated => return Ok(Next::Closed),
            HeadRead::TooLarge => {
                let resp = Response::json(431, "Request Header Fields Too Large").closing();
                return send(conn, resp, Delivery::Normal, false, false);
            }
        };
        let is_control = lines
            .first()
            .and_then(|l| l.split(' ').nth(1))
            .is_some_and(|t| target_path(t).starts_with("/_control/"));
        let logged = (!is_control).then(|| self.log(&lines));
        let bad_request = |message: &str| Response::json(400, message).closing();
        let head = match parsed {
            Ok(head) => head,
            Err(message) => {
                return send(conn, bad_request(&message), Delivery::Normal, false, false)
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
            Action::Respond(resp, delivery) => {
                if let Some(at) = logged {
                    let no_body = matches!(resp.status, 204 | 304);
                    let len = if no_body { 0 } else { resp.body.len() };
                    self.log_sent(at, delivery.body_bytes(len));
                }
                send(conn, resp, delivery, keep_alive, http10)
            }
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
                if let Some(at) = logged {
                    self.log_sent(at, resp.body.len());
                }
                send(conn, resp, Delivery::Normal, keep_alive, http10)
            }
        }
    }
}

pub fn handle_connection(server: Arc<Server>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(server.config.read_timeout));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut conn = Conn::new(stream);
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

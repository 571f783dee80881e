//! Fault scripts: what the next downloads requests to a session get instead of
//! (or on top of) their normal answer.

use std::collections::VecDeque;

use crate::sessions::RangeFault;

/// One step of a session's fault script (`POST /_control/sessions/<id>/script`, one
/// step a line; each downloads request to the session consumes one):
/// `ok`, `status CODE | Header: value | ...` (the pseudo-header `Message: "..."`,
/// a JSON string literal so it can hold any character, replaces the JSON
/// body's `message` instead of being sent), `empty`, `reset` (RST before the
/// headers), `cut N` (N body bytes, then RST), `long-length N` (Content-Length N
/// more than the body), `chunked-cut N` (chunked, ends after N bytes without the
/// last chunk), `stall-headers MS`, `stall-body N MS` (N bytes, then MS of
/// silence, then the rest), `trickle N MS` (the body N bytes at a time, MS
/// between writes: slow but never silent for long), `trickle-status CODE LEN
/// N MS` (a CODE answer whose JSON error body is padded to LEN bytes and sent
/// N bytes at a time, MS apart), `redirect URL`, `html`, `close-cut N` (an
/// HTTP/1.0 answer without Content-Length: N body bytes, then a clean close,
/// so the cut looks like the end of the body), `lie-length LEN N MS`
/// (Content-Length LEN, N body bytes, then MS of silence, or until the client
/// hangs up, then a close).
///
/// Ranges (each answers the archive with the session's validators, honouring
/// `Range`/`If-Range` as a normal answer does): `cut N` is "cut once at byte
/// N" (the body of this answer, whole or a part, stops after N bytes; the
/// next requests are answered whole). `change` first gives the session the
/// archive stored with `/_control/sessions/<id>/next-archive` (a new
/// version: new `ETag` and `Last-Modified`), then answers normally.
/// `wrong-range` (a `206` starting one byte after the asked start, saying
/// so), `wrong-total` (a `206` whose `Content-Range` total is one more than
/// the archive), `no-content-range` (a `206` without `Content-Range`),
/// `other-validator` (a `206` as asked, but with another `ETag` and
/// `Last-Modified` than the ones `If-Range` matched): without a `Range` in
/// the request these answer normally. `unasked-206 N` answers a `206` from
/// byte N whatever the request asked.
/// `GET /_control/requests/times` lists when each logged request arrived
/// (microseconds since the server started, one a line).
#[derive(Debug, Clone)]
pub enum Step {
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
    TrickleStatus(u16, u64, u64, u64),
    Redirect(String),
    Html,
    CloseCut(u64),
    LieLength(u64, u64, u64),
    Change,
    Range(RangeFault),
}

pub fn parse_u64(s: Option<&str>, what: &str) -> Result<u64, String> {
    let s = s.ok_or_else(|| format!("missing {what}"))?;
    s.parse::<u64>()
        .map_err(|_| format!("bad {what}: {s:?} (expected a decimal number)"))
}

pub fn parse_step(line: &str) -> Result<Step, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let step = match verb {
        "ok" => Step::Ok,
        "empty" => Step::Empty,
        "reset" => Step::Reset,
        "html" => Step::Html,
        "change" => Step::Change,
        "wrong-range" => Step::Range(RangeFault::WrongStart),
        "wrong-total" => Step::Range(RangeFault::WrongTotal),
        "no-content-range" => Step::Range(RangeFault::NoContentRange),
        "other-validator" => Step::Range(RangeFault::OtherValidator),
        "unasked-206" => Step::Range(RangeFault::Unasked(parse_u64(words.next(), "byte offset")?)),
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
        "trickle-status" => {
            let code = parse_u64(words.next(), "status code")?;
            if !(200..=599).contains(&code) {
                return Err(format!("status code {code} out of range 200..=599"));
            }
            let len = parse_u64(words.next(), "body length")?;
            let n = parse_u64(words.next(), "byte count")?;
            let ms = parse_u64(words.next(), "milliseconds")?;
            if n == 0 {
                return Err("trickle-status needs at least 1 byte per write".into());
            }
            Step::TrickleStatus(code as u16, len, n, ms)
        }
        "close-cut" => Step::CloseCut(parse_u64(words.next(), "byte count")?),
        "lie-length" => {
            let len = parse_u64(words.next(), "Content-Length")?;
            let n = parse_u64(words.next(), "byte count")?;
            let ms = parse_u64(words.next(), "milliseconds")?;
            Step::LieLength(len, n, ms)
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

pub fn parse_script(text: &str) -> Result<VecDeque<Step>, String> {
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

/// An HTTP token character (RFC 9110 section 5.6.2), for header names in `status` steps.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

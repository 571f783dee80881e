//! `PUT|POST /_control/copies/<prefix>/<count>`, with an archive as the body,
//! makes (or replaces) the `count` sessions `<prefix>0` .. `<prefix><count-1>`
//! (decimal, no padding), all answering exactly that body, as
//! `sessions/<id>/archive` would, from one copy shared in memory: thousands of
//! sessions for the benchmarks without thousands of files or buffers, and
//! nothing added to the path of a download request. They are ordinary
//! sessions afterwards (scripts, deletion). At most [`MAX_COPIES`] in one call.

use std::sync::Arc;

use crate::http::request::percent_decode;
use crate::http::response::Response;
use crate::state::{Content, Server};

/// Most sessions one `copies` call makes.
pub const MAX_COPIES: u64 = 1_000_000;

impl Server {
    /// `rest` is the path after `/_control/copies/`.
    pub fn copies(&self, method: &str, rest: &str, body: Vec<u8>) -> Response {
        if !matches!(method, "PUT" | "POST") {
            return Response::text(405, "method not allowed\n").header("Allow", "PUT, POST");
        }
        let Some((prefix_raw, count_raw)) = rest.split_once('/') else {
            return Response::text(404, "unknown control path: copies/<prefix>/<count>\n");
        };
        let prefix = percent_decode(prefix_raw);
        if prefix.is_empty() {
            return Response::text(400, "empty session id prefix\n");
        }
        let count = match count_raw.parse::<u64>() {
            Ok(n) if (1..=MAX_COPIES).contains(&n) => n,
            _ => {
                return Response::text(
                    400,
                    format!(
                        "count must be a whole number from 1 to {MAX_COPIES}, not {count_raw:?}\n"
                    ),
                )
            }
        };
        let archive = Arc::new(body);
        let mut state = self.state();
        state.sessions.reserve(count as usize);
        for i in 0..count {
            state.set_content(&format!("{prefix}{i}"), Content::Raw(Arc::clone(&archive)));
        }
        Response::text(200, format!("{count} sessions\n"))
    }
}

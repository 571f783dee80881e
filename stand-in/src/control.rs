//! The control API (`/_control/...`, no key): sessions, fault scripts and the
//! request log, for tests.
//!
//! Ranges and validators, per session (all on by default; the body of the
//! POST/PUT says which): `sessions/<id>/ranges` `on|off` (`Accept-Ranges:
//! bytes` and `Range` honoured), `sessions/<id>/etag` `on|weak|off`,
//! `sessions/<id>/last-modified` `on|off`; `sessions/<id>/next-archive`
//! (the bytes the session's archive becomes at its next `change` step).
//! `GET requests/bytes`: the body bytes of the answer to each logged
//! request, one a line, in the order of `GET requests`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::archive::now_ms;
use crate::http::request::percent_decode;
use crate::http::response::Response;
use crate::script::parse_script;
use crate::state::{Content, EtagMode, FileEntry, ReadyAfter, Server, CONNECTIONS_ACCEPTED};

impl Server {
    pub fn control(&self, method: &str, rest: &str, body: Vec<u8>) -> Response {
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
                state.log_sent.clear();
                state.log_epoch += 1;
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
            ("GET", "requests/bytes") => {
                let text: String = self
                    .state()
                    .log_sent
                    .iter()
                    .map(|n| format!("{n}\n"))
                    .collect();
                return Response::text(200, text);
            }
            ("GET", "connections/count") => {
                let n = CONNECTIONS_ACCEPTED.load(Ordering::Relaxed);
                return Response::text(200, n.to_string());
            }
            ("GET", "health") => return Response::text(200, "ok\n"),
            (
                _,
                "requests" | "requests/count" | "requests/times" | "requests/bytes" | "health"
                | "connections/count",
            ) => return Response::text(405, "method not allowed\n"),
            _ => {}
        }
        if let Some(after) = rest.strip_prefix("copies/") {
            return self.copies(method, after, body);
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
            "script" | "ready-after-ms" | "next-archive" => &["POST", "PUT"],
            "ranges" | "etag" | "last-modified" => &["POST", "PUT"],
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
                state.validation.remove(&id);
                state.next_archive.remove(&id);
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
            "next-archive" => {
                self.state().next_archive.insert(id, Arc::new(body));
                Response::text(200, "ok\n")
            }
            "ranges" | "etag" | "last-modified" => {
                let text = String::from_utf8_lossy(&body).trim().to_ascii_lowercase();
                let mut state = self.state();
                let mut v = state.validation(&id);
                match (what, text.as_str()) {
                    ("ranges", "on") => v.ranges = true,
                    ("ranges", "off") => v.ranges = false,
                    ("etag", "on" | "strong") => v.etag = EtagMode::Strong,
                    ("etag", "weak") => v.etag = EtagMode::Weak,
                    ("etag", "off") => v.etag = EtagMode::Off,
                    ("last-modified", "on") => v.last_modified = true,
                    ("last-modified", "off") => v.last_modified = false,
                    _ => {
                        return Response::text(
                            400,
                            format!(
                                "{what}: body must be on or off (etag: also weak), not {text:?}\n"
                            ),
                        )
                    }
                }
                state.validation.insert(id, v);
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
}

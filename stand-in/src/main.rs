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
//!   every non-control request received. See `control.rs`; the fault steps are
//!   listed in `script.rs`.
//!
//! Modules, one concern each: `cli` (arguments), `state` (sessions, fault
//! scripts, the request log), `script` (fault steps), `archive` (ZIPs built as
//! the service builds them; demo content), `sessions` (what a session answers),
//! `routes` (connections and routing), `control` (the control API), `copies`
//! (its call making thousands of sessions at once), `http` (requests parsed by
//! httparse; responses written by hand, with faults).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archive::{demo_csv, demo_pdf, DEMO_CSV_MS, DEMO_EMPTY_SESSION, DEMO_PDF_MS, DEMO_SESSION};
use cli::{parse_args, USAGE};
use routes::handle_connection;
use state::{Content, FileEntry, Server, State, CONNECTIONS_ACCEPTED};

mod archive;
mod cli;
mod control;
mod copies;
mod http;
mod routes;
mod script;
mod sessions;
mod state;

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
                CONNECTIONS_ACCEPTED.fetch_add(1, Ordering::Relaxed);
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

//! The troubleshooting log: one line per request and retry, never the key;
//! routed to a callback, or to stderr by BROWSERBASE_LOG. (Its own test
//! binary: the logger is process-wide.)

mod support;

use std::sync::{Arc, Mutex};

use browserbase::log::{set_logger, Level};
use browserbase::{Client, ClientConfig};
use support::cbuild::{compile, out_dir, program, run, Link, CFLAGS};
use support::StandInServer;

const KEY: &str = StandInServer::KEY;

/// The logger is process-wide: tests that replace it take turns.
fn logger_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn requests_and_retries_are_logged_without_the_key() {
    let _turn = logger_turn();
    let server = StandInServer::start_with(&["--demo"]);
    let lines: Arc<Mutex<Vec<(Level, String)>>> = Arc::default();
    let sink = lines.clone();
    set_logger(
        Some(Arc::new(move |level, line: &str| {
            sink.lock().unwrap().push((level, line.to_owned()))
        })),
        Some(Level::Debug),
    );
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    let client = Client::new(config).unwrap();
    server.script(
        StandInServer::DEMO_SESSION,
        &["status 503 | retry-after-ms: 10"],
    );
    let data = client
        .download_to_vec(Some(KEY), StandInServer::DEMO_SESSION)
        .unwrap();
    set_logger(None, None);

    let lines = lines.lock().unwrap().clone();
    let path = format!("/v1/sessions/{}/downloads", StandInServer::DEMO_SESSION);
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        lines.iter().any(|(lvl, l)| *lvl == Level::Info
            && l.starts_with(&format!("GET {path} -> 503"))
            && l.contains("(attempt 1/3)")),
        "{text:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|(lvl, l)| *lvl == Level::Warn && l.contains("retrying in")),
        "{text:#?}"
    );
    let done = format!("GET {path} -> 200, {} bytes in ", data.len());
    assert!(
        lines
            .iter()
            .any(|(_, l)| l.starts_with(&done) && l.contains("(attempt 2/3)")),
        "{text:#?}"
    );
    assert!(lines.iter().all(|(_, l)| !l.contains(KEY)), "{text:#?}");
}

#[test]
fn browserbase_log_writes_to_stderr_and_is_quiet_otherwise() {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("logging");
    let exe = dir.join("download");
    compile(false, CFLAGS, "examples/download.c", &exe, Link::Shared);
    let out = dir.join("scratch/out.zip");
    let base = server.base_url();
    let with_log = run(program(&exe)
        .args([StandInServer::DEMO_SESSION, out.to_str().unwrap()])
        .env("BROWSERBASE_BASE_URL", &base)
        .env("BROWSERBASE_API_KEY", KEY)
        .env("BROWSERBASE_LOG", "debug"));
    assert!(with_log.status.success(), "{}", with_log.describe());
    assert!(
        with_log
            .stderr
            .contains("browserbase: info: GET /v1/sessions/")
            && with_log.stderr.contains("-> 200, 4212 bytes in"),
        "{}",
        with_log.describe()
    );
    assert!(!with_log.stderr.contains(KEY));
    // Not a terminal: no progress bar on stdout, just the result line.
    assert_eq!(
        with_log.stdout.lines().count(),
        1,
        "{}",
        with_log.describe()
    );

    let quiet = run(program(&exe)
        .args([StandInServer::DEMO_SESSION, out.to_str().unwrap()])
        .env("BROWSERBASE_BASE_URL", &base)
        .env("BROWSERBASE_API_KEY", KEY)
        .env_remove("BROWSERBASE_LOG"));
    assert!(quiet.status.success(), "{}", quiet.describe());
    assert_eq!(quiet.stderr, "", "{}", quiet.describe());
}

/// Runs tests/c/test_callbacks.c (built into `target/.../c-tests/<name>/`)
/// with `BROWSERBASE_LOG` set to `log` (or unset), and checks every check
/// passed.
fn run_test_callbacks(name: &str, log: Option<&str>) -> support::cbuild::Run {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir(name);
    let exe = dir.join("test_callbacks");
    compile(
        false,
        CFLAGS,
        "tests/c/test_callbacks.c",
        &exe,
        Link::Shared,
    );
    let mut command = program(&exe);
    command
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BB_TEST_SESSION", StandInServer::DEMO_SESSION);
    match log {
        Some(value) => command.env("BROWSERBASE_LOG", value),
        None => command.env_remove("BROWSERBASE_LOG"),
    };
    let result = run(&mut command);
    assert!(result.status.success(), "{}", result.describe());
    assert!(
        result.stdout.contains("15 passed, 0 failed"),
        "{}",
        result.describe()
    );
    result
}

/// tests/c/test_log_v2.c: bb_set_log_callback_v2 never waits, and releases
/// the old user_data through destroy exactly once, after its last running
/// call (a thread parked inside it; from inside the callback; across a
/// fork).
#[test]
fn the_v2_log_setter_never_waits_and_destroys_after_the_last_call() {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("log_v2");
    let exe = dir.join("test_log_v2");
    compile(false, CFLAGS, "tests/c/test_log_v2.c", &exe, Link::Shared);
    let result = run(program(&exe)
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BB_TEST_SESSION", StandInServer::DEMO_SESSION)
        .env_remove("BROWSERBASE_LOG"));
    assert!(result.status.success(), "{}", result.describe());
    assert!(
        result.stdout.contains("25 passed, 0 failed"),
        "{}",
        result.describe()
    );
    assert_eq!(result.stderr, "", "{}", result.describe());
}

#[test]
fn progress_and_log_callbacks_work_from_c() {
    let result = run_test_callbacks("callbacks", None);
    assert_eq!(result.stderr, "", "{}", result.describe());
}

#[test]
fn bb_log_off_with_a_null_callback_silences_even_browserbase_log() {
    // test_callbacks ends with bb_set_log_callback(NULL, NULL, BB_LOG_OFF)
    // and a download: with BROWSERBASE_LOG=debug that download's lines went
    // to stderr (NULL re-applied the environment).
    let result = run_test_callbacks("callbacks_log_debug", Some("debug"));
    assert_eq!(result.stderr, "", "{}", result.describe());
}

#[test]
fn a_bad_browserbase_log_is_reported_once() {
    // test_callbacks restores the default (NULL) three times; the bad value
    // was reported at each of them and once more when first read.
    let result = run_test_callbacks("callbacks_log_bad", Some("loud"));
    assert_eq!(
        result
            .stderr
            .matches("BROWSERBASE_LOG=\"loud\" is not one of")
            .count(),
        1,
        "{}",
        result.describe()
    );
    assert_eq!(result.stderr.lines().count(), 1, "{}", result.describe());
}

/// Collects the lines of a callback logger at `max` (take `logger_turn` first).
/// A retry that continues a cut body says so, and where (issue 14).
#[test]
fn a_resumed_retry_says_where_it_resumes() {
    let _turn = logger_turn();
    let server = StandInServer::start();
    let session = "log-resume";
    let mut x: u32 = 2_463_534_242;
    let noise: Vec<u8> = (0..50_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    server.add_file(session, "a.bin", &noise);
    let whole = server.download(session, Some(KEY)).body;
    server.clear_requests();
    server.script(session, &["cut 10000"]);
    let lines = capture(Level::Debug);
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    let data = Client::new(config)
        .unwrap()
        .download_to_vec(Some(KEY), session)
        .unwrap();
    set_logger(None, None);
    assert!(data == whole);
    let lines = lines.lock().unwrap().clone();
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    let path = format!("/v1/sessions/{session}/downloads");
    assert!(
        lines.iter().any(|(lvl, l)| *lvl == Level::Info
            && *l == format!("GET {path}: resuming at byte 10000 of {}", whole.len())),
        "{text:#?}"
    );
    let done = format!("GET {path} -> 206, {} bytes in ", whole.len() - 10_000);
    assert!(
        lines.iter().any(|(_, l)| l.starts_with(&done)
            && l.contains(&format!("resumed at byte 10000, {} in all", whole.len()))),
        "{text:#?}"
    );
}

fn capture(max: Level) -> Arc<Mutex<Vec<(Level, String)>>> {
    let lines: Arc<Mutex<Vec<(Level, String)>>> = Arc::default();
    let sink = lines.clone();
    set_logger(
        Some(Arc::new(move |level, line: &str| {
            sink.lock().unwrap().push((level, line.to_owned()))
        })),
        Some(max),
    );
    lines
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

#[test]
fn a_redirect_target_holding_the_key_is_redacted_in_messages_and_log_lines() {
    let _turn = logger_turn();
    // A key with capitals: host names come back lower-cased from the URL
    // parser, and must still be recognised as the key.
    const MIXED_KEY: &str = "bb_Live_Key_0123abcd";
    let server = StandInServer::start_with(&["--demo", "--api-key", MIXED_KEY]);
    let lines = capture(Level::Debug);
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    config.set_max_retries(0).unwrap();
    config
        .set_connect_timeout(std::time::Duration::from_secs(2))
        .unwrap();
    config.set_deadline(Some(std::time::Duration::from_secs(10)));
    let client = Client::new(config).unwrap();
    let lower = MIXED_KEY.to_ascii_lowercase();
    let targets = [
        // Refused (plain http to a remote host): the refusal names the host.
        format!("http://{MIXED_KEY}.example.com/x"),
        // Followed, and the connection fails: "cannot connect to <host>".
        format!("https://{MIXED_KEY}.invalid/x"),
        // Followed to loopback; the debug line names the path.
        format!("http://127.0.0.1:1/{MIXED_KEY}/downloads"),
    ];
    let mut messages = Vec::new();
    for target in &targets {
        server.script(
            StandInServer::DEMO_SESSION,
            &[&format!("redirect {target}")],
        );
        let err = client
            .download_to_vec(Some(MIXED_KEY), StandInServer::DEMO_SESSION)
            .unwrap_err();
        messages.push(err.message().to_owned());
    }
    set_logger(None, None);
    let lines = lines.lock().unwrap().clone();
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    for m in &messages {
        assert!(
            !m.to_ascii_lowercase().contains(&lower),
            "the key is in the message: {m}"
        );
    }
    assert!(
        messages[0].contains("[redacted].example.com")
            && messages[1].contains("[redacted].invalid"),
        "{messages:#?}"
    );
    let redirects = lines
        .iter()
        .filter(|(_, l)| l.contains("following the redirect"))
        .count();
    assert_eq!(redirects, 3, "{text:#?}");
    assert!(
        lines
            .iter()
            .all(|(_, l)| !l.to_ascii_lowercase().contains(&lower)),
        "{text:#?}"
    );
}

/// A 403 whose message tries to forge a log line and send terminal escapes.
const FORGING_403: &str = r#"status 403 | Message: "denied\nGET /v1/sessions/x/downloads -> 200, 4212 bytes in 1 ms (attempt 1/1)\r\u001b]0;owned\u0007\u001b[2J\u0085\u007f""#;

#[test]
fn server_text_cannot_forge_log_lines_or_send_terminal_escapes() {
    let _turn = logger_turn();
    let server = StandInServer::start_with(&["--demo"]);
    let lines = capture(Level::Debug);
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    let client = Client::new(config).unwrap();
    server.script(StandInServer::DEMO_SESSION, &[FORGING_403]);
    let err = client
        .download_to_vec(Some(KEY), StandInServer::DEMO_SESSION)
        .unwrap_err();
    set_logger(None, None);
    assert_eq!(err.kind(), browserbase::ErrorKind::PermissionDenied);
    let m = err.message();
    assert!(!has_control(m), "{m:?}");
    assert!(
        m.contains(r"denied\nGET /v1/sessions/x/downloads -> 200")
            && m.contains(r"\r\u{1b}]0;owned\u{7}\u{1b}[2J\u{85}\u{7f}"),
        "{m:?}"
    );
    let lines = lines.lock().unwrap().clone();
    assert!(!lines.is_empty());
    for (_, line) in &lines {
        assert!(!has_control(line), "{line:?}");
    }
    assert!(
        lines.iter().any(|(_, l)| l.contains(r"denied\nGET")),
        "{lines:#?}"
    );
}

#[test]
fn server_text_cannot_forge_lines_on_stderr() {
    // The same 403 through the C API and BROWSERBASE_LOG: stderr gets the
    // library's log line and examples/download.c's bb_error_message line,
    // each one line, and no line that the server wrote.
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("logging_forged");
    let exe = dir.join("download");
    compile(false, CFLAGS, "examples/download.c", &exe, Link::Shared);
    server.script(StandInServer::DEMO_SESSION, &[FORGING_403]);
    let out = dir.join("scratch/out.zip");
    let result = run(program(&exe)
        .args([StandInServer::DEMO_SESSION, out.to_str().unwrap()])
        .env("BROWSERBASE_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", KEY)
        .env("BROWSERBASE_LOG", "info"));
    assert!(!result.status.success(), "{}", result.describe());
    let stderr = &result.stderr;
    assert!(
        !stderr.chars().any(|c| c.is_control() && c != '\n'),
        "{stderr:?}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr:?}");
    assert!(
        lines[0].starts_with("browserbase: info: GET /v1/sessions/"),
        "{stderr:?}"
    );
    assert!(
        lines[1].starts_with("download: BB_ERR_PERMISSION_DENIED"),
        "{stderr:?}"
    );
    assert!(stderr.contains(r"denied\nGET"), "{stderr:?}");
}

#[test]
fn replacing_the_logger_waits_for_calls_of_the_old_one() {
    let _turn = logger_turn();
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let inside = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (i, f) = (inside.clone(), finished.clone());
    set_logger(
        Some(Arc::new(move |_, _: &str| {
            i.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            f.store(true, Ordering::SeqCst);
        })),
        Some(Level::Error),
    );
    let logging =
        std::thread::spawn(|| browserbase::log::write(Level::Error, format_args!("slow line")));
    while !inside.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    set_logger(None, None);
    // The old callback's call had finished when the replacement returned.
    assert!(
        finished.load(Ordering::SeqCst),
        "returned after {:?}",
        started.elapsed()
    );
    logging.join().unwrap();

    // A callback that replaces itself does not wait for its own call (this
    // would hang otherwise), and the replacement takes effect.
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    set_logger(
        Some(Arc::new(move |_, _: &str| {
            c.fetch_add(1, Ordering::SeqCst);
            set_logger(None, None);
        })),
        Some(Level::Error),
    );
    browserbase::log::write(Level::Error, format_args!("replace me"));
    browserbase::log::write(Level::Error, format_args!("goes to stderr, if anywhere"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// What a released callback records: how often `release` ran, on which
/// thread, and how many of its calls were running then.
#[derive(Default)]
struct Released {
    times: std::sync::atomic::AtomicUsize,
    inside_then: std::sync::atomic::AtomicUsize,
    thread: Mutex<Option<std::thread::ThreadId>>,
}

impl Released {
    fn release(
        self: &Arc<Self>,
        inside: &Arc<std::sync::atomic::AtomicUsize>,
    ) -> browserbase::log::Release {
        let (me, inside) = (self.clone(), inside.clone());
        Box::new(move || {
            use std::sync::atomic::Ordering::SeqCst;
            me.inside_then.store(inside.load(SeqCst), SeqCst);
            *me.thread.lock().unwrap() = Some(std::thread::current().id());
            me.times.fetch_add(1, SeqCst);
        })
    }

    fn times(&self) -> usize {
        self.times.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn replacing_without_waiting_releases_the_old_logger_after_its_last_call() {
    let _turn = logger_turn();
    use browserbase::log::{set_logger_nowait, silence_nowait, write};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::mpsc::channel;
    use std::time::Duration;

    // A thread parks inside the old callback until told to go on.
    let (entered_tx, entered) = channel::<()>();
    let (go, go_rx) = channel::<()>();
    let (entered_tx, go_rx) = (Mutex::new(entered_tx), Mutex::new(go_rx));
    let inside = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(Released::default());
    let i = inside.clone();
    set_logger_nowait(
        Some(Arc::new(move |_, _: &str| {
            i.fetch_add(1, SeqCst);
            entered_tx.lock().unwrap().send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            i.fetch_sub(1, SeqCst);
        })),
        Some(Level::Error),
        Some(released.release(&inside)),
    );
    let parked = std::thread::spawn(|| {
        write(Level::Error, format_args!("parked line"));
        std::thread::current().id()
    });
    entered.recv_timeout(Duration::from_secs(20)).unwrap();

    // The replacement returns at once (on a thread, so that a setter that
    // waited fails the test instead of hanging it) and takes effect.
    let new_lines = Arc::new(AtomicUsize::new(0));
    let n = new_lines.clone();
    let (done_tx, done) = channel();
    std::thread::spawn(move || {
        set_logger_nowait(
            Some(Arc::new(move |_, _: &str| {
                n.fetch_add(1, SeqCst);
            })),
            Some(Level::Error),
            None,
        );
        done_tx.send(()).unwrap();
    });
    done.recv_timeout(Duration::from_secs(20))
        .expect("the setter waited for the parked call");
    assert_eq!(released.times(), 0, "released while its call runs");
    write(Level::Error, format_args!("new line"));
    assert_eq!(new_lines.load(SeqCst), 1);

    go.send(()).unwrap();
    let parked_thread = parked.join().unwrap();
    assert_eq!(released.times(), 1);
    assert_eq!(released.inside_then.load(SeqCst), 0);
    assert_eq!(*released.thread.lock().unwrap(), Some(parked_thread));

    // From inside its own call: released once that call returned.
    let inside = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(Released::default());
    let i = inside.clone();
    set_logger_nowait(
        Some(Arc::new(move |_, _: &str| {
            i.fetch_add(1, SeqCst);
            silence_nowait();
            i.fetch_sub(1, SeqCst);
        })),
        Some(Level::Error),
        Some(released.release(&inside)),
    );
    write(Level::Error, format_args!("remove me"));
    write(Level::Error, format_args!("goes nowhere"));
    assert_eq!(released.times(), 1);
    assert_eq!(released.inside_then.load(SeqCst), 0);
    assert_eq!(
        *released.thread.lock().unwrap(),
        Some(std::thread::current().id())
    );

    // No call running: released inside the replacing call; with no sink,
    // at once; the waiting setter releases too.
    for replace_with_waiting_setter in [false, true] {
        let released = Arc::new(Released::default());
        set_logger_nowait(
            Some(Arc::new(|_, _: &str| {})),
            Some(Level::Error),
            Some(released.release(&Arc::default())),
        );
        if replace_with_waiting_setter {
            set_logger(None, None);
        } else {
            silence_nowait();
        }
        assert_eq!(released.times(), 1);
    }
    let released = Arc::new(Released::default());
    set_logger_nowait(None, None, Some(released.release(&Arc::default())));
    assert_eq!(released.times(), 1);
    set_logger(None, None);
}

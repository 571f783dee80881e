//! Many sessions in one call (`Client::download_sessions`,
//! `bb_download_sessions`) against the stand-in server.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use browserbase::{
    session_file_name, BatchProgressFn, CallOptions, Cancel, Client, ClientConfig, ErrorKind,
    Progress, SessionResult,
};
use support::StandInServer;

const KEY: Option<&str> = Some(StandInServer::KEY);

/// Descriptors and threads are counted process-wide: the tests of this
/// file run one at a time.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn client_with(server: &StandInServer, retries: u32) -> Client {
    let mut c = ClientConfig::default();
    c.set_base_url(&server.base_url()).unwrap();
    c.set_max_retries(retries).unwrap();
    Client::new(c).unwrap()
}

/// Sessions `<prefix>0..n`, each with one file named after it.
fn sessions(server: &StandInServer, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}{i}");
            server.add_file(&id, &format!("{id}.txt"), id.as_bytes());
            id
        })
        .collect()
}

fn refs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn many_sessions_each_to_its_own_file() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "s", 12);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let report = client
        .download_sessions(KEY, &refs(&ids), dir.path(), 4, &CallOptions::new(), None)
        .unwrap();
    assert_eq!(report.results, vec![SessionResult::Ok; 12]);
    assert_eq!(report.failed, 0);
    assert!(report.error(&refs(&ids)).is_none());
    for id in &ids {
        let bytes = std::fs::read(dir.path().join(format!("{id}.zip"))).unwrap();
        let names = support::zip_entry_names(&bytes);
        assert!(
            names.len() == 1 && support::is_stamped_name(&names[0], id, ".txt"),
            "{names:?}"
        );
    }
    let names: Vec<String> = ids.iter().map(|id| format!("{id}.zip")).collect();
    assert_eq!(
        sorted(support::leftovers(dir.path(), &[])),
        sorted(names.clone())
    );
    assert_eq!(server.request_count(), 12);
}

/// 404, 500, a body cut short and a non-archive among successes: each
/// failure is its own, in its own slot; the others are whole.
#[test]
fn failures_are_per_session_and_the_first_by_index_is_reported() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "m", 6);
    // m1: no such session; m2: 500; m3: cut; m5: an HTML page.
    server.delete_session("m1");
    server.script("m2", &["status 500"]);
    server.script("m3", &["cut 10"]);
    server.script("m5", &["html"]);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let list = refs(&ids);
    let report = client
        .download_sessions(KEY, &list, dir.path(), 3, &CallOptions::new(), None)
        .unwrap();
    use SessionResult::{Failed, Ok};
    assert_eq!(
        report.results,
        vec![
            Ok,
            Failed(ErrorKind::NotFound),
            Failed(ErrorKind::Server),
            Failed(ErrorKind::Connection),
            Ok,
            Failed(ErrorKind::InvalidArchive),
        ]
    );
    assert_eq!(report.failed, 4);
    let e = report.error(&list).unwrap();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{}", e.message());
    let m = e.message();
    assert!(m.starts_with("4 of 6 sessions failed: "), "{m}");
    assert!(m.contains("session_ids[1] \"m1\""), "{m}");
    assert!(m.contains("session_ids[2] \"m2\""), "{m}");
    assert!(m.contains("session_ids[3] \"m3\""), "{m}");
    assert!(m.ends_with("; and 1 more"), "{m}");
    assert!(!m.contains(StandInServer::KEY), "{m}");
    assert_eq!(
        sorted(support::leftovers(dir.path(), &[])),
        vec!["m0.zip".to_owned(), "m4.zip".to_owned()]
    );
}

/// Each session gets the client's retries on its own.
#[test]
fn each_session_is_retried_on_its_own() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "r", 3);
    server.script("r1", &["status 503 | Retry-After: 0", "reset"]);
    let client = client_with(&server, 2);
    let dir = tempfile::tempdir().unwrap();
    let report = client
        .download_sessions(KEY, &refs(&ids), dir.path(), 2, &CallOptions::new(), None)
        .unwrap();
    assert_eq!(report.results, vec![SessionResult::Ok; 3]);
    assert_eq!(server.request_count(), 5);
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let _alone = alone();
    let server = StandInServer::start();
    sessions(&server, "b", 2);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let none = CallOptions::new();
    let refused = |ids: &[&str], dir: &Path, options: &CallOptions| {
        client
            .download_sessions(KEY, ids, dir, 2, options, None)
            .unwrap_err()
    };
    let e = refused(&[], dir.path(), &none);
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = refused(&["b0", "b1", ".."], dir.path(), &none);
    assert!(
        e.message().starts_with("session_ids[2]: "),
        "{}",
        e.message()
    );
    let e = refused(&["b0", "x\ny"], dir.path(), &none);
    assert!(
        e.message().starts_with("session_ids[1]: "),
        "{}",
        e.message()
    );
    let e = refused(&["b0", "b1", "b0"], dir.path(), &none);
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.message()
            .contains("session_ids[2] \"b0\" is a duplicate of session_ids[0]"),
        "{}",
        e.message()
    );
    let long = "%".repeat(100);
    let e = refused(&["b0", &long], dir.path(), &none);
    assert!(
        e.message().starts_with("session_ids[1]: too long"),
        "{}",
        e.message()
    );
    let e = refused(&["b0"], &dir.path().join("missing"), &none);
    assert_eq!(e.kind(), ErrorKind::Io, "{}", e.message());
    let e = refused(&["b0"], &file, &none);
    assert_eq!(e.kind(), ErrorKind::Io, "{}", e.message());
    let cancel = Cancel::new().unwrap();
    cancel.trigger();
    let e = refused(&["b0"], dir.path(), &CallOptions::new().cancel(cancel));
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(server.request_count(), 0);
    assert_eq!(
        support::leftovers(dir.path(), &["a-file"]),
        Vec::<String>::new()
    );
}

/// Ids that are not safe file names get their documented encoding.
#[test]
fn ids_that_are_not_file_names_are_encoded() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids: Vec<String> = ["a/b", ".hidden", "50%", "ünï", "plain-1.2_x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for id in &ids {
        server.add_file(id, "f.txt", id.as_bytes());
    }
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let report = client
        .download_sessions(KEY, &refs(&ids), dir.path(), 0, &CallOptions::new(), None)
        .unwrap();
    assert_eq!(report.results, vec![SessionResult::Ok; ids.len()]);
    let expected = vec![
        "%2Ehidden.zip",
        "50%25.zip",
        "a%2Fb.zip",
        "plain-1.2_x.zip",
        "%C3%BCn%C3%AF.zip",
    ];
    for name in &expected {
        assert!(dir.path().join(name).is_file(), "{name}");
    }
    let names: Vec<String> = ids.iter().map(|id| session_file_name(id)).collect();
    assert_eq!(sorted(support::leftovers(dir.path(), &[])), sorted(names));
    for id in &ids {
        assert_eq!(
            browserbase::session_id_from_file_name(&session_file_name(id)).as_deref(),
            Some(id.as_str())
        );
    }
}

/// What the batch progress function saw: per index, started and ended;
/// the most sessions in flight at once, and the threads it ran on.
#[derive(Default)]
struct Seen {
    started: HashSet<usize>,
    ended: HashSet<usize>,
    max_in_flight: usize,
    threads: HashSet<std::thread::ThreadId>,
    max_fds: usize,
    max_threads: usize,
    events: usize,
    last_batch_received: u64,
}

fn watching(
    seen: &Arc<Mutex<Seen>>,
    stop: impl Fn(&Seen) -> bool + Send + Sync + 'static,
) -> BatchProgressFn {
    let seen = Arc::clone(seen);
    BatchProgressFn::new(move |p| {
        let mut s = seen.lock().unwrap();
        s.threads.insert(std::thread::current().id());
        assert!(p.batch_received >= s.last_batch_received);
        s.last_batch_received = p.batch_received;
        if p.finished.is_some() {
            s.ended.insert(p.index);
        } else {
            s.started.insert(p.index);
        }
        let in_flight = s.started.difference(&s.ended).count();
        s.max_in_flight = s.max_in_flight.max(in_flight);
        s.events += 1;
        if s.events % 16 == 1 {
            s.max_fds = s.max_fds.max(open_fds());
            s.max_threads = s.max_threads.max(threads());
        }
        !stop(&s)
    })
}

/// At most N at once (what the progress reports show), on the client's
/// kept-alive connections: a few connections for many more sessions (an
/// unbounded batch would open one per session, all requests being sent at
/// once). Not exactly N: a finished transfer's connection goes back to the
/// pool once hyper's connection task has seen the response end, which may
/// be just after the next transfer asked for one; the extra connection then
/// stays in the pool and serves later transfers.
#[test]
fn at_most_n_transfers_at_once_over_kept_alive_connections() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "c", 24);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let before = server.connection_count();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let report = client
        .download_sessions(
            KEY,
            &refs(&ids),
            dir.path(),
            3,
            &CallOptions::new(),
            Some(watching(&seen, |_| false)),
        )
        .unwrap();
    assert_eq!(report.failed, 0);
    let opened = server.connection_count() - before;
    assert!((1..=6).contains(&opened), "{opened} connections");
    let s = seen.lock().unwrap();
    assert!(s.max_in_flight <= 3, "{}", s.max_in_flight);
    assert_eq!(s.ended.len(), 24);
    // Every callback on the calling thread.
    assert_eq!(s.threads, HashSet::from([std::thread::current().id()]));
}

/// The batch progress function's `false` cancels the batch: the finished
/// files stay, the transfer under way leaves nothing, the rest is
/// `Cancelled`. Session 0 stalls mid-body the whole time, so this also
/// shows the others went on beside it.
#[test]
fn batch_progress_false_cancels_and_leaves_only_finished_files() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "p", 10);
    server.script("p0", &["stall-body 10 60000"]);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let started = Instant::now();
    let report = client
        .download_sessions(
            KEY,
            &refs(&ids),
            dir.path(),
            2,
            &CallOptions::new(),
            Some(watching(&seen, |s| s.ended.len() >= 4)),
        )
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    use SessionResult::{Failed, Ok};
    let mut expected = vec![Failed(ErrorKind::Cancelled); 10];
    for r in expected.iter_mut().take(5).skip(1) {
        *r = Ok;
    }
    assert_eq!(report.results, expected);
    let e = report.error(&refs(&ids)).unwrap();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(
        e.message().starts_with("6 of 10 sessions failed"),
        "{}",
        e.message()
    );
    assert_eq!(
        sorted(support::leftovers(dir.path(), &[])),
        vec!["p1.zip", "p2.zip", "p3.zip", "p4.zip"]
    );
}

/// The cancel handle, triggered from another thread mid-batch: the same.
#[test]
fn a_cancel_handle_mid_batch_leaves_only_finished_files() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "h", 10);
    server.script("h0", &["stall-body 10 60000"]);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let cancel = Cancel::new().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let trigger = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            if rx.recv().is_ok() {
                cancel.trigger();
            }
        })
    };
    let done = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&done);
    let progress = BatchProgressFn::new(move |p| {
        if matches!(p.finished, Some(Ok(()))) && counter.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
            let _ = tx.lock().unwrap().send(());
        }
        true
    });
    let fds_before = open_fds();
    let report = client
        .download_sessions(
            KEY,
            &refs(&ids),
            dir.path(),
            2,
            &CallOptions::new().cancel(cancel),
            Some(progress),
        )
        .unwrap();
    trigger.join().unwrap();
    assert_eq!(
        report.results[0],
        SessionResult::Failed(ErrorKind::Cancelled)
    );
    let ok: Vec<String> = report
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == SessionResult::Ok)
        .map(|(i, _)| format!("h{i}.zip"))
        .collect();
    assert!(ok.len() >= 3, "{:?}", report.results);
    for r in &report.results {
        assert!(matches!(
            r,
            SessionResult::Ok | SessionResult::Failed(ErrorKind::Cancelled)
        ));
    }
    assert_eq!(sorted(support::leftovers(dir.path(), &[])), sorted(ok));
    drop(client);
    assert!(open_fds() <= fds_before, "{} > {fds_before}", open_fds());
}

/// Memory flat in the number of ids: many sessions through a small N keep
/// as many descriptors and threads as a few would, and start no thread.
#[test]
fn many_ids_through_a_small_n_keep_descriptors_and_threads_bounded() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "f", 300);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let fds_before = open_fds();
    let threads_before = threads();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let before = server.connection_count();
    let report = client
        .download_sessions(
            KEY,
            &refs(&ids),
            dir.path(),
            4,
            &CallOptions::new(),
            Some(watching(&seen, |_| false)),
        )
        .unwrap();
    assert_eq!(report.failed, 0);
    let s = seen.lock().unwrap();
    // Per transfer: a socket and a temporary file; plus the runtime's epoll
    // and eventfd, and the directory listing of this check itself.
    assert!(
        s.max_fds <= fds_before + 4 * 2 + 6,
        "{} descriptors at most during, {fds_before} before",
        s.max_fds
    );
    assert!(
        s.max_threads <= threads_before,
        "{} > {threads_before}",
        s.max_threads
    );
    let opened = server.connection_count() - before;
    assert!(opened <= 8, "{opened} connections");
    assert_eq!(support::leftovers(dir.path(), &[]).len(), 300);
}

/// The per-session progress function (the call's, else the client's) hears
/// every session, on the calling thread.
#[test]
fn the_plain_progress_function_hears_every_session() {
    let _alone = alone();
    let server = StandInServer::start();
    let ids = sessions(&server, "q", 5);
    let client = client_with(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let zeros = Arc::new(AtomicUsize::new(0));
    let z = Arc::clone(&zeros);
    let caller = std::thread::current().id();
    let options = CallOptions::new().progress(Progress::new(move |received, _| {
        assert_eq!(std::thread::current().id(), caller);
        if received == 0 {
            z.fetch_add(1, Ordering::SeqCst);
        }
        true
    }));
    let report = client
        .download_sessions(KEY, &refs(&ids), dir.path(), 2, &options, None)
        .unwrap();
    assert_eq!(report.failed, 0);
    assert_eq!(zeros.load(Ordering::SeqCst), 5);
    // Its `false` cancels the batch as well.
    let dir = tempfile::tempdir().unwrap();
    let options = CallOptions::new().progress(Progress::new(|_, _| false));
    let report = client
        .download_sessions(KEY, &refs(&ids), dir.path(), 2, &options, None)
        .unwrap();
    assert_eq!(
        report.results,
        vec![SessionResult::Failed(ErrorKind::Cancelled); 5]
    );
    assert_eq!(support::leftovers(dir.path(), &[]), Vec::<String>::new());
}

/// tests/c/test_batch.c, built against the shared library, run with a
/// watchdog.
fn c_batch(mode: &str, server: &StandInServer, dir: &Path) -> String {
    use support::cbuild::{compile, out_dir, program, Link, CFLAGS};
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let exe = BUILT.get_or_init(|| {
        let exe = out_dir("batch").join("test_batch");
        compile(false, CFLAGS, "tests/c/test_batch.c", &exe, Link::Shared);
        exe
    });
    let mut child = program(exe)
        .arg(mode)
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BROWSERBASE_BASE_URL", server.base_url())
        .env("BROWSERBASE_MAX_RETRIES", "0")
        .env("BB_TEST_KEY", StandInServer::KEY)
        .env("BB_TEST_DIR", dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("test_batch {mode} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("not ok") && text.contains(" passed, 0 failed"),
        "{text}"
    );
    text
}

#[test]
fn c_bad_arguments_send_nothing_and_touch_nothing() {
    let _alone = alone();
    let server = StandInServer::start();
    sessions(&server, "c", 2);
    let dir = tempfile::tempdir().unwrap();
    c_batch("bad", &server, dir.path());
    assert_eq!(server.request_count(), 0);
    assert_eq!(support::leftovers(dir.path(), &[]), Vec::<String>::new());
}

#[test]
fn c_a_batch_with_results_progress_and_cancel() {
    let _alone = alone();
    let server = StandInServer::start();
    for id in ["c0", "c1", "c/3"] {
        server.add_file(id, "f.txt", id.as_bytes());
    }
    sessions(&server, "p", 6);
    server.script("p0", &["stall-body 10 60000"]);
    let dir = tempfile::tempdir().unwrap();
    c_batch("run", &server, dir.path());
    assert_eq!(
        sorted(support::leftovers(dir.path(), &[])),
        [
            "c%2F3.zip",
            "c0.zip",
            "c1.zip",
            "p1.zip",
            "p2.zip",
            "p3.zip"
        ]
    );
}

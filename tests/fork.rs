//! fork() cases that want a test process of their own (tests/process.rs
//! and the C programs cover forking between calls):
//!
//! - a process forked while another of its threads is loading the trusted
//!   roots (on a client's first https handshake) can still make https calls
//!   in the child: the child builds a TLS configuration of its own instead
//!   of waiting on state the parent's thread was in the middle of. This test
//!   points SSL_CERT_FILE (read by the system-roots loader) at a FIFO to
//!   hold the parent's loading open, which would stall other binaries' tests;
//! - a download whose callback forks goes on in the parent, and fails at
//!   once in the child instead of reading the parent's connection; and a
//!   file download's child, failing, leaves the parent's temporary file;
//! - a process forked while another of its threads hands out and frees
//!   buffers can hand out and free buffers in the child (the table of
//!   buffers held by C is never left locked in the child).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use browserbase::{Client, ClientConfig, ErrorKind};
use support::tls_server::{data, TlsServer, EMPTY_ZIP};
use support::StandInServer;

#[test]
fn a_child_forked_during_root_loading_makes_https_calls() {
    let server = TlsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("roots.pem");
    let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
    std::env::set_var("SSL_CERT_FILE", &fifo);

    let mut config = ClientConfig::default();
    config
        .set_base_url(&format!("https://127.0.0.1:{}", server.port))
        .unwrap();
    config.set_max_retries(0).unwrap();
    config.set_deadline(Some(Duration::from_secs(2)));
    config.add_ca_file(&data("ca.pem")).unwrap();
    let client = Arc::new(Client::new(config).unwrap());

    // This thread's first handshake loads the roots and blocks opening the
    // FIFO, which has no writer yet.
    let loading = client.clone();
    let parent_call = std::thread::spawn(move || loading.download_to_vec(Some("k"), "s"));
    // Fork only once that thread is blocked opening the FIFO (the kernel
    // shows a FIFO open waiting for a writer as `wait_for_partner`): a
    // fork before it would not test the case at all.
    let blocked = Instant::now();
    while !a_thread_waits_in("wait_for_partner") {
        assert!(
            blocked.elapsed() < Duration::from_secs(10),
            "the loading thread never blocked on the FIFO"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    // SAFETY: the child only calls the library and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // The child's roots must not come from the FIFO (nobody would
        // write it for the child): the system's defaults.
        std::env::remove_var("SSL_CERT_FILE");
        let ok = matches!(client.download_to_vec(Some("k"), "s"), Ok(v) if v == EMPTY_ZIP);
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let started = Instant::now();
    let mut status = 0;
    let outcome = loop {
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            break Some(libc::WEXITSTATUS(status));
        }
        if started.elapsed() > Duration::from_secs(10) {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the parent's loading finish (an empty system store: the test CA
    // alone) and its call succeed. Non-blocking: should the loader not be
    // waiting on the FIFO, opening it for writing fails instead of hanging.
    use std::os::unix::fs::OpenOptionsExt;
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo),
    );
    let parent = parent_call.join().unwrap();
    assert_eq!(
        outcome,
        Some(0),
        "the child (None: still blocked after 10 s and killed)"
    );
    assert_eq!(parent.map(|v| v.len()).map_err(|e| e.to_string()), Ok(22));
}

/// Whether a thread of this process sleeps in the kernel function `wchan`.
fn a_thread_waits_in(wchan: &str) -> bool {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .any(|task| std::fs::read_to_string(task.path().join("wchan")).is_ok_and(|w| w == wchan))
}

#[test]
fn a_download_whose_callback_forks_fails_in_the_child_and_goes_on_in_the_parent() {
    let server = StandInServer::start_with(&["--demo"]);
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    config.set_max_retries(0).unwrap();
    let client = Client::new(config).unwrap();
    let child = std::sync::atomic::AtomicI32::new(-1);
    let result = client.download_with(
        Some(StandInServer::KEY),
        StandInServer::DEMO_SESSION,
        |_| {
            if child.load(std::sync::atomic::Ordering::Relaxed) == -1 {
                // SAFETY: the child only returns into the library and then
                // leaves with _exit (below).
                child.store(
                    unsafe { libc::fork() },
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            true
        },
    );
    let pid = child.load(std::sync::atomic::Ordering::Relaxed);
    if pid == 0 {
        let ok = matches!(&result, Err(e) if e.kind() == ErrorKind::Internal
            && e.message().contains("fork"));
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(pid > 0, "the callback never ran");
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child did not fail as it should"
    );
    let n = result.unwrap();
    assert!(n > 22, "{n}");
}

/// `bb_buffer_free` looks buffers up in a table under a lock; a fork while
/// another thread holds it must not leave the child's copy locked. Many
/// forks while a thread churns buffers; each child allocates and frees one
/// and must exit at once (an alarm kills a child stuck for 5 s, which fails
/// the test instead of hanging it).
#[test]
fn a_child_forked_while_buffers_churn_can_free_buffers() {
    use browserbase::ffi::{bb_buffer_free, buffer_for_tests};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicU64::new(0));
    let churn = {
        let (stop, churned) = (stop.clone(), churned.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (ptr, len) = buffer_for_tests(vec![1u8; 64]);
                bb_buffer_free(ptr, len);
                churned.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // The churning thread is running before the first fork.
    while churned.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now();
    }
    let mut stuck = None;
    for round in 0..300 {
        // SAFETY: the child only calls the library and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe { libc::alarm(5) };
            let (ptr, _len) = buffer_for_tests(vec![2u8; 8]);
            bb_buffer_free(ptr, 0);
            unsafe { libc::_exit(0) };
        }
        assert!(pid > 0, "fork failed");
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            stuck = Some(round);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    assert_eq!(
        stuck, None,
        "a child (fork number shown) got stuck freeing a buffer and was killed by its alarm"
    );
}

/// A file download's progress callback forks, over a file that already
/// exists (so the body is staged in a named temporary file beside it); the
/// child returns into the library, whose call fails there and lets go of
/// its copy of the download. The parent waits for the child to be gone
/// before going on (a watchdog kills a child stuck for 20 s): the child's
/// failure must not have removed the parent's temporary file, whose rename
/// then puts the archive in place.
#[test]
fn a_child_forked_from_a_file_download_leaves_the_parents_staging_alone() {
    use std::sync::atomic::{AtomicI32, Ordering};
    static CHILD: AtomicI32 = AtomicI32::new(-1);
    let server = StandInServer::start_with(&["--demo"]);
    let want = server
        .download(StandInServer::DEMO_SESSION, Some(StandInServer::KEY))
        .body;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zip");
    std::fs::write(&path, b"last night's archive").unwrap();
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    config.set_max_retries(0).unwrap();
    config.set_progress(Some(browserbase::Progress::new(|_, _| {
        if CHILD.load(Ordering::SeqCst) != -1 {
            return true;
        }
        // SAFETY: the child only returns into the library and then leaves
        // with _exit (below).
        let pid = unsafe { libc::fork() };
        CHILD.store(pid, Ordering::SeqCst);
        if pid > 0 {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut status = 0;
            while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0 {
                if Instant::now() >= deadline {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    unsafe { libc::waitpid(pid, &mut status, 0) };
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the child did not fail as it should (status {status:#x})"
            );
        }
        true
    })));
    let client = Client::new(config).unwrap();
    let result =
        client.download_to_file(Some(StandInServer::KEY), StandInServer::DEMO_SESSION, &path);
    if CHILD.load(Ordering::SeqCst) == 0 {
        let ok = matches!(&result, Err(e) if e.kind() == ErrorKind::Internal
            && e.message().contains("fork"));
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(CHILD.load(Ordering::SeqCst) > 0, "the callback never ran");
    result.unwrap_or_else(|e| panic!("the parent's download failed: {e}"));
    assert!(std::fs::read(&path).unwrap() == want);
    assert_eq!(
        support::leftovers(dir.path(), &["out.zip"]),
        Vec::<String>::new()
    );
}

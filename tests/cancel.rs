//! Cancellation (issue 16): a triggered `Cancel` ends a call with
//! `ErrorKind::Cancelled` wherever the call is (connecting, waiting for the
//! headers, mid-body, sleeping between retries or between wait polls,
//! extracting, or before it starts), from another thread and from a signal
//! handler, leaving nothing behind: no file, no temporary file, no
//! descriptor.
//!
//! Every test synchronises on an event (the stand-in server's request log,
//! the call's own progress callback, a connection in SYN-SENT, the
//! extraction's temporary directory), never on a sleep; the time bounds only
//! tell a cancelled call from one that waited for the server (60 s).

mod support;

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use browserbase::{
    Archive, CallOptions, Cancel, Client, ClientConfig, ErrorKind, ExtractLimits, Progress,
    WaitOptions,
};
use support::cbuild::{compile, out_dir, program, Link, CFLAGS};
use support::{leftovers, scratch, StandInServer, Unanswering};

const KEY: Option<&str> = Some(StandInServer::KEY);
const S: &str = "cancel-session";
/// Far longer than any cancelled call may take.
const HANG: Duration = Duration::from_secs(5);

/// The tests count this process's descriptors: one at a time.
static ALONE: Mutex<()> = Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn client_for(base_url: &str) -> Client {
    let mut config = ClientConfig::default();
    config.set_base_url(base_url).unwrap();
    config.set_timeout(Duration::from_secs(60)).unwrap();
    config.set_connect_timeout(Duration::from_secs(60)).unwrap();
    config.set_max_retries(5).unwrap();
    Client::new(config).unwrap()
}

/// Pseudo-random bytes (incompressible: no zip-bomb limit applies).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 2_463_534_242;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Where a call is when it gets cancelled.
#[derive(Debug, Clone, Copy)]
enum Moment {
    Before,
    Connect,
    Headers,
    MidBody,
    BetweenRetries,
    BetweenPolls,
    Extraction,
}

const MOMENTS: [Moment; 7] = [
    Moment::Before,
    Moment::Connect,
    Moment::Headers,
    Moment::MidBody,
    Moment::BetweenRetries,
    Moment::BetweenPolls,
    Moment::Extraction,
];

/// Whether a connection to 127.0.0.1:`port` is in SYN-SENT (connecting).
fn connecting_to(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[2] == remote && f[3] == "02"
    })
}

/// What a call at one moment needs: a server scripted for it, a port that
/// never answers, a scratch directory (with a big archive to extract).
struct Setup {
    server: StandInServer,
    unanswering: Unanswering,
    dir: tempfile::TempDir,
    path: PathBuf,
    zip_path: PathBuf,
    dest: PathBuf,
    base: String,
}

fn setup(moment: Moment) -> Setup {
    let server = StandInServer::start();
    let unanswering = Unanswering::new();
    let (dir, path) = scratch();
    let base = match moment {
        Moment::Connect => format!("http://127.0.0.1:{}", unanswering.port()),
        _ => server.base_url(),
    };
    // A big stored archive for the extraction.
    let zip_path = dir.path().join("big.zip");
    let dest = dir.path().join("dest");
    if let Moment::Extraction = moment {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        let data = noise(64 << 20);
        for name in ["a.bin", "b.bin", "c.bin"] {
            w.start_file(name, stored).unwrap();
            w.write_all(&data).unwrap();
        }
        w.finish().unwrap();
    }
    match moment {
        Moment::Headers => server.script(S, &["stall-headers 60000"]),
        Moment::MidBody => {
            server.add_file(S, "noise.bin", &noise(256 * 1024));
            server.script(S, &["stall-body 20000 60000"]);
        }
        Moment::BetweenRetries => server.script(S, &["status 503 | Retry-After: 30"]),
        Moment::BetweenPolls => server.set_empty(S),
        _ => server.add_file(S, "a.txt", b"a"),
    }
    Setup {
        server,
        unanswering,
        dir,
        path,
        zip_path,
        dest,
        base,
    }
}

impl Setup {
    /// Whether the call got to `moment` (`body`: whether it reported body
    /// bytes).
    fn arrived(&self, moment: Moment, body: &dyn Fn() -> bool) -> bool {
        match moment {
            Moment::Before => true,
            Moment::Connect => connecting_to(self.unanswering.port()),
            Moment::Headers | Moment::BetweenRetries => self.server.request_count() >= 1,
            Moment::BetweenPolls => self.server.request_count() >= 2,
            Moment::MidBody => body(),
            Moment::Extraction => std::fs::read_dir(&self.dest).is_ok_and(|d| {
                d.flatten().any(|e| {
                    std::fs::read_dir(e.path()).is_ok_and(|mut staged| staged.next().is_some())
                })
            }),
        }
    }

    /// Nothing left behind: no file, no temporary file, no extraction.
    fn assert_clean(&self, moment: Moment) {
        assert!(!self.path.exists(), "{moment:?}");
        assert!(!self.dest.exists(), "{moment:?}");
        assert_eq!(
            leftovers(self.dir.path(), &["big.zip"]),
            Vec::<String>::new(),
            "{moment:?}"
        );
        if let Moment::Before = moment {
            assert_eq!(self.server.request_count(), 0, "nothing is sent");
        }
    }
}

/// Runs one call at `moment`, calling `fire` once it is there, and checks
/// what it returns and leaves.
fn cancel_at(moment: Moment, fire: &(dyn Fn(&Cancel) + Sync)) {
    let setup = setup(moment);
    let Setup {
        path,
        zip_path,
        dest,
        base,
        ..
    } = &setup;
    let fds_before = open_fds();
    let client = client_for(base);
    let cancel = Cancel::new().unwrap();
    let (got_bytes, bytes) = mpsc::channel::<()>();
    let options = CallOptions::new()
        .cancel(cancel.clone())
        .progress(Progress::new(move |received, _| {
            if received > 0 {
                let _ = got_bytes.send(());
            }
            true
        }));
    if let Moment::Before = moment {
        fire(&cancel);
    }
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        let call = scope.spawn(|| match moment {
            Moment::BetweenPolls => client
                .wait_for_downloads_with_options(
                    KEY,
                    S,
                    path,
                    &WaitOptions::new(Duration::from_secs(60)),
                    &options,
                )
                .map(drop),
            Moment::Extraction => Archive::open_file(zip_path)
                .unwrap()
                .extract_to_with_options(dest, &ExtractLimits::default(), &options)
                .map(drop),
            _ => client
                .download_to_file_with_options(KEY, S, path, &options)
                .map(drop),
        });
        // Wait until the call is where it should be.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !setup.arrived(moment, &|| bytes.try_recv().is_ok()) {
            assert!(!call.is_finished(), "{moment:?}: the call ended first");
            assert!(Instant::now() < deadline, "{moment:?}: never got there");
            std::thread::yield_now();
        }
        let fired = Instant::now();
        if !matches!(moment, Moment::Before) {
            fire(&cancel);
        }
        let result = call.join().unwrap();
        (result, fired.elapsed())
    });
    let (result, after_fire) = result;
    let e = result.expect_err("a cancelled call fails");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{moment:?}: {e:?}");
    assert!(
        after_fire < HANG,
        "{moment:?}: returned {after_fire:?} after the trigger"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    setup.assert_clean(moment);
    drop(client);
    drop(options);
    drop(cancel);
    assert_eq!(open_fds(), fds_before, "{moment:?}: descriptors leaked");
}

#[test]
fn a_cancel_from_another_thread_ends_the_call_at_every_moment() {
    let _g = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    for moment in MOMENTS {
        cancel_at(moment, &|c: &Cancel| {
            let c = c.clone();
            std::thread::spawn(move || c.trigger()).join().unwrap();
        });
    }
}

/// The handle the signal handler triggers.
static SIGNALLED: AtomicPtr<Cancel> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_sigusr2(_: libc::c_int) {
    let c = SIGNALLED.load(Ordering::SeqCst);
    // SAFETY: set before the signal is sent, cleared after the call ended.
    if let Some(c) = unsafe { c.as_ref() } {
        c.trigger();
    }
}

#[test]
fn a_cancel_from_a_signal_handler_ends_the_call_at_every_moment() {
    let _g = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: installs a handler that only triggers a handle.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigusr2 as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()),
            0
        );
    }
    for moment in MOMENTS {
        cancel_at(moment, &|c: &Cancel| {
            let boxed = Box::into_raw(Box::new(c.clone()));
            SIGNALLED.store(boxed, Ordering::SeqCst);
            // To this process: the kernel picks a thread, which may be the
            // one in the call (its waits are then interrupted) or another.
            // SAFETY: plain kill(2) to ourselves.
            assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) }, 0);
            // The handler has run once the flag is set.
            let deadline = Instant::now() + HANG;
            while !c.is_triggered() {
                assert!(Instant::now() < deadline, "the handler never ran");
                std::thread::yield_now();
            }
            SIGNALLED.store(std::ptr::null_mut(), Ordering::SeqCst);
            // SAFETY: from Box::into_raw above; the handler ran already.
            drop(unsafe { Box::from_raw(boxed) });
        });
    }
}

/// A file already at the destination survives a cancelled download.
#[test]
fn a_cancelled_download_leaves_an_existing_file_alone() {
    let _g = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let server = StandInServer::start();
    server.script(S, &["stall-headers 60000"]);
    let (dir, path) = scratch();
    std::fs::write(&path, b"old").unwrap();
    let client = client_for(&server.base_url());
    let cancel = Cancel::new().unwrap();
    let options = CallOptions::new().cancel(cancel.clone());
    let e = std::thread::scope(|scope| {
        let call = scope.spawn(|| client.download_to_file_with_options(KEY, S, &path, &options));
        while server.request_count() == 0 {
            assert!(!call.is_finished());
            std::thread::yield_now();
        }
        cancel.trigger();
        call.join().unwrap()
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(leftovers(dir.path(), &["out.zip"]), Vec::<String>::new());
}

/// The per-call progress function replaces the client's for that call.
#[test]
fn the_per_call_progress_replaces_the_clients() {
    let server = StandInServer::start();
    server.add_file(S, "a.txt", b"a");
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    config.set_progress(Some(Progress::new(|_, _| {
        panic!("the client's progress function was called")
    })));
    let client = Client::new(config).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let options = CallOptions::new().progress(Progress::new(move |received, _| {
        tx.lock().unwrap().send(received).unwrap();
        true
    }));
    let bytes = client
        .download_to_vec_with_options(KEY, S, &options)
        .unwrap();
    let seen: Vec<u64> = rx.try_iter().collect();
    assert_eq!(seen.first(), Some(&0));
    assert_eq!(seen.last(), Some(&(bytes.len() as u64)));
}

/// tests/c/test_cancel.c, built once.
fn c_program() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = out_dir("cancel").join("test_cancel");
            compile(false, CFLAGS, "tests/c/test_cancel.c", &exe, Link::Shared);
            exe
        })
        .clone()
}

/// Runs the C program for `moment`, cancelled by `mode` ("thread": a byte
/// on its stdin wakes a thread that triggers; "signal": SIGUSR1, whose
/// handler triggers), with a watchdog.
fn c_cancel_at(mode: &str, moment: Moment) {
    let setup = setup(moment);
    let name = match moment {
        Moment::Before => "before",
        Moment::Connect => "connect",
        Moment::Headers => "headers",
        Moment::MidBody => "midbody",
        Moment::BetweenRetries => "retries",
        Moment::BetweenPolls => "polls",
        Moment::Extraction => "extract",
    };
    let mut child = program(&c_program())
        .args([mode, name])
        .env("BB_TEST_BASE_URL", &setup.base)
        .env("BB_TEST_SESSION", S)
        .env("BB_TEST_DIR", setup.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take();
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = Vec::new();
    let mut body = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Ok(line) = lines.try_recv() {
            body |= line == "body";
            output.push(line);
        }
        if setup.arrived(moment, &|| body) {
            break;
        }
        if Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("{mode} {name}: never got there\n{}", output.join("\n"));
        }
        std::thread::yield_now();
    }
    match (mode, moment) {
        (_, Moment::Before) => {}
        ("thread", _) => stdin.as_mut().unwrap().write_all(b"x").unwrap(),
        // SAFETY: kill(2) to our own child.
        _ => assert_eq!(
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) },
            0
        ),
    }
    drop(stdin.take());
    // Watchdog: the program must be done well before the server's 60 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{mode} {name}: the program hung\n{}", output.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    reader.join().unwrap();
    output.extend(lines.try_iter());
    let text = output.join("\n");
    assert!(status.success(), "{mode} {name}: {status:?}\n{text}");
    assert!(!text.contains("not ok"), "{mode} {name}\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{mode} {name}\n{text}");
    setup.assert_clean(moment);
}

#[test]
fn c_a_cancel_from_another_thread_ends_the_call_at_every_moment() {
    let _g = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    for moment in MOMENTS {
        c_cancel_at("thread", moment);
    }
}

#[test]
fn c_a_cancel_from_a_signal_handler_ends_the_call_at_every_moment() {
    let _g = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    for moment in MOMENTS {
        c_cancel_at("signal", moment);
    }
}

/// A signal that lands on the calling thread itself, right after the first
/// bytes (inside the progress callback): its handler triggers the handle,
/// and the stalled body must not be waited for.
#[test]
fn a_signal_on_the_calling_thread_mid_body_ends_the_call() {
    let _g = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: installs a handler that only triggers a handle.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigusr2 as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()),
            0
        );
    }
    let setup = setup(Moment::MidBody);
    let client = client_for(&setup.base);
    // Twice through one client: the second call's handle is a new eventfd
    // (likely with the first one's descriptor number) on the same runtime.
    for round in 0..2 {
        setup.server.script(S, &["stall-body 20000 60000"]);
        let cancel = Cancel::new().unwrap();
        let boxed = Box::into_raw(Box::new(cancel.clone()));
        SIGNALLED.store(boxed, Ordering::SeqCst);
        let sent = std::sync::atomic::AtomicBool::new(false);
        let options = CallOptions::new()
            .cancel(cancel.clone())
            .progress(Progress::new(move |received, _| {
                if received > 0 && !sent.swap(true, Ordering::SeqCst) {
                    // SAFETY: signals this very thread.
                    unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
                }
                true
            }));
        let started = Instant::now();
        let e = client
            .download_to_file_with_options(KEY, S, &setup.path, &options)
            .unwrap_err();
        let took = started.elapsed();
        SIGNALLED.store(std::ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: from Box::into_raw above; the handler ran already.
        drop(unsafe { Box::from_raw(boxed) });
        assert_eq!(e.kind(), ErrorKind::Cancelled, "round {round}: {e:?}");
        assert!(took < HANG, "round {round}: took {took:?}");
    }
    setup.assert_clean(Moment::MidBody);
}

/// A call cancelled mid-body leaves its connection in the middle of a
/// response: the next call on the same client must not be sent on it (it
/// would wait for the server's stall, then time out and retry). A guard:
/// hyper already refuses such a connection; this keeps it so.
#[test]
fn the_call_after_a_mid_body_cancel_gets_a_fresh_connection() {
    let _g = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let setup = setup(Moment::MidBody);
    let client = client_for(&setup.base);
    for round in 0..3 {
        setup.server.script(S, &["stall-body 20000 60000"]);
        let cancel = Cancel::new().unwrap();
        let (got_bytes, bytes) = mpsc::channel::<()>();
        let options = CallOptions::new()
            .cancel(cancel.clone())
            .progress(Progress::new(move |received, _| {
                if received > 0 {
                    let _ = got_bytes.send(());
                }
                true
            }));
        let e = std::thread::scope(|scope| {
            let call =
                scope.spawn(|| client.download_to_file_with_options(KEY, S, &setup.path, &options));
            bytes.recv().unwrap();
            cancel.trigger();
            call.join().unwrap()
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled, "round {round}: {e:?}");
        // The next call: the whole archive, at once, in one request.
        setup.server.clear_requests();
        let started = Instant::now();
        let got = client.download_to_vec(KEY, S).unwrap();
        assert!(got.len() > 200_000, "round {round}");
        assert!(
            started.elapsed() < HANG,
            "round {round}: the next call took {:?}",
            started.elapsed()
        );
        assert_eq!(setup.server.request_count(), 1, "round {round}");
    }
}

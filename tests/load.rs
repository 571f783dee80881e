//! Load: 32 threads doing 50 downloads each at once against one stand-in
//! server. Every download must succeed and every file must be byte-identical
//! to the archive the server serves. Each test prints its time on stderr
//! (uncaptured, so `cargo test` shows it):
//!
//! ```text
//! load: 1600 downloads by 32 threads in 1.23 s (C API, default client, to files)
//! ```
//!
//! The C variant is the realistic one: the freshly built `libbrowserbase.so`
//! loaded with dlopen(), its `bb_download_session` (the process-wide default
//! client, configured from the environment) called from 32 threads. The Rust
//! variant shares one `Client` between the threads.

mod support;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::Instant;

use support::StandInServer;

const THREADS: usize = 32;
const PER_THREAD: usize = 50;
/// The session the threads download: 64 KiB of incompressible bytes and a
/// small text file, so each download streams a real body.
const SESSION: &str = "load-session";

/// The load tests run one at a time: each measures the machine alone, and
/// the C one sets environment variables while no other thread of this
/// process runs (a concurrent getenv() could crash).
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server with [`SESSION`], and the archive it serves.
fn server() -> (StandInServer, Vec<u8>) {
    let server = StandInServer::start();
    let mut noise = vec![0u8; 64 * 1024];
    let mut x: u32 = 0x9e37_79b9;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    server.add_file(SESSION, "noise.bin", &noise);
    server.add_file(SESSION, "notes.txt", b"written by the load test\n");
    let archive = server.download(SESSION, Some(StandInServer::KEY)).body;
    assert!(archive.starts_with(b"PK\x03\x04"));
    server.clear_requests();
    (server, archive)
}

/// Prints straight to the process's stderr: libtest does not capture it.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `work(thread, i)` for 32 x 50 calls on 32 threads; returns the
/// failures (at most 5 described) and the time taken.
fn hammer(
    work: impl Fn(usize, usize) -> Result<(), String> + Send + Sync + 'static,
) -> (Vec<String>, f64) {
    let work = Arc::new(work);
    let barrier = Arc::new(std::sync::Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let work = work.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                (0..PER_THREAD)
                    .filter_map(|i| work(t, i).err())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut failures = Vec::new();
    for h in handles {
        failures.extend(h.join().expect("a load thread panicked"));
    }
    (failures, started.elapsed().as_secs_f64())
}

fn out_path(dir: &Path, t: usize, i: usize) -> PathBuf {
    dir.join(format!("t{t:02}-{i:02}.zip"))
}

/// Every file is the archive, and nothing else is in `dir`.
fn assert_files(dir: &Path, archive: &[u8]) {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        assert!(
            data == archive,
            "{} is {} bytes and differs from the {}-byte archive",
            path.display(),
            data.len(),
            archive.len()
        );
        count += 1;
    }
    assert_eq!(count, THREADS * PER_THREAD, "files in {}", dir.display());
}

// ---------------------------------------------------------------------------
// Through the C API, from the shared library
// ---------------------------------------------------------------------------

type DownloadFn = unsafe extern "C" fn(
    api_key: *const c_char,
    session_id: *const c_char,
    path: *const c_char,
    err: *mut *mut c_void,
) -> c_int;
type MessageFn = unsafe extern "C" fn(err: *const c_void) -> *const c_char;
type FreeFn = unsafe extern "C" fn(err: *mut c_void);

/// The functions of the freshly built `libbrowserbase.so`.
#[derive(Clone, Copy)]
struct CApi {
    download: DownloadFn,
    message: MessageFn,
    free: FreeFn,
}

fn load_c_api() -> CApi {
    let path = support::cbuild::libs().shared_by_soname();
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let sym = |lib: *mut c_void, name: &CStr| {
        let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
        assert!(!p.is_null(), "{name:?} not in {}", path.display());
        p
    };
    unsafe {
        let lib = libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        assert!(
            !lib.is_null(),
            "dlopen {}: {:?}",
            path.display(),
            CStr::from_ptr(libc::dlerror())
        );
        // Never dlclosed: the process-wide client lives as long as the process.
        CApi {
            download: std::mem::transmute::<*mut c_void, DownloadFn>(sym(
                lib,
                c"bb_download_session",
            )),
            message: std::mem::transmute::<*mut c_void, MessageFn>(sym(lib, c"bb_error_message")),
            free: std::mem::transmute::<*mut c_void, FreeFn>(sym(lib, c"bb_error_free")),
        }
    }
}

#[test]
fn c_default_client_32_threads_50_downloads_each() {
    let _alone = one_at_a_time();
    let (server, archive) = server();
    // The default client reads these on first use; this test is the only
    // one in this process that uses it, and sets them while no other thread
    // of this process runs.
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        std::env::set_var("BROWSERBASE_BASE_URL", server.base_url());
        std::env::set_var("BROWSERBASE_API_KEY", StandInServer::KEY);
        std::env::remove_var("BROWSERBASE_MAX_RETRIES");
        std::env::remove_var("BROWSERBASE_TIMEOUT_MS");
    });
    let api = load_c_api();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let session = CString::new(SESSION).unwrap();
    let (failures, secs) = hammer(move |t, i| {
        let path = CString::new(out_path(&root, t, i).as_os_str().as_bytes()).unwrap();
        let mut err: *mut c_void = std::ptr::null_mut();
        let rc =
            unsafe { (api.download)(std::ptr::null(), session.as_ptr(), path.as_ptr(), &mut err) };
        if rc == 0 {
            return Ok(());
        }
        let message = unsafe { CStr::from_ptr((api.message)(err)) }
            .to_string_lossy()
            .into_owned();
        unsafe { (api.free)(err) };
        Err(format!("thread {t} download {i}: code {rc}: {message}"))
    });
    report(&format!(
        "load: {} downloads by {THREADS} threads in {secs:.2} s (C API, default client, to files)",
        THREADS * PER_THREAD
    ));
    assert!(
        failures.is_empty(),
        "{} of {} downloads failed; first: {:?}",
        failures.len(),
        THREADS * PER_THREAD,
        &failures[..failures.len().min(5)]
    );
    assert_files(dir.path(), &archive);
    assert_eq!(server.request_count(), THREADS * PER_THREAD);
}

// ---------------------------------------------------------------------------
// Through the Rust core, one shared client
// ---------------------------------------------------------------------------

#[test]
fn rust_client_32_threads_50_downloads_each() {
    let _alone = one_at_a_time();
    let (server, archive) = server();
    let mut config = browserbase::ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    let client = Arc::new(browserbase::Client::new(config).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (failures, secs) = {
        let client = client.clone();
        hammer(move |t, i| {
            client
                .download_to_file(Some(StandInServer::KEY), SESSION, &out_path(&root, t, i))
                .map(drop)
                .map_err(|e| format!("thread {t} download {i}: {e}"))
        })
    };
    report(&format!(
        "load: {} downloads by {THREADS} threads in {secs:.2} s (Rust core, one client, to files)",
        THREADS * PER_THREAD
    ));
    assert!(
        failures.is_empty(),
        "{} failed; first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_files(dir.path(), &archive);
    assert_eq!(server.request_count(), THREADS * PER_THREAD);
}

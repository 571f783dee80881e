//! Property tests of the C surface: arbitrary byte strings (NUL-terminated,
//! so anything but an interior NUL: invalid UTF-8, control characters, C1
//! controls, tens of KiB) at every string argument of the download
//! functions, the client download functions, the builder setters, waiting;
//! and arbitrary bytes as an archive (open, list, extract).
//!
//! What must hold, whatever the bytes:
//! - no crash, and the code returned is one of the defined codes;
//! - `*err` is written exactly when the call fails, with the same code, and
//!   outputs (`*out_data`, `*out_len`) only on success;
//! - a string that breaks the documented rules (README, "Error codes"; the
//!   header's comments) gives `BB_ERR_INVALID_ARGUMENT`, with no request
//!   reaching the server and no file created; one that keeps them reaches the
//!   server exactly once (no retries: `max_retries` 0) and fails with the
//!   server's answer;
//! - a base URL the builder accepts never sends the key in clear text: it is
//!   `https://`, or `http://` to a loopback host.
//!
//! The calls go to the library's exported functions in this process (the
//! same code as the shared library) and to a stand-in server without
//! sessions, so no download can succeed. The case counts keep the whole run
//! to seconds.

mod support;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use browserbase::ffi::*;
use proptest::collection::vec;
use proptest::prelude::*;
use support::StandInServer;

/// Bytes a C string can hold: anything, cut at the first NUL as C would.
fn c_bytes() -> impl Strategy<Value = Vec<u8>> {
    let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
    prop_oneof![
        // Anything at all.
        4 => vec(any::<u8>(), 0..48),
        // Printable ASCII: mostly valid keys and ids.
        3 => "[!-~]{0,40}".prop_map(String::into_bytes),
        // A real-looking session id with one byte changed.
        2 => (uuid, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(s, at, b)| {
            let mut v = s.into_bytes();
            let i = at.index(v.len());
            v[i] = b;
            v
        }),
        // Any Unicode text (valid UTF-8, C1 controls, RTL marks, emoji...).
        2 => any::<String>().prop_map(String::into_bytes),
        // Control characters in otherwise good text.
        1 => ("[a-z0-9]{1,12}", prop::sample::select(vec![
                "\r\n", "\t", "\x7f", "\u{85}", "\u{9f}", "\x01", " ",
            ]), "[a-z0-9]{0,12}")
            .prop_map(|(a, c, b)| format!("{a}{c}{b}").into_bytes()),
        // Invalid UTF-8 sequences.
        1 => prop::sample::select(vec![
            b"\xff".to_vec(), b"\xc3".to_vec(), b"a\xed\xa0\x80b".to_vec(),
            b"\xf4\x90\x80\x80".to_vec(), b"\xc0\xaf".to_vec(),
        ]),
        // Dot segments and the empty string.
        1 => prop::sample::select(vec![b".".to_vec(), b"..".to_vec(), b"".to_vec()]),
        // Huge.
        1 => (1usize..70_000, any::<u8>()).prop_map(|(n, b)| vec![b.max(b'!'); n]),
    ]
    .prop_map(|mut v| {
        if let Some(nul) = v.iter().position(|&b| b == 0) {
            v.truncate(nul);
        }
        v
    })
}

/// NULL, or a C string of [`c_bytes`].
fn c_arg() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![1 => Just(None), 12 => c_bytes().prop_map(Some)]
}

fn c_string(bytes: &Option<Vec<u8>>) -> Option<CString> {
    bytes
        .as_ref()
        .map(|b| CString::new(b.clone()).expect("no interior NUL"))
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(null(), |s| s.as_ptr())
}

// ---------------------------------------------------------------------------
// The documented rules
// ---------------------------------------------------------------------------

/// An API key: visible ASCII (0x21..=0x7e), at least one byte.
fn key_ok(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|c| (0x21..=0x7e).contains(c))
}

/// A session id: UTF-8, 1 to 1024 bytes, no control character (C0, DEL,
/// C1), not "." or "..".
fn id_ok(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(s) => {
            !s.is_empty()
                && s.len() <= 1024
                && !s.chars().any(char::is_control)
                && s != "."
                && s != ".."
        }
        Err(_) => false,
    }
}

/// The key argument of a download: NULL (the environment's key) or a key.
fn key_arg_ok(k: &Option<Vec<u8>>) -> bool {
    k.as_deref().is_none_or(key_ok)
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // The exact name only: `*.localhost` may resolve anywhere.
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

// ---------------------------------------------------------------------------
// Checking a call
// ---------------------------------------------------------------------------

/// The code is defined and `*err` agrees with it; frees the error. Returns
/// the code and the message.
fn outcome(rc: bb_code, err: *mut bb_error, with_err: bool) -> (bb_code, String) {
    let name = unsafe { CStr::from_ptr(bb_code_name(bb_code_arg(rc as c_int))) };
    assert_ne!(name.to_bytes(), b"BB_UNKNOWN_CODE", "code {}", rc as c_int);
    if !with_err {
        return (rc, String::new());
    }
    if rc == bb_code::BB_OK {
        assert!(err.is_null(), "*err written on success");
        return (rc, String::new());
    }
    assert!(!err.is_null(), "{name:?} without *err");
    assert_eq!(bb_error_code(err) as c_int, rc as c_int);
    let message = unsafe { CStr::from_ptr(bb_error_message(err)) }
        .to_str()
        .expect("messages are UTF-8")
        .to_owned();
    assert!(!message.is_empty(), "{name:?} with an empty message");
    bb_error_free(err);
    (rc, message)
}

fn err_out(with_err: bool, err: &mut *mut bb_error) -> *mut *mut bb_error {
    if with_err {
        err
    } else {
        null_mut()
    }
}

/// A key that appears in a message was echoed (only checked for keys long
/// enough not to match ordinary words).
fn assert_not_echoed(key: &Option<Vec<u8>>, message: &str) {
    if let Some(k) = key {
        if k.len() >= 12 {
            let k = String::from_utf8_lossy(k);
            assert!(
                !message.contains(k.as_ref()),
                "the key was echoed: {message}"
            );
        }
    }
}

unsafe extern "C" fn sink(user_data: *mut c_void, _data: *const u8, len: usize) -> c_int {
    *(user_data as *mut usize) += len;
    0
}

/// What a download variant gets besides key and id.
#[derive(Debug, Clone, Copy)]
enum Variant {
    File,
    Buffer,
    Callback,
}

fn variant() -> impl Strategy<Value = Variant> {
    prop_oneof![
        Just(Variant::File),
        Just(Variant::Buffer),
        Just(Variant::Callback)
    ]
}

/// A file name in the scratch directory: any bytes but '/' (so it stays
/// inside), or, rarely, NULL or empty.
fn file_name() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        12 => c_bytes().prop_map(|v| Some(v.into_iter().map(|b| if b == b'/' { b'_' } else { b }).collect())),
    ]
}

/// One download through `client` (NULL: the default client); checks every
/// property and returns the code.
#[allow(clippy::too_many_arguments)]
fn download_case(
    client: *const bb_client,
    server: &StandInServer,
    scratch: &Path,
    variant: Variant,
    key: &Option<Vec<u8>>,
    id: &Option<Vec<u8>>,
    name: &Option<Vec<u8>>,
    with_err: bool,
) -> bb_code {
    let c_key = c_string(key);
    let c_id = c_string(id);
    // The path: scratch/<name>, or NULL, or "".
    let c_path = name.as_ref().map(|n| {
        if n.is_empty() {
            CString::new("").unwrap()
        } else {
            let mut p = scratch.as_os_str().as_bytes().to_vec();
            p.push(b'/');
            p.extend_from_slice(n);
            CString::new(p).unwrap()
        }
    });
    let before = server.request_count();
    let mut err: *mut bb_error = null_mut();
    let e = err_out(with_err, &mut err);
    let sentinel = 0x5a5a_usize as *mut u8;
    let mut data: *mut u8 = sentinel;
    let mut len: usize = 0x5a5a;
    let mut got: usize = 0;
    // The exported functions are safe to call with these arguments.
    let rc = match (variant, client.is_null()) {
        (Variant::File, true) => bb_download_session(ptr(&c_key), ptr(&c_id), ptr(&c_path), e),
        (Variant::File, false) => {
            bb_client_download(client, ptr(&c_key), ptr(&c_id), ptr(&c_path), e)
        }
        (Variant::Buffer, true) => {
            bb_download_session_to_buffer(ptr(&c_key), ptr(&c_id), &mut data, &mut len, e)
        }
        (Variant::Buffer, false) => {
            bb_client_download_to_buffer(client, ptr(&c_key), ptr(&c_id), &mut data, &mut len, e)
        }
        (Variant::Callback, true) => bb_download_session_to_callback(
            ptr(&c_key),
            ptr(&c_id),
            Some(sink),
            (&mut got as *mut usize).cast(),
            e,
        ),
        (Variant::Callback, false) => bb_client_download_to_callback(
            client,
            ptr(&c_key),
            ptr(&c_id),
            Some(sink),
            (&mut got as *mut usize).cast(),
            e,
        ),
    };
    let (rc, message) = outcome(rc, err, with_err);
    let sent = server.request_count() - before;
    // No session exists: nothing can succeed, and nothing is delivered.
    assert_ne!(rc, bb_code::BB_OK);
    assert!(
        data == sentinel && len == 0x5a5a,
        "outputs written on failure"
    );
    assert_eq!(got, 0, "the callback got bytes");

    let args_ok = key_arg_ok(key) && id.as_deref().is_some_and(id_ok);
    if !args_ok {
        assert_eq!(rc, bb_code::BB_ERR_INVALID_ARGUMENT, "{message}");
        assert_eq!(sent, 0, "a bad argument reached the server: {message}");
    } else {
        let path_ok = match variant {
            Variant::File => name.as_ref().is_some_and(|n| !n.is_empty()),
            _ => true,
        };
        if !path_ok {
            assert_eq!(rc, bb_code::BB_ERR_INVALID_ARGUMENT, "{message}");
            assert_eq!(sent, 0, "{message}");
        } else {
            // The server's answer (404, 401, 431 for a huge key), or a path
            // the file system refuses before anything is sent.
            assert!(sent <= 1, "{sent} requests: retried?");
            if sent == 1 {
                assert!(
                    matches!(
                        rc,
                        bb_code::BB_ERR_NOT_FOUND
                            | bb_code::BB_ERR_AUTHENTICATION
                            | bb_code::BB_ERR_HTTP
                    ),
                    "{} after a request: {message}",
                    rc as c_int
                );
            } else if rc == bb_code::BB_ERR_HTTP {
                // A request head over the server's 64 KiB is answered 431
                // before it is logged.
                let huge = key.as_ref().map_or(0, Vec::len) + id.as_ref().map_or(0, Vec::len) * 3;
                assert!(
                    huge > 60_000 && (!with_err || message.contains("431")),
                    "HTTP error without a request ({huge} bytes of key and id): {message}"
                );
            } else {
                assert!(
                    matches!(variant, Variant::File)
                        && matches!(rc, bb_code::BB_ERR_IO | bb_code::BB_ERR_INVALID_ARGUMENT),
                    "{} without a request: {message}",
                    rc as c_int
                );
            }
        }
    }
    assert_not_echoed(key, &message);
    // Never a file, finished or temporary.
    let left: Vec<_> = std::fs::read_dir(scratch)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    rc
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// The server of the process-wide default client: its settings come from the
/// environment, set once before any test of this binary does anything else.
fn env_server() -> &'static StandInServer {
    static SERVER: OnceLock<StandInServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let server = StandInServer::start();
        std::env::set_var("BROWSERBASE_BASE_URL", server.base_url());
        std::env::set_var("BROWSERBASE_API_KEY", StandInServer::KEY);
        std::env::set_var("BROWSERBASE_MAX_RETRIES", "0");
        std::env::set_var("BROWSERBASE_TIMEOUT_MS", "10000");
        server
    })
}

/// A client of `server` that never retries.
fn client_for(server: &StandInServer) -> *mut bb_client {
    let b = bb_client_builder_new();
    let url = CString::new(server.base_url()).unwrap();
    let mut client = null_mut();
    assert_eq!(
        bb_client_builder_set_base_url(b, url.as_ptr(), null_mut()),
        bb_code::BB_OK
    );
    assert_eq!(
        bb_client_builder_set_max_retries(b, 0, null_mut()),
        bb_code::BB_OK
    );
    assert_eq!(bb_client_new(b, &mut client, null_mut()), bb_code::BB_OK);
    bb_client_builder_free(b);
    client
}

/// The config of every property. It first sets up the default client's
/// environment: the proptest runner reads the environment too (PROPTEST_*),
/// and no thread may read it while another sets it.
fn config(cases: u32) -> ProptestConfig {
    env_server();
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(400))]

    /// bb_download_session, _to_buffer and _to_callback (the default client).
    #[test]
    fn free_download_functions(
        variant in variant(),
        key in c_arg(),
        id in c_arg(),
        name in file_name(),
        with_err in any::<bool>(),
    ) {
        let server = env_server();
        let scratch = tempfile::tempdir().unwrap();
        download_case(null(), server, scratch.path(), variant, &key, &id, &name, with_err);
    }
}

proptest! {
    #![proptest_config(config(400))]

    /// bb_client_download, _to_buffer and _to_callback.
    #[test]
    fn client_download_functions(
        variant in variant(),
        key in c_arg(),
        id in c_arg(),
        name in file_name(),
        with_err in any::<bool>(),
    ) {
        env_server();
        thread_local! {
            static FIXTURE: (StandInServer, usize) = {
                let server = StandInServer::start();
                let client = client_for(&server) as usize;
                (server, client)
            };
        }
        FIXTURE.with(|(server, client)| {
            let scratch = tempfile::tempdir().unwrap();
            let client = *client as *const bb_client;
            download_case(client, server, scratch.path(), variant, &key, &id, &name, with_err);
        });
    }
}

proptest! {
    #![proptest_config(config(400))]

    /// Every string setter of the builder, then bb_client_new.
    #[test]
    fn builder_setters(
        url in c_arg(),
        key in c_arg(),
        suffix in c_arg(),
        proxy in c_arg(),
        ca_name in file_name(),
        with_err in any::<bool>(),
        // Building a client reads the system's CA certificates: slow, so
        // only some cases do.
        build in prop::bool::weighted(0.1),
    ) {
        env_server();
        let b = bb_client_builder_new();
        let mut err: *mut bb_error = null_mut();

        // The base URL: accepted only as https, or http to loopback.
        let c_url = c_string(&url);
        let rc = bb_client_builder_set_base_url(b, ptr(&c_url), err_out(with_err, &mut err));
        let (rc, _) = outcome(rc, err, with_err);
        err = null_mut();
        prop_assert!(matches!(rc, bb_code::BB_OK | bb_code::BB_ERR_INVALID_ARGUMENT));
        if rc == bb_code::BB_OK {
            let text = std::str::from_utf8(url.as_deref().unwrap()).unwrap();
            let parsed = url::Url::parse(text.trim()).unwrap();
            prop_assert!(
                parsed.scheme() == "https" || (parsed.scheme() == "http" && is_loopback(&parsed)),
                "accepted {text:?}"
            );
            prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
        }
        if url.as_deref().is_none_or(|u| std::str::from_utf8(u).is_err()) {
            prop_assert_eq!(rc, bb_code::BB_ERR_INVALID_ARGUMENT);
        }

        // The key: exactly the documented rule.
        let c_key = c_string(&key);
        let rc = bb_client_builder_set_api_key(b, ptr(&c_key), err_out(with_err, &mut err));
        let (rc, message) = outcome(rc, err, with_err);
        err = null_mut();
        let want = if key.as_deref().is_some_and(key_ok) {
            bb_code::BB_OK
        } else {
            bb_code::BB_ERR_INVALID_ARGUMENT
        };
        prop_assert_eq!(rc, want, "{}", message);
        assert_not_echoed(&key, &message);

        // The User-Agent suffix: printable ASCII, not empty.
        let c_suffix = c_string(&suffix);
        let rc = bb_client_builder_set_user_agent_suffix(
            b, ptr(&c_suffix), err_out(with_err, &mut err));
        let (rc, _) = outcome(rc, err, with_err);
        err = null_mut();
        let want = if suffix
            .as_deref()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|c| (0x20..=0x7e).contains(c)))
        {
            bb_code::BB_OK
        } else {
            bb_code::BB_ERR_INVALID_ARGUMENT
        };
        prop_assert_eq!(rc, want);

        // The proxy: NULL clears it; otherwise an http(s) URL.
        let c_proxy = c_string(&proxy);
        let rc = bb_client_builder_set_proxy(b, ptr(&c_proxy), err_out(with_err, &mut err));
        let (rc, _) = outcome(rc, err, with_err);
        err = null_mut();
        let want = match proxy.as_deref() {
            None => bb_code::BB_OK,
            Some(p) => match std::str::from_utf8(p).ok().and_then(|p| url::Url::parse(p).ok()) {
                Some(u) if matches!(u.scheme(), "http" | "https") => bb_code::BB_OK,
                _ => bb_code::BB_ERR_INVALID_ARGUMENT,
            },
        };
        prop_assert_eq!(rc, want);

        // A CA file that does not exist (in an empty directory): an error,
        // never a crash or a hang.
        let scratch = tempfile::tempdir().unwrap();
        let c_ca = ca_name.as_ref().map(|n| {
            let mut p = scratch.path().as_os_str().as_bytes().to_vec();
            p.push(b'/');
            p.extend_from_slice(n);
            CString::new(p).unwrap()
        });
        let rc = bb_client_builder_add_ca_file(b, ptr(&c_ca), err_out(with_err, &mut err));
        let (rc, _) = outcome(rc, err, with_err);
        err = null_mut();
        prop_assert!(matches!(rc, bb_code::BB_ERR_IO | bb_code::BB_ERR_INVALID_ARGUMENT));

        // Whatever was accepted builds a client (or fails cleanly).
        if build {
            let mut client: *mut bb_client = null_mut();
            let rc = bb_client_new(b, &mut client, err_out(with_err, &mut err));
            let (rc, _) = outcome(rc, err, with_err);
            prop_assert_eq!(rc == bb_code::BB_OK, !client.is_null());
            bb_client_free(client);
        }
        bb_client_builder_free(b);
    }
}

/// Paths that are not files to read: each is an error at once (a device or
/// a FIFO would otherwise never end or never open).
#[test]
fn ca_files_that_are_not_files() {
    env_server();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.pem");
    let c_fifo = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o644) }, 0);
    let dir_path = CString::new(dir.path().as_os_str().as_bytes()).unwrap();
    let b = bb_client_builder_new();
    for path in [
        c"/dev/zero",
        c"/dev/null",
        c"/etc/hostname",
        c_fifo.as_c_str(),
        dir_path.as_c_str(),
        c"",
    ] {
        let started = std::time::Instant::now();
        let mut err = null_mut();
        let rc = bb_client_builder_add_ca_file(b, path.as_ptr(), &mut err);
        let (rc, message) = outcome(rc, err, true);
        assert!(
            matches!(rc, bb_code::BB_ERR_IO | bb_code::BB_ERR_INVALID_ARGUMENT),
            "{path:?}: {message}"
        );
        // At once, not blocked on a FIFO or reading /dev/zero forever.
        assert!(started.elapsed().as_secs() < 10, "{path:?} took too long");
    }
    bb_client_builder_free(b);
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any int is a code name, and never NULL.
    #[test]
    fn code_names(code in any::<i32>()) {
        let name = unsafe { CStr::from_ptr(bb_code_name(bb_code_arg(code))) };
        let name = name.to_str().unwrap();
        prop_assert!(name.starts_with("BB_"));
        if (0..=14).contains(&code) {
            prop_assert_ne!(name, "BB_UNKNOWN_CODE");
        }
    }
}

// ---------------------------------------------------------------------------
// Waiting, and archives made of arbitrary bytes
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(200))]

    /// bb_client_wait_for_downloads_to_buffer (one poll, a server of its
    /// own): the same argument rules as a download, and no session exists.
    #[test]
    fn wait_function(key in c_arg(), id in c_arg(), with_err in any::<bool>()) {
        env_server();
        thread_local! {
            static FIXTURE: (StandInServer, usize) = {
                let server = StandInServer::start();
                let client = client_for(&server) as usize;
                (server, client)
            };
        }
        FIXTURE.with(|(server, client)| -> Result<(), TestCaseError> {
            let client = *client as *const bb_client;
            let (c_key, c_id) = (c_string(&key), c_string(&id));
            let before = server.request_count();
            let mut err: *mut bb_error = null_mut();
            let sentinel = 0x5a5a_usize as *mut u8;
            let (mut data, mut len) = (sentinel, 0x5a5a_usize);
            let rc = bb_client_wait_for_downloads_to_buffer(
                client, ptr(&c_key), ptr(&c_id), 0, 0, &mut data, &mut len,
                err_out(with_err, &mut err));
            let (rc, message) = outcome(rc, err, with_err);
            let sent = server.request_count() - before;
            prop_assert_ne!(rc, bb_code::BB_OK);
            prop_assert!(data == sentinel && len == 0x5a5a, "outputs written on failure");
            if !(key_arg_ok(&key) && id.as_deref().is_some_and(id_ok)) {
                prop_assert_eq!(rc, bb_code::BB_ERR_INVALID_ARGUMENT, "{}", message);
                prop_assert_eq!(sent, 0, "a bad argument reached the server: {}", message);
            } else {
                prop_assert!(sent <= 1, "{} polls with a zero timeout", sent);
            }
            assert_not_echoed(&key, &message);
            Ok(())
        })?;
    }
}

/// A small valid archive to mutate: two files, one in a folder.
fn base_archive() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("report-1719265797164.pdf", deflated).unwrap();
        w.write_all(&b"%PDF-1.4 hello hello hello hello".repeat(20))
            .unwrap();
        w.start_file(
            "dir/data-1719265797171.csv",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        w.write_all(b"a,b\n1,2\n").unwrap();
        w.finish().unwrap().into_inner()
    })
}

/// Arbitrary bytes, bytes that start like a ZIP, and a valid archive with a
/// few bytes changed, cut short or extended.
fn archive_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..512),
        vec(any::<u8>(), 0..512).prop_map(|mut v| {
            v.splice(0..0, *b"PK\x03\x04");
            v
        }),
        (
            vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            any::<prop::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(flips, cut, shorten)| {
                let mut v = base_archive().to_vec();
                for (at, byte) in flips {
                    let i = at.index(v.len());
                    v[i] = byte;
                }
                if shorten {
                    v.truncate(cut.index(v.len() + 1));
                }
                v
            }),
    ]
}

proptest! {
    #![proptest_config(config(400))]

    /// bb_archive_open_buffer, _entry_at and _extract_to on whatever bytes:
    /// a defined code, listing works on anything that opens, and extraction
    /// either completes inside `dir` or leaves nothing at all.
    #[test]
    fn archives_of_arbitrary_bytes(bytes in archive_bytes(), with_err in any::<bool>()) {
        let scratch = tempfile::tempdir().unwrap();
        let mut archive: *mut bb_archive = null_mut();
        let mut err: *mut bb_error = null_mut();
        let rc = bb_archive_open_buffer(
            bytes.as_ptr(), bytes.len(), &mut archive, err_out(with_err, &mut err));
        let (rc, message) = outcome(rc, err, with_err);
        if rc != bb_code::BB_OK {
            prop_assert_eq!(rc, bb_code::BB_ERR_INVALID_ARCHIVE, "{}", message);
            prop_assert!(archive.is_null(), "*out written on failure");
            return Ok(());
        }
        for i in 0..bb_archive_entry_count(archive) {
            let mut entry = bb_archive_entry::default();
            let mut err: *mut bb_error = null_mut();
            let rc = bb_archive_entry_at(archive, i, &mut entry, &mut err);
            let (rc, message) = outcome(rc, err, true);
            prop_assert_eq!(rc, bb_code::BB_OK, "{}", message);
            let name = unsafe { CStr::from_ptr(entry.name) };
            let original = unsafe { CStr::from_ptr(entry.original_name) };
            prop_assert!(name.to_str().is_ok() && original.to_str().is_ok());
        }
        let out = scratch.path().join("out");
        let c_out = CString::new(out.as_os_str().as_bytes()).unwrap();
        let mut err: *mut bb_error = null_mut();
        let rc = bb_archive_extract_to(archive, c_out.as_ptr(), err_out(with_err, &mut err));
        let (rc, message) = outcome(rc, err, with_err);
        bb_archive_free(archive);
        let left: Vec<_> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        if rc == bb_code::BB_OK {
            prop_assert_eq!(left, vec![std::ffi::OsString::from("out")]);
        } else {
            prop_assert!(
                matches!(rc, bb_code::BB_ERR_INVALID_ARCHIVE | bb_code::BB_ERR_IO),
                "{} from extraction: {}", rc as c_int, message
            );
            prop_assert!(left.is_empty(), "a failed extraction left {:?}", left);
        }
    }
}

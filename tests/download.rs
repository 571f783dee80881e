//! The Rust core against the stand-in server, over real loopback sockets.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use browserbase::{Client, ClientConfig, ErrorKind, EMPTY_ARCHIVE};
use support::StandInServer;

const DEMO: &str = StandInServer::DEMO_SESSION;
const KEY: Option<&str> = Some(StandInServer::KEY);

fn config_for(server: &StandInServer) -> ClientConfig {
    let mut c = ClientConfig::default();
    c.set_base_url(&server.base_url()).unwrap();
    c
}

fn client_for(server: &StandInServer) -> Client {
    Client::new(config_for(server)).unwrap()
}

/// A client that fails at once instead of retrying, so each fault is seen alone.
fn client_no_retry(server: &StandInServer) -> Client {
    let mut c = config_for(server);
    c.set_max_retries(0).unwrap();
    Client::new(c).unwrap()
}

fn demo_server() -> StandInServer {
    StandInServer::start_with(&["--demo"])
}

#[test]
fn file_buffer_and_callback_get_the_same_archive() {
    let server = demo_server();
    let client = client_for(&server);
    let (dir, path) = support::scratch();

    let n = client.download_to_file(KEY, DEMO, &path).unwrap();
    let file = std::fs::read(&path).unwrap();
    assert_eq!(n as usize, file.len());
    let names = support::zip_entry_names(&file);
    assert!(
        names
            .iter()
            .any(|n| support::is_stamped_name(n, "report", ".pdf")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| support::is_stamped_name(n, "data", ".csv")),
        "{names:?}"
    );

    let buffer = client.download_to_vec(KEY, DEMO).unwrap();
    assert_eq!(buffer, file);

    let mut streamed = Vec::new();
    let mut chunks = 0;
    client
        .download_with(KEY, DEMO, |c| {
            chunks += 1;
            streamed.extend_from_slice(c);
            true
        })
        .unwrap();
    assert_eq!(streamed, file);
    assert!(chunks >= 1);
    assert_eq!(
        support::leftovers(dir.path(), &["out.zip"]),
        Vec::<String>::new()
    );
}

#[test]
fn the_request_carries_key_accept_and_user_agent() {
    let server = demo_server();
    let mut config = config_for(&server);
    config.set_user_agent_suffix("rust-test/1").unwrap();
    let client = Client::new(config).unwrap();
    client.download_to_vec(KEY, DEMO).unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, format!("/v1/sessions/{DEMO}/downloads"));
    assert_eq!(r.header("x-bb-api-key"), KEY);
    assert_eq!(r.header("accept"), Some("application/zip"));
    assert_eq!(
        r.header("user-agent"),
        Some(format!("browserbase-c/{} rust-test/1", browserbase::VERSION).as_str())
    );
}

#[test]
fn connections_are_kept_alive_between_calls() {
    let server = demo_server();
    let client = client_for(&server);
    let before = server.connection_count(); // counts its own control connection
    for _ in 0..5 {
        client.download_to_vec(KEY, DEMO).unwrap();
    }
    // One download connection for five calls, plus the next count's own.
    assert_eq!(server.connection_count(), before + 2);
    assert_eq!(server.request_count(), 5);
}

#[test]
fn idle_connection_closed_by_the_server_is_replaced() {
    // Between calls no thread of the library watches the kept-alive
    // connection; the server closes it after 100 ms of silence. The next
    // call must notice and connect again: no failed attempt, so no retry
    // (retries are off here) and no retry delay.
    let server = StandInServer::start_with(&["--demo", "--idle-timeout-ms", "100"]);
    let client = client_no_retry(&server);
    let first = client.download_to_vec(KEY, DEMO).unwrap();
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        let again = client.download_to_vec(KEY, DEMO);
        assert_eq!(
            again.as_deref().ok(),
            Some(&first[..]),
            "round {round}: {again:?}"
        );
    }
    // Every request reached the server once, each on a new connection.
    assert_eq!(server.request_count(), 4);
}

#[test]
fn empty_session_is_the_22_byte_archive() {
    let server = demo_server();
    let client = client_for(&server);
    let data = client
        .download_to_vec(KEY, StandInServer::DEMO_EMPTY_SESSION)
        .unwrap();
    assert_eq!(data, EMPTY_ARCHIVE);
}

#[test]
fn hostile_session_ids_stay_one_path_segment() {
    let server = demo_server();
    let client = client_no_retry(&server);
    for id in [
        "../projects",
        "a/b",
        "?x",
        "#",
        "..%2f",
        "a b",
        "%2e%2e",
        "...",
    ] {
        let e = client.download_to_vec(KEY, id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{id}: {e}");
    }
    for r in server.requests() {
        let path = r.target.strip_prefix("/v1/sessions/").expect(&r.target);
        let segment = path.strip_suffix("/downloads").expect(&r.target);
        assert!(
            !segment.contains('/') && !segment.contains('?') && !segment.contains('#'),
            "{}",
            r.target
        );
    }
}

#[test]
fn bad_arguments_send_nothing_and_touch_nothing() {
    let server = demo_server();
    let client = client_for(&server);
    let (dir, path) = support::scratch();
    let cases: Vec<(Option<&str>, &str, &str)> = vec![
        (KEY, "", "session_id"),
        (KEY, "a\nb", "session_id"),
        (KEY, "..", "session_id"),
        (Some(""), DEMO, "api_key"),
        (Some("bb_test_key\r\nX-Evil: 1"), DEMO, "api_key"),
        (Some("key with space"), DEMO, "api_key"),
    ];
    for (key, id, named) in cases {
        let e = client.download_to_file(key, id, &path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains(named), "{e}");
        assert_eq!(e.http_status(), None);
        let e = client.download_to_vec(key, id).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    }
    let e = client
        .download_to_file(KEY, DEMO, Path::new(""))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("path"));
    assert_eq!(server.request_count(), 0);
    assert_eq!(support::leftovers(dir.path(), &[]), Vec::<String>::new());
}

#[test]
fn http_errors_map_to_kinds_with_the_servers_message_and_no_retry() {
    let server = demo_server();
    let client = client_for(&server);

    let e = client.download_to_vec(KEY, "no-such-session").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.http_status(), Some(404));
    assert!(
        e.message().contains("404") && e.message().contains("Session not found"),
        "{e}"
    );

    let e = client
        .download_to_vec(Some("wrong_key_123"), DEMO)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(e.http_status(), Some(401));
    assert!(!e.message().contains("wrong_key_123"), "{e}");

    server.script(DEMO, &["status 403"]);
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!(
        (e.kind(), e.http_status()),
        (ErrorKind::PermissionDenied, Some(403))
    );
    server.script(DEMO, &["status 400"]);
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Http, Some(400)));
    // 404, 401, 403, 400: one request each, never retried.
    assert_eq!(server.request_count(), 4);
}

#[test]
fn a_server_error_is_retried_then_succeeds() {
    let server = demo_server();
    let client = client_for(&server);
    server.script(DEMO, &["status 500", "status 503 | retry-after-ms: 1"]);
    let data = client.download_to_vec(KEY, DEMO).unwrap();
    assert!(data.starts_with(b"PK\x03\x04"));
    assert_eq!(server.request_count(), 3);
}

#[test]
fn the_last_error_says_how_many_attempts_and_why() {
    let server = demo_server();
    let mut config = config_for(&server);
    config.set_max_retries(1).unwrap();
    let client = Client::new(config).unwrap();
    server.script(
        DEMO,
        &[
            "status 502 | retry-after-ms: 10",
            "status 503 | retry-after-ms: 10",
        ],
    );
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!((e.kind(), e.http_status()), (ErrorKind::Server, Some(503)));
    assert!(e.message().contains("2 attempts"), "{e}");
    assert!(
        e.message().contains("502") && e.message().contains("503"),
        "{e}"
    );
}

#[test]
fn a_page_that_is_not_zip_is_an_invalid_archive_not_a_file() {
    let server = demo_server();
    let client = client_for(&server);
    let (dir, path) = support::scratch();
    std::fs::write(&path, b"old").unwrap();
    server.script(DEMO, &["html"]);
    let e = client.download_to_file(KEY, DEMO, &path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArchive, "{e}");
    assert!(e.message().contains("not a ZIP"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(
        support::leftovers(dir.path(), &["out.zip"]),
        Vec::<String>::new()
    );

    // Starts like a ZIP but its central directory is garbage: caught at the end.
    server.set_archive("fake", b"PK\x03\x04 this is not really an archive");
    let e = client.download_to_file(KEY, "fake", &path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArchive, "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    let e = client.download_to_vec(KEY, "fake").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArchive, "{e}");
    assert_eq!(
        support::leftovers(dir.path(), &["out.zip"]),
        Vec::<String>::new()
    );
}

#[test]
fn the_file_sink_checks_small_and_large_archives_alike() {
    // Up to 1 MiB the file sink checks the archive from a copy in memory,
    // past it from the file: both must accept a good archive and refuse a
    // fake one, leaving the old file alone.
    let server = demo_server();
    let client = client_no_retry(&server);
    let (dir, path) = support::scratch();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..(3 << 20))
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    for size in [1000, (1 << 20) - 200, (1 << 20) + 200, 3 << 20] {
        server.add_file("good", "noise.bin", &noise[..size]);
        let n = client.download_to_file(KEY, "good", &path).unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len() as u64, n);
        assert_eq!(support::zip_entry_names(&written).len(), 1);

        let mut fake = b"PK\x03\x04".to_vec();
        fake.extend_from_slice(&noise[..size]);
        server.set_archive("fake", &fake);
        std::fs::write(&path, b"old").unwrap();
        let e = client.download_to_file(KEY, "fake", &path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArchive, "size {size}: {e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(
            support::leftovers(dir.path(), &["out.zip"]),
            Vec::<String>::new()
        );
    }
}

#[test]
fn a_body_cut_short_leaves_nothing_behind() {
    let server = demo_server();
    let client = client_no_retry(&server);
    let (dir, path) = support::scratch();
    std::fs::write(&path, b"old").unwrap();
    for step in ["cut 100", "long-length 500", "chunked-cut 100", "reset"] {
        server.script(DEMO, &[step]);
        let e = client.download_to_file(KEY, DEMO, &path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{step}: {e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old", "{step}");
        assert_eq!(
            support::leftovers(dir.path(), &["out.zip"]),
            Vec::<String>::new(),
            "{step}"
        );
    }
    // Descriptors are counted in tests/faults.rs (descriptors_do_not_leak),
    // which runs alone: other tests here open sockets in parallel.
}

#[test]
fn a_silent_server_times_out() {
    let server = demo_server();
    let mut config = config_for(&server);
    config.set_max_retries(0).unwrap();
    config.set_timeout(Duration::from_millis(300)).unwrap();
    let client = Client::new(config).unwrap();
    server.script(DEMO, &["stall-headers 60000"]);
    let started = Instant::now();
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // The 300 ms timeout, not the server's 60 s (generous on purpose).
    assert!(started.elapsed() < Duration::from_secs(10));

    server.script(DEMO, &["stall-body 100 60000"]);
    let (dir, path) = support::scratch();
    let e = client.download_to_file(KEY, DEMO, &path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(!path.exists());
    assert_eq!(support::leftovers(dir.path(), &[]), Vec::<String>::new());
}

#[test]
fn connection_refused_is_a_connection_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = ClientConfig::default();
    config
        .set_base_url(&format!("http://127.0.0.1:{port}"))
        .unwrap();
    config.set_max_retries(0).unwrap();
    let client = Client::new(config).unwrap();
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert_eq!(e.http_status(), None);
    assert!(e.message().to_lowercase().contains("refused"), "{e}");
}

#[test]
fn the_key_never_follows_a_redirect_to_another_origin() {
    let server = demo_server();
    let other = demo_server();
    let client = client_no_retry(&server);
    // Same origin: followed, with the key.
    server.script(DEMO, &[&format!("redirect /v1/sessions/{DEMO}/downloads")]);
    client.download_to_vec(KEY, DEMO).unwrap();
    assert_eq!(server.request_count(), 2);
    // Another origin: followed without the key (so that server refuses it).
    server.script(DEMO, &[&format!("redirect {}", other.downloads_url(DEMO))]);
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    let seen = other.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-bb-api-key"), None);
    // To plain http on a non-loopback host: refused outright.
    server.script(DEMO, &["redirect http://example.com/x"]);
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!(
        (e.kind(), e.http_status()),
        (ErrorKind::Http, Some(302)),
        "{e}"
    );
}

#[test]
fn local_file_system_errors_are_io_errors_before_any_request() {
    let server = demo_server();
    let client = client_for(&server);
    let dir = tempfile::tempdir().unwrap();
    let e = client
        .download_to_file(KEY, DEMO, &dir.path().join("missing/out.zip"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("No such file or directory"), "{e}");
    let e = client.download_to_file(KEY, DEMO, dir.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains("directory"), "{e}");
    assert_eq!(server.request_count(), 0);
}

#[test]
fn a_callback_can_cancel() {
    let server = demo_server();
    let client = client_for(&server);
    let e = client.download_with(KEY, DEMO, |_| false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let mut config = ClientConfig::default();
    let e = config
        .set_base_url("http://api.browserbase.com")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("clear text"), "{e}");
}

#[test]
fn many_threads_share_one_client() {
    let server = demo_server();
    let client = std::sync::Arc::new(client_for(&server));
    let expected = client.download_to_vec(KEY, DEMO).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| client.download_to_vec(KEY, DEMO).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for got in h.join().unwrap() {
            assert_eq!(got, expected);
        }
    }
}

#[test]
fn the_longest_valid_file_name_works() {
    let server = demo_server();
    let client = client_for(&server);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}.zip", "n".repeat(251))); // 255 bytes
    client.download_to_file(KEY, DEMO, &path).unwrap();
    assert!(std::fs::read(&path).unwrap().starts_with(b"PK"));
    assert_eq!(
        support::leftovers(dir.path(), &[path.file_name().unwrap().to_str().unwrap()]),
        Vec::<String>::new()
    );
}

#[test]
fn replacing_a_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let server = demo_server();
    let client = client_for(&server);
    let (_dir, path) = support::scratch();
    std::fs::write(&path, b"secret").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    client.download_to_file(KEY, DEMO, &path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read(&path).unwrap().starts_with(b"PK"));
}

#[test]
fn replacing_a_file_keeps_its_owner_where_allowed() {
    // Only root may give a file to someone else: a root process replacing a
    // user's file keeps it the user's (and its mode), as writing in place
    // (curl -o) would. Another caller's replacement is its own, as with mv.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("NOTICE: skipped: changing a file's owner needs root");
        return;
    }
    let server = demo_server();
    let client = client_for(&server);
    let (_dir, path) = support::scratch();
    std::fs::write(&path, b"theirs").unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    client.download_to_file(KEY, DEMO, &path).unwrap();
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    assert!(std::fs::read(&path).unwrap().starts_with(b"PK"));
}

#[test]
fn a_symlink_is_written_through() {
    let server = demo_server();
    let client = client_for(&server);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    let target = dir.path().join("real/archive.zip");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link.zip");
    std::os::unix::fs::symlink("real/archive.zip", &link).unwrap();
    client.download_to_file(KEY, DEMO, &link).unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read(&target).unwrap().starts_with(b"PK"));
    assert_eq!(
        support::leftovers(&dir.path().join("real"), &["archive.zip"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_symlink_planted_in_a_sticky_directory_is_not_followed() {
    // Root downloading to /tmp/out.zip, where another user made
    // out.zip -> /etc/something: in a sticky, world-writable directory a
    // link is followed only when the caller or the directory's owner owns
    // it, the rule of the kernel's fs.protected_symlinks (which never sees
    // this link: the library resolves it itself).
    use std::os::unix::fs::PermissionsExt;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("NOTICE: skipped: planting another user's link needs root");
        return;
    }
    let server = demo_server();
    let client = client_for(&server);
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let target = dir.path().join("precious.conf");
    std::fs::write(&target, b"precious").unwrap();
    let link = shared.join("out.zip");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();

    let e = client.download_to_file(KEY, DEMO, &link).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(
        e.message().contains("sticky") && e.message().contains("65534"),
        "{e}"
    );
    let options = browserbase::WaitOptions::new(Duration::from_secs(5));
    let e = client
        .wait_for_downloads(KEY, DEMO, &link, &options)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert_eq!(server.request_count(), 0, "found before any request");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(
        support::leftovers(&shared, &["out.zip"]),
        Vec::<String>::new()
    );
    assert_eq!(
        support::leftovers(dir.path(), &["shared", "precious.conf"]),
        Vec::<String>::new()
    );

    // A link the directory's owner made (here: a directory of 65534's) is
    // followed, and so is the caller's own.
    std::os::unix::fs::lchown(&shared, Some(65534), Some(65534)).unwrap();
    client.download_to_file(KEY, DEMO, &link).unwrap();
    assert!(std::fs::read(&target).unwrap().starts_with(b"PK"));
    std::fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::lchown(&shared, Some(0), Some(0)).unwrap();
    std::os::unix::fs::lchown(&link, Some(0), Some(0)).unwrap();
    client.download_to_file(KEY, DEMO, &link).unwrap();
    assert!(std::fs::read(&target).unwrap().starts_with(b"PK"));
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
}

#[test]
fn a_fifo_or_device_is_never_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let server = demo_server();
    let client = client_for(&server);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let e = client.download_to_file(KEY, DEMO, &fifo).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("not a regular file"), "{e}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(server.request_count(), 0);
    assert_eq!(
        support::leftovers(dir.path(), &["pipe"]),
        Vec::<String>::new()
    );
}

#[test]
fn progress_is_reported_and_can_cancel() {
    use std::sync::{Arc, Mutex};
    let server = demo_server();
    type Seen = Vec<(u64, Option<u64>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut config = config_for(&server);
    let log = seen.clone();
    config.set_progress(Some(browserbase::Progress::new(move |done, total| {
        log.lock().unwrap().push((done, total));
        true
    })));
    let client = Client::new(config).unwrap();
    let data = client.download_to_vec(KEY, DEMO).unwrap();
    let seen = seen.lock().unwrap().clone();
    let n = data.len() as u64;
    assert_eq!(seen.first(), Some(&(0, Some(n))));
    assert_eq!(seen.last(), Some(&(n, Some(n))));
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");

    let mut config = config_for(&server);
    config.set_progress(Some(browserbase::Progress::new(|done, _| done == 0)));
    let client = Client::new(config).unwrap();
    let (dir, path) = support::scratch();
    let e = client.download_to_file(KEY, DEMO, &path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(e.message().contains("progress"), "{e}");
    assert_eq!(support::leftovers(dir.path(), &[]), Vec::<String>::new());
}

#[test]
fn a_new_file_is_staged_without_a_name_and_a_replacement_beside_it() {
    // While the body arrives, a new destination has no temporary name at
    // all (O_TMPFILE, linked at the end: cheapest, and a killed process
    // leaves nothing); replacing an existing file needs the named
    // `.out.zip.XXXXXX.bbpart` to rename over it.
    let server = demo_server();
    let (dir, path) = support::scratch();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut config = config_for(&server);
    let (watched, record) = (dir.path().to_owned(), seen.clone());
    config.set_progress(Some(browserbase::Progress::new(move |done, _| {
        if done > 0 {
            record
                .lock()
                .unwrap()
                .push(support::leftovers(&watched, &["out.zip"]));
        }
        true
    })));
    let client = Client::new(config).unwrap();

    client.download_to_file(KEY, DEMO, &path).unwrap();
    let during_new = std::mem::take(&mut *seen.lock().unwrap());
    assert!(!during_new.is_empty());
    assert!(
        during_new.iter().all(Vec::is_empty),
        "a new file was staged under a name: {during_new:?}"
    );

    client.download_to_file(KEY, DEMO, &path).unwrap();
    let during_replace = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        during_replace.iter().all(|names| names.len() == 1
            && names[0].starts_with(".out.zip.")
            && names[0].ends_with(".bbpart")),
        "{during_replace:?}"
    );
    assert_eq!(
        support::leftovers(dir.path(), &["out.zip"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_file_that_appears_at_the_destination_meanwhile_is_replaced_whole() {
    // Staged without a name (nothing was there), but by the end something
    // is: linkat never replaces, so the archive is named beside it and
    // renamed over it, still atomically.
    // (The same fallback serves a /proc that refuses linkat, as in some
    // sandboxes.) The file found there keeps its mode, as any replaced file.
    use browserbase::{FileSink, Sink};
    use std::os::unix::fs::PermissionsExt;
    let (dir, path) = support::scratch();
    let mut sink = FileSink::create(&path, false).unwrap();
    std::fs::write(&path, b"appeared meanwhile").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    sink.begin(Some(EMPTY_ARCHIVE.len() as u64)).unwrap();
    sink.write(&EMPTY_ARCHIVE).unwrap();
    sink.finish().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), EMPTY_ARCHIVE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_eq!(
        support::leftovers(dir.path(), &["out.zip"]),
        Vec::<String>::new()
    );
}

#[test]
fn a_configured_proxy_carries_the_request() {
    // Nothing listens at the base URL's port; the stand-in server, which
    // accepts absolute-form targets as RFC 9112 asks of servers, plays the
    // proxy. The request reaches it in proxy form, key included (the proxy
    // is the caller's choice, as with curl -x).
    let server = demo_server();
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", unused.local_addr().unwrap().port());
    drop(unused);
    let mut config = ClientConfig::default();
    config.set_base_url(&origin).unwrap();
    config.set_proxy(&server.base_url()).unwrap();
    config.set_max_retries(0).unwrap();
    let client = Client::new(config).unwrap();
    let data = client.download_to_vec(KEY, DEMO).unwrap();
    assert_eq!(support::zip_entry_names(&data).len(), 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].target,
        format!("{origin}/v1/sessions/{DEMO}/downloads")
    );
    assert_eq!(reqs[0].header("x-bb-api-key"), KEY);
}

/// Issue 10, row 7: with a plain-http (loopback) base URL, a proxy receives
/// every request whole, `X-BB-API-Key` included. A plain-http proxy on
/// another host would carry the key across the network in clear text, so
/// the combination is refused before anything is sent, as that host is
/// refused as a base URL. (192.0.2.1 is TEST-NET: never contacted.)
#[test]
fn a_plain_http_proxy_on_another_host_is_refused_for_a_plain_http_base_url() {
    let server = demo_server();
    for proxy in [
        "http://192.0.2.1:3128",
        "http://proxyuser:proxysecret@192.0.2.1:3128",
        "http://proxy.example.com:8080",
        "http://bb.localhost:3128",
    ] {
        // Either order of the setters: the client refuses the pair.
        let mut config = config_for(&server);
        config.set_proxy(proxy).unwrap();
        let e = Client::new(config).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{proxy}: {e}");
        assert!(e.message().contains("clear text"), "{proxy}: {e}");
        assert!(!e.message().contains("proxysecret"), "{proxy}: {e}");
        let mut config = ClientConfig::default();
        config.set_proxy(proxy).unwrap();
        config.set_base_url(&server.base_url()).unwrap();
        let e = Client::new(config).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{proxy}: {e}");
    }
    assert_eq!(server.request_count(), 0);
    // What stays allowed: the key is not in clear text on the network. A
    // loopback proxy is `a_configured_proxy_carries_the_request`.
    for (base, proxy) in [
        (server.base_url(), "https://192.0.2.1:3128".to_owned()),
        (server.base_url(), "http://localhost:3128".to_owned()),
        (
            "https://api.browserbase.com".to_owned(),
            "http://192.0.2.1:3128".to_owned(),
        ),
    ] {
        let mut config = ClientConfig::default();
        config.set_base_url(&base).unwrap();
        config.set_proxy(&proxy).unwrap();
        Client::new(config).unwrap_or_else(|e| panic!("{base} via {proxy}: {e}"));
    }
}

/// Issue 10, row 8: plain http only to IP literals in 127.0.0.0/8, ::1 and
/// the exact name `localhost`; `*.localhost` is a name like any other
/// (`/etc/hosts` or DNS may send it anywhere), as a base URL and as a
/// redirect target. `localhost` itself keeps working.
#[test]
fn plain_http_to_a_subdomain_of_localhost_is_refused() {
    let server = demo_server();
    let port = server.addr().port();
    for base in [
        format!("http://bb.localhost:{port}"),
        format!("http://BB.LocalHost:{port}"),
        format!("http://a.b.localhost:{port}/"),
    ] {
        let mut config = ClientConfig::default();
        let e = config.set_base_url(&base).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{base}: {e}");
        assert!(e.message().contains("clear text"), "{base}: {e}");
    }
    // A redirect there is not followed (the key would go with it).
    let client = client_no_retry(&server);
    server.script(
        DEMO,
        &[&format!(
            "redirect http://bb.localhost:{port}/v1/sessions/{DEMO}/downloads"
        )],
    );
    let e = client.download_to_vec(KEY, DEMO).unwrap_err();
    assert_eq!(
        (e.kind(), e.http_status()),
        (ErrorKind::Http, Some(302)),
        "{e}"
    );
    assert_eq!(server.request_count(), 1);
    // The exact name works.
    let mut config = ClientConfig::default();
    config
        .set_base_url(&format!("http://localhost:{port}"))
        .unwrap();
    let data = Client::new(config)
        .unwrap()
        .download_to_vec(KEY, DEMO)
        .unwrap();
    assert_eq!(support::zip_entry_names(&data).len(), 2);
    assert_eq!(server.request_count(), 2);
}

/// A key that also stands in the caller's own path is redacted from the
/// messages about that path too: every message made during a call is
/// scrubbed of the call's key, not only those made once the request is
/// under way (found by tests/ffi_props.rs: a file name holding the key and
/// too long for the file system was echoed whole).
#[test]
fn a_key_inside_the_callers_path_is_redacted_from_local_errors() {
    let server = demo_server();
    let client = client_for(&server);
    let key = "bb_live_0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    let too_long = dir.path().join(format!("{key}{}.zip", "x".repeat(300)));
    let missing_dir = dir.path().join(key).join("out.zip");
    let wait = browserbase::WaitOptions::new(Duration::from_millis(0));
    for path in [&too_long, &missing_dir] {
        let errors = [
            client.download_to_file(Some(key), DEMO, path).unwrap_err(),
            client
                .wait_for_downloads(Some(key), DEMO, path, &wait)
                .unwrap_err(),
        ];
        for e in errors {
            assert_eq!(e.kind(), ErrorKind::Io, "{e}");
            assert!(!e.message().contains(key), "the key was echoed: {e}");
            assert!(e.message().contains("[redacted]"), "{e}");
        }
    }
    let e = client
        .extract_downloads(
            Some(key),
            DEMO,
            &dir.path().join(key).join("sub"),
            &wait,
            &browserbase::ExtractLimits::default(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(!e.message().contains(key), "the key was echoed: {e}");
    assert_eq!(server.request_count(), 0, "all refused before sending");
}

/// A short key echoed by the server is redacted too (found by probing
/// `bb-download`: keys under 8 bytes were left alone, so a server that echoed
/// the key `abc` put it on the tool's stderr and in its JSON).
#[test]
fn a_short_key_echoed_by_the_server_is_redacted() {
    let server = demo_server();
    server.script(
        DEMO,
        &["status 401 | Message: \"the key Abc is not valid\""],
    );
    let client = client_for(&server);
    let e = client.download_to_vec(Some("abc"), DEMO).unwrap_err();
    assert_eq!(e.http_status(), Some(401), "{e}");
    assert!(
        !e.message().to_ascii_lowercase().contains("abc"),
        "the key was echoed: {e}"
    );
    assert!(e.message().contains("[redacted]"), "{e}");
}

//! Self-test of `bb-stand-in-server`, driven with plain `TcpStream`s (not the library).

mod support;

use std::io::{BufReader, Read, Write};
use std::time::Duration;

use support::{is_stamped_name, read_response, zip_entry_names, RawResponse, StandInServer};

const KEY: &str = StandInServer::KEY;
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn downloads_request(session: &str, extra: &str) -> String {
    format!(
        "GET /v1/sessions/{session}/downloads HTTP/1.1\r\nHost: stand-in\r\nX-BB-API-Key: {KEY}\r\n{extra}\r\n"
    )
}

#[test]
fn demo_session_is_a_zip_with_timestamped_names() {
    let server = StandInServer::start_with(&["--demo"]);
    let resp = server.download(StandInServer::DEMO_SESSION, Some(KEY));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/zip"));
    assert_eq!(
        resp.header("content-length"),
        Some(resp.body.len().to_string().as_str())
    );
    let mut names = zip_entry_names(&resp.body);
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(is_stamped_name(&names[0], "data", ".csv"), "{names:?}");
    assert!(is_stamped_name(&names[1], "report", ".pdf"), "{names:?}");

    // The PDF really is what the name says.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&resp.body)).unwrap();
    let mut pdf = Vec::new();
    archive
        .by_name(&names[1])
        .unwrap()
        .read_to_end(&mut pdf)
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    assert!(pdf.len() > 2048);
}

#[test]
fn empty_session_is_exactly_the_22_byte_archive() {
    let server = StandInServer::start_with(&["--demo"]);
    let resp = server.download(StandInServer::DEMO_EMPTY_SESSION, Some(KEY));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, EMPTY_ZIP);

    server.set_empty("made-empty");
    assert_eq!(server.download("made-empty", Some(KEY)).body, EMPTY_ZIP);
}

#[test]
fn files_added_through_control_get_stamped_names() {
    let server = StandInServer::start();
    server.add_file("s", "archive.tar.gz", b"tgz");
    server.add_file("s", "README", b"readme");
    server.add_file("s", "odd name.txt", b"spaces");
    let resp = server.download("s", Some(KEY));
    assert_eq!(resp.status, 200);
    let mut names = zip_entry_names(&resp.body);
    names.sort();
    assert!(is_stamped_name(&names[0], "README", ""), "{names:?}");
    assert!(
        is_stamped_name(&names[1], "archive.tar", ".gz"),
        "{names:?}"
    );
    assert!(is_stamped_name(&names[2], "odd name", ".txt"), "{names:?}");

    server.set_archive("raw", b"not a zip at all");
    let resp = server.download("raw", Some(KEY));
    assert_eq!(
        (resp.status, resp.body.as_slice()),
        (200, &b"not a zip at all"[..])
    );

    server.delete_session("raw");
    assert_eq!(server.download("raw", Some(KEY)).status, 404);
}

/// The resident set of process `pid`, in KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn copies_make_many_sessions_that_share_one_archive() {
    let server = StandInServer::start();
    let archive: Vec<u8> = (0..256 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let before = vm_rss_kib(server.pid());
    let body = server.control_ok("PUT", "/_control/copies/batch-/2000", &archive);
    assert_eq!(String::from_utf8_lossy(&body), "2000 sessions\n");
    // 2,000 copies of the archive would be 500 MiB; one shared archive and
    // 2,000 small entries are well under a MiB.
    let grown = vm_rss_kib(server.pid()).saturating_sub(before);
    assert!(grown < 32 * 1024, "the server grew by {grown} KiB");

    for id in ["batch-0", "batch-1", "batch-777", "batch-1999"] {
        let resp = server.download(id, Some(KEY));
        assert_eq!(resp.status, 200, "{id}");
        assert_eq!(resp.header("content-type"), Some("application/zip"));
        assert!(resp.body == archive, "{id}: not the archive sent");
    }
    for id in ["batch-2000", "batch-", "batch-01"] {
        assert_eq!(server.download(id, Some(KEY)).status, 404, "{id}");
    }
    assert_eq!(server.download("batch-0", Some("wrong")).status, 401);

    // A second call replaces them, and the prefix is percent-decoded.
    server.control_ok("POST", "/_control/copies/batch-/3", &EMPTY_ZIP);
    assert_eq!(server.download("batch-2", Some(KEY)).body, EMPTY_ZIP);
    assert!(server.download("batch-3", Some(KEY)).body == archive);
    server.control_ok("PUT", "/_control/copies/a%20b%2F/1", b"x");
    assert_eq!(server.download("a b/0", Some(KEY)).body, b"x");
    // They are ordinary sessions: fault scripts and deletion work on each.
    server.script("batch-1", &["status 503"]);
    assert_eq!(server.download("batch-1", Some(KEY)).status, 503);
    assert_eq!(server.download("batch-1", Some(KEY)).body, EMPTY_ZIP);
    server.delete_session("batch-1");
    assert_eq!(server.download("batch-1", Some(KEY)).status, 404);
    assert_eq!(server.download("batch-0", Some(KEY)).body, EMPTY_ZIP);
}

#[test]
fn bad_copies_calls_are_refused_and_make_nothing() {
    let server = StandInServer::start();
    for (method, path, status, says) in [
        ("PUT", "/_control/copies/x-/0", 400, "from 1 to 1000000"),
        (
            "PUT",
            "/_control/copies/x-/1000001",
            400,
            "from 1 to 1000000",
        ),
        ("PUT", "/_control/copies/x-/many", 400, "not \"many\""),
        ("PUT", "/_control/copies/x-/-1", 400, "whole number"),
        ("PUT", "/_control/copies/x-/", 400, "whole number"),
        ("PUT", "/_control/copies/x-/2/3", 400, "whole number"),
        ("PUT", "/_control/copies//2", 400, "empty session id prefix"),
        ("PUT", "/_control/copies/x-", 404, "copies/<prefix>/<count>"),
        ("GET", "/_control/copies/x-/2", 405, "method not allowed"),
        ("DELETE", "/_control/copies/x-/2", 405, "method not allowed"),
    ] {
        let resp = server.control(method, path, b"archive");
        assert_eq!(resp.status, status, "{method} {path}");
        assert!(
            resp.body_text().contains(says),
            "{method} {path}: {}",
            resp.body_text()
        );
    }
    for id in ["x-0", "x-1", "0", "1"] {
        assert_eq!(server.download(id, Some(KEY)).status, 404, "{id}");
    }
}

#[test]
fn wrong_key_unknown_session_and_unknown_path() {
    let server = StandInServer::start_with(&["--demo"]);
    for key in [Some("wrong"), None] {
        let resp = server.download(StandInServer::DEMO_SESSION, key);
        assert_eq!(resp.status, 401);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(
            resp.body_text(),
            r#"{"code":401,"message":"Invalid or missing API key"}"#
        );
    }

    let resp = server.download("no-such-session", Some(KEY));
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.body_text(),
        r#"{"code":404,"message":"Session not found"}"#
    );

    for path in ["/v1/sessions/a/b/downloads", "/", "/v1/sessions//downloads"] {
        let resp = server.http_get(path, &[("X-BB-API-Key", KEY)]);
        assert_eq!(resp.status, 404, "{path}");
        assert_eq!(resp.body_text(), r#"{"code":404,"message":"Not Found"}"#);
    }

    let resp = server.control(
        "POST",
        &format!("/v1/sessions/{}/downloads", StandInServer::DEMO_SESSION),
        b"",
    );
    assert_eq!(resp.status, 405);

    // Bad control input is refused.
    let resp = server.control("POST", "/_control/sessions/s/script", b"explode 3");
    assert_eq!(resp.status, 400);
}

#[test]
fn cut_delivers_exactly_n_body_bytes_then_ends() {
    let server = StandInServer::start();
    let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    server.add_file("cut", "big.bin", &content);
    server.script("cut", &["cut 100"]);

    let mut stream = server.connect();
    stream
        .write_all(downloads_request("cut", "").as_bytes())
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(_) => break, // reset
        }
    }
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a full response head")
        + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .trim()
        .parse()
        .unwrap();
    assert!(length > 100, "real length announced: {length}");
    assert_eq!(received.len() - head_end, 100);

    // The script is used up: the next request is answered normally and in full.
    let resp = server.download("cut", Some(KEY));
    assert_eq!(resp.body.len(), length);
}

#[test]
fn status_step_sends_its_headers_then_script_runs_out() {
    let server = StandInServer::start_with(&["--demo"]);
    server.script("s", &["status 503 | Retry-After: 2", "ok"]);
    // Steps run before the key check.
    let resp = server.download("s", None);
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("retry-after"), Some("2"));
    assert_eq!(
        resp.body_text(),
        r#"{"code":503,"message":"stand-in fault 503"}"#
    );
    assert_eq!(server.download("s", None).status, 401); // "ok": answered normally
    assert_eq!(server.download("s", Some(KEY)).status, 404); // script used up
}

#[test]
fn request_log_records_request_lines_and_headers() {
    let server = StandInServer::start_with(&["--demo"]);
    server.add_file("logged", "a.txt", b"a");
    assert_eq!(server.request_count(), 0, "control requests are not logged");

    server.http_get(
        "/v1/sessions/logged/downloads",
        &[("X-BB-API-Key", KEY), ("X-Trace", "one two")],
    );
    server.http_get("/elsewhere?x=1", &[]);
    let log = server.requests();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(server.request_count(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].target, "/v1/sessions/logged/downloads");
    assert_eq!(log[0].header("x-bb-api-key"), Some(KEY));
    assert_eq!(log[0].header("X-TRACE"), Some("one two"));
    assert!(log[0].header("host").is_some());
    assert_eq!(log[1].target, "/elsewhere?x=1");
    assert_eq!(log[1].header("x-bb-api-key"), None);

    server.clear_requests();
    assert_eq!(server.request_count(), 0);
    assert!(server.requests().is_empty());
}

#[test]
fn keep_alive_answers_several_requests_on_one_connection() {
    let server = StandInServer::start_with(&["--demo"]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut bodies: Vec<RawResponse> = Vec::new();
    for session in [
        StandInServer::DEMO_SESSION,
        StandInServer::DEMO_EMPTY_SESSION,
        StandInServer::DEMO_SESSION,
    ] {
        writer
            .write_all(downloads_request(session, "").as_bytes())
            .unwrap();
        let resp = read_response(&mut reader).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), None);
        bodies.push(resp);
    }
    assert_eq!(bodies[1].body, EMPTY_ZIP);
    assert_eq!(bodies[0].body, bodies[2].body, "cached archive is stable");

    // Pipelined, the last one asking to close.
    let two = format!(
        "{}{}",
        downloads_request(StandInServer::DEMO_EMPTY_SESSION, ""),
        downloads_request(StandInServer::DEMO_EMPTY_SESSION, "Connection: close\r\n")
    );
    writer.write_all(two.as_bytes()).unwrap();
    assert_eq!(read_response(&mut reader).unwrap().body, EMPTY_ZIP);
    let last = read_response(&mut reader).unwrap();
    assert_eq!(last.header("connection"), Some("close"));
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn ready_after_ms_flips_from_empty_to_full() {
    // The session's clock starts at its first request: that one always sees
    // the empty archive, and no answer before READY has passed sees the files.
    // The flip is awaited by polling (bounded generously against a hang),
    // never assumed after a sleep.
    const READY: Duration = Duration::from_millis(300);
    let server = StandInServer::start();
    server.add_file("sync", "late.txt", b"finally");
    server.ready_after_ms("sync", READY.as_millis() as u64);
    let before_first = std::time::Instant::now();
    assert_eq!(server.download("sync", Some(KEY)).body, EMPTY_ZIP);
    let resp = loop {
        let resp = server.download("sync", Some(KEY));
        if resp.body != EMPTY_ZIP {
            break resp;
        }
        assert!(
            before_first.elapsed() < Duration::from_secs(30),
            "still empty after 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        before_first.elapsed() >= READY,
        "files served {:?} after the first request, before {READY:?}",
        before_first.elapsed()
    );
    let names = zip_entry_names(&resp.body);
    assert_eq!(names.len(), 1);
    assert!(is_stamped_name(&names[0], "late", ".txt"), "{names:?}");
}

#[test]
fn malformed_requests_get_400_and_the_server_survives() {
    let server = StandInServer::start_with(&["--demo"]);
    for garbage in [
        &b"garbage\r\n\r\n"[..],
        b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    ] {
        let mut stream = server.connect();
        stream.write_all(garbage).unwrap();
        let resp = read_response(&mut BufReader::new(stream)).unwrap();
        assert_eq!(resp.status, 400);
    }
    // Half a request, then hang up.
    let mut stream = server.connect();
    stream.write_all(b"GET /v1/sess").unwrap();
    drop(stream);
    // Oversized head.
    let mut stream = server.connect();
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(70_000));
    let _ = stream.write_all(huge.as_bytes());
    let resp = read_response(&mut BufReader::new(stream)).unwrap();
    assert_eq!(resp.status, 431);

    let resp = server.download(StandInServer::DEMO_EMPTY_SESSION, Some(KEY));
    assert_eq!(resp.body, EMPTY_ZIP);
}

/// A download of `session` with extra request headers.
fn ranged(server: &StandInServer, session: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut all = vec![("X-BB-API-Key", KEY)];
    all.extend_from_slice(headers);
    server.http_get(&format!("/v1/sessions/{session}/downloads"), &all)
}

fn archive_bytes(n: usize) -> Vec<u8> {
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend((0..n).map(|i| (i * 7 % 251) as u8));
    bytes
}

#[test]
fn archives_carry_ranges_and_validators_and_a_matching_if_range_gets_a_206() {
    let server = StandInServer::start();
    let bytes = archive_bytes(10_000);
    server.set_archive("r", &bytes);
    let whole = ranged(&server, "r", &[]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let etag = whole.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let modified = whole.header("last-modified").unwrap().to_string();
    assert!(modified.ends_with(" GMT"), "{modified}");
    let date = whole.header("date").unwrap();
    let (d, m) = (
        httpdate::parse_http_date(date).unwrap(),
        httpdate::parse_http_date(&modified).unwrap(),
    );
    assert!(d >= m + Duration::from_secs(1), "{date} vs {modified}");

    for validator in [&etag, &modified] {
        let part = ranged(
            &server,
            "r",
            &[("Range", "bytes=9000-"), ("If-Range", validator)],
        );
        assert_eq!(part.status, 206, "{validator}");
        assert_eq!(part.header("content-range"), Some("bytes 9000-10003/10004"));
        assert_eq!(part.body, bytes[9000..]);
        assert_eq!(part.header("etag"), Some(etag.as_str()));
    }
    // A Range without If-Range is honoured too.
    let part = ranged(&server, "r", &[("Range", "bytes=10-")]);
    assert_eq!((part.status, &part.body[..]), (206, &bytes[10..]));
    // A validator that does not match, or a weak one: the whole archive.
    for other in [
        "\"nope\"",
        &format!("W/{etag}"),
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let resp = ranged(
            &server,
            "r",
            &[("Range", "bytes=9000-"), ("If-Range", other)],
        );
        assert_eq!(
            (resp.status, resp.body.len()),
            (200, bytes.len()),
            "{other}"
        );
    }
    // Past the end.
    let resp = ranged(&server, "r", &[("Range", "bytes=10004-")]);
    assert_eq!(resp.status, 416);
    assert_eq!(resp.header("content-range"), Some("bytes */10004"));

    // The log has the headers as sent, and the body bytes of each answer.
    let log = server.requests();
    assert_eq!(log[1].header("range"), Some("bytes=9000-"));
    assert_eq!(log[1].header("if-range"), Some(etag.as_str()));
    let sent = server.bytes_sent();
    assert_eq!(sent.len(), log.len());
    assert_eq!(&sent[..4], &[10_004, 1004, 1004, 9994]);
}

#[test]
fn ranges_and_validators_switch_off_per_session() {
    let server = StandInServer::start();
    let bytes = archive_bytes(5000);
    server.set_archive("s", &bytes);
    server.set_archive("other", &bytes);
    let etag = ranged(&server, "s", &[])
        .header("etag")
        .unwrap()
        .to_string();

    server.set_validation("s", "ranges", "off");
    let resp = ranged(
        &server,
        "s",
        &[("Range", "bytes=100-"), ("If-Range", &etag)],
    );
    assert_eq!((resp.status, resp.body.len()), (200, bytes.len()));
    assert_eq!(resp.header("accept-ranges"), None);
    assert!(resp.header("etag").is_some());

    server.set_validation("s", "etag", "off");
    server.set_validation("s", "last-modified", "off");
    let resp = ranged(&server, "s", &[]);
    assert_eq!(
        (resp.header("etag"), resp.header("last-modified")),
        (None, None)
    );

    server.set_validation("s", "ranges", "on");
    server.set_validation("s", "etag", "weak");
    let resp = ranged(&server, "s", &[]);
    let weak = resp.header("etag").unwrap().to_string();
    assert!(weak.starts_with("W/\""), "{weak}");
    // A weak tag never matches If-Range.
    let resp = ranged(
        &server,
        "s",
        &[("Range", "bytes=100-"), ("If-Range", &weak)],
    );
    assert_eq!(resp.status, 200);

    // Other sessions keep theirs.
    let resp = ranged(&server, "other", &[]);
    assert!(resp.header("accept-ranges").is_some() && resp.header("last-modified").is_some());
    let bad = server.control("POST", "/_control/sessions/s/ranges", b"maybe");
    assert_eq!(bad.status, 400);
}

#[test]
fn a_change_step_gives_the_session_its_next_archive_and_new_validators() {
    let server = StandInServer::start();
    let first = archive_bytes(3000);
    let second = archive_bytes(4000);
    server.set_archive("c", &first);
    server.set_next_archive("c", &second);
    server.script("c", &["ok", "change"]);
    let before = ranged(&server, "c", &[]);
    let (etag, modified) = (
        before.header("etag").unwrap().to_string(),
        before.header("last-modified").unwrap().to_string(),
    );
    for validator in [&etag, &modified] {
        let resp = ranged(
            &server,
            "c",
            &[("Range", "bytes=1000-"), ("If-Range", validator)],
        );
        assert_eq!(
            (resp.status, &resp.body[..]),
            (200, &second[..]),
            "{validator}"
        );
        assert_ne!(resp.header("etag"), Some(etag.as_str()));
        assert_ne!(resp.header("last-modified"), Some(modified.as_str()));
    }
    assert_eq!(server.bytes_sent(), [3004, 4004, 4004]);
}

#[test]
fn range_faults_answer_the_206_they_promise() {
    let server = StandInServer::start();
    let bytes = archive_bytes(2000);
    server.set_archive("f", &bytes);
    let etag = ranged(&server, "f", &[])
        .header("etag")
        .unwrap()
        .to_string();
    let asked = [("Range", "bytes=500-"), ("If-Range", etag.as_str())];
    server.script(
        "f",
        &[
            "wrong-range",
            "wrong-total",
            "no-content-range",
            "other-validator",
            "unasked-206 7",
            "wrong-range",
        ],
    );
    let resp = ranged(&server, "f", &asked);
    assert_eq!(resp.status, 206);
    assert_eq!(resp.header("content-range"), Some("bytes 501-2003/2004"));
    assert_eq!(resp.body, bytes[501..]);
    let resp = ranged(&server, "f", &asked);
    assert_eq!(resp.header("content-range"), Some("bytes 500-2003/2005"));
    assert_eq!(resp.body, bytes[500..]);
    let resp = ranged(&server, "f", &asked);
    assert_eq!((resp.status, resp.header("content-range")), (206, None));
    let resp = ranged(&server, "f", &asked);
    assert_eq!(resp.status, 206);
    assert_ne!(resp.header("etag"), Some(etag.as_str()));
    assert_eq!(resp.body, bytes[500..]);
    // No Range asked: a 206 anyway.
    let resp = ranged(&server, "f", &[]);
    assert_eq!(resp.status, 206);
    assert_eq!(resp.header("content-range"), Some("bytes 7-2003/2004"));
    assert_eq!(resp.body, bytes[7..]);
    // The range faults need a Range: without one, a normal answer.
    let resp = ranged(&server, "f", &[]);
    assert_eq!((resp.status, resp.body.len()), (200, bytes.len()));
}

#[test]
fn archives_from_disk_are_served_in_ranges_too() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = archive_bytes(3 << 20);
    std::fs::write(dir.path().join("disk.zip"), &bytes).unwrap();
    let server = StandInServer::start_with(&["--sessions", dir.path().to_str().unwrap()]);
    let whole = ranged(&server, "disk", &[]);
    let etag = whole.header("etag").unwrap().to_string();
    let part = ranged(
        &server,
        "disk",
        &[("Range", "bytes=2000000-"), ("If-Range", &etag)],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, bytes[2_000_000..]);
    // A cut applies to the part: 1000 bytes of it, then a reset.
    server.script("disk", &["cut 1000"]);
    let mut stream = server.connect();
    stream
        .write_all(
            downloads_request("disk", "Range: bytes=2000000-\r\nConnection: close\r\n").as_bytes(),
        )
        .unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 206 "), "{text:.200}");
    let body = &got[text.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(body, &bytes[2_000_000..2_001_000]);
    assert_eq!(
        server.bytes_sent(),
        [bytes.len() as u64, bytes.len() as u64 - 2_000_000, 1000]
    );
}

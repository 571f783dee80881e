//! `bb-download` (tools/bb-download.c), end to end against the stand-in
//! server: one and many sessions, `-o/-d/-x/-l/-w/-j`, `--json` parsed back,
//! every exit status the man page documents, the key (environment, key file,
//! never in the arguments), the progress line under a pseudo-terminal and its
//! absence in a pipe, and SIGINT/SIGTERM mid-download leaving nothing behind.
//!
//! The program is compiled here from its source against the debug library
//! (as the C tests are), with the warnings `make build` uses as errors;
//! tests/install.rs checks the copy `make install` installs.

mod support;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::cbuild::{self, compile_with, out_dir, program, run, Link, Run, CFLAGS};
use support::{leftovers, StandInServer};

const KEY: &str = StandInServer::KEY;

/// The program, built once per test process.
fn tool() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let binary = out_dir("cli").join("bb-download");
        compile_with(
            false,
            CFLAGS,
            "tools/bb-download.c",
            &binary,
            Link::Shared,
            &["-lm"],
        );
        binary
    })
}

/// `bb-download ARGS` in `dir`, against `server`, with the key in the
/// environment and retries off (the fault tests want one request).
fn bb(server: &StandInServer, dir: &Path, args: &[&str]) -> Command {
    let mut command = program(tool());
    command
        .current_dir(dir)
        .env("BROWSERBASE_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", KEY)
        .env("BROWSERBASE_MAX_RETRIES", "0")
        .args(args);
    command
}

fn code(r: &Run) -> i32 {
    assert!(!r.timed_out, "{}", r.describe());
    r.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal\n{}", r.describe()))
}

fn ok(r: Run) -> Run {
    assert_eq!(code(&r), 0, "{}", r.describe());
    r
}

/// A session with two files; returns the archive the server answers for it.
fn session(server: &StandInServer, id: &str) -> Vec<u8> {
    server.add_file(id, "report.pdf", b"%PDF-1.4 a report");
    server.add_file(id, "data.csv", b"a,b\n1,2\n");
    let resp = server.download(id, Some(KEY));
    assert_eq!(resp.status, 200);
    resp.body
}

/// Bytes that do not compress, so the archive is as large as they are.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Milliseconds since 1970 as `2024-06-24T21:49:57.164Z` (civil from days,
/// Howard Hinnant's algorithm).
fn iso8601(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn json_lines(r: &Run) -> Vec<serde_json::Value> {
    r.stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}\n{}", r.describe()))
        })
        .collect()
}

/// Waits (polling, up to 20 s) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child killed after `limit` if still running: the watchdog of the
/// signal tests.
fn wait_child(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bb-download did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn read_all(mut pipe: impl Read) -> String {
    let mut s = String::new();
    let _ = pipe.read_to_string(&mut s);
    s
}

// ---------------------------------------------------------------------------
// One session
// ---------------------------------------------------------------------------

#[test]
fn one_session_goes_to_id_zip_or_to_the_o_file() {
    let server = StandInServer::start();
    let archive = session(&server, "s1");
    let dir = tempfile::tempdir().unwrap();

    let r = ok(run(&mut bb(&server, dir.path(), &["s1"])));
    assert_eq!(std::fs::read(dir.path().join("s1.zip")).unwrap(), archive);
    assert!(r.stdout.is_empty(), "{}", r.describe());
    assert!(
        r.stderr.is_empty(),
        "nothing on stderr in a pipe\n{}",
        r.describe()
    );

    ok(run(&mut bb(&server, dir.path(), &["-o", "out.zip", "s1"])));
    assert_eq!(std::fs::read(dir.path().join("out.zip")).unwrap(), archive);
    let mut names = leftovers(dir.path(), &[]);
    names.sort();
    assert_eq!(names, ["out.zip", "s1.zip"]);

    // The request carried the key in its header, and a User-Agent naming the tool.
    let requests = server
        .requests()
        .into_iter()
        .filter(|r| r.target.contains("/downloads"))
        .collect::<Vec<_>>();
    let last = requests.last().unwrap();
    assert_eq!(last.header("X-BB-API-Key"), Some(KEY));
    assert!(
        last.header("User-Agent").unwrap().contains("bb-download/"),
        "{last:?}"
    );
}

#[test]
fn l_lists_id_size_time_and_original_name_tab_separated() {
    let server = StandInServer::start();
    session(&server, "s1");
    let dir = tempfile::tempdir().unwrap();
    let r = ok(run(&mut bb(&server, dir.path(), &["-l", "s1"])));
    let mut lines: Vec<Vec<&str>> = r.stdout.lines().map(|l| l.split('\t').collect()).collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{}", r.describe());
    assert_eq!(lines[0][..2], ["s1", "17"]);
    assert_eq!(lines[0][3], "report.pdf");
    assert_eq!(lines[1][..2], ["s1", "8"]);
    assert_eq!(lines[1][3], "data.csv");
    // The download time: the timestamp in the stored name, as ISO 8601 UTC.
    let r = ok(run(&mut bb(&server, dir.path(), &["-l", "--json", "s1"])));
    let object = &json_lines(&r)[0];
    for line in &lines {
        let entry = object["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["original_name"] == line[3])
            .unwrap();
        let ms = entry["download_time_ms"].as_i64().unwrap();
        assert!(entry["name"].as_str().unwrap().contains(&ms.to_string()));
        assert_eq!(line[2], iso8601(ms), "{entry}");
    }
    assert!(dir.path().join("s1.zip").is_file());
}

#[test]
fn x_extracts_one_session_into_dir_and_many_into_dir_per_id() {
    let server = StandInServer::start();
    session(&server, "s1");
    session(&server, "s2");
    let dir = tempfile::tempdir().unwrap();

    ok(run(&mut bb(&server, dir.path(), &["-x", "one", "s1"])));
    let mut names = leftovers(&dir.path().join("one"), &[]);
    names.sort();
    assert_eq!(names, ["data.csv", "report.pdf"]);
    assert_eq!(
        std::fs::read(dir.path().join("one/report.pdf")).unwrap(),
        b"%PDF-1.4 a report"
    );

    let r = ok(run(&mut bb(
        &server,
        dir.path(),
        &["-x", "many", "--json", "s1", "s2"],
    )));
    for id in ["s1", "s2"] {
        let mut names = leftovers(&dir.path().join("many").join(id), &[]);
        names.sort();
        assert_eq!(names, ["data.csv", "report.pdf"], "{id}");
    }
    let objects = json_lines(&r);
    assert_eq!(objects[1]["path"], "many/s2");
    assert_eq!(objects[1]["files"], 2);
    // No archive was left anywhere.
    let mut top = leftovers(dir.path(), &[]);
    top.sort();
    assert_eq!(top, ["many", "one"]);
}

#[test]
fn w_waits_for_the_files_and_not_ready_is_15() {
    let server = StandInServer::start();
    session(&server, "late");
    server.ready_after_ms("late", 600);
    let dir = tempfile::tempdir().unwrap();
    let r = ok(run(&mut bb(
        &server,
        dir.path(),
        &["-w", "20", "--json", "late"],
    )));
    assert_eq!(json_lines(&r)[0]["files"], 2);
    assert!(server.request_count() >= 2, "it polled");

    // Still empty when the time is up: 15, no file. Without -w the empty
    // archive is a success with no files.
    server.set_empty("never");
    let r = run(&mut bb(&server, dir.path(), &["-w", "0.3", "never"]));
    assert_eq!(code(&r), 15, "{}", r.describe());
    assert!(
        r.stderr.contains("never: BB_ERR_NOT_READY"),
        "{}",
        r.describe()
    );
    assert!(!dir.path().join("never.zip").exists());
    let r = ok(run(&mut bb(&server, dir.path(), &["--json", "never"])));
    assert_eq!(json_lines(&r)[0]["files"], 0);
    assert_eq!(json_lines(&r)[0]["bytes"], 22);
}

// ---------------------------------------------------------------------------
// Many sessions
// ---------------------------------------------------------------------------

#[test]
fn many_sessions_json_in_the_order_given_and_the_first_failures_status() {
    let server = StandInServer::start();
    let ids: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    for id in &ids {
        session(&server, id);
    }
    server.script("s05", &["status 403"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let mut args = vec!["-d", "out", "-j", "3", "--json", "-l", "nope"];
    args.extend(ids.iter().map(String::as_str));
    let r = run(&mut bb(&server, dir.path(), &args));
    // The first failure in the order given: "nope" (404, 7), not s05 (403, 6).
    assert_eq!(code(&r), 7, "{}", r.describe());

    let objects = json_lines(&r);
    let got: Vec<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let mut want = vec!["nope"];
    want.extend(ids.iter().map(String::as_str));
    assert_eq!(got, want, "one object per session, in the order given");
    assert_eq!(objects[0]["code"], "BB_ERR_NOT_FOUND");
    assert_eq!(objects[0]["exit"], 7);
    assert!(objects[0]["path"].is_null());
    assert_eq!(objects[6]["code"], "BB_ERR_PERMISSION_DENIED");
    assert_eq!(objects[6]["exit"], 6);
    let good = &objects[1];
    assert_eq!(good["code"], "BB_OK");
    assert_eq!(good["exit"], 0);
    assert_eq!(good["path"], "out/s00.zip");
    assert_eq!(good["files"], 2);
    assert_eq!(
        good["bytes"].as_u64().unwrap(),
        std::fs::metadata(dir.path().join("out/s00.zip"))
            .unwrap()
            .len()
    );
    let entries = good["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries
        .iter()
        .any(|e| e["original_name"] == "report.pdf" && e["download_time_ms"].as_i64() > Some(0)));

    // One line per failure on stderr, each naming its session.
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.describe());
    assert!(lines
        .iter()
        .any(|l| l.starts_with("bb-download: nope: BB_ERR_NOT_FOUND: HTTP 404")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("bb-download: s05: BB_ERR_PERMISSION_DENIED: HTTP 403")));
    // Every other archive is there, nothing else.
    assert_eq!(leftovers(&dir.path().join("out"), &[]).len(), 11);
}

#[test]
fn j_runs_sessions_at_once() {
    // With -j 2, the second session is fetched while the first one stalls.
    let server = StandInServer::start();
    server.add_file("slow", "big.bin", &noise(200_000));
    server.script("slow", &["stall-body 1000 60000"]);
    session(&server, "fast");
    let dir = tempfile::tempdir().unwrap();
    let mut child = bb(&server, dir.path(), &["-j", "2", "slow", "fast"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("fast.zip while slow stalls", || {
        dir.path().join("fast.zip").exists()
    });
    // Then SIGTERM: 143, the finished archive stays, nothing of the other.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_child(&mut child, Duration::from_secs(10));
    let stderr = read_all(child.stderr.take().unwrap());
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert_eq!(leftovers(dir.path(), &[]), ["fast.zip"]);
    assert!(stderr.contains("terminated"), "{stderr}");
}

#[test]
fn ids_that_are_not_file_names_are_encoded_and_escaped_in_json() {
    let server = StandInServer::start();
    let odd = ["a/b", ".hidden", "q\"uo\\te", "caf\u{e9} \u{2028}x", "100%"];
    for id in odd {
        session(&server, id);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--json"];
    args.extend(odd);
    let r = ok(run(&mut bb(&server, dir.path(), &args)));
    assert!(
        !r.stdout.contains('\u{2028}'),
        "U+2028 is escaped: {:?}",
        r.stdout
    );
    let objects = json_lines(&r);
    let ids: Vec<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, odd, "ids come back exactly");
    let mut names = leftovers(dir.path(), &[]);
    names.sort();
    assert_eq!(
        names,
        [
            "%2Ehidden.zip",
            "100%25.zip",
            "a%2Fb.zip",
            "caf%C3%A9%20%E2%80%A8x.zip",
            "q%22uo%5Cte.zip"
        ]
    );
}

// ---------------------------------------------------------------------------
// Exit statuses
// ---------------------------------------------------------------------------

#[test]
fn every_failure_class_has_its_documented_exit_status() {
    let server = StandInServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str], i32)] = &[
        ("status 403", &[], 6),
        ("status 429", &[], 8),
        ("status 500", &[], 9),
        ("status 503", &[], 9),
        ("status 400", &[], 10),
        ("html", &[], 14),
    ];
    for (step, extra, want) in cases {
        session(&server, "f");
        server.script("f", &[step]);
        let mut args = extra.to_vec();
        args.push("f");
        let r = run(&mut bb(&server, dir.path(), &args));
        assert_eq!(code(&r), *want, "{step}\n{}", r.describe());
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.describe());
        assert!(
            r.stderr.starts_with("bb-download: f: BB_ERR_"),
            "{}",
            r.describe()
        );
        assert!(leftovers(dir.path(), &[]).is_empty(), "{step}");
    }

    // 7: no such session.
    let r = run(&mut bb(&server, dir.path(), &["missing"]));
    assert_eq!(code(&r), 7, "{}", r.describe());
    // 5: the key refused.
    session(&server, "f");
    let r = run(bb(&server, dir.path(), &["f"]).env("BROWSERBASE_API_KEY", "wrong"));
    assert_eq!(code(&r), 5, "{}", r.describe());
    assert!(!r.stderr.contains("wrong"), "{}", r.describe());
    // 12: silent server.
    server.script("f", &["stall-headers 5000"]);
    let r = run(bb(&server, dir.path(), &["f"]).env("BROWSERBASE_TIMEOUT_MS", "200"));
    assert_eq!(code(&r), 12, "{}", r.describe());
    // 13: a missing directory.
    let r = run(&mut bb(&server, dir.path(), &["-d", "missing", "f"]));
    assert_eq!(code(&r), 13, "{}", r.describe());
    // 3: an id the library refuses, and an unusable BROWSERBASE_* value.
    let r = run(&mut bb(&server, dir.path(), &[".."]));
    assert_eq!(code(&r), 3, "{}", r.describe());
    let r = run(bb(&server, dir.path(), &["f"]).env("BROWSERBASE_BASE_URL", "ftp://x"));
    assert_eq!(code(&r), 3, "{}", r.describe());
    assert!(
        r.stderr.contains("BROWSERBASE_BASE_URL"),
        "{}",
        r.describe()
    );
    // 11: nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run(bb(&server, dir.path(), &["f"])
        .env("BROWSERBASE_BASE_URL", format!("http://127.0.0.1:{port}")));
    assert_eq!(code(&r), 11, "{}", r.describe());
    assert!(leftovers(dir.path(), &[]).is_empty());
}

#[test]
fn a_bad_command_line_is_2_and_sends_nothing() {
    let server = StandInServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bad: &[&[&str]] = &[
        &[],
        &["--frobnicate", "s"],
        &["-z", "s"],
        &["-o"],
        &["-o", "x.zip", "s1", "s2"],
        &["-o", "x.zip", "-d", ".", "s"],
        &["-x", "d", "-o", "x.zip", "s"],
        &["-j", "0", "s"],
        &["-j", "65", "s"],
        &["-j", "two", "s"],
        &["-w", "-1", "s"],
        &["-w", "soon", "s"],
        &["-w", "nan", "s"],
        // Only plain decimals: no space, sign, hex, exponent or infinity.
        &["-w", "0x10", "s"],
        &["-w", " 5", "s"],
        &["-w", "1e3", "s"],
        &["-w", "inf", "s"],
        &["-w", ".", "s"],
        &["-w", "", "s"],
        &["-j", " 5", "s"],
        &["-j", "+5", "s"],
        &["-j", "-1", "s"],
        &["-j", "1x", "s"],
        &["-j", "", "s"],
        // Not stdout, and not a file named "-" either.
        &["-o", "-", "s"],
        &["s", "s"],
        &[""],
    ];
    for args in bad {
        let r = run(&mut bb(&server, dir.path(), args));
        assert_eq!(code(&r), 2, "{args:?}\n{}", r.describe());
        assert!(r.stderr.contains("--help"), "{}", r.describe());
    }
    // Arguments echoed in a usage error are escaped like ids elsewhere: no
    // terminal escape reaches stderr (they were printed raw).
    for args in [
        &["\u{1b}]0;owned\u{7}", "\u{1b}]0;owned\u{7}"][..],
        &["--\u{1b}[2J"][..],
    ] {
        let r = run(&mut bb(&server, dir.path(), args));
        assert_eq!(code(&r), 2, "{args:?}\n{}", r.describe());
        assert!(!r.stderr.contains('\u{1b}'), "{}", r.describe());
        assert!(r.stderr.contains("\\x1b"), "{}", r.describe());
    }
    assert_eq!(server.request_count(), 0);
    assert!(leftovers(dir.path(), &[]).is_empty());

    // Still accepted: plain decimals, and after `--` an id that looks like
    // an option.
    session(&server, "-x");
    for args in [
        &["-w", "0.5", "-o", "a.zip", "--", "-x"][..],
        &["-w", "5.", "-j", "08", "--", "-x"],
        &["-w", ".5", "-j", "64", "--", "-x"],
    ] {
        ok(run(&mut bb(&server, dir.path(), args)));
    }
    let mut names = leftovers(dir.path(), &[]);
    names.sort();
    assert_eq!(names, ["-x.zip", "a.zip"]);
}

#[test]
fn help_and_version() {
    let server = StandInServer::start();
    let dir = tempfile::tempdir().unwrap();
    let r = ok(run(&mut bb(&server, dir.path(), &["--help"])));
    assert!(r.stdout.contains("BROWSERBASE_API_KEY"));
    assert!(r.stdout.contains("never from the command line"));
    let r = ok(run(&mut bb(&server, dir.path(), &["--version"])));
    assert!(
        r.stdout
            .starts_with(&format!("bb-download {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        r.describe()
    );
}

// ---------------------------------------------------------------------------
// The key
// ---------------------------------------------------------------------------

#[test]
fn no_key_is_4_and_sends_nothing() {
    let server = StandInServer::start();
    let dir = tempfile::tempdir().unwrap();
    for value in [None, Some("")] {
        let mut command = bb(&server, dir.path(), &["s1"]);
        match value {
            None => command.env_remove("BROWSERBASE_API_KEY"),
            Some(v) => command.env("BROWSERBASE_API_KEY", v),
        };
        let r = run(&mut command);
        assert_eq!(code(&r), 4, "{}", r.describe());
        assert!(r.stderr.contains("no API key"), "{}", r.describe());
        assert!(r.stderr.contains("--key-file"), "{}", r.describe());
    }
    assert_eq!(server.request_count(), 0);
}

#[test]
fn the_key_file_is_read_trimmed_and_refused_when_others_can_read_it() {
    let server = StandInServer::start();
    let archive = session(&server, "s1");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    let write_key = |content: &[u8], mode: u32| {
        std::fs::write(&key_file, content).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let with_file = |out: &str| {
        let mut c = bb(
            &server,
            dir.path(),
            &["--key-file", key_file.to_str().unwrap(), "-o", out, "s1"],
        );
        // The file wins over the environment.
        c.env("BROWSERBASE_API_KEY", "wrong");
        c
    };

    for (content, mode) in [
        (format!("{KEY}\n"), 0o600),
        (format!("{KEY}\r\n"), 0o640),
        (KEY.to_string(), 0o400),
    ] {
        write_key(content.as_bytes(), mode);
        ok(run(&mut with_file("a.zip")));
        assert_eq!(std::fs::read(dir.path().join("a.zip")).unwrap(), archive);
        std::fs::remove_file(dir.path().join("a.zip")).unwrap();
    }
    let requests = server.request_count();

    // Refused, nothing sent: readable or writable by others, group-writable,
    // empty, missing, not a regular file.
    for (content, mode, why) in [
        (format!("{KEY}\n"), 0o644, "read"),
        (format!("{KEY}\n"), 0o602, "write"),
        (format!("{KEY}\n"), 0o620, "write"),
        (String::new(), 0o600, "empty"),
    ] {
        write_key(content.as_bytes(), mode);
        let r = run(&mut with_file("b.zip"));
        assert_eq!(code(&r), 4, "{mode:o}\n{}", r.describe());
        assert!(r.stderr.contains(why), "{}", r.describe());
        assert!(!r.stderr.contains(KEY), "{}", r.describe());
    }
    let r = run(&mut bb(
        &server,
        dir.path(),
        &["--key-file", "/nonexistent/key", "s1"],
    ));
    assert_eq!(code(&r), 4, "{}", r.describe());
    let r = run(&mut bb(
        &server,
        dir.path(),
        &["--key-file", "/dev/null", "s1"],
    ));
    assert_eq!(code(&r), 4, "{}", r.describe());
    assert_eq!(server.request_count(), requests, "nothing sent");
    assert_eq!(leftovers(dir.path(), &["key"]), Vec::<String>::new());
}

#[test]
fn the_key_is_never_in_the_process_arguments() {
    let server = StandInServer::start();
    server.add_file("slow", "big.bin", &noise(100_000));
    server.script("slow", &["stall-headers 60000"]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = bb(&server, dir.path(), &["slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the request", || server.request_count() == 1);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    assert!(!cmdline.is_empty());
    assert!(
        !cmdline.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(
        wait_child(&mut child, Duration::from_secs(10)).code(),
        Some(130)
    );
}

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

#[test]
fn sigint_mid_body_is_130_and_leaves_no_partial_file() {
    let server = StandInServer::start();
    server.add_file("slow", "big.bin", &noise(200_000));
    server.script("slow", &["stall-body 1000 60000"]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = bb(&server, dir.path(), &["--json", "--progress", "slow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The body has begun: the progress line shows its first 1000 bytes.
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let stderr = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stderr.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    wait_until("the first 1000 bytes", || {
        String::from_utf8_lossy(&stderr.lock().unwrap()).contains("1000 B /")
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_child(&mut child, Duration::from_secs(10));
    reader.join().unwrap();
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(leftovers(dir.path(), &[]).is_empty(), "nothing left");
    let object: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(object["code"], "BB_ERR_CANCELLED");
    assert_eq!(object["exit"], 130);
    assert!(
        stderr.ends_with("bb-download: interrupted: stopped, no partial file left\n"),
        "{stderr:?}"
    );
}

// ---------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------

/// Runs the tool with stderr on a pseudo-terminal; returns (status, stdout,
/// what the terminal showed).
fn run_on_a_terminal(command: Command) -> (i32, String, String) {
    run_on_a_terminal_of(command, 0)
}

/// [`run_on_a_terminal`] on a terminal `columns` wide (0: it does not say).
fn run_on_a_terminal_of(mut command: Command, columns: u16) -> (i32, String, String) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    drop(command); // our copy of the slave side: EOF (EIO) once the child exits
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(master);
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let stdout = read_all(child.stdout.take().unwrap());
    let status = wait_child(&mut child, Duration::from_secs(60));
    (status.code().unwrap_or(-1), stdout, reader.join().unwrap())
}

#[test]
fn a_progress_line_on_a_terminal_and_none_in_a_pipe() {
    let server = StandInServer::start();
    server.add_file("s1", "big-1719265797164.bin", &noise(300_000));
    server.script("s1", &["trickle 65536 20"]);
    let dir = tempfile::tempdir().unwrap();

    let (status, stdout, terminal) = run_on_a_terminal(bb(&server, dir.path(), &["--json", "s1"]));
    assert_eq!(status, 0, "{terminal}");
    assert!(terminal.contains('\r'), "{terminal:?}");
    assert!(terminal.contains("B/s"), "{terminal:?}");
    assert!(terminal.contains("100%"), "{terminal:?}");
    assert!(terminal.ends_with('\n'), "a clean prompt: {terminal:?}");
    // stdout holds the JSON only.
    let object: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(object["code"], "BB_OK");

    // -q and --no-progress silence it.
    for quiet in ["-q", "--no-progress"] {
        let (status, _, terminal) = run_on_a_terminal(bb(&server, dir.path(), &[quiet, "s1"]));
        assert_eq!(status, 0);
        assert_eq!(terminal, "", "{quiet}");
    }

    // Many sessions: one aggregate line.
    session(&server, "s2");
    let (status, _, terminal) = run_on_a_terminal(bb(&server, dir.path(), &["s1", "s2"]));
    assert_eq!(status, 0, "{terminal}");
    assert!(terminal.contains("2/2 sessions"), "{terminal:?}");
    assert!(terminal.ends_with('\n'), "{terminal:?}");

    // In a pipe: nothing, unless --progress asks.
    let r = ok(run(&mut bb(&server, dir.path(), &["s1"])));
    assert_eq!(r.stderr, "");
    let r = ok(run(&mut bb(&server, dir.path(), &["--progress", "s1"])));
    assert!(r.stderr.contains("B/s"), "{}", r.describe());
    assert!(r.stderr.ends_with('\n'), "{}", r.describe());
}

/// On a terminal narrower than the line, the line is cut to fit: a line
/// that wraps makes every redraw (`\r` goes back to the start of the last
/// row only) a new row, and the terminal scrolls.
#[test]
fn the_progress_line_fits_a_narrow_terminal() {
    let server = StandInServer::start();
    server.add_file("s1", "big.bin", &noise(300_000));
    server.script("s1", &["trickle 65536 20"]);
    session(&server, "s2");
    let dir = tempfile::tempdir().unwrap();
    for (args, columns) in [(&["s1"][..], 30u16), (&["s1", "s2"], 20), (&["s1"], 1)] {
        server.script("s1", &["trickle 65536 20"]);
        let (status, _, terminal) = run_on_a_terminal_of(bb(&server, dir.path(), args), columns);
        assert_eq!(status, 0, "{terminal}");
        assert!(terminal.contains('\r'), "{terminal:?}");
        for row in terminal.split(['\r', '\n']) {
            assert!(
                row.chars().count() < usize::from(columns),
                "{columns} columns: {row:?} in {terminal:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The man page
// ---------------------------------------------------------------------------

/// groff renders bb-download(1) without a warning, and it documents every
/// option and exit status the program has.
#[test]
fn the_man_page_renders_and_documents_every_option_and_status() {
    let page = cbuild::manifest_dir().join("man/bb-download.1");
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=80n"])
        .arg(&page)
        .output()
        .expect("groff (.ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "groff: {stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    // Plain text: drop the overstrikes of bold and underline.
    let mut plain = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    for option in [
        "-o FILE",
        "-d DIR",
        "-x DIR",
        "-l",
        "-w SECONDS",
        "-j N",
        "--json",
        "--progress",
        "--no-progress",
        "--key-file FILE",
        "--version",
        "--help",
        "BROWSERBASE_API_KEY",
    ] {
        assert!(plain.contains(option), "{option} is not in the man page");
    }
    for status in 0..=15 {
        assert!(
            plain
                .lines()
                .any(|l| l.starts_with(&format!("       {status} "))),
            "exit status {status} is not documented"
        );
    }
    assert!(plain.contains("130") && plain.contains("143"));
}

// ---------------------------------------------------------------------------
// What failures leave behind
// ---------------------------------------------------------------------------

#[test]
fn a_hostile_archive_is_14_and_extracts_nothing() {
    use std::io::Write;
    let server = StandInServer::start();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    w.start_file("fine.txt", options).unwrap();
    w.write_all(b"fine").unwrap();
    w.start_file("../escape.txt", options).unwrap();
    w.write_all(b"evil").unwrap();
    server.set_archive("evil", &w.finish().unwrap().into_inner());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let r = run(&mut bb(&server, dir.path(), &["-x", "out", "evil"]));
    assert_eq!(code(&r), 14, "{}", r.describe());
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.describe());
    assert!(leftovers(&dir.path().join("out"), &[]).is_empty());
    assert_eq!(leftovers(dir.path(), &[]), ["out"]);
}

#[test]
fn an_id_with_control_characters_is_3_and_escaped_in_the_message() {
    let server = StandInServer::start();
    let dir = tempfile::tempdir().unwrap();
    let r = run(&mut bb(&server, dir.path(), &["a\u{1b}[2Jb\nforged"]));
    assert_eq!(code(&r), 3, "{}", r.describe());
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.describe());
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
    assert!(
        r.stderr
            .starts_with("bb-download: a\\x1b[2Jb\\nforged: BB_ERR_INVALID_ARGUMENT"),
        "{:?}",
        r.stderr
    );
    assert_eq!(server.request_count(), 0);
    assert!(leftovers(dir.path(), &[]).is_empty());
}

#[test]
fn a_closed_stdout_is_13_and_stops_the_downloads() {
    let server = StandInServer::start();
    session(&server, "s1");
    session(&server, "s2");
    let dir = tempfile::tempdir().unwrap();
    let mut child = bb(&server, dir.path(), &["--json", "-j", "1", "s1", "s2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // nobody reads: the first write fails (EPIPE)
    let status = wait_child(&mut child, Duration::from_secs(30));
    let stderr = read_all(child.stderr.take().unwrap());
    assert_eq!(status.code(), Some(13), "{stderr}");
    assert!(stderr.contains("stdout: Broken pipe"), "{stderr}");
}

/// Saving many sessions into a directory is one `bb_download_sessions`
/// call: its downloads run at once on the calling thread (no worker
/// threads), and a signal cancels them all, leaving nothing.
#[test]
fn many_sessions_into_a_directory_are_one_library_call_on_one_thread() {
    let server = StandInServer::start();
    let ids = ["b1", "b2", "b3", "b4"];
    for id in ids {
        session(&server, id);
        server.script(id, &["stall-headers 60000"]);
    }
    server.clear_requests();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["-q", "-j", "4", "--json"];
    args.extend(ids);
    let mut child = bb(&server, dir.path(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("four requests at once", || server.request_count() == 4);
    let threads = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .unwrap()
        .count();
    assert_eq!(threads, 1, "the downloads run on the calling thread");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_child(&mut child, Duration::from_secs(10));
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    assert_eq!(status.code(), Some(130), "{status:?} {stderr}");
    assert!(leftovers(dir.path(), &[]).is_empty());
    let codes: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["code"].to_string())
        .collect();
    assert_eq!(codes, vec!["\"BB_ERR_CANCELLED\""; 4], "{stdout}");
}

/// The library refuses a whole batch with one bad id before sending
/// anything; the tool then gives each id its own verdict: the good ones are
/// saved, the bad one is reported (one line, status 3).
#[test]
fn one_bad_id_among_many_fails_alone() {
    let server = StandInServer::start();
    session(&server, "g1");
    session(&server, "g2");
    let dir = tempfile::tempdir().unwrap();
    let r = run(&mut bb(&server, dir.path(), &["--json", "g1", "..", "g2"]));
    assert_eq!(code(&r), 3, "{}", r.describe());
    let codes: Vec<String> = json_lines(&r)
        .iter()
        .map(|o| o["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["BB_OK", "BB_ERR_INVALID_ARGUMENT", "BB_OK"]);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.describe());
    assert!(
        r.stderr
            .starts_with("bb-download: ..: BB_ERR_INVALID_ARGUMENT: "),
        "{}",
        r.describe()
    );
    let mut names = leftovers(dir.path(), &[]);
    names.sort();
    assert_eq!(names, ["g1.zip", "g2.zip"]);
}

/// `cmd >&-` / `cmd 2>&-`: a standard stream closed by the caller is not
/// a free descriptor for the library's sockets, event fds or files (the
/// progress line and the messages would go into them): the tool holds it
/// on /dev/null; output asked for on a closed stdout is exit 13 with
/// "stdout: Bad file descriptor" (also for --help and --version); the exit
/// status stays right without a stderr.
#[test]
fn closed_standard_streams_are_not_reused_for_other_descriptors() {
    use std::os::unix::process::CommandExt;
    fn closing(mut command: Command, fds: &'static [i32]) -> Command {
        unsafe {
            command.pre_exec(move || {
                for fd in fds {
                    libc::close(*fd);
                }
                Ok(())
            });
        }
        command
    }
    let server = StandInServer::start();
    server.add_file("slow", "big.bin", &noise(200_000));
    server.script("slow", &["stall-body 1000 60000"]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = closing(
        bb(&server, dir.path(), &["--json", "--progress", "slow"]),
        &[1, 2],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until("the request", || server.request_count() == 1);
    for fd in [1, 2] {
        let target = std::fs::read_link(format!("/proc/{}/fd/{fd}", child.id()));
        assert_eq!(
            target.ok(),
            Some(PathBuf::from("/dev/null")),
            "fd {fd} is something else"
        );
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(
        wait_child(&mut child, Duration::from_secs(10)).code(),
        Some(130)
    );
    assert!(leftovers(dir.path(), &[]).is_empty());

    session(&server, "s1");
    for args in [&["--json", "s1"][..], &["--help"], &["--version"]] {
        let r = run(&mut closing(bb(&server, dir.path(), args), &[1]));
        assert_eq!(code(&r), 13, "{args:?}\n{}", r.describe());
        assert_eq!(
            r.stderr,
            "bb-download: stdout: Bad file descriptor\n",
            "{args:?}\n{}",
            r.describe()
        );
    }
    let r = run(&mut closing(bb(&server, dir.path(), &["missing"]), &[2]));
    assert_eq!(code(&r), 7, "{}", r.describe());
}

/// The key from places a local user or the environment can make hostile:
/// a key file that is a FIFO (no writer: must not block), /dev/zero (must
/// not read forever), a directory, a symlink to a file others can read
/// (refused: the target's mode counts); a BROWSERBASE_API_KEY holding a
/// newline or a terminal escape (3, nothing sent, never echoed); a server
/// echoing the key in its error message (redacted on stderr and in --json).
#[test]
fn hostile_key_sources_are_refused_at_once_and_the_key_never_echoed() {
    let server = StandInServer::start();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    std::fs::create_dir(dir.path().join("keydir")).unwrap();
    let open_file = dir.path().join("open-key");
    std::fs::write(&open_file, format!("{KEY}\n")).unwrap();
    std::fs::set_permissions(&open_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&open_file, dir.path().join("link")).unwrap();
    for (file, why) in [
        ("fifo", "not a regular file"),
        ("/dev/zero", "not a regular file"),
        ("keydir", "not a regular file"),
        ("link", "other users can read it"),
    ] {
        let r = run(&mut bb(&server, dir.path(), &["--key-file", file, "s1"]));
        assert_eq!(code(&r), 4, "{file}\n{}", r.describe());
        assert!(r.stderr.contains(why), "{}", r.describe());
        assert!(!r.stderr.contains(KEY), "{}", r.describe());
    }
    for key in [
        "bb_test_key\nforged",
        "bb_test_key\u{1b}[2J",
        "bb_test_key\r",
    ] {
        let r = run(bb(&server, dir.path(), &["--json", "s1"]).env("BROWSERBASE_API_KEY", key));
        assert_eq!(code(&r), 3, "{key:?}\n{}", r.describe());
        assert!(
            !r.stderr.contains("bb_test_key") && !r.stdout.contains("bb_test_key"),
            "{}",
            r.describe()
        );
        assert!(!r.stderr.contains('\u{1b}'), "{}", r.describe());
        json_lines(&r);
    }
    assert_eq!(server.request_count(), 0, "nothing sent");
    assert_eq!(
        leftovers(dir.path(), &["fifo", "keydir", "open-key", "link"]),
        Vec::<String>::new()
    );

    session(&server, "s1");
    server.script(
        "s1",
        &[&format!(
            "status 401 | Message: \"the key {KEY} is not valid\""
        )],
    );
    let r = run(&mut bb(&server, dir.path(), &["--json", "s1"]));
    assert_eq!(code(&r), 5, "{}", r.describe());
    assert!(r.stderr.contains("[redacted]"), "{}", r.describe());
    assert!(
        !r.stderr.contains(KEY) && !r.stdout.contains(KEY),
        "{}",
        r.describe()
    );
    assert_eq!(json_lines(&r)[0]["code"], "BB_ERR_AUTHENTICATION");
}

/// Many ids (a shell glob, xargs): the duplicate check was quadratic, 40 s
/// for 120,000 ids before anything else happened; it must be a usage error
/// (or a start) at once.
#[test]
fn a_hundred_thousand_ids_are_checked_at_once() {
    let server = StandInServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut ids: Vec<String> = (1..=100_000).map(|i| i.to_string()).collect();
    ids.push("1".to_owned());
    let mut command = bb(&server, dir.path(), &[]);
    command.args(&ids);
    let r = support::cbuild::run_with_timeout(&mut command, Duration::from_secs(10));
    assert_eq!(code(&r), 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "bb-download: session id '1' is given twice\nTry 'bb-download --help' for more information.\n"
    );
    assert_eq!(server.request_count(), 0);
}

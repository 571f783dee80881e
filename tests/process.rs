//! Process-level faults, from C against the freshly built shared library:
//! fork() (tests/c/test_fork.c), dlopen/dlclose cycles (tests/c/test_dlopen.c),
//! and the process-wide default client's `BROWSERBASE_*` environment, which
//! needs a fresh process per setting (`test_fork default ID PATH`).
//!
//! The C programs are built with the helpers in tests/support/cbuild.rs into
//! `target/<profile>/c-tests/<test name>/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::cbuild::{
    assert_all_checks_passed, compile, compile_with, libs, out_dir, program, run, Link, CFLAGS,
};
use support::StandInServer;

const DEMO: &str = StandInServer::DEMO_SESSION;

fn build_test_fork(name: &str) -> (PathBuf, PathBuf) {
    let dir = out_dir(name);
    let binary = dir.join("test_fork");
    compile(false, CFLAGS, "tests/c/test_fork.c", &binary, Link::Shared);
    (binary, dir.join("scratch"))
}

#[test]
fn fork_then_download_in_the_child_and_the_parent() {
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, scratch) = build_test_fork("test_fork");
    let mut command = program(&binary);
    command
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BB_TEST_DIR", &scratch)
        .env("BROWSERBASE_API_KEY", StandInServer::KEY);
    let run = run(&mut command);
    assert_all_checks_passed(&run, 7);
    // The children's downloads reached the server (the parent's alone are fewer).
    assert!(server.request_count() > 20, "{}", run.describe());
}

#[test]
fn a_child_forked_while_a_log_callback_runs_can_replace_it() {
    // Another thread is parked inside the log callback (a pipe holds it
    // there) when the process forks: that call never ends in the child,
    // whose bb_set_log_callback must not wait for it (it spun forever). The
    // child runs under alarm(10): a hang fails the check in seconds.
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, _) = build_test_fork("test_fork_log");
    let run = run(program(&binary)
        .arg("log-callback")
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY)
        .env_remove("BROWSERBASE_LOG"));
    assert_all_checks_passed(&run, 5);
}

#[test]
fn a_child_forked_while_a_thread_writes_a_log_line_to_stderr_logs_too() {
    // Another thread is blocked writing a log line to stderr (a full pipe,
    // seen in /proc/self/task/*/syscall) when the process forks; the child
    // points its stderr elsewhere and downloads with BROWSERBASE_LOG=info.
    // std's stderr lock, held by the blocked thread, hung the child forever.
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, _) = build_test_fork("test_fork_log_stderr");
    let run = run(program(&binary)
        .arg("log-stderr")
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY)
        .env("BROWSERBASE_LOG", "info"));
    assert_all_checks_passed(&run, 4);
}

#[test]
fn a_host_name_lookup_that_hangs_holds_up_neither_the_call_nor_the_free() {
    // getaddrinfo cannot be interrupted, so it runs on a helper thread; the
    // call stops waiting at its deadline and freeing the client must not
    // join that thread (tests/c/test_slow_dns.c, with an LD_PRELOAD shim
    // whose getaddrinfo takes 5 s for "slowdns*").
    let dir = out_dir("test_slow_dns");
    let shim = dir.join("slow_getaddrinfo.so");
    compile_with(
        false,
        &["-shared", "-fPIC", "-O2", "-Wall", "-Werror"],
        "tests/c/slow_getaddrinfo.c",
        &shim,
        Link::Without,
        &["-ldl"],
    );
    let binary = dir.join("test_slow_dns");
    compile(
        false,
        CFLAGS,
        "tests/c/test_slow_dns.c",
        &binary,
        Link::Shared,
    );
    let mut command = program(&binary);
    command.env("LD_PRELOAD", &shim);
    let run = run(&mut command);
    assert_all_checks_passed(&run, 5);
    assert!(
        run.elapsed < Duration::from_secs(4),
        "the program waited for the lookup: {}",
        run.describe()
    );
}

#[test]
fn localhost_resolving_to_another_machine_is_never_connected_to() {
    // Issue 10, row 8: plain http is allowed to `localhost` because it is
    // this machine. tests/c/test_foreign_localhost.c runs with an LD_PRELOAD
    // shim whose getaddrinfo says "localhost" is 192.0.2.1 and whose
    // connect() counts (and refuses) every attempt at a non-loopback address.
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("test_foreign_localhost");
    let shim = dir.join("foreign_localhost.so");
    compile_with(
        false,
        &["-shared", "-fPIC", "-O2", "-Wall", "-Werror"],
        "tests/c/foreign_localhost.c",
        &shim,
        Link::Without,
        &["-ldl"],
    );
    let binary = dir.join("test_foreign_localhost");
    compile_with(
        false,
        CFLAGS,
        "tests/c/test_foreign_localhost.c",
        &binary,
        Link::Shared,
        &["-ldl"],
    );
    let mut command = program(&binary);
    command
        .env("LD_PRELOAD", &shim)
        .env("BB_TEST_PORT", server.addr().port().to_string())
        .env("BB_TEST_SESSION", DEMO);
    let run = run(&mut command);
    assert_all_checks_passed(&run, 6);
    // Only the download by IP literal reached the server.
    assert_eq!(server.request_count(), 1, "{}", run.describe());
}

#[test]
fn dlopen_use_dlclose_and_again() {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("test_dlopen");
    let binary = dir.join("test_dlopen");
    compile_with(
        false,
        CFLAGS,
        "tests/c/test_dlopen.c",
        &binary,
        Link::Without,
        &["-ldl"],
    );
    let library = libs().shared_by_soname();
    let mut command = program(&binary);
    command
        .arg(&library)
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY);
    let run = run(&mut command);
    assert_all_checks_passed(&run, 5);
    // 5 cycles, 2 downloads each.
    assert_eq!(server.request_count(), 10, "{}", run.describe());
}

/// The link options that make the cycles safe, as the loader sees them.
#[test]
fn the_shared_library_has_its_soname_and_nodelete() {
    let library = libs().profile_dir.join("libbrowserbase.so");
    let Ok(out) = Command::new("readelf").arg("-d").arg(&library).output() else {
        eprintln!("NOTICE: readelf not found; the dynamic section was not checked");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Library soname: [libbrowserbase.so.0]"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("FLAGS_1") && l.contains("NODELETE")),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// The environment of the process-wide default client
// ---------------------------------------------------------------------------

/// One `test_fork default|env-client` run with `env` set.
struct EnvRun {
    line: String,
    took: Duration,
    success: bool,
}

fn env_download(
    binary: &Path,
    mode: &str,
    base_url: &str,
    env: &[(&str, &str)],
    path: &Path,
) -> EnvRun {
    let mut command = program(binary);
    command
        .args([mode, DEMO])
        .arg(path)
        .env("BROWSERBASE_BASE_URL", base_url)
        .env("BROWSERBASE_API_KEY", StandInServer::KEY);
    for (k, v) in env {
        command.env(k, v);
    }
    let started = Instant::now();
    let run = run(&mut command);
    let took = started.elapsed();
    assert!(
        !run.timed_out && run.status.code().is_some_and(|c| c == 0 || c == 1),
        "{}",
        run.describe()
    );
    EnvRun {
        line: run.stdout.trim().to_owned(),
        took,
        success: run.status.success(),
    }
}

#[test]
fn unusable_environment_values_are_invalid_arguments_at_first_use() {
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, scratch) = build_test_fork("env_invalid");
    let path = scratch.join("out.zip");
    std::fs::write(&path, b"old").unwrap();
    let fifo = scratch.join("fifo.pem");
    let c_fifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o644) }, 0);
    let cases: &[(&str, &str)] = &[
        ("BROWSERBASE_MAX_RETRIES", "abc"),
        ("BROWSERBASE_MAX_RETRIES", "-1"),
        ("BROWSERBASE_MAX_RETRIES", "1.5"),
        ("BROWSERBASE_MAX_RETRIES", "101"),
        ("BROWSERBASE_MAX_RETRIES", "99999999999999999999999"),
        ("BROWSERBASE_TIMEOUT_MS", "abc"),
        ("BROWSERBASE_TIMEOUT_MS", "0"),
        ("BROWSERBASE_TIMEOUT_MS", "5s"),
        ("BROWSERBASE_CONNECT_TIMEOUT_MS", "fast"),
        ("BROWSERBASE_CONNECT_TIMEOUT_MS", "0"),
        ("BROWSERBASE_DEADLINE_MS", "soon"),
        ("BROWSERBASE_FSYNC", "maybe"),
        ("BROWSERBASE_RESUME", "maybe"),
        ("BROWSERBASE_BASE_URL", "http://example.com"),
        ("BROWSERBASE_BASE_URL", "not a url"),
        ("BROWSERBASE_BASE_URL", "http://bb.localhost:1"),
        ("BROWSERBASE_PROXY", "ftp://proxy"),
        // Issue 10, row 7: the key in clear text to a proxy on another host
        // (192.0.2.1 is TEST-NET: never contacted).
        ("BROWSERBASE_PROXY", "http://192.0.2.1:3128"),
        ("BROWSERBASE_USER_AGENT_SUFFIX", "a\u{1}b"),
        ("BROWSERBASE_CA_FILE", "/dev/zero"),
        ("BROWSERBASE_CA_FILE", fifo.to_str().unwrap()),
    ];
    for mode in ["default", "env-client"] {
        for (name, value) in cases {
            let mut env = vec![(*name, *value)];
            let base = server.base_url();
            if *name == "BROWSERBASE_BASE_URL" {
                env.clear();
            }
            let base_url = if *name == "BROWSERBASE_BASE_URL" {
                *value
            } else {
                base.as_str()
            };
            let r = env_download(&binary, mode, base_url, &env, &path);
            assert!(
                !r.success
                    && r.line.starts_with("BB_ERR_INVALID_ARGUMENT 0 ")
                    && r.line.contains(name),
                "{mode} {name}={value:?}: {}",
                r.line
            );
            assert!(
                r.took < Duration::from_secs(15),
                "{mode} {name}: {:?}",
                r.took
            );
        }
    }
    assert_eq!(
        server.request_count(),
        0,
        "an unusable setting sent a request"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    let mut left: Vec<_> = std::fs::read_dir(&scratch)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["fifo.pem", "out.zip"]);
}

/// Issue 10, row 7: the system's proxy variables never apply to a loopback
/// base URL (so they cannot carry the key off this machine in clear text):
/// the request goes straight to the server, in origin form.
#[test]
fn system_proxies_never_apply_to_a_loopback_base_url() {
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, scratch) = build_test_fork("env_system_proxy");
    let path = scratch.join("out.zip");
    let proxy = "http://192.0.2.1:3128";
    let env = [
        ("HTTP_PROXY", proxy),
        ("http_proxy", proxy),
        ("HTTPS_PROXY", proxy),
        ("https_proxy", proxy),
        ("ALL_PROXY", proxy),
        ("all_proxy", proxy),
        ("BROWSERBASE_MAX_RETRIES", "0"),
        ("BROWSERBASE_CONNECT_TIMEOUT_MS", "2000"),
    ];
    for mode in ["default", "env-client"] {
        server.clear_requests();
        let r = env_download(&binary, mode, &server.base_url(), &env, &path);
        assert!(
            r.success && r.line.starts_with("BB_OK "),
            "{mode}: {}",
            r.line
        );
        let seen = server.requests();
        assert_eq!(seen.len(), 1, "{mode}");
        assert_eq!(
            seen[0].target,
            format!("/v1/sessions/{DEMO}/downloads"),
            "{mode}"
        );
    }
}

/// Issue 10, row 15: when the system's proxy (`HTTPS_PROXY`) refuses the
/// connection, the message names that proxy, not only the target host (which
/// was never contacted).
#[test]
fn a_system_proxy_that_refuses_is_named() {
    let (binary, scratch) = build_test_fork("env_system_proxy_named");
    let path = scratch.join("out.zip");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let proxy = format!("http://127.0.0.1:{port}");
    let env = [
        ("HTTPS_PROXY", proxy.as_str()),
        ("https_proxy", proxy.as_str()),
        ("ALL_PROXY", ""),
        ("all_proxy", ""),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
        ("BROWSERBASE_MAX_RETRIES", "0"),
    ];
    for mode in ["default", "env-client"] {
        let r = env_download(&binary, mode, "https://api.browserbase.test", &env, &path);
        assert!(
            r.line.starts_with("BB_ERR_CONNECTION 0 "),
            "{mode}: {}",
            r.line
        );
        assert!(
            r.line.contains(&format!(
                "api.browserbase.test:443 through the system proxy 127.0.0.1:{port}"
            )),
            "{mode}: {}",
            r.line
        );
    }
}

#[test]
fn environment_values_tune_retries_and_timeouts() {
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, scratch) = build_test_fork("env_tuning");
    let path = scratch.join("out.zip");
    let base = server.base_url();
    let fail3 = [
        "status 503 | retry-after-ms: 10",
        "status 503 | retry-after-ms: 10",
        "status 503 | retry-after-ms: 10",
        "status 503 | retry-after-ms: 10",
    ];

    for mode in ["default", "env-client"] {
        // Retries: unset is the SDKs' 2; each value is obeyed.
        for (retries, requests) in [(None, 3), (Some("0"), 1), (Some("1"), 2), (Some(" 3 "), 4)] {
            server.clear_requests();
            server.script(DEMO, &fail3);
            let env: Vec<(&str, &str)> = retries
                .map(|r| vec![("BROWSERBASE_MAX_RETRIES", r)])
                .unwrap_or_default();
            let r = env_download(&binary, mode, &base, &env, &path);
            assert!(
                r.line.starts_with("BB_ERR_SERVER 503 "),
                "{mode} {retries:?}: {}",
                r.line
            );
            if requests > 1 {
                assert!(
                    r.line
                        .contains(&format!("failed after {requests} attempts")),
                    "{}",
                    r.line
                );
            }
            assert_eq!(server.request_count(), requests, "{mode} {retries:?}");
            server.script(DEMO, &[]);
        }

        // An empty value counts as unset.
        let r = env_download(
            &binary,
            mode,
            &base,
            &[("BROWSERBASE_MAX_RETRIES", ""), ("BROWSERBASE_FSYNC", "1")],
            &path,
        );
        assert!(r.success && r.line.starts_with("BB_OK "), "{}", r.line);

        // The longest silence.
        server.script(DEMO, &["stall-headers 60000"]);
        let r = env_download(
            &binary,
            mode,
            &base,
            &[
                ("BROWSERBASE_TIMEOUT_MS", "200"),
                ("BROWSERBASE_MAX_RETRIES", "0"),
            ],
            &path,
        );
        assert!(r.line.starts_with("BB_ERR_TIMEOUT 0 "), "{}", r.line);
        // Bounded generously: only a hang (60 s) must fail it.
        assert!(r.took < Duration::from_secs(15), "{:?}", r.took);

        // The whole-call deadline, shorter than the timeout.
        server.script(DEMO, &["stall-body 100 60000"]);
        let r = env_download(
            &binary,
            mode,
            &base,
            &[
                ("BROWSERBASE_TIMEOUT_MS", "30000"),
                ("BROWSERBASE_DEADLINE_MS", "400"),
            ],
            &path,
        );
        assert!(r.line.starts_with("BB_ERR_TIMEOUT 0 "), "{}", r.line);
        // Bounded generously: only a hang (60 s) must fail it.
        assert!(r.took < Duration::from_secs(15), "{:?}", r.took);

        // The largest archive accepted (the demo archive is larger), not
        // retried; 0 is no limit.
        server.clear_requests();
        let r = env_download(
            &binary,
            mode,
            &base,
            &[("BROWSERBASE_MAX_ARCHIVE_BYTES", "100")],
            &path,
        );
        assert!(r.line.starts_with("BB_ERR_HTTP 0 "), "{}", r.line);
        assert!(
            r.line.contains("larger than the limit of 100 bytes"),
            "{}",
            r.line
        );
        assert_eq!(server.request_count(), 1, "{mode}: retried");
        let r = env_download(
            &binary,
            mode,
            &base,
            &[("BROWSERBASE_MAX_ARCHIVE_BYTES", "0")],
            &path,
        );
        assert!(r.success && r.line.starts_with("BB_OK "), "{}", r.line);

        // The connect timeout, against a port whose accept queue is full.
        let hole = support::Unanswering::new();
        let r = env_download(
            &binary,
            mode,
            &format!("http://127.0.0.1:{}", hole.port()),
            &[
                ("BROWSERBASE_CONNECT_TIMEOUT_MS", "200"),
                ("BROWSERBASE_MAX_RETRIES", "0"),
            ],
            &path,
        );
        assert!(r.line.starts_with("BB_ERR_TIMEOUT 0 "), "{}", r.line);
        // Bounded generously: only a hang (60 s) must fail it.
        assert!(r.took < Duration::from_secs(15), "{:?}", r.took);
    }
}

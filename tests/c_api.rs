//! The C ABI as C and C++ programs see it: builds `tests/c/test_api.c`,
//! `tests/c/test_cpp_header.cpp` and `examples/download.c` with the system
//! compilers against the freshly built shared and static libraries, and runs
//! them against a `bb-stand-in-server --demo` of their own.
//!
//! Needs `cc` and `c++` (or `$CC` / `$CXX`). Build products go to
//! `target/<profile>/c-tests/<test name>/`; on failure the panic message holds
//! the program's whole output. See tests/c/README to run the programs by hand.
//! The build and run helpers are in tests/support/cbuild.rs, shared with the
//! other tests that need the real libraries.

mod support;

use std::ffi::{OsStr, OsString};
use std::path::Path;

use support::cbuild::{
    assert_all_checks_passed, build_test_api, compile, out_dir, program, run, test_api_command,
    Link, CFLAGS, CXXFLAGS,
};
use support::{zip_entry_names, StandInServer};

/// Fewest checks a full run of `test_api.c` makes (it makes more): guards
/// against a program that "passes" by running nothing.
const MIN_FULL_CHECKS: usize = 120;
const MIN_INVALID_CHECKS: usize = 50;

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn c_api_test_program_passes() {
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, scratch) = build_test_api("test_api_shared");
    let run = run(&mut test_api_command(&binary, &server, &scratch));
    assert_all_checks_passed(&run, MIN_FULL_CHECKS);

    // What reached the server, as the C program cannot see it.
    let requests = server.requests();
    assert!(!requests.is_empty(), "the server saw no request");
    let agent_prefix = format!("browserbase-c/{}", env!("CARGO_PKG_VERSION"));
    for r in &requests {
        let context = || format!("{r:?}\n{}", run.describe());
        assert_eq!(r.method, "GET", "{}", context());
        assert!(
            r.header("user-agent")
                .is_some_and(|ua| ua.starts_with(&agent_prefix)),
            "User-Agent should start with {agent_prefix}: {}",
            context()
        );
        assert_eq!(r.header("accept"), Some("application/zip"), "{}", context());
        assert!(
            matches!(r.header("x-bb-api-key"), Some(StandInServer::KEY | "wrong")),
            "every request carries the key it was given: {}",
            context()
        );
        assert!(
            r.headers
                .iter()
                .all(|(n, v)| !n.to_ascii_lowercase().contains("evil") && !v.contains("Evil")),
            "an injected header reached the server: {}",
            context()
        );
    }
    assert!(
        requests.iter().any(|r| r
            .header("user-agent")
            .is_some_and(|ua| ua == format!("{agent_prefix} c-test/1"))),
        "no request carried the client's User-Agent suffix c-test/1"
    );
    let encoded = "/v1/sessions/a%2Fb%3Fc%23d%20%25/downloads";
    assert!(
        requests.iter().any(|r| r.target == encoded),
        "the session id \"a/b?c#d %\" should arrive as {encoded}; targets: {:?}",
        requests.iter().map(|r| &r.target).collect::<Vec<_>>()
    );
}

#[test]
fn c_api_test_program_passes_statically_linked() {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("test_api_static");
    let binary = dir.join("test_api");
    compile(false, CFLAGS, "tests/c/test_api.c", &binary, Link::Static);
    // Linked in, not loaded: the program must not ask for the shared library
    // (it has no rpath to find it anyway).
    let image = std::fs::read(&binary).expect("read the static test program");
    assert!(
        !image
            .windows(b"libbrowserbase.so".len())
            .any(|w| w == b"libbrowserbase.so"),
        "{} refers to libbrowserbase.so",
        binary.display()
    );
    let run = run(&mut test_api_command(
        &binary,
        &server,
        &dir.join("scratch"),
    ));
    assert_all_checks_passed(&run, MIN_FULL_CHECKS);
}

#[test]
fn bad_arguments_send_no_request() {
    let server = StandInServer::start_with(&["--demo"]);
    let (binary, scratch) = build_test_api("test_api_invalid");
    let mut command = test_api_command(&binary, &server, &scratch);
    command.env("BB_TEST_ONLY", "invalid");
    let run = run(&mut command);
    assert_all_checks_passed(&run, MIN_INVALID_CHECKS);
    let requests = server.requests();
    assert!(
        requests.is_empty(),
        "bad arguments reached the server: {requests:#?}\n{}",
        run.describe()
    );
    assert_eq!(server.request_count(), 0);
    // And no file, finished or not, was left in the scratch directory.
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .expect("read the scratch directory")
        .map(|e| e.expect("directory entry").file_name())
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn cpp_header_links_and_runs() {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("cpp_header");
    let binary = dir.join("test_cpp_header");
    compile(
        true,
        CXXFLAGS,
        "tests/c/test_cpp_header.cpp",
        &binary,
        Link::Shared,
    );
    let mut command = program(&binary);
    command.env("BB_TEST_BASE_URL", server.base_url());
    let run = run(&mut command);
    assert_all_checks_passed(&run, 13);
    assert!(server.request_count() >= 2, "{}", run.describe());
}

#[test]
fn download_example_saves_the_demo_archive() {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("download_example");
    let binary = dir.join("download");
    compile(false, CFLAGS, "examples/download.c", &binary, Link::Shared);
    let scratch = dir.join("scratch");
    let example = |args: &[&OsStr], key: Option<&str>| {
        let mut command = program(&binary);
        command
            .args(args)
            .env("BROWSERBASE_BASE_URL", server.base_url());
        if let Some(key) = key {
            command.env("BROWSERBASE_API_KEY", key);
        }
        run(&mut command)
    };
    let key = Some(StandInServer::KEY);

    // Success: one line naming the size and the path; the file is the archive.
    let out = scratch.join("downloads.zip");
    let ok = example(
        &[StandInServer::DEMO_SESSION.as_ref(), out.as_os_str()],
        key,
    );
    let saved = std::fs::read(&out).unwrap_or_default();
    assert!(
        ok.status.success()
            && ok.stdout == format!("saved {} bytes to {}\n", saved.len(), out.display())
            && ok.stderr.is_empty(),
        "{}",
        ok.describe()
    );
    assert!(saved.starts_with(b"PK\x03\x04"), "{}", ok.describe());
    assert_eq!(
        saved,
        server.download(StandInServer::DEMO_SESSION, key).body,
        "the file is not the archive the server serves"
    );
    assert_eq!(zip_entry_names(&saved).len(), 2);

    // The empty session: the 22-byte archive.
    let empty = scratch.join("empty.zip");
    let run = example(
        &[
            StandInServer::DEMO_EMPTY_SESSION.as_ref(),
            empty.as_os_str(),
        ],
        key,
    );
    assert!(
        run.status.success() && run.stdout == format!("saved 22 bytes to {}\n", empty.display()),
        "{}",
        run.describe()
    );

    // An unknown session: exit 1, the code and status on stderr, no file.
    let missing = scratch.join("missing.zip");
    let run = example(&["no-such-session".as_ref(), missing.as_os_str()], key);
    assert!(
        run.status.code() == Some(1)
            && run.stdout.is_empty()
            && run
                .stderr
                .starts_with("download: BB_ERR_NOT_FOUND (HTTP 404): ")
            && run.stderr.contains("Session not found")
            && run.stderr.ends_with('\n')
            && run.stderr.lines().count() == 1,
        "{}",
        run.describe()
    );
    assert!(
        !missing.exists(),
        "a failed download left {}",
        missing.display()
    );

    // A refused key: exit 1, and the key does not appear anywhere.
    let wrong_key = "bb_live_not_the_right_key";
    let run = example(
        &[StandInServer::DEMO_SESSION.as_ref(), missing.as_os_str()],
        Some(wrong_key),
    );
    assert!(
        run.status.code() == Some(1)
            && run
                .stderr
                .starts_with("download: BB_ERR_AUTHENTICATION (HTTP 401): ")
            && !run.stderr.contains(wrong_key),
        "{}",
        run.describe()
    );

    // No key at all: exit 1, and the message says which variable to set.
    let run = example(
        &[StandInServer::DEMO_SESSION.as_ref(), missing.as_os_str()],
        None,
    );
    assert!(
        run.status.code() == Some(1)
            && run
                .stderr
                .starts_with("download: BB_ERR_INVALID_ARGUMENT: ")
            && run.stderr.contains("BROWSERBASE_API_KEY"),
        "{}",
        run.describe()
    );

    // A directory that does not exist: exit 1 with the OS's reason.
    let nowhere = scratch.join("no-such-dir").join("x.zip");
    let run = example(
        &[StandInServer::DEMO_SESSION.as_ref(), nowhere.as_os_str()],
        key,
    );
    assert!(
        run.status.code() == Some(1)
            && run.stderr.starts_with("download: BB_ERR_IO: ")
            && run.stderr.contains("No such file or directory"),
        "{}",
        run.describe()
    );

    // Usage errors: exit 2 with a usage message, nothing sent.
    let before = server.request_count();
    for args in [
        &[][..],
        &["only-one".as_ref()][..],
        &["a".as_ref(), "b".as_ref(), "c".as_ref()][..],
    ] {
        let run = example(args, key);
        assert!(
            run.status.code() == Some(2)
                && run.stderr.starts_with("usage: download SESSION_ID OUT.zip")
                && run.stdout.is_empty(),
            "{}",
            run.describe()
        );
    }
    assert_eq!(
        server.request_count(),
        before,
        "a usage error sent a request"
    );
}

/// The C sources users copy, and the tests, compile without a warning under
/// -Wpedantic as C99 and C11 (and the C++ check as C++11 to C++20).
#[test]
fn c_sources_compile_with_pedantic_warnings() {
    let out = Path::new("/dev/null");
    for source in ["examples/download.c", "tests/c/test_api.c"] {
        for std in ["-std=c99", "-std=c11"] {
            let flags = [std, "-Wall", "-Wextra", "-Werror", "-Wpedantic"];
            compile(false, &flags, source, out, Link::None);
        }
    }
    for std in ["-std=c++11", "-std=c++17", "-std=c++20"] {
        let flags = [std, "-Wall", "-Wextra", "-Werror", "-Wpedantic"];
        compile(true, &flags, "tests/c/test_cpp_header.cpp", out, Link::None);
    }
    // The header on its own, as the first include of a C file.
    let dir = out_dir("header_alone");
    let source = dir.join("header_alone.c");
    std::fs::write(
        &source,
        "#include \"browserbase.h\"\nint main(void) { return 0; }\n",
    )
    .expect("write header_alone.c");
    let source: OsString = source.into_os_string();
    compile(
        false,
        CFLAGS,
        source.to_str().expect("UTF-8 target path"),
        out,
        Link::None,
    );
}

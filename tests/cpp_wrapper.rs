//! The C++17 wrapper `include/browserbase.hpp`: compiles `tests/cpp/test_wrapper.cpp`
//! with `-std=c++17 -Wall -Wextra -Werror -Wpedantic` against the header and the
//! freshly built shared library, and runs it against a `bb-stand-in-server --demo`
//! of its own (downloads to a file, bytes and a function; exceptions carrying code
//! and status; archives; moves; an exception thrown in the write function; the
//! progress function and the log handler).
//!
//! Needs `c++` (or `$CXX`). Build products go to `target/<profile>/c-tests/<test>/`;
//! on failure the panic message holds the program's whole output. Uses the C
//! harness in tests/support/cbuild.rs.

mod support;

use support::cbuild::{assert_all_checks_passed, compile, out_dir, program, run, Link};
use support::StandInServer;

/// The flags the wrapper promises to compile cleanly with.
const CXX17FLAGS: &[&str] = &["-std=c++17", "-Wall", "-Wextra", "-Werror", "-Wpedantic"];

/// Stricter warnings, for the header alone (syntax only): a user's own flags
/// must not make it fail.
const STRICT_FLAGS: &[&str] = &[
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wpedantic",
    "-Wshadow",
    "-Wconversion",
    "-Wsign-conversion",
    "-Wold-style-cast",
    "-Wnon-virtual-dtor",
    "-Wcast-qual",
    "-Wzero-as-null-pointer-constant",
    "-Wextra-semi",
];

/// Fewest checks a full run makes (it makes more): guards against a program
/// that "passes" by running nothing.
const MIN_CHECKS: usize = 85;

const SYNC_SESSION: &str = "cpp-sync";
const CONFLICT_SESSION: &str = "cpp-conflict";
const RESET_SESSION: &str = "cpp-reset";
const STALL_SESSION: &str = "cpp-stall";
const CANCEL_SESSION: &str = "cpp-cancel";
const HANG_SESSION: &str = "cpp-hang";
const HANG_SESSION2: &str = "cpp-hang-2";

#[test]
fn cpp_wrapper_test_program_passes() {
    let server = StandInServer::start_with(&["--demo"]);
    for session in [
        SYNC_SESSION,
        CONFLICT_SESSION,
        RESET_SESSION,
        STALL_SESSION,
        CANCEL_SESSION,
    ] {
        server.add_file(session, "report.pdf", b"%PDF-1.4 cpp wrapper test");
    }
    // Incompressible and big enough that the archive's first 20,000 bytes
    // come before the 60 s stall.
    let mut x: u32 = 2_463_534_242;
    let filler: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    for session in [HANG_SESSION, HANG_SESSION2] {
        server.add_file(session, "big.bin", &filler);
        server.script(session, &["stall-body 20000 60000"]);
    }
    server.ready_after_ms(SYNC_SESSION, 300);
    server.script(CONFLICT_SESSION, &["status 409"]);
    server.script(RESET_SESSION, &["reset"]);
    server.script(STALL_SESSION, &["stall-headers 3000"]);

    let dir = out_dir("cpp_wrapper");
    let binary = dir.join("test_wrapper");
    compile(
        true,
        CXX17FLAGS,
        "tests/cpp/test_wrapper.cpp",
        &binary,
        Link::Shared,
    );
    let mut command = program(&binary);
    command
        .env("BROWSERBASE_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY)
        .env("BB_TEST_DIR", dir.join("scratch"))
        .env("BB_TEST_SYNC_SESSION", SYNC_SESSION)
        .env("BB_TEST_CONFLICT_SESSION", CONFLICT_SESSION)
        .env("BB_TEST_RESET_SESSION", RESET_SESSION)
        .env("BB_TEST_STALL_SESSION", STALL_SESSION)
        .env("BB_TEST_CANCEL_SESSION", CANCEL_SESSION)
        .env("BB_TEST_HANG_SESSION", HANG_SESSION)
        .env("BB_TEST_HANG_SESSION2", HANG_SESSION2);
    let run = run(&mut command);
    assert_all_checks_passed(&run, MIN_CHECKS);

    // What reached the server, as the program cannot see it.
    let requests = server.requests();
    let to = |session: &str| {
        let target = format!("/v1/sessions/{session}/downloads");
        requests
            .iter()
            .filter(|r| r.target == target)
            .collect::<Vec<_>>()
    };
    let cancelled = to(CANCEL_SESSION);
    assert_eq!(
        cancelled.len(),
        1,
        "the download whose write function threw was retried: {cancelled:#?}\n{}",
        run.describe()
    );
    // The calls cancelled before they started sent nothing: one request
    // each, the stalled downloads'.
    assert_eq!(to(HANG_SESSION).len(), 1, "{}", run.describe());
    assert_eq!(to(HANG_SESSION2).len(), 1, "{}", run.describe());
    assert_eq!(
        to(CONFLICT_SESSION).len(),
        1,
        "max_retries = 0 was not applied\n{}",
        run.describe()
    );
    assert!(
        to(SYNC_SESSION).len() >= 3,
        "waiting for a syncing session with BB_WAIT_STABLE polled only {} times\n{}",
        to(SYNC_SESSION).len(),
        run.describe()
    );
    let agent = format!(
        "browserbase-c/{} cpp-wrapper-test/1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        requests
            .iter()
            .any(|r| r.header("user-agent") == Some(agent.as_str())),
        "no request carried the User-Agent {agent:?} set through ClientOptions\n{}",
        run.describe()
    );
}

#[test]
fn cpp_wrapper_header_compiles_alone_with_strict_warnings() {
    let dir = out_dir("cpp_wrapper_strict");
    let source = dir.join("include_only.cpp");
    std::fs::write(
        &source,
        "#include \"browserbase.hpp\"\n#include \"browserbase.hpp\"\nint main() { return 0; }\n",
    )
    .expect("write the include-only source");
    for std in ["-std=c++17", "-std=c++20"] {
        let mut flags = vec![std];
        flags.extend_from_slice(STRICT_FLAGS);
        // `compile` takes the source relative to the crate root; an absolute
        // path joins to itself.
        compile(
            true,
            &flags,
            source.to_str().expect("UTF-8 path"),
            &dir.join("unused"),
            Link::None,
        );
    }
}

#[test]
fn cpp_wrapper_refuses_cxx14() {
    let dir = out_dir("cpp_wrapper_cxx14");
    let source = dir.join("cxx14.cpp");
    std::fs::write(
        &source,
        "#include \"browserbase.hpp\"\nint main() { return 0; }\n",
    )
    .expect("write the source");
    let include = support::cbuild::manifest_dir().join("include");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let mut words = cxx.split_whitespace();
    let mut command = std::process::Command::new(words.next().unwrap_or("c++"));
    command
        .args(words)
        .args(["-std=c++14", "-fsyntax-only", "-I"])
        .arg(&include)
        .arg(&source);
    let run = run(&mut command);
    assert!(
        !run.status.success() && run.stderr.contains("browserbase.hpp needs C++17"),
        "a C++14 build should stop with a clear #error\n{}",
        run.describe()
    );
}

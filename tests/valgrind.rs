//! The C tests under valgrind memcheck: `tests/c/test_api.c` (every function
//! of the C API), `tests/c/test_dlopen.c`, `tests/c/test_fork.c` and
//! `tests/c/test_abi.c` (extensible structs written to their exact size,
//! buffers freed with a wrong or zero len), each
//! against a stand-in server of its own, through
//! `scripts/valgrind-c-tests.sh` (flags, and why there are no suppressions:
//! see that script). Zero memory errors and
//! nothing definitely lost, or the test fails with valgrind's report.
//!
//! Without valgrind on PATH the test prints a loud notice and passes, except
//! under CI (`CI` set), where valgrind is required.

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::cbuild::{
    compile, compile_with, libs, manifest_dir, out_dir, program, run_with_timeout, Link, CFLAGS,
};
use support::StandInServer;

/// Valgrind runs programs 20-50 times slower; the four run in parallel and
/// take well under a minute on two cores.
const VALGRIND_TIMEOUT: Duration = Duration::from_secs(600);

fn notice(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn have_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn c_tests_under_valgrind_memcheck() {
    if !have_valgrind() {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "valgrind is required in CI (apt-get install valgrind): the C tests must run under memcheck"
        );
        notice(
            "\n!!! NOTICE: valgrind is not installed: the C tests did NOT run under memcheck.\n\
             !!! Install it (apt-get install valgrind) to run tests/valgrind.rs.\n",
        );
        return;
    }
    let dir = out_dir("valgrind");
    let test_api = dir.join("test_api");
    compile(false, CFLAGS, "tests/c/test_api.c", &test_api, Link::Shared);
    let test_fork = dir.join("test_fork");
    compile(
        false,
        CFLAGS,
        "tests/c/test_fork.c",
        &test_fork,
        Link::Shared,
    );
    let test_dlopen = dir.join("test_dlopen");
    compile_with(
        false,
        CFLAGS,
        "tests/c/test_dlopen.c",
        &test_dlopen,
        Link::Without,
        &["-ldl"],
    );
    let test_abi = dir.join("test_abi");
    compile(false, CFLAGS, "tests/c/test_abi.c", &test_abi, Link::Shared);
    let script = manifest_dir().join("scripts/valgrind-c-tests.sh");

    // One server and one scratch directory per program: test_api scripts
    // faults on its server, and counts requests.
    let runs: Vec<_> = [test_api, test_fork, test_dlopen, test_abi]
        .into_iter()
        .map(|binary: PathBuf| {
            let script = script.clone();
            let scratch = dir.join(format!(
                "scratch-{}",
                binary.file_name().unwrap().to_string_lossy()
            ));
            std::thread::spawn(move || {
                std::fs::create_dir_all(&scratch).unwrap();
                let server = StandInServer::start_with(&["--demo"]);
                let mut command = program(&script);
                command
                    .arg(&binary)
                    .env("BB_TEST_BASE_URL", server.base_url())
                    .env("BB_TEST_DIR", &scratch)
                    .env("BB_TEST_LIBRARY", libs().shared_by_soname())
                    .env("BB_TEST_FORKS", "3")
                    .env("BROWSERBASE_API_KEY", StandInServer::KEY);
                let run = run_with_timeout(&mut command, VALGRIND_TIMEOUT);
                drop(server);
                run
            })
        })
        .collect();
    let mut failures = Vec::new();
    for handle in runs {
        let run = handle.join().expect("a valgrind runner panicked");
        // The script's own summary line, e.g. "valgrind: test_api ok (14.2 s)".
        for line in run.stdout.lines().filter(|l| l.starts_with("valgrind: ")) {
            notice(line);
        }
        if !run.status.success() || run.timed_out {
            failures.push(run.describe());
        }
    }
    assert!(
        failures.is_empty(),
        "under valgrind:\n{}",
        failures.join("\n")
    );
}

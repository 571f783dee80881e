//! The C ABI as C and C++ programs see it: builds `tests/c/test_api.c`,
//! `tests/c/test_cpp_header.cpp` and `examples/download.c` with the system
//! compilers against the freshly built shared and static libraries, and runs
//! them against a `bb-stand-in-server --demo` of their own.
//!
//! Needs `cc` and `c++` (or `$CC` / `$CXX`). Build products go to
//! `target/<profile>/c-tests/<test name>/`; on failure the panic message holds
//! the program's whole output. See tests/c/README to run the programs by hand.

mod support;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::{zip_entry_names, StandInServer};

/// Warnings for every C file; the programs must compile cleanly with them.
const CFLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wpedantic"];
const CXXFLAGS: &[&str] = &["-std=c++11", "-Wall", "-Wextra", "-Werror", "-Wpedantic"];

/// What a program linked against `libbrowserbase.a` needs besides it: the
/// Linux/glibc list printed by
/// `cargo rustc --lib --crate-type staticlib -- --print native-static-libs`
/// (stable across Rust releases; checked with rustc 1.95).
const NATIVE_STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// The longest a C program may run before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Fewest checks a full run of `test_api.c` makes (it makes more): guards
/// against a program that "passes" by running nothing.
const MIN_FULL_CHECKS: usize = 120;
const MIN_INVALID_CHECKS: usize = 50;

// ---------------------------------------------------------------------------
// The libraries
// ---------------------------------------------------------------------------

struct Libs {
    /// `target/<profile>`: holds `libbrowserbase.so` and `libbrowserbase.a`.
    profile_dir: PathBuf,
    /// `target/<profile>/c-tests/lib`: `libbrowserbase.so` under the names a
    /// linker and a loader look for (the shared library's soname is
    /// `libbrowserbase.so.<major>`, a name cargo does not create).
    link_dir: PathBuf,
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/debug` (or `target/release`, `target/<triple>/debug`...): where
/// this test's executable lives, `target/debug/deps/c_api-HASH`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test executable path {}", exe.display()))
        .to_path_buf()
}

/// Builds the shared and static libraries, once per test process: `cargo
/// test` builds only the rlib the tests link, so without this a C test could
/// run against a stale `libbrowserbase.so`.
fn libs() -> &'static Libs {
    static LIBS: OnceLock<Libs> = OnceLock::new();
    LIBS.get_or_init(|| {
        let profile_dir = profile_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(manifest_dir()).args(["build", "--lib"]);
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        // Build into the directory this test runs from, whatever the flags of
        // the `cargo test` that started it: `target/` (marked by
        // CACHEDIR.TAG), or `target/<triple>/` under `--target <triple>`.
        let above = profile_dir.parent().expect("profile dir has a parent");
        if above.join("CACHEDIR.TAG").exists() {
            command.arg("--target-dir").arg(above);
        } else if let (Some(target_dir), Some(triple)) = (above.parent(), above.file_name()) {
            command
                .arg("--target-dir")
                .arg(target_dir)
                .arg("--target")
                .arg(triple);
        }
        let run = run(&mut command);
        assert!(
            run.status.success(),
            "building the C libraries failed\n{}",
            run.describe()
        );
        for name in ["libbrowserbase.so", "libbrowserbase.a"] {
            assert!(
                profile_dir.join(name).is_file(),
                "{name} is not in {} after `cargo build --lib`\n{}",
                profile_dir.display(),
                run.describe()
            );
        }

        let link_dir = profile_dir.join("c-tests").join("lib");
        std::fs::create_dir_all(&link_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", link_dir.display()));
        let shared = profile_dir.join("libbrowserbase.so");
        let soname = format!("libbrowserbase.so.{}", env!("CARGO_PKG_VERSION_MAJOR"));
        for name in ["libbrowserbase.so", soname.as_str()] {
            symlink_to(&shared, &link_dir.join(name));
        }
        Libs {
            profile_dir,
            link_dir,
        }
    })
}

/// Makes `link` a symbolic link to `target` (replacing whatever was there).
fn symlink_to(target: &Path, link: &Path) {
    let _ = std::fs::remove_file(link);
    if let Err(e) = std::os::unix::fs::symlink(target, link) {
        // Another test process may have just made the same link.
        assert!(
            std::fs::read_link(link).ok().as_deref() == Some(target),
            "cannot link {} to {}: {e}",
            link.display(),
            target.display()
        );
    }
}

// ---------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------

/// A fresh, empty `target/<profile>/c-tests/<name>/` with a `scratch/` inside.
fn out_dir(name: &str) -> PathBuf {
    let dir = profile_dir().join("c-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("scratch"))
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// `$CC` or `$CXX` split into the program and its own arguments ("ccache cc").
fn compiler(var: &str, default: &str) -> Command {
    let value = std::env::var(var).unwrap_or_default();
    let mut words = value.split_whitespace();
    let mut command = Command::new(words.next().unwrap_or(default));
    command.args(words);
    command
}

#[derive(Clone, Copy)]
enum Link {
    /// No linking (`-fsyntax-only`).
    None,
    /// Against `libbrowserbase.so`, found at run time through an rpath.
    Shared,
    /// Against `libbrowserbase.a` and the native libraries it needs.
    Static,
}

/// Compiles `source` (relative to the crate root) into `out`; panics with
/// the compiler's output on any error or warning.
fn compile(cxx: bool, flags: &[&str], source: &str, out: &Path, link: Link) {
    let mut command = if cxx {
        compiler("CXX", "c++")
    } else {
        compiler("CC", "cc")
    };
    command
        .current_dir(manifest_dir())
        .args(flags)
        .arg("-I")
        .arg(manifest_dir().join("include"))
        .arg(manifest_dir().join(source));
    match link {
        Link::None => {
            command.arg("-fsyntax-only");
        }
        Link::Shared => {
            let dir = &libs().link_dir;
            command
                .arg("-o")
                .arg(out)
                .arg(format!("-L{}", dir.display()))
                .arg("-lbrowserbase")
                // DT_RPATH, not DT_RUNPATH: it wins over LD_LIBRARY_PATH (which
                // `cargo test` sets), so this build is the one that gets loaded.
                .arg("-Wl,--disable-new-dtags")
                .arg(format!("-Wl,-rpath,{}", dir.display()))
                .arg("-lpthread");
        }
        Link::Static => {
            command
                .arg("-o")
                .arg(out)
                .arg(libs().profile_dir.join("libbrowserbase.a"))
                .args(NATIVE_STATIC_LIBS);
        }
    }
    let run = run(&mut command);
    assert!(
        run.status.success() && run.stderr.trim().is_empty(),
        "compiling {source} failed or warned\n{}",
        run.describe()
    );
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

struct Run {
    command: String,
    status: ExitStatus,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Everything about the run, for a panic message.
    fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {}{}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.command,
            self.status,
            if self.timed_out {
                format!(" (killed after {} s)", RUN_TIMEOUT.as_secs())
            } else {
                String::new()
            },
            self.stdout,
            self.stderr
        )
    }
}

/// Runs a command to completion (killing it after [`RUN_TIMEOUT`]),
/// collecting its output.
fn run(command: &mut Command) -> Run {
    let description = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = collect(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait for a killed child");
            }
            Err(e) => panic!("waiting for {description}: {e}"),
        }
    };
    Run {
        command: description,
        status,
        timed_out,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A command for a built program with a clean environment for the library:
/// no inherited `BROWSERBASE_*` or `BB_TEST_*` variable.
fn program(path: &Path) -> Command {
    let mut command = Command::new(path);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("BROWSERBASE_") || text.starts_with("BB_TEST_") {
            command.env_remove(&name);
        }
    }
    command
}

/// `test_api`'s environment: the server, a scratch directory, the key.
fn test_api_command(binary: &Path, server: &StandInServer, scratch: &Path) -> Command {
    let mut command = program(binary);
    command
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BB_TEST_DIR", scratch)
        .env("BROWSERBASE_API_KEY", StandInServer::KEY);
    command
}

/// Checks a TAP-style run: exit 0, no "not ok" line, the final line
/// "N passed, 0 failed" with N matching the "ok" lines and at least `min`.
/// Returns N.
fn assert_all_checks_passed(run: &Run, min: usize) -> usize {
    let lines: Vec<&str> = run.stdout.lines().collect();
    let failed: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("not ok"))
        .collect();
    assert!(
        run.status.success() && !run.timed_out && failed.is_empty(),
        "{} check(s) failed:\n{}\n{}",
        failed.len(),
        failed.join("\n"),
        run.describe()
    );
    let ok_lines = lines.iter().filter(|l| l.starts_with("ok ")).count();
    let summary = lines.last().copied().unwrap_or("");
    let passed = summary
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse::<usize>().ok());
    assert_eq!(
        passed,
        Some(ok_lines),
        "the last line should be \"{ok_lines} passed, 0 failed\", not {summary:?}\n{}",
        run.describe()
    );
    assert!(
        ok_lines >= min,
        "only {ok_lines} checks ran, expected at least {min}\n{}",
        run.describe()
    );
    ok_lines
}

/// `test_api.c`, linked against the shared library, in `out_dir(name)`.
fn build_test_api(name: &str) -> (PathBuf, PathBuf) {
    let dir = out_dir(name);
    let binary = dir.join("test_api");
    compile(false, CFLAGS, "tests/c/test_api.c", &binary, Link::Shared);
    (binary, dir.join("scratch"))
}

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

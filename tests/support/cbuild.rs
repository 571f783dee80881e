//! Building and running C programs against the freshly built library, for the
//! tests that need the real `libbrowserbase.so` / `libbrowserbase.a`
//! (tests/c_api.rs, tests/process.rs, tests/load.rs, tests/valgrind.rs).
//!
//! [`libs`] runs `$CARGO build --lib` once per test process (`cargo test`
//! builds only the rlib the tests link, so without it a C program could run
//! against a stale shared library) and makes a folder where the shared
//! library also answers to its soname `libbrowserbase.so.<major>`.
//! [`compile`] builds a C or C++ source with the system compiler (`$CC` /
//! `$CXX`, default `cc` / `c++`) and fails on any warning; [`run`] runs a
//! program with a time limit and collects its output.
//!
//! Build products go to `target/<profile>/c-tests/<name>/` ([`out_dir`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::StandInServer;

/// Warnings for every C file; the programs must compile cleanly with them.
pub const CFLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-Wpedantic"];
pub const CXXFLAGS: &[&str] = &["-std=c++11", "-Wall", "-Wextra", "-Werror", "-Wpedantic"];

/// What a program linked against `libbrowserbase.a` needs besides it: the
/// Linux/glibc list printed by
/// `cargo rustc --lib --crate-type staticlib -- --print native-static-libs`
/// (stable across Rust releases; checked with rustc 1.95).
pub const NATIVE_STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// The longest a program may run (under [`run`]) before it counts as hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// The libraries
// ---------------------------------------------------------------------------

pub struct Libs {
    /// `target/<profile>`: holds `libbrowserbase.so` and `libbrowserbase.a`.
    pub profile_dir: PathBuf,
    /// `target/<profile>/c-tests/lib`: `libbrowserbase.so` under the names a
    /// linker and a loader look for (the shared library's soname is
    /// `libbrowserbase.so.<major>`, a name cargo does not create).
    pub link_dir: PathBuf,
}

impl Libs {
    /// The shared library under its soname, as a program loads it.
    pub fn shared_by_soname(&self) -> PathBuf {
        self.link_dir.join(soname())
    }
}

/// `libbrowserbase.so.<major>`.
pub fn soname() -> String {
    format!("libbrowserbase.so.{}", env!("CARGO_PKG_VERSION_MAJOR"))
}

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/debug` (or `target/release`, `target/<triple>/debug`...): where
/// this test's executable lives, `target/debug/deps/<test>-HASH`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test executable path {}", exe.display()))
        .to_path_buf()
}

/// Builds the shared and static libraries, once per test process: `cargo
/// test` builds only the rlib the tests link, so without this a C test could
/// run against a stale `libbrowserbase.so`.
pub fn libs() -> &'static Libs {
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
        for name in ["libbrowserbase.so".to_owned(), soname()] {
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
pub fn out_dir(name: &str) -> PathBuf {
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// No linking (`-fsyntax-only`).
    None,
    /// Against `libbrowserbase.so`, found at run time through an rpath.
    Shared,
    /// Against `libbrowserbase.a` and the native libraries it needs.
    Static,
    /// An executable that does not link the library (it may `dlopen` it).
    Without,
}

/// Compiles `source` (relative to the crate root) into `out`; panics with
/// the compiler's output on any error or warning.
pub fn compile(cxx: bool, flags: &[&str], source: &str, out: &Path, link: Link) {
    compile_with(cxx, flags, source, out, link, &[]);
}

/// [`compile`] with extra arguments after the sources (libraries: `-ldl`).
pub fn compile_with(
    cxx: bool,
    flags: &[&str],
    source: &str,
    out: &Path,
    link: Link,
    extra: &[&str],
) {
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
        Link::Without => {
            command.arg("-o").arg(out).arg("-lpthread");
        }
    }
    command.args(extra);
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

pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything about the run, for a panic message.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {}{} after {:.2} s\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            self.command,
            self.status,
            if self.timed_out {
                " (killed: it ran too long)"
            } else {
                ""
            },
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs a command to completion (killing it after [`RUN_TIMEOUT`]),
/// collecting its output.
pub fn run(command: &mut Command) -> Run {
    run_with_timeout(command, RUN_TIMEOUT)
}

/// [`run`] with another time limit.
pub fn run_with_timeout(command: &mut Command, limit: Duration) -> Run {
    let description = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
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
    let deadline = started + limit;
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
    let elapsed = started.elapsed();
    Run {
        command: description,
        status,
        timed_out,
        elapsed,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A command for a built program with a clean environment for the library:
/// no inherited `BROWSERBASE_*` or `BB_TEST_*` variable.
pub fn program(path: &Path) -> Command {
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
pub fn test_api_command(binary: &Path, server: &StandInServer, scratch: &Path) -> Command {
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
pub fn assert_all_checks_passed(run: &Run, min: usize) -> usize {
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
/// Returns the program and its scratch directory.
pub fn build_test_api(name: &str) -> (PathBuf, PathBuf) {
    let dir = out_dir(name);
    let binary = dir.join("test_api");
    compile(false, CFLAGS, "tests/c/test_api.c", &binary, Link::Shared);
    (binary, dir.join("scratch"))
}

//! The C example `examples/wait_and_extract.c`, compiled with strict C99
//! warnings against the freshly built library and run against the stand-in
//! server, which serves the empty archive first (`--sync-polls`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::StandInServer;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: this test runs from `target/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable is in target/<profile>/deps")
        .to_owned()
}

/// `cargo test` does not rebuild the cdylib: build it once per process.
fn build_library() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        let mut command = Command::new(cargo);
        command.args(["build", "--lib"]).current_dir(root());
        if profile_dir().file_name().is_some_and(|n| n == "release") {
            command.arg("--release");
        }
        let status = command.status().expect("cannot run cargo");
        assert!(status.success(), "cargo build --lib failed");
    });
}

/// The example, compiled once per process.
fn example() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        build_library();
        let out_dir = profile_dir().join("c-examples-archive");
        std::fs::create_dir_all(&out_dir).unwrap();
        // The library's soname may be versioned (libbrowserbase.so.<major>):
        // links under both names make a private, install-free library dir.
        let lib_dir = out_dir.join("lib");
        std::fs::create_dir_all(&lib_dir).unwrap();
        let built = profile_dir().join("libbrowserbase.so");
        assert!(built.exists(), "{} is missing", built.display());
        let major = env!("CARGO_PKG_VERSION_MAJOR");
        for name in [
            "libbrowserbase.so".to_owned(),
            format!("libbrowserbase.so.{major}"),
        ] {
            let link = lib_dir.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&built, &link).unwrap();
        }
        let exe = out_dir.join("wait_and_extract");
        let out = Command::new("cc")
            .args([
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-O1",
            ])
            .arg("-I")
            .arg(root().join("include"))
            .arg(root().join("examples/wait_and_extract.c"))
            .arg("-o")
            .arg(&exe)
            .arg(format!("-L{}", lib_dir.display()))
            .arg("-lbrowserbase")
            .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
            .output()
            .expect("cannot run cc");
        assert!(
            out.status.success(),
            "the example does not compile cleanly:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    })
}

fn run(server: &StandInServer, args: &[&str]) -> Output {
    Command::new(example())
        .args(args)
        .env("BROWSERBASE_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY)
        .env_remove("BROWSERBASE_DEADLINE_MS")
        .output()
        .expect("cannot run the example")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_example_waits_lists_and_extracts() {
    let server = StandInServer::start_with(&["--demo", "--sync-polls", "3"]);
    let root = tempfile::tempdir().unwrap();
    let out_dir = root.path().join("downloads");
    let out = run(
        &server,
        &[
            StandInServer::DEMO_SESSION,
            out_dir.to_str().unwrap(),
            "20000",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // Three empty answers, then two polls that agree (BB_WAIT_STABLE).
    assert_eq!(server.request_count(), 5, "{stdout}");

    // The listing: original names, sizes, download times, stored names.
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("waiting up to 20.0 s"), "{stdout}");
    assert!(lines[1].starts_with("ready after "), "{stdout}");
    assert_eq!(lines[2], "2 files:", "{stdout}");
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        row("data.csv"),
        "data.csv 134 bytes downloaded 2024-06-24 21:49:57 UTC (stored as data-1719265797171.csv)"
    );
    assert!(
        row("report.pdf").ends_with("(stored as report-1719265797164.pdf)"),
        "{stdout}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &format!("extracted into {}", out_dir.display())
    );

    // The files: what the server holds, under their original names.
    let archive = server.download(StandInServer::DEMO_SESSION, Some(StandInServer::KEY));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive.body)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["data.csv", "report.pdf"]);
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut want = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut want).unwrap();
        let name = if entry.name().unwrap().starts_with("data-") {
            "data.csv"
        } else {
            "report.pdf"
        };
        assert_eq!(std::fs::read(out_dir.join(name)).unwrap(), want, "{name}");
    }
}

#[test]
fn the_example_reports_not_ready_and_not_found_and_writes_nothing() {
    let server = StandInServer::start_with(&["--demo"]);
    let root = tempfile::tempdir().unwrap();
    let out_dir = root.path().join("downloads");

    let out = run(
        &server,
        &[
            StandInServer::DEMO_EMPTY_SESSION,
            out_dir.to_str().unwrap(),
            "600",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[BB_ERR_NOT_READY]"), "{stderr}");
    assert!(
        stderr.contains("the last poll saw an empty archive (0 files)"),
        "{stderr}"
    );

    let out = run(&server, &["no-such-session", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[BB_ERR_NOT_FOUND]"), "{stderr}");

    let out = run(&server, &["only-one-argument"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!out_dir.exists());
}

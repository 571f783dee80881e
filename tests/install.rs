//! Packaging like a C library: `make install-files` with PREFIX/DESTDIR puts
//! the libraries (with soname links), headers and browserbase.pc in place; a
//! program builds with nothing but pkg-config, dynamically and statically;
//! a CMake project finds it through pkg-config; the shared library exports
//! only `bb_` symbols; the header's version macros match Cargo.toml.
//!
//! Needs `make`, `pkg-config` and a C compiler; the CMake test also needs
//! `cmake` (.ci/run installs all of them).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::cbuild::{libs, manifest_dir, out_dir, program, run, Run};
use support::StandInServer;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn check(run: Run) -> Run {
    assert!(run.status.success(), "{}", run.describe());
    run
}

/// Installs the freshly built libraries under `prefix` (optionally staged in
/// `destdir`), as `make install` does after its release build.
fn install(prefix: &Path, destdir: Option<&Path>) {
    let libs = libs();
    let mut make = Command::new("make");
    make.current_dir(manifest_dir())
        .arg("--no-print-directory")
        .arg("install-files")
        .arg(format!("BUILD_DIR={}", libs.profile_dir.display()))
        .arg(format!("PREFIX={}", prefix.display()));
    if let Some(d) = destdir {
        make.arg(format!("DESTDIR={}", d.display()));
    }
    check(run(&mut make));
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let out = check(run(Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .args(args)
        .arg("browserbase")));
    out.stdout.split_whitespace().map(str::to_owned).collect()
}

fn cc(args: &[String]) -> Run {
    check(run(Command::new(
        std::env::var("CC").unwrap_or_else(|_| "cc".into()),
    )
    .current_dir(manifest_dir())
    .args(["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
    .args(args)))
}

fn run_download(exe: &Path, server: &StandInServer, out: &Path, lib_dir: Option<&Path>) {
    let mut command = program(exe);
    command
        .args([StandInServer::DEMO_SESSION, out.to_str().unwrap()])
        .env("BROWSERBASE_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY);
    match lib_dir {
        Some(d) => command.env("LD_LIBRARY_PATH", d),
        None => command.env_remove("LD_LIBRARY_PATH"),
    };
    let result = check(run(&mut command));
    assert!(
        result.stdout.starts_with("saved 4212 bytes"),
        "{}",
        result.describe()
    );
    assert!(std::fs::read(out).unwrap().starts_with(b"PK\x03\x04"));
}

fn fresh_prefix(name: &str) -> (PathBuf, PathBuf) {
    let dir = out_dir(name);
    let prefix = dir.join("prefix");
    install(&prefix, None);
    (dir, prefix)
}

#[test]
fn install_lays_out_libraries_links_headers_and_pc() {
    let (_dir, prefix) = fresh_prefix("install-layout");
    let lib = prefix.join("lib");
    assert!(lib.join(format!("libbrowserbase.so.{VERSION}")).is_file());
    let link = |name: &str| std::fs::read_link(lib.join(name)).unwrap();
    assert_eq!(
        link("libbrowserbase.so.0"),
        PathBuf::from(format!("libbrowserbase.so.{VERSION}"))
    );
    assert_eq!(
        link("libbrowserbase.so"),
        PathBuf::from("libbrowserbase.so.0")
    );
    assert!(lib.join("libbrowserbase.a").is_file());
    assert!(prefix.join("include/browserbase.h").is_file());
    let pc = std::fs::read_to_string(lib.join("pkgconfig/browserbase.pc")).unwrap();
    assert!(pc.contains(&format!("Version: {VERSION}\n")), "{pc}");
    assert!(
        pc.contains(&format!("prefix={}\n", prefix.display())),
        "{pc}"
    );
    assert_eq!(
        pkg_config(&prefix, &["--modversion"]),
        vec![VERSION.to_owned()]
    );
}

#[test]
fn destdir_stages_without_changing_the_recorded_prefix() {
    let dir = out_dir("install-destdir");
    let stage = dir.join("stage");
    install(Path::new("/usr/local"), Some(&stage));
    let lib = stage.join("usr/local/lib");
    assert!(lib.join(format!("libbrowserbase.so.{VERSION}")).is_file());
    assert!(stage.join("usr/local/include/browserbase.h").is_file());
    let pc = std::fs::read_to_string(lib.join("pkgconfig/browserbase.pc")).unwrap();
    assert!(
        pc.contains("prefix=/usr/local\n") && !pc.contains(stage.to_str().unwrap()),
        "{pc}"
    );
}

#[test]
fn a_program_builds_with_only_pkg_config_and_runs() {
    let (dir, prefix) = fresh_prefix("install-pkg-config");
    let exe = dir.join("download");
    let mut args = vec![
        "examples/download.c".to_owned(),
        "-o".to_owned(),
        exe.display().to_string(),
    ];
    args.extend(pkg_config(&prefix, &["--cflags", "--libs"]));
    cc(&args);
    let server = StandInServer::start_with(&["--demo"]);
    // Found through the loader's path, as for any library in a prefix.
    run_download(
        &exe,
        &server,
        &dir.join("scratch/out.zip"),
        Some(&prefix.join("lib")),
    );
}

#[test]
fn a_program_links_statically_with_pkg_config_static_flags() {
    let (dir, prefix) = fresh_prefix("install-static");
    let exe = dir.join("download-static");
    let mut args = vec![
        "examples/download.c".to_owned(),
        "-o".to_owned(),
        exe.display().to_string(),
    ];
    args.extend(pkg_config(&prefix, &["--cflags"]));
    // `-lbrowserbase` between -Bstatic/-Bdynamic picks libbrowserbase.a;
    // the rest of `--libs --static` (Libs.private) is the C runtime it needs.
    for flag in pkg_config(&prefix, &["--libs", "--static"]) {
        if flag == "-lbrowserbase" {
            args.extend(["-Wl,-Bstatic".into(), flag, "-Wl,-Bdynamic".into()]);
        } else {
            args.push(flag);
        }
    }
    cc(&args);
    let needed = check(run(Command::new("readelf").args(["-d"]).arg(&exe)));
    assert!(
        !needed.stdout.contains("libbrowserbase"),
        "{}",
        needed.describe()
    );
    let server = StandInServer::start_with(&["--demo"]);
    run_download(&exe, &server, &dir.join("scratch/out.zip"), None);
}

#[test]
fn a_cmake_project_finds_it_through_pkg_config() {
    if Command::new("cmake").arg("--version").output().is_err() {
        eprintln!("NOTICE: cmake is not installed; the CMake consumer example was not built (.ci/run installs it)");
        return;
    }
    let (dir, prefix) = fresh_prefix("install-cmake");
    let build = dir.join("build");
    let pc_path = prefix.join("lib/pkgconfig");
    check(run(Command::new("cmake")
        .env("PKG_CONFIG_PATH", &pc_path)
        .arg("-S")
        .arg(manifest_dir().join("examples/cmake"))
        .arg("-B")
        .arg(&build)));
    check(run(Command::new("cmake").arg("--build").arg(&build)));
    let server = StandInServer::start_with(&["--demo"]);
    run_download(
        &build.join("download"),
        &server,
        &dir.join("scratch/out.zip"),
        None,
    );
}

#[test]
fn the_shared_library_exports_only_bb_symbols_and_has_a_versioned_soname() {
    let so = libs().profile_dir.join("libbrowserbase.so");
    let nm = check(run(Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)));
    let symbols: Vec<&str> = nm
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(symbols.len() >= 40, "{symbols:?}");
    let foreign: Vec<&&str> = symbols.iter().filter(|s| !s.starts_with("bb_")).collect();
    assert!(
        foreign.is_empty(),
        "exported symbols without the bb_ prefix: {foreign:?}"
    );
    let dynamic = check(run(Command::new("readelf").arg("-d").arg(&so)));
    assert!(
        dynamic.stdout.contains(&format!(
            "[libbrowserbase.so.{}]",
            env!("CARGO_PKG_VERSION_MAJOR")
        )),
        "{}",
        dynamic.describe()
    );
}

#[test]
fn version_macros_match_cargo_and_bb_version() {
    let dir = out_dir("install-version");
    let exe = dir.join("version");
    let source = dir.join("version.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\n#include \"browserbase.h\"\nint main(void) {\n\
         printf(\"%d.%d.%d %s %s\\n\", BB_VERSION_MAJOR, BB_VERSION_MINOR, BB_VERSION_PATCH,\n\
         BB_VERSION_STRING, bb_version());\n return 0;\n}\n",
    )
    .unwrap();
    let link = &libs().link_dir;
    cc(&[
        "-Iinclude".into(),
        source.display().to_string(),
        "-o".into(),
        exe.display().to_string(),
        format!("-L{}", link.display()),
        "-lbrowserbase".into(),
        format!("-Wl,-rpath,{}", link.display()),
    ]);
    let out = check(run(&mut program(&exe)));
    assert_eq!(out.stdout.trim(), format!("{VERSION} {VERSION} {VERSION}"));
}

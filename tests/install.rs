//! Packaging like a C library, through the user's route: `make build` (the
//! release build, with its soname link), then `make install` with
//! PREFIX/DESTDIR, which runs no cargo. What it installs is what a
//! distribution would ship: a stripped shared library with its soname links
//! and a .gnu_debuglink to the separate debug file (`make install-debug`), a
//! static library without debug sections, no path of the build machine in any
//! file, the headers, the man page, a relocatable browserbase.pc and a CMake
//! package. A program builds with nothing but pkg-config (dynamically,
//! statically, and from a moved prefix) or CMake's find_package; the Python
//! wheel is tagged for the platform when it bundles the library.
//!
//! Needs `make`, `pkg-config`, `cmake`, binutils, a C compiler and python3
//! (.ci/run installs them all; nothing here skips).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::cbuild::{libs, manifest_dir, out_dir, profile_dir, program, run, Run};
use support::StandInServer;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn check(run: Run) -> Run {
    assert!(run.status.success(), "{}", run.describe());
    run
}

fn fails(run: Run) -> Run {
    assert!(
        !run.status.success(),
        "should have failed\n{}",
        run.describe()
    );
    run
}

/// The target directory this test was built in (`target/`, or
/// CARGO_TARGET_DIR): the one `make` must use too.
fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("the profile directory has a parent")
        .to_path_buf()
}

/// `make ARGS` in the checkout, with this test's target directory.
fn make(args: &[&str]) -> Command {
    let mut make = Command::new("make");
    make.current_dir(manifest_dir())
        .env("CARGO_TARGET_DIR", target_dir())
        .arg("--no-print-directory")
        .args(args);
    make
}

/// `make build`, once per test process (a no-op when `make test` just ran
/// it): the release build users install from.
fn release_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        check(run(&mut make(&["build"])));
        target_dir().join("release")
    })
}

/// `make install` under `prefix` (staged in `destdir` when given).
fn install(prefix: &Path, destdir: Option<&Path>) -> Run {
    release_dir();
    let mut make = make(&["install", &format!("PREFIX={}", prefix.display())]);
    if let Some(d) = destdir {
        make.arg(format!("DESTDIR={}", d.display()));
    }
    check(run(&mut make))
}

fn pkg_config(pc_dir: &Path, args: &[&str]) -> Vec<String> {
    let out = check(run(Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", pc_dir)
        .env_remove("PKG_CONFIG_LIBDIR")
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

fn run_download(exe: &Path, server: &StandInServer, out: &Path, lib_dir: Option<&Path>) -> Run {
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
    assert!(std::fs::read(out).unwrap().starts_with(b"PK\x03\x04"));
    result
}

fn fresh_prefix(name: &str) -> (PathBuf, PathBuf) {
    let dir = out_dir(name);
    let prefix = dir.join("prefix");
    install(&prefix, None);
    (dir, prefix)
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    files
}

/// Section names of an ELF file or of every member of an archive.
fn sections(path: &Path) -> Vec<String> {
    let out = check(run(Command::new("objdump").arg("-h").arg(path)));
    out.stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let index = words.next()?;
            index.parse::<u32>().ok()?;
            words.next().map(str::to_owned)
        })
        .collect()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

const MIB: u64 = 1024 * 1024;

#[test]
fn install_lays_out_stripped_libraries_links_headers_man_page_pc_and_cmake() {
    let (_dir, prefix) = fresh_prefix("install-layout");
    let lib = prefix.join("lib");
    let so = lib.join(format!("libbrowserbase.so.{VERSION}"));
    assert!(so.is_file());
    let link = |name: &str| std::fs::read_link(lib.join(name)).unwrap();
    assert_eq!(
        link("libbrowserbase.so.0"),
        PathBuf::from(format!("libbrowserbase.so.{VERSION}"))
    );
    assert_eq!(
        link("libbrowserbase.so"),
        PathBuf::from("libbrowserbase.so.0")
    );
    for file in [
        "include/browserbase.h",
        "include/browserbase.hpp",
        "share/man/man3/browserbase.3",
        "lib/libbrowserbase.a",
        "lib/pkgconfig/browserbase.pc",
        "lib/cmake/browserbase/browserbaseConfig.cmake",
        "lib/cmake/browserbase/browserbaseConfigVersion.cmake",
        "bin/bb-download",
        "share/man/man1/bb-download.1",
    ] {
        assert!(prefix.join(file).is_file(), "{file} is not installed");
    }
    let tool = prefix.join("bin/bb-download");
    assert!(!sections(&tool).iter().any(|s| s == ".symtab"), "stripped");

    // Stripped: no symbol table beyond the dynamic one, no debug sections;
    // the debug information is one .gnu_debuglink away.
    let so_sections = sections(&so);
    assert!(
        !so_sections
            .iter()
            .any(|s| s.starts_with(".debug") || s == ".symtab"),
        "{so_sections:?}"
    );
    assert!(
        so_sections.iter().any(|s| s == ".gnu_debuglink"),
        "{so_sections:?}"
    );
    assert!(size(&so) <= 5 * MIB, "{} bytes", size(&so));
    let a = lib.join("libbrowserbase.a");
    let a_sections = sections(&a);
    assert!(
        !a_sections.iter().any(|s| s.starts_with(".debug")),
        "debug sections in libbrowserbase.a"
    );
    // The build's own files keep their debug information (for `make bench`
    // and debugging in the tree); only what is installed is stripped.
    let built = release_dir().join("libbrowserbase.a");
    assert!(size(&a) < size(&built), "{} vs {}", size(&a), size(&built));
    assert!(size(&a) <= 48 * MIB, "{} bytes", size(&a));

    let files: Vec<String> = files_under(&prefix)
        .iter()
        .map(|f| {
            format!(
                "{:>10}  {}",
                size(f),
                f.strip_prefix(&prefix).unwrap().display()
            )
        })
        .collect();
    eprintln!("installed:\n{}", files.join("\n"));
}

#[test]
fn no_installed_file_names_a_path_of_the_build_machine() {
    // Outside the checkout: the prefix itself is named in browserbase.pc.
    let (_keep, dir) = support::scratch();
    let prefix = dir.join("prefix");
    install(&prefix, None);
    check(run(&mut make(&[
        "install-debug",
        &format!("PREFIX={}", prefix.display()),
    ])));
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let checkout = manifest_dir().to_path_buf();
    let needles: Vec<String> = [&home, &checkout, &target_dir()]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let installed = files_under(&prefix);
    assert!(
        installed
            .iter()
            .any(|f| f.ends_with(format!("lib/.debug/libbrowserbase.so.{VERSION}.debug"))),
        "{installed:?}"
    );
    for file in &installed {
        // What `strings FILE | grep PATH` finds, and more: any occurrence.
        let bytes = std::fs::read(file).unwrap();
        for needle in &needles {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{} contains {needle}", file.display());
        }
        if file.extension().is_some_and(|e| e == "debug") {
            // Compressed sections: look inside too.
            let out = check(run(Command::new("readelf")
                .args(["--string-dump=.debug_str", "--string-dump=.debug_line_str"])
                .arg("--decompress")
                .arg(file)));
            for needle in &needles {
                assert!(
                    !out.stdout.contains(needle.as_str()),
                    "{} names {needle}",
                    file.display()
                );
            }
        }
    }
    // The shipped library does carry the relative names the remap gives.
    let so = std::fs::read(prefix.join(format!("lib/libbrowserbase.so.{VERSION}"))).unwrap();
    assert!(so.windows(11).any(|w| w == b"cargo-home/"));
}

#[test]
fn install_debug_adds_the_file_the_debuglink_names() {
    let (_dir, prefix) = fresh_prefix("install-debug");
    check(run(&mut make(&[
        "install-debug",
        &format!("PREFIX={}", prefix.display()),
    ])));
    let so = prefix.join(format!("lib/libbrowserbase.so.{VERSION}"));
    let link = check(run(Command::new("readelf")
        .args(["--string-dump=.gnu_debuglink"])
        .arg(&so)));
    let name = format!("libbrowserbase.so.{VERSION}.debug");
    assert!(link.stdout.contains(&name), "{}", link.describe());
    let debug = prefix.join("lib/.debug").join(&name);
    let debug_sections = sections(&debug);
    assert!(
        debug_sections.iter().any(|s| s == ".debug_line"),
        "{debug_sections:?}"
    );
    // gdb reads it with the library: function names and source lines.
    let lines = check(run(Command::new("objdump")
        .args(["--dwarf=decodedline"])
        .arg(&debug)));
    assert!(
        lines.stdout.contains("libbrowserbase-0.1.0/src/") || lines.stdout.contains("src/"),
        "no line tables"
    );
}

#[test]
fn destdir_stages_without_changing_the_recorded_prefix() {
    let dir = out_dir("install-destdir");
    let stage = dir.join("stage");
    let run = install(Path::new("/usr/local"), Some(&stage));
    let lib = stage.join("usr/local/lib");
    assert!(lib.join(format!("libbrowserbase.so.{VERSION}")).is_file());
    assert!(stage.join("usr/local/include/browserbase.h").is_file());
    let pc = std::fs::read_to_string(lib.join("pkgconfig/browserbase.pc")).unwrap();
    assert!(
        pc.contains("prefix=/usr/local\n") && !pc.contains(stage.to_str().unwrap()),
        "{pc}"
    );
    let cmake =
        std::fs::read_to_string(lib.join("cmake/browserbase/browserbaseConfig.cmake")).unwrap();
    assert!(!cmake.contains(stage.to_str().unwrap()), "{cmake}");
    // Staged for a package: no ldconfig, no advice about the loader.
    assert!(!run.stdout.contains("ldconfig"), "{}", run.describe());
}

#[test]
fn the_pc_file_is_prefix_relative_with_the_native_static_libs_of_this_build() {
    let (_dir, prefix) = fresh_prefix("install-pc");
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/browserbase.pc")).unwrap();
    assert!(
        pc.contains(&format!("prefix={}\n", prefix.display())),
        "{pc}"
    );
    assert!(pc.contains("libdir=${prefix}/lib\n"), "{pc}");
    assert!(pc.contains("includedir=${prefix}/include\n"), "{pc}");
    assert!(pc.contains(&format!("Version: {VERSION}\n")), "{pc}");
    assert!(!pc.contains("docs.browserbase.com"), "{pc}");
    let native = std::fs::read_to_string(release_dir().join("native-static-libs.txt")).unwrap();
    assert!(native.contains("-lc"), "{native}");
    assert!(
        pc.contains(&format!("Libs.private: {}\n", native.trim())),
        "{pc}\nrustc says: {native}"
    );
    assert_eq!(
        pkg_config(&prefix.join("lib/pkgconfig"), &["--modversion"]),
        vec![VERSION.to_owned()]
    );
}

/// download.c built from flags pkg-config gives for the prefix in `pc_dir`.
fn build_with_pkg_config(pc_dir: &Path, exe: &Path, extra: &[&str], statically: bool) {
    let mut args = vec![
        "examples/download.c".to_owned(),
        "-o".to_owned(),
        exe.display().to_string(),
    ];
    args.extend(pkg_config(pc_dir, &[extra, &["--cflags"]].concat()));
    let libs_args: &[&str] = if statically {
        &["--libs", "--static"]
    } else {
        &["--libs"]
    };
    for flag in pkg_config(pc_dir, &[extra, libs_args].concat()) {
        // As README says: `-lbrowserbase` between -Bstatic/-Bdynamic picks
        // libbrowserbase.a; the rest (Libs.private) is the C runtime it needs.
        if statically && flag == "-lbrowserbase" {
            args.extend(["-Wl,-Bstatic".into(), flag, "-Wl,-Bdynamic".into()]);
        } else {
            args.push(flag);
        }
    }
    cc(&args);
}

#[test]
fn a_program_builds_with_only_pkg_config_and_runs() {
    let (dir, prefix) = fresh_prefix("install-pkg-config");
    let exe = dir.join("download");
    build_with_pkg_config(&prefix.join("lib/pkgconfig"), &exe, &[], false);
    let server = StandInServer::start_with(&["--demo"]);
    // Found through the loader's path, as for any library in a prefix.
    let out = run_download(
        &exe,
        &server,
        &dir.join("scratch/out.zip"),
        Some(&prefix.join("lib")),
    );
    assert!(
        out.stdout.starts_with("saved 4212 bytes"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_program_links_statically_with_pkg_config_static_flags() {
    let (dir, prefix) = fresh_prefix("install-static");
    let exe = dir.join("download-static");
    build_with_pkg_config(&prefix.join("lib/pkgconfig"), &exe, &[], true);
    let needed = check(run(Command::new("readelf").args(["-d"]).arg(&exe)));
    assert!(
        !needed.stdout.contains("libbrowserbase"),
        "{}",
        needed.describe()
    );
    // The installed archive has no debug sections, so neither has the app.
    eprintln!("static app: {} bytes", size(&exe));
    assert!(size(&exe) <= 12 * MIB, "{} bytes", size(&exe));
    let server = StandInServer::start_with(&["--demo"]);
    run_download(&exe, &server, &dir.join("scratch/out.zip"), None);
}

#[test]
fn a_moved_prefix_works_with_pkg_config_define_prefix_and_cmake() {
    let dir = out_dir("install-relocated");
    let first = dir.join("first");
    install(&first, None);
    let moved = dir.join("moved");
    std::fs::rename(&first, &moved).unwrap();
    let pc_dir = moved.join("lib/pkgconfig");
    let cflags = pkg_config(&pc_dir, &["--define-prefix", "--cflags"]);
    assert_eq!(cflags, vec![format!("-I{}/include", moved.display())]);

    let server = StandInServer::start_with(&["--demo"]);
    let exe = dir.join("download");
    build_with_pkg_config(&pc_dir, &exe, &["--define-prefix"], false);
    run_download(
        &exe,
        &server,
        &dir.join("scratch/shared.zip"),
        Some(&moved.join("lib")),
    );
    let exe_static = dir.join("download-static");
    build_with_pkg_config(&pc_dir, &exe_static, &["--define-prefix"], true);
    run_download(&exe_static, &server, &dir.join("scratch/static.zip"), None);

    // The CMake package's paths are relative to its own file.
    let (fetch, _) = build_cmake_example(&dir, &moved);
    let out = run_download(&fetch, &server, &dir.join("scratch/cmake.zip"), None);
    assert!(out.stdout.contains("saved"), "{}", out.describe());
}

/// examples/cmake, copied out of the tree as a template is, configured with
/// `find_package(browserbase CONFIG REQUIRED)` against `prefix`.
fn build_cmake_example(dir: &Path, prefix: &Path) -> (PathBuf, PathBuf) {
    let source = dir.join("cmake-project");
    std::fs::create_dir_all(&source).unwrap();
    for name in ["CMakeLists.txt", "fetch.c"] {
        std::fs::copy(
            manifest_dir().join("examples/cmake").join(name),
            source.join(name),
        )
        .unwrap();
    }
    let build = dir.join("cmake-build");
    check(run(Command::new("cmake")
        .env_remove("PKG_CONFIG_PATH")
        .arg("-S")
        .arg(&source)
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))));
    check(run(Command::new("cmake").arg("--build").arg(&build)));
    (build.join("fetch"), build.join("fetch_static"))
}

#[test]
fn a_cmake_project_finds_the_installed_package() {
    let (dir, prefix) = fresh_prefix("install-cmake");
    let (shared, statically) = build_cmake_example(&dir, &prefix);
    let server = StandInServer::start_with(&["--demo"]);
    // The shared build runs from the build tree (CMake's build rpath).
    let out = run_download(&shared, &server, &dir.join("scratch/shared.zip"), None);
    assert!(
        out.stdout
            .contains(&format!("with libbrowserbase {VERSION}")),
        "{}",
        out.describe()
    );
    let needed = check(run(Command::new("readelf").args(["-d"]).arg(&statically)));
    assert!(
        !needed.stdout.contains("libbrowserbase"),
        "{}",
        needed.describe()
    );
    run_download(&statically, &server, &dir.join("scratch/static.zip"), None);

    // The version file: 0.x accepts the same minor only.
    let probe = dir.join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    let find = |version: &str| {
        std::fs::write(
            probe.join("CMakeLists.txt"),
            format!(
                "cmake_minimum_required(VERSION 3.16)\nproject(p LANGUAGES NONE)\n\
                 find_package(browserbase {version} CONFIG REQUIRED)\n"
            ),
        )
        .unwrap();
        let build = probe.join(format!("build-{version}"));
        run(Command::new("cmake")
            .arg("-S")
            .arg(&probe)
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())))
    };
    check(find("0.1"));
    fails(find("0.2"));
    fails(find("1.0"));
}

#[test]
fn install_runs_no_cargo_and_asks_for_make_build_when_there_is_none() {
    release_dir();
    let dir = out_dir("install-no-cargo");
    // sudo's PATH (secure_path) has no cargo; a CARGO that records calls.
    let calls = dir.join("cargo-calls");
    let fake_cargo = dir.join("cargo");
    std::fs::write(
        &fake_cargo,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &fake_cargo,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sudo_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let prefix = dir.join("prefix");
    let mut sudo_like = Command::new("make");
    sudo_like
        .current_dir(manifest_dir())
        .env_clear()
        .env("PATH", sudo_path)
        .args(["--no-print-directory", "install"])
        .arg(format!("CARGO={}", fake_cargo.display()))
        .arg(format!("PREFIX={}", prefix.display()));
    check(run(&mut sudo_like));
    // Asking cargo where the target directory is (which fails here, as
    // without cargo) is all; nothing is built.
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(
        calls.lines().all(|l| l.starts_with("metadata ")),
        "make install ran cargo: {calls}"
    );
    assert!(prefix
        .join(format!("lib/libbrowserbase.so.{VERSION}"))
        .is_file());

    // No build where cargo says the target directory is: a clear error, and
    // nothing installed.
    let empty = dir.join("empty-target");
    std::fs::create_dir_all(&empty).unwrap();
    let nothing = dir.join("nothing");
    let failed = fails(run(Command::new("make")
        .current_dir(manifest_dir())
        .env("CARGO_TARGET_DIR", &empty)
        .args(["--no-print-directory", "install"])
        .arg(format!("PREFIX={}", nothing.display()))));
    assert!(
        failed.stderr.contains("run make build first")
            && failed
                .stderr
                .contains(&empty.join("release").display().to_string()),
        "{}",
        failed.describe()
    );
    assert!(!nothing.exists());
}

#[test]
fn every_target_uses_the_target_directory_cargo_names() {
    let (_keep, scratch) = support::scratch();
    let elsewhere = scratch.join("elsewhere");
    let dry = check(run(Command::new("make")
        .current_dir(manifest_dir())
        .env("CARGO_TARGET_DIR", &elsewhere)
        .args([
            "--no-print-directory",
            "-n",
            "build",
            "examples",
            "demo",
            "test",
            "bench",
        ])
        .arg("install-files")
        .arg("PREFIX=/tmp/unused")));
    let default_target = format!("{}/target/", manifest_dir().display());
    for line in dry.stdout.lines() {
        assert!(
            !line.contains(&default_target) || line.contains("--remap-path-prefix"),
            "uses {default_target}: {line}"
        );
    }
    let where_ = elsewhere.display().to_string();
    for needle in [
        format!("{where_}/release/libbrowserbase.so.0"),
        format!("{where_}/release/libbrowserbase.a"),
        format!("{where_}/examples-c"),
        format!("BB_LIBRARY={where_}/debug/libbrowserbase.so"),
        format!("BB_STAND_IN_SERVER={where_}/debug/bb-stand-in-server"),
        format!("BROWSERBASE_C_LIBRARY={where_}/debug/libbrowserbase.so"),
    ] {
        assert!(
            dry.stdout.contains(&needle),
            "no {needle} in\n{}",
            dry.stdout
        );
    }
}

#[test]
fn ldconfig_runs_after_a_system_install_and_is_suggested_when_not_root() {
    release_dir();
    let dir = out_dir("install-ldconfig");
    let calls = dir.join("ldconfig-calls");
    let fake = dir.join("ldconfig");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho called \"$@\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let prefix = dir.join("prefix");
    let lib = prefix.join("lib");
    let install_as = |uid: &str, destdir: Option<&Path>| {
        let mut command = make(&[
            "install",
            &format!("PREFIX={}", prefix.display()),
            &format!("LDCONFIG={}", fake.display()),
            // This prefix's lib stands for one of the loader's directories.
            &format!("LDCONFIG_DIRS=/usr/lib {}", lib.display()),
            &format!("INSTALL_UID={uid}"),
        ]);
        if let Some(d) = destdir {
            command.arg(format!("DESTDIR={}", d.display()));
        }
        check(run(&mut command))
    };
    let as_user = install_as("1000", None);
    assert!(!calls.exists());
    assert!(
        as_user
            .stdout
            .contains(&format!("run  sudo {}", fake.display())),
        "{}",
        as_user.describe()
    );
    install_as("0", Some(&dir.join("stage")));
    assert!(!calls.exists(), "ldconfig ran for a DESTDIR install");
    install_as("0", None);
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "called\n");

    // Elsewhere: the loader will not find it, and make install says how.
    let other = check(run(&mut make(&[
        "install",
        &format!("PREFIX={}", dir.join("other").display()),
        &format!("LDCONFIG={}", fake.display()),
        "LDCONFIG_DIRS=/usr/lib",
    ])));
    assert!(other.stdout.contains("-Wl,-rpath,"), "{}", other.describe());
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "called\n");
}

#[test]
fn the_default_ldconfig_dirs_are_the_loaders() {
    let out = check(run(&mut make(&[
        "-s",
        "--eval=print-dirs: ; @echo $(LDCONFIG_DIRS)",
        "print-dirs",
    ])));
    assert!(
        out.stdout
            .split_whitespace()
            .any(|d| d == "/usr/lib" || d == "/lib"),
        "{}",
        out.describe()
    );
}

/// The Python package built with `make python-wheel`: tagged for this
/// platform, with the stripped library inside, loading it with no setting.
#[test]
fn python_wheel_bundles_the_stripped_library_under_a_platform_tag() {
    release_dir();
    check(run(&mut make(&["python-wheel"])));
    let wheels: Vec<PathBuf> = std::fs::read_dir(target_dir().join("wheels"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    let arch = std::env::consts::ARCH;
    let wheel = wheels
        .iter()
        .find(|w| {
            w.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with(&format!("-py3-none-linux_{arch}.whl"))
        })
        .unwrap_or_else(|| panic!("no platform wheel in {wheels:?}"));
    let dir = out_dir("install-python-wheel");
    let site = dir.join("site");
    check(run(Command::new("python3")
        // Debian's pip refuses installs outside a venv (PEP 668) unless told;
        // these go to a --target directory of the test's own.
        .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
        ])
        .arg(&site)
        .arg(wheel)));
    let bundled = site.join("browserbase_c/libbrowserbase.so.0");
    assert!(size(&bundled) <= 5 * MIB, "{} bytes", size(&bundled));
    assert!(!sections(&bundled).iter().any(|s| s.starts_with(".debug")));
    assert!(site.join("bin/browserbase-c-download").is_file());

    let server = StandInServer::start_with(&["--demo"]);
    let out = dir.join("scratch/out.zip");
    let mut python = program(Path::new("python3"));
    python
        .current_dir(dir.join("scratch"))
        .env("PYTHONPATH", &site)
        .env_remove("BROWSERBASE_C_LIBRARY")
        .env_remove("LD_LIBRARY_PATH")
        .env("BROWSERBASE_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY)
        .args(["-m", "browserbase_c", StandInServer::DEMO_SESSION])
        .arg(&out);
    let done = check(run(&mut python));
    assert!(done.stdout.starts_with("saved"), "{}", done.describe());
    let which = check(run(program(Path::new("python3"))
        .env("PYTHONPATH", &site)
        .env_remove("BROWSERBASE_C_LIBRARY")
        .args([
            "-c",
            "import browserbase_c._native as n; print(n.load().path)",
        ])));
    assert!(
        which.stdout.trim().starts_with(&site.display().to_string()),
        "{}",
        which.describe()
    );
}

/// Without a library beside it the package is a pure wheel, building it
/// leaves the tree as it was, and a missing library is reported as such,
/// with the places tried, by the command line too.
#[test]
fn python_package_from_the_tree_is_pure_leaves_the_tree_clean_and_names_a_missing_library() {
    let tree = manifest_dir().join("bindings/python");
    let listing = || {
        check(run(Command::new("git")
            .current_dir(manifest_dir())
            .args([
                "status",
                "--porcelain",
                "--ignored",
                "--untracked-files=all",
            ])
            .arg(&tree)))
        .stdout
    };
    let before = listing();
    let dir = out_dir("install-python-pure");
    let site = dir.join("site");
    check(run(Command::new("python3")
        // Debian's pip refuses installs outside a venv (PEP 668) unless told;
        // these go to a --target directory of the test's own.
        .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
        ])
        .arg(&site)
        .arg(&tree)));
    check(run(Command::new("python3")
        .args(["-m", "pip", "wheel", "--no-deps", "--no-index", "-w"])
        .arg(dir.join("wheels"))
        .arg(&tree)));
    assert_eq!(listing(), before, "installing from the tree changed it");
    assert!(dir
        .join(format!("wheels/browserbase_c-{VERSION}-py3-none-any.whl"))
        .is_file());
    assert!(!site.join("browserbase_c/libbrowserbase.so.0").exists());

    let missing = dir.join("no/libbrowserbase.so");
    let failed = fails(run(program(Path::new("python3"))
        .current_dir(dir.join("scratch"))
        .env("PYTHONPATH", &site)
        .env("BROWSERBASE_C_LIBRARY", &missing)
        .args(["-m", "browserbase_c", "some-session", "out.zip"])));
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        failed.stderr.contains("LibraryNotFoundError")
            && failed.stderr.contains("tried")
            && failed.stderr.contains(&missing.display().to_string())
            && !failed.stderr.contains("BB_ERR_INTERNAL"),
        "{}",
        failed.describe()
    );
    let console = fails(run(program(&site.join("bin/browserbase-c-download"))
        .current_dir(dir.join("scratch"))
        .env("PYTHONPATH", &site)
        .env("BROWSERBASE_C_LIBRARY", &missing)
        .args(["some-session", "out.zip"])));
    assert!(
        console.stderr.contains("LibraryNotFoundError"),
        "{}",
        console.describe()
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

/// README's Platforms section names the newest glibc symbol version the
/// release library needs; it must be what the library really needs.
#[test]
fn the_glibc_minimum_in_readme_is_what_the_library_needs() {
    let so = release_dir().join("libbrowserbase.so");
    let dump = check(run(Command::new("objdump").arg("-T").arg(&so)));
    let mut versions: Vec<(u32, u32)> = dump
        .stdout
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let v: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = v.split('.');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    versions.sort();
    let (major, minor) = *versions.last().expect("GLIBC_ versions");
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("glibc ≥ {major}.{minor}")),
        "README should say glibc ≥ {major}.{minor}"
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

/// `bb-download` finds the installed library through its RUNPATH
/// (`$ORIGIN/../lib`), not the build tree, with no LD_LIBRARY_PATH: where it
/// was installed, after the prefix is moved, and staged with DESTDIR.
#[test]
fn the_installed_bb_download_finds_the_installed_library_wherever_the_prefix_goes() {
    let dir = out_dir("install-bb-download");
    let first = dir.join("first");
    install(&first, None);
    let dynamic = check(run(Command::new("readelf")
        .arg("-d")
        .arg(first.join("bin/bb-download"))));
    assert!(
        dynamic.stdout.contains("[$ORIGIN/../lib]"),
        "{}",
        dynamic.describe()
    );
    assert!(
        !dynamic.stdout.contains(&target_dir().display().to_string()),
        "no path of the build tree: {}",
        dynamic.describe()
    );
    let server = StandInServer::start_with(&["--demo"]);
    let moved = dir.join("moved");
    std::fs::rename(&first, &moved).unwrap();
    let stage = dir.join("stage");
    install(Path::new("/opt/bb"), Some(&stage));
    for prefix in [moved, stage.join("opt/bb")] {
        let tool = prefix.join("bin/bb-download");
        // What the loader picks (as ldd shows it): the library beside it.
        let loaded = check(run(program(&tool)
            .env_remove("LD_LIBRARY_PATH")
            .env("LD_TRACE_LOADED_OBJECTS", "1")));
        let want = prefix.join(format!(
            "lib/libbrowserbase.so.{}",
            VERSION.split('.').next().unwrap()
        ));
        let path = loaded
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("libbrowserbase.so.0 => "))
            .and_then(|l| l.split(" (").next())
            .unwrap_or_else(|| panic!("{}", loaded.describe()));
        assert_eq!(
            std::fs::canonicalize(path).unwrap(),
            std::fs::canonicalize(&want).unwrap(),
            "{}",
            loaded.describe()
        );
        let out = dir.join("scratch/out.zip");
        let _ = std::fs::remove_file(&out);
        check(run(program(&tool)
            .env_remove("LD_LIBRARY_PATH")
            .env("BROWSERBASE_BASE_URL", server.base_url())
            .env("BROWSERBASE_API_KEY", StandInServer::KEY)
            .arg("-o")
            .arg(&out)
            .arg(StandInServer::DEMO_SESSION)));
        assert!(std::fs::read(&out).unwrap().starts_with(b"PK\x03\x04"));
    }
}

/// `make uninstall` removes everything `make install` put there, the tool
/// and its man page included.
#[test]
fn uninstall_removes_every_installed_file() {
    let (_dir, prefix) = fresh_prefix("install-uninstall");
    assert!(prefix.join("bin/bb-download").is_file());
    check(run(&mut make(&[
        "uninstall",
        &format!("PREFIX={}", prefix.display()),
    ])));
    let left = files_under(&prefix);
    assert!(left.is_empty(), "left behind: {left:?}");
}

//! The binary interface, checked by machine: what programs compiled against
//! `include/browserbase.h` and linked against `libbrowserbase.so.0` rely on.
//!
//! - `abi/libbrowserbase.abi` is the committed baseline, written by `abidw`
//!   (Debian's `abigail-tools`); [`abi_matches_the_baseline`] compares the
//!   current ABI with it through `abidiff` and fails on any difference,
//!   naming it: an incompatible one must not be made, a compatible addition
//!   is accepted by updating the baseline on purpose (`make abi-baseline`),
//!   so the change shows up in review.
//!
//!   libabigail cannot describe the Rust library's own debug info usefully
//!   (Rust compile units are LANG_UNKNOWN to it, the opaque handles are full
//!   Rust structs there, and it emits every internal type of every
//!   dependency, megabytes that change with any dependency update). So the
//!   ABI is taken as C programs see it: the header compiled with debug info
//!   into a stub library with the real soname and version script (one
//!   definition per declared function). The real library is tied to that
//!   stub by the other tests here and in tests/header.rs: the header is what
//!   cbindgen makes of the Rust code, the library exports exactly the
//!   header's functions with the map's versions, and `tests/c/test_abi.c`
//!   checks every code value and struct layout against hard-coded numbers.
//! - `abi/browserbase.map` (the version script) lists every function of the
//!   header, and the shared library exports each with its version and
//!   nothing else.
//!
//! Without abidw on PATH the baseline comparison prints a loud notice and
//! passes, except under CI (`CI` set), where it is required (`.ci/run`
//! installs it).

mod support;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::cbuild::{
    assert_all_checks_passed, compile, libs, manifest_dir, out_dir, program, run, Link, CFLAGS,
};
use support::StandInServer;

fn header() -> String {
    std::fs::read_to_string(manifest_dir().join("include/browserbase.h")).unwrap()
}

fn baseline_path() -> PathBuf {
    manifest_dir().join("abi/libbrowserbase.abi")
}

fn map_path() -> PathBuf {
    manifest_dir().join("abi/browserbase.map")
}

/// Every function declaration of the header, as written there (one string,
/// possibly over several lines, without the final `;`).
fn header_declarations(header: &str) -> Vec<String> {
    let lines: Vec<&str> = header.lines().collect();
    let mut declarations = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let is_decl = line.contains('(')
            && !line.starts_with("typedef")
            && !line.starts_with([' ', '*', '/', '#', '}'])
            && function_name(line).starts_with("bb_");
        if is_decl {
            let mut text = line.to_owned();
            while !lines[i].trim_end().ends_with(';') {
                i += 1;
                text.push('\n');
                text.push_str(lines[i]);
            }
            declarations.push(text.trim_end().trim_end_matches(';').to_owned());
        }
        i += 1;
    }
    declarations
}

fn function_name(declaration: &str) -> String {
    declaration
        .split('(')
        .next()
        .unwrap()
        .rsplit([' ', '*'])
        .next()
        .unwrap()
        .to_owned()
}

fn header_functions() -> BTreeSet<String> {
    header_declarations(&header())
        .iter()
        .map(|d| function_name(d))
        .collect()
}

/// (function, version node) of every function the version script exports.
fn map_functions() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(map_path()).unwrap();
    let mut plain = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("/*") {
        plain.push_str(&rest[..start]);
        rest = &rest[start + rest[start..].find("*/").expect("closed comment") + 2..];
    }
    plain.push_str(rest);
    let spaced = plain
        .replace('{', " { ")
        .replace('}', " } ")
        .replace(';', " ; ");
    let (mut node, mut global, mut previous) = (None::<String>, false, "");
    let mut out = BTreeSet::new();
    for token in spaced.split_whitespace() {
        match token {
            "{" if node.is_none() => node = Some(previous.to_owned()),
            "}" => (node, global) = (None, false),
            "global:" => global = true,
            "local:" => global = false,
            ";" | "{" => {}
            symbol if global => {
                out.insert((symbol.to_owned(), node.clone().expect("inside a node")));
            }
            _ => {}
        }
        previous = token;
    }
    out
}

/// The header's ABI as a C program sees it: a shared library with the real
/// soname and version script, defining every declared function (its body
/// returns zero), compiled with debug info. Built from the current header
/// and map every time, never reused.
fn header_stub() -> PathBuf {
    let dir = out_dir("abi-stub");
    let mut source = String::from(
        "/* Generated by tests/abi.rs: one definition per function of the header. */\n\
         #include \"browserbase.h\"\n",
    );
    for declaration in header_declarations(&header()) {
        let body = if declaration.starts_with("void ") {
            "{ }"
        } else {
            "{ return 0; }"
        };
        source.push_str(&format!("{declaration} {body}\n"));
    }
    std::fs::write(dir.join("stub.c"), source).unwrap();
    let so = dir.join("libbrowserbase.so");
    let out = run(
        Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .current_dir(&dir)
            .args(["-std=c99", "-g", "-O0", "-shared", "-fPIC", "-w", "-I"])
            .arg(manifest_dir().join("include"))
            .arg("stub.c")
            .arg(format!("-Wl,--version-script={}", map_path().display()))
            .arg(format!(
                "-Wl,-soname,libbrowserbase.so.{}",
                env!("CARGO_PKG_VERSION_MAJOR")
            ))
            .arg("-o")
            .arg(&so),
    );
    assert!(
        out.status.success(),
        "building the header stub failed\n{}",
        out.describe()
    );
    so
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// abidw's reading of `so`, without the paths of this machine.
fn abidw(so: &Path) -> String {
    let out = run(Command::new("abidw")
        .args([
            "--no-corpus-path",
            "--no-comp-dir-path",
            "--short-locs",
            "--no-elf-needed",
        ])
        .arg(so));
    assert!(out.status.success(), "abidw failed\n{}", out.describe());
    out.stdout
}

#[test]
fn abi_matches_the_baseline() {
    if !(have("abidw") && have("abidiff")) {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "abidw and abidiff are required in CI (apt-get install abigail-tools)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! NOTICE: abigail-tools is not installed: the ABI was NOT compared with \
             abi/libbrowserbase.abi.\n!!! Install it (apt-get install abigail-tools).\n"
        );
        return;
    }
    let stub = header_stub();
    if std::env::var_os("BB_UPDATE_ABI").is_some() {
        std::fs::write(baseline_path(), abidw(&stub)).unwrap();
        return;
    }
    assert!(
        baseline_path().is_file(),
        "abi/libbrowserbase.abi is missing: make abi-baseline"
    );
    let out = run(Command::new("abidiff")
        .args(["--no-show-locs", "--harmless"])
        .arg(baseline_path())
        .arg(&stub));
    let code = out.status.code().unwrap_or(-1);
    if code == 0 {
        return;
    }
    assert!(
        code & 3 == 0,
        "abidiff itself failed (exit {code})\n{}",
        out.describe()
    );
    // abidiff flags only removals as incompatible (exit bit 8); for C a
    // changed enumerator or struct layout breaks programs as surely.
    let report = &out.stdout;
    let only_additions = code & 8 == 0
        && report.contains("0 Removed, 0 Changed")
        && !report.contains("sub-type change")
        && !report.contains("Removed function")
        && !report.contains("changed");
    if only_additions {
        panic!(
            "The ABI grew compatibly (a new function), but abi/libbrowserbase.abi does not have it \
             yet. If that is meant, record it with `make abi-baseline` and commit the baseline \
             with the change (and give the function a new version node in abi/browserbase.map, \
             see its header).\n{report}"
        );
    }
    panic!(
        "INCOMPATIBLE ABI CHANGE against abi/libbrowserbase.abi: programs built against the \
         released header would break. Undo it; if it is truly needed, it takes a new soname \
         (README, \"ABI policy\").\n{report}"
    );
}

#[test]
fn the_version_script_lists_exactly_the_header_functions() {
    let header: BTreeSet<String> = header_functions();
    let map: BTreeSet<String> = map_functions().into_iter().map(|(f, _)| f).collect();
    assert!(header.len() >= 40, "{header:?}");
    let missing: Vec<_> = header.difference(&map).collect();
    let extra: Vec<_> = map.difference(&header).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "abi/browserbase.map and include/browserbase.h disagree:\n\
         in the header, not in the map: {missing:?}\nin the map, not in the header: {extra:?}"
    );
}

/// The defined dynamic symbols of a shared library: (name, version).
fn exported(so: &Path) -> BTreeSet<(String, String)> {
    let out = run(Command::new("readelf")
        .args(["--dyn-syms", "--wide"])
        .arg(so));
    assert!(out.status.success(), "{}", out.describe());
    out.stdout
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Num: Value Size Type Bind Vis Ndx Name
            // UND: imported; ABS: the version definition's own symbol.
            if fields.len() < 8 || matches!(fields[6], "UND" | "ABS") || !fields[0].ends_with(':') {
                return None;
            }
            if fields[4] != "GLOBAL" && fields[4] != "WEAK" {
                return None;
            }
            let name = fields[7];
            Some(match name.split_once('@') {
                Some((base, version)) => (base.to_owned(), version.trim_start_matches('@').into()),
                None => (name.to_owned(), String::new()),
            })
        })
        .collect()
}

#[test]
fn the_shared_library_exports_each_header_function_with_its_version() {
    let so = libs().profile_dir.join("libbrowserbase.so");
    let exported = exported(&so);
    let expected = map_functions();
    assert_eq!(
        exported,
        expected,
        "{} exports other symbols or versions than abi/browserbase.map says \
         (left: exported, right: the map)",
        so.display()
    );
    // readelf -V: the version definitions name the node.
    let out = run(Command::new("readelf").arg("-V").arg(&so));
    assert!(
        out.stdout.contains("Name: BROWSERBASE_0"),
        "no BROWSERBASE_0 version definition\n{}",
        out.describe()
    );
    // The stub built from the header exports the same: the baseline is about
    // the library's real export list.
    assert_eq!(exported, self::exported(&header_stub()));
}

/// The Rust side of the layout that tests/c/test_abi.c checks in C: the
/// same hard-coded numbers (x86-64 LP64).
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
#[test]
fn rust_layout_of_the_public_structs_is_the_released_one() {
    use browserbase::ffi::{bb_archive_entry, bb_code};
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<bb_archive_entry>(), 48);
    assert_eq!(offset_of!(bb_archive_entry, struct_size), 0);
    assert_eq!(offset_of!(bb_archive_entry, name), 8);
    assert_eq!(offset_of!(bb_archive_entry, original_name), 16);
    assert_eq!(offset_of!(bb_archive_entry, size), 24);
    assert_eq!(offset_of!(bb_archive_entry, mtime_unix), 32);
    assert_eq!(offset_of!(bb_archive_entry, download_time_ms), 40);
    assert_eq!(bb_archive_entry::default().struct_size, 48);
    use browserbase::ffi::bb_call_options;
    // 0.3 appended the batch progress fields; the 0.2 struct (32 bytes)
    // is still read (see tests/c/test_batch.c).
    assert_eq!(size_of::<bb_call_options>(), 48);
    assert_eq!(offset_of!(bb_call_options, cancel), 8);
    assert_eq!(offset_of!(bb_call_options, progress), 16);
    assert_eq!(offset_of!(bb_call_options, progress_user_data), 24);
    assert_eq!(offset_of!(bb_call_options, batch_progress), 32);
    assert_eq!(offset_of!(bb_call_options, batch_progress_user_data), 40);
    assert_eq!(bb_call_options::default().struct_size, 48);
    use browserbase::ffi::bb_batch_progress;
    assert_eq!(size_of::<bb_batch_progress>(), 88);
    assert_eq!(offset_of!(bb_batch_progress, finished), 40);
    assert_eq!(offset_of!(bb_batch_progress, code), 44);
    assert_eq!(offset_of!(bb_batch_progress, batch_received), 80);
    assert_eq!(size_of::<bb_code>(), 4);
    assert_eq!(bb_code::BB_ERR_INTERNAL as i32, 14);
}

#[test]
fn c_layout_and_values_test_passes() {
    let server = StandInServer::start_with(&["--demo"]);
    let dir = out_dir("test_abi");
    let binary = dir.join("test_abi");
    compile(false, CFLAGS, "tests/c/test_abi.c", &binary, Link::Shared);
    let run = run(program(&binary)
        .env("BB_TEST_BASE_URL", server.base_url())
        .env("BROWSERBASE_API_KEY", StandInServer::KEY));
    assert_all_checks_passed(&run, 50);
}

/// A program compiled against a newer header than the library it loads can
/// tell at start-up, from `bb_version_number() >= BB_VERSION_NUMBER`.
#[test]
fn a_program_can_refuse_an_older_library_at_run_time() {
    let dir = out_dir("abi-version-check");
    let source = dir.join("check.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\n#include \"browserbase.h\"\n\
         int main(void) {\n\
         if (bb_version_number() < BB_VERSION_NUMBER) {\n\
         fprintf(stderr, \"libbrowserbase %s is older than %s\\n\", bb_version(), BB_VERSION_STRING);\n\
         return 3;\n}\nputs(\"ok\");\nreturn 0;\n}\n",
    )
    .unwrap();
    // As compiled against this header...
    let same = dir.join("same");
    compile(false, CFLAGS, source.to_str().unwrap(), &same, Link::Shared);
    let out = run(&mut program(&same));
    assert!(
        out.status.success() && out.stdout.trim() == "ok",
        "{}",
        out.describe()
    );
    // ...and against a header of the next minor release.
    let newer_include = dir.join("newer");
    std::fs::create_dir_all(&newer_include).unwrap();
    let number = browserbase::ffi::VERSION_NUMBER;
    let bumped = header().replace(
        &format!("#define BB_VERSION_NUMBER 0x{number:06x}"),
        &format!("#define BB_VERSION_NUMBER 0x{:06x}", number + 0x100),
    );
    assert_ne!(
        bumped,
        header(),
        "BB_VERSION_NUMBER not found in the header"
    );
    std::fs::write(newer_include.join("browserbase.h"), bumped).unwrap();
    let newer = dir.join("newer-header");
    let mut flags = vec!["-I", newer_include.to_str().unwrap()];
    flags.extend_from_slice(CFLAGS);
    compile(
        false,
        &flags,
        source.to_str().unwrap(),
        &newer,
        Link::Shared,
    );
    let out = run(&mut program(&newer));
    assert_eq!(out.status.code(), Some(3), "{}", out.describe());
    assert!(out.stderr.contains("is older than"), "{}", out.describe());
}

/// Embedding `libbrowserbase.a` in a shared library of one's own works when
/// that link defines the version node (README, "Installing").
#[test]
fn the_static_library_embeds_in_a_shared_object_that_defines_the_node() {
    let dir = out_dir("abi-embed");
    std::fs::write(
        dir.join("plugin.c"),
        "#include \"browserbase.h\"\nconst char *plugin_version(void) { return bb_version(); }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("plugin.map"),
        "PLUGIN { global: plugin_version; local: *; };\nBROWSERBASE_0 { local: *; };\n\
         BROWSERBASE_0.2 { local: *; } BROWSERBASE_0;\n\
         BROWSERBASE_0.3 { local: *; } BROWSERBASE_0.2;\n",
    )
    .unwrap();
    let so = dir.join("libplugin.so");
    let out = run(
        Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .current_dir(&dir)
            .args(["-shared", "-fPIC", "-I"])
            .arg(manifest_dir().join("include"))
            .arg("plugin.c")
            .arg(libs().profile_dir.join("libbrowserbase.a"))
            .arg("-Wl,--version-script=plugin.map")
            .arg("-o")
            .arg(&so),
    );
    assert!(out.status.success(), "{}", out.describe());
    let names: BTreeSet<String> = exported(&so).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains("plugin_version"), "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with("bb_")),
        "the plugin re-exports the library: {names:?}"
    );
}

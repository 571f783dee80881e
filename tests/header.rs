//! The committed header is exactly what cbindgen generates from the code now,
//! compiles cleanly as C and C++, and documents every function.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    root().join("include/browserbase.h")
}

/// The header cbindgen generates from the sources, with version macros.
fn generate() -> String {
    let mut config =
        cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml parses");
    // The version macros first, then cbindgen.toml's `after_includes` (the
    // extensible structs' BB_<NAME>_INIT macros).
    config.after_includes = Some(format!(
        "\n/* This header's version; bb_version() returns the library's at run time. */\n\
         #define BB_VERSION_MAJOR {}\n#define BB_VERSION_MINOR {}\n#define BB_VERSION_PATCH {}\n\
         #define BB_VERSION_STRING \"{}\"\n\
         /* (major << 16) | (minor << 8) | patch; bb_version_number() is the library's. */\n\
         #define BB_VERSION_NUMBER 0x{:06x}\n\n{}",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
        browserbase::ffi::VERSION_NUMBER,
        config.after_includes.as_deref().unwrap_or(""),
    ));
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    String::from_utf8(out).expect("header is UTF-8")
}

#[test]
fn committed_header_is_current() {
    let generated = generate();
    if std::env::var_os("BB_UPDATE_HEADER").is_some() {
        std::fs::write(header_path(), &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(header_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "include/browserbase.h is stale: it differs from what cbindgen generates from src/.\n\
         Regenerate it with:  BB_UPDATE_HEADER=1 cargo test --test header\n\
         and commit the result."
    );
}

fn compile_header(compiler: &str, args: &[&str], lang: &str) {
    let out = Command::new(compiler)
        .args(args)
        .args([
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-fsyntax-only",
            "-x",
            lang,
        ])
        .arg(header_path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        out.status.success(),
        "{compiler} rejects the header:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn header_compiles_alone_as_c99() {
    compile_header("cc", &["-std=c99"], "c");
}

#[test]
fn header_compiles_alone_as_cpp11() {
    compile_header("c++", &["-std=c++11"], "c++");
}

#[test]
fn header_has_guard_and_extern_c() {
    let h = std::fs::read_to_string(header_path()).unwrap();
    assert!(h.contains("#ifndef BROWSERBASE_H") && h.contains("#define BROWSERBASE_H"));
    assert!(h.contains("extern \"C\" {"));
    assert!(h.contains("typedef enum bb_code {"));
    assert!(h.contains("BB_OK = 0,"));
    assert!(h.contains("typedef struct bb_error bb_error;"));
}

/// Every function declaration is preceded by a comment that says who owns
/// what ("Ownership") or states the function takes no pointer.
#[test]
fn every_function_is_documented_with_ownership() {
    let h = std::fs::read_to_string(header_path()).unwrap();
    let lines: Vec<&str> = h.lines().collect();
    let mut functions = 0;
    for (i, line) in lines.iter().enumerate() {
        // `const char *bb_version(void);` too: the name may follow a `*`.
        let is_decl = (line.contains(" bb_") || line.contains("*bb_"))
            && line.contains('(')
            && !line.starts_with("typedef")
            && !line.starts_with([' ', '*', '/']);
        if !is_decl {
            continue;
        }
        functions += 1;
        let name = line
            .split('(')
            .next()
            .unwrap()
            .rsplit([' ', '*'])
            .next()
            .unwrap();
        let mut doc = Vec::new();
        let mut j = i;
        if j > 0 && lines[j - 1].trim() == "*/" {
            while j > 0 && !lines[j - 1].trim_start().starts_with("/**") {
                j -= 1;
                doc.push(lines[j]);
            }
        }
        assert!(!doc.is_empty(), "{name} has no doc comment in the header");
        let doc = doc.join("\n");
        let takes_pointer = line.contains('*')
            || lines[i..]
                .iter()
                .take_while(|l| !l.contains(';'))
                .any(|l| l.contains('*'));
        if takes_pointer {
            assert!(
                doc.contains("Ownership") || doc.contains("borrowed") || doc.contains("owns"),
                "{name}'s doc does not say who owns its pointers"
            );
        }
    }
    assert!(functions >= 20, "found only {functions} functions");
}

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
    typedef_names(&String::from_utf8(out).expect("header is UTF-8"))
}

/// The header with every use of a type spelled by its typedef name
/// (`bb_code f(bb_error **err)`), not its tag (`enum bb_code f(struct
/// bb_error **err)`), so that a prototype pastes into an FFI as is (koffi
/// rejects `enum`/`struct` in type names; cgo sees `enum bb_code` and
/// `bb_code` as two types). The definitions keep their tags
/// (`typedef enum bb_code {...} bb_code;`, `typedef struct bb_error
/// bb_error;`), so code that spells `enum bb_code` or forward-declares
/// `struct bb_archive_entry` still compiles, and the ABI is the same.
///
/// Why not cbindgen's `style = "type"`: it drops the tags from the
/// definitions (`typedef enum {...} bb_code;`), which breaks such code;
/// `style = "both"`, which keeps them, spells every use with the tag, and
/// no setting mixes the two. cbindgen defines every type before its first
/// use, so the typedef name is always declared where it is used.
fn typedef_names(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    // How many columns the current declaration's first line lost: its
    // continuation lines, aligned under its `(`, move left as much.
    let mut shift = 0usize;
    for line in header.lines() {
        let mut new = String::with_capacity(line.len());
        let mut rest = line;
        let mut removed_before_paren = 0;
        loop {
            // (where, length of "enum " or "struct ")
            let found = ["enum bb_", "struct bb_"]
                .iter()
                .filter_map(|k| rest.find(k).map(|at| (at, k.len() - 3)))
                .min();
            let Some((at, keyword)) = found else {
                new.push_str(rest);
                break;
            };
            let in_line = line.len() - rest.len() + at;
            let before = &rest[..at];
            let is_word_start = before
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            // A definition's tag: `typedef enum bb_code {`, `typedef struct
            // bb_error bb_error;`.
            let defines = line.starts_with("typedef ") && !line.contains('(') && in_line == 8;
            new.push_str(before);
            if is_word_start && !defines {
                if line.find('(').is_some_and(|paren| in_line < paren) {
                    removed_before_paren += keyword;
                }
            } else {
                new.push_str(&rest[at..at + keyword]);
            }
            rest = &rest[at + keyword..];
        }
        let continuation =
            shift > 0 && line.starts_with(' ') && !line.trim_start().starts_with('*');
        if continuation {
            let spaces = line.len() - line.trim_start().len();
            new = new[spaces.min(shift)..].to_owned();
        }
        if line.contains('(') && !line.starts_with(' ') {
            shift = if line.trim_end().ends_with(';') || line.trim_end().ends_with('{') {
                0
            } else {
                removed_before_paren
            };
        } else if line.trim_end().ends_with(';') {
            shift = 0;
        }
        out.push_str(&new);
        out.push('\n');
    }
    out
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

/// Every prototype, struct field and callback type spells types by their
/// typedef names: no `enum ` or `struct ` keyword outside the definitions
/// themselves (`typedef enum bb_code {`, `typedef struct bb_error
/// bb_error;`), so a prototype pastes into koffi and cgo as is.
#[test]
fn the_header_uses_typedef_names_outside_the_definitions() {
    let h = std::fs::read_to_string(header_path()).unwrap();
    let mut in_comment = false;
    for (n, line) in h.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("/*") {
            in_comment = true;
        }
        if in_comment {
            in_comment = !code.contains("*/");
            continue;
        }
        if code.starts_with("//") || code.starts_with('#') {
            continue;
        }
        let definition = code.starts_with("typedef enum bb_") && code.ends_with('{')
            || code.starts_with("typedef struct bb_")
                && (code.ends_with('{') || !code.contains('('));
        if definition {
            continue;
        }
        for keyword in ["enum ", "struct "] {
            let at_word = code.match_indices(keyword).any(|(i, _)| {
                i == 0
                    || !code.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && code.as_bytes()[i - 1] != b'_'
            });
            assert!(
                !at_word,
                "line {}: {keyword:?} outside a definition: {line}",
                n + 1
            );
        }
    }
    // And the tags are still there for code that spells them.
    assert!(h.contains("typedef enum bb_code {"));
    assert!(h.contains("typedef struct bb_archive_entry {"));
    assert!(h.contains("bb_code bb_download_session(const char *api_key,"));
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

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
        std::fs::create_dir_all(man_path().parent().unwrap()).unwrap();
        std::fs::write(man_path(), man_page(&generated)).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(header_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "include/browserbase.h is stale: it differs from what cbindgen generates from src/.\n\
         Regenerate it with:  make header   (BB_UPDATE_HEADER=1 cargo test --test header)\n\
         and commit the result."
    );
}

// ---------------------------------------------------------------------------
// The man page, browserbase(3): made from the header, so it cannot drift.
// ---------------------------------------------------------------------------

fn man_path() -> PathBuf {
    root().join("man/browserbase.3")
}

/// Text for roff: backslashes escaped, no line starting with a control
/// character, hyphens in words left alone.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// `code` spans of a doc comment in bold.
fn roff_inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("\\fB");
            out.push_str(&part.replace('\\', "\\e"));
            out.push_str("\\fR");
        } else {
            out.push_str(&part.replace('\\', "\\e"));
        }
    }
    roff(&out)
}

/// The text of a comment's lines (` * text`), without the markers.
fn comment_text(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let t = l.trim_start();
            let t = t
                .strip_prefix("/**")
                .or_else(|| t.strip_prefix("/*"))
                .unwrap_or(t);
            let t = t.strip_suffix("*/").unwrap_or(t).trim_end();
            let t = t.trim_start();
            t.strip_prefix("* ")
                .or_else(|| t.strip_prefix('*'))
                .unwrap_or(t)
                .to_owned()
        })
        .collect()
}

/// The first sentence of a doc comment, on one line.
fn first_sentence(doc: &[String]) -> String {
    let paragraph: Vec<&str> = doc
        .iter()
        .map(|l| l.trim())
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let text = paragraph.join(" ");
    let bytes = text.as_bytes();
    let mut end = text.len();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            // Not "e.g." / "i.e.".
            if !text[..=i].ends_with("e.g.") && !text[..=i].ends_with("i.e.") {
                end = i + 1;
                break;
            }
        }
    }
    text[..end].to_owned()
}

/// browserbase(3) from the header: its preamble (overview, environment,
/// retries, ownership, callbacks, threads), the error codes with their
/// documentation, and every function with the first sentence of its own.
fn man_page(header: &str) -> String {
    let lines: Vec<&str> = header.lines().collect();
    let mut man = String::new();
    man.push_str(&format!(
        ".\\\" Generated from include/browserbase.h by tests/header.rs (make header); do not edit.\n\
         .TH BROWSERBASE 3 \"\" \"libbrowserbase {}\" \"Library Functions Manual\"\n\
         .SH NAME\nbrowserbase \\- fetch the files a Browserbase browser session downloaded\n\
         .SH SYNOPSIS\n.nf\n.B #include <browserbase.h>\n.PP\n\
         .B cc app.c $(pkg\\-config \\-\\-cflags \\-\\-libs browserbase)\n.fi\n",
        env!("CARGO_PKG_VERSION")
    ));

    // The preamble: the first comment, up to its closing line.
    let end = lines
        .iter()
        .position(|l| l.trim() == "*/")
        .expect("a preamble");
    let preamble = comment_text(&lines[1..end]);
    man.push_str(".SH DESCRIPTION\n");
    let mut in_list = false;
    let mut started = false;
    let mut paragraph_break = false;
    for line in &preamble {
        if line.starts_with("Generated by")
            || line.starts_with("Regenerate")
            || line.starts_with("browserbase(3)")
        {
            continue;
        }
        if !started {
            // The title line is the NAME section.
            started = true;
            continue;
        }
        // A heading: capitals, then perhaps a remark in parentheses.
        let word = line.split(" (").next().unwrap();
        let is_heading =
            !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == ' ');
        if is_heading {
            man.push_str(&format!(".SH {}\n", roff(line)));
            paragraph_break = false;
            in_list = false;
            continue;
        }
        if line.is_empty() {
            paragraph_break = true;
            in_list = false;
            continue;
        }
        if std::mem::take(&mut paragraph_break) && !man.ends_with(".SH DESCRIPTION\n") {
            man.push_str(".PP\n");
        }
        if let Some(item) = line.strip_prefix("- ") {
            man.push_str(".IP \\(bu 2\n");
            man.push_str(&roff(item));
            man.push('\n');
            in_list = true;
        } else if in_list {
            man.push_str(&roff(line.trim_start()));
            man.push('\n');
        } else {
            man.push_str(&roff(line));
            man.push('\n');
        }
    }

    // The codes: `/** doc */ NAME = value,` inside `typedef enum bb_code`.
    man.push_str(
        ".SH RETURN VALUE\nEvery function that can fail returns a\n.BR bb_code ;\n\
                  their numbers are part of the ABI and never change.\n",
    );
    let start = lines
        .iter()
        .position(|l| l.starts_with("typedef enum bb_code {"))
        .expect("enum bb_code");
    let mut doc: Vec<&str> = Vec::new();
    for line in &lines[start + 1..] {
        let t = line.trim();
        if t.starts_with('}') {
            break;
        }
        if let Some((name, value)) = t.trim_end_matches(',').split_once(" = ") {
            man.push_str(&format!(
                ".TP\n.BR {name} \" ({value})\"\n{}\n",
                roff_inline(&comment_text(&doc).join(" ").trim().replace("  ", " "))
            ));
            doc.clear();
        } else {
            doc.push(line);
        }
    }

    // Every function, in the header's order, with its first sentence.
    man.push_str(".SH FUNCTIONS\nEach is documented in full in\n.IR browserbase.h .\n");
    for (i, line) in lines.iter().enumerate() {
        let is_decl = line.contains(" bb_")
            && line.contains('(')
            && !line.starts_with("typedef")
            && !line.starts_with([' ', '*', '/']);
        if !is_decl {
            continue;
        }
        let name = line
            .split('(')
            .next()
            .unwrap()
            .rsplit([' ', '*'])
            .next()
            .unwrap();
        let mut j = i;
        let mut doc = Vec::new();
        while j > 0 && !lines[j - 1].trim_start().starts_with("/**") {
            j -= 1;
            doc.push(lines[j]);
        }
        doc.reverse();
        man.push_str(&format!(
            ".TP\n.BR {name} ()\n{}\n",
            roff_inline(&first_sentence(&comment_text(&doc)))
        ));
    }
    man.push_str(".SH SEE ALSO\n.BR pkg\\-config (1),\n.BR ldconfig (8)\n");
    man
}

#[test]
fn committed_man_page_is_generated_from_the_header() {
    let header = std::fs::read_to_string(header_path()).unwrap();
    let committed = std::fs::read_to_string(man_path()).unwrap_or_default();
    assert!(
        committed == man_page(&header),
        "man/browserbase.3 is stale: regenerate it with  make header  and commit it"
    );
}

/// groff renders the man page without a single warning, and what it shows
/// has every section and every function.
#[test]
fn man_page_renders_without_warnings() {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=80n"])
        .arg(man_path())
        .output()
        .expect("groff (.ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "groff: {stderr}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Overstrike bold (c\bc) read as plain text.
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        plain.push(c);
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "ENVIRONMENT",
        "RETRIES",
        "OWNERSHIP",
        "CALLBACKS",
        "THREADS",
        "RETURN VALUE",
        "FUNCTIONS",
    ] {
        assert!(
            plain.contains(&format!("\n{section}")),
            "no {section} section:\n{plain}"
        );
    }
    let header = std::fs::read_to_string(header_path()).unwrap();
    for name in [
        "bb_download_session",
        "bb_client_free",
        "bb_set_log_callback",
        "BB_ERR_INTERNAL",
        "BROWSERBASE_API_KEY",
    ] {
        assert!(
            header.contains(name) && plain.contains(name),
            "{name} missing"
        );
    }
}

/// The header reads like a manual: the preamble says what a user needs
/// first, and the functions come downloading first, then clients, waiting,
/// archives, errors and logging.
#[test]
fn header_is_ordered_like_a_manual_with_its_rules_up_front() {
    let h = std::fs::read_to_string(header_path()).unwrap();
    let preamble = &h[..h.find("*/").unwrap()];
    for needle in [
        "ENVIRONMENT",
        "BROWSERBASE_API_KEY",
        "BROWSERBASE_LOG",
        "RETRIES",
        "never retried",
        "OWNERSHIP",
        "*err must be NULL on entry",
        "CALLBACKS",
        "longjmp",
        "C++ exception",
        "may call the library",
        "THREADS",
        "must not be freed",
    ] {
        assert!(preamble.contains(needle), "the preamble lacks {needle:?}");
    }
    assert!(!preamble.contains("Every function is safe to call from many threads at once."));
    let position = |name: &str| {
        h.find(&format!(" {name}("))
            .or_else(|| h.find(&format!("*{name}(")))
            .unwrap_or_else(|| panic!("{name} not declared"))
    };
    let order = [
        "bb_download_session",
        "bb_client_download",
        "bb_client_builder_new",
        "bb_client_free",
        "bb_wait_for_downloads",
        "bb_archive_open_file",
        "bb_error_code",
        "bb_set_log_callback",
    ];
    for pair in order.windows(2) {
        assert!(
            position(pair[0]) < position(pair[1]),
            "{} should come before {}",
            pair[0],
            pair[1]
        );
    }
    // The first function a reader meets is the one most of them need.
    let first = h
        .lines()
        .find(|l| l.contains(" bb_") && l.contains('(') && !l.starts_with(['t', ' ', '*', '/']))
        .unwrap();
    assert!(first.contains(" bb_download_session("), "{first}");
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

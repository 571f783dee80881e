//! Every fenced code block of README.md runs as written, in order, against
//! the stand-in server (`--demo`, whose session ids the README uses):
//!
//! - `sh` blocks run with `bash -e` in a scratch directory that looks like the
//!   checkout (`include`, `examples`, `bindings` and `target` are links to it;
//!   `make` runs the checkout's Makefile), with `HOME` inside the scratch
//!   directory, so `make install PREFIX=$HOME/.local` installs there. A
//!   program `app` or `static-app` a block builds is then run and must
//!   succeed.
//! - `c` and `cpp` blocks are saved as `app.c` / `app.cpp` (the README's
//!   build lines compile them), and are also compiled here with `-Wall
//!   -Wextra -Werror` and run. A block with no `main` is wrapped: a
//!   declaration is checked at file scope, statements run inside `main`.
//! - `python` blocks run with the package from `bindings/python` and the
//!   release library.
//!
//! A block that is not run here says so in an HTML comment on the line before
//! it: `<!-- readme-test: skip (why) -->`, `<!-- readme-test: first-line-only
//! (why) -->`, or `<!-- readme-test: run-by (FILE, ...) -->` for a snippet
//! another suite runs (the Node and Go ones). Any other block, or one in
//! another language, fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use support::cbuild::{manifest_dir, out_dir, profile_dir, program, run, Run};
use support::StandInServer;

#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    code: String,
    /// The `readme-test:` marker before it, if any.
    marker: Option<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let marker = lines[..start]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().strip_prefix("<!-- readme-test:"))
            .map(|m| m.trim_end_matches("-->").trim().to_owned());
        let mut code = String::new();
        i += 1;
        while i < lines.len() && lines[i] != "```" {
            code.push_str(lines[i]);
            code.push('\n');
            i += 1;
        }
        assert!(
            i < lines.len(),
            "README.md:{}: unclosed code block",
            start + 1
        );
        out.push(Block {
            line: start + 1,
            lang: lang.trim().to_owned(),
            code,
            marker,
        });
        i += 1;
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(manifest_dir().join("README.md")).unwrap()
}

const RUNNABLE: &[&str] = &["sh", "c", "cpp", "python"];

/// Every block is one the runner runs, or is marked as not run on purpose.
#[test]
fn every_readme_block_is_runnable_or_marked() {
    let all = blocks(&readme());
    assert!(all.len() >= 10, "only {} blocks found", all.len());
    for block in &all {
        match &block.marker {
            Some(m) if m.starts_with("skip (") || m.starts_with("first-line-only (") => {}
            Some(m) if m.starts_with("run-by (") => {
                // Run by another suite: the file named must exist and read
                // the README.
                let file = m["run-by (".len()..].split([',', ')']).next().unwrap();
                let text = std::fs::read_to_string(manifest_dir().join(file))
                    .unwrap_or_else(|e| panic!("README.md:{}: {file}: {e}", block.line));
                assert!(
                    text.contains("README"),
                    "README.md:{}: {file} does not read the README",
                    block.line
                );
            }
            Some(m) => panic!("README.md:{}: unknown marker {m:?}", block.line),
            None => assert!(
                RUNNABLE.contains(&block.lang.as_str()),
                "README.md:{}: a ```{} block is neither runnable ({RUNNABLE:?}) nor marked \
                 <!-- readme-test: skip (why) -->",
                block.line,
                block.lang
            ),
        }
    }
    // The README starts with exactly the two commands of a fresh machine.
    let first = &all[0];
    let commands: Vec<&str> = first
        .code
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    assert_eq!(commands, ["make demo", "make test"], "{first:?}");
}

struct Runner {
    dir: PathBuf,
    home: PathBuf,
    server: StandInServer,
    release: PathBuf,
}

impl Runner {
    fn new() -> Runner {
        let dir = out_dir("readme").join("scratch");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let target = profile_dir().parent().unwrap().to_path_buf();
        for name in ["include", "examples", "bindings"] {
            std::os::unix::fs::symlink(manifest_dir().join(name), dir.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(&target, dir.join("target")).unwrap();
        // `make` here is the checkout's Makefile, with this test's target
        // directory (CARGO_TARGET_DIR below).
        let bin = dir.join(".bin");
        std::fs::create_dir_all(&bin).unwrap();
        let make = bin.join("make");
        let real_make = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("make"))
            .find(|p| p.is_file())
            .expect("make on the PATH");
        std::fs::write(
            &make,
            format!(
                "#!/bin/sh\nexec '{}' --no-print-directory -C '{}' \"$@\"\n",
                real_make.display(),
                manifest_dir().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&make, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Runner {
            dir,
            home,
            server: StandInServer::start_with(&["--demo"]),
            release: target.join("release"),
        }
    }

    /// A command in the scratch directory with the user's environment: the
    /// server's URL and key, HOME inside the scratch directory.
    fn command(&self, exe: &Path) -> Command {
        let mut command = program(exe);
        let path = format!(
            "{}:{}",
            self.dir.join(".bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        command
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("CARGO_TARGET_DIR", self.release.parent().unwrap())
            .env("CARGO_HOME", cargo_home())
            .env("RUSTUP_HOME", rustup_home())
            .env("BROWSERBASE_BASE_URL", self.server.base_url())
            .env("BROWSERBASE_API_KEY", StandInServer::KEY)
            .env_remove("PKG_CONFIG_PATH")
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS");
        command
    }

    fn check(&self, block: &Block, what: &str, run: Run) -> Run {
        assert!(
            run.status.success() && !run.timed_out,
            "README.md:{} ({what}) failed:\n{}\n--- the block ---\n{}",
            block.line,
            run.describe(),
            block.code
        );
        run
    }

    fn mtime(&self, name: &str) -> Option<SystemTime> {
        std::fs::metadata(self.dir.join(name))
            .and_then(|m| m.modified())
            .ok()
    }

    fn run_app(&self, block: &Block, name: &str) {
        let mut command = self.command(&self.dir.join(name));
        // Where the README's pkg-config line's program finds the library.
        command.env("LD_LIBRARY_PATH", self.home.join(".local/lib"));
        self.check(block, &format!("running ./{name}"), run(&mut command));
        let zip = std::fs::read(self.dir.join("downloads.zip")).unwrap_or_default();
        assert!(
            zip.starts_with(b"PK\x03\x04"),
            "README.md:{}: no archive",
            block.line
        );
    }

    fn sh(&self, block: &Block, code: &str) {
        let before: Vec<_> = ["app", "static-app"]
            .iter()
            .map(|n| self.mtime(n))
            .collect();
        let mut bash = self.command(Path::new("bash"));
        bash.args(["-e", "-o", "pipefail", "-c", code]);
        self.check(block, "sh", run(&mut bash));
        for (name, before) in ["app", "static-app"].iter().zip(before) {
            if self.mtime(name) != before {
                self.run_app(block, name);
            }
        }
    }

    fn c_or_cpp(&self, block: &Block, cxx: bool) {
        let (file, compiler, std) = if cxx {
            (
                "app.cpp",
                std::env::var("CXX").unwrap_or_else(|_| "c++".into()),
                "-std=c++17",
            )
        } else {
            (
                "app.c",
                std::env::var("CC").unwrap_or_else(|_| "cc".into()),
                "-std=c99",
            )
        };
        let has_main = block.code.contains("int main(");
        let declaration = !has_main && block.code.trim_start().starts_with("bb_code ");
        let source = if has_main {
            // What the README's build lines compile.
            std::fs::write(self.dir.join(file), &block.code).unwrap();
            block.code.clone()
        } else if declaration {
            format!("#include \"browserbase.h\"\n{}", block.code)
        } else {
            format!(
                "#include <stdio.h>\n#include \"browserbase.h\"\nint main(void) {{\n\
                 bb_error *err = NULL;\n{}\nbb_error_free(err);\nreturn 0;\n}}\n",
                block.code
            )
        };
        let path = self
            .dir
            .join(format!("block-{}.{}", block.line, &file[4..]));
        std::fs::write(&path, source).unwrap();
        let exe = self.dir.join(format!("block-{}", block.line));
        let mut cc = Command::new(compiler);
        cc.current_dir(&self.dir)
            .args([std, "-Wall", "-Wextra", "-Werror", "-Iinclude"])
            .arg(&path);
        if declaration {
            cc.arg("-fsyntax-only");
        } else {
            cc.arg("-o")
                .arg(&exe)
                .arg(format!("-L{}", self.release.display()))
                .arg("-lbrowserbase")
                .arg(format!("-Wl,-rpath,{}", self.release.display()));
        }
        let compiled = self.check(block, "compiling with -Wall -Wextra -Werror", run(&mut cc));
        assert!(
            compiled.stderr.trim().is_empty(),
            "README.md:{}: warnings\n{}",
            block.line,
            compiled.describe()
        );
        if !declaration {
            self.check(block, "running it", run(&mut self.command(&exe)));
        }
    }

    fn python(&self, block: &Block) {
        let mut python = self.command(Path::new("python3"));
        python
            .env("PYTHONPATH", manifest_dir().join("bindings/python"))
            .env(
                "BROWSERBASE_C_LIBRARY",
                self.release.join("libbrowserbase.so"),
            )
            .args(["-c", &block.code]);
        self.check(block, "python", run(&mut python));
    }
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"))
}

fn rustup_home() -> PathBuf {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".rustup"))
}

/// The README from top to bottom, every block in order.
#[test]
fn every_readme_block_runs_as_written() {
    let runner = Runner::new();
    let mut ran = 0;
    for block in blocks(&readme()) {
        match block.marker.as_deref() {
            Some(m) if m.starts_with("skip") || m.starts_with("run-by") => continue,
            Some(m) if m.starts_with("first-line-only") => {
                let first = block.code.lines().next().unwrap().to_owned();
                runner.sh(&block, &first);
            }
            _ => match block.lang.as_str() {
                "sh" => runner.sh(&block, &block.code),
                "c" => runner.c_or_cpp(&block, false),
                "cpp" => runner.c_or_cpp(&block, true),
                "python" => runner.python(&block),
                other => panic!("README.md:{}: ```{other} is not runnable", block.line),
            },
        }
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} blocks ran");
    // What the Installing blocks left: the uninstall block removed it all.
    assert!(!runner.home.join(".local/lib/libbrowserbase.so").exists());
    assert!(runner
        .dir
        .join("stage/usr/lib/libbrowserbase.so.0")
        .exists());
    assert!(runner.dir.join("build/cmake/fetch").exists());
}

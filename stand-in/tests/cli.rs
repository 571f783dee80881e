//! The stand-in server's command line. (Its HTTP behaviour is tested from the
//! library's side, in tests/stand_in_server.rs at the workspace root, with the
//! shared test support; this crate's own integration tests also make `cargo
//! test` build the server binary that those tests run.)

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bb-stand-in-server"))
        .args(args)
        .output()
        .expect("the stand-in server runs")
}

#[test]
fn help_prints_the_usage_and_succeeds() {
    let out = run(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("usage: bb-stand-in-server"), "{text}");
    assert!(text.contains("--sessions DIR"), "{text}");
}

#[test]
fn bad_arguments_exit_2_with_the_reason_and_the_usage() {
    for (args, reason) in [
        (
            &["--sync-polls", "many"][..],
            "--sync-polls needs a whole number",
        ),
        (
            &["--idle-timeout-ms", "0"],
            "--idle-timeout-ms needs a positive number",
        ),
        (&["--sessions", "/nonexistent/stand-in"], "not a directory"),
        (&["--listen"], "--listen needs a value"),
        (&["--frobnicate"], "unknown argument"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(reason), "{args:?}: {text}");
        assert!(
            text.contains("usage: bb-stand-in-server"),
            "{args:?}: {text}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn an_address_in_use_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["--listen", &addr]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
}

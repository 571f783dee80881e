//! The design card's transport, for `make bench` (benches/bench.py runs it
//! next to `bb_bench`): a plain `reqwest::blocking` client, which drives its
//! own runtime on a background thread, doing the same work as the library.
//!
//! ```text
//! reqwest_blocking file SESSION OUT        one download to a file
//! reqwest_blocking seq  SESSION N OUTDIR   N downloads one after another, one client
//! ```
//!
//! Settings from BROWSERBASE_BASE_URL and BROWSERBASE_API_KEY. Prints
//! `ok seconds=S maxrss_kib=K bytes=B`, like bb_bench (seconds around the
//! downloads only). No retries, no ZIP check, no atomic rename: the bare
//! transport, so any cost the library adds on top counts against it.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::exit;
use std::time::Instant;

fn download(client: &reqwest::blocking::Client, url: &str, key: &str, out: &Path) -> u64 {
    let mut response = client
        .get(url)
        .header("X-BB-API-Key", key)
        .header("Accept", "application/zip")
        .send()
        .unwrap_or_else(|e| fail(&format!("GET {url}: {e}")));
    if !response.status().is_success() {
        fail(&format!("GET {url}: HTTP {}", response.status()));
    }
    let file = File::create(out).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    response
        .copy_to(&mut writer)
        .unwrap_or_else(|e| fail(&format!("reading {url}: {e}")))
}

fn fail(message: &str) -> ! {
    eprintln!("reqwest_blocking: {message}");
    exit(1)
}

fn maxrss_kib() -> i64 {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_maxrss
    }
}

fn main() {
    // `cargo bench` passes --bench; this program is run by bench.py instead.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.is_empty() {
        return;
    }
    let base = std::env::var("BROWSERBASE_BASE_URL")
        .unwrap_or_else(|_| fail("BROWSERBASE_BASE_URL is not set"));
    let key = std::env::var("BROWSERBASE_API_KEY")
        .unwrap_or_else(|_| fail("BROWSERBASE_API_KEY is not set"));
    let client = reqwest::blocking::Client::builder()
        .build()
        .unwrap_or_else(|e| fail(&format!("client: {e}")));
    let url = |session: &str| {
        format!(
            "{}/v1/sessions/{session}/downloads",
            base.trim_end_matches('/')
        )
    };
    let started = Instant::now();
    let bytes = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["file", session, out] => download(&client, &url(session), &key, Path::new(out)),
        ["seq", session, n, dir] => {
            let n: u32 = n.parse().unwrap_or_else(|_| fail("N is not a number"));
            (0..n)
                .map(|i| {
                    download(
                        &client,
                        &url(session),
                        &key,
                        &Path::new(dir).join(format!("r-{i}.zip")),
                    )
                })
                .sum()
        }
        _ => fail("usage: reqwest_blocking file SESSION OUT | seq SESSION N OUTDIR"),
    };
    println!(
        "ok seconds={:.6} maxrss_kib={} bytes={bytes}",
        started.elapsed().as_secs_f64(),
        maxrss_kib()
    );
}

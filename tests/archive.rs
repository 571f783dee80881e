//! Listing and extracting archives: the service's own (from the stand-in
//! server) and hostile ones built here, in code. Every refusal is checked to
//! leave the destination exactly as it was and nothing outside it.

mod support;

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use browserbase::ffi::{self, bb_code};
use browserbase::{Archive, Client, ClientConfig, EntryKind, ErrorKind, ExtractLimits};
use support::StandInServer;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const KEY: Option<&str> = Some(StandInServer::KEY);
const DEMO: &str = StandInServer::DEMO_SESSION;
/// The stand-in's fixed download times of the demo files.
const PDF_MS: u64 = 1_719_265_797_164;
const CSV_MS: u64 = 1_719_265_797_171;

/// The DOS time of a download time: seconds, rounded down to even.
fn dos_secs(ms: u64) -> i64 {
    (ms / 1000 / 2 * 2) as i64
}

// ---------------------------------------------------------------------------
// Building archives
// ---------------------------------------------------------------------------

fn options(method: CompressionMethod) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(zip::DateTime::from_date_and_time(2024, 6, 24, 21, 49, 56).unwrap())
}

/// A deflated archive of `files`, in order.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(CompressionMethod::Deflated, files)
}

fn zip_with(method: CompressionMethod, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        if name.ends_with('/') {
            w.add_directory(*name, options(method)).unwrap();
        } else {
            w.start_file(*name, options(method)).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// Offsets of every `sig` record (local headers: PK\3\4; central: PK\1\2).
fn records(bytes: &[u8], sig: &[u8; 4]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w == sig)
        .map(|(i, _)| i)
        .collect()
}

const LOCAL: &[u8; 4] = b"PK\x03\x04";
const CENTRAL: &[u8; 4] = b"PK\x01\x02";

fn put_u16(bytes: &mut [u8], at: usize, v: u16) {
    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Replaces every occurrence of `from` by `to` (same length): renames an
/// entry in both its local and its central header.
fn patch_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(hits >= 2, "expected the name in both headers, found {hits}");
}

// ---------------------------------------------------------------------------
// Watching the file system
// ---------------------------------------------------------------------------

/// Everything under `root`: relative path -> file contents (None for a
/// directory, the target for a link).
fn tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, Some(target.to_string_lossy().as_bytes().to_vec()));
            } else if ft.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A scratch area: `root/out` is the destination, with a file already in
/// it; everything else under `root` is "outside".
struct Scratch {
    root: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("out")).unwrap();
        std::fs::write(root.path().join("out/keep.txt"), b"mine").unwrap();
        std::fs::write(root.path().join("outside.txt"), b"outside").unwrap();
        Scratch { root }
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    fn out(&self) -> PathBuf {
        self.root.path().join("out")
    }
}

/// Extraction of `bytes` must fail with `InvalidArchive` (at open or at
/// extraction) and change nothing anywhere under the scratch root.
fn assert_refused(bytes: &[u8], limits: &ExtractLimits, expect_in_message: &str) -> String {
    let scratch = Scratch::new();
    let before = tree(scratch.root());
    let message = match Archive::from_bytes(bytes.to_vec()) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidArchive, "{e}");
            e.message().to_owned()
        }
        Ok(archive) => {
            let e = archive.extract_to(&scratch.out(), limits).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArchive, "{e}");
            e.message().to_owned()
        }
    };
    assert!(
        message.contains(expect_in_message),
        "{expect_in_message:?} not in: {message}"
    );
    assert_eq!(tree(scratch.root()), before, "the file system changed");
    // The same archive through a file and the one-call C function.
    let zip_path = scratch.root().join("hostile.zip");
    std::fs::write(&zip_path, bytes).unwrap();
    let before = tree(scratch.root());
    if *limits == ExtractLimits::default() {
        let code = c_extract(&zip_path, &scratch.out());
        assert_eq!(code, bb_code::BB_ERR_INVALID_ARCHIVE);
        assert_eq!(
            tree(scratch.root()),
            before,
            "the C call changed the file system"
        );
    }
    message
}

fn c_extract(zip: &Path, dir: &Path) -> bb_code {
    let zip = CString::new(zip.as_os_str().as_encoded_bytes()).unwrap();
    let dir = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let mut err = std::ptr::null_mut();
    let code = ffi::bb_archive_extract(zip.as_ptr(), dir.as_ptr(), &mut err);
    assert_eq!(code == bb_code::BB_OK, err.is_null());
    ffi::bb_error_free(err);
    code
}

// ---------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------

fn demo_archive() -> Vec<u8> {
    let server = StandInServer::start_with(&["--demo"]);
    let mut config = ClientConfig::default();
    config.set_base_url(&server.base_url()).unwrap();
    Client::new(config)
        .unwrap()
        .download_to_vec(KEY, DEMO)
        .unwrap()
}

#[test]
fn the_service_archive_lists_original_names_sizes_and_times() {
    let bytes = demo_archive();
    let archive = Archive::from_bytes(bytes.clone()).unwrap();
    let mut rows: Vec<_> = archive
        .entries()
        .iter()
        .map(|e| {
            (
                e.original_name().to_owned(),
                e.name().to_owned(),
                e.download_time_ms(),
                e.mtime_unix(),
                e.kind(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (
                "data.csv".to_owned(),
                format!("data-{CSV_MS}.csv"),
                Some(CSV_MS),
                Some(dos_secs(CSV_MS)),
                EntryKind::File
            ),
            (
                "report.pdf".to_owned(),
                format!("report-{PDF_MS}.pdf"),
                Some(PDF_MS),
                Some(dos_secs(PDF_MS)),
                EntryKind::File
            ),
        ]
    );
    let csv = archive
        .entries()
        .iter()
        .find(|e| e.original_name() == "data.csv")
        .unwrap();
    assert_eq!(csv.size(), 134);
    assert!(csv.compressed_size() > 0);

    // The same listing from a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("downloads.zip");
    std::fs::write(&path, &bytes).unwrap();
    let from_file = Archive::open_file(&path).unwrap();
    assert_eq!(from_file.entries(), archive.entries());
}

#[test]
fn the_empty_archive_lists_nothing_and_extracts_nothing() {
    let archive = Archive::from_bytes(browserbase::EMPTY_ARCHIVE.to_vec()).unwrap();
    assert!(archive.is_empty());
    let scratch = Scratch::new();
    let before = tree(scratch.root());
    let written = archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap();
    assert!(written.is_empty());
    assert_eq!(tree(scratch.root()), before);
}

#[test]
fn opening_reports_missing_files_and_non_archives() {
    let dir = tempfile::tempdir().unwrap();
    let e = Archive::open_file(&dir.path().join("nope.zip")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("nope.zip"), "{e}");
    let e = Archive::open_file(dir.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    let page = dir.path().join("page.zip");
    std::fs::write(&page, b"<html>Sign in</html>").unwrap();
    let e = Archive::open_file(&page).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArchive, "{e}");
    assert!(e.message().contains("page.zip"), "{e}");
}

// ---------------------------------------------------------------------------
// Extracting what the service sends
// ---------------------------------------------------------------------------

#[test]
fn the_service_archive_extracts_under_original_names_with_their_times() {
    let bytes = demo_archive();
    let expected: BTreeMap<String, Vec<u8>> = {
        let mut z = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut data).unwrap();
                (
                    browserbase::original_name(&f.name().unwrap()).into_owned(),
                    data,
                )
            })
            .collect()
    };
    let scratch = Scratch::new();
    let archive = Archive::from_bytes(bytes).unwrap();
    let written = archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap();
    let mut paths: Vec<_> = written.iter().map(|x| x.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            scratch.out().join("data.csv"),
            scratch.out().join("report.pdf")
        ]
    );
    for (name, data) in &expected {
        assert_eq!(
            &std::fs::read(scratch.out().join(name)).unwrap(),
            data,
            "{name}"
        );
    }
    // Only the two files joined keep.txt: no temporary directory is left.
    let names: Vec<_> = tree(&scratch.out()).into_keys().collect();
    assert_eq!(names, ["data.csv", "keep.txt", "report.pdf"]);
    // Each file's time is the entry's (the stand-in stamps DOS time in UTC).
    let mtime = std::fs::metadata(scratch.out().join("report.pdf"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(mtime as i64, dos_secs(PDF_MS));
}

#[test]
fn files_already_there_are_replaced_and_others_kept() {
    let bytes = zip_of(&[("report-1719265797164.pdf", b"new pdf")]);
    let scratch = Scratch::new();
    std::fs::write(scratch.out().join("report.pdf"), b"old pdf").unwrap();
    // A link at a file's own path is replaced, never followed.
    std::os::unix::fs::symlink(
        scratch.root().join("outside.txt"),
        scratch.out().join("x.txt"),
    )
    .unwrap();
    let archive = Archive::from_bytes(bytes).unwrap();
    archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap();
    assert_eq!(
        std::fs::read(scratch.out().join("report.pdf")).unwrap(),
        b"new pdf"
    );
    assert_eq!(
        std::fs::read(scratch.out().join("keep.txt")).unwrap(),
        b"mine"
    );

    let archive = Archive::from_bytes(zip_of(&[("x-1719265797164.txt", b"x")])).unwrap();
    archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap();
    assert_eq!(
        std::fs::read(scratch.root().join("outside.txt")).unwrap(),
        b"outside"
    );
    assert!(!std::fs::symlink_metadata(scratch.out().join("x.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn entries_with_one_original_name_keep_their_stored_names() {
    let bytes = zip_of(&[
        ("report-1719265797164.pdf", b"first"),
        ("report-1719265799999.pdf", b"second"),
        ("data-1719265797171.csv", b"csv"),
    ]);
    let scratch = Scratch::new();
    let archive = Archive::from_bytes(bytes).unwrap();
    let written = archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap();
    assert_eq!(
        written.iter().map(|x| x.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let out = scratch.out();
    assert_eq!(
        std::fs::read(out.join("report-1719265797164.pdf")).unwrap(),
        b"first"
    );
    assert_eq!(
        std::fs::read(out.join("report-1719265799999.pdf")).unwrap(),
        b"second"
    );
    assert_eq!(std::fs::read(out.join("data.csv")).unwrap(), b"csv");
    assert!(!out.join("report.pdf").exists());
}

#[test]
fn subdirectories_are_created_inside_and_a_missing_dir_is_made() {
    let bytes = zip_of(&[
        ("docs/", b""),
        ("docs/a-1719265797164.txt", b"a"),
        ("./docs//b.txt", b"b"),
        ("empty/", b""),
    ]);
    let scratch = Scratch::new();
    let dest = scratch.root().join("new");
    Archive::from_bytes(bytes)
        .unwrap()
        .extract_to(&dest, &ExtractLimits::default())
        .unwrap();
    let names: Vec<_> = tree(&dest).into_keys().collect();
    assert_eq!(names, ["docs/", "docs/a.txt", "docs/b.txt", "empty/"]);
}

#[test]
fn a_symlink_or_file_in_the_way_of_a_directory_refuses_everything() {
    let bytes = zip_of(&[("a.txt", b"a"), ("docs/b.txt", b"b")]);
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.root().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(scratch.root().join("elsewhere"), scratch.out().join("docs"))
        .unwrap();
    let before = tree(scratch.root());
    let archive = Archive::from_bytes(bytes.clone()).unwrap();
    let e = archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("symbolic link"), "{e}");
    assert_eq!(tree(scratch.root()), before);

    let scratch = Scratch::new();
    std::fs::write(scratch.out().join("docs"), b"a file").unwrap();
    std::fs::create_dir(scratch.out().join("a.txt")).unwrap();
    let before = tree(scratch.root());
    let e = archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("in the way"), "{e}");
    assert_eq!(tree(scratch.root()), before);
}

#[test]
fn a_failed_extraction_into_a_new_dir_removes_it() {
    let scratch = Scratch::new();
    let dest = scratch.root().join("new");
    let before = tree(scratch.root());
    let bytes = zip_of(&[("ok.txt", b"fine"), ("../evil.txt", b"x")]);
    let e = Archive::from_bytes(bytes)
        .unwrap()
        .extract_to(&dest, &ExtractLimits::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArchive);
    assert_eq!(tree(scratch.root()), before);
    // A missing parent is not created.
    let e = Archive::from_bytes(zip_of(&[("a", b"a")]))
        .unwrap()
        .extract_to(&scratch.root().join("x/y"), &ExtractLimits::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
}

// ---------------------------------------------------------------------------
// Hostile archives
// ---------------------------------------------------------------------------

#[test]
fn traversal_is_refused() {
    for name in [
        "../evil.txt",
        "a/../../evil.txt",
        "a/b/../../../evil.txt",
        "docs/..",
    ] {
        let bytes = zip_of(&[("fine.txt", b"fine"), (name, b"evil")]);
        let m = assert_refused(&bytes, &ExtractLimits::default(), "\"..\"");
        assert!(
            m.contains("unsafe") && m.contains("nothing was extracted"),
            "{m}"
        );
    }
}

#[test]
fn absolute_paths_and_drive_letters_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("evil.txt");
    let absolute = target.to_str().unwrap().to_owned();
    let bytes = zip_of(&[("fine.txt", b"fine"), (absolute.as_str(), b"evil")]);
    assert_refused(&bytes, &ExtractLimits::default(), "absolute");
    assert!(!target.exists());
    for name in ["C:/evil.txt", "c:evil.txt", "Z:\\evil.txt"] {
        let bytes = zip_of(&[(name, b"evil")]);
        let m = assert_refused(&bytes, &ExtractLimits::default(), "");
        assert!(m.contains("drive letter") || m.contains("backslash"), "{m}");
    }
}

#[test]
fn backslashes_and_control_characters_are_refused() {
    for (name, why) in [
        ("..\\evil.txt", "backslash"),
        ("dir\\file.txt", "backslash"),
        ("evil\n.txt", "control character"),
        ("evil\x1b[31m.txt", "control character"),
    ] {
        let bytes = zip_of(&[(name, b"x")]);
        assert_refused(&bytes, &ExtractLimits::default(), why);
    }
}

#[test]
fn names_from_an_archive_reach_messages_escaped() {
    // A C1 control (U+0085, NEL: a newline to some terminals and loggers)
    // in an entry name, and a directory in the way of that entry: whatever
    // refuses it, the message names the entry with the control escaped,
    // never raw (it was printed as is in "cannot write ...: a directory is
    // in the way").
    let name = "evil\u{85}name.txt";
    let bytes = zip_of(&[(name, b"x")]);
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.out().join(name)).unwrap();
    let before = tree(scratch.root());
    let archive = Archive::from_bytes(bytes).unwrap();
    let e = archive
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap_err();
    let m = e.message();
    assert!(!m.chars().any(char::is_control), "{m:?}");
    assert!(m.contains(r"evil\u{85}name.txt"), "{m:?}");
    assert_eq!(tree(scratch.root()), before);
}

#[test]
fn symlink_entries_are_refused() {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("fine.txt", options(CompressionMethod::Stored))
        .unwrap();
    w.write_all(b"fine").unwrap();
    w.add_symlink("link", "/etc/passwd", options(CompressionMethod::Stored))
        .unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let archive = Archive::from_bytes(bytes.clone()).unwrap();
    assert_eq!(archive.entries()[1].kind(), EntryKind::Symlink);
    assert_refused(&bytes, &ExtractLimits::default(), "symbolic link");
}

#[test]
fn names_that_collide_are_refused() {
    // Two entries for one path once "." and empty components are dropped.
    let bytes = zip_of(&[("a.txt", b"1"), ("./a.txt", b"2")]);
    assert_refused(&bytes, &ExtractLimits::default(), "would both be written");
    // A file where another entry needs a directory.
    let bytes = zip_of(&[("docs", b"1"), ("docs/a.txt", b"2")]);
    assert_refused(&bytes, &ExtractLimits::default(), "as a directory");
    // The same name twice (a listing could not tell them apart).
    let mut bytes = zip_of(&[("a.txt", b"1"), ("b.txt", b"2")]);
    patch_all(&mut bytes, b"b.txt", b"a.txt");
    assert_refused(&bytes, &ExtractLimits::default(), "same name");
    // A NUL byte in a name (C would see a shorter, harmless-looking name).
    let mut bytes = zip_of(&[("evil.txt.exe", b"1")]);
    patch_all(&mut bytes, b"evil.txt.exe", b"evil.txt\0exe");
    assert_refused(&bytes, &ExtractLimits::default(), "NUL");
}

#[test]
fn zip_bombs_are_refused_by_total_size() {
    let mib = vec![0u8; 1 << 20];
    let bytes = zip_of(&[("a.bin", &mib), ("b.bin", &mib), ("c.bin", &mib)]);
    let mut limits = ExtractLimits::default();
    limits.max_total_bytes = 2 << 20;
    let m = assert_refused(&bytes, &limits, "zip bomb");
    assert!(m.contains("2097152"), "{m}");
    // Within the limit, the same archive extracts.
    limits.max_total_bytes = 3 << 20;
    let scratch = Scratch::new();
    Archive::from_bytes(bytes)
        .unwrap()
        .extract_to(&scratch.out(), &limits)
        .unwrap();
}

#[test]
fn zip_bombs_are_refused_by_ratio_with_the_default_limits() {
    let zeros = vec![0u8; 16 << 20];
    let bytes = zip_of(&[("fine.txt", b"fine"), ("zeros.bin", &zeros)]);
    assert!(bytes.len() < 100_000, "{}", bytes.len());
    let m = assert_refused(&bytes, &ExtractLimits::default(), "zip bomb");
    assert!(m.contains("200-fold"), "{m}");
    // A small, very compressible file is fine (the ratio applies past 1 MiB).
    let scratch = Scratch::new();
    Archive::from_bytes(zip_of(&[("page.txt", &[b' '; 100_000])]))
        .unwrap()
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap();
}

#[test]
fn too_many_entries_are_refused() {
    let files: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("f{i}"), vec![])).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
    let mut limits = ExtractLimits::default();
    limits.max_entries = 4;
    assert_refused(&zip_of(&refs), &limits, "5 entries");
}

#[test]
fn header_sizes_are_not_trusted() {
    // 4 MiB of zeros declaring 100 bytes: the plan would pass, the data not.
    let zeros = vec![0u8; 4 << 20];
    let mut bytes = zip_of(&[("small.bin", &zeros)]);
    for at in records(&bytes, LOCAL) {
        put_u32(&mut bytes, at + 22, 100);
    }
    for at in records(&bytes, CENTRAL) {
        put_u32(&mut bytes, at + 24, 100);
    }
    let archive = Archive::from_bytes(bytes.clone()).unwrap();
    assert_eq!(archive.entries()[0].size(), 100);
    assert_refused(&bytes, &ExtractLimits::default(), "small.bin");
    // Declaring more than there is: also refused.
    let mut bytes = zip_of(&[("short.txt", b"only this")]);
    for at in records(&bytes, LOCAL) {
        put_u32(&mut bytes, at + 22, 1000);
    }
    for at in records(&bytes, CENTRAL) {
        put_u32(&mut bytes, at + 24, 1000);
    }
    assert_refused(&bytes, &ExtractLimits::default(), "header says 1000");
}

#[test]
fn a_crc_mismatch_is_refused_and_earlier_files_are_not_left() {
    let bytes = zip_with(
        CompressionMethod::Stored,
        &[
            ("first.txt", b"complete and fine"),
            ("second.txt", b"hello checksum"),
        ],
    );
    let mut bad = bytes.clone();
    let at = bad
        .windows(14)
        .position(|w| w == b"hello checksum")
        .unwrap();
    bad[at] = b'j';
    let m = assert_refused(&bad, &ExtractLimits::default(), "CRC-32");
    assert!(m.contains("second.txt"), "{m}");
}

#[test]
fn corrupt_deflate_data_is_refused() {
    let text: Vec<u8> = (0..20_000u32)
        .flat_map(|i| i.to_string().into_bytes())
        .collect();
    let mut bytes = zip_of(&[("numbers.txt", &text)]);
    let start = records(&bytes, LOCAL)[0] + 30 + "numbers.txt".len();
    for b in &mut bytes[start + 100..start + 140] {
        *b ^= 0x5a;
    }
    assert_refused(&bytes, &ExtractLimits::default(), "corrupt");
}

#[test]
fn truncated_archives_and_non_archives_are_refused() {
    let bytes = zip_of(&[("a.txt", b"some text here"), ("b.txt", b"more text")]);
    for cut in [bytes.len() - 1, bytes.len() - 10, bytes.len() / 2, 30, 4, 0] {
        assert_refused(&bytes[..cut], &ExtractLimits::default(), "not a valid ZIP");
    }
    assert_refused(
        b"<!DOCTYPE html><html>Sign in</html>",
        &ExtractLimits::default(),
        "not a valid ZIP",
    );
}

#[test]
fn overlapping_or_inconsistent_entries_are_refused() {
    // Both central entries point at the first local header: the trick of
    // non-recursive zip bombs (one compressed block, many files).
    let mut bytes = zip_with(
        CompressionMethod::Stored,
        &[("a.txt", b"1"), ("b.txt", b"2")],
    );
    let central = records(&bytes, CENTRAL);
    put_u32(&mut bytes, central[1] + 42, 0);
    assert_refused(&bytes, &ExtractLimits::default(), "unsafe");
}

#[test]
fn encrypted_and_unsupported_entries_are_refused() {
    let mut bytes = zip_with(CompressionMethod::Stored, &[("secret.txt", b"x")]);
    for at in records(&bytes, LOCAL) {
        bytes[at + 6] |= 1;
    }
    for at in records(&bytes, CENTRAL) {
        bytes[at + 8] |= 1;
    }
    assert_refused(&bytes, &ExtractLimits::default(), "encrypted");

    let mut bytes = zip_with(CompressionMethod::Stored, &[("old.txt", b"x")]);
    for at in records(&bytes, LOCAL) {
        put_u16(&mut bytes, at + 8, 12); // bzip2
    }
    for at in records(&bytes, CENTRAL) {
        put_u16(&mut bytes, at + 10, 12);
    }
    assert_refused(&bytes, &ExtractLimits::default(), "not supported");
}

#[test]
fn c1_control_characters_are_refused() {
    // U+0085 (NEL) is a line break to many terminals and log readers; U+009B
    // is the one-byte CSI. Both are control characters, like the C0 ones.
    for name in ["evil\u{85}.txt", "dir\u{9b}31m/evil.txt", "\u{80}.txt"] {
        let bytes = zip_of(&[("fine.txt", b"fine"), (name, b"x")]);
        assert_refused(&bytes, &ExtractLimits::default(), "control character");
    }
    // Other non-ASCII names are fine.
    let scratch = Scratch::new();
    Archive::from_bytes(zip_of(&[("résumé ©.txt", b"ok")]))
        .unwrap()
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap();
    assert!(scratch.out().join("résumé ©.txt").is_file());
}

// ---------------------------------------------------------------------------
// The archive's own path
// ---------------------------------------------------------------------------

#[test]
fn a_fifo_or_device_at_the_archive_path_is_refused_without_blocking() {
    let scratch = Scratch::new();
    let fifo = scratch.root().join("downloads.zip");
    let c_fifo = CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o644) }, 0);
    let before = tree(&scratch.out());
    let (tx, rx) = std::sync::mpsc::channel();
    let out = scratch.out();
    std::thread::spawn(move || {
        let mut results = Vec::new();
        for path in [fifo.as_path(), Path::new("/dev/null")] {
            let rust = match Archive::open_file(path) {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{:?}: {}", e.kind(), e.message()),
            };
            let c_path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
            let mut archive = std::ptr::null_mut();
            let c_open =
                ffi::bb_archive_open_file(c_path.as_ptr(), &mut archive, std::ptr::null_mut());
            ffi::bb_archive_free(archive);
            results.push((rust, c_open, c_extract(path, &out)));
        }
        let _ = tx.send(results);
    });
    // A call blocked in open(2) never returns: the watchdog fails the test.
    let results = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("opening a FIFO as an archive blocked (no answer within 10 s)");
    for (rust, c_open, c_extract) in results {
        assert!(
            rust.starts_with("Io: ") && rust.contains("not a regular file"),
            "{rust}"
        );
        assert_eq!(c_open, bb_code::BB_ERR_IO, "{rust}");
        assert_eq!(c_extract, bb_code::BB_ERR_IO, "{rust}");
    }
    assert_eq!(tree(&scratch.out()), before);
}

// ---------------------------------------------------------------------------
// Links planted in shared directories
// ---------------------------------------------------------------------------

#[test]
fn a_destination_link_planted_in_a_sticky_directory_is_not_followed() {
    // Root extracting into /tmp/out, where another user made out -> /etc:
    // the link is followed only when the caller or the directory's owner
    // owns it (the rule of the kernel's fs.protected_symlinks).
    use std::os::unix::fs::PermissionsExt;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("NOTICE: skipped: planting another user's link needs root");
        return;
    }
    let scratch = Scratch::new();
    let shared = scratch.root().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let link = shared.join("out");
    std::os::unix::fs::symlink(scratch.out(), &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let bytes = zip_of(&[("keep.txt", b"replaced"), ("new.txt", b"new")]);
    let zip_path = scratch.root().join("a.zip");
    std::fs::write(&zip_path, &bytes).unwrap();
    let before = tree(scratch.root());
    let e = Archive::from_bytes(bytes.clone())
        .unwrap()
        .extract_to(&link, &ExtractLimits::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("sticky"), "{e}");
    assert_eq!(c_extract(&zip_path, &link), bb_code::BB_ERR_IO);
    assert_eq!(tree(scratch.root()), before, "written through the link");

    // The caller's own link is followed.
    std::os::unix::fs::lchown(&link, Some(0), Some(0)).unwrap();
    Archive::from_bytes(bytes)
        .unwrap()
        .extract_to(&link, &ExtractLimits::default())
        .unwrap();
    assert_eq!(
        std::fs::read(scratch.out().join("keep.txt")).unwrap(),
        b"replaced"
    );
}
// ---------------------------------------------------------------------------
// All or nothing: failures the names cannot show
// ---------------------------------------------------------------------------

/// Names under `dir` (recursively) that start with `.bb-extract-`.
fn temp_dirs_left(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_keys()
        .filter(|k| k.split('/').any(|c| c.starts_with(".bb-extract-")))
        .collect()
}

#[test]
fn a_path_longer_than_path_max_refuses_everything() {
    // Every component is a valid name (255 bytes), but 17 of them joined
    // are longer than PATH_MAX (4096): the kernel refuses the path itself.
    let long: Vec<String> = (0..17)
        .map(|i| format!("{i:02}{}", "p".repeat(253)))
        .collect();
    let long = long.join("/");
    let bytes = zip_of(&[
        ("keep.txt", b"replaced"),
        ("new.txt", b"new"),
        ("sub/new.txt", b"new in a new directory"),
        (long.as_str(), b"deep"),
    ]);
    let scratch = Scratch::new();
    let before = tree(scratch.root());
    let e = Archive::from_bytes(bytes.clone())
        .unwrap()
        .extract_to(&scratch.out(), &ExtractLimits::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.message().contains("too long"), "{e}");
    assert!(e.message().len() < 1000, "{e}");
    assert_eq!(tree(scratch.root()), before, "the destination changed");
    assert_eq!(temp_dirs_left(scratch.root()), Vec::<String>::new());

    let zip_path = scratch.root().join("long.zip");
    std::fs::write(&zip_path, &bytes).unwrap();
    let before = tree(scratch.root());
    assert_eq!(c_extract(&zip_path, &scratch.out()), bb_code::BB_ERR_IO);
    assert_eq!(tree(scratch.root()), before, "the C call changed it");
}

/// Runs `f` as uid and gid 65534 (nobody) in a forked child when this
/// process is root (root ignores permissions), else in this process; returns
/// what `f` returned. A child that does not answer within 10 s is killed and
/// fails the test.
fn as_nobody(f: impl FnOnce() -> String) -> String {
    if unsafe { libc::geteuid() } != 0 {
        return f();
    }
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (rd, wr) = (fds[0], fds[1]);
    // SAFETY: the child only runs `f` (library calls) and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        unsafe { libc::close(rd) };
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(65534) == 0
                && libc::setuid(65534) == 0
        };
        let out = if !ok {
            "cannot become nobody".to_owned()
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| "the child panicked".to_owned())
        };
        let mut at = 0;
        while at < out.len() {
            let n = unsafe { libc::write(wr, out[at..].as_ptr().cast(), out.len() - at) };
            if n <= 0 {
                break;
            }
            at += n as usize;
        }
        unsafe { libc::_exit(0) };
    }
    unsafe { libc::close(wr) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut pfd = libc::pollfd {
            fd: rd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
        if ready <= 0 {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
                libc::close(rd);
            }
            panic!("the child did not finish within 10 s");
        }
        let mut buf = [0u8; 4096];
        let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    unsafe {
        libc::close(rd);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Gives everything under `root` to nobody (65534), when root.
fn give_to_nobody(root: &Path) {
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    std::os::unix::fs::lchown(root, Some(65534), Some(65534)).unwrap();
    for e in std::fs::read_dir(root).unwrap() {
        let path = e.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            give_to_nobody(&path);
        } else {
            std::os::unix::fs::lchown(&path, Some(65534), Some(65534)).unwrap();
        }
    }
}

#[test]
fn a_read_only_subdirectory_refuses_everything() {
    // The archive replaces a file, adds one, creates a directory, and last
    // writes into an existing subdirectory the user may not write: refused
    // before the first change, whatever the order.
    use std::os::unix::fs::PermissionsExt;
    let bytes = zip_of(&[
        ("keep.txt", b"replaced"),
        ("new.txt", b"new"),
        ("newdir/x.txt", b"x"),
        ("ro/y.txt", b"y"),
    ]);
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.out().join("ro")).unwrap();
    std::fs::write(scratch.out().join("ro/old.txt"), b"old").unwrap();
    let zip_path = scratch.root().join("ro.zip");
    std::fs::write(&zip_path, &bytes).unwrap();
    give_to_nobody(scratch.root());
    std::fs::set_permissions(
        scratch.out().join("ro"),
        std::fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    let before = tree(scratch.root());
    let out = scratch.out();
    let result = as_nobody(|| {
        let rust = match Archive::open_file(&zip_path)
            .and_then(|a| a.extract_to(&out, &ExtractLimits::default()))
        {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{:?}: {}", e.kind(), e.message()),
        };
        let c = c_extract(&zip_path, &out);
        format!("{c:?}\n{rust}")
    });
    std::fs::set_permissions(
        scratch.out().join("ro"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (c, rust) = result.split_once('\n').unwrap_or((&result, ""));
    assert!(
        rust.starts_with("Io: ") && rust.contains("Permission denied"),
        "{result}"
    );
    assert_eq!(c, "BB_ERR_IO", "{result}");
    assert_eq!(tree(scratch.root()), before, "the destination changed");
    assert_eq!(temp_dirs_left(scratch.root()), Vec::<String>::new());
}

#[test]
fn another_users_file_in_a_sticky_subdirectory_refuses_everything() {
    // In a sticky directory only a file's owner (or the directory's) may
    // replace it: the archive's last entry would replace root's file there,
    // after a replaced file and a new one. Found before the first change.
    use std::os::unix::fs::PermissionsExt;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("NOTICE: skipped: another user's file needs root");
        return;
    }
    let bytes = zip_of(&[
        ("keep.txt", b"replaced"),
        ("new.txt", b"new"),
        ("shared/roots.txt", b"mine now"),
    ]);
    let scratch = Scratch::new();
    let zip_path = scratch.root().join("sticky.zip");
    std::fs::write(&zip_path, &bytes).unwrap();
    give_to_nobody(scratch.root());
    let shared = scratch.out().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(shared.join("roots.txt"), b"root's").unwrap();
    let before = tree(scratch.root());
    let out = scratch.out();
    let result = as_nobody(|| {
        let rust = match Archive::open_file(&zip_path)
            .and_then(|a| a.extract_to(&out, &ExtractLimits::default()))
        {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{:?}: {}", e.kind(), e.message()),
        };
        let c = c_extract(&zip_path, &out);
        format!("{c:?}\n{rust}")
    });
    let (c, rust) = result.split_once('\n').unwrap_or((&result, ""));
    assert!(
        rust.starts_with("Io: ") && rust.contains("nothing was extracted"),
        "{result}"
    );
    assert_eq!(c, "BB_ERR_IO", "{result}");
    assert_eq!(tree(scratch.root()), before, "the destination changed");
    assert_eq!(temp_dirs_left(scratch.root()), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// The C functions, called in process
// ---------------------------------------------------------------------------

fn cstr(p: *const std::ffi::c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

#[test]
fn c_open_list_limit_extract_and_free() {
    let bytes = demo_archive();
    let mut archive = std::ptr::null_mut();
    let mut err = std::ptr::null_mut();
    let code = ffi::bb_archive_open_buffer(bytes.as_ptr(), bytes.len(), &mut archive, &mut err);
    assert_eq!(code, bb_code::BB_OK);
    assert!(err.is_null() && !archive.is_null());
    drop(bytes); // copied

    assert_eq!(ffi::bb_archive_entry_count(archive), 2);
    let mut rows = Vec::new();
    for i in 0..2 {
        let mut entry = ffi::bb_archive_entry::default();
        let code = ffi::bb_archive_entry_at(archive, i, &mut entry, &mut err);
        assert_eq!(code, bb_code::BB_OK);
        rows.push((
            cstr(entry.original_name),
            cstr(entry.name),
            entry.size,
            entry.mtime_unix,
            entry.download_time_ms,
        ));
    }
    rows.sort();
    assert_eq!(rows[0].0, "data.csv");
    assert_eq!(rows[0].1, format!("data-{CSV_MS}.csv"));
    assert_eq!(rows[0].2, 134);
    assert_eq!(rows[0].3, dos_secs(CSV_MS));
    assert_eq!(rows[0].4, CSV_MS as i64);
    assert_eq!(rows[1].0, "report.pdf");

    // Out of range: an error, and `out` untouched.
    let mut entry = ffi::bb_archive_entry {
        struct_size: std::mem::size_of::<ffi::bb_archive_entry>(),
        name: std::ptr::null(),
        original_name: std::ptr::null(),
        size: 7,
        mtime_unix: 7,
        download_time_ms: 7,
    };
    let code = ffi::bb_archive_entry_at(archive, 2, &mut entry, &mut err);
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    assert!(cstr(ffi::bb_error_message(err)).contains("out of range"));
    ffi::bb_error_free(err);
    err = std::ptr::null_mut();
    assert_eq!(entry.size, 7);
    assert!(entry.name.is_null());

    // A tiny limit refuses; 0 restores the default, which allows.
    let scratch = Scratch::new();
    let dir = CString::new(scratch.out().to_str().unwrap()).unwrap();
    let before = tree(scratch.root());
    assert_eq!(
        ffi::bb_archive_set_limits(archive, 100, 0, &mut err),
        bb_code::BB_OK
    );
    let code = ffi::bb_archive_extract_to(archive, dir.as_ptr(), &mut err);
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARCHIVE);
    assert!(cstr(ffi::bb_error_message(err)).contains("zip bomb"));
    ffi::bb_error_free(err);
    err = std::ptr::null_mut();
    assert_eq!(tree(scratch.root()), before);
    assert_eq!(
        ffi::bb_archive_set_limits(archive, 0, 0, &mut err),
        bb_code::BB_OK
    );
    let code = ffi::bb_archive_extract_to(archive, dir.as_ptr(), &mut err);
    assert_eq!(code, bb_code::BB_OK);
    assert!(scratch.out().join("report.pdf").exists());
    assert!(scratch.out().join("data.csv").exists());
    ffi::bb_archive_free(archive);
    ffi::bb_archive_free(std::ptr::null_mut());
}

#[test]
fn c_arguments_are_checked() {
    let mut archive = std::ptr::null_mut();
    let mut err = std::ptr::null_mut();
    let code = ffi::bb_archive_open_buffer(std::ptr::null(), 5, &mut archive, &mut err);
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    assert!(cstr(ffi::bb_error_message(err)).contains("data is NULL"));
    ffi::bb_error_free(err);
    assert!(archive.is_null());

    let code = ffi::bb_archive_open_buffer(std::ptr::null(), 0, &mut archive, std::ptr::null_mut());
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARCHIVE);
    assert!(archive.is_null());

    let empty = browserbase::EMPTY_ARCHIVE;
    let code = ffi::bb_archive_open_buffer(
        empty.as_ptr(),
        empty.len(),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    let code = ffi::bb_archive_open_file(std::ptr::null(), &mut archive, std::ptr::null_mut());
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    let code = ffi::bb_archive_open_file(c"".as_ptr(), &mut archive, std::ptr::null_mut());
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    let code = ffi::bb_archive_open_file(
        c"/no/such/file.zip".as_ptr(),
        &mut archive,
        std::ptr::null_mut(),
    );
    assert_eq!(code, bb_code::BB_ERR_IO);
    assert!(archive.is_null());

    assert_eq!(ffi::bb_archive_entry_count(std::ptr::null()), 0);
    let mut entry = ffi::bb_archive_entry::default();
    let code = ffi::bb_archive_entry_at(std::ptr::null(), 0, &mut entry, std::ptr::null_mut());
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    let code = ffi::bb_archive_extract_to(std::ptr::null(), c"/tmp".as_ptr(), std::ptr::null_mut());
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    let code = ffi::bb_archive_set_limits(std::ptr::null_mut(), 1, 1, std::ptr::null_mut());
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);
    let code = ffi::bb_archive_extract(
        c"/no/such.zip".as_ptr(),
        std::ptr::null(),
        std::ptr::null_mut(),
    );
    assert_eq!(code, bb_code::BB_ERR_INVALID_ARGUMENT);

    // The empty archive opens; its count is 0.
    let code = ffi::bb_archive_open_buffer(
        empty.as_ptr(),
        empty.len(),
        &mut archive,
        std::ptr::null_mut(),
    );
    assert_eq!(code, bb_code::BB_OK);
    assert_eq!(ffi::bb_archive_entry_count(archive), 0);
    ffi::bb_archive_free(archive);
}

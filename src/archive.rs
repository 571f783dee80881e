//! Telling a ZIP archive from anything else a server might answer with, and
//! reading one: [`Archive`] opens a file or a buffer and lists its entries
//! (extraction is in `extract.rs`). Parsing is the `zip` crate's.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use zip::CompressionMethod;

use crate::error::{Error, ErrorKind, Result};

mod tail;

pub use tail::StreamTail;
#[cfg(test)]
use tail::STREAM_TAIL_KEPT;

/// The 22-byte archive the service answers for a session with no files.
pub const EMPTY_ARCHIVE: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Bytes needed by [`check_leading_signature`].
pub const SIGNATURE_LEN: usize = 4;

const LOCAL_FILE_HEADER: [u8; 4] = *b"PK\x03\x04";
const END_OF_CENTRAL_DIRECTORY: [u8; 4] = *b"PK\x05\x06";

/// Checks the first bytes of a body before any of it reaches a sink: a ZIP
/// archive starts with a local file header, or (when empty) with the
/// end-of-central-directory record. Anything else, such as a proxy's HTML
/// page, is refused here.
pub fn check_leading_signature(start: &[u8]) -> Result<()> {
    let sig = start.get(..SIGNATURE_LEN);
    if sig == Some(&LOCAL_FILE_HEADER[..]) || sig == Some(&END_OF_CENTRAL_DIRECTORY[..]) {
        return Ok(());
    }
    Err(Error::invalid_archive(format!(
        "the response is not a ZIP archive (it starts with {})",
        describe_start(start)
    )))
}

/// Checks that a complete body is a readable ZIP archive (its central
/// directory parses) and returns the number of entries.
pub fn check_archive<R: Read + Seek>(reader: R) -> Result<usize> {
    let archive = zip::ZipArchive::new(reader).map_err(|e| {
        Error::invalid_archive(format!("the response is not a valid ZIP archive: {e}"))
    })?;
    Ok(archive.len())
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    File,
    Directory,
    /// A symbolic link (Unix mode `S_IFLNK`). Never extracted.
    Symlink,
}

/// One entry of an archive's central directory, as listed by [`Archive::entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    index: usize,
    name: String,
    original_name: String,
    download_time_ms: Option<u64>,
    size: u64,
    compressed_size: u64,
    crc32: u32,
    mtime_unix: Option<i64>,
    kind: EntryKind,
    encrypted: bool,
    compression: CompressionMethod,
}

impl Entry {
    /// Position in the central directory, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The name as stored, such as `report-1719265797164.pdf` (a path with
    /// `/` separators in a general archive; never checked here, see
    /// [`Archive::extract_to`] for what is safe).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name without the service's `-<13 digits>` stamp before the
    /// extension, such as `report.pdf`; the stored name when it has no stamp.
    /// See [`original_name`].
    pub fn original_name(&self) -> &str {
        &self.original_name
    }

    /// The stamp in the stored name: when the browser downloaded the file,
    /// in milliseconds since 1970 (UTC). `None` when the name has no stamp.
    pub fn download_time_ms(&self) -> Option<u64> {
        self.download_time_ms
    }

    /// Uncompressed size as the central directory declares it. Extraction
    /// never trusts it: it counts the bytes it actually writes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Size of the compressed data in the archive.
    pub fn compressed_size(&self) -> u64 {
        self.compressed_size
    }

    pub fn crc32(&self) -> u32 {
        self.crc32
    }

    /// Modification time in seconds since 1970: the entry's MS-DOS date and
    /// time (2-second precision, no time zone), read as UTC. `None` when the
    /// archive stores no valid time.
    pub fn mtime_unix(&self) -> Option<i64> {
        self.mtime_unix
    }

    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    pub fn is_file(&self) -> bool {
        self.kind == EntryKind::File
    }

    pub(crate) fn encrypted(&self) -> bool {
        self.encrypted
    }

    pub(crate) fn compression(&self) -> CompressionMethod {
        self.compression
    }
}

/// Where an archive's bytes are.
pub(crate) enum Source {
    File(File),
    Bytes(Cursor<Vec<u8>>),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::File(f) => f.read(buf),
            Source::Bytes(c) => c.read(buf),
        }
    }
}

impl Seek for Source {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match self {
            Source::File(f) => f.seek(pos),
            Source::Bytes(c) => c.seek(pos),
        }
    }
}

/// A ZIP archive opened for listing and extraction: from a file (read as
/// needed, never loaded whole) or from bytes in memory.
///
/// Opening reads the central directory and refuses what cannot be listed
/// truthfully: anything that is not a ZIP archive, two entries with the same
/// name, and names holding a NUL byte. Everything else about the entries
/// (unsafe names, symlinks, sizes, checksums) is checked by
/// [`Archive::extract_to`], so a hostile archive can still be listed.
///
/// `Archive` is `Sync`: listing is lock-free, extractions are serialized.
pub struct Archive {
    pub(crate) zip: Mutex<zip::ZipArchive<Source>>,
    entries: Vec<Entry>,
    /// What to call the archive in messages: its path, or "the archive".
    pub(crate) label: String,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("label", &self.label)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl Archive {
    /// Opens the archive in the file at `path`, which must be a regular
    /// file: a FIFO, device or socket is refused (`Io`) without blocking.
    pub fn open_file(path: &Path) -> Result<Archive> {
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        use std::os::unix::io::AsRawFd;
        let cannot = |e: &std::io::Error| {
            Error::io(format_args!("cannot open archive {}", path.display()), e)
        };
        // Without O_NONBLOCK, opening a FIFO waits for a writer, forever.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| cannot(&e))?;
        let ft = file.metadata().map_err(|e| cannot(&e))?.file_type();
        if !ft.is_file() {
            let what = if ft.is_dir() {
                "Is a directory"
            } else if ft.is_fifo() {
                "not a regular file (a FIFO)"
            } else if ft.is_char_device() || ft.is_block_device() {
                "not a regular file (a device)"
            } else {
                "not a regular file"
            };
            return Err(Error::new(
                ErrorKind::Io,
                format!("cannot open archive {}: {what}", path.display()),
            ));
        }
        // Reads of a regular file never block; clear the flag anyway.
        let fd = file.as_raw_fd();
        // SAFETY: the descriptor is open for the duration of the calls.
        let cleared = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
        };
        if !cleared {
            return Err(cannot(&std::io::Error::last_os_error()));
        }
        Archive::new(Source::File(file), format!("archive {}", path.display()))
    }

    /// Opens an archive in an open file (read from its start).
    pub fn from_file(file: File) -> Result<Archive> {
        Archive::new(Source::File(file), "the archive".to_owned())
    }

    /// Opens an archive held in memory, such as the bytes of
    /// [`crate::Client::download_to_vec`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Archive> {
        Archive::new(Source::Bytes(Cursor::new(bytes)), "the archive".to_owned())
    }

    fn new(mut source: Source, label: String) -> Result<Archive> {
        source
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(format_args!("cannot read {label}"), &e))?;
        let zip = zip::ZipArchive::new(source).map_err(|e| zip_error(&label, e))?;
        if zip.has_duplicate_names() {
            return Err(Error::invalid_archive(format!(
                "{label} is unsafe: two entries have the same name"
            )));
        }
        let mut entries = Vec::with_capacity(zip.len());
        for index in 0..zip.len() {
            let e = zip.by_index_data(index).map_err(|e| zip_error(&label, e))?;
            let name = e
                .name()
                .map_err(|err| {
                    Error::invalid_archive(format!(
                        "{label}: the name of entry {index} is unreadable: {err}"
                    ))
                })?
                .into_owned();
            if name.contains('\0') {
                return Err(Error::invalid_archive(format!(
                    "{label} is unsafe: the name of entry {index} ({name:?}) holds a NUL byte"
                )));
            }
            let kind = if e.is_symlink() {
                EntryKind::Symlink
            } else if e.is_dir() {
                EntryKind::Directory
            } else {
                EntryKind::File
            };
            let (original, download_time_ms) = split_stamp(&name);
            entries.push(Entry {
                index,
                original_name: original.into_owned(),
                download_time_ms,
                size: e.size(),
                compressed_size: e.compressed_size(),
                crc32: e.crc32(),
                mtime_unix: e.last_modified().and_then(dos_time_to_unix),
                kind,
                encrypted: e.encrypted(),
                compression: e.compression(),
                name,
            });
        }
        Ok(Archive {
            zip: Mutex::new(zip),
            entries,
            label,
        })
    }

    /// The same archive, called `label` in error messages.
    pub(crate) fn with_label(mut self, label: String) -> Archive {
        self.label = label;
        self
    }

    /// The entries, in central-directory order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for the service's 22-byte empty archive (no files yet).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A `zip` crate error while opening or reading `label`: a file-system
/// failure is `Io`, anything else `InvalidArchive`.
pub(crate) fn zip_error(label: &str, e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(io) if io.raw_os_error().is_some() => {
            Error::io(format_args!("cannot read {label}"), &io)
        }
        other => Error::invalid_archive(format!("{label} is not a valid ZIP archive: {other}")),
    }
}

/// The name a file had before the service stamped it: `-` and 13 digits
/// (milliseconds since 1970) right before the extension of the last path
/// component are removed, and the stamp is returned.
///
/// `report-1719265797164.pdf` is `report.pdf`, `archive.tar-1719265797164.gz`
/// is `archive.tar.gz`, `README-1719265797164` is `README`, and
/// `.bashrc-1719265797164` is `.bashrc` (a leading dot starts no extension).
/// Any other name (no stamp, 12 or 14 digits, nothing before the stamp) is
/// returned unchanged.
pub fn original_name(name: &str) -> Cow<'_, str> {
    split_stamp(name).0
}

/// [`original_name`] and the stamp it removed.
pub(crate) fn split_stamp(name: &str) -> (Cow<'_, str>, Option<u64>) {
    const STAMP: usize = 14; // '-' and 13 digits
    let file_start = name.rfind('/').map_or(0, |i| i + 1);
    let file = &name[file_start..];
    let stem_len = match file.rfind('.') {
        Some(dot) if dot > 0 => dot,
        _ => file.len(),
    };
    let stem = &file.as_bytes()[..stem_len];
    if stem.len() <= STAMP {
        return (Cow::Borrowed(name), None);
    }
    let tail = &stem[stem.len() - STAMP..];
    if tail[0] != b'-' || !tail[1..].iter().all(u8::is_ascii_digit) {
        return (Cow::Borrowed(name), None);
    }
    // All ASCII from here, so these are character boundaries.
    let digits = std::str::from_utf8(&tail[1..]).expect("ASCII digits");
    let ms = digits.parse::<u64>().expect("13 digits fit in u64");
    let cut = file_start + stem_len - STAMP;
    let original = format!("{}{}", &name[..cut], &name[file_start + stem_len..]);
    (Cow::Owned(original), Some(ms))
}

/// An MS-DOS date and time, read as UTC, in seconds since 1970.
fn dos_time_to_unix(t: zip::DateTime) -> Option<i64> {
    if !t.is_valid() {
        return None;
    }
    let days = days_from_civil(i64::from(t.year()), t.month().into(), t.day().into());
    Some(
        days * 86_400
            + i64::from(t.hour()) * 3600
            + i64::from(t.minute()) * 60
            + i64::from(t.second()),
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12; // March is 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn describe_start(start: &[u8]) -> String {
    if start.is_empty() {
        return "nothing: the body is empty".to_owned();
    }
    let head = &start[..start.len().min(16)];
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        head.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn stored_zip(entries: usize, comment: &str) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for i in 0..entries {
            w.start_file(format!("f{i}"), options).unwrap();
            w.write_all(&[i as u8; 3]).unwrap();
        }
        w.set_comment(comment).unwrap();
        w.finish().unwrap().into_inner()
    }

    /// `bytes` streamed through a [`StreamTail`] in `chunk`-byte pieces.
    fn streamed(bytes: &[u8], chunk: usize, announced: bool) -> Result<u64> {
        let mut tail = StreamTail::new(announced.then_some(bytes.len() as u64));
        for piece in bytes.chunks(chunk) {
            tail.push(piece);
        }
        tail.check()
    }

    #[test]
    fn a_stream_that_ends_as_an_archive_passes() {
        let cases = [
            (EMPTY_ARCHIVE.to_vec(), 0),
            (stored_zip(3, ""), 3),
            (stored_zip(3, "a comment"), 3),
            // A central directory longer than the kept tail.
            (stored_zip(20_000, ""), 20_000),
            // ZIP64: more than 65,535 entries.
            (stored_zip(70_000, ""), 70_000),
        ];
        let zip64 = &cases[4].0;
        assert!(zip64.windows(4).any(|w| w == b"PK\x06\x06"), "not ZIP64");
        for (bytes, entries) in &cases {
            for chunk in [1000, 16 * 1024, STREAM_TAIL_KEPT + 7, bytes.len()] {
                for announced in [false, true] {
                    assert_eq!(
                        streamed(bytes, chunk, announced).unwrap(),
                        *entries as u64,
                        "{entries} entries, chunks of {chunk}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_stream_that_does_not_end_as_an_archive_is_refused() {
        let whole = stored_zip(3, "");
        let big = stored_zip(70_000, "");
        let mut junk = LOCAL_FILE_HEADER.to_vec();
        junk.extend((0..5000u32).map(|i| (i * 7) as u8));
        let mut moved = whole.clone();
        moved.insert(40, 0); // every offset after it is one off
        let mut more = whole.clone();
        let n = more.len();
        more[n - 12] += 1; // the end record's entry count
        more[n - 14] += 1;
        let cases: Vec<(&str, &[u8])> = vec![
            ("junk after a local header", &junk),
            ("cut inside the end record", &whole[..whole.len() - 1]),
            ("cut before the end record", &whole[..whole.len() - 22]),
            ("cut in half", &whole[..whole.len() / 2]),
            (
                "a ZIP64 archive cut before its end record",
                &big[..big.len() - 22],
            ),
            ("a byte inserted", &moved),
            ("a wrong entry count", &more),
            ("shorter than an end record", &EMPTY_ARCHIVE[..21]),
        ];
        for (case, bytes) in cases {
            for announced in [false, true] {
                let e = streamed(bytes, 4096, announced).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidArchive, "{case}: {e}");
                assert!(
                    e.message().contains("not a whole ZIP archive"),
                    "{case}: {e}"
                );
            }
        }
    }

    #[test]
    fn empty_archive_is_valid() {
        check_leading_signature(&EMPTY_ARCHIVE).unwrap();
        assert_eq!(check_archive(Cursor::new(&EMPTY_ARCHIVE[..])).unwrap(), 0);
    }

    #[test]
    fn html_is_refused() {
        let e = check_leading_signature(b"<html><body>Sign in</body></html>").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArchive);
        assert!(e.message().contains("<html>"), "{e}");
        assert!(check_leading_signature(b"").is_err());
        assert!(check_leading_signature(b"PK").is_err());
    }

    #[test]
    fn stamps_are_removed_from_original_names() {
        let cases = [
            (
                "report-1719265797164.pdf",
                "report.pdf",
                Some(1_719_265_797_164),
            ),
            (
                "archive.tar-1719265797164.gz",
                "archive.tar.gz",
                Some(1_719_265_797_164),
            ),
            ("README-1719265797164", "README", Some(1_719_265_797_164)),
            (".bashrc-1719265797164", ".bashrc", Some(1_719_265_797_164)),
            ("name-0000000000001.", "name.", Some(1)),
            (
                "dir/sub/x-1719265797164.csv",
                "dir/sub/x.csv",
                Some(1_719_265_797_164),
            ),
            ("d.ir-1719265797164/x.csv", "d.ir-1719265797164/x.csv", None),
            (
                "my-report-2024-1719265797164.pdf",
                "my-report-2024.pdf",
                Some(1_719_265_797_164),
            ),
            (
                "résumé-1719265797164.pdf",
                "résumé.pdf",
                Some(1_719_265_797_164),
            ),
            ("report.pdf", "report.pdf", None),
            ("report-171926579716.pdf", "report-171926579716.pdf", None),
            (
                "report-17192657971645.pdf",
                "report-17192657971645.pdf",
                None,
            ),
            ("report_1719265797164.pdf", "report_1719265797164.pdf", None),
            ("-1719265797164.pdf", "-1719265797164.pdf", None),
            ("report-17192657971x4.pdf", "report-17192657971x4.pdf", None),
            ("", "", None),
            ("é", "é", None),
        ];
        for (stored, original, ms) in cases {
            let (got, got_ms) = split_stamp(stored);
            assert_eq!((got.as_ref(), got_ms), (original, ms), "{stored}");
            assert_eq!(original_name(stored), original);
        }
    }

    #[test]
    fn dos_times_are_read_as_utc() {
        let t = zip::DateTime::from_date_and_time(2024, 6, 24, 21, 49, 56).unwrap();
        assert_eq!(dos_time_to_unix(t), Some(1_719_265_796));
        let t = zip::DateTime::from_date_and_time(1980, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(dos_time_to_unix(t), Some(315_532_800));
        let t = zip::DateTime::from_date_and_time(2000, 2, 29, 12, 0, 0).unwrap();
        assert_eq!(dos_time_to_unix(t), Some(951_825_600));
    }

    #[test]
    fn truncated_archive_is_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("a.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"hello").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        assert_eq!(check_archive(Cursor::new(&bytes)).unwrap(), 1);
        check_leading_signature(&bytes).unwrap();
        assert!(check_archive(Cursor::new(&bytes[..bytes.len() - 10])).is_err());
    }
}

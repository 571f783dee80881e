//! Telling a ZIP archive from anything else a server might answer with.

use std::io::{Read, Seek};

use crate::error::{Error, Result};

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

//! The archives the server answers: ZIP files built the way the service builds
//! them (timestamped entry names, the 22-byte empty archive), and the demo
//! sessions' content.

use std::io::{self, Cursor, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::state::FileEntry;

/// The archive the service answers for a session without files: an end of central
/// directory record and nothing else.
pub const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

pub const DEMO_SESSION: &str = "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80";
pub const DEMO_EMPTY_SESSION: &str = "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91";
/// Fixed "download times" of the demo files, so the demo archive is reproducible.
pub const DEMO_PDF_MS: u64 = 1_719_265_797_164;
pub const DEMO_CSV_MS: u64 = 1_719_265_797_171;

/// `report.pdf` -> `report-1719265797164.pdf`; `README` -> `README-1719265797164`;
/// `archive.tar.gz` -> `archive.tar-1719265797164.gz`. Only the last path component's
/// last extension counts; a leading dot (`.bashrc`) is not an extension.
pub fn stamped_name(name: &str, ms: u64) -> String {
    let file_start = name.rfind('/').map_or(0, |i| i + 1);
    match name[file_start..].rfind('.') {
        Some(dot) if dot > 0 => {
            let dot = file_start + dot;
            format!("{}-{:013}{}", &name[..dot], ms, &name[dot..])
        }
        _ => format!("{name}-{ms:013}"),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// ZIP (DOS) modification time for a Unix time in ms, in UTC.
pub fn zip_time(ms: u64) -> DateTime {
    let secs = (ms / 1000) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    if !(1980..=2107).contains(&year) {
        return DateTime::default();
    }
    DateTime::from_date_and_time(
        year as u16,
        month as u8,
        day as u8,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    )
    .unwrap_or_default()
}

pub fn build_zip(files: &[(String, FileEntry)]) -> io::Result<Vec<u8>> {
    if files.is_empty() {
        return Ok(EMPTY_ZIP.to_vec());
    }
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, entry) in files {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(zip_time(entry.mtime_ms))
            .unix_permissions(0o644)
            .large_file(entry.data.len() as u64 >= 0xFFFF_FFFF);
        writer.start_file(stamped_name(name, entry.mtime_ms), options)?;
        writer.write_all(&entry.data)?;
    }
    Ok(writer.finish()?.into_inner())
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A session id usable as a file name inside `--sessions DIR`.
pub fn is_safe_segment(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains(['/', '\\', '\0'])
}

pub fn demo_pdf() -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
    out.extend_from_slice(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    out.extend_from_slice(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    out.extend_from_slice(
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n",
    );
    // Deterministic pseudo-random stream content (xorshift64).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let stream: Vec<u8> = (0..3584)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    out.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n", stream.len()).as_bytes());
    out.extend_from_slice(&stream);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    out.extend_from_slice(b"trailer\n<< /Root 1 0 R /Size 5 >>\n%%EOF\n");
    out
}

pub fn demo_csv() -> Vec<u8> {
    b"date,item,quantity,unit_price\n\
2024-06-24,widget,3,9.99\n\
2024-06-24,gadget,1,24.50\n\
2024-06-25,gizmo,12,1.25\n\
2024-06-25,doohickey,7,3.10\n"
        .to_vec()
}

//! Checking the end of a body that was handed on as it arrived (the
//! callback variant), where the whole archive is never at hand: its last
//! bytes must close a ZIP archive of exactly the body's length.

use super::*;

/// How much of a streamed body's end is kept to check it when it ends
/// ([`StreamTail`]): the end-of-central-directory record with the longest
/// comment (22 + 65,535 bytes) and a central directory of about 1,500
/// entries besides.
pub const STREAM_TAIL_KEPT: usize = 256 * 1024;

/// The last [`STREAM_TAIL_KEPT`] bytes of a body that is handed on as it
/// arrives (the callback variant), kept so that its end can be checked to
/// close a ZIP archive ([`StreamTail::check`]). Each byte is copied at most
/// once; when the length is announced, only the bytes that can end up in
/// the tail are copied at all.
pub struct StreamTail {
    /// A ring: the byte at stream position `p` is at `p % STREAM_TAIL_KEPT`.
    ring: Vec<u8>,
    total: u64,
    announced: Option<u64>,
}

impl StreamTail {
    /// `announced`: the Content-Length, when the server sent one.
    pub fn new(announced: Option<u64>) -> StreamTail {
        StreamTail {
            ring: Vec::new(),
            total: 0,
            announced,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        let end = self.total + chunk.len() as u64;
        let needed = match self.announced {
            // Bytes before the last STREAM_TAIL_KEPT of the announced body
            // can never be in the tail of a body that ends as announced
            // (and one that ends otherwise is refused before it is checked).
            Some(n) => end > n.saturating_sub(STREAM_TAIL_KEPT as u64),
            None => true,
        };
        if needed {
            if self.ring.is_empty() {
                self.ring = vec![0; STREAM_TAIL_KEPT];
            }
            let keep = chunk.len().min(STREAM_TAIL_KEPT);
            let mut at = ((end - keep as u64) % STREAM_TAIL_KEPT as u64) as usize;
            let mut rest = &chunk[chunk.len() - keep..];
            while !rest.is_empty() {
                let n = rest.len().min(STREAM_TAIL_KEPT - at);
                self.ring[at..at + n].copy_from_slice(&rest[..n]);
                rest = &rest[n..];
                at = 0;
            }
        }
        self.total = end;
    }

    /// Checks that the body, now complete, ends as a ZIP archive of exactly
    /// its length does; returns the number of entries. See
    /// [`check_archive_end`] for what is and is not checked.
    pub fn check(&mut self) -> Result<u64> {
        let kept = self.total.min(STREAM_TAIL_KEPT as u64) as usize;
        if kept == 0 || self.ring.is_empty() {
            // Nothing kept: only a body of another length than announced,
            // which the download loop refuses before checking it.
            return check_archive_end(&[], self.total);
        }
        // In order, in place: a body shorter than the ring starts at 0; a
        // longer one has filled it, and its oldest byte is where the next
        // would go.
        let start = (self.total % STREAM_TAIL_KEPT as u64) as usize;
        if kept == STREAM_TAIL_KEPT {
            self.ring.rotate_left(start);
        }
        check_archive_end(&self.ring[..kept], self.total)
    }
}

/// Checks the last bytes `tail` of a body of `total` bytes (the whole body
/// when it is that short) for the end of a ZIP archive, and returns the
/// number of entries. Checked: an end-of-central-directory record (ZIP64's
/// too, when the archive needs it) ends the body exactly (its comment
/// length included); the archive is on one disk; its central directory
/// ends exactly where that record begins, so its offset and size agree
/// with the body's length; and, when the central directory is within
/// `tail`, every entry's header in it is whole, their count is what the
/// record says, and each entry's data starts before the central directory.
/// Not checked: the entries' data (local headers, compressed bytes,
/// CRC-32s), nor a central directory longer than `tail` holds beyond its
/// size and position.
pub fn check_archive_end(tail: &[u8], total: u64) -> Result<u64> {
    let bad = |why: String| {
        Error::invalid_archive(format!(
            "the response is not a whole ZIP archive: {why} ({total} bytes received)"
        ))
    };
    let u16_at = |i: usize| u16::from_le_bytes([tail[i], tail[i + 1]]) as u64;
    let u32_at = |i: usize| u32::from_le_bytes(tail[i..i + 4].try_into().unwrap()) as u64;
    let u64_at = |i: usize| u64::from_le_bytes(tail[i..i + 8].try_into().unwrap());
    let base = total - tail.len() as u64;
    let no_end = || bad("it does not end with an end-of-central-directory record".into());
    if tail.len() < 22 {
        return Err(no_end());
    }
    let lowest = tail.len().saturating_sub(22 + 0xffff);
    let eocd = (lowest..=tail.len() - 22)
        .rev()
        .find(|&i| {
            tail[i..i + 4] == END_OF_CENTRAL_DIRECTORY
                && i + 22 + u16_at(i + 20) as usize == tail.len()
        })
        .ok_or_else(no_end)?;
    let (mut disk, mut cd_disk) = (u16_at(eocd + 4), u16_at(eocd + 6));
    let (mut on_disk, mut entries) = (u16_at(eocd + 8), u16_at(eocd + 10));
    let (mut cd_size, mut cd_offset) = (u32_at(eocd + 12), u32_at(eocd + 16));
    // Where the central directory must end: the first end record.
    let mut cd_end = base + eocd as u64;
    if entries == 0xffff || cd_size == 0xffff_ffff || cd_offset == 0xffff_ffff {
        // ZIP64: a 20-byte locator right before, pointing at the record.
        let locator = eocd
            .checked_sub(20)
            .filter(|&l| tail[l..l + 4] == *b"PK\x06\x07")
            .ok_or_else(|| bad("its ZIP64 end record locator is missing".into()))?;
        let at = u64_at(locator + 8);
        let record = at
            .checked_sub(base)
            .map(|r| r as usize)
            .filter(|&r| r + 56 <= locator && tail[r..r + 4] == *b"PK\x06\x06")
            .ok_or_else(|| bad(format!("no ZIP64 end record at offset {at}")))?;
        (disk, cd_disk) = (u32_at(record + 16), u32_at(record + 20));
        (on_disk, entries) = (u64_at(record + 24), u64_at(record + 32));
        (cd_size, cd_offset) = (u64_at(record + 40), u64_at(record + 48));
        cd_end = at;
    }
    if disk != 0 || cd_disk != 0 || on_disk != entries {
        return Err(bad("it spans several disks".into()));
    }
    if cd_offset.checked_add(cd_size) != Some(cd_end) || entries.saturating_mul(46) > cd_size {
        return Err(bad(format!(
            "its central directory ({cd_size} bytes at offset {cd_offset}, {entries} entries) does not end where its end record begins (offset {cd_end})"
        )));
    }
    if cd_offset >= base {
        let (mut at, end) = ((cd_offset - base) as usize, (cd_end - base) as usize);
        let mut seen: u64 = 0;
        while at < end {
            let header = at + 46;
            if header > end || tail[at..at + 4] != *b"PK\x01\x02" {
                return Err(bad(format!(
                    "entry {} of its central directory is damaged",
                    seen + 1
                )));
            }
            let data = u32_at(at + 42);
            if data != 0xffff_ffff && data + 30 > cd_offset {
                return Err(bad(format!(
                    "entry {} starts at offset {data}, past its central directory",
                    seen + 1
                )));
            }
            at = header + (u16_at(at + 28) + u16_at(at + 30) + u16_at(at + 32)) as usize;
            seen += 1;
        }
        if at != end || seen != entries {
            return Err(bad(format!(
                "its central directory holds {seen} entries where its end record says {entries}"
            )));
        }
    }
    Ok(entries)
}

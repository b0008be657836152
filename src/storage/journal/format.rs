//! The journal segment format: a header, then batches of paint records, each batch checksummed.
//!
//! All integers are little-endian. A segment starts with a 24-byte header:
//!
//! | offset | size | field                                                  |
//! |-------:|-----:|--------------------------------------------------------|
//! |      0 |    4 | magic `b"TSRJ"`                                         |
//! |      4 |    2 | format version, `1`                                    |
//! |      6 |    2 | reserved, `0`                                          |
//! |      8 |    4 | board width in pixels                                  |
//! |     12 |    4 | board height in pixels                                 |
//! |     16 |    4 | tile size the server ran with                          |
//! |     20 |    4 | crc32 (IEEE) of bytes 0..20                            |
//!
//! then any number of batches, one per group commit:
//!
//! | offset | size | field                                                  |
//! |-------:|-----:|--------------------------------------------------------|
//! |      0 |    4 | record count `n`, 1..=[`MAX_BATCH_RECORDS`]            |
//! |      4 |    4 | crc32 of the count's 4 bytes followed by the records   |
//! |      8 |  9 n | records: `x` u32, `y` u32, colour index u8             |
//!
//! Records are paints in the order their tiles received them, in board pixel coordinates, so a
//! journal replays onto any tile size.

use crate::geometry::BoardGeometry;

pub const MAGIC: [u8; 4] = *b"TSRJ";
pub const FORMAT: u16 = 1;
pub const HEADER_LEN: usize = 24;
pub const BATCH_HEADER_LEN: usize = 8;
pub const RECORD_LEN: usize = 9;
/// Largest batch a writer produces and a reader accepts, so a corrupt count cannot make the
/// reader allocate without bound (9 MiB of records).
pub const MAX_BATCH_RECORDS: u32 = 1 << 20;

/// One journalled paint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub x: u32,
    pub y: u32,
    pub color: u8,
}

impl Record {
    pub fn encode_into(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.x.to_le_bytes());
        out.extend_from_slice(&self.y.to_le_bytes());
        out.push(self.color);
    }

    fn decode(bytes: &[u8]) -> Self {
        Self {
            x: u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")),
            y: u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")),
            color: bytes[8],
        }
    }
}

pub fn encode_header(geometry: BoardGeometry) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&MAGIC);
    header[4..6].copy_from_slice(&FORMAT.to_le_bytes());
    header[8..12].copy_from_slice(&geometry.width().to_le_bytes());
    header[12..16].copy_from_slice(&geometry.height().to_le_bytes());
    header[16..20].copy_from_slice(&geometry.tile_size().to_le_bytes());
    let crc = crc32fast::hash(&header[0..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Appends one batch framing `records` (already encoded, a whole number of records, at most
/// [`MAX_BATCH_RECORDS`]) to `out`.
pub fn encode_batch(records: &[u8], out: &mut Vec<u8>) {
    debug_assert_eq!(records.len() % RECORD_LEN, 0);
    let count = (records.len() / RECORD_LEN) as u32;
    debug_assert!((1..=MAX_BATCH_RECORDS).contains(&count));
    let mut crc = crc32fast::Hasher::new();
    crc.update(&count.to_le_bytes());
    crc.update(records);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(records);
}

/// What is wrong with a segment, at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("it is {len} bytes long, shorter than its {HEADER_LEN}-byte header")]
    ShortHeader { len: usize },
    #[error("it starts with {found:02x?}, not the journal magic \"TSRJ\"")]
    BadMagic { found: [u8; 4] },
    #[error("header checksum mismatch")]
    HeaderChecksum,
    #[error("format version {found} is not supported (this build reads version {FORMAT})")]
    UnsupportedFormat { found: u16 },
    #[error("its header holds an invalid board geometry {width}x{height}, tile {tile_size}")]
    Geometry {
        width: u32,
        height: u32,
        tile_size: u32,
    },
    #[error("batch at byte {offset} is cut off (the file ends inside it)")]
    Truncated { offset: usize },
    #[error("batch at byte {offset} announces {count} records (1..={MAX_BATCH_RECORDS} allowed)")]
    Count { offset: usize, count: u32 },
    #[error("batch at byte {offset}: checksum mismatch")]
    Checksum { offset: usize },
    #[error(
        "it was written for a {}x{} board with {}-pixel tiles, but the segments before it for \
         {}x{} with {}-pixel tiles (a journal comes from one run, of one geometry)",
        .found.0, .found.1, .found.2, .earlier.0, .earlier.1, .earlier.2
    )]
    OtherGeometry {
        found: (u32, u32, u32),
        earlier: (u32, u32, u32),
    },
    #[error("batch at byte {offset}: record ({x}, {y}) is outside the {width}x{height} board")]
    OffBoard {
        offset: usize,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
}

impl SegmentError {
    /// Byte offset where the valid part of the segment ends.
    pub fn offset(&self) -> usize {
        match *self {
            Self::Truncated { offset }
            | Self::Count { offset, .. }
            | Self::Checksum { offset }
            | Self::OffBoard { offset, .. } => offset,
            _ => 0,
        }
    }
}

/// A decoded segment: the geometry it was written for and its records in order, plus the first
/// error, which ends the valid part (`records` holds everything before it).
#[derive(Debug)]
pub struct Segment {
    pub geometry: Option<BoardGeometry>,
    pub records: Vec<Record>,
    pub error: Option<SegmentError>,
    /// Whether `error` is what a crash during an append leaves: a last batch cut off at the end
    /// of the file, failing its checksum up to the end of the file, or zeros to the end of the
    /// file. The writer appends a batch only after the one before it is on disk, so damage with
    /// a valid batch after it, or in a header (segments are created complete), is not a crash.
    pub torn_tail: bool,
}

/// Decodes a whole segment file. Never fails as a whole: the valid prefix is always returned.
pub fn decode_segment(bytes: &[u8]) -> Segment {
    let mut segment = Segment {
        geometry: None,
        records: Vec::new(),
        error: None,
        torn_tail: false,
    };
    let geometry = match decode_header(bytes) {
        Ok(geometry) => geometry,
        Err(e) => {
            segment.error = Some(e);
            return segment;
        }
    };
    segment.geometry = Some(geometry);
    let mut offset = HEADER_LEN;
    while offset < bytes.len() {
        match decode_batch(bytes, offset, geometry, &mut segment.records) {
            Ok(next) => offset = next,
            Err(e) => {
                segment.torn_tail = reaches_end(bytes, &e);
                segment.error = Some(e);
                break;
            }
        }
    }
    segment
}

/// Whether the bad batch of `error` runs to the end of the file (see [`Segment::torn_tail`]).
fn reaches_end(bytes: &[u8], error: &SegmentError) -> bool {
    match *error {
        SegmentError::Truncated { .. } => true,
        SegmentError::Checksum { offset } => {
            let count = u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"));
            offset + BATCH_HEADER_LEN + count as usize * RECORD_LEN == bytes.len()
        }
        SegmentError::Count { offset, .. } => bytes[offset..].iter().all(|&b| b == 0),
        _ => false,
    }
}

fn decode_header(bytes: &[u8]) -> Result<BoardGeometry, SegmentError> {
    let Some(header) = bytes.get(..HEADER_LEN) else {
        return Err(SegmentError::ShortHeader { len: bytes.len() });
    };
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let magic: [u8; 4] = header[0..4].try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(SegmentError::BadMagic { found: magic });
    }
    if crc32fast::hash(&header[0..20]) != u32_at(20) {
        return Err(SegmentError::HeaderChecksum);
    }
    let format = u16::from_le_bytes([header[4], header[5]]);
    if format != FORMAT {
        return Err(SegmentError::UnsupportedFormat { found: format });
    }
    let (width, height, tile_size) = (u32_at(8), u32_at(12), u32_at(16));
    BoardGeometry::new(width, height, tile_size).map_err(|_| SegmentError::Geometry {
        width,
        height,
        tile_size,
    })
}

/// Decodes the batch at `offset` into `records`; returns the offset after it.
fn decode_batch(
    bytes: &[u8],
    offset: usize,
    geometry: BoardGeometry,
    records: &mut Vec<Record>,
) -> Result<usize, SegmentError> {
    let Some(head) = bytes.get(offset..offset + BATCH_HEADER_LEN) else {
        return Err(SegmentError::Truncated { offset });
    };
    let count = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes"));
    let stored_crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
    if !(1..=MAX_BATCH_RECORDS).contains(&count) {
        return Err(SegmentError::Count { offset, count });
    }
    let start = offset + BATCH_HEADER_LEN;
    let end = start + count as usize * RECORD_LEN;
    let Some(body) = bytes.get(start..end) else {
        return Err(SegmentError::Truncated { offset });
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[0..4]);
    crc.update(body);
    if crc.finalize() != stored_crc {
        return Err(SegmentError::Checksum { offset });
    }
    let first = records.len();
    for chunk in body.chunks_exact(RECORD_LEN) {
        let record = Record::decode(chunk);
        if geometry.pixel(record.x, record.y).is_none() {
            // A checksummed record the writer could not have produced: keep nothing of it.
            records.truncate(first);
            return Err(SegmentError::OffBoard {
                offset,
                x: record.x,
                y: record.y,
                width: geometry.width(),
                height: geometry.height(),
            });
        }
        records.push(record);
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> BoardGeometry {
        BoardGeometry::new(100, 50, 16).expect("geometry")
    }

    fn records(n: u32) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                x: i % 100,
                y: i % 50,
                color: (i % 7) as u8,
            })
            .collect()
    }

    fn segment(batches: &[&[Record]]) -> Vec<u8> {
        let mut bytes = encode_header(geometry()).to_vec();
        for batch in batches {
            let mut encoded = Vec::new();
            for r in *batch {
                r.encode_into(&mut encoded);
            }
            encode_batch(&encoded, &mut bytes);
        }
        bytes
    }

    /// A segment of a batch of 2 records then one of 3: the first batch's records, the bytes,
    /// and where the first batch ends.
    fn two_batches() -> (Vec<Record>, Vec<u8>, usize) {
        let a = records(2);
        let bytes = segment(&[&a, &records(3)]);
        (a, bytes, HEADER_LEN + BATCH_HEADER_LEN + 2 * RECORD_LEN)
    }

    #[test]
    fn round_trip() {
        let (a, b) = (records(3), records(40));
        let decoded = decode_segment(&segment(&[&a, &b]));
        assert_eq!(decoded.error, None);
        assert_eq!(decoded.geometry, Some(geometry()));
        assert_eq!(decoded.records, [a, b].concat());
    }

    #[test]
    fn a_header_alone_is_an_empty_segment() {
        let decoded = decode_segment(&segment(&[]));
        assert_eq!(decoded.error, None);
        assert!(decoded.records.is_empty());
    }

    #[test]
    fn every_truncation_keeps_exactly_the_whole_batches_before_it() {
        let (a, bytes, first_end) = two_batches();
        for len in 0..bytes.len() {
            let decoded = decode_segment(&bytes[..len]);
            let error = decoded.error.clone();
            match len {
                0..HEADER_LEN => {
                    assert_eq!(error, Some(SegmentError::ShortHeader { len }));
                    assert!(!decoded.torn_tail, "segments are created with their header");
                }
                HEADER_LEN => assert_eq!(error, None),
                l if l < first_end => {
                    assert_eq!(error, Some(SegmentError::Truncated { offset: HEADER_LEN }));
                    assert!(decoded.torn_tail);
                    assert!(decoded.records.is_empty());
                }
                l if l == first_end => {
                    assert_eq!(error, None);
                    assert_eq!(decoded.records, a);
                }
                _ => {
                    assert_eq!(error, Some(SegmentError::Truncated { offset: first_end }));
                    assert!(decoded.torn_tail);
                    assert_eq!(decoded.records, a, "len {len}");
                }
            }
        }
    }

    #[test]
    fn a_flipped_bit_is_caught_and_located() {
        let (a, bytes, first_end) = two_batches();
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            let decoded = decode_segment(&bad);
            let error = decoded.error.expect("every bit is covered by a checksum");
            if at < HEADER_LEN {
                assert!(decoded.records.is_empty(), "byte {at}: {error}");
            } else if at < first_end {
                assert_eq!(error.offset(), HEADER_LEN, "byte {at}: {error}");
                // A count raised past the end of the file looks exactly like a cut-off last
                // batch; any other damage here has a valid batch after it.
                let cut_off = matches!(error, SegmentError::Truncated { .. });
                assert_eq!(decoded.torn_tail, cut_off, "byte {at}: {error}");
                assert!(decoded.records.is_empty());
            } else {
                assert_eq!(error.offset(), first_end, "byte {at}: {error}");
                assert_eq!(decoded.records, a);
            }
        }
    }

    #[test]
    fn an_off_board_record_is_refused_whole_batch() {
        let bad = [Record {
            x: 100,
            y: 0,
            color: 1,
        }];
        let decoded = decode_segment(&segment(&[&records(2), &bad]));
        assert_eq!(decoded.records, records(2));
        let error = decoded.error.expect("off board");
        assert!(!decoded.torn_tail, "{error}");
        assert!(error.to_string().contains("(100, 0)"), "{error}");
    }

    #[test]
    fn only_damage_running_to_the_end_of_the_file_is_a_torn_tail() {
        let (a, bytes, first_end) = two_batches();
        let mut last_bad = bytes.clone();
        *last_bad.last_mut().expect("bytes") ^= 1;
        assert!(
            decode_segment(&last_bad).torn_tail,
            "last batch fails its checksum"
        );
        let mut zeros = segment(&[&a]);
        zeros.extend_from_slice(&[0; 20]);
        let decoded = decode_segment(&zeros);
        assert!(decoded.torn_tail, "{:?}", decoded.error);
        assert_eq!(decoded.records, a);
        let mut garbage = segment(&[&a]);
        garbage.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        assert!(!decode_segment(&garbage).torn_tail, "not zeros: damage");
        let mut first_bad = bytes.clone();
        first_bad[first_end - 1] ^= 1;
        assert!(
            !decode_segment(&first_bad).torn_tail,
            "a valid batch follows"
        );
    }

    #[test]
    fn a_huge_count_is_refused_before_allocating() {
        let mut bytes = segment(&[]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        let decoded = decode_segment(&bytes);
        assert_eq!(
            decoded.error,
            Some(SegmentError::Count {
                offset: HEADER_LEN,
                count: u32::MAX
            })
        );
    }
}

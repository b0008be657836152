//! The tile file format: encoding and fully validating decoding of one `<tx>-<ty>.tile` file.
//!
//! All integers are little-endian. Offsets in bytes:
//!
//! | offset | size | field                                                   |
//! |-------:|-----:|---------------------------------------------------------|
//! |      0 |    4 | magic `b"TSRT"`                                          |
//! |      4 |    2 | format version, `1`                                     |
//! |      6 |    2 | reserved, `0`                                           |
//! |      8 |    4 | board width in pixels                                   |
//! |     12 |    4 | board height in pixels                                  |
//! |     16 |    4 | tile size (edge of a full tile) in pixels               |
//! |     20 |    2 | tile column `tx`                                        |
//! |     22 |    2 | tile row `ty`                                           |
//! |     24 |    2 | this tile's width (less than the tile size at the edge) |
//! |     26 |    2 | this tile's height                                      |
//! |     28 |    8 | version: the tile's change counter                       |
//! |     36 | w*h  | pixels, row-major palette indices, one byte each        |
//! | 36+w*h |    4 | crc32 (IEEE, as `crc32fast`) of every preceding byte    |
//!
//! The header repeats the board geometry and the tile position so a file copied into the wrong
//! board or renamed is caught, and the length is implied by the header so truncation is told
//! apart from bit rot (which the checksum catches).

use super::{Corruption, TileSnapshot};
use crate::geometry::{BoardGeometry, TileCoord};

pub const MAGIC: [u8; 4] = *b"TSRT";
pub const FORMAT: u16 = 1;
pub const HEADER_LEN: usize = 36;
const CRC_LEN: usize = 4;

/// Size of the file holding a tile of `width` x `height` pixels.
pub fn file_len(width: u32, height: u32) -> u64 {
    (HEADER_LEN + CRC_LEN) as u64 + u64::from(width) * u64::from(height)
}

/// Largest valid tile file of `geometry`; reading stops one byte past it, so a huge corrupt file
/// costs no more memory than a valid one.
pub fn max_file_len(geometry: BoardGeometry) -> u64 {
    file_len(geometry.tile_size(), geometry.tile_size())
}

/// The bytes of the file of `snapshot`. The caller has checked that the tile is on the board and
/// its pixel count matches its rectangle.
pub fn encode(geometry: BoardGeometry, snapshot: &TileSnapshot) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + snapshot.pixels.len() + CRC_LEN);
    encode_into(geometry, snapshot, &mut bytes);
    bytes
}

/// Appends the bytes of the file of `snapshot` to `out` (a region file is a run of them).
pub fn encode_into(geometry: BoardGeometry, snapshot: &TileSnapshot, out: &mut Vec<u8>) {
    let rect = geometry.tile_rect(snapshot.tile);
    debug_assert_eq!(snapshot.pixels.len() as u64, rect.area());
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&geometry.width().to_le_bytes());
    out.extend_from_slice(&geometry.height().to_le_bytes());
    out.extend_from_slice(&geometry.tile_size().to_le_bytes());
    out.extend_from_slice(&snapshot.tile.tx.to_le_bytes());
    out.extend_from_slice(&snapshot.tile.ty.to_le_bytes());
    // Tile edges are at most MAX_TILE_SIZE (1024), so they fit a u16.
    out.extend_from_slice(&(rect.width as u16).to_le_bytes());
    out.extend_from_slice(&(rect.height as u16).to_le_bytes());
    out.extend_from_slice(&snapshot.version.to_le_bytes());
    debug_assert_eq!(out.len() - start, HEADER_LEN);
    out.extend_from_slice(&snapshot.pixels);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The tile a tile file's header names, `(tx, ty)`, if `bytes` holds a header; read before the
/// file is validated, to know how long the file must be (a region file is a run of them).
pub fn named_tile(bytes: &[u8]) -> Option<(u16, u16)> {
    if bytes.len() < HEADER_LEN {
        return None;
    }
    let tx = array(bytes, 20).map(u16::from_le_bytes)?;
    let ty = array(bytes, 22).map(u16::from_le_bytes)?;
    Some((tx, ty))
}

/// Parses and validates the file of tile `expected` (named by its file name) of `geometry`.
/// Checks run from the outside in, so the reason names the first thing that is wrong: not a
/// tile file at all, an unknown format, a wrong length, a bad checksum, then the wrong board
/// or tile.
pub fn decode(
    bytes: &[u8],
    geometry: BoardGeometry,
    expected: TileCoord,
) -> Result<TileSnapshot, Corruption> {
    check_preamble(bytes, MAGIC, HEADER_LEN + CRC_LEN, FORMAT)?;
    // From here on every fixed-offset read is within the header, which is known to be present.
    let u16_at = |at| array(bytes, at).map_or(0, u16::from_le_bytes);
    let u32_at = |at| array(bytes, at).map_or(0, u32::from_le_bytes);
    let u64_at = |at| array(bytes, at).map_or(0, u64::from_le_bytes);

    let (width, height) = (u16_at(24), u16_at(26));
    let expected_len = file_len(u32::from(width), u32::from(height));
    if bytes.len() as u64 != expected_len {
        return Err(Corruption::Length {
            expected: expected_len,
            actual: bytes.len(),
        });
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    let stored = array(crc, 0).map_or(0, u32::from_le_bytes);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(Corruption::Checksum { stored, computed });
    }

    let found = (u32_at(8), u32_at(12), u32_at(16));
    let board = (geometry.width(), geometry.height(), geometry.tile_size());
    if found != board {
        return Err(Corruption::BoardMismatch {
            found,
            expected: board,
        });
    }
    let (tx, ty) = (u16_at(20), u16_at(22));
    if (tx, ty) != (expected.tx, expected.ty) {
        return Err(Corruption::TileMismatch {
            found_tx: tx,
            found_ty: ty,
            expected,
        });
    }
    let rect = geometry.tile_rect(expected);
    if (u32::from(width), u32::from(height)) != (rect.width, rect.height) {
        return Err(Corruption::TileSize {
            tile: expected,
            found_width: width,
            found_height: height,
            expected_width: rect.width,
            expected_height: rect.height,
        });
    }
    Ok(TileSnapshot {
        tile: expected,
        version: u64_at(28),
        pixels: body[HEADER_LEN..].to_vec(),
    })
}

/// The first checks of a tile or region file, whose first 8 bytes are laid out alike: the magic
/// (a file shorter than it is too short), the minimum length `min`, the format version (bytes
/// 4..6) and the reserved field (bytes 6..8).
pub(super) fn check_preamble(
    bytes: &[u8],
    magic: [u8; 4],
    min: usize,
    format: u16,
) -> Result<(), Corruption> {
    let too_short = || Corruption::TooShort {
        len: bytes.len(),
        min,
    };
    let found: [u8; 4] = array(bytes, 0).ok_or_else(too_short)?;
    if found != magic {
        return Err(Corruption::BadMagic {
            found,
            expected: magic,
        });
    }
    if bytes.len() < min {
        return Err(too_short());
    }
    let found = array(bytes, 4).map_or(0, u16::from_le_bytes);
    if found != format {
        return Err(Corruption::UnsupportedFormat {
            found: u32::from(found),
            supported: u32::from(format),
        });
    }
    let reserved = array(bytes, 6).map_or(0, u16::from_le_bytes);
    if reserved != 0 {
        return Err(Corruption::Reserved { found: reserved });
    }
    Ok(())
}

/// `N` bytes at `at`, if the slice is long enough.
pub(super) fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo() -> BoardGeometry {
        BoardGeometry::new(100, 70, 64).expect("geometry")
    }

    fn edge_tile() -> TileSnapshot {
        // The bottom-right tile of a 100x70 board is 36x6.
        let pixels = (0..36 * 6).map(|i| (i % 251) as u8).collect();
        TileSnapshot {
            tile: TileCoord { tx: 1, ty: 1 },
            version: 0x0102_0304_0506_0708,
            pixels,
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let snap = edge_tile();
        let bytes = encode(geo(), &snap);
        assert_eq!(bytes.len() as u64, file_len(36, 6));
        assert_eq!(&bytes[..4], b"TSRT");
        assert_eq!(&bytes[8..12], &100u32.to_le_bytes());
        assert_eq!(&bytes[24..28], &[36, 0, 6, 0]);
        assert_eq!(&bytes[28..36], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(decode(&bytes, geo(), snap.tile).expect("decodes"), snap);
    }

    #[test]
    fn every_defect_has_its_own_reason() {
        let snap = edge_tile();
        let good = encode(geo(), &snap);
        let decode_err = |bytes: &[u8]| decode(bytes, geo(), snap.tile).expect_err("must fail");

        assert!(matches!(
            decode_err(&good[..2]),
            Corruption::TooShort { len: 2, .. }
        ));
        assert!(matches!(
            decode_err(&good[..20]),
            Corruption::TooShort { len: 20, .. }
        ));
        assert!(matches!(
            decode_err(&good[..good.len() - 1]),
            Corruption::Length { .. }
        ));
        let mut padded = good.clone();
        padded.push(0);
        assert!(matches!(decode_err(&padded), Corruption::Length { .. }));

        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(matches!(decode_err(&bad), Corruption::BadMagic { .. }));
        let mut bad = good.clone();
        bad[4] = 2;
        assert!(matches!(
            decode_err(&bad),
            Corruption::UnsupportedFormat { found: 2, .. }
        ));
        let mut bad = good.clone();
        bad[6] = 1;
        assert!(matches!(
            decode_err(&bad),
            Corruption::Reserved { found: 1 }
        ));
        let mut bad = good.clone();
        bad[HEADER_LEN + 3] ^= 0x40;
        assert!(matches!(decode_err(&bad), Corruption::Checksum { .. }));

        let other_board = BoardGeometry::new(100, 70, 32).expect("geometry");
        let err = decode(&good, other_board, snap.tile).expect_err("wrong board");
        assert!(matches!(err, Corruption::BoardMismatch { .. }));
        let err = decode(&good, geo(), TileCoord { tx: 0, ty: 1 }).expect_err("renamed");
        assert!(matches!(
            err,
            Corruption::TileMismatch {
                found_tx: 1,
                found_ty: 1,
                ..
            }
        ));
    }

    #[test]
    fn header_tile_size_must_match_the_board() {
        // A well-formed, correctly checksummed file that claims a full 64x64 edge tile.
        let g = geo();
        let full = TileSnapshot {
            tile: TileCoord { tx: 0, ty: 0 },
            version: 1,
            pixels: vec![3; 64 * 64],
        };
        let mut bytes = encode(g, &full);
        bytes[20] = 1; // tx = 1: the 36-wide edge tile.
        let body_len = bytes.len() - CRC_LEN;
        let crc = crc32fast::hash(&bytes[..body_len]);
        bytes[body_len..].copy_from_slice(&crc.to_le_bytes());
        let err = decode(&bytes, g, TileCoord { tx: 1, ty: 0 }).expect_err("size mismatch");
        assert!(matches!(
            err,
            Corruption::TileSize {
                found_width: 64,
                expected_width: 36,
                ..
            }
        ));
    }
}

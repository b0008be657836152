//! The region file format: a square block of tiles stored together as `<rx>-<ry>.region`.
//!
//! A board is cut into regions of `k` x `k` tiles, `k` = [`region_edge`] (1024 pixels over the
//! tile size, at least 1): a 16384 x 16384 board in 64-pixel tiles is 256 files of up to 1 MiB
//! instead of 65,536 files of 4 KiB. Small files cost a new inode per tile and snapshot pass and
//! one disk round trip per tile at a cold start; regions cost neither (BENCHMARKS.md).
//!
//! All integers are little-endian. Offsets in bytes:
//!
//! | offset | size | field                                                              |
//! |-------:|-----:|--------------------------------------------------------------------|
//! |      0 |    4 | magic `b"TSRR"`                                                     |
//! |      4 |    2 | format version, `1`                                                |
//! |      6 |    2 | reserved, `0`                                                      |
//! |      8 |    4 | board width in pixels                                              |
//! |     12 |    4 | board height in pixels                                             |
//! |     16 |    4 | tile size in pixels                                                |
//! |     20 |    2 | region column `rx` (tiles `rx*k ..= rx*k + k - 1`)                 |
//! |     22 |    2 | region row `ry`                                                    |
//! |     24 |    2 | region edge `k` in tiles                                           |
//! |     26 |    2 | number `n` of tile records                                         |
//! |     28 |    4 | crc32 (IEEE) of bytes 0..28                                        |
//! |     32 |  ... | `n` tile records, each exactly a tile file (see [`super::tile_file`]) |
//!
//! Records are tiles of this region in row order (by `ty`, then `tx`), each at most once; a tile
//! of the region without a record is blank. Each record carries its own header and checksum, so
//! a damaged record is reported by its index and offset, and the file must end right after the
//! last one (truncation and padding are errors, not silently shorter regions).

use std::fmt;

use super::tile_file::{self, array, check_preamble};
use super::{Corruption, TileSnapshot};
use crate::geometry::{BoardGeometry, TileCoord};

pub const MAGIC: [u8; 4] = *b"TSRR";
pub const FORMAT: u16 = 1;
pub const HEADER_LEN: usize = 32;
/// A region is this many pixels square when tiles are no larger. Changing it changes the layout
/// of every stored board, so it comes with a new manifest format (see `manifest.rs`).
pub const REGION_PIXELS: u32 = 1024;

/// The position of a region, in regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCoord {
    /// Row first, so regions sort in row order.
    pub ry: u16,
    pub rx: u16,
}

impl fmt::Display for RegionCoord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.rx, self.ry)
    }
}

/// Tiles along a region's edge for `geometry`.
pub fn region_edge(geometry: BoardGeometry) -> u16 {
    // Tile sizes are powers of two from 16, so this is 1..=64.
    (REGION_PIXELS / geometry.tile_size()).max(1) as u16
}

/// The region holding `tile`.
pub fn region_of(geometry: BoardGeometry, tile: TileCoord) -> RegionCoord {
    let k = region_edge(geometry);
    RegionCoord {
        rx: tile.tx / k,
        ry: tile.ty / k,
    }
}

/// Whether `region` has any tile of `geometry`.
pub fn is_on_board(geometry: BoardGeometry, region: RegionCoord) -> bool {
    let k = u32::from(region_edge(geometry));
    u32::from(region.rx) * k < geometry.tiles_x() && u32::from(region.ry) * k < geometry.tiles_y()
}

/// Largest valid region file of `geometry`: every tile present, all full-sized.
pub fn max_file_len(geometry: BoardGeometry) -> u64 {
    let k = u64::from(region_edge(geometry));
    HEADER_LEN as u64 + k * k * tile_file::max_file_len(geometry)
}

/// The bytes of the file of `region` holding `tiles`, which the caller has checked are tiles of
/// `region` with the right pixel counts, in row order, each once.
pub fn encode(geometry: BoardGeometry, region: RegionCoord, tiles: &[&TileSnapshot]) -> Vec<u8> {
    debug_assert!(tiles.iter().all(|t| region_of(geometry, t.tile) == region));
    debug_assert!(
        tiles
            .windows(2)
            .all(|w| geometry.tile_index(w[0].tile) < geometry.tile_index(w[1].tile))
    );
    let body: usize = tiles
        .iter()
        .map(|t| tile_file::file_len(0, 0) as usize + t.pixels.len())
        .sum();
    let mut bytes = Vec::with_capacity(HEADER_LEN + body);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&geometry.width().to_le_bytes());
    bytes.extend_from_slice(&geometry.height().to_le_bytes());
    bytes.extend_from_slice(&geometry.tile_size().to_le_bytes());
    bytes.extend_from_slice(&region.rx.to_le_bytes());
    bytes.extend_from_slice(&region.ry.to_le_bytes());
    bytes.extend_from_slice(&region_edge(geometry).to_le_bytes());
    // At most 64 x 64 tiles per region (see `region_edge`).
    bytes.extend_from_slice(&(tiles.len() as u16).to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(bytes.len(), HEADER_LEN);
    for tile in tiles {
        tile_file::encode_into(geometry, tile, &mut bytes);
    }
    bytes
}

/// Parses and validates the file of region `expected` of `geometry`, returning its tiles in row
/// order. Checks run from the outside in, as for tile files: magic, format, header checksum,
/// board, region, then each record.
pub fn decode(
    bytes: &[u8],
    geometry: BoardGeometry,
    expected: RegionCoord,
) -> Result<Vec<TileSnapshot>, Corruption> {
    check_preamble(bytes, MAGIC, HEADER_LEN, FORMAT)?;
    let u16_at = |at| array(bytes, at).map_or(0, u16::from_le_bytes);
    let u32_at = |at| array(bytes, at).map_or(0, u32::from_le_bytes);
    let (stored, computed) = (u32_at(28), crc32fast::hash(&bytes[..28]));
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
    let k = region_edge(geometry);
    let found = (u16_at(20), u16_at(22), u16_at(24));
    if found != (expected.rx, expected.ry, k) {
        return Err(Corruption::RegionMismatch {
            found,
            expected: (expected.rx, expected.ry, k),
        });
    }

    let count = usize::from(u16_at(26));
    let mut tiles = Vec::with_capacity(count);
    let mut offset = HEADER_LEN;
    let mut previous: Option<usize> = None;
    for index in 0..count {
        let rest = &bytes[offset..];
        let record_error = |reason| Corruption::RegionRecord {
            index,
            offset,
            reason: Box::new(reason),
        };
        let (tx, ty) = tile_file::named_tile(rest).ok_or_else(|| {
            record_error(Corruption::TooShort {
                len: rest.len(),
                min: tile_file::HEADER_LEN,
            })
        })?;
        let tile = geometry
            .tile(u32::from(tx), u32::from(ty))
            .filter(|&tile| region_of(geometry, tile) == expected)
            .ok_or_else(|| record_error(Corruption::TileNotInRegion { tx, ty }))?;
        let index_on_board = geometry.tile_index(tile);
        if previous.is_some_and(|p| p >= index_on_board) {
            return Err(record_error(Corruption::TileOrder { tx, ty }));
        }
        previous = Some(index_on_board);
        let rect = geometry.tile_rect(tile);
        let len = tile_file::file_len(rect.width, rect.height) as usize;
        // A cut-off record is passed whole, so the tile decoder reports it as a wrong length.
        let record = rest.get(..len).unwrap_or(rest);
        tiles.push(tile_file::decode(record, geometry, tile).map_err(record_error)?);
        offset += record.len();
    }
    if offset != bytes.len() {
        return Err(Corruption::Length {
            expected: offset as u64,
            actual: bytes.len(),
        });
    }
    Ok(tiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 300 x 200 in 64-pixel tiles: 5 x 4 tiles, k = 16, so one region with edge tiles.
    fn geo() -> BoardGeometry {
        BoardGeometry::new(300, 200, 64).expect("geometry")
    }

    fn snapshot(g: BoardGeometry, tx: u16, ty: u16, version: u64) -> TileSnapshot {
        let tile = TileCoord { tx, ty };
        let area = g.tile_rect(tile).area() as usize;
        TileSnapshot {
            tile,
            version,
            pixels: (0..area).map(|i| (i as u64 * 7 + version) as u8).collect(),
        }
    }

    fn region() -> RegionCoord {
        RegionCoord { rx: 0, ry: 0 }
    }

    fn good() -> (Vec<TileSnapshot>, Vec<u8>) {
        let g = geo();
        let tiles = vec![
            snapshot(g, 1, 0, 3),
            snapshot(g, 4, 2, 5),
            snapshot(g, 0, 3, 9),
        ];
        let refs: Vec<&TileSnapshot> = tiles.iter().collect();
        let bytes = encode(g, region(), &refs);
        (tiles, bytes)
    }

    #[test]
    fn round_trip_and_layout() {
        let (tiles, bytes) = good();
        assert_eq!(&bytes[..4], b"TSRR");
        assert_eq!(&bytes[20..28], &[0, 0, 0, 0, 16, 0, 3, 0]);
        let expected_len = HEADER_LEN as u64
            + tiles
                .iter()
                .map(|t| {
                    let r = geo().tile_rect(t.tile);
                    tile_file::file_len(r.width, r.height)
                })
                .sum::<u64>();
        assert_eq!(bytes.len() as u64, expected_len);
        assert_eq!(decode(&bytes, geo(), region()).expect("decodes"), tiles);
        let empty = encode(geo(), region(), &[]);
        assert_eq!(decode(&empty, geo(), region()).expect("empty"), vec![]);
    }

    #[test]
    fn regions_group_square_blocks_of_tiles() {
        let g = BoardGeometry::new(16384, 4096, 64).expect("geometry");
        assert_eq!(region_edge(g), 16);
        let at = |tx, ty| region_of(g, TileCoord { tx, ty });
        assert_eq!(at(15, 15), RegionCoord { rx: 0, ry: 0 });
        assert_eq!(at(16, 15), RegionCoord { rx: 1, ry: 0 });
        assert_eq!(at(255, 63), RegionCoord { rx: 15, ry: 3 });
        assert!(is_on_board(g, RegionCoord { rx: 15, ry: 3 }));
        assert!(!is_on_board(g, RegionCoord { rx: 16, ry: 0 }));
        assert!(!is_on_board(g, RegionCoord { rx: 0, ry: 4 }));
        let big = BoardGeometry::new(4096, 4096, 1024).expect("geometry");
        assert_eq!(region_edge(big), 1);
        let small = BoardGeometry::new(4096, 4096, 16).expect("geometry");
        assert_eq!(region_edge(small), 64);
    }

    fn with_header_crc(mut bytes: Vec<u8>) -> Vec<u8> {
        let crc = crc32fast::hash(&bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    #[test]
    fn every_defect_has_its_own_reason() {
        let (_, good) = good();
        let g = geo();
        let err = |bytes: &[u8]| decode(bytes, g, region()).expect_err("must fail");

        assert!(matches!(
            err(&good[..3]),
            Corruption::TooShort { len: 3, .. }
        ));
        assert!(matches!(
            err(&good[..20]),
            Corruption::TooShort { len: 20, .. }
        ));
        let mut bad = good.clone();
        bad[1] = b'X';
        assert!(matches!(err(&bad), Corruption::BadMagic { .. }));
        let mut bad = good.clone();
        bad[4] = 2;
        assert!(matches!(
            err(&bad),
            Corruption::UnsupportedFormat { found: 2, .. }
        ));
        let mut bad = good.clone();
        bad[7] = 1;
        assert!(matches!(err(&bad), Corruption::Reserved { .. }));
        let mut bad = good.clone();
        bad[26] = 2; // the count, without fixing the header checksum
        assert!(matches!(err(&bad), Corruption::Checksum { .. }));
        let other = BoardGeometry::new(300, 200, 32).expect("geometry");
        assert!(matches!(
            decode(&good, other, region()).expect_err("other board"),
            Corruption::BoardMismatch { .. }
        ));
        assert!(matches!(
            decode(&good, g, RegionCoord { rx: 1, ry: 0 }).expect_err("renamed"),
            Corruption::RegionMismatch {
                found: (0, 0, 16),
                ..
            }
        ));

        // Record damage names the record.
        let second = HEADER_LEN + tile_file::file_len(64, 64) as usize;
        let mut bad = good.clone();
        bad[second + tile_file::HEADER_LEN + 5] ^= 1;
        match err(&bad) {
            Corruption::RegionRecord {
                index,
                offset,
                reason,
            } => {
                assert_eq!((index, offset), (1, second));
                assert!(matches!(*reason, Corruption::Checksum { .. }), "{reason}");
            }
            other => panic!("expected a record error, got {other}"),
        }
        match err(&good[..good.len() - 1]) {
            Corruption::RegionRecord {
                index: 2, reason, ..
            } => {
                assert!(matches!(*reason, Corruption::Length { .. }), "{reason}");
            }
            other => panic!("expected a cut-off last record, got {other}"),
        }
        let mut padded = good.clone();
        padded.push(0);
        assert!(matches!(err(&padded), Corruption::Length { .. }));
        // A count larger than the records present: the missing record is too short.
        let mut more = good.clone();
        more[26] = 4;
        match err(&with_header_crc(more)) {
            Corruption::RegionRecord {
                index: 3, reason, ..
            } => {
                assert!(
                    matches!(*reason, Corruption::TooShort { len: 0, .. }),
                    "{reason}"
                );
            }
            other => panic!("expected a missing record, got {other}"),
        }
    }

    #[test]
    fn records_must_be_tiles_of_the_region_in_row_order() {
        let g = BoardGeometry::new(2048, 1024, 64).expect("geometry"); // two regions side by side
        let a = snapshot(g, 3, 1, 1);
        let b = snapshot(g, 2, 1, 1);
        let outside = snapshot(g, 16, 0, 1);
        let r0 = RegionCoord { rx: 0, ry: 0 };
        let out_of_order = encode_unchecked(g, r0, &[&a, &b]);
        assert!(matches!(
            decode(&out_of_order, g, r0).expect_err("order"),
            Corruption::RegionRecord { index: 1, reason, .. }
                if matches!(*reason, Corruption::TileOrder { tx: 2, ty: 1 })
        ));
        let twice = encode_unchecked(g, r0, &[&a, &a]);
        assert!(matches!(
            decode(&twice, g, r0).expect_err("a tile twice"),
            Corruption::RegionRecord { index: 1, reason, .. }
                if matches!(*reason, Corruption::TileOrder { tx: 3, ty: 1 })
        ));
        let foreign = encode_unchecked(g, r0, &[&outside]);
        assert!(matches!(
            decode(&foreign, g, r0).expect_err("foreign"),
            Corruption::RegionRecord { index: 0, reason, .. }
                if matches!(*reason, Corruption::TileNotInRegion { tx: 16, ty: 0 })
        ));
    }

    /// `encode` without its debug checks, to build invalid files.
    fn encode_unchecked(g: BoardGeometry, region: RegionCoord, tiles: &[&TileSnapshot]) -> Vec<u8> {
        let mut bytes = encode(g, region, &[]);
        bytes[26..28].copy_from_slice(&(tiles.len() as u16).to_le_bytes());
        let mut bytes = with_header_crc(bytes);
        for tile in tiles {
            tile_file::encode_into(g, tile, &mut bytes);
        }
        bytes
    }
}

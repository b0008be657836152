//! The errors of the storage layer: every one names the file or directory it is about.

use std::io;
use std::path::PathBuf;

use crate::geometry::{BoardGeometry, GeometryError, TileCoord};

/// Why loading or saving a board failed. Each variant carries `path`, the file or directory an
/// operator has to look at, so a log line alone is enough to find the problem.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system refused an operation; `action` says which one.
    #[error("could not {action} {path}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },

    /// A file exists but does not hold what it must. Never treated as a blank tile or board:
    /// silently blanking paint is worse than refusing to start.
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: Corruption },

    /// The board got smaller and a painted pixel would fall off it. Nothing was modified.
    #[error(
        "refusing to shrink the board in {path} from {old_width}x{old_height} to \
         {new_width}x{new_height}: pixel ({x}, {y}) is painted with colour {colour} and would be \
         lost; repaint it with the background colour or keep the old size"
    )]
    Shrink {
        path: PathBuf,
        old_width: u32,
        old_height: u32,
        new_width: u32,
        new_height: u32,
        x: u32,
        y: u32,
        colour: u8,
    },

    /// `save` was called with a geometry other than the stored one; `load` re-slices first, so
    /// this is a caller bug, and writing would mix two layouts.
    #[error(
        "{path} records a {}x{} board with {}-pixel tiles, but save was called for a {}x{} \
         board with {}-pixel tiles; load the board first so it is re-sliced",
        .stored.width(), .stored.height(), .stored.tile_size(),
        .requested.width(), .requested.height(), .requested.tile_size()
    )]
    GeometryMismatch {
        path: PathBuf,
        stored: BoardGeometry,
        requested: BoardGeometry,
    },

    /// `save` was given a tile that is not on the board; `path` is where it would have gone.
    #[error(
        "{path} names the one-file-per-tile layout of an earlier version; load the board first \
         so it is converted to region files"
    )]
    Unconverted { path: PathBuf },

    #[error("cannot save tile {tile} to {path}: the board has only {tiles_x}x{tiles_y} tiles")]
    TileOffBoard {
        path: PathBuf,
        tile: TileCoord,
        tiles_x: u32,
        tiles_y: u32,
    },

    /// `save` was given a tile whose pixel buffer does not fit its rectangle.
    #[error("cannot save tile {tile} to {path}: it has {actual} pixels, its rectangle {expected}")]
    PixelCount {
        path: PathBuf,
        tile: TileCoord,
        expected: u64,
        actual: usize,
    },
}

/// What exactly is wrong with a corrupt file, specific enough to tell truncation from bit rot
/// from a file copied in from another board.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    #[error("it is {len} bytes long, shorter than the {min}-byte minimum")]
    TooShort { len: usize, min: usize },
    #[error(
        "it starts with {found:02x?}, not the magic {:?}",
        String::from_utf8_lossy(.expected)
    )]
    BadMagic { found: [u8; 4], expected: [u8; 4] },
    #[error("format version {found} is not supported (this build reads version {supported})")]
    UnsupportedFormat { found: u32, supported: u32 },
    #[error("reserved header field is {found}, not 0")]
    Reserved { found: u16 },
    #[error("it is {actual} bytes long but its header announces {expected} (truncated or padded)")]
    Length { expected: u64, actual: usize },
    #[error("checksum mismatch: stored crc32 {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error(
        "it belongs to a {}x{} board with {}-pixel tiles but the manifest says {}x{} with \
         {}-pixel tiles",
        .found.0, .found.1, .found.2, .expected.0, .expected.1, .expected.2
    )]
    BoardMismatch {
        found: (u32, u32, u32),
        expected: (u32, u32, u32),
    },
    #[error("its header names tile ({found_tx}, {found_ty}) but its file name tile {expected}")]
    TileMismatch {
        found_tx: u16,
        found_ty: u16,
        expected: TileCoord,
    },
    #[error(
        "its header gives the tile {found_width}x{found_height} pixels, but tile {tile} of this \
         board is {expected_width}x{expected_height}"
    )]
    TileSize {
        tile: TileCoord,
        found_width: u16,
        found_height: u16,
        expected_width: u32,
        expected_height: u32,
    },
    #[error("tile ({tx}, {ty}) is not on the board, which has {tiles_x}x{tiles_y} tiles")]
    TileOffBoard {
        tx: u16,
        ty: u16,
        tiles_x: u32,
        tiles_y: u32,
    },
    #[error("the file name is not of the form `{pattern}`")]
    FileName { pattern: &'static str },
    #[error(
        "its header names region ({}, {}) of {}x{} tiles, but it is the file of region ({}, {}) \
         of {}x{} tiles",
        .found.0, .found.1, .found.2, .found.2, .expected.0, .expected.1, .expected.2, .expected.2
    )]
    RegionMismatch {
        found: (u16, u16, u16),
        expected: (u16, u16, u16),
    },
    #[error("tile record {index} at byte {offset}: {reason}")]
    RegionRecord {
        index: usize,
        offset: usize,
        reason: Box<Corruption>,
    },
    #[error("region ({rx}, {ry}) is not on the board")]
    RegionOffBoard { rx: u16, ry: u16 },
    #[error("tile ({tx}, {ty}) is not a tile of this region")]
    TileNotInRegion { tx: u16, ty: u16 },
    #[error("tile ({tx}, {ty}) does not follow the previous record in row order (each tile once)")]
    TileOrder { tx: u16, ty: u16 },
    #[error("invalid JSON: {0}")]
    ManifestJson(#[source] serde_json::Error),
    #[error("invalid board geometry: {0}")]
    ManifestGeometry(#[source] GeometryError),
    #[error("it names layout directory {found:?}, but its geometry belongs in {expected:?}")]
    ManifestLayout { found: String, expected: String },
    #[error("the manifest names this layout directory but it does not exist")]
    MissingLayout,
    #[error("it is missing, but {} holds tile files", .tiles_in.display())]
    MissingManifest { tiles_in: PathBuf },
    #[error("journal segment: {0}")]
    Journal(#[source] super::journal::format::SegmentError),
}

//! Names on disk: the layout directory of a geometry, tile and region file names, and listing
//! a layout.
//!
//! Names are canonical (`w2048-h2048-t64-r16`, `1-0.region`; `w2048-h2048-t64` and `12-7.tile`
//! for the older layout of one file per tile) and parsed strictly, so exactly one name maps to
//! each geometry, region and tile, and cleanup can tell our directories from an operator's
//! files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::atomic::TMP_SUFFIX;
use super::region_file::{self, RegionCoord};
use super::{Corruption, StorageError};
use crate::geometry::{BoardGeometry, TileCoord};

pub const MANIFEST_FILE: &str = "manifest.json";
const TILE_SUFFIX: &str = ".tile";
const REGION_SUFFIX: &str = ".region";

/// How a layout directory stores its tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// One `<tx>-<ty>.tile` file per tile (manifest format 1; read, and converted at load).
    Tiles,
    /// One `<rx>-<ry>.region` file per region of tiles (manifest format 2; what is written).
    Regions,
}

/// The directory, inside the board directory, holding the tiles of `geometry` in `kind`.
pub fn layout_dir_name(geometry: BoardGeometry, kind: LayoutKind) -> String {
    let base = format!(
        "w{}-h{}-t{}",
        geometry.width(),
        geometry.height(),
        geometry.tile_size()
    );
    match kind {
        LayoutKind::Tiles => base,
        LayoutKind::Regions => format!("{base}-r{}", region_file::region_edge(geometry)),
    }
}

/// Whether `name` is a layout directory name of some geometry (valid or not); used to decide
/// which directories cleanup may delete.
pub fn is_layout_dir_name(name: &str) -> bool {
    let mut parts = name.split('-');
    let numbered = |part: Option<&str>, prefix: char| {
        part.and_then(|p| p.strip_prefix(prefix))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    numbered(parts.next(), 'w')
        && numbered(parts.next(), 'h')
        && numbered(parts.next(), 't')
        && match parts.next() {
            None => true,
            region => numbered(region, 'r') && parts.next().is_none(),
        }
}

#[cfg(test)]
pub fn tile_file_name(tile: TileCoord) -> String {
    format!("{}-{}{TILE_SUFFIX}", tile.tx, tile.ty)
}

pub fn region_file_name(region: RegionCoord) -> String {
    format!("{}-{}{REGION_SUFFIX}", region.rx, region.ry)
}

/// The two numbers of a canonical `<a>-<b><suffix>` name; `None` for anything else, including
/// `007-1.tile`, so a file can never shadow another under a second name.
fn parse_coord_name(name: &str, suffix: &str) -> Option<(u16, u16)> {
    let (a, b) = name.strip_suffix(suffix)?.split_once('-')?;
    let parse = |s: &str| {
        let n: u16 = s.parse().ok()?;
        (n.to_string() == s).then_some(n)
    };
    Some((parse(a)?, parse(b)?))
}

/// What a layout directory holds.
#[derive(Debug, Default)]
pub struct LayoutListing {
    /// Tile files (a `Tiles` layout), sorted by `(ty, tx)` so that re-slicing and its errors are
    /// deterministic.
    pub tiles: Vec<(TileCoord, PathBuf)>,
    /// Region files (a `Regions` layout), sorted by `(ry, rx)`.
    pub regions: Vec<(RegionCoord, PathBuf)>,
    /// Leftovers of interrupted writes.
    pub tmp_files: Vec<PathBuf>,
}

/// Lists the files of the layout directory `dir` of `geometry` in `kind`. A file of that kind
/// with a malformed name or off the board is corruption; other files are left alone.
pub fn list_layout(
    dir: &Path,
    geometry: BoardGeometry,
    kind: LayoutKind,
) -> Result<LayoutListing, StorageError> {
    let mut listing = LayoutListing::default();
    let (suffix, pattern) = match kind {
        LayoutKind::Tiles => (TILE_SUFFIX, "<tx>-<ty>.tile"),
        LayoutKind::Regions => (REGION_SUFFIX, "<rx>-<ry>.region"),
    };
    for entry in list_dir(dir)? {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // Not a name we ever write.
        };
        if name.ends_with(TMP_SUFFIX) {
            listing.tmp_files.push(path);
            continue;
        }
        if !name.ends_with(suffix) {
            continue;
        }
        let corrupt = |reason| StorageError::Corrupt {
            path: path.clone(),
            reason,
        };
        let (a, b) = parse_coord_name(&name, suffix)
            .ok_or_else(|| corrupt(Corruption::FileName { pattern }))?;
        match kind {
            LayoutKind::Tiles => {
                let tile = geometry.tile(u32::from(a), u32::from(b)).ok_or_else(|| {
                    corrupt(Corruption::TileOffBoard {
                        tx: a,
                        ty: b,
                        tiles_x: geometry.tiles_x(),
                        tiles_y: geometry.tiles_y(),
                    })
                })?;
                listing.tiles.push((tile, path));
            }
            LayoutKind::Regions => {
                let region = RegionCoord { rx: a, ry: b };
                if !region_file::is_on_board(geometry, region) {
                    return Err(corrupt(Corruption::RegionOffBoard { rx: a, ry: b }));
                }
                listing.regions.push((region, path));
            }
        }
    }
    listing.tiles.sort_by_key(|(tile, _)| (tile.ty, tile.tx));
    listing.regions.sort_by_key(|(region, _)| *region);
    Ok(listing)
}

/// Whether any layout-named directory under `board_dir` holds a tile or region file; used to
/// refuse to treat a board whose manifest went missing as blank.
pub fn find_orphan_tiles(board_dir: &Path) -> Result<Option<PathBuf>, StorageError> {
    for dir in layout_dirs(board_dir)? {
        let holds_tiles = list_dir(&dir)?.iter().any(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(TILE_SUFFIX) || n.ends_with(REGION_SUFFIX))
        });
        if holds_tiles {
            return Ok(Some(dir));
        }
    }
    Ok(None)
}

/// The entries of `dir`; none if it does not exist.
pub fn list_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, StorageError> {
    let io_err = |source| StorageError::Io {
        path: dir.to_owned(),
        action: "list directory",
        source,
    };
    match fs::read_dir(dir) {
        Ok(entries) => entries.map(|entry| entry.map_err(io_err)).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err(e)),
    }
}

/// Every layout-named directory directly under `board_dir`; none if it does not exist.
pub fn layout_dirs(board_dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    let io_err = |source| StorageError::Io {
        path: board_dir.to_owned(),
        action: "list directory",
        source,
    };
    let mut dirs = Vec::new();
    for entry in list_dir(board_dir)? {
        let is_layout = entry.file_name().to_str().is_some_and(is_layout_dir_name);
        if is_layout && entry.file_type().map_err(io_err)?.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical() {
        let g = BoardGeometry::new(2048, 1000, 64).expect("geometry");
        assert_eq!(layout_dir_name(g, LayoutKind::Tiles), "w2048-h1000-t64");
        assert_eq!(
            layout_dir_name(g, LayoutKind::Regions),
            "w2048-h1000-t64-r16"
        );
        assert!(is_layout_dir_name("w2048-h1000-t64"));
        assert!(is_layout_dir_name("w2048-h1000-t64-r16"));
        assert!(!is_layout_dir_name("w2048-h1000-t64-r"));
        assert!(!is_layout_dir_name("w2048-h1000-t64-r16-r16"));
        assert!(!is_layout_dir_name("w2048-h1000"));
        assert!(!is_layout_dir_name("w2048-h1000-t64-x"));
        assert!(!is_layout_dir_name("backup"));
        assert_eq!(tile_file_name(TileCoord { tx: 12, ty: 7 }), "12-7.tile");
        assert_eq!(region_file_name(RegionCoord { rx: 3, ry: 1 }), "3-1.region");
        let parse = |name| parse_coord_name(name, TILE_SUFFIX);
        assert_eq!(parse("12-7.tile"), Some((12, 7)));
        assert_eq!(parse("012-7.tile"), None);
        assert_eq!(parse("+1-7.tile"), None);
        assert_eq!(parse("70000-7.tile"), None);
        assert_eq!(parse("1-7.tile.tmp"), None);
        assert_eq!(parse_coord_name("3-1.region", REGION_SUFFIX), Some((3, 1)));
    }
}

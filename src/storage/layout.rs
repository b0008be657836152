//! Names on disk: the layout directory of a geometry, tile file names, and listing a layout.
//!
//! Names are canonical (`w2048-h2048-t64`, `12-7.tile`) and parsed strictly, so exactly one
//! name maps to each geometry and each tile, and cleanup can tell our directories from an
//! operator's files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::atomic::TMP_SUFFIX;
use super::{Corruption, StorageError};
use crate::geometry::{BoardGeometry, TileCoord};

pub const MANIFEST_FILE: &str = "manifest.json";
const TILE_SUFFIX: &str = ".tile";

/// The directory, inside the board directory, holding the tiles of `geometry`.
pub fn layout_dir_name(geometry: BoardGeometry) -> String {
    format!(
        "w{}-h{}-t{}",
        geometry.width(),
        geometry.height(),
        geometry.tile_size()
    )
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
        && parts.next().is_none()
}

pub fn tile_file_name(tile: TileCoord) -> String {
    format!("{}-{}{TILE_SUFFIX}", tile.tx, tile.ty)
}

/// `(tx, ty)` from a canonical tile file name; `None` for anything else, including `007-1.tile`,
/// so a file can never shadow another under a second name.
fn parse_tile_file_name(name: &str) -> Option<(u16, u16)> {
    let (tx, ty) = name.strip_suffix(TILE_SUFFIX)?.split_once('-')?;
    let parse = |s: &str| {
        let n: u16 = s.parse().ok()?;
        (n.to_string() == s).then_some(n)
    };
    Some((parse(tx)?, parse(ty)?))
}

/// What a layout directory holds.
#[derive(Debug, Default)]
pub struct LayoutListing {
    /// Tile files, sorted by `(ty, tx)` so that re-slicing and its errors are deterministic.
    pub tiles: Vec<(TileCoord, PathBuf)>,
    /// Leftovers of interrupted writes.
    pub tmp_files: Vec<PathBuf>,
}

/// Lists the tile files of the layout directory `dir` of `geometry`. A `.tile` file with a
/// malformed name or a tile off the board is corruption; other files are left alone.
pub fn list_layout(dir: &Path, geometry: BoardGeometry) -> Result<LayoutListing, StorageError> {
    let mut listing = LayoutListing::default();
    let io_err = |source| StorageError::Io {
        path: dir.to_owned(),
        action: "list directory",
        source,
    };
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // Not a name we ever write.
        };
        if name.ends_with(TMP_SUFFIX) {
            listing.tmp_files.push(path);
        } else if name.ends_with(TILE_SUFFIX) {
            let (tx, ty) = parse_tile_file_name(&name).ok_or(StorageError::Corrupt {
                path: path.clone(),
                reason: Corruption::FileName,
            })?;
            let tile =
                geometry
                    .tile(u32::from(tx), u32::from(ty))
                    .ok_or(StorageError::Corrupt {
                        path: path.clone(),
                        reason: Corruption::TileOffBoard {
                            tx,
                            ty,
                            tiles_x: geometry.tiles_x(),
                            tiles_y: geometry.tiles_y(),
                        },
                    })?;
            listing.tiles.push((tile, path));
        }
    }
    listing.tiles.sort_by_key(|(tile, _)| (tile.ty, tile.tx));
    Ok(listing)
}

/// Whether any layout-named directory under `board_dir` holds a tile file; used to refuse to
/// treat a board whose manifest went missing as blank.
pub fn find_orphan_tiles(board_dir: &Path) -> Result<Option<PathBuf>, StorageError> {
    for dir in layout_dirs(board_dir)? {
        let io_err = |source| StorageError::Io {
            path: dir.clone(),
            action: "list directory",
            source,
        };
        for entry in fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(TILE_SUFFIX))
            {
                return Ok(Some(dir));
            }
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
        assert_eq!(layout_dir_name(g), "w2048-h1000-t64");
        assert!(is_layout_dir_name("w2048-h1000-t64"));
        assert!(!is_layout_dir_name("w2048-h1000"));
        assert!(!is_layout_dir_name("w2048-h1000-t64-x"));
        assert!(!is_layout_dir_name("backup"));
        assert_eq!(tile_file_name(TileCoord { tx: 12, ty: 7 }), "12-7.tile");
        assert_eq!(parse_tile_file_name("12-7.tile"), Some((12, 7)));
        assert_eq!(parse_tile_file_name("012-7.tile"), None);
        assert_eq!(parse_tile_file_name("+1-7.tile"), None);
        assert_eq!(parse_tile_file_name("70000-7.tile"), None);
        assert_eq!(parse_tile_file_name("1-7.tile.tmp"), None);
    }
}

//! Durable board snapshots: region files of tiles, atomic writes, re-slicing when the geometry
//! changes.
//!
//! # Layout on disk
//!
//! ```text
//! <data_dir>/<board_id>/
//!     journal/               paints since the last snapshot (see [`journal`])
//!     manifest.json          {"format": 2, "width": 2048, "height": 2048, "tile_size": 64,
//!                             "layout": "w2048-h2048-t64-r16"}
//!     w2048-h2048-t64-r16/   the layout directory named by the manifest (`r16`: regions of
//!                            16 x 16 tiles, see [`region_file`])
//!         0-0.region         one file per region with a tile ever saved, `<rx>-<ry>.region`
//!         1-0.region
//! ```
//!
//! A tile without a record in its region's file is blank (all background, version 0). Files
//! ending in `.tmp` and layout directories the manifest does not name are leftovers of
//! interrupted writes; `load` ignores them and then deletes them. A manifest of format 1 names a
//! layout of one file per tile (`w2048-h2048-t64/12-7.tile`, see [`tile_file`]), written by
//! earlier versions: `load` converts it to regions as it would re-slice it.
//!
//! # Crash safety
//!
//! Every file is replaced, never modified in place: written to `<name>.tmp`, made durable,
//! renamed over `<name>` (atomic on POSIX), and the directory fsynced (see `atomic.rs`; a batch
//! of regions is made durable with one `syncfs` before any rename, single files with an fsync).
//! So after a crash each region file is its old or its new version, never a torn mix, and a
//! file that does not decode is real corruption, reported with its path rather than read as
//! blank. A save rewrites each region holding a dirty tile whole: its other tiles are read back
//! from the current file (from the page cache, as a rule), so the write is one new file per
//! region rather than one per tile.
//!
//! The manifest is the commit point for everything else:
//! - The first `save` creates the layout directory, then the manifest, then the tiles, so a
//!   manifest always names an existing directory and tile files never exist without one.
//! - Re-slicing writes the complete new layout directory (all tiles fsynced, directory fsynced)
//!   before atomically switching the manifest, and only then deletes the old directory. A crash
//!   before the switch leaves the old manifest naming the untouched old layout (the half-written
//!   new one is discarded and redone on the next start); a crash after it leaves the complete new
//!   layout plus a stale old directory that the next load deletes.
//!
//! Saving a batch of dirty tiles is not one transaction: a crash mid-batch can leave some regions
//! newer than others. Each region is self-consistent and regions are independent, and the journal
//! segments the batch compacts are deleted only after it is durable, so replaying them at the
//! next start brings every tile up to date (see [`journal`]).
//!
//! Every accepted paint is also in the board's journal (`journal/`, see [`journal`]) before it
//! is acknowledged; snapshots compact the journal, and a start replays what is left of it.
//!
//! One `BoardStore` (one writer) per board; all methods block and belong on a blocking thread.

mod atomic;
mod error;
pub mod journal;
mod layout;
mod manifest;
pub mod region_file;
mod reslice;
pub mod tile_file;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use error::{Corruption, StorageError};

use crate::geometry::{BoardGeometry, TileCoord};
use atomic::{FilesystemSync, create_dir_durably, sync_dir, tmp_path, write_unsynced};
use layout::{
    LayoutKind, MANIFEST_FILE, find_orphan_tiles, layout_dirs, list_layout, region_file_name,
};
use manifest::Manifest;
use region_file::{RegionCoord, region_of};
use reslice::Reslicer;

/// The stored state of one tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileSnapshot {
    pub tile: TileCoord,
    /// The tile's change counter; never decreases, not even across re-slicing.
    pub version: u64,
    /// Row-major palette indices, exactly `tile_rect(tile).width * height` bytes.
    pub pixels: Vec<u8>,
}

/// The snapshot files of one board, in `data_dir/<board_id>/`.
#[derive(Debug, Clone)]
pub struct BoardStore {
    board_dir: PathBuf,
}

impl BoardStore {
    /// `data_dir/<board_id>/` holds this board. Does no IO. `board_id` is trusted to be a plain
    /// directory name (settings allow only `a-z`, `0-9`, `-` and `_`).
    pub fn new(data_dir: &Path, board_id: &str) -> Self {
        Self {
            board_dir: data_dir.join(board_id),
        }
    }

    /// The directory holding this board.
    pub fn board_dir(&self) -> &Path {
        &self.board_dir
    }

    fn manifest_path(&self) -> PathBuf {
        self.board_dir.join(MANIFEST_FILE)
    }

    /// The directory of this board's paint journal.
    pub fn journal_dir(&self) -> PathBuf {
        self.board_dir.join(journal::JOURNAL_DIR)
    }

    /// Replays the journal left by the previous run onto the stored tiles, writes the tiles it
    /// changed durably, and deletes the replayed segments. Runs before [`Self::load`]. A cut-off
    /// batch at the end of the newest segment (a crash during an append, never acknowledged)
    /// is dropped with a warning; any other invalid segment is an error naming it, and nothing
    /// is modified.
    pub fn recover_journal(&self, background: u8) -> Result<Recovery, StorageError> {
        let dir = self.journal_dir();
        let segments = journal::list_segments(&dir)?;
        let mut recovery = Recovery {
            segments: segments.len(),
            ..Recovery::default()
        };
        let Some(&(newest, _)) = segments.last() else {
            return Ok(recovery);
        };
        let mut geometry: Option<BoardGeometry> = None;
        let mut records = Vec::new();
        for (id, path) in &segments {
            let bytes = fs::read(path).map_err(|source| StorageError::Io {
                path: path.clone(),
                action: "read",
                source,
            })?;
            let segment = journal::format::decode_segment(&bytes);
            let corrupt = |reason| StorageError::Corrupt {
                path: path.clone(),
                reason,
            };
            if let Some(error) = segment.error {
                if *id != newest || !segment.torn_tail {
                    return Err(corrupt(Corruption::Journal(error)));
                }
                recovery.torn_bytes = bytes.len() - error.offset();
                tracing::warn!(
                    path = %path.display(),
                    offset = error.offset(),
                    bytes = recovery.torn_bytes,
                    reason = %error,
                    "dropping the cut-off end of the journal (written during a crash, never acknowledged)"
                );
            }
            if let Some(found) = segment.geometry {
                match geometry {
                    Some(g) if g != found => {
                        let reason = journal::format::SegmentError::OtherGeometry {
                            found: (found.width(), found.height(), found.tile_size()),
                            earlier: (g.width(), g.height(), g.tile_size()),
                        };
                        return Err(corrupt(Corruption::Journal(reason)));
                    }
                    _ => geometry = Some(found),
                }
            }
            records.extend(segment.records);
        }
        recovery.records = records.len();
        if let (Some(geometry), false) = (geometry, records.is_empty()) {
            let touched = replay(
                self.load(geometry, background)?,
                geometry,
                background,
                &records,
            );
            recovery.tiles_written = touched.len();
            self.save(geometry, &touched)?;
        }
        journal::delete_segments(&dir, newest)?;
        if recovery.records > 0 {
            tracing::info!(
                board_dir = %self.board_dir.display(),
                segments = recovery.segments,
                paints = recovery.records,
                tiles_written = recovery.tiles_written,
                "replayed the paint journal of the previous run"
            );
        }
        Ok(recovery)
    }

    /// Loads every stored tile for `geometry`, in row order. No directory or no manifest is a
    /// blank board (an empty vec), unless tile files exist without a manifest.
    ///
    /// If the stored geometry differs, the board is re-sliced: old tiles are cut into the new
    /// layout (uncovered pixels are `background`, each new tile's version is the sum of the
    /// versions of the old tiles it overlaps), the new layout is written durably, the manifest
    /// switched and the old layout deleted; the new tiles that received old data are returned.
    /// If the board shrinks and a non-background pixel would fall off, this fails with
    /// [`StorageError::Shrink`] and modifies nothing.
    ///
    /// Any file that fails validation is an error naming it. Leftovers of interrupted writes are
    /// ignored, and deleted once the load has succeeded.
    pub fn load(
        &self,
        geometry: BoardGeometry,
        background: u8,
    ) -> Result<Vec<TileSnapshot>, StorageError> {
        let manifest_path = self.manifest_path();
        let Some(stored) = Manifest::read(&manifest_path)? else {
            // Tiles are only ever written after the manifest, so tiles without one mean the
            // manifest was lost: refuse rather than start a blank board over the paint.
            if let Some(dir) = find_orphan_tiles(&self.board_dir)? {
                let reason = Corruption::MissingManifest { tiles_in: dir };
                return Err(StorageError::Corrupt {
                    path: manifest_path,
                    reason,
                });
            }
            return Ok(Vec::new());
        };
        let stored_dir = self.board_dir.join(&stored.layout);
        match fs::metadata(&stored_dir) {
            Ok(meta) if meta.is_dir() => {}
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                let action = "inspect";
                return Err(StorageError::Io {
                    path: stored_dir,
                    action,
                    source: e,
                });
            }
            // Missing, or a file in its place: the layout the manifest commits to is gone.
            _ => {
                let reason = Corruption::MissingLayout;
                return Err(StorageError::Corrupt {
                    path: stored_dir,
                    reason,
                });
            }
        }
        let listing = list_layout(&stored_dir, stored.geometry, stored.kind)?;
        let current = Manifest::for_geometry(geometry);
        if stored == current {
            let tiles = read_regions(&listing.regions, geometry)?;
            self.clean_up(&stored, &listing.tmp_files);
            return Ok(tiles);
        }

        // Read and check everything before writing anything, so a corrupt old tile or a
        // refused shrink leaves the store exactly as it was.
        let old_tiles = match stored.kind {
            LayoutKind::Tiles => read_tiles(&listing.tiles, stored.geometry)?,
            LayoutKind::Regions => read_regions(&listing.regions, stored.geometry)?,
        };
        let tiles = if stored.geometry == geometry {
            old_tiles // only the file layout changes
        } else {
            let mut reslicer = Reslicer::new(stored.geometry, geometry, background);
            for old_tile in old_tiles {
                reslicer
                    .add(&old_tile)
                    .map_err(|lost| StorageError::Shrink {
                        path: self.board_dir.clone(),
                        old_width: stored.geometry.width(),
                        old_height: stored.geometry.height(),
                        new_width: geometry.width(),
                        new_height: geometry.height(),
                        x: lost.x,
                        y: lost.y,
                        colour: lost.colour,
                    })?;
            }
            reslicer.finish()
        };

        let target_dir = self.board_dir.join(&current.layout);
        // The manifest does not name this directory, so if it exists it is a re-slice that
        // crashed before its switch (or an older layout): start it over from scratch.
        remove_dir_if_present(&target_dir)?;
        create_dir_durably(&target_dir)?;
        write_regions(geometry, &target_dir, &tiles)?;
        current.write(&manifest_path)?;
        tracing::info!(
            board_dir = %self.board_dir.display(),
            from = %stored.layout,
            to = %current.layout,
            tiles = tiles.len(),
            "re-sliced board snapshot"
        );
        self.clean_up(&current, &[]);
        Ok(tiles)
    }

    /// Durably writes `tiles` (the dirty ones) for `geometry`. The first save of a board creates
    /// its layout directory and manifest; later saves must use the stored geometry (`load`
    /// re-slices to it first). Every tile is checked before any is written.
    pub fn save(
        &self,
        geometry: BoardGeometry,
        tiles: &[TileSnapshot],
    ) -> Result<(), StorageError> {
        if tiles.is_empty() {
            return Ok(()); // Nothing dirty: not even worth creating the directories.
        }
        let manifest_path = self.manifest_path();
        let (manifest, first_save) = match Manifest::read(&manifest_path)? {
            Some(m) if m == Manifest::for_geometry(geometry) => (m, false),
            Some(m) if m.geometry == geometry => {
                return Err(StorageError::Unconverted {
                    path: manifest_path,
                });
            }
            Some(m) => {
                return Err(StorageError::GeometryMismatch {
                    path: manifest_path,
                    stored: m.geometry,
                    requested: geometry,
                });
            }
            None => (Manifest::for_geometry(geometry), true),
        };
        let dir = self.board_dir.join(&manifest.layout);
        for snapshot in tiles {
            check_snapshot(geometry, &dir, snapshot)?;
        }
        if first_save {
            // Directory before manifest: a manifest must never name a missing layout.
            create_dir_durably(&dir)?;
            manifest.write(&manifest_path)?;
        }
        write_regions(geometry, &dir, tiles)
    }

    /// Best-effort removal of leftovers: `.tmp` files and layout directories other than the
    /// current one. Failure only costs disk space, so it is logged, not returned.
    fn clean_up(&self, current: &Manifest, tmp_files: &[PathBuf]) {
        let mut garbage: Vec<PathBuf> = tmp_files.to_vec();
        let manifest_tmp = tmp_path(&self.manifest_path());
        if manifest_tmp.exists() {
            garbage.push(manifest_tmp);
        }
        for path in garbage {
            if let Err(e) = fs::remove_file(&path) {
                let path = path.display();
                tracing::warn!(%path, error = %e, "could not remove leftover file");
            }
        }
        let stale = match layout_dirs(&self.board_dir) {
            Ok(dirs) => dirs,
            Err(e) => {
                tracing::warn!(error = %e, "could not look for stale layout directories");
                return;
            }
        };
        for dir in stale {
            if dir.file_name().is_some_and(|name| *name == *current.layout) {
                continue;
            }
            match fs::remove_dir_all(&dir) {
                Ok(()) => tracing::info!(path = %dir.display(), "removed stale layout directory"),
                Err(e) => {
                    let path = dir.display();
                    tracing::warn!(%path, error = %e, "could not remove stale layout directory");
                }
            }
        }
    }
}

/// What [`BoardStore::recover_journal`] found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    /// Paints replayed.
    pub records: usize,
    pub tiles_written: usize,
    /// Bytes dropped from the end of the newest segment.
    pub torn_bytes: usize,
}

/// Applies `records` in order to `stored` (missing tiles are blank); returns the tiles changed.
/// Each record counts one paint in its tile's version, as a live tile does.
fn replay(
    stored: Vec<TileSnapshot>,
    geometry: BoardGeometry,
    background: u8,
    records: &[journal::Record],
) -> Vec<TileSnapshot> {
    let mut tiles: std::collections::HashMap<TileCoord, (TileSnapshot, bool)> = stored
        .into_iter()
        .map(|snap| (snap.tile, (snap, false)))
        .collect();
    for record in records {
        // Records were checked against this geometry when decoded.
        let Some(pos) = geometry.pixel(record.x, record.y) else {
            continue;
        };
        let (tile, offset) = geometry.locate(pos);
        let (snap, touched) = tiles.entry(tile).or_insert_with(|| {
            let area = geometry.tile_rect(tile).area() as usize;
            let blank = TileSnapshot {
                tile,
                version: 0,
                pixels: vec![background; area],
            };
            (blank, false)
        });
        snap.pixels[offset as usize] = record.color;
        snap.version += 1;
        *touched = true;
    }
    let mut touched: Vec<TileSnapshot> = tiles
        .into_values()
        .filter_map(|(snap, touched)| touched.then_some(snap))
        .collect();
    touched.sort_by_key(|snap| (snap.tile.ty, snap.tile.tx));
    touched
}

/// Rejects a snapshot that is not a tile of `geometry` or whose pixels do not fit it.
fn check_snapshot(
    geometry: BoardGeometry,
    dir: &Path,
    snapshot: &TileSnapshot,
) -> Result<(), StorageError> {
    let tile = snapshot.tile;
    let path = || dir.join(region_file_name(region_of(geometry, tile)));
    if geometry
        .tile(u32::from(tile.tx), u32::from(tile.ty))
        .is_none()
    {
        return Err(StorageError::TileOffBoard {
            path: path(),
            tile,
            tiles_x: geometry.tiles_x(),
            tiles_y: geometry.tiles_y(),
        });
    }
    let expected = geometry.tile_rect(tile).area();
    if snapshot.pixels.len() as u64 != expected {
        return Err(StorageError::PixelCount {
            path: path(),
            tile,
            expected,
            actual: snapshot.pixels.len(),
        });
    }
    Ok(())
}

/// Replaces the file of each region holding one of `tiles` with that region's current tiles
/// (none in a fresh layout directory) updated by `tiles`, crash-safely and in four steps:
/// every new file is written as `<name>.tmp`; one `syncfs` makes them all durable; each is
/// renamed over its region file; one directory fsync makes the renames durable. A crash before
/// the renames leaves only `.tmp` leftovers beside the old files; after, each rename is atomic
/// and its data already on disk. If a tile appears twice, the later one is written.
fn write_regions(
    geometry: BoardGeometry,
    dir: &Path,
    tiles: &[TileSnapshot],
) -> Result<(), StorageError> {
    // Keyed by row-major tile index, so each region's tiles come out in the order its file wants.
    let mut regions: BTreeMap<RegionCoord, BTreeMap<usize, &TileSnapshot>> = BTreeMap::new();
    for snapshot in tiles {
        regions
            .entry(region_of(geometry, snapshot.tile))
            .or_default()
            .insert(geometry.tile_index(snapshot.tile), snapshot);
    }
    let files: Vec<_> = regions
        .into_iter()
        .map(|(region, dirty)| {
            let path = dir.join(region_file_name(region));
            (region, dirty, tmp_path(&path), path)
        })
        .collect();
    let written = FilesystemSync::begin(dir).and_then(|sync| {
        in_parallel(&files, WRITE_THREADS, |(region, dirty, tmp, path)| {
            let kept = read_region_if_present(path, geometry, *region)?;
            let mut all: BTreeMap<usize, &TileSnapshot> = kept
                .iter()
                .map(|snapshot| (geometry.tile_index(snapshot.tile), snapshot))
                .collect();
            all.extend(dirty.iter().map(|(key, snapshot)| (*key, *snapshot)));
            let records: Vec<&TileSnapshot> = all.into_values().collect();
            write_unsynced(tmp, &region_file::encode(geometry, *region, &records))
        })?;
        sync.finish(files.iter().map(|(_, _, tmp, _)| tmp.as_path()))
    });
    if let Err(e) = written {
        // Best effort: leftovers are harmless (load ignores and removes them).
        for (_, _, tmp, _) in &files {
            let _ = fs::remove_file(tmp);
        }
        return Err(e);
    }
    for (_, _, tmp, path) in &files {
        fs::rename(tmp, path).map_err(|source| StorageError::Io {
            path: path.clone(),
            action: "rename a temporary file over",
            source,
        })?;
    }
    sync_dir(dir)
}

// A 16384 x 16384 board in 64-pixel tiles is 256 region files of 1 MiB (65,536 files of 4 KiB
// in the older layout). Reading them at start costs disk latency on a cold cache, not CPU, so
// several threads keep the disk's queue full. Writing them (unsynced, see `write_regions`) costs
// CPU beside live traffic.

/// Threads reading files at start, before the server takes connections, with nothing else to
/// disturb. For one file per tile a cold load of that board (`cargo bench --bench restore`,
/// BENCHMARKS.md) took 2.0 s on 8 threads, 1.3 s on 32 and 1.2 s on 64 or 128.
const READ_THREADS: usize = 64;
/// Threads writing region files in a snapshot pass. One: a pass is background work beside live
/// traffic, and one thread bounds it to one core.
const WRITE_THREADS: usize = 1;

/// Runs `work` on every item over `threads` threads, collecting results in item order; the
/// first error in item order wins.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> Result<R, StorageError> + Sync,
) -> Result<Vec<R>, StorageError> {
    let chunk = items.len().div_ceil(threads).max(1);
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(work).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut results = Vec::with_capacity(items.len());
        for worker in workers {
            // The work functions return errors for everything a file can do; a panic would be a
            // bug in them, and re-raising it here keeps it one.
            match worker.join() {
                Ok(part) => results.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(results)
    })
}

/// Reads every listed tile file (the older layout), in parallel; the first error in listing
/// order wins.
fn read_tiles(
    listing: &[(TileCoord, PathBuf)],
    geometry: BoardGeometry,
) -> Result<Vec<TileSnapshot>, StorageError> {
    in_parallel(listing, READ_THREADS, |(tile, path)| {
        let bytes = read_capped(path, tile_file::max_file_len(geometry))?;
        tile_file::decode(&bytes, geometry, *tile).map_err(|reason| StorageError::Corrupt {
            path: path.to_owned(),
            reason,
        })
    })
}

/// Reads every listed region file, in parallel; returns their tiles in row order. The first
/// error in listing order wins.
fn read_regions(
    listing: &[(RegionCoord, PathBuf)],
    geometry: BoardGeometry,
) -> Result<Vec<TileSnapshot>, StorageError> {
    let regions = in_parallel(listing, READ_THREADS, |(region, path)| {
        read_region(path, geometry, *region)
    })?;
    let mut tiles: Vec<TileSnapshot> = regions.into_iter().flatten().collect();
    tiles.sort_by_key(|snapshot| geometry.tile_index(snapshot.tile));
    Ok(tiles)
}

/// Reads and validates the file of `region`.
fn read_region(
    path: &Path,
    geometry: BoardGeometry,
    region: RegionCoord,
) -> Result<Vec<TileSnapshot>, StorageError> {
    let bytes = read_capped(path, region_file::max_file_len(geometry))?;
    region_file::decode(&bytes, geometry, region).map_err(|reason| StorageError::Corrupt {
        path: path.to_owned(),
        reason,
    })
}

/// The tiles of `region`'s file; none if it has no file yet.
fn read_region_if_present(
    path: &Path,
    geometry: BoardGeometry,
    region: RegionCoord,
) -> Result<Vec<TileSnapshot>, StorageError> {
    match read_region(path, geometry, region) {
        Err(StorageError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(Vec::new())
        }
        result => result,
    }
}

/// The bytes of the file at `path`, reading at most one byte past `max_len`: enough to report a
/// file as too long, so a huge corrupt file costs no more memory than a valid one. Sized up
/// front, so a valid file takes one read call rather than a series of growing ones.
fn read_capped(path: &Path, max_len: u64) -> Result<Vec<u8>, StorageError> {
    let io_err = |source| StorageError::Io {
        path: path.to_owned(),
        action: "read",
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let limit = max_len + 1;
    let mut bytes =
        Vec::with_capacity(limit.min(file.metadata().map_or(limit, |m| m.len() + 1)) as usize);
    file.take(limit).read_to_end(&mut bytes).map_err(io_err)?;
    Ok(bytes)
}

fn remove_dir_if_present(dir: &Path) -> Result<(), StorageError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StorageError::Io {
            path: dir.to_owned(),
            action: "remove directory",
            source,
        }),
    }
}

#[cfg(test)]
mod tests;

//! Keeping the overview pyramid fresh: every `server.overview_refresh_ms`, one round reads the
//! tiles that changed since the previous round and recomputes the overview above them.
//!
//! A round starts by reading the board version and taking the changed-tile marks, so an
//! overview tile reflects every paint applied before its round started: it is stale by at most
//! about one interval plus the time a round takes. Only changed tiles are asked, a bounded
//! batch at a time, and each hands over only the box around the pixels it changed since it was
//! last asked (a pixel or two on a large board, where downsampling whole tiles was 7% of the
//! server's time: BENCHMARKS.md). The downsampling runs on the blocking pool, never on an
//! actor thread.

use std::sync::Arc;
use std::time::Duration;

use super::gather::gather;
use tokio::time::{Instant, MissedTickBehavior};

use super::board::Board;
use super::overview::{OVERVIEW_TILE, TilePatch};
use super::tile::{MarkAllChanged, TakeChanged};
use super::tile_buffer::TileArea;
use crate::geometry::{BoardGeometry, Rect, TileCoord};

/// Tiles read at once: enough to keep every arbiter busy, few enough that a round over a
/// whole 65,536-tile board never holds more than a few megabytes of copied pixels.
const FETCH_BATCH: usize = 256;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshReport {
    /// Changed tiles whose pixels went into the overview.
    pub tiles: usize,
    /// Tiles that could not be read; they stay marked for the next round.
    pub failures: usize,
}

/// Refreshes `board`'s overview every `every`, forever; a slow round delays the next one
/// instead of overlapping it. The supervisor runs one per board and drops it when it stops.
pub async fn run(board: Arc<Board>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        refresh(&board).await;
    }
}

/// One round: the changed tiles since the previous round, their level-1 pixels, then every
/// higher level above them.
pub async fn refresh(board: &Arc<Board>) -> RefreshReport {
    let mut report = RefreshReport::default();
    // Read before the marks are taken: tiles mark themselves before they count their paints,
    // so every paint counted here is in a tile taken now (or read by an earlier round).
    let board_version = board.version();
    let changed = board.counters.changed.take();
    if changed.is_empty() {
        return report;
    }
    let started = Instant::now();
    let version = board.overview.round_version(board_version);
    let mut applied = Vec::with_capacity(changed.len());
    let mut touched = Vec::with_capacity(changed.len());
    let mut batch: Vec<Vec<TileCoord>> = Vec::new();
    let mut batch_tiles = 0;
    for group in groups(board.geometry(), changed) {
        batch_tiles += group.len();
        batch.push(group);
        if batch_tiles >= FETCH_BATCH {
            apply_level1(
                board,
                version,
                std::mem::take(&mut batch),
                &mut applied,
                &mut touched,
                &mut report,
            )
            .await;
            batch_tiles = 0;
        }
    }
    if !batch.is_empty() {
        apply_level1(
            board,
            version,
            batch,
            &mut applied,
            &mut touched,
            &mut report,
        )
        .await;
    }
    let propagating = Arc::clone(board);
    let tiles = applied.len();
    let result =
        tokio::task::spawn_blocking(move || propagating.overview.propagate(version, &touched))
            .await;
    if let Err(e) = result {
        // Only a panic gets here, a bug; the tiles are retried next round.
        remark(board, &applied);
        tracing::error!(board = board.id(), error = %e, "overview propagation failed");
    }
    report.tiles = tiles;
    tracing::debug!(
        board = board.id(),
        version,
        tiles,
        failures = report.failures,
        refresh_ms = started.elapsed().as_millis() as u64,
        "overview refreshed"
    );
    report
}

/// The changed tiles grouped so that each group covers whole level-1 overview tiles (a square
/// of `max(tile_size, 512)` board pixels): one group is applied under one lock, so no reader
/// sees an overview tile with only some of its changed board tiles applied.
fn groups(geometry: &BoardGeometry, mut tiles: Vec<TileCoord>) -> Vec<Vec<TileCoord>> {
    let per_group = (2 * OVERVIEW_TILE / geometry.tile_size()).max(1);
    let key = |t: &TileCoord| (u32::from(t.ty) / per_group, u32::from(t.tx) / per_group);
    tiles.sort_unstable_by_key(|t| (key(t), t.ty, t.tx));
    tiles
        .chunk_by(|a, b| key(a) == key(b))
        .map(<[TileCoord]>::to_vec)
        .collect()
}

/// Takes the changed part of each tile of `groups` and recomputes level 1 over it on the
/// blocking pool, adding the tiles it applied to `applied` and the level-1 rectangles it
/// recomputed to `touched`. A tile that does not answer is marked changed again.
async fn apply_level1(
    board: &Arc<Board>,
    version: u64,
    groups: Vec<Vec<TileCoord>>,
    applied: &mut Vec<TileCoord>,
    touched: &mut Vec<Rect>,
    report: &mut RefreshReport,
) {
    let replies = gather(
        groups.iter().flatten().map(|&coord| board.tile(coord)),
        || TakeChanged,
    )
    .await;
    let mut replies = replies.into_iter();
    let mut read: Vec<Vec<(TileCoord, TileArea)>> = Vec::with_capacity(groups.len());
    for group in groups {
        let mut tiles = Vec::with_capacity(group.len());
        for coord in group {
            match replies.next().expect("one reply per tile") {
                Some(Some(area)) => tiles.push((coord, area)),
                // Marked by a flush whose pixels an earlier round already took.
                Some(None) => {}
                None => {
                    report.failures += 1;
                    board.counters.changed.mark(coord);
                    tracing::warn!(board = board.id(), tile = %coord, "tile stopped before answering the overview refresh");
                }
            }
        }
        read.push(tiles);
    }
    let coords: Vec<TileCoord> = read.iter().flatten().map(|(c, _)| *c).collect();
    let applying = Arc::clone(board);
    let result = tokio::task::spawn_blocking(move || {
        let mut touched = Vec::new();
        for tiles in &read {
            let patches: Vec<TilePatch<'_>> = tiles
                .iter()
                .map(|(coord, area)| TilePatch {
                    coord: *coord,
                    area: area.area,
                    pixels: &area.pixels,
                })
                .collect();
            applying
                .overview
                .apply_tiles(version, &patches, &mut touched);
        }
        touched
    })
    .await;
    match result {
        Ok(rects) => {
            applied.extend(coords);
            touched.extend(rects);
        }
        Err(e) => {
            // Only a panic gets here, a bug; the tiles are retried next round.
            remark(board, &coords);
            tracing::error!(board = board.id(), error = %e, "overview refresh failed");
        }
    }
}

/// Marks `tiles` changed again, whole: the pixels they handed over never reached the overview.
fn remark(board: &Board, tiles: &[TileCoord]) {
    for &tile in tiles {
        board.tile(tile).do_send(MarkAllChanged);
        board.counters.changed.mark(tile);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_whole_level1_overview_tiles() {
        let g = BoardGeometry::new(2048, 1024, 64).unwrap();
        let tiles = vec![
            g.tile(9, 0).unwrap(),
            g.tile(0, 0).unwrap(),
            g.tile(7, 7).unwrap(),
            g.tile(8, 0).unwrap(),
            g.tile(0, 8).unwrap(),
        ];
        // 64-pixel tiles: 8 x 8 of them make one 512-pixel square, one level-1 overview tile.
        assert_eq!(
            groups(&g, tiles),
            vec![
                vec![g.tile(0, 0).unwrap(), g.tile(7, 7).unwrap()],
                vec![g.tile(8, 0).unwrap(), g.tile(9, 0).unwrap()],
                vec![g.tile(0, 8).unwrap()],
            ]
        );
        let big = BoardGeometry::new(4096, 4096, 1024).unwrap();
        let tiles = vec![big.tile(1, 0).unwrap(), big.tile(0, 0).unwrap()];
        assert_eq!(
            groups(&big, tiles).len(),
            2,
            "a 1024-pixel tile is a group of its own"
        );
    }
}

//! The supervisor: restores boards from disk, starts their tile actors across one Arbiter per
//! core, snapshots dirty tiles periodically and on shutdown. It owns durability.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::Canvas;
use super::arbiter_tick::ArbiterTick;
use super::board::Board;
use super::board_feed::{BoardFeed, Cadence};
use super::clock::TickClock;
use super::gather::gather;
use super::overview::{Overview, TilePatch};
use super::overview_refresh;
use super::paint_inbox::PaintInbox;
use super::tick_barrier::TickBarrier;
use super::tile::{BoardCounters, MarkSaved, TakeSnapshot, Tile, TileHandle};
use super::tile_buffer::TileBuffer;
use super::write_schedule::WriteSchedule;
use crate::geometry::Rect;
use crate::settings::Settings;
use crate::storage::journal::Journal;
use crate::storage::{BoardStore, StorageError, TileSnapshot};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("board {board:?} could not be restored: {source}")]
    Restore {
        board: String,
        #[source]
        source: StorageError,
    },
    #[error(
        "board {board:?}: stored tile {tile} holds colour index {color}, but the palette has only {palette_len} colours; restore the palette or repaint"
    )]
    ColorOutsidePalette {
        board: String,
        tile: String,
        color: u8,
        palette_len: usize,
    },
    #[error("board {board:?}: stored tile {tile} does not fit the board")]
    TileMismatch { board: String, tile: String },
}

/// What one snapshot pass wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotReport {
    pub tiles_written: usize,
    pub failures: usize,
}

pub struct Supervisor {
    canvas: Arc<Canvas>,
    stores: Arc<Vec<BoardStore>>,
    arbiters: Vec<Arbiter>,
    interval: Duration,
    overview_refresh: Duration,
    /// Serialises snapshot passes, so a periodic one and the shutdown one never interleave.
    save_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Supervisor {
    /// Restores every board and starts its tiles. Blocking IO: called once at startup.
    pub fn start(settings: &Settings) -> Result<(Arc<Canvas>, Addr<Supervisor>), StartError> {
        let clock = TickClock::new(settings.server.tick);
        let schedule = WriteSchedule::start(clock);
        let barrier = Arc::new(TickBarrier::new(Arc::clone(&schedule)));
        let arbiters: Vec<Arbiter> = (0..settings.server.tile_arbiters)
            .map(|_| Arbiter::new())
            .collect();
        let ticks: Vec<(ArbiterHandle, Arc<ArbiterTick>)> = arbiters
            .iter()
            .map(|arbiter| {
                let handle = arbiter.handle();
                let tick = ArbiterTick::start(&handle, clock, Arc::clone(&barrier));
                (handle, Arc::new(tick))
            })
            .collect();
        let (boards, stores) = match start_boards(settings, &ticks, clock, &barrier) {
            Ok(started) => started,
            Err(e) => {
                // Tiles already started on these arbiters die with them.
                for arbiter in &arbiters {
                    arbiter.stop();
                }
                return Err(e);
            }
        };
        barrier.set_feeds(
            boards
                .iter()
                .filter_map(|board| board.feed().map(|feed| feed.clone().recipient()))
                .collect(),
        );
        let canvas = Arc::new(Canvas::new(boards, clock, schedule));
        let supervisor = Supervisor {
            canvas: Arc::clone(&canvas),
            stores: Arc::new(stores),
            arbiters,
            interval: settings.storage.snapshot_interval,
            overview_refresh: settings.server.overview_refresh,
            save_lock: Arc::new(tokio::sync::Mutex::new(())),
        };
        Ok((canvas, supervisor.start()))
    }

    fn snapshot_pass(&self, pass: Pass) -> impl Future<Output = SnapshotReport> + use<> {
        snapshot_all(
            Arc::clone(&self.canvas),
            Arc::clone(&self.stores),
            Arc::clone(&self.save_lock),
            pass,
        )
    }
}

/// Restores each board, builds its overview from the restored pixels and starts its tile actors
/// round-robin over `arbiters`, each with that arbiter's tick.
fn start_boards(
    settings: &Settings,
    arbiters: &[(ArbiterHandle, Arc<ArbiterTick>)],
    clock: TickClock,
    barrier: &Arc<TickBarrier>,
) -> Result<(Vec<Arc<Board>>, Vec<BoardStore>), StartError> {
    // One value per start, in every overview ETag: versions restart from the snapshots, so an
    // ETag of a previous run must never match.
    let mut boot = [0u8; 8];
    getrandom::fill(&mut boot).expect("the operating system's random source is available");
    let boot = u64::from_le_bytes(boot);
    let mut boards = Vec::with_capacity(settings.boards.len());
    let mut stores = Vec::with_capacity(settings.boards.len());
    let mut next_arbiter = 0usize;
    for (index, board) in settings.boards.iter().enumerate() {
        let started = std::time::Instant::now();
        let store = BoardStore::new(&settings.storage.data_dir, &board.id);
        let geometry = board.geometry;
        let restore_error = |source| StartError::Restore {
            board: board.id.clone(),
            source,
        };
        // The journal first, in the geometry it was written for; `load` then re-slices the
        // result if the tile size or board size changed.
        store
            .recover_journal(board.background)
            .map_err(restore_error)?;
        let restored = store
            .load(geometry, board.background)
            .map_err(restore_error)?;
        let restored_count = restored.len();
        let restored_version: u64 = restored.iter().map(|snap| snap.version).sum();
        let mut restored: HashMap<_, TileSnapshot> =
            restored.into_iter().map(|snap| (snap.tile, snap)).collect();
        let counters = Arc::new(BoardCounters::new(&geometry));
        // Unpainted tiles are background, as a new overview is; only restored tiles need work.
        let overview = Overview::new(geometry, board.background, boot);
        let overview_version = if restored_count > 0 {
            overview.round_version(restored_version)
        } else {
            0
        };
        let mut overview_time = Duration::ZERO;
        // The level-1 rectangles above the restored tiles, for `propagate`.
        let mut restored_area = Vec::with_capacity(restored_count);
        // Settings allow at most u16::MAX boards.
        let board_index = index as u16;
        let mut tiles = Vec::with_capacity(geometry.tile_count());
        for coord in geometry.all_tiles() {
            let rect = geometry.tile_rect(coord);
            let (pixels, version) = match restored.remove(&coord) {
                Some(snap) if snap.pixels.len() == rect.area() as usize => {
                    let building = std::time::Instant::now();
                    let whole = TilePatch {
                        coord,
                        area: Rect {
                            x: 0,
                            y: 0,
                            width: rect.width,
                            height: rect.height,
                        },
                        pixels: &snap.pixels,
                    };
                    overview.apply_tiles(overview_version, &[whole], &mut restored_area);
                    overview_time += building.elapsed();
                    (snap.pixels, snap.version)
                }
                Some(_) => {
                    return Err(StartError::TileMismatch {
                        board: board.id.clone(),
                        tile: coord.to_string(),
                    });
                }
                None => (vec![board.background; rect.area() as usize], 0),
            };
            // The palette may have shrunk since the snapshot; a stored index past its end
            // would reach clients and the PNG as garbage.
            // `max` first: it vectorises, so the common all-valid case stays cheap even for a
            // 65,536-tile board.
            let highest = pixels.iter().copied().max().unwrap_or(0);
            if usize::from(highest) >= board.palette.len()
                && let Some(&bad) = pixels
                    .iter()
                    .find(|&&c| usize::from(c) >= board.palette.len())
            {
                return Err(StartError::ColorOutsidePalette {
                    board: board.id.clone(),
                    tile: coord.to_string(),
                    color: bad,
                    palette_len: board.palette.len(),
                });
            }
            counters
                .paints_applied
                .fetch_add(version, std::sync::atomic::Ordering::Relaxed);
            let buffer = TileBuffer::new(board_index, coord, rect, pixels, version);
            let tile_counters = Arc::clone(&counters);
            // Round-robin: neighbouring tiles land on different cores, so a hotspot spreads.
            let (arbiter, tick) = &arbiters[next_arbiter % arbiters.len()];
            next_arbiter += 1;
            let inbox = Arc::new(PaintInbox::default());
            let tile_inbox = Arc::clone(&inbox);
            let addr = Tile::start_in_arbiter(arbiter, move |_| {
                Tile::new(board_index, coord, buffer, tile_inbox, tile_counters)
            });
            tiles.push(TileHandle {
                addr,
                inbox,
                tick: Arc::clone(tick),
            });
        }
        if let Some(coord) = restored.keys().next() {
            return Err(StartError::TileMismatch {
                board: board.id.clone(),
                tile: coord.to_string(),
            });
        }
        let building = std::time::Instant::now();
        overview.propagate(overview_version, &restored_area);
        overview_time += building.elapsed();
        tracing::info!(
            board = %board.id,
            width = geometry.width(),
            height = geometry.height(),
            tile_size = geometry.tile_size(),
            tiles = geometry.tile_count(),
            restored_tiles = restored_count,
            restore_ms = started.elapsed().saturating_sub(overview_time).as_millis() as u64,
            overview_levels = overview.levels(),
            overview_ms = overview_time.as_millis() as u64,
            "board ready"
        );
        let feed = BoardFeed::wanted(&geometry, settings.limits.max_viewport_area).then(|| {
            let (arbiter, _) = &arbiters[next_arbiter % arbiters.len()];
            next_arbiter += 1;
            let tiles = tiles.iter().map(|tile| tile.addr.clone()).collect();
            let schedule = Arc::clone(barrier.schedule());
            let cadence = Cadence::new(
                settings.server.whole_board_ticks,
                settings.server.whole_board_frames_per_s,
                settings.server.tick,
            );
            BoardFeed::start_in_arbiter(arbiter, move |_| {
                BoardFeed::new(board_index, geometry, tiles, clock, schedule, cadence)
            })
        });
        let journal = Journal::open(&store.journal_dir(), geometry, clock.commit_schedule())
            .map_err(restore_error)?;
        boards.push(Arc::new(Board::new(
            board_index,
            board.clone(),
            tiles,
            feed,
            counters,
            journal,
            overview,
        )));
        stores.push(store);
    }
    Ok((boards, stores))
}

/// Why a snapshot pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Periodic,
    /// At shutdown: waits for a running pass instead of skipping.
    Final,
}

/// Compacts each board's journal: seals its current segment, collects every dirty tile (with
/// the paints of the sealed segment applied) and writes them durably on a background thread; only
/// then are the tiles told their snapshot is saved and the sealed segments deleted. A failed
/// write leaves the tiles dirty and the segments in place, so the next pass retries.
async fn snapshot_all(
    canvas: Arc<Canvas>,
    stores: Arc<Vec<BoardStore>>,
    save_lock: Arc<tokio::sync::Mutex<()>>,
    pass: Pass,
) -> SnapshotReport {
    let mut report = SnapshotReport::default();
    let _guard = match pass {
        // On a slow disk, periodic passes must not queue up behind each other (and in front of
        // the final one): a pass still running covers the next interval.
        Pass::Periodic => match save_lock.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                tracing::warn!("previous snapshot still being written; skipping this interval");
                return report;
            }
        },
        Pass::Final => save_lock.lock().await,
    };
    for (board, store_index) in canvas.boards().iter().zip(0..) {
        let sealed = match board.journal().seal().await {
            Ok(sealed) => Some(sealed),
            Err(e) => {
                report.failures += 1;
                tracing::error!(board = board.id(), error = %e, "could not seal the journal; it is kept whole");
                None
            }
        };
        let replies = gather(board.tiles(), || TakeSnapshot).await;
        let mut dirty: Vec<(usize, TileSnapshot)> = Vec::new();
        let mut unanswered = 0;
        for (i, reply) in replies.into_iter().enumerate() {
            match reply {
                Some(Some(snap)) => dirty.push((i, snap)),
                Some(None) => {}
                None => {
                    unanswered += 1;
                    tracing::error!(
                        board = board.id(),
                        tile = i,
                        "tile stopped before answering the snapshot request"
                    );
                }
            }
        }
        report.failures += unanswered;
        let stores = Arc::clone(&stores);
        let geometry = *board.geometry();
        let (indices, snaps): (Vec<usize>, Vec<TileSnapshot>) = dirty.into_iter().unzip();
        let versions: Vec<u64> = snaps.iter().map(|s| s.version).collect();
        let written = snaps.len();
        let journal = Arc::clone(board.journal());
        // Segments may go only if every tile answered: a tile that did not may hold their paints.
        let compact = sealed.filter(|_| unanswered == 0);
        let result = in_background(move || {
            let started = std::time::Instant::now();
            let store: &BoardStore = &stores[store_index];
            store.save(geometry, &snaps)?;
            let segments = match compact {
                Some(sealed) => journal.delete_through(sealed)?,
                None => 0,
            };
            Ok::<_, StorageError>((segments, started.elapsed()))
        })
        .await;
        match result {
            Some(Ok((segments, took))) => {
                for (i, version) in indices.into_iter().zip(versions) {
                    board.tile_at(i).do_send(MarkSaved { version });
                }
                report.tiles_written += written;
                tracing::debug!(
                    board = board.id(),
                    tiles = written,
                    segments,
                    write_ms = took.as_millis() as u64,
                    "snapshot written, journal compacted"
                );
            }
            Some(Err(e)) => {
                report.failures += 1;
                tracing::error!(board = board.id(), error = %e, "snapshot failed; tiles stay dirty and are retried");
            }
            None => {
                report.failures += 1;
                tracing::error!(board = board.id(), "snapshot thread failed");
            }
        }
    }
    report
}

/// Runs `work` on a thread of its own at the lowest CPU priority: a snapshot pass is background
/// work (durability comes from the journal), and on a busy machine creating tens of thousands
/// of tile files must yield to serving. `None` if the thread could not start or panicked.
async fn in_background<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("tessera-snapshot".into())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(work());
        })
        .ok()?;
    rx.await.ok()
}

/// Nice 19 for the calling thread and the threads it starts (Linux sets nice per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!(error = %e, "could not lower the snapshot thread's priority");
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |supervisor, ctx| {
            ctx.spawn(
                supervisor
                    .snapshot_pass(Pass::Periodic)
                    .into_actor(supervisor)
                    .map(|_, _, _| ()),
            );
        });
        // One refresh loop per board, dropped with the supervisor at shutdown.
        for board in self.canvas.boards() {
            ctx.spawn(
                overview_refresh::run(Arc::clone(board), self.overview_refresh).into_actor(self),
            );
        }
        let canvas = Arc::clone(&self.canvas);
        // Cooldown entries of users who may paint again are dead weight; drop them every minute.
        ctx.run_interval(Duration::from_secs(60), move |_, _| {
            canvas.cooldowns().prune(tokio::time::Instant::now());
        });
    }
}

/// Final snapshot, then stop the tile arbiters. Sent once the HTTP server has stopped.
#[derive(Message)]
#[rtype(result = "SnapshotReport")]
pub struct Shutdown;

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, SnapshotReport>;

    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        Box::pin(
            self.snapshot_pass(Pass::Final)
                .into_actor(self)
                .map(|report, supervisor, ctx| {
                    tracing::info!(
                        tiles_written = report.tiles_written,
                        failures = report.failures,
                        "final snapshot"
                    );
                    for board in supervisor.canvas.boards() {
                        board.journal().close();
                    }
                    for arbiter in &supervisor.arbiters {
                        arbiter.stop();
                    }
                    ctx.stop();
                    report
                }),
        )
    }
}

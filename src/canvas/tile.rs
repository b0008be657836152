//! The tile actor: owns one tile's pixels, version and subscribers, and fans out one batch a tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use bytes::Bytes;
use foldhash::{HashMap, HashMapExt};
use tokio::time::Instant;

use super::changed_tiles::ChangedTiles;
use super::clock::TickClock;
use super::frame_queue::{FrameQueue, FrameSource, QueuedFrame};
use super::tick_barrier::TickBarrier;
use super::tile_buffer::TileBuffer;
use crate::geometry::{BoardGeometry, TileCoord};
use crate::palette::Color;
use crate::storage::TileSnapshot;

/// A session's identity as a subscriber (its connection id).
pub type SessionId = u64;

/// Paints waiting in a tile's mailbox before further ones are refused as `Unavailable`. Sized
/// for a hot tile at the target intake (64,000 paints/s crowding a few tiles is ~1,000 per tile
/// per tick), so paints are refused only when a tile's core really cannot keep up.
const MAILBOX_CAPACITY: usize = 1024;

/// Counters shared by all tiles of a board.
#[derive(Debug)]
pub struct BoardCounters {
    /// Paints applied (flushed) on the whole board; the board's version, used to cache its PNG.
    pub paints_applied: AtomicU64,
    /// Tiles that applied a batch since the overview last looked.
    pub changed: ChangedTiles,
}

impl BoardCounters {
    pub fn new(geometry: &BoardGeometry) -> Self {
        Self {
            paints_applied: AtomicU64::new(0),
            changed: ChangedTiles::new(geometry),
        }
    }
}

pub struct Tile {
    coord: TileCoord,
    buffer: TileBuffer,
    subscribers: HashMap<SessionId, Subscription>,
    clock: TickClock,
    barrier: Arc<TickBarrier>,
    flush_scheduled: bool,
    /// Version last written to disk; the tile is dirty while `buffer.pending_version()` is ahead.
    saved_version: u64,
    counters: Arc<BoardCounters>,
    board: u16,
}

/// One subscriber's queue and the epoch its frames carry (also the whole-board feed's members).
pub(super) struct Subscription {
    pub(super) queue: Arc<FrameQueue>,
    pub(super) epoch: u32,
}

impl Tile {
    pub fn new(
        board: u16,
        coord: TileCoord,
        buffer: TileBuffer,
        clock: TickClock,
        barrier: Arc<TickBarrier>,
        counters: Arc<BoardCounters>,
    ) -> Self {
        let saved_version = buffer.version();
        Self {
            coord,
            buffer,
            subscribers: HashMap::new(),
            clock,
            barrier,
            flush_scheduled: false,
            saved_version,
            counters,
            board,
        }
    }

    /// Applies the tick's paints and shares the one encoded update with every subscriber.
    fn flush(&mut self) {
        let Some(batch) = self.buffer.flush() else {
            return;
        };
        // Marked before counted (Release, paired with `Board::version`): whoever reads a board
        // version that counts these paints and then takes the marks finds this tile marked, so
        // an overview refreshed from that version includes them.
        self.counters.changed.mark(self.coord);
        self.counters
            .paints_applied
            .fetch_add(batch.version - batch.base_version, Ordering::Release);
        for sub in self.subscribers.values() {
            // A full queue marks its session for resync; the tile never waits for it.
            sub.queue.push(self.frame(sub.epoch, batch.bytes.clone()));
        }
    }

    fn frame(&self, epoch: u32, bytes: Bytes) -> QueuedFrame {
        QueuedFrame {
            board: self.board,
            source: FrameSource::Tile(self.coord),
            epoch,
            bytes,
        }
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if self.flush_scheduled {
            return;
        }
        self.flush_scheduled = true;
        let now = Instant::now();
        let (tick, at) = self.clock.next_tile_tick(now);
        self.barrier.expect(tick);
        ctx.run_later(at - now, move |tile, _| {
            tile.flush_scheduled = false;
            tile.flush();
            // After the pushes, so whoever the end of the tick wakes finds this batch queued.
            tile.barrier.flushed(tick);
        });
    }
}

impl Actor for Tile {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// Paint one pixel of this tile. Validated by the sender's types; applied at the next tick.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Paint {
    /// Row-major index inside the tile (from `BoardGeometry::locate`).
    pub offset: u32,
    pub color: Color,
}

impl Handler<Paint> for Tile {
    type Result = ();

    fn handle(&mut self, msg: Paint, ctx: &mut Self::Context) {
        self.buffer.paint(msg.offset, msg.color.index());
        self.schedule_flush(ctx);
    }
}

/// Subscribe a session (or re-subscribe it under a new epoch). The tile queues its full state at
/// the current version, then every later batch: the two happen in this one handler, so nothing
/// falls between them and nothing is sent twice.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub session: SessionId,
    pub epoch: u32,
    pub queue: Arc<FrameQueue>,
}

impl Handler<Subscribe> for Tile {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) {
        let state = self.buffer.encoded_state();
        msg.queue.push(self.frame(msg.epoch, state));
        self.subscribers.insert(
            msg.session,
            Subscription {
                queue: msg.queue,
                epoch: msg.epoch,
            },
        );
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub session: SessionId,
}

impl Handler<Unsubscribe> for Tile {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) {
        self.subscribers.remove(&msg.session);
    }
}

/// The tile's pixels at its current (flushed) version, for HTTP readers.
#[derive(Message)]
#[rtype(result = "TilePixels")]
pub struct GetPixels;

#[derive(Debug, Clone, MessageResponse)]
pub struct TilePixels {
    pub version: u64,
    pub pixels: Bytes,
}

impl Handler<GetPixels> for Tile {
    type Result = TilePixels;

    fn handle(&mut self, _: GetPixels, _: &mut Self::Context) -> TilePixels {
        TilePixels {
            version: self.buffer.version(),
            pixels: Bytes::copy_from_slice(self.buffer.pixels()),
        }
    }
}

/// Hand back the pixels if they changed since the last save, including the paints queued for
/// this tick: the journal segment a snapshot pass compacts holds them, so the snapshot must too.
/// They are applied to the copy only; subscribers still get them at the tick, as always.
#[derive(Message)]
#[rtype(result = "Option<TileSnapshot>")]
pub struct TakeSnapshot;

impl Handler<TakeSnapshot> for Tile {
    type Result = Option<TileSnapshot>;

    fn handle(&mut self, _: TakeSnapshot, _: &mut Self::Context) -> Option<TileSnapshot> {
        if self.buffer.pending_version() <= self.saved_version {
            return None;
        }
        let (pixels, version) = self.buffer.pending_pixels();
        Some(TileSnapshot {
            tile: self.coord,
            version,
            pixels,
        })
    }
}

crate::gather_handler!(Tile, GetPixels);
crate::gather_handler!(Tile, TakeSnapshot);

/// The snapshot taken at `version` is durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MarkSaved {
    pub version: u64,
}

impl Handler<MarkSaved> for Tile {
    type Result = ();

    fn handle(&mut self, msg: MarkSaved, _: &mut Self::Context) {
        self.saved_version = self.saved_version.max(msg.version);
    }
}

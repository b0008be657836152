//! The tile actor: owns one tile's pixels, version and subscribers, and fans out one batch a tick.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use bytes::Bytes;
use foldhash::{HashMap, HashMapExt};

use super::arbiter_tick::{ArbiterTick, Flush};
use super::changed_tiles::ChangedTiles;
use super::frame_queue::{FrameQueue, FrameSource, QueuedFrame};
use super::paint_inbox::{PaintInbox, QueuedPaint};
use super::tile_buffer::{TileArea, TileBuffer};
use crate::geometry::{BoardGeometry, TileCoord};
use crate::storage::TileSnapshot;

/// A session's identity as a subscriber (its connection id).
pub type SessionId = u64;

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
    /// Paints queued by sessions and HTTP (`Board::queue_paint`), moved into `buffer` at the
    /// tick's flush or before a snapshot.
    inbox: Arc<PaintInbox>,
    /// The buffer the inbox's paints move through, empty between takes: three `Vec`s (this,
    /// the inbox's and the buffer's queue) take turns, so a tick allocates nothing.
    taken: Vec<QueuedPaint>,
    subscribers: HashMap<SessionId, Subscription>,
    /// Version last written to disk; the tile is dirty while `buffer.pending_version()` is ahead.
    saved_version: u64,
    counters: Arc<BoardCounters>,
    board: u16,
}

/// A running tile as the rest of the server reaches it: its actor, its paint inbox and the tick
/// of the arbiter it runs on.
pub struct TileHandle {
    pub addr: Addr<Tile>,
    pub inbox: Arc<PaintInbox>,
    pub tick: Arc<ArbiterTick>,
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
        inbox: Arc<PaintInbox>,
        counters: Arc<BoardCounters>,
    ) -> Self {
        let saved_version = buffer.version();
        Self {
            coord,
            buffer,
            inbox,
            taken: Vec::new(),
            subscribers: HashMap::new(),
            saved_version,
            counters,
            board,
        }
    }

    /// Queues the inbox's paints in the buffer, after every paint taken before them.
    fn take_inbox(&mut self) {
        self.inbox.take(&mut self.taken);
        self.buffer.paint_all(&mut self.taken);
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
}

impl Actor for Tile {
    type Context = Context<Self>;
}

/// The tick boundary: apply the inbox's paints and send them. From the arbiter's ticker, to the
/// tiles enlisted since the last tick (see `ArbiterTick::enlist`).
impl Handler<Flush> for Tile {
    type Result = ();

    fn handle(&mut self, Flush(countdown): Flush, _: &mut Self::Context) {
        self.take_inbox();
        self.flush();
        // After the pushes, so whoever the end of the tick wakes finds this batch queued.
        countdown.done();
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

/// The part of the tile flushed since the overview last took it (see
/// [`TileBuffer::take_changed`]), for the overview refresh; `None` if nothing was.
#[derive(Message)]
#[rtype(result = "Option<TileArea>")]
pub struct TakeChanged;

impl Handler<TakeChanged> for Tile {
    type Result = Option<TileArea>;

    fn handle(&mut self, _: TakeChanged, _: &mut Self::Context) -> Option<TileArea> {
        self.buffer.take_changed()
    }
}

/// The overview lost what it took: hand it the whole tile next time.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MarkAllChanged;

impl Handler<MarkAllChanged> for Tile {
    type Result = ();

    fn handle(&mut self, _: MarkAllChanged, _: &mut Self::Context) {
        self.buffer.mark_all_changed();
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
        // The sealed journal segment holds every paint queued before the seal, and those are in
        // the inbox if not yet in the buffer: queue them here, the flush still sends them. The
        // tile stays enlisted for its tick; the next paint, finding the inbox empty, enlists it
        // again (two `Flush`es in one tick, the second finds nothing) and starts a fresh inbox.
        self.take_inbox();
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
crate::gather_handler!(Tile, TakeChanged);
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

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use super::*;
    use crate::canvas::arbiter_tick::TickCountdown;
    use crate::canvas::tick_barrier::TickBarrier;
    use crate::canvas::write_schedule::WriteSchedule;
    use crate::geometry::Rect;

    const EDGE: u32 = 16;

    /// `count` tiles of 16 x 16 pixels of colour 0 at version 0, on the current arbiter, and
    /// their inboxes.
    pub(crate) fn start_tiles(count: u16) -> (Vec<Addr<Tile>>, Vec<Arc<PaintInbox>>) {
        let geometry =
            BoardGeometry::new(EDGE * u32::from(count), EDGE, EDGE).expect("valid geometry");
        let counters = Arc::new(BoardCounters::new(&geometry));
        (0..count)
            .map(|tx| {
                let coord = TileCoord { tx, ty: 0 };
                let rect = Rect {
                    x: EDGE * u32::from(tx),
                    y: 0,
                    width: EDGE,
                    height: EDGE,
                };
                let pixels = vec![0; (EDGE * EDGE) as usize];
                let buffer = TileBuffer::new(0, coord, rect, pixels, 0);
                let inbox = Arc::new(PaintInbox::default());
                let tile = Tile::new(0, coord, buffer, Arc::clone(&inbox), Arc::clone(&counters));
                (tile.start(), inbox)
            })
            .unzip()
    }

    /// A session's queue subscribed to `tile`; its first frame is the tile's state.
    async fn subscribe(tile: &Addr<Tile>) -> Arc<FrameQueue> {
        let queue = FrameQueue::new(8);
        tile.send(Subscribe {
            session: 1,
            epoch: 0,
            queue: Arc::clone(&queue),
        })
        .await
        .expect("tile running");
        queue
    }

    /// How many frames `queue` holds.
    fn queued(queue: &FrameQueue) -> usize {
        let mut frames = VecDeque::new();
        queue.drain_into(&mut frames);
        frames.len()
    }

    #[test]
    fn a_snapshot_holds_the_paints_still_in_the_inbox() {
        System::new().block_on(async {
            let (tiles, inboxes) = start_tiles(1);
            let queue = subscribe(&tiles[0]).await;
            // Queued as `Board::queue_paint` does, but not flushed: as when the snapshot's
            // request overtakes the tick.
            assert!(inboxes[0].push((5, 3), || true));
            let snapshot = tiles[0]
                .send(TakeSnapshot)
                .await
                .expect("tile running")
                .expect("dirty: a paint is queued");
            assert_eq!(snapshot.version, 1);
            assert_eq!(snapshot.pixels[5], 3);
            assert!(inboxes[0].is_empty(), "taken, so the tick applies it once");
            let flushed = tiles[0].send(GetPixels).await.expect("tile running");
            assert_eq!(flushed.version, 0, "not applied before the tick");

            let barrier = Arc::new(TickBarrier::new(Arc::new(WriteSchedule::default())));
            barrier.expect(1);
            tiles[0].do_send(Flush(Arc::new(TickCountdown::new(1, 1, barrier))));
            let flushed = tiles[0].send(GetPixels).await.expect("tile running");
            assert_eq!(flushed.version, 1, "applied at the tick");
            assert_eq!(flushed.pixels[5], 3);
            assert_eq!(
                queued(&queue),
                2,
                "the state, then the update subscribers get"
            );
        });
    }

    #[test]
    fn the_overview_takes_what_was_flushed_once_and_the_whole_tile_after_a_loss() {
        System::new().block_on(async {
            let (tiles, inboxes) = start_tiles(1);
            let take = || async { tiles[0].send(TakeChanged).await.expect("tile running") };
            assert!(take().await.is_none(), "nothing flushed");
            // Pixel (3, 1) of the 16 x 16 tile, queued, not yet flushed: not the overview's yet.
            assert!(inboxes[0].push((EDGE + 3, 7), || true));
            assert!(take().await.is_none(), "queued paints are not taken");
            let barrier = Arc::new(TickBarrier::new(Arc::new(WriteSchedule::default())));
            barrier.expect(1);
            tiles[0].do_send(Flush(Arc::new(TickCountdown::new(1, 1, barrier))));
            let area = take().await.expect("the flushed pixel");
            let rect = |x, y, width, height| Rect {
                x,
                y,
                width,
                height,
            };
            assert_eq!(area.area, rect(2, 0, 2, 2), "the even box around (3, 1)");
            assert_eq!(&area.pixels[..], [0, 0, 0, 7]);
            assert!(take().await.is_none(), "taken once");

            tiles[0].do_send(MarkAllChanged);
            let whole = take().await.expect("the whole tile, after a loss");
            assert_eq!(whole.area, rect(0, 0, EDGE, EDGE));
            assert_eq!(whole.pixels[(EDGE + 3) as usize], 7);
        });
    }

    #[test]
    fn a_flush_sends_every_paint_of_the_inbox_as_one_update_then_counts_down() {
        System::new().block_on(async {
            let (tiles, inboxes) = start_tiles(1);
            let queue = subscribe(&tiles[0]).await;
            for offset in 0..3 {
                assert!(inboxes[0].push((offset, 1), || true));
            }
            let schedule = Arc::new(WriteSchedule::default());
            let session = FrameQueue::with_schedule(4, Arc::clone(&schedule));
            session.request_write();
            let barrier = Arc::new(TickBarrier::new(schedule));
            barrier.expect(7);
            let countdown = Arc::new(TickCountdown::new(1, 7, barrier));
            tiles[0].do_send(Flush(countdown));
            tokio::time::timeout(Duration::from_secs(5), session.ready())
                .await
                .expect("the tile counted down after its flush, ending the tick");
            let pixels = tiles[0].send(GetPixels).await.expect("tile running");
            assert_eq!(pixels.version, 3);
            assert_eq!(&pixels.pixels[..4], [1, 1, 1, 0]);
            assert_eq!(
                queued(&queue),
                2,
                "the state, then one update for all three paints"
            );
        });
    }
}

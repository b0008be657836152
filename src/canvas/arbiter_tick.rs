//! One arbiter's tick: the tiles of that arbiter with paints waiting, and the one timer that
//! flushes them all at the tick boundary.
//!
//! Why per arbiter: a paint is queued by a session or HTTP worker thread, and waking a parked
//! arbiter thread from there is an `eventfd` write plus a context switch. When each tile woke
//! its own actor, a tick whose paints fell on a thousand different tiles (a big board) woke the
//! arbiter a thousand times. Here only the first tile enlisted in a tick sends a message across
//! threads; the timer then sends each enlisted tile a [`Flush`] from the arbiter's own thread,
//! which costs no wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::prelude::*;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::clock::TickClock;
use super::tick_barrier::TickBarrier;
use super::tile::Tile;

/// The shared side of one arbiter's tick, held by every tile handle on that arbiter.
pub struct ArbiterTick {
    /// The tiles to flush at the next tick. Only the ticker's timer empties it, and the tile
    /// that makes it non-empty sends the ticker that tick's [`Wake`], so each list has exactly
    /// one timer.
    due: Arc<Mutex<Vec<Addr<Tile>>>>,
    ticker: Addr<Ticker>,
    clock: TickClock,
    barrier: Arc<TickBarrier>,
}

impl ArbiterTick {
    /// Starts the arbiter's ticker on `arbiter`.
    pub fn start(arbiter: &ArbiterHandle, clock: TickClock, barrier: Arc<TickBarrier>) -> Self {
        let due = Arc::new(Mutex::new(Vec::new()));
        let ticker_due = Arc::clone(&due);
        let ticker_barrier = Arc::clone(&barrier);
        let ticker = Ticker::start_in_arbiter(arbiter, move |_| Ticker {
            due: ticker_due,
            barrier: ticker_barrier,
            spare: Vec::new(),
        });
        Self {
            due,
            ticker,
            clock,
            barrier,
        }
    }

    /// Flush `tile` at the next tick boundary. Called once per tile and tick, by the first paint
    /// queued in its inbox (under the inbox's lock, see `PaintInbox::push`). The first tile of a
    /// tick counts the tick in at the barrier and wakes the ticker; `false` when the ticker is
    /// gone (shutdown).
    pub fn enlist(&self, tile: &Addr<Tile>) -> bool {
        let mut due = self.due.lock();
        if due.is_empty() {
            if !self.ticker.connected() {
                return false;
            }
            let (tick, at) = self.clock.next_tile_tick(Instant::now());
            self.barrier.expect(tick);
            // One wake per arbiter and tick, so the mailbox's capacity does not bound it.
            self.ticker.do_send(Wake { tick, at });
        }
        due.push(tile.clone());
        true
    }
}

/// Counts down the tiles of one arbiter's tick; the last to flush reports the tick at the
/// barrier, after its frames are queued.
pub struct TickCountdown {
    remaining: AtomicUsize,
    tick: u64,
    barrier: Arc<TickBarrier>,
}

impl TickCountdown {
    /// `tiles` flushes to count down before `tick` is reported at `barrier`.
    pub fn new(tiles: usize, tick: u64, barrier: Arc<TickBarrier>) -> Self {
        Self {
            remaining: AtomicUsize::new(tiles),
            tick,
            barrier,
        }
    }

    pub fn done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.barrier.flushed(self.tick);
        }
    }
}

/// Take the inbox and flush now; sent by the arbiter's ticker at the tick boundary.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush(pub Arc<TickCountdown>);

/// The actor behind [`ArbiterTick`]: one timer per tick, on the arbiter's own thread.
struct Ticker {
    due: Arc<Mutex<Vec<Addr<Tile>>>>,
    barrier: Arc<TickBarrier>,
    /// The list's second buffer, empty between ticks.
    spare: Vec<Addr<Tile>>,
}

impl Actor for Ticker {
    type Context = Context<Self>;
}

/// Tiles were enlisted for `tick`, which begins at `at`.
#[derive(Message)]
#[rtype(result = "()")]
struct Wake {
    tick: u64,
    at: Instant,
}

impl Handler<Wake> for Ticker {
    type Result = ();

    fn handle(&mut self, Wake { tick, at }: Wake, ctx: &mut Self::Context) {
        ctx.run_later(
            at.saturating_duration_since(Instant::now()),
            move |ticker, _| {
                ticker.flush_due(tick);
            },
        );
    }
}

impl Ticker {
    /// Sends every tile enlisted for `tick` its `Flush`.
    fn flush_due(&mut self, tick: u64) {
        std::mem::swap(&mut *self.due.lock(), &mut self.spare);
        let countdown = Arc::new(TickCountdown::new(
            self.spare.len(),
            tick,
            Arc::clone(&self.barrier),
        ));
        for tile in self.spare.drain(..) {
            // A tile that stopped (shutdown) never counts down, so the tick ends at the fixed
            // write boundary instead, as the barrier's fallback.
            tile.do_send(Flush(Arc::clone(&countdown)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;
    use crate::canvas::frame_queue::FrameQueue;
    use crate::canvas::write_schedule::WriteSchedule;

    /// Each tile's flushed version.
    async fn versions(tiles: &[Addr<Tile>]) -> Vec<u64> {
        let mut versions = Vec::new();
        for tile in tiles {
            let pixels = tile
                .send(crate::canvas::tile::GetPixels)
                .await
                .expect("tile running");
            versions.push(pixels.version);
        }
        versions
    }

    #[test]
    fn one_wake_a_tick_flushes_every_enlisted_tile() {
        System::new().block_on(async {
            let schedule = Arc::new(WriteSchedule::default());
            let barrier = Arc::new(TickBarrier::new(Arc::clone(&schedule)));
            let session = FrameQueue::with_schedule(4, Arc::clone(&schedule));
            session.request_write();
            let clock = TickClock::new(Duration::from_millis(5));
            let tick = ArbiterTick::start(&Arbiter::current(), clock, Arc::clone(&barrier));
            let (tiles, inboxes) = crate::canvas::tile::tests::start_tiles(2);
            for (tile, inbox) in tiles.iter().zip(&inboxes) {
                assert!(inbox.push((0, 1), || tick.enlist(tile)));
                assert!(inbox.push((1, 1), || tick.enlist(tile)));
            }
            assert_eq!(tick.due.lock().len(), 2, "each tile enlisted once");
            tokio::time::timeout(Duration::from_secs(5), session.ready())
                .await
                .expect("the tick ended once both tiles flushed");
            assert_eq!(versions(&tiles).await, [2, 2]);
            assert!(tick.due.lock().is_empty());

            // The next tick: the ticker takes the next wake as well.
            session.request_write();
            for (tile, inbox) in tiles.iter().zip(&inboxes) {
                assert!(inbox.push((2, 1), || tick.enlist(tile)));
            }
            tokio::time::timeout(Duration::from_secs(5), session.ready())
                .await
                .expect("the second tick ended too");
            assert_eq!(versions(&tiles).await, [3, 3]);
        });
    }

    #[tokio::test]
    async fn only_the_last_tile_of_an_arbiters_tick_ends_it() {
        let schedule = Arc::new(WriteSchedule::default());
        let barrier = Arc::new(TickBarrier::new(Arc::clone(&schedule)));
        let session = FrameQueue::with_schedule(4, schedule);
        session.request_write();
        barrier.expect(7);
        let countdown = TickCountdown::new(2, 7, barrier);
        countdown.done();
        assert!(
            session.ready().now_or_never().is_none(),
            "one of two tiles flushed: the tick goes on"
        );
        countdown.done();
        assert!(
            session.ready().now_or_never().is_some(),
            "the second ends it"
        );
    }

    #[test]
    fn a_stopped_ticker_refuses_the_tile() {
        System::new().block_on(async {
            let barrier = Arc::new(TickBarrier::new(Arc::new(WriteSchedule::default())));
            let arbiter = Arbiter::new();
            let tick = ArbiterTick::start(
                &arbiter.handle(),
                TickClock::new(Duration::from_millis(5)),
                barrier,
            );
            arbiter.stop();
            arbiter.join().expect("arbiter thread ends");
            let (tiles, _) = crate::canvas::tile::tests::start_tiles(1);
            assert!(!tick.enlist(&tiles[0]));
        });
    }
}

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
    due: Arc<Mutex<Due>>,
    ticker: Addr<Ticker>,
    clock: TickClock,
    barrier: Arc<TickBarrier>,
}

/// The tiles to flush at the next tick, and that tick.
struct Due {
    tiles: Vec<Addr<Tile>>,
    tick: u64,
    at: Instant,
}

impl ArbiterTick {
    /// Starts the arbiter's ticker on `arbiter`.
    pub fn start(arbiter: &ArbiterHandle, clock: TickClock, barrier: Arc<TickBarrier>) -> Self {
        let due = Arc::new(Mutex::new(Due {
            tiles: Vec::new(),
            tick: 0,
            at: Instant::now(),
        }));
        let ticker_due = Arc::clone(&due);
        let ticker_barrier = Arc::clone(&barrier);
        let ticker = Ticker::start_in_arbiter(arbiter, move |_| Ticker {
            due: ticker_due,
            barrier: ticker_barrier,
            scheduled: false,
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
        if due.tiles.is_empty() {
            if !self.ticker.connected() {
                return false;
            }
            let (tick, at) = self.clock.next_tile_tick(Instant::now());
            self.barrier.expect(tick);
            due.tick = tick;
            due.at = at;
            // One wake per arbiter and tick, so the mailbox's capacity does not bound it.
            self.ticker.do_send(Wake);
        }
        due.tiles.push(tile.clone());
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
    due: Arc<Mutex<Due>>,
    barrier: Arc<TickBarrier>,
    scheduled: bool,
    /// The list's second buffer, empty between ticks.
    spare: Vec<Addr<Tile>>,
}

impl Actor for Ticker {
    type Context = Context<Self>;
}

/// Tiles were enlisted for the next tick.
#[derive(Message)]
#[rtype(result = "()")]
struct Wake;

impl Handler<Wake> for Ticker {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        // A wake comes only when the due list turns non-empty, and only the timer empties it,
        // after clearing the flag: so no timer is pending here.
        debug_assert!(!self.scheduled, "one wake per due list");
        if self.scheduled {
            return;
        }
        self.scheduled = true;
        let at = self.due.lock().at;
        ctx.run_later(at.saturating_duration_since(Instant::now()), |ticker, _| {
            ticker.scheduled = false;
            ticker.flush_due();
        });
    }
}

impl Ticker {
    fn flush_due(&mut self) {
        let tick = {
            let mut due = self.due.lock();
            std::mem::swap(&mut due.tiles, &mut self.spare);
            due.tick
        };
        if self.spare.is_empty() {
            return;
        }
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

    #[test]
    fn one_wake_flushes_every_enlisted_tile_and_the_last_ends_the_tick() {
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
            assert_eq!(tick.due.lock().tiles.len(), 2, "each tile enlisted once");
            tokio::time::timeout(Duration::from_secs(5), session.ready())
                .await
                .expect("the tick ended once both tiles flushed");
            for tile in &tiles {
                let pixels = tile
                    .send(crate::canvas::tile::GetPixels)
                    .await
                    .expect("tile running");
                assert_eq!(pixels.version, 2);
            }
            assert!(tick.due.lock().tiles.is_empty());

            // The next tick: the ticker takes the next wake as well.
            session.request_write();
            for (tile, inbox) in tiles.iter().zip(&inboxes) {
                assert!(inbox.push((2, 1), || tick.enlist(tile)));
            }
            tokio::time::timeout(Duration::from_secs(5), session.ready())
                .await
                .expect("the second tick ended too");
            for tile in &tiles {
                let pixels = tile
                    .send(crate::canvas::tile::GetPixels)
                    .await
                    .expect("tile running");
                assert_eq!(pixels.version, 3);
            }
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

//! The end of a tick, as soon as it happens: counts the arbiters whose tiles are due to flush at
//! each tick (see `ArbiterTick`), and when the last of them has flushed, hands the tick on at
//! once instead of waiting for the fixed session-write boundary.
//!
//! Why: the fixed boundary (`TickClock`'s session lag, a quarter tick) must leave room for the
//! slowest tick, so on most ticks the batches sit queued for milliseconds after the last tile
//! is done. Ending the tick when its last tile flushes takes that wait out of paint-to-viewer
//! latency. The fixed timers stay as they were, as the fallback: nothing here is needed for a
//! frame to go out, only for it to go out early. An early end that is wrong (an arbiter enlisting
//! for a tick after the count already reached zero) only splits a tick into two frames.

use std::sync::{Arc, OnceLock};

use actix::prelude::*;
use parking_lot::Mutex;

use super::write_schedule::WriteSchedule;

/// Ticks counted at once: the current one and any a busy arbiter is late with.
const SLOTS: usize = 4;

/// Sent to a whole-board feed when every tile of a tick has flushed: forward the tick now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndTick;

pub struct TickBarrier {
    /// Per slot (tick index modulo `SLOTS`): the tick it counts and its arbiters yet to flush.
    slots: Mutex<[(u64, u32); SLOTS]>,
    schedule: Arc<WriteSchedule>,
    /// The whole-board feeds, which forward the tick and then wake the sessions themselves (so
    /// that their members are woken after the feed's frame is in their queues). Set once every
    /// board has started; until then the barrier wakes the sessions directly.
    feeds: OnceLock<Vec<Recipient<EndTick>>>,
}

impl TickBarrier {
    pub fn new(schedule: Arc<WriteSchedule>) -> Self {
        Self {
            slots: Mutex::new([(u64::MAX, 0); SLOTS]),
            schedule,
            feeds: OnceLock::new(),
        }
    }

    /// Where the sessions to wake at the end of a tick are enlisted.
    pub fn schedule(&self) -> &Arc<WriteSchedule> {
        &self.schedule
    }

    /// The feeds to end each tick through; called once, after the boards have started.
    pub fn set_feeds(&self, feeds: Vec<Recipient<EndTick>>) {
        if self.feeds.set(feeds).is_err() {
            tracing::warn!("tick barrier feeds set twice; keeping the first");
        }
    }

    /// An arbiter's tiles will flush at `tick`. Called once per arbiter and tick, when it
    /// enlists its first tile for the tick, before the tick's boundary.
    pub fn expect(&self, tick: u64) {
        let mut slots = self.slots.lock();
        let slot = &mut slots[slot_of(tick)];
        if slot.0 != tick {
            // A slot still counting an older tick belongs to arbiters whose tiles never flushed
            // it (they stopped, or are ticks late); that tick's fallback boundary has passed.
            *slot = (tick, 0);
        }
        slot.1 += 1;
    }

    /// An arbiter's tiles flushed their batches for `tick`; the last arbiter ends the tick.
    pub fn flushed(&self, tick: u64) {
        if self.count_down(tick) {
            self.end_tick();
        }
    }

    /// Whether this flush was the tick's last.
    fn count_down(&self, tick: u64) -> bool {
        let mut slots = self.slots.lock();
        let slot = &mut slots[slot_of(tick)];
        if slot.0 != tick || slot.1 == 0 {
            return false;
        }
        slot.1 -= 1;
        slot.1 == 0
    }

    fn end_tick(&self) {
        match self.feeds.get() {
            Some(feeds) if !feeds.is_empty() => {
                for feed in feeds {
                    feed.do_send(EndTick);
                }
            }
            _ => {
                self.schedule.wake_enlisted();
            }
        }
    }
}

fn slot_of(tick: u64) -> usize {
    (tick % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::canvas::frame_queue::FrameQueue;

    #[test]
    fn the_last_flush_of_a_tick_ends_it_once() {
        let barrier = TickBarrier::new(Arc::new(WriteSchedule::default()));
        barrier.expect(7);
        barrier.expect(7);
        barrier.expect(8);
        assert!(!barrier.count_down(7), "one of two arbiters flushed");
        assert!(barrier.count_down(8), "tick 8 had one arbiter");
        assert!(barrier.count_down(7), "the second and last");
        assert!(!barrier.count_down(7), "a tick ends once");
    }

    #[test]
    fn ticks_are_counted_apart() {
        let barrier = TickBarrier::new(Arc::new(WriteSchedule::default()));
        barrier.expect(1);
        barrier.expect(2);
        barrier.expect(2);
        assert!(!barrier.count_down(2));
        assert!(
            barrier.count_down(1),
            "tick 1 ends whatever tick 2 is doing"
        );
        assert!(barrier.count_down(2));
    }

    #[test]
    fn a_slot_left_by_stopped_tiles_is_reused() {
        let barrier = TickBarrier::new(Arc::new(WriteSchedule::default()));
        barrier.expect(3);
        barrier.expect(3);
        // Those tiles never flush tick 3; the slot's next tick starts from zero.
        barrier.expect(3 + SLOTS as u64);
        assert!(!barrier.count_down(3), "tick 3 is no longer counted");
        assert!(barrier.count_down(3 + SLOTS as u64));
    }

    /// A barrier whose schedule has one session enlisted, as a tile's push leaves it.
    fn barrier_with_an_enlisted_session() -> (Arc<WriteSchedule>, TickBarrier, Arc<FrameQueue>) {
        let schedule = Arc::new(WriteSchedule::default());
        let barrier = TickBarrier::new(Arc::clone(&schedule));
        let queue = FrameQueue::with_schedule(4, Arc::clone(&schedule));
        queue.request_write();
        (schedule, barrier, queue)
    }

    #[tokio::test]
    async fn without_feeds_the_end_wakes_the_enlisted_sessions() {
        let (schedule, barrier, queue) = barrier_with_an_enlisted_session();
        barrier.expect(5);
        barrier.flushed(5);
        tokio::time::timeout(Duration::from_secs(1), queue.ready())
            .await
            .expect("woken at the end of the tick");
        assert_eq!(schedule.wake_enlisted(), 0, "and no longer enlisted");
    }

    /// Stands in for a whole-board feed: reports each `EndTick` it gets.
    struct Feed(tokio::sync::mpsc::UnboundedSender<()>);

    impl Actor for Feed {
        type Context = Context<Self>;
    }

    impl Handler<EndTick> for Feed {
        type Result = ();

        fn handle(&mut self, _: EndTick, _: &mut Self::Context) {
            let _ = self.0.send(());
        }
    }

    #[test]
    fn with_feeds_the_end_goes_to_them_and_leaves_the_waking_to_them() {
        System::new().block_on(async {
            let (schedule, barrier, _queue) = barrier_with_an_enlisted_session();
            let (tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
            barrier.set_feeds(vec![Feed(tx).start().recipient()]);
            barrier.expect(9);
            barrier.flushed(9);
            tokio::time::timeout(Duration::from_secs(1), ended.recv())
                .await
                .expect("the feed is told the tick ended");
            assert_eq!(
                schedule.wake_enlisted(),
                1,
                "the barrier did not wake the session itself: the feed does, after its frame"
            );
        });
    }
}

//! The sessions' write tick: the list of sessions with something to send, woken once per tick
//! by the end of the tick (`TickBarrier`), and at the latest by one thread on each
//! session-write boundary.
//!
//! Why not a timer per session: a session woken by a tile's push would have to sleep again until
//! the tick is complete (so that one frame collects every tile of the tick), which costs a timer
//! and a second wake-up per frame. Here each reader (a session's frame writer, or its actor) is
//! enlisted by what gives it something to write, and woken once, when it writes at once.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::clock::TickClock;
use super::write_signal::WriteSignal;

#[derive(Debug, Default)]
pub struct WriteSchedule {
    /// Readers to wake at the end of the tick, each once (a signal remembers that it is enlisted).
    enlisted: Mutex<Vec<Arc<WriteSignal>>>,
    /// An empty list swapped in under the lock, so neither list reallocates from tick to tick.
    /// Its own lock serialises the wakers (the write thread, the tick barrier, the feeds).
    spare: Mutex<Vec<Arc<WriteSignal>>>,
}

impl WriteSchedule {
    /// Starts the write tick on its own thread, which ends once the schedule is dropped (when
    /// the canvas and every session queue are gone). A thread of its own, so that neither a busy
    /// arbiter nor a busy HTTP worker delays every session's write.
    pub fn start(clock: TickClock) -> Arc<Self> {
        let schedule = Arc::new(Self::default());
        let weak = Arc::downgrade(&schedule);
        std::thread::Builder::new()
            .name("tessera-write-tick".into())
            .spawn(move || run(&weak, clock))
            .expect("the operating system can start one more thread");
        schedule
    }

    /// Wake this reader at the end of the tick (the write boundary at the latest).
    pub fn enlist(&self, signal: Arc<WriteSignal>) {
        self.enlisted.lock().push(signal);
    }

    /// Wakes every enlisted reader now; returns how many were woken. Called on the fixed
    /// boundary by the write thread, and earlier by the end of a tick (`TickBarrier`).
    pub fn wake_enlisted(&self) -> usize {
        let mut spare = self.spare.lock();
        std::mem::swap(&mut *self.enlisted.lock(), &mut *spare);
        for signal in spare.iter() {
            signal.wake();
        }
        let woken = spare.len();
        spare.clear();
        woken
    }
}

fn run(schedule: &Weak<WriteSchedule>, clock: TickClock) {
    loop {
        let now = tokio::time::Instant::now();
        let at = clock.next_session_write(now);
        std::thread::sleep(at.saturating_duration_since(now));
        match schedule.upgrade() {
            Some(schedule) => {
                schedule.wake_enlisted();
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::canvas::frame_queue::{FrameQueue, FrameSource, QueuedFrame};

    #[tokio::test]
    async fn an_enlisted_queue_is_woken_on_the_next_boundary_only() {
        let schedule = Arc::new(WriteSchedule::default());
        let queue = FrameQueue::with_schedule(4, Arc::clone(&schedule));
        let frame = QueuedFrame {
            board: 0,
            source: FrameSource::Feed,
            epoch: 1,
            bytes: bytes::Bytes::from_static(b"x"),
        };
        queue.push(frame.clone());
        queue.push(frame);
        queue.request_write();
        assert_eq!(schedule.wake_enlisted(), 1, "enlisted once per boundary");
        tokio::time::timeout(Duration::from_secs(1), queue.ready())
            .await
            .expect("woken");
        assert_eq!(schedule.wake_enlisted(), 0, "woken once, then forgotten");
    }

    #[tokio::test]
    async fn the_thread_wakes_on_its_own() {
        let schedule = WriteSchedule::start(TickClock::new(Duration::from_millis(5)));
        let queue = FrameQueue::with_schedule(4, Arc::clone(&schedule));
        queue.request_write();
        tokio::time::timeout(Duration::from_secs(1), queue.ready())
            .await
            .expect("woken by the write tick");
    }
}

//! The bounded queue between tile actors and one session: encoded tile frames waiting to be sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::write_schedule::WriteSchedule;
use crate::geometry::TileCoord;

/// Frames' worth of allocation a queue keeps between drains: a tick's usual one or two, not a
/// burst's.
const RETAINED_FRAMES: usize = 4;

/// Who queued a frame: which subscription of the session it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameSource {
    /// One tile's state or update.
    Tile(TileCoord),
    /// The board's whole-board feed: every tile's state, or one tick's updates of every tile.
    Feed,
}

/// Encoded messages for one session, from one tile or from a board's whole-board feed.
#[derive(Debug, Clone)]
pub struct QueuedFrame {
    pub board: u16,
    pub source: FrameSource,
    /// The subscription this frame belongs to; the session drops frames of older subscriptions,
    /// so a tile left and re-entered within one tick never replays stale updates.
    pub epoch: u32,
    /// Encoded once by the tile and shared by every subscriber (`Bytes` clones are refcounts).
    pub bytes: Bytes,
}

/// A session's inbox for tile frames, shared by every tile it subscribes to.
///
/// Tiles never wait on it: `push` takes a short lock (held only to push, or to move the queued
/// frames out) and never blocks on the session or the network. It is bounded: past `capacity`
/// frames it drops everything, remembers that it overflowed, and refuses further frames until
/// the session has drained it and resynchronised. The first frame (or write request) after a
/// wake-up enlists the queue with the [`WriteSchedule`], which wakes the session (through a
/// `Notify`) on the next write boundary: fan-out to a session costs one wake per tick, not one
/// per tile.
#[derive(Debug)]
pub struct FrameQueue {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
    /// `None`: never woken; the reader drains the queue on its own clock (the whole-board feed).
    schedule: Option<Arc<WriteSchedule>>,
    /// Enlisted for the next boundary and not woken since: later frames need not enlist again.
    enlisted: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    frames: Vec<QueuedFrame>,
    overflowed: bool,
}

impl FrameQueue {
    /// A queue whose reader drains it on its own clock: pushes wake nobody.
    pub fn new(capacity: usize) -> Arc<Self> {
        Self::build(capacity, None)
    }

    /// A session's queue: its reader is woken on the write boundary after the first frame.
    pub fn with_schedule(capacity: usize, schedule: Arc<WriteSchedule>) -> Arc<Self> {
        Self::build(capacity, Some(schedule))
    }

    fn build(capacity: usize, schedule: Option<Arc<WriteSchedule>>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            ready: Notify::new(),
            capacity,
            schedule,
            enlisted: AtomicBool::new(false),
        })
    }

    /// Wake the reader on the next write boundary, whether or not frames are waiting: for a
    /// session with replies to send or a frame still to finish.
    pub fn request_write(self: &Arc<Self>) {
        let Some(schedule) = &self.schedule else {
            return;
        };
        // The plain load first: every push of a tick after the first finds the flag set, and a
        // read does not take the cache line from the other cores the way a swap does.
        if self.enlisted.load(Ordering::Acquire) || self.enlisted.swap(true, Ordering::AcqRel) {
            return;
        }
        schedule.enlist(Arc::clone(self));
    }

    /// Wakes the reader now. `notify_one` stores a permit when the reader is not waiting, so no
    /// wake is lost.
    pub(super) fn wake(&self) {
        // Cleared first: a frame pushed from here on enlists the queue for the next boundary.
        self.enlisted.store(false, Ordering::Release);
        self.ready.notify_one();
    }

    /// Queues a frame. Returns `false` if it was dropped because the queue is over capacity.
    pub fn push(self: &Arc<Self>, frame: QueuedFrame) -> bool {
        let accepted;
        {
            let mut state = self.state.lock();
            if state.overflowed {
                return false;
            }
            if state.frames.len() >= self.capacity {
                state.overflowed = true;
                state.frames = Vec::new();
                accepted = false;
            } else {
                state.frames.push(frame);
                accepted = true;
            }
        }
        self.request_write();
        accepted
    }

    /// Frames it holds before it overflows.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Moves everything queued to the back of `out`; returns whether the queue overflowed since
    /// the last drain (then nothing is moved: the reader must resynchronise every tile it
    /// views). The queue keeps a small allocation for the next tick's frames instead of handing
    /// a new `Vec` over each time, so the steady state of one or two frames a tick allocates
    /// nothing.
    pub fn drain_into(&self, out: &mut VecDeque<QueuedFrame>) -> bool {
        let mut state = self.state.lock();
        out.extend(state.frames.drain(..));
        if state.frames.capacity() > RETAINED_FRAMES {
            // After a burst (a new viewport's states): not kept by every idle session.
            state.frames = Vec::new();
        }
        std::mem::take(&mut state.overflowed)
    }

    /// Resolves when frames are waiting (or were, since the last drain).
    pub async fn ready(&self) {
        self.ready.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> QueuedFrame {
        QueuedFrame {
            board: 0,
            source: FrameSource::Tile(TileCoord { tx: 0, ty: 0 }),
            epoch: 1,
            bytes: Bytes::from(vec![n]),
        }
    }

    #[test]
    fn drain_into_appends_in_order_and_keeps_only_a_small_allocation() {
        let q = FrameQueue::new(64);
        let mut out = VecDeque::from([frame(0)]);
        for n in 1..=3 {
            assert!(q.push(frame(n)));
        }
        assert!(!q.drain_into(&mut out));
        assert_eq!(
            out.iter().map(|f| f.bytes[0]).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert!(!q.drain_into(&mut out));
        assert_eq!(out.len(), 4, "a second drain moves nothing");
        assert!(
            q.state.lock().frames.capacity() > 0,
            "kept for the next tick"
        );
        for n in 0..40 {
            assert!(q.push(frame(n)));
        }
        out.clear();
        assert!(!q.drain_into(&mut out));
        assert_eq!(out.len(), 40);
        assert_eq!(
            q.state.lock().frames.capacity(),
            0,
            "a burst's allocation is freed"
        );
    }

    #[test]
    fn overflow_drops_everything_until_drained_and_is_reported_once() {
        let q = FrameQueue::new(2);
        assert!(q.push(frame(1)));
        assert!(q.push(frame(2)));
        assert!(!q.push(frame(3)));
        assert!(
            !q.push(frame(4)),
            "refused until the session resynchronises"
        );
        let mut out = VecDeque::new();
        assert!(q.drain_into(&mut out));
        assert!(out.is_empty(), "the dropped frames are not handed over");
        assert!(q.push(frame(5)));
        assert!(!q.drain_into(&mut out), "reported once");
        assert_eq!(out.len(), 1);
    }
}

//! The bounded queue between tile actors and one session: encoded tile frames waiting to be sent.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;

use super::write_schedule::WriteSchedule;
use super::write_signal::WriteSignal;
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
/// wake-up enlists the queue's [`WriteSignal`] with the [`WriteSchedule`], which wakes the
/// session's frame writer on the next write boundary: fan-out to a session costs one wake per
/// tick, not one per tile.
#[derive(Debug)]
pub struct FrameQueue {
    state: Mutex<State>,
    capacity: usize,
    /// `None`: never woken; the reader drains the queue on its own clock (the whole-board feed).
    signal: Option<Arc<WriteSignal>>,
    /// Told (on the next write boundary) when the queue overflows: the session actor, which
    /// disconnects the client if its reader does not drain the queue in time.
    on_overflow: Option<Arc<WriteSignal>>,
}

#[derive(Debug, Default)]
struct State {
    frames: Vec<QueuedFrame>,
    /// Since when the queue has been over capacity without its reader draining it: a reader
    /// that has not drained an overflowed queue for seconds has stopped (its client stopped
    /// reading, so its connection takes no bytes).
    overflowed_since: Option<Instant>,
}

impl FrameQueue {
    /// A queue whose reader drains it on its own clock: pushes wake nobody.
    pub fn new(capacity: usize) -> Arc<Self> {
        Self::build(capacity, None, None)
    }

    /// A session's queue: its reader is woken on the write boundary after the first frame.
    pub fn with_schedule(capacity: usize, schedule: Arc<WriteSchedule>) -> Arc<Self> {
        Self::build(capacity, Some(WriteSignal::new(schedule)), None)
    }

    /// A session's queue whose overflow also wakes `on_overflow` on the next write boundary.
    pub fn with_overflow_signal(
        capacity: usize,
        schedule: Arc<WriteSchedule>,
        on_overflow: Arc<WriteSignal>,
    ) -> Arc<Self> {
        Self::build(
            capacity,
            Some(WriteSignal::new(schedule)),
            Some(on_overflow),
        )
    }

    fn build(
        capacity: usize,
        signal: Option<Arc<WriteSignal>>,
        on_overflow: Option<Arc<WriteSignal>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            capacity,
            signal,
            on_overflow,
        })
    }

    /// Wake the reader on the next write boundary, whether or not frames are waiting: for a
    /// reader with a burst still to finish.
    pub fn request_write(&self) {
        if let Some(signal) = &self.signal {
            signal.request();
        }
    }

    /// Wakes the reader now, whether or not frames are waiting (a session closing).
    pub fn wake(&self) {
        if let Some(signal) = &self.signal {
            signal.wake();
        }
    }

    /// Queues a frame. Returns `false` if it was dropped because the queue is over capacity.
    pub fn push(self: &Arc<Self>, frame: QueuedFrame) -> bool {
        let accepted;
        {
            let mut state = self.state.lock();
            if state.overflowed_since.is_some() {
                return false;
            }
            if state.frames.len() >= self.capacity {
                state.overflowed_since = Some(Instant::now());
                state.frames = Vec::new();
                accepted = false;
                if let Some(signal) = &self.on_overflow {
                    signal.request();
                }
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
        state.overflowed_since.take().is_some()
    }

    /// How long ago the queue overflowed, if its reader has not drained it since.
    pub fn overflowed_for(&self, now: Instant) -> Option<std::time::Duration> {
        let since = self.state.lock().overflowed_since?;
        Some(now.saturating_duration_since(since))
    }

    /// Ready once per wake of the reader (see `WriteSignal::poll_woken`); never for a queue
    /// without a schedule.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        match &self.signal {
            Some(signal) => signal.poll_woken(cx),
            None => Poll::Pending,
        }
    }

    /// Resolves at the reader's next wake (or at once if one came since the last).
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await
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

    #[test]
    fn an_overflow_tells_its_signal_and_is_timed_until_the_reader_drains() {
        let schedule = Arc::new(WriteSchedule::default());
        let actor = WriteSignal::new(Arc::clone(&schedule));
        let q = FrameQueue::with_overflow_signal(1, Arc::clone(&schedule), Arc::clone(&actor));
        assert!(q.push(frame(1)));
        assert_eq!(
            schedule.wake_enlisted(),
            1,
            "the reader, not the overflow signal"
        );
        let later = Instant::now() + std::time::Duration::from_secs(7);
        assert_eq!(
            q.overflowed_for(later),
            None,
            "frames waiting are no overflow"
        );
        assert!(!q.push(frame(2)));
        assert_eq!(
            schedule.wake_enlisted(),
            2,
            "the reader again and the overflow signal"
        );
        let waited = q.overflowed_for(later).expect("overflowed");
        assert!(waited >= std::time::Duration::from_secs(6), "{waited:?}");
        assert!(!q.push(frame(3)));
        assert_eq!(
            schedule.wake_enlisted(),
            0,
            "a refused frame enlists nobody"
        );
        let mut out = VecDeque::new();
        assert!(q.drain_into(&mut out));
        assert_eq!(q.overflowed_for(later), None, "a drain ends it");
    }
}

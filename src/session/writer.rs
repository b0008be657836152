//! A session's frame writer: turns what the tiles queued for the session into websocket messages,
//! polled by whoever writes the connection (the response body, `SessionBody`, in the server).
//!
//! Why not the session actor: fan-out is one frame per viewer per tick, and sending each through
//! the actor cost a wake of the actor (which polls its mailbox, streams and timers), a spawned
//! future, a channel hop to actix-ws and a copy there, per frame (BENCHMARKS.md, "the connection
//! writes the session's frames"). The connection's own task, woken on the write boundary, pulls
//! the frame instead, with the actor's replies and paint results (its `Outbox`) at the front; the
//! actor is woken only for what it decides: a resync, or a queue that stopped draining.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::outbox::Outbox;
use super::subscriptions::Subscriptions;
use crate::canvas::frame_queue::{FrameQueue, QueuedFrame};
use crate::canvas::write_signal::WriteSignal;

/// Bytes a session writes in one tick, plus at most the one message that crosses it. A new
/// viewport's tile states (4 MiB for a 2048 x 2048 view) are spread over several ticks instead
/// of all going out at once: the states themselves are shared `Bytes`, so waiting in the
/// backlog costs nothing, while a burst on the wire costs every session its size in buffers at
/// once. A burst still under way at the next boundary keeps writing on its remaining budget.
pub const MAX_TICK_BYTES: usize = 512 * 1024;
/// Largest frame a session builds out of several messages (one message may be larger and goes
/// alone). actix-http copies every frame into its connection's write buffer, which starts at
/// 8 KiB and keeps whatever capacity it grew to (up to 128 KiB) for the life of the
/// connection. Frames that fit it, one per turn of the worker (so that actix-http moves each to
/// the socket, and empties its buffer, before it takes the next), leave a session whose client
/// keeps up with 8 KiB there, where one 36 KiB frame of first tile states pinned 36 KiB for good
/// (BENCHMARKS.md, memory per idle session). 8 KiB less a server frame header (at most 4 bytes
/// below 64 KiB), with room to spare.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 - 16;
/// A burst larger than this goes out in frames of up to `MAX_TICK_BYTES`: actix-http releases
/// a write buffer that grew past 128 KiB once it is written, so frames larger than that cost no
/// lasting memory either, while frames between 8 and 128 KiB would. A large frame takes as much
/// of the burst as the tick allows; what is left at the next boundary, if 136 KiB or less, goes
/// in small frames. Small frames alone made a 1920 x 1080 view's 510 first states 510 frames:
/// 5,000 such viewers fell seconds behind, with millions of deliveries missing (BENCHMARKS.md,
/// scenario matrix).
const LARGE_BURST_BYTES: usize = 136 * 1024;

pub struct FrameWriter {
    queue: Arc<FrameQueue>,
    subscriptions: Arc<Mutex<Subscriptions>>,
    /// The actor's replies and paint results, sent first in the tick's frame.
    outbox: Arc<Mutex<Outbox>>,
    /// The session actor's wake-up, for a resynchronisation.
    actor: Arc<WriteSignal>,
    /// Frames taken from the queue but not yet sent: what did not fit in the last frame.
    backlog: Backlog,
    /// Replies and paint results taken from the outbox for the next message.
    replies: Bytes,
    /// Bytes this tick may still write (`MAX_TICK_BYTES` at each write boundary).
    tick_budget: usize,
    /// Largest frame this tick builds out of several messages.
    frame_bytes: usize,
    /// The next poll gives the worker a turn first (more of a burst is ready).
    yield_next: bool,
}

impl FrameWriter {
    pub fn new(
        queue: Arc<FrameQueue>,
        subscriptions: Arc<Mutex<Subscriptions>>,
        outbox: Arc<Mutex<Outbox>>,
        actor: Arc<WriteSignal>,
    ) -> Self {
        Self {
            queue,
            subscriptions,
            outbox,
            actor,
            backlog: Backlog::default(),
            replies: Bytes::new(),
            tick_budget: 0,
            frame_bytes: MAX_FRAME_BYTES,
            yield_next: false,
        }
    }

    /// The next websocket message to send; `None` once the session has stopped. Frames of one
    /// tick wait for the write boundary, so that one message carries every tile of the tick.
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if std::mem::take(&mut self.yield_next) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            if self.tick_budget == 0 || (self.backlog.frames.is_empty() && self.replies.is_empty())
            {
                ready!(self.queue.poll_ready(cx));
                if !self.start_tick() {
                    return Poll::Ready(None);
                }
            }
            if let Some(frame) = self.next_frame() {
                if !self.backlog.frames.is_empty() {
                    if self.tick_budget > 0 {
                        self.yield_next = true;
                    } else {
                        // Past this tick's budget, the rest of a large burst goes out next tick.
                        self.queue.request_write();
                    }
                }
                return Poll::Ready(Some(frame));
            }
        }
    }

    /// On the write boundary: takes the replies and paint results that are due, and what the
    /// tiles queued. Returns `false` once the session is closing or gone.
    fn start_tick(&mut self) -> bool {
        let Some((due, owed)) = self.outbox.lock().take_due() else {
            self.backlog.clear();
            return false;
        };
        if owed {
            // Paint results still on their way to disk: looked at again next boundary.
            self.queue.request_write();
        }
        // The last tick's replies went out with its first frame.
        debug_assert!(self.replies.is_empty());
        self.replies = due;
        let new_from = self.backlog.frames.len();
        let overflowed = self.queue.drain_into(&mut self.backlog.frames);
        let mut subscriptions = self.subscriptions.lock();
        if overflowed || self.backlog.frames.len() > self.queue.capacity() {
            // Behind by more than a whole queue, even after spreading frames over ticks: what is
            // queued has a gap, so none of it is sent. The actor subscribes everything afresh
            // (or disconnects a client that needs that too often).
            self.backlog.clear();
            if !subscriptions.is_stale() {
                subscriptions.mark_stale();
                self.actor.wake();
            }
        }
        self.backlog.keep_current(&subscriptions, new_from);
        drop(subscriptions);
        self.tick_budget = MAX_TICK_BYTES;
        // A burst too large for small frames (a new viewport's states) goes in frames past
        // actix-http's retention limit instead, which it frees once they are written: small
        // frames would cost one websocket frame and system call per 4 KiB tile state. Decided
        // once a tick: the rest of a tick's burst only shrinks, and a large frame takes all the
        // budget it can, so the frames after it in the tick are small ones.
        self.frame_bytes = if self.replies.len() + self.backlog.bytes > LARGE_BURST_BYTES {
            MAX_TICK_BYTES
        } else {
            MAX_FRAME_BYTES
        };
        true
    }

    /// The replies and the front of the backlog as one message of at most this tick's frame size
    /// and budget (or the replies, or one tile's message, if that alone is larger); frames of
    /// dropped subscriptions are skipped.
    fn next_frame(&mut self) -> Option<Bytes> {
        // Subscriptions can change between the frames of a burst.
        let len = self.backlog.frames.len();
        self.backlog.keep_current(&self.subscriptions.lock(), len);
        let replies = std::mem::take(&mut self.replies);
        let frame = self
            .backlog
            .take(self.frame_bytes.min(self.tick_budget), replies)?;
        self.tick_budget = self.tick_budget.saturating_sub(frame.len());
        Some(frame)
    }
}

/// Frames waiting for a later message, all of current subscriptions as of `filtered_at`.
#[derive(Default)]
struct Backlog {
    frames: VecDeque<QueuedFrame>,
    /// The subscriptions' generation the frames were filtered at: while it holds, only newly
    /// drained frames need a look (one lookup per frame, not one per frame and pass).
    filtered_at: Option<u64>,
    /// Bytes in `frames`.
    bytes: usize,
}

impl Backlog {
    fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }

    /// Drops the frames of dropped or replaced subscriptions: those from `new_from` on, or all
    /// of them if the subscriptions changed since the last look.
    fn keep_current(&mut self, subscriptions: &Subscriptions, new_from: usize) {
        let mut from = new_from;
        if self.filtered_at != Some(subscriptions.generation()) {
            self.filtered_at = Some(subscriptions.generation());
            self.bytes = 0;
            from = 0;
        }
        if from == self.frames.len() {
            return;
        }
        let mut index = 0;
        let mut bytes = 0;
        self.frames.retain(|frame| {
            let keep = index < from || subscriptions.is_current(frame);
            if keep && index >= from {
                bytes += frame.bytes.len();
            }
            index += 1;
            keep
        });
        self.bytes += bytes;
    }

    /// `first` (never split) and the front as one message of at most `limit` bytes, or `first`
    /// or the first frame alone if that is larger.
    fn take(&mut self, limit: usize, first: Bytes) -> Option<Bytes> {
        // First where the message ends, so that it is built in one allocation of its size.
        let mut taken = 0;
        let mut len = first.len();
        for frame in &self.frames {
            if len > 0 && len + frame.bytes.len() > limit {
                break;
            }
            len += frame.bytes.len();
            taken += 1;
        }
        self.bytes -= len - first.len();
        let message = match (first.is_empty(), taken) {
            (true, 0) => return None,
            (false, 0) => first,
            // One tile in view, one tile state, or the whole-board feed: the shared bytes go
            // out untouched.
            (true, 1) => self.frames.pop_front().expect("one frame").bytes,
            _ => {
                let mut out = BytesMut::with_capacity(len);
                out.extend_from_slice(&first);
                for frame in self.frames.drain(..taken) {
                    out.extend_from_slice(&frame.bytes);
                }
                out.freeze()
            }
        };
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::task::noop_waker_ref;

    use super::*;
    use crate::canvas::frame_queue::FrameSource;
    use crate::canvas::write_schedule::WriteSchedule;
    use crate::geometry::TileCoord;

    struct Rig {
        schedule: Arc<WriteSchedule>,
        queue: Arc<FrameQueue>,
        subscriptions: Arc<Mutex<Subscriptions>>,
        outbox: Arc<Mutex<Outbox>>,
        durable: Arc<std::sync::atomic::AtomicBool>,
        actor: Arc<WriteSignal>,
        writer: FrameWriter,
    }

    fn rig(capacity: usize) -> Rig {
        let schedule = Arc::new(WriteSchedule::default());
        let actor = WriteSignal::new(Arc::clone(&schedule));
        let queue =
            FrameQueue::with_overflow_signal(capacity, Arc::clone(&schedule), Arc::clone(&actor));
        let subscriptions = Arc::new(Mutex::new(Subscriptions::default()));
        subscriptions.lock().set_board(Some(0));
        let durable = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let outbox = Arc::new(Mutex::new(Outbox::new(Box::new({
            let durable = Arc::clone(&durable);
            move |_| Ok(durable.load(std::sync::atomic::Ordering::SeqCst))
        }))));
        let writer = FrameWriter::new(
            Arc::clone(&queue),
            Arc::clone(&subscriptions),
            Arc::clone(&outbox),
            Arc::clone(&actor),
        );
        Rig {
            schedule,
            queue,
            subscriptions,
            outbox,
            durable,
            actor,
            writer,
        }
    }

    impl Rig {
        fn subscribe(&self, tx: u16) -> u32 {
            self.subscriptions
                .lock()
                .subscribe_tile(TileCoord { tx, ty: 0 })
        }

        fn push(&self, tx: u16, epoch: u32, bytes: Vec<u8>) -> bool {
            self.queue.push(QueuedFrame {
                board: 0,
                source: FrameSource::Tile(TileCoord { tx, ty: 0 }),
                epoch,
                bytes: Bytes::from(bytes),
            })
        }

        fn poll(&mut self) -> Poll<Option<Bytes>> {
            self.writer
                .poll_frame(&mut Context::from_waker(noop_waker_ref()))
        }

        /// Every message the writer gives before it waits for the next boundary.
        fn messages(&mut self) -> Vec<Bytes> {
            let mut out = Vec::new();
            // A burst yields one turn between messages: a pending poll right after a message
            // is that turn, a second one in a row is the wait for the next boundary.
            let mut pending_in_a_row = 0;
            while pending_in_a_row < 2 {
                match self.poll() {
                    Poll::Ready(Some(m)) => {
                        out.push(m);
                        pending_in_a_row = 0;
                    }
                    Poll::Ready(None) => panic!("the writer ended"),
                    Poll::Pending => pending_in_a_row += 1,
                }
            }
            out
        }
    }

    #[test]
    fn frames_wait_for_the_boundary() {
        let mut rig = rig(16);
        let epoch = rig.subscribe(0);
        rig.push(0, epoch, vec![1, 2]);
        assert_eq!(rig.poll(), Poll::Pending, "not before the boundary");
        assert_eq!(rig.schedule.wake_enlisted(), 1);
        assert_eq!(rig.messages(), vec![Bytes::from_static(&[1, 2])]);
    }

    #[test]
    fn one_message_carries_every_current_frame_of_the_tick_and_skips_stale_ones() {
        let mut rig = rig(16);
        let a = rig.subscribe(0);
        let b = rig.subscribe(1);
        let dropped = rig.subscribe(2);
        rig.push(0, a, vec![1]);
        rig.push(2, dropped, vec![9]);
        rig.push(1, b, vec![2, 3]);
        rig.push(0, a - 1, vec![8]);
        rig.subscriptions.lock().retain_tiles(|t| t.tx != 2);
        rig.schedule.wake_enlisted();
        assert_eq!(rig.messages(), vec![Bytes::from_static(&[1, 2, 3])]);
    }

    #[test]
    fn a_burst_goes_in_small_frames_then_waits_for_the_next_tick_past_its_budget() {
        let mut rig = rig(1024);
        // 40 tile states of 4 KiB: 160 KiB, a large burst.
        let epochs: Vec<u32> = (0..40).map(|tx| rig.subscribe(tx)).collect();
        for (tx, epoch) in epochs.iter().enumerate() {
            rig.push(tx as u16, *epoch, vec![tx as u8; 4096]);
        }
        rig.schedule.wake_enlisted();
        let first_tick = rig.messages();
        assert_eq!(
            first_tick.len(),
            1,
            "one large frame past actix-http's retention"
        );
        assert_eq!(first_tick[0].len(), 40 * 4096);
        // 160 states of 4 KiB: 640 KiB, more than a tick's budget.
        let epochs: Vec<u32> = (0..160).map(|tx| rig.subscribe(tx)).collect();
        for (tx, epoch) in epochs.iter().enumerate() {
            rig.push(tx as u16, *epoch, vec![1; 4096]);
        }
        rig.schedule.wake_enlisted();
        let first: usize = rig.messages().iter().map(Bytes::len).sum();
        assert!(
            (MAX_TICK_BYTES..MAX_TICK_BYTES + 4096).contains(&first),
            "{first}"
        );
        assert_eq!(rig.schedule.wake_enlisted(), 1, "the rest is due next tick");
        let rest = rig.messages();
        assert!(
            rest.len() > 1 && rest.iter().all(|m| m.len() <= MAX_FRAME_BYTES),
            "the 128 KiB left is small enough for small frames"
        );
        assert_eq!(
            first + rest.iter().map(Bytes::len).sum::<usize>(),
            160 * 4096
        );
    }

    #[test]
    fn an_overflow_sends_nothing_more_and_wakes_the_actor_to_resync() {
        let mut rig = rig(2);
        let epoch = rig.subscribe(0);
        for n in 0..3 {
            rig.push(0, epoch, vec![n]);
        }
        assert!(
            rig.queue
                .overflowed_for(std::time::Instant::now())
                .is_some()
        );
        rig.schedule.wake_enlisted();
        // The overflow woke the actor already (see `FrameQueue`); the writer wakes it itself.
        let _ = futures_util::FutureExt::now_or_never(rig.actor.woken());
        assert!(rig.messages().is_empty(), "nothing after a gap");
        assert!(rig.subscriptions.lock().is_stale());
        let woken = rig.actor.woken();
        assert!(
            futures_util::FutureExt::now_or_never(woken).is_some(),
            "the actor is woken"
        );
        // Frames pushed before the actor resubscribes belong to the gap too.
        rig.push(0, epoch, vec![7]);
        rig.schedule.wake_enlisted();
        assert!(rig.messages().is_empty());
        let epoch = rig.subscribe(0);
        rig.subscriptions.lock().resubscribed();
        rig.push(0, epoch, vec![5]);
        rig.schedule.wake_enlisted();
        assert_eq!(rig.messages(), vec![Bytes::from_static(&[5])]);
    }

    #[test]
    fn a_backlog_larger_than_the_queue_is_a_gap_too() {
        let mut rig = rig(4);
        let epoch = rig.subscribe(0);
        // Four 300 KiB states: two fill a tick's budget, two wait in the backlog.
        for _ in 0..4 {
            rig.push(0, epoch, vec![1; 300 * 1024]);
        }
        rig.schedule.wake_enlisted();
        assert_eq!(rig.messages().len(), 2);
        // Four more fit the queue, but not the backlog's room.
        for _ in 0..4 {
            assert!(rig.push(0, epoch, vec![2; 10]));
        }
        rig.schedule.wake_enlisted();
        assert!(rig.messages().is_empty(), "nothing after a gap");
        assert!(rig.subscriptions.lock().is_stale());
        assert!(
            futures_util::FutureExt::now_or_never(rig.actor.woken()).is_some(),
            "the actor is woken to resync"
        );
    }

    #[test]
    fn the_frames_of_a_burst_go_one_per_turn_of_the_worker() {
        struct CountWakes(std::sync::atomic::AtomicUsize);
        impl futures_util::task::ArcWake for CountWakes {
            fn wake_by_ref(arc_self: &Arc<Self>) {
                arc_self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let mut rig = rig(16);
        let wakes = Arc::new(CountWakes(Default::default()));
        let waker = futures_util::task::waker(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let woken = || wakes.0.load(std::sync::atomic::Ordering::SeqCst);
        // Three 6 KiB states: a small burst, one state per frame.
        for tx in 0..3 {
            let epoch = rig.subscribe(tx);
            rig.push(tx, epoch, vec![tx as u8; 6 * 1024]);
        }
        rig.schedule.wake_enlisted();
        for n in 0..3u8 {
            match rig.writer.poll_frame(&mut cx) {
                Poll::Ready(Some(frame)) => assert_eq!(frame[0], n),
                other => panic!("frame {n}: {other:?}"),
            }
            let before = woken();
            assert!(rig.writer.poll_frame(&mut cx).is_pending());
            if n < 2 {
                assert_eq!(woken(), before + 1, "a turn of the worker, then more");
            } else {
                assert_eq!(woken(), before, "the burst is over: wait for the boundary");
            }
        }
    }

    #[test]
    fn a_subscription_dropped_during_a_burst_sends_none_of_its_remaining_frames() {
        let mut rig = rig(16);
        for tx in 0..3 {
            let epoch = rig.subscribe(tx);
            rig.push(tx, epoch, vec![tx as u8; 6 * 1024]);
        }
        rig.schedule.wake_enlisted();
        assert!(matches!(rig.poll(), Poll::Ready(Some(m)) if m[0] == 0));
        rig.subscriptions.lock().retain_tiles(|t| t.tx != 1);
        let rest = rig.messages();
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert_eq!(rest[0][0], 2);
    }

    #[test]
    fn replies_and_due_paint_results_come_first_in_the_tick_s_frame() {
        use crate::canvas::PaintTicket;
        use crate::protocol::{ErrorCode, ServerMessage};

        let mut rig = rig(16);
        let epoch = rig.subscribe(0);
        let error = ServerMessage::Error {
            code: ErrorCode::Malformed,
            message: "bad".into(),
        };
        let mut encoded = bytes::BytesMut::new();
        crate::protocol::encode_server_into_bytes(&error, &mut encoded);
        rig.outbox.lock().reply(&error);
        rig.push(0, epoch, vec![42]);
        rig.schedule.wake_enlisted();
        let mut expected = encoded.to_vec();
        expected.push(42);
        assert_eq!(
            rig.messages(),
            vec![Bytes::from(expected)],
            "one frame, replies first"
        );

        // A paint result waits for the journal, alone in a frame once due.
        rig.durable
            .store(false, std::sync::atomic::Ordering::SeqCst);
        rig.outbox.lock().accepted(
            7,
            PaintTicket {
                board: 0,
                ticket: 1,
            },
        );
        rig.queue.request_write();
        assert_eq!(rig.schedule.wake_enlisted(), 1);
        assert!(rig.messages().is_empty(), "not durable yet");
        rig.durable.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            rig.schedule.wake_enlisted(),
            1,
            "looked at again next boundary"
        );
        let messages = rig.messages();
        assert_eq!(messages.len(), 1);
        let decoded = crate::protocol::decode_server_frame(&messages[0]).unwrap();
        assert!(
            matches!(&decoded[..], [ServerMessage::PaintResult(r)] if r.seq == 7),
            "{decoded:?}"
        );
    }

    #[test]
    fn the_writer_ends_once_the_session_closed() {
        let mut rig = rig(4);
        let _ = rig.outbox.lock().close();
        rig.queue.wake();
        assert_eq!(rig.poll(), Poll::Ready(None));
    }
}

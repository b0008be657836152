//! The websocket's response body: actix-ws's own body (the actor's replies, pings, pongs and the
//! close frame) with the session's frame writer beside it.
//!
//! actix-http polls the body whenever the connection can take more bytes, on the connection's
//! own task. The frames of a tick are pulled from the session's queue right there, framed as
//! websocket messages; the session actor is not involved (see `writer.rs`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use bytes::Bytes;
use futures_util::task::{ArcWake, AtomicWaker};

use super::writer::FrameWriter;

pub struct SessionBody {
    /// The session's first message, before anything else.
    welcome: Option<Bytes>,
    /// actix-ws's body: what the actor sends through its `actix_ws::Session`.
    control: BoxBody,
    /// Whether `control` may have something: it is polled only then (see `ControlWake`).
    control_wake: Arc<ControlWake>,
    /// `control_wake` as the waker `control` is polled with.
    control_waker: Waker,
    writer: FrameWriter,
    /// The writer has ended (the actor stopped): only the control body remains.
    writer_done: bool,
    /// The payload of the message whose header went out last.
    payload: Option<Bytes>,
}

impl SessionBody {
    pub fn new(control: BoxBody, welcome: Bytes, writer: FrameWriter) -> Self {
        let control_wake = Arc::new(ControlWake {
            // Polled once at the start, as any stream, to register its waker.
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Self {
            welcome: Some(welcome),
            control,
            control_waker: futures_util::task::waker(Arc::clone(&control_wake)),
            control_wake,
            writer,
            writer_done: false,
            payload: None,
        }
    }

    fn data(&mut self, frame: Bytes) -> Bytes {
        let header = binary_header(frame.len());
        self.payload = Some(frame);
        header
    }
}

impl MessageBody for SessionBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        // A message's payload right after its header: nothing may come between them.
        if let Some(payload) = this.payload.take() {
            return Poll::Ready(Some(Ok(payload)));
        }
        if let Some(welcome) = this.welcome.take() {
            return Poll::Ready(Some(Ok(this.data(welcome))));
        }
        // The control body first: it ends with the close frame, after which nothing is sent.
        if this.control_wake.take(cx) {
            let mut control_cx = Context::from_waker(&this.control_waker);
            match Pin::new(&mut this.control).poll_next(&mut control_cx) {
                Poll::Pending => {}
                done_or_bytes => {
                    this.control_wake.poll_again();
                    return done_or_bytes;
                }
            }
        }
        if this.writer_done {
            return Poll::Pending;
        }
        match this.writer.poll_frame(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(this.data(frame)))),
            Poll::Ready(None) => {
                // The actor stopped; its control body ends once its last message is out.
                this.writer_done = true;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// actix-ws's body is a channel from the actor: it has something only after the actor sent it,
/// which wakes this. It used to be polled for every frame of the tick (by the poll that takes
/// the frame's header, and by the last, empty poll of a burst), and polling the channel through
/// the boxed body each time was about 3% of the server's samples in p2's profile
/// (BENCHMARKS.md); now it is polled only when woken, and until it comes up empty.
struct ControlWake {
    woken: AtomicBool,
    /// The connection's task, woken in turn.
    task: AtomicWaker,
}

impl ControlWake {
    /// Whether to poll the control body now; registers the connection's waker first, so that
    /// a wake between this and the poll is not lost.
    fn take(&self, cx: &Context<'_>) -> bool {
        self.task.register(cx.waker());
        self.woken.swap(false, Ordering::AcqRel)
    }

    /// The control body gave something and may hold more, which no wake would announce.
    fn poll_again(&self) {
        self.woken.store(true, Ordering::Release);
    }
}

impl ArcWake for ControlWake {
    fn wake_by_ref(this: &Arc<Self>) {
        this.woken.store(true, Ordering::Release);
        this.task.wake();
    }
}

/// The header of an unfragmented, unmasked binary message of `len` bytes (RFC 6455, 5.2): a
/// server's frames are never masked.
fn binary_header(len: usize) -> Bytes {
    const FIN_BINARY: u8 = 0x80 | 0x2;
    let mut header = [0u8; 10];
    let n = if len < 126 {
        header[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    header[0] = FIN_BINARY;
    Bytes::copy_from_slice(&header[..n])
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use futures_util::task::noop_waker_ref;
    use parking_lot::Mutex;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    use super::*;
    use crate::canvas::frame_queue::{FrameQueue, FrameSource, QueuedFrame};
    use crate::canvas::write_schedule::WriteSchedule;
    use crate::canvas::write_signal::WriteSignal;
    use crate::geometry::TileCoord;
    use crate::session::outbox::Outbox;
    use crate::session::subscriptions::Subscriptions;

    /// actix-ws's body, as a script of what each poll returns. Like its channel, it wakes its
    /// waker when something comes after a `Pending` (here: at once, if the script goes on).
    struct Control {
        script: VecDeque<Poll<Option<&'static [u8]>>>,
        polls: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Control {
        fn new(script: impl Into<VecDeque<Poll<Option<&'static [u8]>>>>) -> Self {
            Self {
                script: script.into(),
                polls: Arc::default(),
            }
        }
    }

    impl MessageBody for Control {
        type Error = std::convert::Infallible;

        fn size(&self) -> BodySize {
            BodySize::Stream
        }

        fn poll_next(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Bytes, Self::Error>>> {
            let this = self.get_mut();
            this.polls.fetch_add(1, Ordering::Relaxed);
            let next = this.script.pop_front().expect("polled past the script");
            if next.is_pending() && !this.script.is_empty() {
                cx.waker().wake_by_ref();
            }
            next.map(|item| item.map(|bytes| Ok(Bytes::from_static(bytes))))
        }
    }

    fn writer_with_no_frames() -> FrameWriter {
        let schedule = Arc::new(WriteSchedule::default());
        FrameWriter::new(
            FrameQueue::with_schedule(8, Arc::clone(&schedule)),
            Arc::new(Mutex::new(Subscriptions::default())),
            Arc::new(Mutex::new(Outbox::new(Box::new(|_| Ok(true))))),
            WriteSignal::new(schedule),
        )
    }

    #[test]
    fn actix_ws_s_body_is_polled_only_once_it_woke_the_connection() {
        let control = Control::new([
            Poll::Pending,
            Poll::Ready(Some(&b"pong"[..])),
            Poll::Pending,
        ]);
        let polls = Arc::clone(&control.polls);
        // The script wakes on its first `Pending`, because a pong follows; not on its last.
        let mut body =
            SessionBody::new(BoxBody::new(control), Bytes::new(), writer_with_no_frames());
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut poll = || {
            Pin::new(&mut body)
                .poll_next(&mut cx)
                .map(|item| item.map(Result::unwrap))
        };
        assert!(
            matches!(poll(), Poll::Ready(Some(_))),
            "the welcome's header"
        );
        assert!(matches!(poll(), Poll::Ready(Some(_))), "its payload");
        assert!(poll().is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 1, "polled once at the start");
        assert_eq!(
            poll(),
            Poll::Ready(Some(Bytes::from_static(b"pong"))),
            "woken: polled"
        );
        assert!(poll().is_pending(), "polled again after something came");
        assert_eq!(polls.load(Ordering::Relaxed), 3);
        for _ in 0..5 {
            assert!(poll().is_pending());
        }
        assert_eq!(
            polls.load(Ordering::Relaxed),
            3,
            "not woken since: not polled"
        );
    }

    #[test]
    fn messages_never_interleave_and_the_body_ends_with_actix_ws_s() {
        let schedule = Arc::new(WriteSchedule::default());
        let queue = FrameQueue::with_schedule(8, Arc::clone(&schedule));
        let subscriptions = Arc::new(Mutex::new(Subscriptions::default()));
        let writer = FrameWriter::new(
            Arc::clone(&queue),
            Arc::clone(&subscriptions),
            Arc::new(Mutex::new(Outbox::new(Box::new(|_| Ok(true))))),
            WriteSignal::new(Arc::clone(&schedule)),
        );
        let tile = TileCoord { tx: 0, ty: 0 };
        let epoch = {
            let mut subs = subscriptions.lock();
            subs.set_board(Some(0));
            subs.subscribe_tile(tile)
        };
        queue.push(QueuedFrame {
            board: 0,
            source: FrameSource::Tile(tile),
            epoch,
            bytes: Bytes::from_static(b"tile"),
        });
        schedule.wake_enlisted();
        // actix-ws has a reply ready at once, then nothing, then a close, then it ends.
        let control = Control::new([
            Poll::Ready(Some(&b"reply"[..])),
            Poll::Pending,
            Poll::Ready(Some(&b"close"[..])),
            Poll::Ready(None),
        ]);
        let mut body = SessionBody::new(
            BoxBody::new(control),
            Bytes::from_static(b"welcome"),
            writer,
        );
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut poll = || match Pin::new(&mut body).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(bytes))) => Some(bytes),
            Poll::Ready(Some(Err(e))) => panic!("{e}"),
            Poll::Ready(None) => None,
            Poll::Pending => panic!("pending"),
        };
        let welcome = [&binary_header(7)[..], b"welcome"];
        assert_eq!(poll().as_deref(), Some(welcome[0]), "the welcome first");
        assert_eq!(poll().as_deref(), Some(welcome[1]));
        assert_eq!(poll().as_deref(), Some(&b"reply"[..]));
        assert_eq!(
            poll().as_deref(),
            Some(&binary_header(4)[..]),
            "the tick's frame"
        );
        assert_eq!(
            poll().as_deref(),
            Some(&b"tile"[..]),
            "its payload before actix-ws's close"
        );
        assert_eq!(poll().as_deref(), Some(&b"close"[..]));
        assert_eq!(poll(), None, "nothing after actix-ws's body ends");
    }

    #[test]
    fn headers_match_tungstenite_s_framing() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 600_000] {
            let payload = vec![7u8; len];
            let mut reference = Vec::new();
            Frame::message(payload, OpCode::Data(Data::Binary), true)
                .format(&mut reference)
                .expect("a Vec takes every byte");
            let header = binary_header(len);
            assert_eq!(
                &reference[..header.len()],
                &header[..],
                "header of a {len}-byte message"
            );
            assert_eq!(reference.len(), header.len() + len);
        }
    }
}

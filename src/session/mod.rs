//! The websocket session actor: one per connection. It forwards paints to their tiles, keeps its
//! subscriptions equal to the tiles its viewport intersects, and answers the client. What the
//! tiles send it is written by the connection itself (`writer.rs`, `body.rs`), one frame a tick.

mod acks;
pub mod body;
pub mod outbox;
pub mod outlet;
pub mod rate_limit;
pub mod subscriptions;
mod tile_epochs;
pub mod writer;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::canvas::Canvas;
use crate::canvas::board::Board;
use crate::canvas::frame_queue::FrameQueue;
use crate::canvas::tile::{SessionId, Subscribe, Unsubscribe};
use crate::canvas::write_signal::WriteSignal;
use crate::geometry::{Rect, TileCoord, Viewport, ViewportError};
use crate::identity::UserToken;
use crate::protocol::{
    self, ClientMessage, ErrorCode, Limits, PROTOCOL_VERSION, PaintOutcome, PaintResult,
    ServerMessage, Welcome, close_code,
};
use crate::settings::LimitSettings;
use outbox::Outbox;
use outlet::Outlet;
use rate_limit::TokenBucket;
use subscriptions::Subscriptions;
use writer::FrameWriter;

/// How often the server pings an idle client. Browsers answer pings on their own, so this only
/// detects dead peers (a closed laptop) that TCP would take minutes to notice.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A client silent for this long (three missed pings) is gone.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Resynchronisations tolerated per minute before a slow client is disconnected: one is a hiccup
/// (a GC pause, a backgrounded tab), several in a row mean it cannot keep up with its viewport.
const MAX_RESYNCS_PER_MINUTE: usize = 3;
/// Minimum time between two client-requested resyncs (an identical `SetViewport`).
const CLIENT_RESYNC_INTERVAL: Duration = Duration::from_secs(1);
/// A frame queue overflowed and left undrained this long (or replies the writer has not looked
/// at, or a pong the websocket has not accepted, for as long) means the client stopped reading: its socket buffers and the
/// connection's own buffer are full, so the connection takes nothing more. Long enough to ride
/// out a stalled mobile network, short enough that a dead reader does not hold its queue for
/// minutes.
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(5);
/// A close frame that cannot be queued within this time (the client stopped reading) is given
/// up on; the connection is dropped instead.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Counts open sessions against `limits.max_connections`; released when the session ends.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    /// Takes a slot if fewer than `max` are taken.
    pub fn try_acquire(open: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Self(Arc::clone(open)))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct Session<O: Outlet = actix_ws::Session> {
    id: SessionId,
    user: UserToken,
    canvas: Arc<Canvas>,
    limits: LimitSettings,
    ws: O,
    /// Where the tiles queue the session's frames; the frame writer drains it.
    queue: Arc<FrameQueue>,
    /// Shared with the frame writer, which sends only frames of current subscriptions.
    subscriptions: Arc<Mutex<Subscriptions>>,
    /// The accepted viewport, clipped; an identical `SetViewport` asks for fresh tile states.
    viewport: Option<Rect>,
    /// Wakes the actor on the write boundary: for a resync, or a queue that stopped draining.
    wake: Arc<WriteSignal>,
    /// Replies and paint results for the frame writer to send.
    outbox: Arc<Mutex<Outbox>>,
    closing: bool,
    rate: TokenBucket,
    /// Messages dropped by the rate limit in the current one-second window.
    flood: (Instant, u32),
    resyncs: VecDeque<Instant>,
    last_client_resync: Option<Instant>,
    last_heard: Instant,
    /// When the pong now on its way was handed to the websocket.
    pong_since: Option<Instant>,
    shutting_down: Option<tokio::sync::watch::Receiver<bool>>,
    _slot: ConnectionSlot,
}

/// Everything a session needs from the HTTP upgrade.
pub struct SessionParts<O: Outlet = actix_ws::Session> {
    pub id: SessionId,
    pub user: UserToken,
    pub canvas: Arc<Canvas>,
    pub limits: LimitSettings,
    pub ws: O,
    pub slot: ConnectionSlot,
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
}

/// Frames a session may have queued: `session_queue_len` updates on top of the full states of the
/// largest viewport, because a subscription (or a resync) queues one state per tile at once and
/// that burst alone must never count as falling behind.
fn queue_capacity(canvas: &Canvas, limits: &LimitSettings) -> usize {
    let max_viewport_tiles = canvas
        .boards()
        .iter()
        .map(|b| {
            let g = b.geometry();
            let ts = u64::from(g.tile_size());
            // A w x h rectangle of area <= A touches at most (w/ts + 2)(h/ts + 2) tiles, which is
            // at most A/ts^2 + 2(w + h)/ts + 4 with w, h bounded by the board.
            let bound = limits.max_viewport_area / (ts * ts)
                + 2 * u64::from(g.width() + g.height()) / ts
                + 4;
            bound.min(g.tile_count() as u64) as usize
        })
        .max()
        .unwrap_or(0);
    limits.session_queue_len + max_viewport_tiles
}

/// The first message of every session.
fn welcome<O: Outlet>(parts: &SessionParts<O>, tick: Duration) -> ServerMessage {
    let limits = &parts.limits;
    ServerMessage::Welcome(Welcome {
        protocol_version: PROTOCOL_VERSION,
        session_id: parts.id,
        user_token: parts.user.to_string(),
        limits: Limits {
            tick_ms: u32::try_from(tick.as_millis()).unwrap_or(u32::MAX),
            max_message_bytes: u32::try_from(limits.max_message_bytes).unwrap_or(u32::MAX),
            max_viewport_area: limits.max_viewport_area,
            max_messages_per_second: limits.max_messages_per_second,
        },
        boards: parts.canvas.boards().iter().map(|b| b.info()).collect(),
    })
}

impl<O: Outlet> Session<O> {
    /// The session actor, the welcome (to send before anything else), and the writer of the
    /// session's frames, which the connection polls (see `SessionBody`).
    pub fn open(parts: SessionParts<O>) -> (Self, Bytes, FrameWriter) {
        let now = Instant::now();
        let schedule = parts.canvas.write_schedule();
        let wake = WriteSignal::new(Arc::clone(schedule));
        let queue = FrameQueue::with_overflow_signal(
            queue_capacity(&parts.canvas, &parts.limits),
            Arc::clone(schedule),
            Arc::clone(&wake),
        );
        let subscriptions = Arc::new(Mutex::new(Subscriptions::default()));
        let canvas = Arc::clone(&parts.canvas);
        let outbox = Arc::new(Mutex::new(Outbox::new(Box::new(move |ticket| {
            canvas.is_durable(ticket)
        }))));
        let welcome = protocol::encode_server(&welcome(&parts, parts.canvas.clock().period()));
        let writer = FrameWriter::new(
            Arc::clone(&queue),
            Arc::clone(&subscriptions),
            Arc::clone(&outbox),
            Arc::clone(&wake),
        );
        let session = Self {
            id: parts.id,
            user: parts.user,
            queue,
            rate: TokenBucket::new(parts.limits.max_messages_per_second, now),
            canvas: parts.canvas,
            limits: parts.limits,
            ws: parts.ws,
            subscriptions,
            viewport: None,
            wake,
            outbox,
            closing: false,
            flood: (now, 0),
            resyncs: VecDeque::new(),
            last_client_resync: None,
            last_heard: now,
            pong_since: None,
            shutting_down: Some(parts.shutting_down),
            _slot: parts.slot,
        };
        (session, welcome.into(), writer)
    }

    /// Queues a reply for the next write.
    fn reply(&mut self, msg: &ServerMessage) {
        self.outbox.lock().reply(msg);
        self.write_replies();
    }

    /// The frame writer sends the outbox at the next write boundary.
    fn write_replies(&self) {
        if !self.closing {
            self.queue.request_write();
        }
    }

    fn error(&mut self, code: ErrorCode, message: String) {
        self.reply(&ServerMessage::Error { code, message });
    }

    /// Wake the actor at the next write boundary (see `WriteSchedule`).
    fn wake_next_boundary(&self) {
        if !self.closing {
            self.wake.request();
        }
    }

    /// Woken on the write boundary (only when asked): resynchronises if the frame writer lost
    /// frames, and disconnects a client whose connection stopped taking bytes.
    fn on_boundary(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if self.subscriptions.lock().is_stale() && !self.resync(ctx) {
            return;
        }
        if let Some(waited) = self.queue.overflowed_for(std::time::Instant::now()) {
            // The writer has not drained the queue since it overflowed: the connection is not
            // taking bytes (the client stopped reading). Looked at every tick until the writer
            // drains it (and has us resync) or the stall lasts too long.
            if waited > WRITE_STALL_TIMEOUT {
                tracing::info!(session = self.id, "client stopped reading; disconnected");
                self.close(
                    close_code::SLOW_CONSUMER,
                    "slow consumer: stopped reading",
                    ctx,
                );
                return;
            }
            self.wake_next_boundary();
        }
    }

    /// The frame writer lost frames (its queue overflowed): fetch every viewed tile afresh under
    /// new epochs, unless this client has needed that too often, in which case it is
    /// disconnected. Returns whether it continues.
    fn resync(&mut self, ctx: &mut Context<Self>) -> bool {
        let now = Instant::now();
        while self
            .resyncs
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.resyncs.pop_front();
        }
        if self.resyncs.len() >= MAX_RESYNCS_PER_MINUTE {
            tracing::info!(session = self.id, "slow consumer disconnected");
            self.close(
                close_code::SLOW_CONSUMER,
                "slow consumer: could not keep up with updates",
                ctx,
            );
            return false;
        }
        self.resyncs.push_back(now);
        tracing::debug!(session = self.id, "resynchronising slow session");
        self.resubscribe_all();
        true
    }

    /// Subscribes every tile in view again under a new epoch, so each queues its full state and
    /// whatever is still queued under the old epochs is dropped.
    fn resubscribe_all(&mut self) {
        let mut subs = self.subscriptions.lock();
        if let Some(board) = subs.board().and_then(|b| self.canvas.board(b)).cloned() {
            if subs.feed().is_some() {
                self.join_feed(&mut subs, &board);
            } else {
                let tiles: Vec<TileCoord> = subs.tiles().tiles().collect();
                for tile in tiles {
                    // Subscribe again under a new epoch: the tile replaces the old subscription
                    // and queues its full state. Control messages use `do_send`, which ignores
                    // the mailbox's capacity; they are bounded by the client's own rate limit.
                    let epoch = subs.subscribe_tile(tile);
                    board.tile(tile).do_send(Subscribe {
                        session: self.id,
                        epoch,
                        queue: Arc::clone(&self.queue),
                    });
                }
            }
        }
        subs.resubscribed();
    }

    fn unsubscribe_all(&mut self) {
        let mut subs = self.subscriptions.lock();
        if let Some(board) = subs.board().and_then(|b| self.canvas.board(b)).cloned() {
            self.drop_tiles(&mut subs, &board);
            self.leave_feed(&mut subs, &board);
        }
        subs.set_board(None);
        self.viewport = None;
    }

    fn drop_tiles(&self, subs: &mut Subscriptions, board: &Board) {
        for tile in subs.clear_tiles() {
            board.tile(tile).do_send(Unsubscribe { session: self.id });
        }
    }

    /// Joins the board's feed, or joins it again under a new epoch: either way the feed queues
    /// every tile's state, then each tick's updates.
    fn join_feed(&self, subs: &mut Subscriptions, board: &Board) {
        let Some(feed) = board.feed() else {
            return;
        };
        let epoch = subs.join_feed();
        feed.do_send(Subscribe {
            session: self.id,
            epoch,
            queue: Arc::clone(&self.queue),
        });
    }

    fn leave_feed(&self, subs: &mut Subscriptions, board: &Board) {
        if subs.leave_feed()
            && let Some(feed) = board.feed()
        {
            feed.do_send(Unsubscribe { session: self.id });
        }
    }

    fn set_viewport(&mut self, board_index: u16, rect: Rect) {
        if rect.width == 0 || rect.height == 0 {
            self.unsubscribe_all();
            return;
        }
        let Some(board) = self.canvas.board(board_index).cloned() else {
            let n = self.canvas.boards().len();
            return self.error(
                ErrorCode::UnknownBoard,
                format!("board {board_index} does not exist (there are {n})"),
            );
        };
        let viewport = match Viewport::new(board.geometry(), rect, self.limits.max_viewport_area) {
            Ok(v) => v,
            Err(e @ ViewportError::OffBoard { .. }) => {
                return self.error(ErrorCode::ViewportOffBoard, e.to_string());
            }
            Err(e @ ViewportError::TooLarge { .. }) => {
                return self.error(ErrorCode::ViewportTooLarge, e.to_string());
            }
        };
        let current_board = self.subscriptions.lock().board();
        if current_board == Some(board_index) && self.viewport == Some(viewport.rect()) {
            // The same viewport again is the client's resync request (it saw a version gap):
            // every tile in view is subscribed afresh and sends its full state. Honoured once a
            // second at most: a full viewport of states is large, and repeating a 22-byte
            // message must not make the server send megabytes.
            let now = Instant::now();
            if self
                .last_client_resync
                .is_none_or(|t| now.duration_since(t) >= CLIENT_RESYNC_INTERVAL)
            {
                self.last_client_resync = Some(now);
                self.resubscribe_all();
            }
            return;
        }
        if current_board != Some(board_index) {
            self.unsubscribe_all();
            self.subscriptions.lock().set_board(Some(board_index));
        }
        self.viewport = Some(viewport.rect());
        let wanted = board.geometry().tile_span(&viewport);
        let mut subs = self.subscriptions.lock();
        if board.feed().is_some() && wanted.count() == board.geometry().tile_count() {
            // The whole board: one shared frame a tick from the feed instead of one update per
            // tile. Entering it replaces the tile subscriptions, so every tile's state comes anew.
            if subs.feed().is_none() {
                self.drop_tiles(&mut subs, &board);
                self.join_feed(&mut subs, &board);
            }
            return;
        }
        self.leave_feed(&mut subs, &board);
        let session = self.id;
        for tile in subs.retain_tiles(|tile| wanted.contains(tile)) {
            board.tile(tile).do_send(Unsubscribe { session });
        }
        subs.cover_tiles(wanted);
        for tile in wanted.tiles() {
            if subs.tiles().contains(tile) {
                continue;
            }
            let epoch = subs.subscribe_tile(tile);
            board.tile(tile).do_send(Subscribe {
                session,
                epoch,
                queue: Arc::clone(&self.queue),
            });
        }
    }

    fn paint(&mut self, seq: u32, board: u16, x: u32, y: u32, color: u8) {
        match self.canvas.paint(&self.user, board, x, y, color) {
            Ok(ticket) => {
                // Answered by the frame writer at a write boundary once the journal has it.
                self.outbox.lock().accepted(seq, ticket);
                self.write_replies();
            }
            Err(rejection) => self.refuse_paint(seq, rejection),
        }
    }

    fn refuse_paint(&mut self, seq: u32, r: crate::canvas::Rejection) {
        let outcome = PaintOutcome::Rejected {
            reason: r.reason,
            retry_after_ms: r.retry_after_ms,
        };
        self.outbox.lock().refused(PaintResult { seq, outcome });
        self.write_replies();
    }

    /// Applies the rate limit. Returns whether the message may be handled.
    fn admit(&mut self, ctx: &mut Context<Self>) -> Result<(), Duration> {
        let now = Instant::now();
        match self.rate.try_take(now) {
            Ok(()) => Ok(()),
            Err(wait) => {
                if now.duration_since(self.flood.0) >= Duration::from_secs(1) {
                    self.flood = (now, 0);
                }
                self.flood.1 += 1;
                // Dropping more than a whole second's allowance within one second means the client
                // ignores the RateLimited answers: it is flooding, not bursting.
                if self.flood.1 > self.limits.max_messages_per_second {
                    self.close(
                        close_code::FLOOD,
                        "flood: kept sending faster than the rate limit",
                        ctx,
                    );
                }
                Err(wait)
            }
        }
    }

    fn handle_binary(&mut self, bytes: &[u8], ctx: &mut Context<Self>) {
        let admitted = self.admit(ctx);
        if self.closing {
            return;
        }
        let msg = match protocol::decode_client(bytes) {
            Ok(msg) => msg,
            Err(e) => return self.error(ErrorCode::Malformed, e.to_string()),
        };
        if let Err(wait) = admitted {
            let retry_after_ms = u32::try_from(wait.as_millis() + 1).unwrap_or(u32::MAX);
            return match msg {
                ClientMessage::Paint { seq, .. } => self.refuse_paint(
                    seq,
                    crate::canvas::Rejection {
                        reason: protocol::RejectReason::RateLimited,
                        retry_after_ms,
                    },
                ),
                ClientMessage::SetViewport { .. } => self.error(
                    ErrorCode::RateLimited,
                    format!(
                        "more than {} messages per second; retry in {retry_after_ms} ms",
                        self.limits.max_messages_per_second
                    ),
                ),
            };
        }
        match msg {
            ClientMessage::SetViewport {
                board,
                x,
                y,
                width,
                height,
            } => self.set_viewport(
                board,
                Rect {
                    x,
                    y,
                    width,
                    height,
                },
            ),
            ClientMessage::Paint {
                seq,
                board,
                x,
                y,
                color,
            } => self.paint(seq, board, x, y, color),
        }
    }

    fn too_big(&mut self, ctx: &mut Context<Self>) {
        let reason = format!(
            "message larger than {} bytes",
            self.limits.max_message_bytes
        );
        self.close(1009, &reason, ctx)
    }

    /// Answers a ping. At most one pong is in flight: RFC 6455 lets an endpoint answer only the
    /// latest of several pings, and a client that pings without reading must not pile up
    /// pending writes.
    fn pong(&mut self, payload: Bytes, ctx: &mut Context<Self>) {
        if self.pong_since.is_some() {
            return;
        }
        self.pong_since = Some(Instant::now());
        let mut ws = self.ws.clone();
        ctx.spawn(ws.pong(payload).into_actor(self).map(|_, session, _| {
            session.pong_since = None;
        }));
    }

    /// Sends whatever replies are pending, then a close frame, then stops.
    fn close(&mut self, code: u16, reason: &str, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        // Results already durable go out with the close; the rest are never acknowledged (the
        // outbox hands nothing more to the writer, which could send them ahead of these).
        let pending = self.outbox.lock().close();
        let mut ws = self.ws.clone();
        let reason = CloseReason {
            code: CloseCode::from(code),
            description: Some(reason.to_owned()),
        };
        ctx.spawn(
            async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                    if !pending.is_empty() {
                        ws.binary(pending).await?;
                    }
                    ws.close(reason).await
                })
                .await;
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
        );
    }
}

/// The write boundary, for a session that asked for it (see `wake_next_boundary`).
#[derive(Message)]
#[rtype(result = "()")]
struct WriteBoundary;

impl<O: Outlet> Actor for Session<O> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let wake = Arc::clone(&self.wake);
        ctx.add_stream(futures_util::stream::unfold(wake, |wake| async move {
            wake.woken().await;
            Some((WriteBoundary, wake))
        }));
        if let Some(mut shutting_down) = self.shutting_down.take() {
            ctx.spawn(
                async move {
                    // An error means the server side is gone: shut down as well.
                    let _ = shutting_down.wait_for(|down| *down).await;
                }
                .into_actor(self)
                .map(|_, session, ctx| session.close(1001, "server shutting down", ctx)),
            );
        }
        ctx.run_interval(HEARTBEAT_INTERVAL, |session, ctx| {
            if Instant::now().duration_since(session.last_heard) > CLIENT_TIMEOUT {
                tracing::debug!(session = session.id, "client timed out");
                session.close(1001, "heartbeat timeout", ctx);
                return;
            }
            // A client that sends but never reads stalls our pongs, or leaves its replies unsent
            // (its writer is not polled), without ever going silent.
            let replies_stalled = session
                .outbox
                .lock()
                .unseen_for(std::time::Instant::now())
                .is_some_and(|waited| waited > WRITE_STALL_TIMEOUT);
            if replies_stalled
                || session
                    .pong_since
                    .is_some_and(|t| t.elapsed() > WRITE_STALL_TIMEOUT)
            {
                tracing::info!(session = session.id, "client stopped reading; disconnected");
                session.close(
                    close_code::SLOW_CONSUMER,
                    "slow consumer: stopped reading",
                    ctx,
                );
                return;
            }
            let mut ws = session.ws.clone();
            ctx.spawn(ws.ping().into_actor(session).map(|_, _, _| ()));
        });
        tracing::debug!(session = self.id, "session started");
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.unsubscribe_all();
        // The frame writer ends too (it is woken to see that). What is still queued goes now:
        // a connection that takes no bytes never polls the writer again.
        let _ = self.outbox.lock().close();
        self.queue
            .drain_into(&mut std::collections::VecDeque::new());
        self.queue.wake();
        tracing::debug!(session = self.id, "session stopped");
    }
}

impl<O: Outlet> StreamHandler<WriteBoundary> for Session<O> {
    fn handle(&mut self, _: WriteBoundary, ctx: &mut Self::Context) {
        self.on_boundary(ctx);
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl<O: Outlet> StreamHandler<Result<AggregatedMessage, ProtocolError>> for Session<O> {
    fn handle(&mut self, item: Result<AggregatedMessage, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        if self.closing {
            return;
        }
        match item {
            Ok(AggregatedMessage::Binary(bytes)) => self.handle_binary(&bytes, ctx),
            Ok(AggregatedMessage::Text(_)) => {
                // Text frames count against the rate limit like any other, so they cannot be
                // used to make the server write error replies without bound.
                if self.admit(ctx).is_ok() {
                    let message = "text frames are not part of the protocol; send binary frames (docs/protocol.md)";
                    self.error(ErrorCode::TextFrame, message.to_owned())
                }
            }
            Ok(AggregatedMessage::Ping(bytes)) => {
                if self.admit(ctx).is_ok() {
                    self.pong(bytes, ctx);
                }
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => self.close(1000, "closed by client", ctx),
            Err(ProtocolError::Overflow) => self.too_big(ctx),
            // actix-ws reports an over-long fragmented message as an I/O error of its own.
            Err(ProtocolError::Io(e)) if e.to_string().contains("maximum continuation size") => {
                self.too_big(ctx)
            }
            Err(e) => self.close(1002, &format!("websocket protocol error: {e}"), ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

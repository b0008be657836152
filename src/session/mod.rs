//! The websocket session actor: one per connection. It forwards paints to their tiles, keeps its
//! subscriptions equal to the tiles its viewport intersects, and writes what a tick produced for
//! it as one frame (as several of at most 8 KiB when it is more than that).

mod acks;
pub mod outlet;
pub mod rate_limit;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use bytes::{Bytes, BytesMut};
use foldhash::{HashMap, HashMapExt};
use tokio::time::Instant;

use crate::canvas::Canvas;
use crate::canvas::board::Board;
use crate::canvas::frame_queue::{FrameQueue, FrameSource, QueuedFrame};
use crate::canvas::tile::{SessionId, Subscribe, Unsubscribe};
use crate::geometry::{Rect, TileCoord, Viewport, ViewportError};
use crate::identity::UserToken;
use crate::protocol::{
    self, ClientMessage, ErrorCode, Limits, PROTOCOL_VERSION, PaintOutcome, PaintResult,
    ServerMessage, Welcome, close_code,
};
use crate::settings::LimitSettings;
use acks::PaintAcks;
use outlet::Outlet;
use rate_limit::TokenBucket;

/// How often the server pings an idle client. Browsers answer pings on their own, so this only
/// detects dead peers (a closed laptop) that TCP would take minutes to notice.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A client silent for this long (three missed pings) is gone.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Resynchronisations tolerated per minute before a slow client is disconnected: one is a hiccup
/// (a GC pause, a backgrounded tab), several in a row mean it cannot keep up with its viewport.
const MAX_RESYNCS_PER_MINUTE: usize = 3;
/// Bytes a session writes in one tick, plus at most the one message that crosses it. A new
/// viewport's tile states (4 MiB for a 2048 x 2048 view) are spread over several ticks instead
/// of all going out at once: the states themselves are shared `Bytes`, so waiting in the
/// backlog costs nothing, while a burst on the wire costs every session its size in buffers at
/// once. A burst still under way at the next boundary keeps writing on its remaining budget.
const MAX_TICK_BYTES: usize = 512 * 1024;
/// Largest frame a session builds out of several messages (one message, or the tick's replies,
/// may be larger and go alone). actix-http copies every frame into its connection's write
/// buffer, which starts at 8 KiB and keeps whatever capacity it grew to (up to 128 KiB) for the
/// life of the connection. Frames that fit it, each handed to actix-ws only once it took the
/// previous one and the worker had a turn to write that to the socket, leave a session whose
/// client keeps up with 8 KiB there, where one 36 KiB frame of first tile states pinned 36 KiB
/// for good (BENCHMARKS.md, memory per idle session). A client that stops reading still grows
/// it, as frames wait in actix-ws's queue, until the write stall closes it. 8 KiB less a server
/// frame header (at most 4 bytes below 64 KiB), with room to spare.
const MAX_FRAME_BYTES: usize = 8 * 1024 - 16;
/// A burst larger than this goes out in frames of up to `MAX_TICK_BYTES` (see `write_frame`):
/// actix-http releases a write buffer that grew past 128 KiB once it is written, so frames
/// larger than that cost no lasting memory either, while frames between 8 and 128 KiB would.
/// A large frame takes as much of the burst as the tick allows; what is left at the next
/// boundary, if 136 KiB or less, goes in small frames. Small frames alone made a 1920 x 1080
/// view's 510 first states 510 frames: 5,000 such viewers fell seconds behind, with millions
/// of deliveries missing (BENCHMARKS.md, scenario matrix).
const LARGE_BURST_BYTES: usize = 136 * 1024;
/// Minimum time between two client-requested resyncs (an identical `SetViewport`).
const CLIENT_RESYNC_INTERVAL: Duration = Duration::from_secs(1);
/// A frame the websocket has not accepted for this long means the client stopped reading: its
/// socket buffers and the websocket's own queue are full. Long enough to ride out a stalled
/// mobile network, short enough that a dead reader does not hold its queue for minutes.
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
    queue: Arc<FrameQueue>,
    /// The board the viewport is on.
    board: Option<u16>,
    /// The accepted viewport, clipped; an identical `SetViewport` asks for fresh tile states.
    viewport: Option<Rect>,
    /// The epoch of each subscribed tile, when the viewport covers part of the board.
    subscriptions: HashMap<TileCoord, u32>,
    /// The epoch of the membership in the board's whole-board feed, when the viewport covers
    /// every tile of a board that has one (then `subscriptions` is empty).
    feed: Option<u32>,
    next_epoch: u32,
    /// Frames taken from the queue but not yet sent: what did not fit in the last frame.
    backlog: VecDeque<QueuedFrame>,
    /// Encoded replies (paint results, errors) waiting for the next write.
    replies: BytesMut,
    /// Paint results not yet due: accepted paints wait for the journal to have them on disk.
    acks: PaintAcks,
    /// When the frame now on its way was handed to the websocket; `None` when idle.
    writing: Option<Instant>,
    /// Bytes this tick may still write (`MAX_TICK_BYTES` at each write boundary).
    tick_budget: usize,
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

impl<O: Outlet> Session<O> {
    pub fn new(parts: SessionParts<O>) -> Self {
        let now = Instant::now();
        Self {
            id: parts.id,
            user: parts.user,
            queue: FrameQueue::with_schedule(
                queue_capacity(&parts.canvas, &parts.limits),
                Arc::clone(parts.canvas.write_schedule()),
            ),
            rate: TokenBucket::new(parts.limits.max_messages_per_second, now),
            canvas: parts.canvas,
            limits: parts.limits,
            ws: parts.ws,
            board: None,
            viewport: None,
            subscriptions: HashMap::new(),
            feed: None,
            next_epoch: 1,
            backlog: VecDeque::new(),
            replies: BytesMut::new(),
            acks: PaintAcks::default(),
            writing: None,
            tick_budget: 0,
            closing: false,
            flood: (now, 0),
            resyncs: VecDeque::new(),
            last_client_resync: None,
            last_heard: now,
            pong_since: None,
            shutting_down: Some(parts.shutting_down),
            _slot: parts.slot,
        }
    }

    fn welcome(&self, tick: Duration) -> ServerMessage {
        ServerMessage::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            session_id: self.id,
            user_token: self.user.to_string(),
            limits: Limits {
                tick_ms: u32::try_from(tick.as_millis()).unwrap_or(u32::MAX),
                max_message_bytes: u32::try_from(self.limits.max_message_bytes).unwrap_or(u32::MAX),
                max_viewport_area: self.limits.max_viewport_area,
                max_messages_per_second: self.limits.max_messages_per_second,
            },
            boards: self.canvas.boards().iter().map(|b| b.info()).collect(),
        })
    }

    /// Queues a reply for the next write.
    fn reply(&mut self, msg: &ServerMessage) {
        protocol::encode_server_into_bytes(msg, &mut self.replies);
        self.schedule_write();
    }

    fn error(&mut self, code: ErrorCode, message: String) {
        self.reply(&ServerMessage::Error { code, message });
    }

    /// Write at the next write boundary (see `WriteSchedule`).
    fn schedule_write(&self) {
        if !self.closing {
            self.queue.request_write();
        }
    }

    /// At the write boundary: takes what the tiles queued and starts sending it, in frames of at
    /// most `MAX_FRAME_BYTES`, up to `MAX_TICK_BYTES` this tick.
    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if let Some(since) = self.writing {
            // The previous frame is still on its way (the client reads slowly): frames keep
            // accumulating in the bounded queue until the next tick, or until it has stalled for
            // so long that the client is clearly not reading.
            if since.elapsed() > WRITE_STALL_TIMEOUT {
                tracing::info!(session = self.id, "client stopped reading; disconnected");
                self.close(
                    close_code::SLOW_CONSUMER,
                    "slow consumer: stopped reading",
                    ctx,
                );
            } else {
                self.schedule_write();
            }
            return;
        }
        self.release_acks();
        if self.queue.drain_into(&mut self.backlog) {
            self.backlog.clear();
            if !self.resync(ctx) {
                return;
            }
        }
        if self.backlog.len() > self.queue.capacity() {
            // Behind by more than a whole queue even after spreading frames over ticks.
            self.backlog.clear();
            if !self.resync(ctx) {
                return;
            }
        }
        self.tick_budget = MAX_TICK_BYTES;
        // A burst too large for small frames (a new viewport's states) goes in frames past
        // actix-http's retention limit instead, which it frees once they are written: small
        // frames would cost one websocket frame and system call per 4 KiB tile state. Decided
        // once a tick: the rest of a tick's burst only shrinks, and a large frame takes all the
        // budget it can, so the frames after it in the tick are small ones.
        let frame_bytes = if self.backlog_exceeds(LARGE_BURST_BYTES) {
            MAX_TICK_BYTES
        } else {
            MAX_FRAME_BYTES
        };
        self.write_frame(frame_bytes, ctx);
    }

    /// Sends the replies and the front of the backlog as one frame of at most `frame_bytes` and
    /// the tick's budget (or one message, if that alone is larger). What is left goes in small
    /// frames once the websocket has taken this one, while the budget lasts; then next tick.
    fn write_frame(&mut self, frame_bytes: usize, ctx: &mut Context<Self>) {
        let limit = frame_bytes.min(self.tick_budget);
        let mut parts: Vec<Bytes> = Vec::new();
        let mut len = self.replies.len();
        while let Some(next) = self.backlog.front() {
            let current = self.is_current(next);
            if current && len > 0 && len + next.bytes.len() > limit {
                break;
            }
            let next = self.backlog.pop_front().expect("front exists");
            if current {
                len += next.bytes.len();
                parts.push(next.bytes);
            }
        }
        if !self.backlog.is_empty() {
            // Past this tick's budget, the rest of a large burst goes out next tick.
            self.schedule_write();
        }
        let frame = if parts.len() == 1 && self.replies.is_empty() {
            // One tile in view, one tile state, or the whole-board feed: the shared bytes go out
            // untouched.
            parts.pop().expect("one element")
        } else {
            if len == 0 {
                return;
            }
            let mut out = BytesMut::with_capacity(len);
            out.extend_from_slice(&self.replies);
            self.replies.clear();
            for bytes in &parts {
                out.extend_from_slice(bytes);
            }
            out.freeze()
        };
        self.tick_budget = self.tick_budget.saturating_sub(frame.len());
        self.send_frame(frame, ctx);
    }

    /// Whether the replies and the current frames of the backlog add up to more than `bytes`.
    fn backlog_exceeds(&self, bytes: usize) -> bool {
        let mut total = self.replies.len();
        for frame in &self.backlog {
            if total > bytes {
                return true;
            }
            if self.is_current(frame) {
                total += frame.bytes.len();
            }
        }
        total > bytes
    }

    /// After a frame was taken: the next one of a burst, if the tick's budget allows. It waits
    /// for one turn of the worker first, so that actix-http moves the last frame to the socket
    /// (and empties its write buffer) before this one arrives, instead of collecting both.
    fn continue_burst(&mut self, ctx: &mut Context<Self>) {
        if self.backlog.is_empty() || self.tick_budget == 0 {
            return;
        }
        ctx.spawn(
            tokio::task::yield_now()
                .into_actor(self)
                .map(|(), session, ctx| {
                    if session.writing.is_none() && !session.closing {
                        session.write_frame(MAX_FRAME_BYTES, ctx);
                    }
                }),
        );
    }

    /// Whether a queued frame belongs to a subscription the session still holds; frames of
    /// dropped or replaced subscriptions are skipped.
    fn is_current(&self, frame: &QueuedFrame) -> bool {
        Some(frame.board) == self.board
            && match frame.source {
                FrameSource::Tile(tile) => self.subscriptions.get(&tile) == Some(&frame.epoch),
                FrameSource::Feed => self.feed == Some(frame.epoch),
            }
    }

    fn send_frame(&mut self, frame: Bytes, ctx: &mut Context<Self>) {
        self.writing = Some(Instant::now());
        let mut ws = self.ws.clone();
        ctx.spawn(
            ws.binary(frame)
                .into_actor(self)
                .map(|result, session, ctx| {
                    session.writing = None;
                    if result.is_err() {
                        ctx.stop();
                        return;
                    }
                    session.continue_burst(ctx);
                }),
        );
    }

    /// The queue overflowed: fetch every viewed tile afresh under new epochs, unless this client
    /// has needed that too often, in which case it is disconnected. Returns whether it continues.
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
        tracing::debug!(
            session = self.id,
            tiles = self.subscriptions.len(),
            "resynchronising slow session"
        );
        self.resubscribe_all();
        true
    }

    /// Subscribes every tile in view again under a new epoch, so each queues its full state and
    /// whatever is still queued under the old epochs is dropped.
    fn resubscribe_all(&mut self) {
        if let Some(board) = self.board.and_then(|b| self.canvas.board(b)).cloned() {
            if self.feed.is_some() {
                self.join_feed(&board);
                return;
            }
            let tiles: Vec<TileCoord> = self.subscriptions.keys().copied().collect();
            for tile in tiles {
                let epoch = self.take_epoch();
                self.subscriptions.insert(tile, epoch);
                // Subscribe again under a new epoch: the tile replaces the old subscription and
                // queues its full state. Control messages use `do_send`, which ignores the
                // mailbox's capacity; they are bounded by the client's own rate limit.
                board.tile(tile).do_send(Subscribe {
                    session: self.id,
                    epoch,
                    queue: Arc::clone(&self.queue),
                });
            }
        }
    }

    fn take_epoch(&mut self) -> u32 {
        let epoch = self.next_epoch;
        self.next_epoch = self.next_epoch.wrapping_add(1);
        epoch
    }

    fn unsubscribe_all(&mut self) {
        if let Some(board) = self.board.and_then(|b| self.canvas.board(b)).cloned() {
            self.drop_tiles(&board);
            self.leave_feed(&board);
        }
        self.board = None;
        self.viewport = None;
    }

    fn drop_tiles(&mut self, board: &Board) {
        for tile in self.subscriptions.keys() {
            board.tile(*tile).do_send(Unsubscribe { session: self.id });
        }
        self.subscriptions.clear();
    }

    /// Joins the board's feed, or joins it again under a new epoch: either way the feed queues
    /// every tile's state, then each tick's updates.
    fn join_feed(&mut self, board: &Board) {
        let Some(feed) = board.feed() else {
            return;
        };
        let epoch = self.take_epoch();
        self.feed = Some(epoch);
        feed.do_send(Subscribe {
            session: self.id,
            epoch,
            queue: Arc::clone(&self.queue),
        });
    }

    fn leave_feed(&mut self, board: &Board) {
        if self.feed.take().is_some()
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
        if self.board == Some(board_index) && self.viewport == Some(viewport.rect()) {
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
        if self.board != Some(board_index) {
            self.unsubscribe_all();
            self.board = Some(board_index);
        }
        self.viewport = Some(viewport.rect());
        let wanted: std::collections::HashSet<TileCoord> =
            board.geometry().tiles_in(&viewport).collect();
        if board.feed().is_some() && wanted.len() == board.geometry().tile_count() {
            // The whole board: one shared frame a tick from the feed instead of one update per
            // tile. Entering it replaces the tile subscriptions, so every tile's state comes anew.
            if self.feed.is_none() {
                self.drop_tiles(&board);
                self.join_feed(&board);
            }
            return;
        }
        self.leave_feed(&board);
        let session = self.id;
        self.subscriptions.retain(|tile, _| {
            let keep = wanted.contains(tile);
            if !keep {
                board.tile(*tile).do_send(Unsubscribe { session });
            }
            keep
        });
        for tile in wanted {
            if self.subscriptions.contains_key(&tile) {
                continue;
            }
            let epoch = self.take_epoch();
            self.subscriptions.insert(tile, epoch);
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
                // Answered at a write boundary once the journal has it (see `release_acks`).
                self.acks.accepted(seq, ticket);
                self.schedule_write();
            }
            Err(rejection) => self.refuse_paint(seq, rejection),
        }
    }

    fn refuse_paint(&mut self, seq: u32, r: crate::canvas::Rejection) {
        let outcome = PaintOutcome::Rejected {
            reason: r.reason,
            retry_after_ms: r.retry_after_ms,
        };
        if let Some(result) = self.acks.decided(PaintResult { seq, outcome }) {
            self.reply(&ServerMessage::PaintResult(result));
        }
    }

    /// Moves the paint results that are due into the replies; keeps the session scheduled while
    /// some still wait for the journal.
    fn release_acks(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        let canvas = &self.canvas;
        let replies = &mut self.replies;
        self.acks.release(
            |ticket| canvas.is_durable(ticket),
            |result| {
                protocol::encode_server_into_bytes(&ServerMessage::PaintResult(result), replies)
            },
        );
        if !self.acks.is_empty() {
            self.schedule_write();
        }
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
        // Results already durable go out with the close; the rest are never acknowledged.
        self.release_acks();
        let pending = std::mem::take(&mut self.replies).freeze();
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

/// Frames are waiting in the session's queue.
#[derive(Message)]
#[rtype(result = "()")]
struct FramesReady;

impl<O: Outlet> Actor for Session<O> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let welcome = self.welcome(self.canvas.clock().period());
        self.send_frame(protocol::encode_server(&welcome).into(), ctx);
        let queue = Arc::clone(&self.queue);
        ctx.add_stream(futures_util::stream::unfold(queue, |queue| async move {
            queue.ready().await;
            Some((FramesReady, queue))
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
            // A client that sends but never reads stalls our writes without ever going silent.
            let stalled =
                |since: Option<Instant>| since.is_some_and(|t| t.elapsed() > WRITE_STALL_TIMEOUT);
            if stalled(session.writing) || stalled(session.pong_since) {
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
        tracing::debug!(session = self.id, "session stopped");
    }
}

impl<O: Outlet> StreamHandler<FramesReady> for Session<O> {
    fn handle(&mut self, _: FramesReady, ctx: &mut Self::Context) {
        // Woken on the write boundary: every tile's batch of the tick is queued by now.
        self.write(ctx);
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

//! The whole-board feed: for a board small enough to be viewed whole, one subscriber of every
//! tile that hands each tick's updates, concatenated once, to every session viewing the whole
//! board.
//!
//! Why it exists: a session viewing all N tiles of a board would otherwise take N pushes into its
//! queue every tick and copy N updates into its frame; S such sessions cost S x N pushes and S
//! copies of the tick's updates (r/place 2017: everyone views the whole 1000 x 1000 board).
//! Through the feed a tick costs N pushes into the feed and S pushes of one shared `Bytes`, which
//! each session sends as it is.
//!
//! Joining without a gap or a repeat: the feed keeps a copy of every tile (its mirror), advanced by
//! the same batches it forwards. A joining session gets the mirror's states, then every frame the
//! feed forwards afterwards; both happen in the feed's own actor, so nothing falls between them.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use foldhash::{HashMap, HashMapExt};
use tokio::time::Instant;

use super::clock::TickClock;
use super::frame_queue::{FrameQueue, FrameSource, QueuedFrame};
use super::tick_barrier::EndTick;
use super::tile::{SessionId, Subscribe, Subscription, Tile, Unsubscribe};
use super::tile_buffer::TileBuffer;
use super::write_schedule::WriteSchedule;
use crate::geometry::{BoardGeometry, TileCoord};
use crate::protocol::{self, ServerMessageView};

/// The feed's subscriber id at the tiles. Session ids count up from 1, so they never reach it.
const FEED_SUBSCRIBER: SessionId = SessionId::MAX;

pub struct BoardFeed {
    board: u16,
    geometry: BoardGeometry,
    /// Tile actors, row-major by `BoardGeometry::tile_index`.
    tiles: Vec<Addr<Tile>>,
    clock: TickClock,
    /// Forwards only the ticks whose number is a multiple of this (`server.whole_board_ticks`);
    /// the tiles' batches wait in the inbox until then.
    ticks_per_frame: u64,
    /// The last multiple of `ticks_per_frame` forwarded.
    last_due: u64,
    /// Woken after each forwarded tick, so members write the feed's frame at once.
    schedule: Arc<WriteSchedule>,
    /// Where the tiles queue their states and batches for the feed.
    inbox: Arc<FrameQueue>,
    /// The feed's subscription epoch at the tiles; a restart takes a new one.
    epoch: u32,
    /// A copy of every tile by tile index; `None` until the tile's state has arrived.
    mirror: Vec<Option<TileBuffer>>,
    /// Tiles whose state has not arrived yet.
    missing: usize,
    members: HashMap<SessionId, Subscription>,
    /// Sessions that joined while the mirror was incomplete; admitted once it is.
    waiting: HashMap<SessionId, Subscription>,
}

impl BoardFeed {
    /// Whether a board gets a feed: a session can view it whole, and it has more than one tile
    /// (with one tile, the tile's own subscription already is one push per session).
    pub fn wanted(geometry: &BoardGeometry, max_viewport_area: u64) -> bool {
        geometry.tile_count() > 1
            && u64::from(geometry.width()) * u64::from(geometry.height()) <= max_viewport_area
    }

    pub fn new(
        board: u16,
        geometry: BoardGeometry,
        tiles: Vec<Addr<Tile>>,
        clock: TickClock,
        schedule: Arc<WriteSchedule>,
        ticks_per_frame: u32,
    ) -> Self {
        let n = tiles.len();
        let ticks_per_frame = u64::from(ticks_per_frame.max(1));
        Self {
            board,
            geometry,
            tiles,
            clock,
            ticks_per_frame,
            last_due: 0,
            schedule,
            // Each tile queues at most one batch a tick (two in the tick of the final snapshot)
            // and its state once: room for twice the ticks held back (a late call can hold them
            // longer) and four more of every tile changing before a stalled feed restarts.
            inbox: FrameQueue::new((2 * ticks_per_frame as usize + 4) * n + 64),
            epoch: 0,
            mirror: Vec::new(),
            missing: n,
            members: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// (Re)subscribes to every tile under a new epoch; their states rebuild the mirror.
    fn subscribe_all(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.mirror = (0..self.tiles.len()).map(|_| None).collect();
        self.missing = self.tiles.len();
        for tile in &self.tiles {
            tile.do_send(Subscribe {
                session: FEED_SUBSCRIBER,
                epoch: self.epoch,
                queue: Arc::clone(&self.inbox),
            });
        }
    }

    /// Starts over from fresh tile states. Members wait for them, then get them as a resync.
    /// Only a stalled feed (its inbox overflowed) or a bug (a version gap) brings this about.
    fn restart(&mut self, reason: &str) {
        tracing::warn!(board = self.board, reason, "whole-board feed restarting");
        self.waiting.extend(self.members.drain());
        self.subscribe_all();
    }

    /// One tick: applies what the tiles queued to the mirror and forwards the updates as one
    /// shared frame, then wakes the sessions to write it. Of every `ticks_per_frame` ticks, only
    /// one forwards, with the updates of all of them; the others leave them in the inbox. The
    /// mirror advances only with what is forwarded, so a session admitted in between gets states
    /// that the held-back updates continue.
    fn tick(&mut self) {
        // Numbered by the boundary after now: the tick's end and its fallback, both within the
        // tick, agree on it.
        let (next, _) = self.clock.next_tile_tick(Instant::now());
        if let Some(due) = forward_due(next, self.ticks_per_frame, self.last_due) {
            self.last_due = due;
            self.forward_tick();
        }
        // Every enlisted session, not only members: the barrier hands the end of a tick to the
        // feeds (when there are any) so that it comes after their frames.
        self.schedule.wake_enlisted();
    }

    fn forward_tick(&mut self) {
        let mut frames = VecDeque::new();
        if self.inbox.drain_into(&mut frames) {
            return self.restart("its inbox overflowed");
        }
        // With no member the tick only advances the mirror: nothing to forward.
        let forward = !self.members.is_empty();
        let mut updates = Vec::new();
        for frame in frames {
            let FrameSource::Tile(coord) = frame.source else {
                continue;
            };
            if frame.epoch != self.epoch {
                continue;
            }
            match self.apply(coord, &frame.bytes) {
                Ok(Applied::Update) if forward => updates.push(frame.bytes),
                Ok(_) => {}
                Err(reason) => return self.restart(&reason),
            }
        }
        if let Some(shared) = concat(updates) {
            for member in self.members.values() {
                // A full queue marks the session for resync, which rejoins the feed.
                member.queue.push(self.frame(member.epoch, shared.clone()));
            }
        }
        if self.missing == 0 && !self.waiting.is_empty() {
            for (session, member) in std::mem::take(&mut self.waiting) {
                self.admit(session, member);
            }
        }
    }

    fn apply(&mut self, coord: TileCoord, bytes: &Bytes) -> Result<Applied, String> {
        let index = self.geometry.tile_index(coord);
        let undecodable = |e| format!("tile {coord} queued an undecodable frame: {e}");
        let mut messages = protocol::read_server_frame(bytes);
        let message = messages
            .next()
            .ok_or_else(|| format!("tile {coord} queued an empty frame"))?
            .map_err(undecodable)?;
        if let Some(more) = messages.next() {
            more.map_err(undecodable)?;
            return Err(format!("tile {coord} queued several messages in one frame"));
        }
        match message {
            ServerMessageView::TileState(state) => {
                if self.mirror[index].is_none() {
                    self.missing -= 1;
                }
                // The tile's own encoding of this state serves every joiner until it changes.
                self.mirror[index] = Some(TileBuffer::from_state(&state, bytes.clone()));
                Ok(Applied::State)
            }
            ServerMessageView::TileUpdate(update) => match &mut self.mirror[index] {
                Some(copy) => copy
                    .apply_update(&update)
                    .map(|()| Applied::Update)
                    .map_err(|gap| format!("tile {coord}: {gap}")),
                None => Err(format!("tile {coord} sent an update before its state")),
            },
            ServerMessageView::Other(other) => Err(format!("tile {coord} queued {other:?}")),
        }
    }

    /// Queues every tile's state for a session, then makes it a member: it gets every frame
    /// forwarded from now on, each continuing from these states.
    fn admit(&mut self, session: SessionId, member: Subscription) {
        for index in 0..self.mirror.len() {
            let state = self.mirror[index]
                .as_mut()
                .expect("admitted only once the mirror is complete")
                .encoded_state();
            member.queue.push(self.frame(member.epoch, state));
        }
        self.members.insert(session, member);
    }

    fn frame(&self, epoch: u32, bytes: Bytes) -> QueuedFrame {
        QueuedFrame {
            board: self.board,
            source: FrameSource::Feed,
            epoch,
            bytes,
        }
    }

    fn schedule_tick(&self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        // The fallback for a tick whose end the barrier did not report (see `TickBarrier`).
        let at = self.clock.next_session_write(now);
        ctx.run_later(at - now, |feed, ctx| {
            feed.tick();
            feed.schedule_tick(ctx);
        });
    }
}

enum Applied {
    State,
    Update,
}

impl Actor for BoardFeed {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.subscribe_all();
        self.schedule_tick(ctx);
    }
}

/// Every tile of the tick has flushed: forward it now rather than at the fallback boundary.
impl Handler<EndTick> for BoardFeed {
    type Result = ();

    fn handle(&mut self, _: EndTick, _: &mut Self::Context) {
        self.tick();
    }
}

/// Make a session a member of the feed (or again, under a new epoch: a resync): as with a tile,
/// it gets every tile's state, then each tick's updates.
impl Handler<Subscribe> for BoardFeed {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) {
        self.members.remove(&msg.session);
        self.waiting.remove(&msg.session);
        let member = Subscription {
            queue: msg.queue,
            epoch: msg.epoch,
        };
        if self.missing == 0 {
            self.admit(msg.session, member);
        } else {
            self.waiting.insert(msg.session, member);
        }
    }
}

impl Handler<Unsubscribe> for BoardFeed {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) {
        self.members.remove(&msg.session);
        self.waiting.remove(&msg.session);
    }
}

/// Whether the call in the tick before boundary `next` forwards, and if so the multiple of
/// `ticks_per_frame` it forwards for. Every call in a multiple's tick forwards (the second takes
/// batches that came late); a late call that sees the tick after a multiple it missed still
/// forwards, once, rather than holding the updates another `ticks_per_frame` ticks.
fn forward_due(next: u64, ticks_per_frame: u64, last_due: u64) -> Option<u64> {
    let due = next / ticks_per_frame * ticks_per_frame;
    (next.is_multiple_of(ticks_per_frame) || due > last_due).then_some(due)
}

/// One tick's updates as one frame: the lone update as it is, several copied together once.
fn concat(updates: Vec<Bytes>) -> Option<Bytes> {
    if updates.len() <= 1 {
        return updates.into_iter().next();
    }
    let mut out = BytesMut::with_capacity(updates.iter().map(Bytes::len).sum());
    for bytes in &updates {
        out.extend_from_slice(bytes);
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::forward_due;

    #[test]
    fn every_tick_forwards_at_one_tick_per_frame() {
        for next in [1, 2, 2, 3, 7] {
            assert_eq!(forward_due(next, 1, next), Some(next));
        }
    }

    #[test]
    fn multiples_forward_and_a_missed_one_forwards_once_late() {
        let n = 3;
        assert_eq!(forward_due(6, n, 3), Some(6), "a multiple forwards");
        assert_eq!(
            forward_due(6, n, 6),
            Some(6),
            "so does a second call in its tick"
        );
        assert_eq!(forward_due(7, n, 6), None, "the ticks after it hold back");
        assert_eq!(forward_due(8, n, 6), None);
        assert_eq!(
            forward_due(10, n, 6),
            Some(9),
            "9 was missed: forwarded late, once"
        );
        assert_eq!(forward_due(10, n, 9), None);
        assert_eq!(forward_due(11, n, 9), None);
        assert_eq!(forward_due(12, n, 9), Some(12));
    }
}

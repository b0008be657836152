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
    /// How many ticks' updates each forwarded frame carries, by the number of members.
    cadence: Cadence,
    /// The last tick forwarded: a multiple of the ticks per frame in force then.
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
        cadence: Cadence,
    ) -> Self {
        let n = tiles.len();
        Self {
            board,
            geometry,
            tiles,
            clock,
            last_due: 0,
            schedule,
            // Each tile queues at most one batch a tick (two in the tick of the final snapshot)
            // and its state once: room for twice the ticks held back (a late call can hold them
            // longer) and four more of every tile changing before a stalled feed restarts.
            inbox: FrameQueue::new((2 * cadence.max_ticks as usize + 4) * n + 64),
            cadence,
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
    /// shared frame, then wakes the sessions to write it. Of every N ticks (`Cadence`), only
    /// one forwards, with the updates of all of them; the others leave them in the inbox. The
    /// mirror advances only with what is forwarded, so a session admitted in between gets states
    /// that the held-back updates continue.
    fn tick(&mut self) {
        // Numbered by the boundary after now: the tick's end and its fallback, both within the
        // tick, agree on it.
        let (next, _) = self.clock.next_tile_tick(Instant::now());
        let ticks_per_frame = self.cadence.ticks_per_frame(self.members.len());
        if let Some(due) = forward_due(next, ticks_per_frame, self.last_due) {
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

/// How often the feed forwards: every tick while its members are few, every few ticks when a
/// frame a tick each would exceed the budget. The server's cost follows frames (BENCHMARKS.md:
/// on two cores, a frame costs about the same whatever it carries), so past the budget it is
/// the members' latency that gives, by up to `max_ticks - 1` ticks, not every session's.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// `server.whole_board_ticks`: the most ticks a frame carries.
    pub max_ticks: u64,
    /// `server.whole_board_frames_per_s`; 0 = no budget, always `max_ticks`.
    frames_per_s: u64,
    tick: std::time::Duration,
}

impl Cadence {
    pub fn new(max_ticks: u32, frames_per_s: u64, tick: std::time::Duration) -> Self {
        Self {
            max_ticks: u64::from(max_ticks.max(1)),
            frames_per_s,
            tick,
        }
    }

    /// Ticks per forwarded frame with `members` whole-board viewers: the fewest that keep their
    /// frames within the budget, between 1 and `max_ticks`.
    pub fn ticks_per_frame(&self, members: usize) -> u64 {
        if self.frames_per_s == 0 {
            return self.max_ticks;
        }
        // members / (N x tick) <= frames_per_s, in nanoseconds.
        let demand = members as u128 * 1_000_000_000;
        let per_tick = self.tick.as_nanos().max(1) * u128::from(self.frames_per_s);
        let needed = demand.div_ceil(per_tick);
        needed.clamp(1, u128::from(self.max_ticks)) as u64
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
    use std::time::Duration;

    use super::{Cadence, forward_due};

    #[test]
    fn the_cadence_slows_only_past_the_frame_budget_and_never_past_its_most_ticks() {
        // 50 ticks a second, 25,000 frames a second: 500 members at one frame a tick.
        let cadence = Cadence::new(3, 25_000, Duration::from_millis(20));
        for (members, ticks) in [(0, 1), (1, 1), (500, 1), (501, 2), (1_000, 2), (1_001, 3)] {
            assert_eq!(cadence.ticks_per_frame(members), ticks, "{members} members");
        }
        assert_eq!(cadence.ticks_per_frame(1_000_000), 3, "capped");
        let fixed = Cadence::new(4, 0, Duration::from_millis(20));
        assert_eq!(
            (fixed.ticks_per_frame(0), fixed.ticks_per_frame(10_000)),
            (4, 4),
            "no budget: always the most ticks"
        );
        let every_tick = Cadence::new(1, 1, Duration::from_millis(20));
        assert_eq!(every_tick.ticks_per_frame(10_000), 1);
    }

    #[test]
    fn a_changing_cadence_forwards_on_its_multiples_and_holds_none_back_past_one() {
        // 1 tick a frame until tick 10, then 2 (members joined), then 1 again from tick 15.
        let mut last_due = 0;
        let mut forwarded = Vec::new();
        for next in 1..=20 {
            let n = if (10..15).contains(&next) { 2 } else { 1 };
            if let Some(due) = forward_due(next, n, last_due) {
                last_due = due;
                forwarded.push(next);
            }
        }
        assert_eq!(
            forwarded,
            [
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15, 16, 17, 18, 19, 20
            ]
        );
    }

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

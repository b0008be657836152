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
    /// How many ticks each member's frame carries, by the number of members.
    cadence: Cadence,
    /// Forwarded batches so far: the position in `recent` up to which a member has its updates.
    forwarded: u64,
    /// The last batches forwarded, each tick's updates as one frame, numbered by `forwarded`:
    /// every batch some member has not been sent yet.
    recent: VecDeque<(u64, Bytes)>,
    /// Members admitted so far; each member's number spreads the members over the ticks.
    admitted: u64,
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
    members: HashMap<SessionId, Member>,
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
            forwarded: 0,
            recent: VecDeque::new(),
            admitted: 0,
            schedule,
            // Each tile queues at most one batch a tick (two in the tick of the final snapshot)
            // and its state once, and every call drains it: room for two ticks (a late call) and
            // four more of every tile changing before a stalled feed restarts.
            inbox: FrameQueue::new(6 * n + 64),
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
        let members = self.members.drain().map(|(id, m)| (id, m.subscription));
        self.waiting.extend(members);
        self.recent.clear();
        self.subscribe_all();
    }

    /// One tick: applies what the tiles queued to the mirror, keeps the tick's updates as one
    /// shared frame, and queues for each member whose turn it is everything it has not had yet
    /// (`Cadence`, `member_due`), then wakes the sessions to write it. Members take turns: with
    /// N ticks a frame, a member gets a frame every N ticks, and each tick a different N-th of
    /// the members gets one, so the writes (a system call per member) are spread over the ticks
    /// instead of falling in one burst every N ticks.
    fn tick(&mut self) {
        // Numbered by the boundary after now: the tick's end and its fallback, both within the
        // tick, agree on it.
        let (next, _) = self.clock.next_tile_tick(Instant::now());
        self.forward_tick(next);
        // Every enlisted session, not only members: the barrier hands the end of a tick to the
        // feeds (when there are any) so that it comes after their frames.
        self.schedule.wake_enlisted();
    }

    fn forward_tick(&mut self, tick: u64) {
        let mut frames = VecDeque::new();
        if self.inbox.drain_into(&mut frames) {
            return self.restart("its inbox overflowed");
        }
        let mut updates = Vec::new();
        for frame in frames {
            let FrameSource::Tile(coord) = frame.source else {
                continue;
            };
            if frame.epoch != self.epoch {
                continue;
            }
            match self.apply(coord, &frame.bytes) {
                Ok(Applied::Update) => updates.push(frame.bytes),
                Ok(Applied::State) => {}
                Err(reason) => return self.restart(&reason),
            }
        }
        // With no member the tick only advances the mirror: nothing to keep.
        if self.members.is_empty() {
            updates.clear();
        }
        if let Some(batch) = concat(updates) {
            self.forwarded += 1;
            self.recent.push_back((self.forwarded, batch));
        }
        self.send_due(tick);
        if self.missing == 0 && !self.waiting.is_empty() {
            for (session, member) in std::mem::take(&mut self.waiting) {
                self.admit(session, member, tick);
            }
        }
    }

    /// Queues each due member's updates since its last frame, one shared frame per distinct
    /// starting point (members of one turn share it), and forgets the batches every member has.
    fn send_due(&mut self, tick: u64) {
        let ticks_per_frame = self.cadence.ticks_per_frame(self.members.len());
        let mut made: Vec<(u64, Bytes)> = Vec::new();
        let mut oldest_needed = self.forwarded;
        for member in self.members.values_mut() {
            if member.sent < self.forwarded
                && member_due(tick, ticks_per_frame, member.number, member.last_tick)
            {
                let shared = match made.iter().find(|(from, _)| *from == member.sent) {
                    Some((_, bytes)) => bytes.clone(),
                    None => {
                        let since = self.recent.iter().filter(|(n, _)| *n > member.sent);
                        let bytes = concat(since.map(|(_, b)| b.clone()).collect())
                            .expect("a member behind `forwarded` has a batch to get");
                        made.push((member.sent, bytes.clone()));
                        bytes
                    }
                };
                // A full queue marks the session for resync, which rejoins the feed.
                let epoch = member.subscription.epoch;
                member
                    .subscription
                    .queue
                    .push(feed_frame(self.board, epoch, shared));
                member.sent = self.forwarded;
                member.last_tick = tick;
            }
            oldest_needed = oldest_needed.min(member.sent);
        }
        while self
            .recent
            .front()
            .is_some_and(|(n, _)| *n <= oldest_needed)
        {
            self.recent.pop_front();
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

    /// Queues every tile's state for a session, then makes it a member: it gets every batch
    /// forwarded from now on, each continuing from these states.
    fn admit(&mut self, session: SessionId, subscription: Subscription, tick: u64) {
        for index in 0..self.mirror.len() {
            let state = self.mirror[index]
                .as_mut()
                .expect("admitted only once the mirror is complete")
                .encoded_state();
            subscription
                .queue
                .push(feed_frame(self.board, subscription.epoch, state));
        }
        self.admitted += 1;
        let member = Member {
            subscription,
            number: self.admitted,
            sent: self.forwarded,
            last_tick: tick,
        };
        self.members.insert(session, member);
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

/// A session viewing the whole board.
struct Member {
    subscription: Subscription,
    /// Its place in the order of admission: its turn is `number` modulo the ticks per frame.
    number: u64,
    /// The forwarded batches it has been sent: all up to this one (`BoardFeed::forwarded`).
    sent: u64,
    /// The tick of its last frame (or of its admission).
    last_tick: u64,
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
            let (tick, _) = self.clock.next_tile_tick(Instant::now());
            self.admit(msg.session, member, tick);
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

fn feed_frame(board: u16, epoch: u32, bytes: Bytes) -> QueuedFrame {
    QueuedFrame {
        board,
        source: FrameSource::Feed,
        epoch,
        bytes,
    }
}

/// Whether a member numbered `number`, last sent a frame in `last_tick`, gets one in `tick` at
/// `ticks_per_frame`: on its turn (every call in that tick, the second taking batches that came
/// late), or when it has waited that many ticks since its last (after a missed turn, or when the
/// cadence changed its turn), so that no member waits longer than the cadence allows.
fn member_due(tick: u64, ticks_per_frame: u64, number: u64, last_tick: u64) -> bool {
    tick % ticks_per_frame == number % ticks_per_frame
        || tick.saturating_sub(last_tick) >= ticks_per_frame
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

    use super::{Cadence, member_due};

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

    /// Runs `member_due` for members 1..=`members` over ticks 1..=20, the cadence by tick, and
    /// returns the ticks each member got a frame in.
    fn turns(members: u64, cadence: impl Fn(u64) -> u64) -> Vec<Vec<u64>> {
        let mut last = vec![0; members as usize];
        let mut got = vec![Vec::new(); members as usize];
        for tick in 1..=20 {
            for (i, last_tick) in last.iter_mut().enumerate() {
                if member_due(tick, cadence(tick), i as u64 + 1, *last_tick) {
                    *last_tick = tick;
                    got[i].push(tick);
                }
            }
        }
        got
    }

    #[test]
    fn at_one_tick_a_frame_every_member_gets_every_tick() {
        for got in turns(3, |_| 1) {
            assert_eq!(got, (1..=20).collect::<Vec<_>>());
        }
    }

    #[test]
    fn members_take_turns_so_each_tick_serves_an_even_share() {
        let got = turns(6, |_| 3);
        for (i, ticks) in got.iter().enumerate() {
            let turn = (i as u64 + 1) % 3;
            let expected: Vec<u64> = (1..=20).filter(|t| t % 3 == turn).collect();
            assert_eq!(ticks, &expected, "member {}", i + 1);
        }
        for tick in 1..=20 {
            let served = got.iter().filter(|t| t.contains(&tick)).count();
            assert_eq!(served, 2, "tick {tick}: a third of six members");
        }
    }

    #[test]
    fn a_changing_cadence_never_holds_a_member_longer_than_it_allows() {
        // Every tick until tick 6, three ticks a frame until tick 14, then two.
        let cadence = |tick: u64| match tick {
            ..6 => 1,
            6..14 => 3,
            _ => 2,
        };
        for (i, ticks) in turns(5, cadence).iter().enumerate() {
            let mut last = 0;
            for &tick in ticks {
                // A wait that began under a slower cadence may end under a faster one.
                let allowed = (last + 1..=tick).map(cadence).max().unwrap();
                assert!(tick - last <= allowed, "member {}: {ticks:?}", i + 1);
                last = tick;
            }
            assert!(20 - last < cadence(20), "member {}: {ticks:?}", i + 1);
        }
    }

    #[test]
    fn a_missed_turn_is_served_at_the_next_call_and_a_second_call_in_a_turn_too() {
        // Member 1 at two ticks a frame: its turns are the odd ticks.
        assert!(member_due(3, 2, 1, 1), "its turn");
        assert!(
            member_due(3, 2, 1, 3),
            "a second call in its turn (late batches)"
        );
        assert!(
            !member_due(4, 2, 1, 3),
            "not its turn, not waited long enough"
        );
        assert!(
            member_due(6, 2, 1, 3),
            "turn 5 was missed: served at the next call"
        );
    }
}

//! One viewer session: connects, sets its viewport (and pans it), and accounts for every paint it
//! receives: identified by the plan, checked for duplicates, classified as expected or
//! transitional, and timed.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use tessera::geometry::Rect;
use tokio::sync::{mpsc, watch};

use crate::accounting::{Delivery, SeenSet, StableIntervals, classify};
use crate::codec::{self, Codec};
use crate::context::RunContext;
use crate::frame_memo::Memo;
use crate::identify::{Identified, Item, Sent};
use crate::latency::{self, Histograms};
use crate::rng::{self, Rng};
use crate::tile_table::TileTable;
use crate::timeline::Timeline;
use crate::transport::{Incoming, Link};

/// Most frames handled per clock read. Every latency of a burst is measured at the clock read
/// after it, so it is overstated by at most the time to decode the burst (well under a
/// millisecond for 64 frames) and never understated.
const BURST_MAX: usize = 64;
/// The close code for a connection that ended without a close frame (RFC 6455, 1006).
pub const ABNORMAL_CLOSURE: u16 = 1006;

/// How far a viewer got, reported once per step to the run.
#[derive(Debug)]
pub enum Readiness {
    /// Connected and greeted.
    Connected,
    /// Stably subscribed to every tile of its first viewport.
    Ready,
    /// Could not connect.
    ConnectFailed(String),
    /// Connected, then the connection ended before it was ready.
    Lost,
}

/// One viewer's counters: added to under its own lock once per burst, summed by the run.
#[derive(Debug, Default, Clone)]
pub struct ViewerCounts {
    /// Measured paints received while stably subscribed: expected deliveries that arrived.
    pub received: u64,
    /// Measured paints received outside a stable subscription.
    pub transitional: u64,
    /// Warm-up paints received (any subscription).
    pub warmup: u64,
    pub duplicates: u64,
    /// Updates that no sent paint of this run explains.
    pub unknown: u64,
    pub bad_frames: u64,
    /// Updates that did not continue from the tile version held.
    pub version_gaps: u64,
    /// Tile states for a tile already held: the server resynchronised this viewer.
    pub resyncs: u64,
    pub server_errors: u64,
    /// Inside the measured window: first receipts of any paint, frames and payload bytes.
    pub window_deliveries: u64,
    pub window_frames: u64,
    pub window_bytes: u64,
    pub moves: u64,
    /// Close code when the connection ended before the run did.
    pub disconnect: Option<u16>,
}

impl ViewerCounts {
    /// Adds every counter of `other` (not `disconnect`, which is not a count).
    pub fn add(&mut self, other: &ViewerCounts) {
        self.received += other.received;
        self.transitional += other.transitional;
        self.warmup += other.warmup;
        self.duplicates += other.duplicates;
        self.unknown += other.unknown;
        self.bad_frames += other.bad_frames;
        self.version_gaps += other.version_gaps;
        self.resyncs += other.resyncs;
        self.server_errors += other.server_errors;
        self.window_deliveries += other.window_deliveries;
        self.window_frames += other.window_frames;
        self.window_bytes += other.window_bytes;
        self.moves += other.moves;
    }
}

/// Everything a viewer task starts with.
pub struct ViewerTask {
    pub ctx: Arc<RunContext>,
    pub index: usize,
    pub counts: Arc<parking_lot::Mutex<ViewerCounts>>,
    pub readiness: mpsc::UnboundedSender<Readiness>,
    pub timeline: watch::Receiver<Option<Timeline>>,
}

/// Connects and then reads until the connection ends or the run aborts the task.
pub async fn run(task: ViewerTask) {
    let ViewerTask {
        ctx,
        index,
        counts,
        readiness,
        mut timeline,
    } = task;
    let link = match ctx.transport.open(ctx.codec).await {
        Ok((link, _welcome)) => link,
        Err(e) => {
            let _ = readiness.send(Readiness::ConnectFailed(e));
            return;
        }
    };
    let _ = readiness.send(Readiness::Connected);
    let mut rng = Rng::derive(ctx.seed, rng::stream::VIEWERS + index as u64);
    let first = ctx.scenario.initial_viewport(index, &mut rng);
    let tile_count = ctx.board.geometry.tile_count();
    let held = match ctx.codec {
        Codec::Tessera => ctx.tiles_of(first).len(),
        Codec::Raw => tile_count,
    };
    let mut viewer = Viewer {
        seen: SeenSet::new(ctx.total, ctx.dup_check),
        pan: ctx.pan.map(|_| Pan {
            rng,
            next_move: 0,
            planned: None,
            started: false,
        }),
        keepalive_at: link
            .keepalive_interval()
            .map(|i| ctx.clock.now_ns() + i.as_nanos() as u64),
        ctx,
        link,
        counts,
        readiness: Some(readiness),
        tiles: TileTable::new(tile_count, held),
        pending: Vec::new(),
        viewport: None,
        unready: 0,
        timeline: None,
        frames: Vec::with_capacity(BURST_MAX),
        scratch: Identified::default(),
    };
    if viewer.start(first).await {
        viewer.read(&mut timeline).await;
    }
}

/// A tile the viewer holds or held.
///
/// Every tile update a viewer receives reads and writes its tile's record, at random among the
/// viewer's tiles, and with a thousand whole-board viewers the records outgrow the caches: that
/// load was a quarter of the generator's time (BENCHMARKS.md, overview capacity). One record
/// fits one cache line, aligned so it never straddles two (56 bytes used).
#[derive(Debug, Default)]
#[repr(align(64))]
struct TileView {
    /// Version of the copy held: `None` before the tile's first `TileState`; for a tile that
    /// left the viewport, the version it had, followed by the updates still in flight.
    version: Option<u64>,
    phase: Phase,
    stable: StableIntervals,
}

const _: () = assert!(
    std::mem::size_of::<TileView>() == 64,
    "one cache line a record"
);

impl TileView {
    /// Follows a `TileUpdate` from `base` to `version`; true if it is a gap: it does not continue
    /// the version held, on a tile in view (or coming into view).
    fn follow_update(&mut self, base: u64, version: u64) -> bool {
        if self.version == Some(base) {
            self.version = Some(version);
            false
        } else if self.phase == Phase::Gone {
            // A tile left behind by a move still gets the updates that were in flight. Those
            // continue its version and are followed above, in case the tile comes back into
            // view before they are all in; anything else for it is not checked.
            false
        } else {
            self.version = Some(version);
            true
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Requested; stably subscribed once its `TileState` is in and `stable_from` has passed.
    Awaiting {
        stable_from: u64,
    },
    /// `TileState` in; stably subscribed at `at` (the guard after a move).
    Pending {
        at: u64,
    },
    Stable,
    /// Leaving with the next move: no longer counted, updates still arrive.
    Leaving,
    /// Not in the viewport.
    #[default]
    Gone,
}

/// A panning viewer's schedule. Each move at `next_move` is prepared `guard` earlier: the tiles
/// it will drop stop being stable then, so paints still on their way to them are not expected.
struct Pan {
    rng: Rng,
    next_move: u64,
    /// The next viewport and when it is sent, once the tiles it drops were marked as leaving.
    planned: Option<(Rect, u64)>,
    started: bool,
}

/// Something the viewer does at a time of its own.
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// Entry `i` of `pending` becomes stable.
    Stabilize(usize),
    PrepareMove,
    Move(Rect),
    Keepalive,
}

struct Viewer {
    ctx: Arc<RunContext>,
    link: Link,
    counts: Arc<parking_lot::Mutex<ViewerCounts>>,
    /// Until the first viewport is stable.
    readiness: Option<mpsc::UnboundedSender<Readiness>>,
    tiles: TileTable<TileView>,
    /// `(at, tile)` for tiles in `Phase::Pending { at }`.
    pending: Vec<(u64, u32)>,
    seen: SeenSet,
    viewport: Option<Rect>,
    /// Tiles of the first viewport not yet stable.
    unready: usize,
    timeline: Option<Timeline>,
    pan: Option<Pan>,
    keepalive_at: Option<u64>,
    /// Reused buffers: the frames of one burst, the identification of a frame nobody else
    /// receives.
    frames: Vec<Bytes>,
    scratch: Identified,
}

impl Viewer {
    /// Subscribes to the first viewport. False if the connection is gone.
    async fn start(&mut self, first: Rect) -> bool {
        match self.ctx.codec {
            Codec::Tessera => {
                let tiles = self.ctx.tiles_of(first);
                self.unready = tiles.len();
                self.set_viewport(first, 0).await
            }
            Codec::Raw => {
                // Every client of the raw server receives every paint from its first moment.
                let tiles = self.ctx.all_tiles();
                self.unready = tiles.len();
                for tile in tiles {
                    self.join(tile);
                }
                true
            }
        }
    }

    async fn read(&mut self, timeline: &mut watch::Receiver<Option<Timeline>>) {
        loop {
            let clock = self.ctx.clock;
            let deadline = self.next_timer().map(|(at, _)| at);
            let timer = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(clock.at(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                incoming = self.link.recv() => {
                    if !self.on_burst(incoming) {
                        return;
                    }
                }
                () = timer => {}
                changed = timeline.changed(), if self.timeline.is_none() => {
                    if changed.is_err() {
                        return;
                    }
                    let t = *timeline.borrow();
                    self.on_timeline(t);
                }
            }
            // Also after a burst: a viewer busy reading must still move on schedule.
            if !self.run_timers().await {
                self.on_close(None);
                return;
            }
        }
    }

    fn on_timeline(&mut self, timeline: Option<Timeline>) {
        self.timeline = timeline;
        let (Some(t), Some(pan), Some(timing)) = (timeline, self.pan.as_mut(), self.ctx.pan) else {
            return;
        };
        // Each viewer moves with its own phase, so moves are spread over the interval.
        pan.next_move = t.start + pan.rng.below(timing.interval);
        pan.started = true;
    }

    /// The earliest thing to do, and when.
    fn next_timer(&self) -> Option<(u64, Timer)> {
        let mut best: Option<(u64, Timer)> = None;
        let mut consider = |at: u64, timer: Timer| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, timer));
            }
        };
        for (i, &(at, _)) in self.pending.iter().enumerate() {
            consider(at, Timer::Stabilize(i));
        }
        // Panning starts once the viewer is ready and painting is scheduled, and stops with it.
        if let (Some(pan), Some(t), Some(timing), None) =
            (&self.pan, &self.timeline, self.ctx.pan, &self.readiness)
            && pan.started
            && pan.next_move < t.window_end
        {
            match pan.planned {
                None => consider(
                    pan.next_move.saturating_sub(timing.guard),
                    Timer::PrepareMove,
                ),
                Some((next, at)) => consider(at, Timer::Move(next)),
            }
        }
        if let Some(at) = self.keepalive_at {
            consider(at, Timer::Keepalive);
        }
        best
    }

    /// Does everything that is due, in time order. False if the connection is gone.
    async fn run_timers(&mut self) -> bool {
        while let Some((at, timer)) = self.next_timer() {
            if at > self.ctx.clock.now_ns() {
                break;
            }
            let ok = match timer {
                Timer::Stabilize(i) => {
                    let (at, tile) = self.pending.swap_remove(i);
                    if self.tiles.get(tile).map(|v| v.phase) == Some(Phase::Pending { at }) {
                        self.join(tile);
                    }
                    true
                }
                Timer::PrepareMove => {
                    self.prepare_move();
                    true
                }
                Timer::Move(next) => self.make_move(next).await,
                Timer::Keepalive => {
                    let interval = self.link.keepalive_interval().unwrap_or_default();
                    self.keepalive_at = Some(at + interval.as_nanos() as u64);
                    self.link.keepalive().await.is_ok()
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// `guard` before a move: draws the next viewport and stops counting the tiles it drops.
    fn prepare_move(&mut self) {
        let now = self.ctx.clock.now_ns();
        let (Some(pan), Some(current), Some(timing)) =
            (self.pan.as_mut(), self.viewport, self.ctx.pan)
        else {
            return;
        };
        let Some(next) = self.ctx.scenario.pan_move(current, &mut pan.rng) else {
            // A viewport that cannot move (it fills the board) skips this move.
            pan.next_move += timing.interval;
            return;
        };
        // A viewer running late still leaves a full guard between the two: updates for the
        // tiles it drops, counted until now, must reach it before the server unsubscribes it.
        pan.planned = Some((next, pan.next_move.max(now + timing.guard)));
        let keep: HashSet<u32> = self.ctx.tiles_of(next).into_iter().collect();
        for tile in self.ctx.tiles_of(current) {
            if !keep.contains(&tile) {
                self.leave(tile, Phase::Leaving);
            }
        }
    }

    async fn make_move(&mut self, next: Rect) -> bool {
        let Some(timing) = self.ctx.pan else {
            return true;
        };
        let Some(pan) = self.pan.as_mut() else {
            return true;
        };
        let Some((_, at)) = pan.planned.take() else {
            return true;
        };
        pan.next_move += timing.interval;
        self.counts.lock().moves += 1;
        self.set_viewport(next, at + timing.guard).await
    }

    /// Sends a `SetViewport`; tiles it adds become stable after their `TileState` and not before
    /// `stable_from`. False if the connection is gone.
    async fn set_viewport(&mut self, rect: Rect, stable_from: u64) -> bool {
        let old: HashSet<u32> = self
            .viewport
            .map(|v| self.ctx.tiles_of(v).into_iter().collect())
            .unwrap_or_default();
        let new = self.ctx.tiles_of(rect);
        let new_set: HashSet<u32> = new.iter().copied().collect();
        // A tile that leaves keeps its version, and one that comes back keeps it until its
        // `TileState`: under load, updates sent before the tile left can still be arriving
        // seconds later, after it is back in view, and they continue that version. Resetting it
        // counted each of them as a version gap (up to 324,051 a run in the overloaded `pan`
        // rows of the scenario matrix, BENCHMARKS.md), where the server had sent none. What
        // this cannot see, a returning tile that never gets its new state, the server's tests
        // check (`a_tile_that_comes_back_into_view_gets_its_state_again_even_if_unpainted`).
        for &tile in old.difference(&new_set) {
            self.leave(tile, Phase::Gone);
        }
        for tile in new {
            if !old.contains(&tile)
                && let Some(view) = self.tiles.get_or_default(tile)
            {
                view.phase = Phase::Awaiting { stable_from };
            }
        }
        self.viewport = Some(rect);
        let frame = codec::tessera::encode_viewport(self.ctx.board.index, rect);
        self.link.send(frame).await.is_ok() && self.link.flush().await.is_ok()
    }

    fn join(&mut self, tile: u32) {
        let Some(view) = self.tiles.get_or_default(tile) else {
            return;
        };
        view.stable.open(self.ctx.counts.join(tile as usize));
        view.phase = Phase::Stable;
        if self.readiness.is_some() {
            self.unready = self.unready.saturating_sub(1);
            if self.unready == 0 {
                self.report(Readiness::Ready);
            }
        }
    }

    /// Stops being stably subscribed to `tile` (if it was) and moves it to `phase`.
    fn leave(&mut self, tile: u32, phase: Phase) {
        let Some(view) = self.tiles.get_mut(tile) else {
            return;
        };
        if view.phase == Phase::Stable {
            view.stable.close(self.ctx.counts.leave(tile as usize));
        }
        view.phase = phase;
    }

    /// Sends `readiness` to the run; the last report (`Ready`, `Lost`) ends reporting.
    fn report(&mut self, readiness: Readiness) {
        if let Some(tx) = self.readiness.take() {
            let _ = tx.send(readiness);
        }
    }

    fn on_close(&mut self, code: Option<u16>) {
        for tile in self.tiles.tiles() {
            self.leave(tile, Phase::Gone);
        }
        self.counts.lock().disconnect = Some(code.unwrap_or(ABNORMAL_CLOSURE));
        self.report(Readiness::Lost);
    }

    /// Reads `first` and whatever else is already readable, then accounts for all of it with
    /// one clock read. False if the connection ended.
    fn on_burst(&mut self, first: Incoming) -> bool {
        let mut tally = ViewerCounts::default();
        let mut frames = std::mem::take(&mut self.frames);
        let (bad, closed) = self.link.drain_burst(first, &mut frames, BURST_MAX);
        tally.bad_frames += bad;
        let now = self.ctx.clock.now_ns();
        latency::record(|histograms| {
            let mut burst = Burst {
                now,
                in_window: self.timeline.is_some_and(|t| t.in_window(now)),
                tally: &mut tally,
                histograms,
            };
            for frame in &frames {
                self.on_frame(frame, &mut burst);
            }
        });
        // Released now, while the frames and their buffer's reference count are in the cache:
        // at the next burst, a frame later, they no longer were, and the release was a tenth
        // of this loop's samples (BENCHMARKS.md, "the reader's short changes").
        frames.clear();
        self.frames = frames;
        self.counts.lock().add(&tally);
        if let Some(code) = closed {
            self.on_close(code);
            return false;
        }
        true
    }

    fn on_frame(&mut self, frame: &[u8], burst: &mut Burst) {
        if burst.in_window {
            burst.tally.window_frames += 1;
            burst.tally.window_bytes += frame.len() as u64;
        }
        // Kept frames, longest first, for as long as the message goes on with one. A message
        // that starts with none is identified here and kept for the others; the rest of one
        // that went on with none, and every message of a run without a memo, is this viewer's
        // alone.
        let mut at = 0;
        while at < frame.len() {
            let rest = &frame[at..];
            let Some(found) = self.shared_identification(rest, at == 0) else {
                return self.identify_alone(rest, burst);
            };
            self.apply(&found.identified, burst);
            at += found.covers();
        }
    }

    /// The memo's identification of the longest kept frame `bytes` starts with; failing that,
    /// when `bytes` is a whole message (`first`), its identification, made here and kept.
    /// `None` when the run has no memo.
    fn shared_identification(&self, bytes: &[u8], first: bool) -> Option<Arc<Memo>> {
        let memo = self.ctx.memo.as_ref()?;
        memo.longest_prefix(bytes).or_else(|| {
            first.then(|| {
                let mut identified = Identified::default();
                identified.read(&self.ctx, bytes);
                memo.insert(bytes, identified)
            })
        })
    }

    /// Identifies `bytes` without the memo, and applies them.
    fn identify_alone(&mut self, bytes: &[u8], burst: &mut Burst) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.read(&self.ctx, bytes);
        self.apply(&scratch, burst);
        self.scratch = scratch;
    }

    /// Applies an identified frame to this viewer: its tile versions, its duplicates, whether it
    /// was counted for each paint, and the latencies.
    fn apply(&mut self, identified: &Identified, burst: &mut Burst) {
        let items = &identified.items;
        for (i, item) in items.iter().enumerate() {
            self.prefetch_record(items.get(i + PREFETCH_AHEAD));
            match item {
                Item::Tile {
                    tile,
                    versions,
                    paints,
                } => {
                    let stable = match tile.and_then(|t| self.tiles.get_mut(t)) {
                        Some(view) => {
                            if let Some((base, version)) = *versions
                                && view.follow_update(base, version)
                            {
                                burst.tally.version_gaps += 1;
                            }
                            Some(&view.stable)
                        }
                        None => None,
                    };
                    for paint in &identified.paints[paints.clone()] {
                        match *paint {
                            Some(sent) => account(&self.ctx, &mut self.seen, stable, sent, burst),
                            None => burst.tally.unknown += 1,
                        }
                    }
                }
                Item::State { tile, version } => self.on_state(*tile, *version, burst),
                Item::ServerError => burst.tally.server_errors += 1,
                Item::Bad => burst.tally.bad_frames += 1,
            }
        }
    }

    /// Asks for the cache line of the record of the tile `item` is about, ahead of its turn.
    /// Each of those loads misses the caches once a thousand viewers hold 256 records each, and
    /// taken one per update, between the long accounting of its pixels, they were half of the
    /// generator's time at 8,000 paints/s (BENCHMARKS.md, overview capacity). Issued a few
    /// items ahead, the miss overlaps the accounting of the items before it.
    fn prefetch_record(&self, item: Option<&Item>) {
        if let Some(Item::Tile {
            tile: Some(tile), ..
        }) = item
            && let Some(view) = self.tiles.get(*tile)
        {
            prefetch(view);
        }
    }

    fn on_state(&mut self, tile: u32, version: u64, burst: &mut Burst) {
        let Some(view) = self.tiles.get_mut(tile) else {
            return;
        };
        view.version = Some(version);
        match view.phase {
            Phase::Awaiting { stable_from } if burst.now >= stable_from => self.join(tile),
            Phase::Awaiting { stable_from } => {
                view.phase = Phase::Pending { at: stable_from };
                self.pending.push((stable_from, tile));
            }
            // A second state for a tile held all along: the server resynchronised this viewer
            // (it fell behind), and the updates in between may be lost.
            Phase::Stable => burst.tally.resyncs += 1,
            Phase::Pending { .. } | Phase::Leaving | Phase::Gone => {}
        }
    }
}

/// How many updates ahead a record is prefetched: enough for a miss to complete while the
/// updates before it are accounted for, few enough to stay within the processor's outstanding
/// misses.
const PREFETCH_AHEAD: usize = 8;

/// Asks the processor to bring `value`'s cache line in, without waiting for it.
fn prefetch<T>(value: &T) {
    // SAFETY: SSE is part of the x86_64 baseline, and a prefetch reads nothing: any address,
    // here a live reference, is fine.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The clock read and counters of one burst of frames.
struct Burst<'a> {
    now: u64,
    in_window: bool,
    tally: &'a mut ViewerCounts,
    histograms: &'a mut Histograms,
}

/// Accounts for one paint received in a tile whose stable intervals are `stable`.
fn account(
    ctx: &RunContext,
    seen: &mut SeenSet,
    stable: Option<&StableIntervals>,
    sent: Sent,
    burst: &mut Burst,
) {
    let delivery = classify(seen, stable, sent.seq, sent.generation);
    if delivery != Delivery::Duplicate && burst.in_window {
        burst.tally.window_deliveries += 1;
    }
    match delivery {
        Delivery::Duplicate => burst.tally.duplicates += 1,
        _ if !ctx.is_measured(sent.seq) => burst.tally.warmup += 1,
        Delivery::Stable => {
            burst.tally.received += 1;
            burst
                .histograms
                .delivery
                .saturating_record(burst.now.saturating_sub(sent.sent_ns) / 1_000);
        }
        Delivery::Transitional => burst.tally.transitional += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, TileView};

    fn view(version: Option<u64>, phase: Phase) -> TileView {
        TileView {
            version,
            phase,
            ..TileView::default()
        }
    }

    #[test]
    fn updates_that_continue_the_version_follow_it_and_others_are_gaps() {
        let mut tile = view(Some(5), Phase::Stable);
        assert!(!tile.follow_update(5, 7));
        assert_eq!(tile.version, Some(7));
        assert!(tile.follow_update(9, 10), "8 and 9 went missing");
        assert_eq!(tile.version, Some(10), "followed from there");
    }

    #[test]
    fn an_update_before_a_tiles_first_state_is_a_gap() {
        let mut tile = view(None, Phase::Awaiting { stable_from: 0 });
        assert!(tile.follow_update(3, 4));
    }

    #[test]
    fn updates_in_flight_when_a_tile_left_and_came_back_are_not_gaps() {
        // Left at version 5 (it keeps the version); 5 -> 6 and 6 -> 7 were still in flight.
        let mut tile = view(Some(5), Phase::Gone);
        assert!(!tile.follow_update(5, 6));
        // Back in view, its new state not in yet: the last of them arrives.
        tile.phase = Phase::Awaiting { stable_from: 0 };
        assert!(!tile.follow_update(6, 7));
        assert_eq!(tile.version, Some(7));
        // A gap between them would still count.
        assert!(tile.follow_update(9, 10));
    }

    #[test]
    fn what_a_gone_tile_gets_beyond_its_version_is_not_checked() {
        let mut tile = view(Some(5), Phase::Gone);
        assert!(!tile.follow_update(8, 9));
        assert_eq!(tile.version, Some(5), "not followed either");
    }
}

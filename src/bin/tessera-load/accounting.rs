//! Delivery accounting: how many viewers should receive each paint, and whether a receipt counts.
//!
//! A viewer is *stably subscribed* to a tile while the server is sure to send it every update of
//! that tile (from its `TileState` on, minus the guard times around viewport moves). Each tile
//! keeps one atomic word holding the number of stably subscribed viewers and a *generation*
//! bumped by every join and leave. A painter reads that word once per paint: the count is added to
//! the expected deliveries, the generation is logged with the send time. A viewer remembers the
//! generations at which it joined and left each tile, so on receipt it knows exactly whether the
//! painter counted it (`joined <= generation < left`): no clock comparison, so no race at the
//! boundaries, and nothing is stored per paint and viewer.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A tile's join/leave counter; see the module doc.
pub type Generation = u32;

/// The generation lives in the high half of a tile's word, the viewer count in the low half.
const GENERATION_UNIT: u64 = 1 << 32;
/// End of an interval that is still open.
const OPEN: Generation = Generation::MAX;

/// Per tile: stably subscribed viewers and the generation of the last change.
pub struct TileCounts {
    words: Vec<AtomicU64>,
}

impl TileCounts {
    pub fn new(tiles: usize) -> Self {
        Self {
            words: (0..tiles).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// A viewer becomes stably subscribed to `tile`; returns the generation of that change.
    pub fn join(&self, tile: usize) -> Generation {
        let before = self.words[tile].fetch_add(GENERATION_UNIT + 1, Ordering::AcqRel);
        generation(before).wrapping_add(1)
    }

    /// A viewer that joined `tile` stops being stably subscribed to it. The count is at least one
    /// (this viewer), so subtracting one never borrows from the generation.
    pub fn leave(&self, tile: usize) -> Generation {
        let before = self.words[tile].fetch_add(GENERATION_UNIT - 1, Ordering::AcqRel);
        debug_assert!(before as u32 > 0, "leave without join");
        generation(before).wrapping_add(1)
    }

    /// The generation and the number of stably subscribed viewers, read at once.
    pub fn snapshot(&self, tile: usize) -> (Generation, u32) {
        let word = self.words[tile].load(Ordering::Acquire);
        (generation(word), word as u32)
    }
}

fn generation(word: u64) -> Generation {
    (word >> 32) as Generation
}

/// When each paint was sent and the generation of its tile at that moment, indexed by `seq`:
/// flat arrays of atomics, so painters store and viewers load without locks or hashing.
pub struct SendLog {
    /// Send time in nanoseconds since the run's origin, plus one; 0 = not sent.
    sent: Vec<AtomicU64>,
    generation: Vec<AtomicU32>,
}

impl SendLog {
    /// Room for paints `0..paints`. The run schedules exactly that many, so the log never grows.
    pub fn new(paints: u64) -> Self {
        Self {
            sent: (0..paints).map(|_| AtomicU64::new(0)).collect(),
            generation: (0..paints).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Called before the paint goes out, so a viewer that receives it always finds it here.
    pub fn record(&self, seq: u64, sent_ns: u64, generation: Generation) {
        let i = seq as usize;
        self.generation[i].store(generation, Ordering::Relaxed);
        // Release: a viewer that sees the send time also sees the generation stored before it.
        self.sent[i].store(sent_ns + 1, Ordering::Release);
    }

    /// The send time and tile generation of `seq`, if it was sent.
    pub fn get(&self, seq: u64) -> Option<(u64, Generation)> {
        let i = usize::try_from(seq).ok()?;
        let sent = self.sent.get(i)?.load(Ordering::Acquire);
        (sent != 0).then(|| (sent - 1, self.generation[i].load(Ordering::Relaxed)))
    }
}

/// The generations during which one viewer was stably subscribed to one tile, as `[join, leave)`
/// intervals. Static viewports have one; a panning viewer gets one per visit.
#[derive(Debug, Default, Clone)]
pub struct StableIntervals {
    /// The current (or last) visit, kept inline: it is checked for almost every delivery, and a
    /// pointer to a separate allocation would cost a cache miss each time.
    latest: Option<(Generation, Generation)>,
    /// Earlier visits, which only panning viewers have: boxed, so the record stays 8 bytes
    /// here instead of a `Vec`'s 24 (see `TileView` in viewer.rs).
    #[expect(
        clippy::box_collection,
        reason = "the extra allocation is rare (panning viewers only) and keeps this field 8 bytes"
    )]
    earlier: Option<Box<Vec<(Generation, Generation)>>>,
}

impl StableIntervals {
    pub fn open(&mut self, joined: Generation) {
        debug_assert!(!self.is_open());
        if let Some(previous) = self.latest.replace((joined, OPEN)) {
            self.earlier.get_or_insert_default().push(previous);
        }
    }

    pub fn close(&mut self, left: Generation) {
        if let Some(latest) = &mut self.latest {
            latest.1 = left;
        }
    }

    pub fn is_open(&self) -> bool {
        self.latest.is_some_and(|s| s.1 == OPEN)
    }

    /// Whether a painter that read `generation` counted this viewer.
    pub fn covers(&self, generation: Generation) -> bool {
        let inside =
            |&(joined, left): &(Generation, Generation)| joined <= generation && generation < left;
        // Latest first: deliveries mostly belong to the current visit.
        self.latest.as_ref().is_some_and(inside)
            || self
                .earlier
                .as_ref()
                .is_some_and(|earlier| earlier.iter().rev().any(inside))
    }
}

/// Which paints one viewer has received: one bit per paint, to count duplicates.
pub struct SeenSet {
    /// Empty when disabled: every paint then counts as a first receipt.
    words: Vec<u64>,
}

impl SeenSet {
    pub fn new(paints: u64, enabled: bool) -> Self {
        let words = if enabled {
            paints.div_ceil(64) as usize
        } else {
            0
        };
        Self {
            words: vec![0; words],
        }
    }

    /// Marks `seq` as received; false if it already was. Always true when disabled.
    pub fn first_time(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        let Some(w) = self.words.get_mut(word) else {
            return true;
        };
        let first = *w & bit == 0;
        *w |= bit;
        first
    }
}

/// What one received paint counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Already received by this viewer.
    Duplicate,
    /// The painter counted this viewer: an expected delivery.
    Stable,
    /// Received while joining or leaving the tile: not expected, not missing.
    Transitional,
}

/// Classifies the receipt of `seq`, sent when its tile was at `generation`, by a viewer whose
/// stable intervals for that tile are `stable` (`None`: never stably subscribed to it).
pub fn classify(
    seen: &mut SeenSet,
    stable: Option<&StableIntervals>,
    seq: u64,
    generation: Generation,
) -> Delivery {
    if !seen.first_time(seq) {
        Delivery::Duplicate
    } else if stable.is_some_and(|s| s.covers(generation)) {
        Delivery::Stable
    } else {
        Delivery::Transitional
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera::geometry::{BoardGeometry, Rect, Viewport};

    fn tiles_of(g: &BoardGeometry, x: u32, y: u32, width: u32, height: u32) -> Vec<usize> {
        let rect = Rect {
            x,
            y,
            width,
            height,
        };
        let v = Viewport::new(g, rect, u64::MAX).unwrap();
        g.tiles_in(&v).map(|t| g.tile_index(t)).collect()
    }

    /// A 128x128 board of 64-pixel tiles, numbered 0 1 / 2 3. Viewer A sees the top row, B the
    /// right column, C everything. Paints: 2 on tile 0 (A, C), 3 on tile 1 (A, B, C), 1 on
    /// tile 2 (C), 1 on tile 3 (B, C): 2*2 + 3*3 + 1*1 + 1*2 = 16 expected deliveries. Then B
    /// leaves tile 3 and one more paint lands there: C alone, 17.
    #[test]
    fn expected_deliveries_add_the_stable_viewers_of_each_painted_tile() {
        let g = BoardGeometry::new(128, 128, 64).unwrap();
        let counts = TileCounts::new(g.tile_count());
        let a = tiles_of(&g, 0, 0, 128, 10);
        let b = tiles_of(&g, 100, 0, 20, 128);
        let c = tiles_of(&g, 0, 0, 128, 128);
        assert_eq!((a.clone(), b.clone()), (vec![0, 1], vec![1, 3]));
        let mut b_tile3 = StableIntervals::default();
        for tile in a.iter().chain(&c) {
            counts.join(*tile);
        }
        for tile in &b {
            let joined = counts.join(*tile);
            if *tile == 3 {
                b_tile3.open(joined);
            }
        }
        let paints_per_tile = [2u64, 3, 1, 1];
        let mut expected = 0u64;
        for (tile, paints) in paints_per_tile.iter().enumerate() {
            expected += paints * u64::from(counts.snapshot(tile).1);
        }
        assert_eq!(expected, 16);
        let (before_leave, _) = counts.snapshot(3);
        b_tile3.close(counts.leave(3));
        let (after_leave, viewers) = counts.snapshot(3);
        expected += u64::from(viewers);
        assert_eq!(expected, 17);
        assert!(
            b_tile3.covers(before_leave),
            "sent before B left: B was counted"
        );
        assert!(
            !b_tile3.covers(after_leave),
            "sent after B left: B was not counted"
        );
    }

    #[test]
    fn a_receipt_is_stable_only_inside_a_join_leave_interval() {
        let counts = TileCounts::new(1);
        let mut seen = SeenSet::new(100, true);
        let mut mine = StableIntervals::default();
        let early = counts.snapshot(0).0;
        mine.open(counts.join(0));
        let during = counts.snapshot(0).0;
        mine.close(counts.leave(0));
        let after = counts.snapshot(0).0;
        mine.open(counts.join(0));
        let again = counts.snapshot(0).0;
        assert_eq!(
            classify(&mut seen, Some(&mine), 1, early),
            Delivery::Transitional
        );
        assert_eq!(
            classify(&mut seen, Some(&mine), 2, during),
            Delivery::Stable
        );
        assert_eq!(
            classify(&mut seen, Some(&mine), 3, after),
            Delivery::Transitional
        );
        assert_eq!(classify(&mut seen, Some(&mine), 4, again), Delivery::Stable);
        assert_eq!(
            classify(&mut seen, Some(&mine), 2, during),
            Delivery::Duplicate
        );
        assert_eq!(classify(&mut seen, None, 5, during), Delivery::Transitional);
    }

    #[test]
    fn other_viewers_joining_do_not_disturb_an_interval() {
        let counts = TileCounts::new(1);
        let mut mine = StableIntervals::default();
        mine.open(counts.join(0));
        counts.join(0);
        let g = counts.leave(0);
        assert_eq!(counts.snapshot(0), (g, 1));
        assert!(mine.covers(g));
    }

    #[test]
    fn send_log_reports_only_sent_paints() {
        let log = SendLog::new(4);
        log.record(2, 1_000, 7);
        assert_eq!(log.get(2), Some((1_000, 7)));
        assert_eq!(log.get(1), None);
        assert_eq!(log.get(4), None);
    }

    #[test]
    fn a_disabled_seen_set_never_reports_duplicates() {
        let mut off = SeenSet::new(10, false);
        assert!(off.first_time(3) && off.first_time(3));
        let mut on = SeenSet::new(10, true);
        assert!(on.first_time(9) && !on.first_time(9));
    }
}

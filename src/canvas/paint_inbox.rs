//! A tile's paint inbox: paints queued from any thread, taken by the tile once per tick.
//!
//! Paints used to travel as one actor message each, and every message to a tile whose arbiter
//! was parked woke that thread (an `eventfd` write and a context switch per paint: at 64,000
//! paints/s a tenth of the server's CPU). Through the inbox only the first paint of a tick
//! enlists the tile with its arbiter's tick (`ArbiterTick::enlist`); the rest wait under a lock
//! the tile takes once per tick.

use parking_lot::Mutex;

/// Paints one tile accepts per tick before further ones are refused as `Unavailable`: 4,096 a
/// tick is 200,000 paints/s crowding a single tile at the default 20 ms tick, above the whole
/// server's target intake, so paints are refused only when the tile really cannot keep up.
pub const INBOX_CAPACITY: usize = 4096;

/// Above this many paints, the buffer a tile hands back is shrunk after a tick, so a burst does
/// not leave every tile that saw it holding its peak allocation.
const RETAINED_CAPACITY: usize = 256;

/// One queued paint: `(offset inside the tile, palette index)`, as `TileBuffer::paint` takes it.
pub type QueuedPaint = (u32, u8);

#[derive(Debug)]
pub struct PaintInbox {
    paints: Mutex<Vec<QueuedPaint>>,
    capacity: usize,
}

impl Default for PaintInbox {
    fn default() -> Self {
        Self::with_capacity(INBOX_CAPACITY)
    }
}

impl PaintInbox {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            paints: Mutex::new(Vec::new()),
            capacity,
        }
    }

    /// Queues a paint behind every paint queued before it. The first paint since the tile last
    /// took its inbox calls `wake` first (which enlists the tile for the next flush), under the
    /// lock, so the tile cannot take the inbox between the wake and the push and then sleep
    /// through the paint. `false`, and nothing
    /// queued, when the inbox is full or `wake` fails (the arbiter's ticker is gone).
    pub fn push(&self, paint: QueuedPaint, wake: impl FnOnce() -> bool) -> bool {
        let mut paints = self.paints.lock();
        if paints.len() >= self.capacity || (paints.is_empty() && !wake()) {
            return false;
        }
        paints.push(paint);
        true
    }

    /// Moves every queued paint, in order, into `into` (which must be empty) and leaves `into`'s
    /// old allocation in the inbox, so two buffers serve a tile tick after tick.
    pub fn take(&self, into: &mut Vec<QueuedPaint>) {
        debug_assert!(into.is_empty());
        if into.capacity() > RETAINED_CAPACITY {
            into.shrink_to(RETAINED_CAPACITY);
        }
        std::mem::swap(&mut *self.paints.lock(), into);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.paints.lock().len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn only_the_first_paint_since_a_take_wakes_the_tile() {
        let inbox = PaintInbox::default();
        let wakes = Cell::new(0);
        let wake = || {
            wakes.set(wakes.get() + 1);
            true
        };
        assert!(inbox.push((1, 1), wake));
        assert!(inbox.push((2, 2), wake));
        assert!(inbox.push((3, 3), wake));
        assert_eq!(wakes.get(), 1);

        let mut taken = Vec::new();
        inbox.take(&mut taken);
        assert_eq!(taken, [(1, 1), (2, 2), (3, 3)], "arrival order");
        assert!(inbox.is_empty());

        assert!(inbox.push((4, 4), wake));
        assert_eq!(wakes.get(), 2, "the next tick's first paint wakes again");
    }

    #[test]
    fn a_failed_wake_queues_nothing_and_the_next_paint_tries_again() {
        let inbox = PaintInbox::default();
        assert!(!inbox.push((1, 1), || false));
        assert!(inbox.is_empty());
        let woke = Cell::new(false);
        assert!(inbox.push((2, 2), || {
            woke.set(true);
            true
        }));
        assert!(woke.get());
        assert_eq!(inbox.len(), 1);
    }

    #[test]
    fn a_full_inbox_refuses_until_the_tile_takes_it() {
        let inbox = PaintInbox::with_capacity(2);
        assert!(inbox.push((1, 1), || true));
        assert!(inbox.push((2, 2), || true));
        assert!(!inbox.push((3, 3), || true));
        let mut taken = Vec::new();
        inbox.take(&mut taken);
        assert_eq!(taken, [(1, 1), (2, 2)], "the refused paint was not queued");
        assert!(inbox.push((3, 3), || true));
    }

    #[test]
    fn take_hands_back_the_tiles_buffer_and_shrinks_a_large_one() {
        let inbox = PaintInbox::default();
        let mut spare: Vec<QueuedPaint> = Vec::with_capacity(32);
        let spare_ptr = spare.as_ptr();
        assert!(inbox.push((1, 1), || true));
        let mut taken = std::mem::take(&mut spare);
        inbox.take(&mut taken);
        assert_eq!(taken, [(1, 1)]);
        assert_eq!(
            inbox.paints.lock().as_ptr(),
            spare_ptr,
            "the tile's empty buffer now collects the next tick"
        );

        let mut big: Vec<QueuedPaint> = Vec::with_capacity(RETAINED_CAPACITY * 8);
        inbox.take(&mut big);
        assert!(inbox.paints.lock().capacity() <= RETAINED_CAPACITY * 2);
    }
}

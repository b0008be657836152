//! Identifications of the frames most recently received, shared by the viewers of a run that
//! receive the same bytes.
//!
//! Every whole-board viewer gets the same frame each tick: tessera's whole-board feed shares one
//! buffer between them, and limit-server encodes its broadcast once. Identifying a frame
//! (decoding it, finding each pixel's paint in the plan, looking up its send) is then the same
//! work for each of a thousand viewers, and it was most of the generator's time per delivery
//! (BENCHMARKS.md, "frames identified once"). A viewer that finds its frame here, compared byte
//! for byte, applies the shared identification to its own state instead; one that does not
//! identifies the frame itself and leaves it here for the others.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::identify::Identified;

/// Distinct frames kept: one a tick, so a viewer a few ticks behind the others still finds its
/// frames; a viewer whose frames nobody else gets (its ticks merged while it lagged) only
/// pushes the oldest out early.
const KEPT: usize = 16;

/// A frame and its identification.
pub struct Memo {
    frame: Bytes,
    pub identified: Identified,
}

#[derive(Default)]
pub struct FrameMemo {
    /// Newest first.
    recent: Mutex<VecDeque<Arc<Memo>>>,
}

impl FrameMemo {
    /// The identification of a frame of exactly these bytes, if one is kept.
    pub fn get(&self, frame: &[u8]) -> Option<Arc<Memo>> {
        self.recent
            .lock()
            .iter()
            .find(|memo| memo.frame[..] == *frame)
            .cloned()
    }

    /// Keeps `identified` as the identification of `frame` (copied: the received buffer it
    /// lies in may be much larger), dropping the oldest beyond `KEPT`.
    pub fn insert(&self, frame: &[u8], identified: Identified) -> Arc<Memo> {
        let memo = Arc::new(Memo {
            frame: Bytes::copy_from_slice(frame),
            identified,
        });
        let mut recent = self.recent.lock();
        recent.push_front(Arc::clone(&memo));
        recent.truncate(KEPT);
        memo
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identify::Item;

    fn identified(tile: u32) -> Identified {
        Identified {
            items: vec![Item::State { tile, version: 1 }],
            paints: Vec::new(),
        }
    }

    #[test]
    fn a_frame_is_found_only_by_its_exact_bytes() {
        let memo = FrameMemo::default();
        memo.insert(b"abc", identified(1));
        memo.insert(b"abd", identified(2));
        assert_eq!(memo.get(b"abc").unwrap().identified, identified(1));
        assert_eq!(memo.get(b"abd").unwrap().identified, identified(2));
        assert!(memo.get(b"ab").is_none(), "a prefix is another frame");
        assert!(memo.get(b"abcd").is_none());
    }

    #[test]
    fn only_the_most_recent_frames_are_kept() {
        let memo = FrameMemo::default();
        for i in 0..=KEPT as u32 {
            memo.insert(&i.to_le_bytes(), identified(i));
        }
        assert!(memo.get(&0u32.to_le_bytes()).is_none(), "the oldest went");
        for i in 1..=KEPT as u32 {
            assert_eq!(
                memo.get(&i.to_le_bytes()).unwrap().identified,
                identified(i)
            );
        }
    }
}

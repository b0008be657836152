//! Identifications of the frames most recently received, shared by the viewers of a run that
//! receive the same bytes.
//!
//! Every whole-board viewer gets the same frame each tick: tessera's whole-board feed shares one
//! buffer between them, and limit-server encodes its broadcast once. Identifying a frame
//! (decoding it, finding each pixel's paint in the plan, looking up its send) is then the same
//! work for each of a thousand viewers: sharing it took a quarter off the generator's CPU at
//! 1,000 viewers and 8,000 paints/s (BENCHMARKS.md, "frames identified once"). A viewer that finds its frame here, compared byte
//! for byte, applies the shared identification to its own state instead; one that does not
//! identifies the frame itself and leaves it here for the others.
//!
//! A viewer that fell behind may get several ticks in one message (tessera merges a lagging
//! session's frames; limit-server's are separate messages). Such a message starts with the
//! bytes of a kept frame, and since a kept frame is whole messages, what follows it starts at a
//! message too: the viewer applies the longest kept frame it starts with and looks up the rest
//! the same way. Without that, an overloaded generator identified every merged message alone,
//! which can only put it further behind (BENCHMARKS.md, same section).

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

impl Memo {
    /// How many bytes of a message this identification covers.
    pub fn covers(&self) -> usize {
        self.frame.len()
    }
}

#[derive(Default)]
pub struct FrameMemo {
    /// Newest first.
    recent: Mutex<VecDeque<Arc<Memo>>>,
}

impl FrameMemo {
    /// The longest kept frame that `bytes` starts with (all of it, when it is one frame).
    pub fn longest_prefix(&self, bytes: &[u8]) -> Option<Arc<Memo>> {
        self.recent
            .lock()
            .iter()
            .filter(|memo| bytes.starts_with(&memo.frame))
            .max_by_key(|memo| memo.frame.len())
            .cloned()
    }

    /// Keeps `identified` as the identification of `frame` (copied: the received buffer it
    /// lies in may be much larger), dropping the oldest beyond `KEPT`. Only a non-empty frame of
    /// whole messages is kept, so that a kept frame always ends where a message does (and a
    /// lookup always moves on); others are only wrapped.
    pub fn insert(&self, frame: &[u8], identified: Identified) -> Arc<Memo> {
        let keep = !frame.is_empty() && identified.is_whole();
        let memo = Arc::new(Memo {
            frame: Bytes::copy_from_slice(frame),
            identified,
        });
        if keep {
            let mut recent = self.recent.lock();
            recent.push_front(Arc::clone(&memo));
            recent.truncate(KEPT);
        }
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
    fn a_message_is_found_by_the_longest_kept_frame_it_starts_with() {
        let memo = FrameMemo::default();
        memo.insert(b"abc", identified(1));
        memo.insert(b"abcde", identified(2));
        memo.insert(b"xyz", identified(3));
        let found = |bytes: &[u8]| memo.longest_prefix(bytes).map(|m| m.identified.clone());
        assert_eq!(found(b"abc"), Some(identified(1)));
        assert_eq!(found(b"abcdexyz"), Some(identified(2)), "the longest");
        assert_eq!(found(b"abcd"), Some(identified(1)));
        assert_eq!(found(b"ab"), None, "a frame longer than the message");
        assert_eq!(found(b"zabc"), None, "only at the start");
    }

    #[test]
    fn empty_frames_and_frames_with_bad_bytes_are_not_kept() {
        let memo = FrameMemo::default();
        let bad = Identified {
            items: vec![Item::Bad],
            paints: Vec::new(),
        };
        assert_eq!(memo.insert(b"abc", bad.clone()).identified, bad);
        memo.insert(b"", identified(1));
        assert!(memo.longest_prefix(b"abc").is_none());
        assert!(memo.longest_prefix(b"").is_none());
    }

    #[test]
    fn only_the_most_recent_frames_are_kept() {
        let memo = FrameMemo::default();
        for i in 0..=KEPT as u32 {
            memo.insert(&i.to_le_bytes(), identified(i));
        }
        let found = |i: u32| memo.longest_prefix(&i.to_le_bytes());
        assert!(found(0).is_none(), "the oldest went");
        for i in 1..=KEPT as u32 {
            assert_eq!(found(i).unwrap().identified, identified(i));
        }
    }
}

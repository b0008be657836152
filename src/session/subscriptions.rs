//! What a session is subscribed to, shared by its actor (which changes it) and its frame writer
//! (which sends only the queued frames of current subscriptions).

use std::num::NonZeroU32;

use super::tile_epochs::TileEpochs;
use crate::canvas::frame_queue::{FrameSource, QueuedFrame};
use crate::geometry::{TileCoord, TileSpan};

#[derive(Debug)]
pub struct Subscriptions {
    /// The board the viewport is on.
    board: Option<u16>,
    /// The epoch of each subscribed tile, when the viewport covers part of the board.
    tiles: TileEpochs,
    /// The epoch of the membership in the board's whole-board feed, when the viewport covers
    /// every tile of a board that has one (then `tiles` is empty).
    feed: Option<u32>,
    next_epoch: NonZeroU32,
    /// The writer lost frames (the queue overflowed): nothing queued is current until the actor
    /// has subscribed everything again under new epochs, so no update is sent after a gap.
    stale: bool,
    /// Counts changes, so that the writer filters what it holds again only after one.
    generation: u64,
}

impl Default for Subscriptions {
    fn default() -> Self {
        Self {
            board: None,
            tiles: TileEpochs::default(),
            feed: None,
            next_epoch: NonZeroU32::MIN,
            stale: false,
            generation: 0,
        }
    }
}

impl Subscriptions {
    /// Whether a queued frame belongs to a subscription the session still holds; frames of
    /// dropped or replaced subscriptions are skipped.
    pub fn is_current(&self, frame: &QueuedFrame) -> bool {
        !self.stale
            && Some(frame.board) == self.board
            && match frame.source {
                FrameSource::Tile(tile) => {
                    self.tiles.get(tile).map(NonZeroU32::get) == Some(frame.epoch)
                }
                FrameSource::Feed => self.feed == Some(frame.epoch),
            }
    }

    /// Changes whenever `is_current` may answer differently for a frame.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn changed(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    pub fn board(&self) -> Option<u16> {
        self.board
    }

    /// Moves to another board (or to none); the caller has unsubscribed from the old one.
    pub fn set_board(&mut self, board: Option<u16>) {
        debug_assert!(self.tiles.is_empty() && self.feed.is_none());
        self.board = board;
        self.changed();
    }

    pub fn feed(&self) -> Option<u32> {
        self.feed
    }

    pub fn tiles(&self) -> &TileEpochs {
        &self.tiles
    }

    /// Makes room for subscribing a viewport's tiles at once.
    pub fn cover_tiles(&mut self, span: TileSpan) {
        self.tiles.cover(span);
    }

    /// A new epoch for `tile`, replacing its old subscription if any.
    pub fn subscribe_tile(&mut self, tile: TileCoord) -> u32 {
        let epoch = self.take_epoch();
        self.tiles.insert(tile, epoch);
        self.changed();
        epoch.get()
    }

    /// Drops the tiles `keep` refuses; returns them.
    pub fn retain_tiles(&mut self, keep: impl FnMut(TileCoord) -> bool) -> Vec<TileCoord> {
        self.changed();
        self.tiles.retain(keep)
    }

    /// Drops every tile subscription; returns the tiles.
    pub fn clear_tiles(&mut self) -> Vec<TileCoord> {
        self.changed();
        self.tiles.clear()
    }

    /// A new epoch for the feed membership, replacing the old one if any.
    pub fn join_feed(&mut self) -> u32 {
        let epoch = self.take_epoch().get();
        self.feed = Some(epoch);
        self.changed();
        epoch
    }

    /// Returns whether the session was in the feed.
    pub fn leave_feed(&mut self) -> bool {
        self.changed();
        self.feed.take().is_some()
    }

    /// Epochs count up from 1 and wrap around to 1, never 0: `TileEpochs` has no room for it.
    fn take_epoch(&mut self) -> NonZeroU32 {
        let epoch = self.next_epoch;
        self.next_epoch = epoch.checked_add(1).unwrap_or(NonZeroU32::MIN);
        epoch
    }

    /// Every frame queued so far is void, until `resubscribed`.
    pub fn mark_stale(&mut self) {
        self.stale = true;
        self.changed();
    }

    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Every subscription has a new epoch: frames of those are current again.
    pub fn resubscribed(&mut self) {
        self.stale = false;
        self.changed();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn frame(source: FrameSource, epoch: u32) -> QueuedFrame {
        QueuedFrame {
            board: 0,
            source,
            epoch,
            bytes: Bytes::new(),
        }
    }

    #[test]
    fn only_frames_of_the_current_epoch_and_board_are_current() {
        let mut subs = Subscriptions::default();
        let tile = TileCoord { tx: 1, ty: 2 };
        let old = subs.subscribe_tile(tile);
        assert!(
            !subs.is_current(&frame(FrameSource::Tile(tile), old)),
            "no board yet"
        );
        subs.clear_tiles();
        subs.set_board(Some(0));
        let old = subs.subscribe_tile(tile);
        assert!(subs.is_current(&frame(FrameSource::Tile(tile), old)));
        let new = subs.subscribe_tile(tile);
        assert!(!subs.is_current(&frame(FrameSource::Tile(tile), old)));
        assert!(subs.is_current(&frame(FrameSource::Tile(tile), new)));
        let mut other = frame(FrameSource::Tile(tile), new);
        other.board = 1;
        assert!(!subs.is_current(&other), "another board");
        assert!(
            !subs.is_current(&frame(FrameSource::Feed, new)),
            "not in the feed"
        );
        assert_eq!(subs.clear_tiles(), vec![tile]);
        assert!(!subs.is_current(&frame(FrameSource::Tile(tile), new)));
        let feed = subs.join_feed();
        assert!(subs.is_current(&frame(FrameSource::Feed, feed)));
    }

    #[test]
    fn every_change_that_can_make_a_frame_stale_changes_the_generation() {
        let mut subs = Subscriptions::default();
        let tile = TileCoord { tx: 0, ty: 0 };
        let mut last = subs.generation();
        let mut changed = |subs: &Subscriptions, what: &str| {
            assert_ne!(subs.generation(), last, "{what}");
            last = subs.generation();
        };
        subs.set_board(Some(0));
        changed(&subs, "set_board");
        subs.subscribe_tile(tile);
        changed(&subs, "subscribe_tile");
        subs.retain_tiles(|_| false);
        changed(&subs, "retain_tiles");
        subs.subscribe_tile(tile);
        changed(&subs, "subscribe_tile");
        subs.clear_tiles();
        changed(&subs, "clear_tiles");
        subs.join_feed();
        changed(&subs, "join_feed");
        subs.leave_feed();
        changed(&subs, "leave_feed");
        subs.mark_stale();
        changed(&subs, "mark_stale");
        subs.resubscribed();
        changed(&subs, "resubscribed");
    }

    #[test]
    fn a_stale_session_has_no_current_frames_until_resubscribed() {
        let mut subs = Subscriptions::default();
        subs.set_board(Some(0));
        let epoch = subs.join_feed();
        subs.mark_stale();
        assert!(!subs.is_current(&frame(FrameSource::Feed, epoch)));
        let epoch = subs.join_feed();
        subs.resubscribed();
        assert!(subs.is_current(&frame(FrameSource::Feed, epoch)));
    }
}

//! One tile's pixels and version, and the batching of a tick's paints into one encoded update.
//!
//! Pure data, no actor: the tile actor wraps it, and the criterion bench drives it directly.

use bytes::Bytes;

use crate::geometry::{Rect, TileCoord};
use crate::protocol::{
    self, PixelChange, ServerMessage, TileState, TileStateView, TileUpdate, TileUpdateView,
};

/// An update that does not continue from the copy's version: the copy missed something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("update from version {update_base} does not continue the copy at version {copy}")]
pub struct VersionGap {
    pub copy: u64,
    pub update_base: u64,
}

/// The pixels of one tile plus the paints accepted since the last flush.
///
/// Paints are queued, not applied, until [`TileBuffer::flush`]: the pixels a new subscriber or an
/// HTTP reader sees are always exactly the state at `version`, and the next update continues from
/// that version. That is what makes subscription gap-free and duplicate-free without any
/// coordination with the session.
#[derive(Debug)]
pub struct TileBuffer {
    board: u16,
    coord: TileCoord,
    width: u16,
    height: u16,
    pixels: Vec<u8>,
    /// Paints applied to `pixels` so far, over the tile's whole life (restored from snapshots).
    version: u64,
    /// `(offset, colour)` in arrival order, not yet applied.
    pending: Vec<(u32, u8)>,
    /// Encoded `TileState` for `version`, built on first demand and shared by every reader.
    state_cache: Option<Bytes>,
    /// The box `[x0, x1) x [y0, y1)` of the pixels flushed since [`Self::take_changed`], for
    /// the overview: on a large board most tiles change a pixel or two between its refreshes,
    /// and downsampling only those is a thousand times less work than the whole tile.
    changed: Option<ChangedBox>,
}

#[derive(Debug, Clone, Copy)]
struct ChangedBox {
    x0: u16,
    y0: u16,
    x1: u16,
    y1: u16,
}

/// Part of a tile's pixels: `area` (tile-local) and its pixels, row-major.
#[derive(Debug, Clone)]
pub struct TileArea {
    pub area: Rect,
    pub pixels: Bytes,
}

/// The outcome of one flush: the encoded `TileUpdate`, shared by every subscriber.
#[derive(Debug, Clone)]
pub struct Batch {
    pub base_version: u64,
    pub version: u64,
    pub bytes: Bytes,
}

impl TileBuffer {
    /// A tile of `rect`'s size. `pixels` must hold `rect.width * rect.height` bytes.
    pub fn new(board: u16, coord: TileCoord, rect: Rect, pixels: Vec<u8>, version: u64) -> Self {
        assert_eq!(
            pixels.len(),
            rect.area() as usize,
            "tile pixels must cover the tile exactly"
        );
        Self {
            board,
            coord,
            // Tile edges are at most MAX_TILE_SIZE = 1024.
            width: rect.width as u16,
            height: rect.height as u16,
            pixels,
            version,
            pending: Vec::new(),
            state_cache: None,
            changed: None,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Version including the paints not yet flushed.
    pub fn pending_version(&self) -> u64 {
        self.version + self.pending.len() as u64
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixels and version as they will be after the next flush: the queued paints applied
    /// to a copy, in arrival order. For snapshots, which must hold every paint the tile has
    /// received without changing what its subscribers get when.
    pub fn pending_pixels(&self) -> (Vec<u8>, u64) {
        let mut pixels = self.pixels.clone();
        for &(offset, color) in &self.pending {
            pixels[offset as usize] = color;
        }
        (pixels, self.pending_version())
    }

    /// Queues one paint. `offset` comes from `BoardGeometry::locate` and `color` from the palette,
    /// both validated by the caller's types.
    pub fn paint(&mut self, offset: u32, color: u8) {
        debug_assert!((offset as usize) < self.pixels.len());
        self.pending.push((offset, color));
    }

    /// Queues every paint of `paints`, in order, after those already queued, and leaves
    /// `paints` empty. Moves the `Vec` when nothing is queued yet, so a tick's paints are not
    /// copied one by one.
    pub fn paint_all(&mut self, paints: &mut Vec<(u32, u8)>) {
        debug_assert!(
            paints
                .iter()
                .all(|&(o, _)| (o as usize) < self.pixels.len())
        );
        if self.pending.is_empty() {
            std::mem::swap(&mut self.pending, paints);
        } else {
            self.pending.append(paints);
        }
    }

    /// Applies the queued paints, coalescing repeated writes to one pixel (last write wins), and
    /// encodes one `TileUpdate` for all subscribers. `None` when nothing was queued.
    pub fn flush(&mut self) -> Option<Batch> {
        if self.pending.is_empty() {
            return None;
        }
        let base_version = self.version;
        let paints = self.pending.len() as u64;
        // A stable sort keeps arrival order among writes to one pixel, so the last of each run
        // is the last write.
        self.pending.sort_by_key(|&(offset, _)| offset);
        let mut changes = Vec::with_capacity(self.pending.len());
        let width = u32::from(self.width);
        let mut changed = self.changed.unwrap_or(ChangedBox {
            x0: self.width,
            y0: self.height,
            x1: 0,
            y1: 0,
        });
        for (i, &(offset, color)) in self.pending.iter().enumerate() {
            if self.pending.get(i + 1).is_some_and(|next| next.0 == offset) {
                continue;
            }
            self.pixels[offset as usize] = color;
            let (dx, dy) = ((offset % width) as u16, (offset / width) as u16);
            changed.x0 = changed.x0.min(dx);
            changed.x1 = changed.x1.max(dx + 1);
            changed.y0 = changed.y0.min(dy);
            changed.y1 = changed.y1.max(dy + 1);
            changes.push(PixelChange { dx, dy, color });
        }
        self.changed = Some(changed);
        self.pending.clear();
        self.version += paints;
        self.state_cache = None;
        let message = ServerMessage::TileUpdate(TileUpdate {
            board: self.board,
            tx: self.coord.tx,
            ty: self.coord.ty,
            base_version,
            version: self.version,
            changes,
        });
        Some(Batch {
            base_version,
            version: self.version,
            bytes: protocol::encode_server(&message).into(),
        })
    }

    /// Takes the part of the tile flushed since the last call (or [`Self::mark_all_changed`]):
    /// the smallest box around those pixels whose edges are even, or the tile's where it is odd
    /// (the board's edge), so it holds whole 2 x 2 blocks. `None` if nothing was flushed since.
    pub fn take_changed(&mut self) -> Option<TileArea> {
        let b = self.changed.take()?;
        let (x0, y0) = (b.x0 & !1, b.y0 & !1);
        let x1 = b.x1.next_multiple_of(2).min(self.width);
        let y1 = b.y1.next_multiple_of(2).min(self.height);
        let width = usize::from(self.width);
        let mut pixels = Vec::with_capacity(usize::from(x1 - x0) * usize::from(y1 - y0));
        for y in usize::from(y0)..usize::from(y1) {
            let row = y * width;
            pixels.extend_from_slice(&self.pixels[row + usize::from(x0)..row + usize::from(x1)]);
        }
        Some(TileArea {
            area: Rect {
                x: u32::from(x0),
                y: u32::from(y0),
                width: u32::from(x1 - x0),
                height: u32::from(y1 - y0),
            },
            pixels: pixels.into(),
        })
    }

    /// Counts the whole tile as changed: the next [`Self::take_changed`] hands over all of it
    /// (for a reader that lost what it took).
    pub fn mark_all_changed(&mut self) {
        self.changed = Some(ChangedBox {
            x0: 0,
            y0: 0,
            x1: self.width,
            y1: self.height,
        });
    }

    /// A copy of a tile built from its `TileState` (and that message's `encoded` bytes, reused
    /// as the copy's state until an update changes it), for a reader that follows the tile
    /// through its updates ([`Self::apply_update`]) instead of owning it: the whole-board feed.
    pub fn from_state(state: &TileStateView<'_>, encoded: Bytes) -> Self {
        let rect = Rect {
            x: 0,
            y: 0,
            width: u32::from(state.width),
            height: u32::from(state.height),
        };
        let coord = TileCoord {
            tx: state.tx,
            ty: state.ty,
        };
        let mut copy = Self::new(
            state.board,
            coord,
            rect,
            state.pixels.to_vec(),
            state.version,
        );
        copy.state_cache = Some(encoded);
        copy
    }

    /// Applies one of the tile's own updates to this copy.
    pub fn apply_update(&mut self, update: &TileUpdateView<'_>) -> Result<(), VersionGap> {
        if update.base_version != self.version {
            return Err(VersionGap {
                copy: self.version,
                update_base: update.base_version,
            });
        }
        let width = usize::from(self.width);
        for change in update.changes.clone() {
            let offset = usize::from(change.dy) * width + usize::from(change.dx);
            if let Some(pixel) = self.pixels.get_mut(offset) {
                *pixel = change.color;
            }
        }
        self.version = update.version;
        self.state_cache = None;
        Ok(())
    }

    /// The encoded `TileState` at the current version.
    pub fn encoded_state(&mut self) -> Bytes {
        if let Some(bytes) = &self.state_cache {
            return bytes.clone();
        }
        let message = ServerMessage::TileState(TileState {
            board: self.board,
            tx: self.coord.tx,
            ty: self.coord.ty,
            version: self.version,
            width: self.width,
            height: self.height,
            pixels: self.pixels.clone(),
        });
        let bytes: Bytes = protocol::encode_server(&message).into();
        self.state_cache = Some(bytes.clone());
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ServerMessageView, decode_server_frame, read_server_frame};

    fn buffer() -> TileBuffer {
        let rect = Rect {
            x: 0,
            y: 0,
            width: 4,
            height: 2,
        };
        TileBuffer::new(0, TileCoord { tx: 0, ty: 0 }, rect, vec![31; 8], 10)
    }

    /// Pixel 5 painted 3 then 7, pixel 1 painted 4, nothing flushed.
    fn buffer_with_three_paints() -> TileBuffer {
        let mut t = buffer();
        t.paint(5, 3);
        t.paint(1, 4);
        t.paint(5, 7);
        t
    }

    #[test]
    fn paint_all_queues_behind_earlier_paints_in_order_and_empties_its_argument() {
        let mut t = buffer();
        let mut paints = vec![(5, 3), (1, 4)];
        t.paint_all(&mut paints);
        assert!(paints.is_empty());
        t.paint(6, 2);
        let mut more = vec![(5, 7), (6, 1)];
        t.paint_all(&mut more);
        assert!(more.is_empty());
        assert_eq!(t.pending_version(), 15);
        t.flush().expect("a batch");
        assert_eq!(t.pixels(), [31, 4, 31, 31, 31, 7, 1, 31], "last write wins");
    }

    #[test]
    fn the_changed_area_is_the_even_box_around_flushed_pixels_until_taken() {
        // 5 x 3, so the right and bottom edges are odd.
        let rect = Rect {
            x: 0,
            y: 0,
            width: 5,
            height: 3,
        };
        let pixels: Vec<u8> = (0..15).collect();
        let mut t = TileBuffer::new(0, TileCoord { tx: 0, ty: 0 }, rect, pixels, 0);
        assert!(t.take_changed().is_none(), "nothing flushed yet");
        t.paint(7, 99); // (2, 1)
        assert!(t.take_changed().is_none(), "queued paints are not flushed");
        t.flush();
        let a = t.take_changed().expect("one pixel flushed");
        let area = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        assert_eq!(a.area, area(2, 0, 2, 2), "even box around (2, 1)");
        assert_eq!(&a.pixels[..], [2, 3, 99, 8]);
        assert!(t.take_changed().is_none(), "taken");

        // Two flushes add up; boxes reach the odd edges.
        t.paint(14, 50); // (4, 2)
        t.flush();
        t.paint(5, 51); // (0, 1)
        t.flush();
        let a = t.take_changed().expect("two flushes");
        assert_eq!(a.area, area(0, 0, 5, 3));
        assert_eq!(
            &a.pixels[..],
            [0, 1, 2, 3, 4, 51, 6, 99, 8, 9, 10, 11, 12, 13, 50]
        );

        t.mark_all_changed();
        assert_eq!(t.take_changed().expect("all").area, area(0, 0, 5, 3));
        assert!(t.take_changed().is_none());
    }

    #[test]
    fn paints_are_invisible_until_flushed() {
        let mut t = buffer();
        t.paint(5, 3);
        assert_eq!(t.pixels()[5], 31);
        assert_eq!(t.version(), 10);
        assert_eq!(t.pending_version(), 11);
    }

    #[test]
    fn pending_pixels_are_what_the_next_flush_makes_and_leave_the_tile_alone() {
        let mut t = buffer_with_three_paints();
        let (pixels, version) = t.pending_pixels();
        assert_eq!(t.pixels()[5], 31, "the tile itself is unchanged");
        t.flush().expect("a batch");
        assert_eq!((pixels.as_slice(), version), (t.pixels(), t.version()));
    }

    #[test]
    fn flush_coalesces_last_write_wins_and_counts_every_paint() {
        let mut t = buffer_with_three_paints();
        let batch = t.flush().expect("a batch");
        assert_eq!((batch.base_version, batch.version), (10, 13));
        assert_eq!(t.pixels()[5], 7);
        let msgs = decode_server_frame(&batch.bytes).unwrap();
        let ServerMessage::TileUpdate(update) = &msgs[0] else {
            panic!("{msgs:?}")
        };
        assert_eq!(
            update.changes,
            vec![
                PixelChange {
                    dx: 1,
                    dy: 0,
                    color: 4
                },
                PixelChange {
                    dx: 1,
                    dy: 1,
                    color: 7
                }
            ]
        );
        assert!(t.flush().is_none());
    }

    #[test]
    fn state_is_re_encoded_after_a_flush() {
        let mut t = buffer();
        let before = t.encoded_state();
        t.paint(0, 1);
        t.flush();
        let after = t.encoded_state();
        assert_ne!(before, after);
        let msgs = decode_server_frame(&after).unwrap();
        let ServerMessage::TileState(state) = &msgs[0] else {
            panic!()
        };
        assert_eq!(state.version, 11);
        assert_eq!(state.pixels[0], 1);
    }

    #[test]
    fn a_copy_follows_the_tile_through_its_updates_and_refuses_a_gap() {
        let mut tile = buffer();
        let encoded = tile.encoded_state();
        let Some(Ok(ServerMessageView::TileState(state))) = read_server_frame(&encoded).next()
        else {
            panic!()
        };
        let mut copy = TileBuffer::from_state(&state, encoded.clone());
        for paints in [vec![(5, 3), (1, 4)], vec![(5, 7)]] {
            for (offset, color) in paints {
                tile.paint(offset, color);
            }
            let batch = tile.flush().unwrap();
            let Some(Ok(ServerMessageView::TileUpdate(update))) =
                read_server_frame(&batch.bytes).next()
            else {
                panic!()
            };
            copy.apply_update(&update).unwrap();
        }
        assert_eq!(copy.pixels(), tile.pixels());
        assert_eq!(copy.version(), 13);
        assert_eq!(copy.encoded_state(), tile.encoded_state());
        tile.paint(0, 1);
        tile.flush();
        tile.paint(0, 2);
        let batch = tile.flush().unwrap();
        let Some(Ok(ServerMessageView::TileUpdate(skipped))) =
            read_server_frame(&batch.bytes).next()
        else {
            panic!()
        };
        assert_eq!(
            copy.apply_update(&skipped),
            Err(VersionGap {
                copy: 13,
                update_base: 14
            })
        );
        assert_eq!(copy.version(), 13, "a refused update changes nothing");
    }
}

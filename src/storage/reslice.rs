//! Re-slicing: cutting the tiles of one geometry into the tiles of another, in memory.
//!
//! Old tiles are fed in one at a time and copied straight into the new tiles they overlap, so
//! the peak memory is the new tiles that receive data (at most one board of the new size) plus
//! one old tile; there is no separate full-board buffer. The IO around it (reading the old
//! layout, writing the new one, switching the manifest) is in [`super::BoardStore::load`].

use std::collections::BTreeMap;

use super::TileSnapshot;
use crate::geometry::{BoardGeometry, Rect};

/// A painted pixel that lies outside the new board, so re-slicing would lose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostPixel {
    pub x: u32,
    pub y: u32,
    pub colour: u8,
}

pub struct Reslicer {
    old: BoardGeometry,
    new: BoardGeometry,
    background: u8,
    /// New tiles that overlap at least one old tile file, keyed `(ty, tx)` for row order.
    tiles: BTreeMap<(u16, u16), TileSnapshot>,
}

impl Reslicer {
    pub fn new(old: BoardGeometry, new: BoardGeometry, background: u8) -> Self {
        Self {
            old,
            new,
            background,
            tiles: BTreeMap::new(),
        }
    }

    /// Copies one old tile into the new layout. Fails on the first pixel (row-major) that is
    /// not `background` and falls outside the new board. `old_tile` must be a validated tile of
    /// the old geometry (as decoding guarantees).
    pub fn add(&mut self, old_tile: &TileSnapshot) -> Result<(), LostPixel> {
        let src = self.old.tile_rect(old_tile.tile);
        debug_assert_eq!(old_tile.pixels.len() as u64, src.area());
        self.check_nothing_lost(src, &old_tile.pixels)?;

        let Some(kept) = self.new.clip(src) else {
            return Ok(()); // Entirely off the new board, and all background.
        };
        let ts = self.new.tile_size();
        for ty in kept.y / ts..=(kept.y + kept.height - 1) / ts {
            for tx in kept.x / ts..=(kept.x + kept.width - 1) / ts {
                // In range: `kept` lies on the new board.
                let Some(coord) = self.new.tile(tx, ty) else {
                    continue;
                };
                let dst = self.new.tile_rect(coord);
                let background = self.background;
                let target =
                    self.tiles
                        .entry((coord.ty, coord.tx))
                        .or_insert_with(|| TileSnapshot {
                            tile: coord,
                            version: 0,
                            pixels: vec![background; dst.area() as usize],
                        });
                // Summing keeps every pixel's tile version at or above what it was before, so a
                // client caching by version never mistakes new content for old.
                target.version = target.version.saturating_add(old_tile.version);
                if let Some(overlap) = intersect(src, dst) {
                    copy_rect(&old_tile.pixels, src, &mut target.pixels, dst, overlap);
                }
            }
        }
        Ok(())
    }

    fn check_nothing_lost(&self, src: Rect, pixels: &[u8]) -> Result<(), LostPixel> {
        let (new_w, new_h) = (self.new.width(), self.new.height());
        if src.x + src.width <= new_w && src.y + src.height <= new_h {
            return Ok(()); // Fully on the new board: the common case, no scan.
        }
        for (row, line) in pixels.chunks_exact(src.width as usize).enumerate() {
            let y = src.y + row as u32;
            // Columns from `first_lost` on fall off the board; on rows below it, all do.
            let first_lost = if y >= new_h {
                0
            } else {
                new_w.saturating_sub(src.x) as usize
            };
            let mut lost = line.iter().enumerate().skip(first_lost);
            if let Some((col, &colour)) = lost.find(|&(_, &c)| c != self.background) {
                return Err(LostPixel {
                    x: src.x + col as u32,
                    y,
                    colour,
                });
            }
        }
        Ok(())
    }

    /// The new tiles, in row order. Tiles that are all background and were never painted
    /// (summed version 0) are dropped: they are indistinguishable from a missing file.
    pub fn finish(self) -> Vec<TileSnapshot> {
        let background = self.background;
        self.tiles
            .into_values()
            .filter(|t| t.version != 0 || t.pixels.iter().any(|&p| p != background))
            .collect()
    }
}

fn intersect(a: Rect, b: Rect) -> Option<Rect> {
    let (x0, y0) = (a.x.max(b.x), a.y.max(b.y));
    let x1 = (a.x + a.width).min(b.x + b.width);
    let y1 = (a.y + a.height).min(b.y + b.height);
    (x1 > x0 && y1 > y0).then_some(Rect {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    })
}

/// Copies `area` (inside both rectangles, in board coordinates) from the row-major pixels of
/// `src` to those of `dst`.
fn copy_rect(src_px: &[u8], src: Rect, dst_px: &mut [u8], dst: Rect, area: Rect) {
    let len = area.width as usize;
    for y in area.y..area.y + area.height {
        let from = ((y - src.y) * src.width + (area.x - src.x)) as usize;
        let to = ((y - dst.y) * dst.width + (area.x - dst.x)) as usize;
        dst_px[to..to + len].copy_from_slice(&src_px[from..from + len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::TileCoord;

    fn geo(w: u32, h: u32, t: u32) -> BoardGeometry {
        BoardGeometry::new(w, h, t).expect("geometry")
    }

    fn tile(g: BoardGeometry, tx: u32, ty: u32, version: u64, fill: u8) -> TileSnapshot {
        let coord = g.tile(tx, ty).expect("tile on board");
        TileSnapshot {
            tile: coord,
            version,
            pixels: vec![fill; g.tile_rect(coord).area() as usize],
        }
    }

    #[test]
    fn versions_are_summed_over_overlapping_old_tiles() {
        let (old, new) = (geo(64, 64, 16), geo(64, 64, 32));
        let mut r = Reslicer::new(old, new, 0);
        r.add(&tile(old, 0, 0, 3, 1)).expect("add");
        r.add(&tile(old, 1, 1, 4, 2)).expect("add");
        r.add(&tile(old, 2, 0, 5, 0)).expect("add"); // Background, but versioned: still kept.
        let out = r.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].tile, out[0].version),
            (TileCoord { tx: 0, ty: 0 }, 7)
        );
        assert_eq!(out[0].pixels[0], 1);
        assert_eq!(out[0].pixels[17 * 32 + 17], 2);
        assert_eq!(out[0].pixels[17 * 32], 0);
        assert_eq!(
            (out[1].tile, out[1].version),
            (TileCoord { tx: 1, ty: 0 }, 5)
        );
    }

    #[test]
    fn unversioned_background_tiles_are_dropped() {
        let (old, new) = (geo(64, 64, 32), geo(64, 64, 16));
        let mut r = Reslicer::new(old, new, 9);
        r.add(&tile(old, 0, 0, 0, 9)).expect("add");
        assert!(r.finish().is_empty());
    }

    #[test]
    fn first_lost_pixel_is_reported() {
        let (old, new) = (geo(40, 40, 32), geo(35, 20, 16));
        let mut r = Reslicer::new(old, new, 0);
        let mut t = tile(old, 1, 0, 1, 0); // x 32..40, y 0..32
        t.pixels[5 * 8 + 2] = 7; // (34, 5): still on the new board
        t.pixels[6 * 8 + 4] = 8; // (36, 6): off it
        assert_eq!(
            r.add(&t),
            Err(LostPixel {
                x: 36,
                y: 6,
                colour: 8
            })
        );

        let mut t = tile(old, 0, 0, 1, 0);
        t.pixels[25 * 32 + 3] = 4; // (3, 25): below the new board
        assert_eq!(
            r.add(&t),
            Err(LostPixel {
                x: 3,
                y: 25,
                colour: 4
            })
        );
    }
}

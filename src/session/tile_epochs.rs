//! The subscription epoch of each tile a session views, in a grid over the tiles' bounding
//! rectangle.
//!
//! Why not a hash map: the frame writer looks up the tile of every frame it sends (is it still
//! subscribed, under this epoch?). With viewports of hundreds of tiles, each lookup missed the
//! caches at a random bucket of the session's table: 14% of the server's samples with 1,000
//! viewers of half a 2048 x 2048 board each at 8,000 paints/s (BENCHMARKS.md, "tile epochs in
//! a grid"). A viewport's tiles form a rectangle, so a grid over them holds 4 bytes a tile,
//! neighbours side by side, and a lookup is an index.

use std::num::NonZeroU32;

use crate::geometry::{TileCoord, TileSpan};

#[derive(Debug, Default)]
pub struct TileEpochs {
    /// The grid's top-left tile.
    tx0: u16,
    ty0: u16,
    /// The grid's size, in tiles.
    width: u16,
    height: u16,
    /// Row-major, `None` for a tile not subscribed.
    epochs: Vec<Option<NonZeroU32>>,
    /// Tiles subscribed.
    len: usize,
}

impl TileEpochs {
    pub fn get(&self, tile: TileCoord) -> Option<NonZeroU32> {
        self.index(tile).and_then(|i| self.epochs[i])
    }

    pub fn contains(&self, tile: TileCoord) -> bool {
        self.get(tile).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets `tile`'s epoch, growing the grid to hold it if needed.
    pub fn insert(&mut self, tile: TileCoord, epoch: NonZeroU32) {
        if self.index(tile).is_none() {
            self.cover(TileSpan {
                first: tile,
                last: tile,
            });
        }
        let i = self.index(tile).expect("covered above");
        if self.epochs[i].replace(epoch).is_none() {
            self.len += 1;
        }
    }

    /// Makes the grid hold `span`, so that subscribing a viewport's tiles one by one does not
    /// grow it one by one. A grid that must move is rebuilt
    /// over that rectangle and the tiles still subscribed, and no more: after a pan, the tiles
    /// left behind are gone already (`retain`), so a viewport that pans across the board keeps
    /// a grid of its own size.
    pub fn cover(&mut self, span: TileSpan) {
        let (min, max) = (span.first, span.last);
        if self.index(min).is_some() && self.index(max).is_some() {
            return;
        }
        let (mut x0, mut y0) = (min.tx, min.ty);
        let (mut x1, mut y1) = (u32::from(max.tx) + 1, u32::from(max.ty) + 1);
        for tile in self.tiles() {
            x0 = x0.min(tile.tx);
            y0 = y0.min(tile.ty);
            x1 = x1.max(u32::from(tile.tx) + 1);
            y1 = y1.max(u32::from(tile.ty) + 1);
        }
        self.regrid(x0, y0, x1, y1);
    }

    /// Drops the tiles `keep` refuses and returns them. The grid keeps its place, for the
    /// `cover` of the viewport that usually follows.
    pub fn retain(&mut self, mut keep: impl FnMut(TileCoord) -> bool) -> Vec<TileCoord> {
        let mut dropped = Vec::new();
        for i in 0..self.epochs.len() {
            if self.epochs[i].is_some() {
                let tile = self.tile_at(i);
                if !keep(tile) {
                    self.epochs[i] = None;
                    self.len -= 1;
                    dropped.push(tile);
                }
            }
        }
        if self.len == 0 {
            *self = Self::default();
        }
        dropped
    }

    /// Drops every tile and returns them.
    pub fn clear(&mut self) -> Vec<TileCoord> {
        let tiles = self.tiles().collect();
        *self = Self::default();
        tiles
    }

    /// Every subscribed tile.
    pub fn tiles(&self) -> impl Iterator<Item = TileCoord> + '_ {
        (0..self.epochs.len())
            .filter(|&i| self.epochs[i].is_some())
            .map(|i| self.tile_at(i))
    }

    fn index(&self, tile: TileCoord) -> Option<usize> {
        let dx = tile.tx.checked_sub(self.tx0)?;
        let dy = tile.ty.checked_sub(self.ty0)?;
        (dx < self.width && dy < self.height)
            .then(|| usize::from(dy) * usize::from(self.width) + usize::from(dx))
    }

    fn tile_at(&self, i: usize) -> TileCoord {
        let w = usize::from(self.width);
        TileCoord {
            tx: self.tx0 + (i % w) as u16,
            ty: self.ty0 + (i / w) as u16,
        }
    }

    /// Moves the grid to the tiles from (`x0`, `y0`) to (`x1`, `y1`), exclusive, which holds
    /// every subscribed tile.
    fn regrid(&mut self, x0: u16, y0: u16, x1: u32, y1: u32) {
        // A board has at most 65,536 / 16 = 4,096 tiles a side (`BoardGeometry::new`), so a
        // side always fits in u16.
        let (width, height) = (
            u16::try_from(x1 - u32::from(x0)).expect("tile grids are narrower than 65,536"),
            u16::try_from(y1 - u32::from(y0)).expect("tile grids are shorter than 65,536"),
        );
        let mut grid = Self {
            tx0: x0,
            ty0: y0,
            width,
            height,
            epochs: vec![None; usize::from(width) * usize::from(height)],
            len: self.len,
        };
        for i in 0..self.epochs.len() {
            if let Some(epoch) = self.epochs[i] {
                let j = grid
                    .index(self.tile_at(i))
                    .expect("the new grid covers the old tiles");
                grid.epochs[j] = Some(epoch);
            }
        }
        *self = grid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tx: u16, ty: u16) -> TileCoord {
        TileCoord { tx, ty }
    }

    fn span(first: TileCoord, last: TileCoord) -> TileSpan {
        TileSpan { first, last }
    }

    fn e(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn tiles_inserted_anywhere_are_found_and_others_are_not() {
        let mut epochs = TileEpochs::default();
        assert_eq!(epochs.get(t(0, 0)), None);
        epochs.insert(t(5, 7), e(1));
        epochs.insert(t(2, 9), e(2)); // grows left and down
        epochs.insert(t(8, 3), e(3)); // grows right and up
        epochs.insert(t(5, 7), e(4)); // replaces
        assert_eq!(epochs.get(t(5, 7)), Some(e(4)));
        assert_eq!(epochs.get(t(2, 9)), Some(e(2)));
        assert_eq!(epochs.get(t(8, 3)), Some(e(3)));
        assert_eq!(epochs.get(t(5, 8)), None, "inside the grid, not subscribed");
        assert_eq!(epochs.get(t(9, 3)), None, "outside the grid");
        assert_eq!(epochs.get(t(1, 9)), None);
        assert_eq!(epochs.tiles().count(), 3);
    }

    #[test]
    fn covering_a_viewport_first_builds_the_grid_once() {
        let mut epochs = TileEpochs::default();
        epochs.cover(span(t(10, 20), t(39, 36)));
        let grid = epochs.epochs.as_ptr();
        for ty in 20..=36 {
            for tx in 10..=39 {
                epochs.insert(t(tx, ty), e(1));
            }
        }
        assert_eq!(epochs.epochs.as_ptr(), grid, "no tile rebuilt the grid");
        assert_eq!((epochs.width, epochs.height), (30, 17));
        assert_eq!(epochs.tiles().count(), 30 * 17);
        epochs.cover(span(t(12, 22), t(20, 30)));
        assert_eq!(
            epochs.epochs.as_ptr(),
            grid,
            "a rectangle inside changes nothing"
        );
    }

    #[test]
    fn dropping_tiles_returns_them_and_the_next_cover_fits_the_rest() {
        let mut epochs = TileEpochs::default();
        for tx in 0..4 {
            epochs.insert(t(tx, 0), e(u32::from(tx) + 1));
        }
        let mut dropped = epochs.retain(|tile| tile.tx >= 2);
        dropped.sort();
        assert_eq!(dropped, vec![t(0, 0), t(1, 0)]);
        epochs.cover(span(t(3, 0), t(5, 0)));
        assert_eq!(
            (epochs.tx0, epochs.width),
            (2, 4),
            "tiles 2 and 3, and up to 5"
        );
        assert_eq!(epochs.get(t(3, 0)), Some(e(4)));
        assert_eq!(epochs.get(t(1, 0)), None);
        assert!(epochs.retain(|_| true).is_empty());
        let mut all = epochs.clear();
        all.sort();
        assert_eq!(all, vec![t(2, 0), t(3, 0)]);
        assert!(epochs.is_empty() && epochs.epochs.is_empty());
        assert_eq!(epochs.get(t(2, 0)), None);
    }

    #[test]
    fn a_viewport_that_pans_across_the_board_keeps_a_grid_of_its_own_size() {
        let mut epochs = TileEpochs::default();
        for step in 0..100u16 {
            let (x0, x1) = (step, step + 9);
            epochs.retain(|tile| (x0..=x1).contains(&tile.tx));
            epochs.cover(span(t(x0, 0), t(x1, 4)));
            for tx in x0..=x1 {
                for ty in 0..=4 {
                    if !epochs.contains(t(tx, ty)) {
                        epochs.insert(t(tx, ty), e(1));
                    }
                }
            }
            assert_eq!(epochs.epochs.len(), 10 * 5, "step {step}");
        }
        assert_eq!(epochs.tx0, 99);
    }
}

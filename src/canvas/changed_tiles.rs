//! Which tiles of a board changed since someone last asked: one bit per tile, set by the tile
//! actors as they apply a batch, taken by the overview refresh.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::geometry::{BoardGeometry, TileCoord};

/// A lock-free bitset over a board's tiles. Setting a bit is one atomic OR in a tile's flush;
/// taking them all is one swap per 64 tiles, about 16,000 for the largest board.
#[derive(Debug)]
pub struct ChangedTiles {
    geometry: BoardGeometry,
    words: Vec<AtomicU64>,
}

impl ChangedTiles {
    /// No tile marked.
    pub fn new(geometry: &BoardGeometry) -> Self {
        Self {
            geometry: *geometry,
            words: (0..geometry.tile_count().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// Marks `tile` changed. Called after its new pixels are in place, so whoever takes the mark
    /// and then reads the tile sees them.
    pub fn mark(&self, tile: TileCoord) {
        let i = self.geometry.tile_index(tile);
        self.words[i / 64].fetch_or(1 << (i % 64), Ordering::SeqCst);
    }

    /// The marked tiles, row-major, clearing their marks. A tile marked again meanwhile is
    /// either in this list or stays marked for the next call; it is never lost.
    pub fn take(&self) -> Vec<TileCoord> {
        let mut tiles = Vec::new();
        for (w, word) in self.words.iter().enumerate() {
            if word.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut bits = word.swap(0, Ordering::SeqCst);
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let tiles_x = self.geometry.tiles_x() as usize;
                // Both fit: tile coordinates are u16 by construction.
                tiles.push(TileCoord {
                    tx: (i % tiles_x) as u16,
                    ty: (i / tiles_x) as u16,
                });
            }
        }
        tiles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_taken_once_in_row_order() {
        let g = BoardGeometry::new(1000, 300, 16).unwrap();
        let changed = ChangedTiles::new(&g);
        assert!(changed.take().is_empty());
        let last = g.tile(g.tiles_x() - 1, g.tiles_y() - 1).unwrap();
        let some = g.tile(5, 2).unwrap();
        changed.mark(last);
        changed.mark(some);
        changed.mark(some);
        assert_eq!(changed.take(), vec![some, last]);
        assert!(changed.take().is_empty());
    }
}

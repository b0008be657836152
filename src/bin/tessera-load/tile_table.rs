//! A viewer's per-tile records, by dense tile index: a plain vector when the viewer holds a
//! large part of the board (no hashing on the receive path, one cache line per tile), a hash map
//! otherwise (memory in proportion to the tiles it actually visits).

use std::collections::HashMap;

/// A viewer holding at least 1/`DENSE_SHARE` of the board's tiles gets a vector: a vector entry
/// per tile then costs at most twice the map's entries, and saves a hash probe per update.
const DENSE_SHARE: usize = 2;

pub enum TileTable<V> {
    Dense(Vec<V>),
    Sparse(HashMap<u32, V>),
}

impl<V: Default> TileTable<V> {
    /// A table for a board of `tile_count` tiles, of which the viewer will hold about `held`.
    pub fn new(tile_count: usize, held: usize) -> Self {
        if held.saturating_mul(DENSE_SHARE) >= tile_count {
            TileTable::Dense((0..tile_count).map(|_| V::default()).collect())
        } else {
            TileTable::Sparse(HashMap::new())
        }
    }

    pub fn get(&self, tile: u32) -> Option<&V> {
        match self {
            TileTable::Dense(v) => v.get(tile as usize),
            TileTable::Sparse(m) => m.get(&tile),
        }
    }

    pub fn get_mut(&mut self, tile: u32) -> Option<&mut V> {
        match self {
            TileTable::Dense(v) => v.get_mut(tile as usize),
            TileTable::Sparse(m) => m.get_mut(&tile),
        }
    }

    /// The record of `tile`, created if needed. `None` only for a tile beyond a dense board.
    pub fn get_or_default(&mut self, tile: u32) -> Option<&mut V> {
        match self {
            TileTable::Dense(v) => v.get_mut(tile as usize),
            TileTable::Sparse(m) => Some(m.entry(tile).or_default()),
        }
    }

    /// Every tile with a record (every tile of a dense table).
    pub fn tiles(&self) -> Vec<u32> {
        match self {
            TileTable::Dense(v) => (0..v.len() as u32).collect(),
            TileTable::Sparse(m) => m.keys().copied().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_tables_behave_alike() {
        let mut dense: TileTable<u8> = TileTable::new(8, 4);
        let mut sparse: TileTable<u8> = TileTable::new(8, 3);
        assert!(matches!(dense, TileTable::Dense(_)) && matches!(sparse, TileTable::Sparse(_)));
        for table in [&mut dense, &mut sparse] {
            *table.get_or_default(5).unwrap() = 7;
            assert_eq!(table.get(5), Some(&7));
            *table.get_mut(5).unwrap() += 1;
            assert_eq!(table.get(5), Some(&8));
            assert!(table.tiles().contains(&5));
        }
        assert_eq!(
            sparse.get(2),
            None,
            "sparse tables know only what they hold"
        );
        assert_eq!(
            dense.get(2),
            Some(&0),
            "dense tables hold every tile, by default empty"
        );
        assert_eq!(dense.get_or_default(8), None);
    }
}

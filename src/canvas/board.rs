//! A running board: its settings and the address of every tile actor, routing a pixel to its tile.

use std::sync::Arc;

use actix::Addr;
use bytes::Bytes;
use parking_lot::Mutex;

use super::tile::{BoardCounters, Tile};
use crate::geometry::{BoardGeometry, TileCoord};
use crate::protocol::BoardInfo;
use crate::settings::BoardSettings;

pub struct Board {
    /// Position in the settings and in `Welcome.boards`; messages name the board by it.
    pub index: u16,
    pub settings: BoardSettings,
    /// Tile actors, row-major by `BoardGeometry::tile_index`.
    tiles: Vec<Addr<Tile>>,
    pub counters: Arc<BoardCounters>,
    /// The last PNG rendered and the board version it shows. Held only to read or replace it.
    pub png_cache: Mutex<Option<(u64, Bytes)>>,
}

impl Board {
    pub fn new(
        index: u16,
        settings: BoardSettings,
        tiles: Vec<Addr<Tile>>,
        counters: Arc<BoardCounters>,
    ) -> Self {
        assert_eq!(
            tiles.len(),
            settings.geometry.tile_count(),
            "one actor per tile"
        );
        Self {
            index,
            settings,
            tiles,
            counters,
            png_cache: Mutex::new(None),
        }
    }

    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn geometry(&self) -> &BoardGeometry {
        &self.settings.geometry
    }

    pub fn tile(&self, coord: TileCoord) -> &Addr<Tile> {
        &self.tiles[self.settings.geometry.tile_index(coord)]
    }

    pub fn tiles(&self) -> &[Addr<Tile>] {
        &self.tiles
    }

    /// Paints applied so far on the whole board.
    pub fn version(&self) -> u64 {
        self.counters
            .paints_applied
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn info(&self) -> BoardInfo {
        let s = &self.settings;
        BoardInfo {
            id: s.id.clone(),
            width: s.geometry.width(),
            height: s.geometry.height(),
            tile_size: s.geometry.tile_size(),
            cooldown_ms: u32::try_from(s.cooldown.as_millis()).unwrap_or(u32::MAX),
            background: s.background,
            palette: s.palette.colours().iter().map(|c| c.0).collect(),
        }
    }
}

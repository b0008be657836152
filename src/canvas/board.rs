//! A running board: its settings and the address of every tile actor, routing a pixel to its tile.

use std::sync::Arc;

use actix::Addr;
use bytes::Bytes;
use parking_lot::Mutex;

use super::board_feed::BoardFeed;
use super::overview::Overview;
use super::tile::{BoardCounters, Tile, TileHandle};
use crate::geometry::{BoardGeometry, TileCoord};
use crate::protocol::BoardInfo;
use crate::settings::BoardSettings;
use crate::storage::journal::Journal;

pub struct Board {
    /// Position in the settings and in `Welcome.boards`; messages name the board by it.
    pub index: u16,
    pub settings: BoardSettings,
    /// Tile actors and their inboxes, row-major by `BoardGeometry::tile_index`.
    tiles: Vec<TileHandle>,
    /// Serves the sessions that view the whole board, on boards small enough for that.
    feed: Option<Addr<BoardFeed>>,
    pub counters: Arc<BoardCounters>,
    /// Every accepted paint, on disk before it is acknowledged.
    journal: Arc<Journal>,
    /// The board's last rendered PNG.
    pub png: RenderCache,
    /// Downsampled levels for zoomed-out clients, about a third of the board's pixel bytes;
    /// kept fresh by [`super::overview_refresh`].
    pub overview: Overview,
}

impl Board {
    pub fn new(
        index: u16,
        settings: BoardSettings,
        tiles: Vec<TileHandle>,
        feed: Option<Addr<BoardFeed>>,
        counters: Arc<BoardCounters>,
        journal: Arc<Journal>,
        overview: Overview,
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
            feed,
            counters,
            journal,
            png: RenderCache::default(),
            overview,
        }
    }

    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn geometry(&self) -> &BoardGeometry {
        &self.settings.geometry
    }

    pub fn tile(&self, coord: TileCoord) -> &Addr<Tile> {
        self.tile_at(self.settings.geometry.tile_index(coord))
    }

    /// The tile at `index` in `BoardGeometry::tile_index` order.
    pub fn tile_at(&self, index: usize) -> &Addr<Tile> {
        &self.tiles[index].addr
    }

    /// Queues a paint (`offset` from `BoardGeometry::locate`, `color` a palette index) in its
    /// tile's inbox, applied at the tile's next tick. `false` when the tile is overloaded (its
    /// inbox is full) or gone (shutdown).
    pub fn queue_paint(&self, coord: TileCoord, offset: u32, color: u8) -> bool {
        let tile = &self.tiles[self.settings.geometry.tile_index(coord)];
        // A tile that stops at shutdown after this may never apply the paint; it is in the
        // journal all the same and restored at the next start.
        tile.inbox
            .push((offset, color), || tile.tick.enlist(&tile.addr))
    }

    /// Every tile actor, in `BoardGeometry::tile_index` order.
    pub fn tiles(&self) -> impl ExactSizeIterator<Item = &Addr<Tile>> {
        self.tiles.iter().map(|tile| &tile.addr)
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    pub fn feed(&self) -> Option<&Addr<BoardFeed>> {
        self.feed.as_ref()
    }

    /// Paints applied so far on the whole board. Acquire: the tiles of every paint counted are
    /// already marked changed (see the tile's flush).
    pub fn version(&self) -> u64 {
        self.counters
            .paints_applied
            .load(std::sync::atomic::Ordering::Acquire)
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

/// A rendered image of a board and what it shows; one render at a time per board.
#[derive(Debug, Default)]
pub struct RenderCache {
    /// Held only to read or replace the entry.
    pub last: Mutex<Option<Rendered>>,
    /// Held across a whole render, so concurrent requests wait for one render instead of each
    /// copying the board.
    pub render_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone)]
pub struct Rendered {
    /// Board version read before the render began; the image shows at least this version.
    pub version: u64,
    pub at: tokio::time::Instant,
    pub bytes: Bytes,
}

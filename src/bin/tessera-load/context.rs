//! What every viewer and painter task of one run shares: the board, the scenario and plan, the
//! clock, and the lock-free accounting arrays. Immutable except for those atomics.

use tessera::geometry::{BoardGeometry, Rect, Viewport};

use crate::accounting::{SendLog, TileCounts};
use crate::codec::Codec;
use crate::frame_memo::FrameMemo;
use crate::plan::PaintPlan;
use crate::scenario::Scenario;
use crate::timeline::RunClock;
use crate::transport::Transport;

/// The board a run paints on, as the server described it (or as the flags did for `raw`).
#[derive(Debug, Clone)]
pub struct BoardSpec {
    /// `None` for `raw`, which has no boards.
    pub id: Option<String>,
    /// Index in `Welcome.boards`.
    pub index: u16,
    /// Size and tiling used for accounting. For `raw` the tiles are the largest allowed: every
    /// viewer receives everything there, so tiles only group the counts.
    pub geometry: BoardGeometry,
    /// The server's tile size (`None` for `raw`).
    pub tile_size: Option<u32>,
    pub palette_len: usize,
    /// The server's batching tick (assumed for `raw`).
    pub tick_ms: u32,
    pub max_viewport_area: u64,
    pub max_messages_per_second: Option<u32>,
}

/// Viewport movement of the pan scenario, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct PanTiming {
    pub interval: u64,
    pub guard: u64,
}

pub struct RunContext {
    pub clock: RunClock,
    pub transport: Transport,
    pub codec: Codec,
    pub board: BoardSpec,
    pub scenario: Scenario,
    pub plan: PaintPlan,
    pub sends: SendLog,
    pub counts: TileCounts,
    /// Paints `0..warm` are warm-up, `warm..total` measured.
    pub warm: u64,
    pub total: u64,
    pub painters: u64,
    pub pan: Option<PanTiming>,
    pub seed: u64,
    /// Whether viewers keep a bitset of received paints to count duplicates.
    pub dup_check: bool,
    /// Where viewers that receive the same frames share their identification: whole-board
    /// viewers (`overview`, and every viewer of the raw protocol). Others get frames of their
    /// own and identify them alone.
    pub memo: Option<FrameMemo>,
}

impl RunContext {
    pub fn is_measured(&self, seq: u64) -> bool {
        seq >= self.warm
    }

    /// The dense index of the tile holding `(x, y)`, if the pixel is on the board.
    pub fn tile_of(&self, x: u32, y: u32) -> Option<usize> {
        let g = &self.board.geometry;
        let (tile, _) = g.locate(g.pixel(x, y)?);
        Some(g.tile_index(tile))
    }

    /// The tiles a viewport on the board intersects (what the server subscribes it to).
    pub fn tiles_of(&self, rect: Rect) -> Vec<u32> {
        let g = &self.board.geometry;
        match Viewport::new(g, rect, u64::MAX) {
            Ok(v) => g.tiles_in(&v).map(|t| g.tile_index(t) as u32).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Every tile of the board.
    pub fn all_tiles(&self) -> Vec<u32> {
        (0..self.board.geometry.tile_count() as u32).collect()
    }
}

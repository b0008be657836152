//! The canvas: tile actors, the boards that route to them, the rules every paint passes, the
//! overview pyramid of each board, and the supervisor that starts, restores and snapshots them.

pub mod arbiter_tick;
pub mod board;
pub mod board_feed;
pub mod changed_tiles;
pub mod clock;
pub mod cooldown;
pub mod frame_queue;
pub mod gather;
pub mod overview;
pub mod overview_refresh;
pub mod paint_inbox;
pub mod supervisor;
pub mod tick_barrier;
pub mod tile;
pub mod tile_buffer;
pub mod write_schedule;
pub mod write_signal;

use std::sync::Arc;

use tokio::time::Instant;

pub use board::Board;
pub use clock::TickClock;
use cooldown::Cooldowns;

use crate::identity::UserToken;
use crate::palette::Color;
use crate::protocol::RejectReason;
use crate::storage::journal::{JournalFailed, Record, Ticket};

/// Every board of the server plus the state paints are checked against. Shared by the websocket
/// sessions and the HTTP routes, so both follow the same rules.
pub struct Canvas {
    boards: Vec<Arc<Board>>,
    cooldowns: Cooldowns,
    clock: TickClock,
    write_schedule: Arc<write_schedule::WriteSchedule>,
}

/// A refused paint: why, and for cooldowns how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub retry_after_ms: u32,
}

/// A paint queued in its tile and appended to its board's journal: acknowledge it once
/// [`Canvas::is_durable`] says so (or [`Canvas::wait_durable`] returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaintTicket {
    pub board: u16,
    pub ticket: Ticket,
}

impl Rejection {
    pub fn new(reason: RejectReason) -> Self {
        Self {
            reason,
            retry_after_ms: 0,
        }
    }
}

impl Canvas {
    pub fn new(
        boards: Vec<Arc<Board>>,
        clock: TickClock,
        write_schedule: Arc<write_schedule::WriteSchedule>,
    ) -> Self {
        Self {
            boards,
            cooldowns: Cooldowns::default(),
            clock,
            write_schedule,
        }
    }

    pub fn boards(&self) -> &[Arc<Board>] {
        &self.boards
    }

    pub fn board(&self, index: u16) -> Option<&Arc<Board>> {
        self.boards.get(usize::from(index))
    }

    pub fn board_by_id(&self, id: &str) -> Option<&Arc<Board>> {
        self.boards.iter().find(|b| b.id() == id)
    }

    pub fn clock(&self) -> TickClock {
        self.clock
    }

    /// Wakes sessions on the write boundary; every session queue enlists with it.
    pub fn write_schedule(&self) -> &Arc<write_schedule::WriteSchedule> {
        &self.write_schedule
    }

    pub fn cooldowns(&self) -> &Cooldowns {
        &self.cooldowns
    }

    /// Whether an accepted paint is on disk; `Err` if the journal failed and it never will be.
    pub fn is_durable(&self, paint: PaintTicket) -> Result<bool, JournalFailed> {
        match self.board(paint.board) {
            Some(board) => board.journal().is_durable(paint.ticket),
            None => Err(JournalFailed),
        }
    }

    /// Waits until an accepted paint is on disk.
    pub async fn wait_durable(&self, paint: PaintTicket) -> Result<(), JournalFailed> {
        match self.board(paint.board) {
            Some(board) => board.journal().wait_durable(paint.ticket).await,
            None => Err(JournalFailed),
        }
    }

    /// Checks a paint, queues it in its tile's inbox and appends it to the journal, now,
    /// without waiting.
    ///
    /// The inbox either queues the paint at once or refuses it, so one client's paints reach a
    /// tile in the order it sent them, and an inbox never grows past its capacity (waiting for
    /// room would queue late and out of order). Both happen under the journal's lock, so the
    /// journal holds each tile's paints in the order the tile applies them. A queued paint
    /// is applied at the tile's next tick whether or not its sender is still connected. It is
    /// accepted once its ticket is durable: the journal's writer syncs just before each tick
    /// boundary (`CommitSchedule`), and a session answers at its next write, after the boundary.
    pub fn paint(
        &self,
        user: &UserToken,
        board: u16,
        x: u32,
        y: u32,
        color: u8,
    ) -> Result<PaintTicket, Rejection> {
        let board_ref = self
            .board(board)
            .ok_or(Rejection::new(RejectReason::UnknownBoard))?;
        let geometry = board_ref.geometry();
        let pos = geometry
            .pixel(x, y)
            .ok_or(Rejection::new(RejectReason::OutOfBounds))?;
        let color: Color = board_ref
            .settings
            .palette
            .color(color)
            .ok_or(Rejection::new(RejectReason::InvalidColor))?;
        self.cooldowns
            .try_take(user, board, board_ref.settings.cooldown, Instant::now())
            .map_err(|wait| Rejection {
                reason: RejectReason::Cooldown,
                // Rounded up, so a client that waits exactly this long is never refused again.
                retry_after_ms: u32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u32::MAX),
            })?;
        let (tile, offset) = geometry.locate(pos);
        let record = Record {
            x,
            y,
            color: color.index(),
        };
        let queued = board_ref.journal().append(record, || {
            board_ref.queue_paint(tile, offset, color.index())
        });
        match queued {
            Ok(Some(ticket)) => Ok(PaintTicket { board, ticket }),
            // The tile is overloaded (its inbox is full) or gone (shutdown), or the journal
            // can no longer write: not applied.
            Ok(None) | Err(JournalFailed) => {
                self.cooldowns.refund(user, board);
                Err(Rejection {
                    reason: RejectReason::Unavailable,
                    retry_after_ms: u32::try_from(self.clock.period().as_millis())
                        .unwrap_or(u32::MAX),
                })
            }
        }
    }
}

//! A received frame, identified: its messages decoded, and each pixel it carries matched to the
//! paint of the plan that put it there, with that paint's send time and tile generation. What
//! stays per viewer (its tile versions, its duplicates, whether it was counted, when it read the
//! frame) is applied by the viewer afterwards; everything here depends on the frame's bytes
//! alone, so one identification serves every viewer that receives the same bytes
//! (`frame_memo.rs`).

use std::ops::Range;

use tessera::protocol::{ServerMessage, ServerMessageView};

use crate::accounting::Generation;
use crate::codec::{self, Codec};
use crate::context::RunContext;
use crate::plan::Pixel;

/// A paint received: which one, when it was sent, and its tile's generation then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub seq: u64,
    pub sent_ns: u64,
    pub generation: Generation,
}

/// One message of a frame, as the viewer acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Pixels received for one tile: a `TileUpdate` (with its versions), or the pixels of a raw
    /// frame that fall in one tile (without). `tile` is `None` for a tile the viewer cannot
    /// hold (another board, off the board): its pixels are then all unknown.
    Tile {
        tile: Option<u32>,
        versions: Option<(u64, u64)>,
        paints: Range<usize>,
    },
    /// A `TileState` of the run's board.
    State {
        tile: u32,
        version: u64,
    },
    ServerError,
    /// Undecodable bytes: counted, and the rest of the frame is not read.
    Bad,
}

impl Item {
    /// The tile the item is about, as a sort key: items about no tile of the board go last.
    fn tile(&self) -> u32 {
        match *self {
            Item::Tile { tile: Some(t), .. } | Item::State { tile: t, .. } => t,
            Item::Tile { tile: None, .. } | Item::ServerError | Item::Bad => u32::MAX,
        }
    }
}

/// A frame's items, and the paints they refer to by range.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identified {
    pub items: Vec<Item>,
    /// `None` for a pixel no paint of the run explains.
    pub paints: Vec<Option<Sent>>,
}

impl Identified {
    /// Whether every byte read was a whole message (no `Bad` item).
    pub fn is_whole(&self) -> bool {
        !self.items.contains(&Item::Bad)
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.paints.clear();
    }

    /// Identifies `frame` into `self` (cleared first).
    pub fn read(&mut self, ctx: &RunContext, frame: &[u8]) {
        self.clear();
        match ctx.codec {
            Codec::Tessera => self.read_tessera(ctx, frame),
            Codec::Raw => self.read_raw(ctx, frame),
        }
        // In tile order, a viewer reads its tile records front to back, which the processor's
        // own prefetcher follows; in arrival order (tessera's whole-board frames come from
        // both tile arbiters, interleaved) each record was a cache miss that the viewer's
        // explicit prefetch only partly hid. Stable, so one tile's items keep their order
        // (its versions follow on); the order between tiles means nothing to a viewer.
        self.items.sort_by_key(Item::tile);
    }

    fn read_tessera(&mut self, ctx: &RunContext, frame: &[u8]) {
        let g = ctx.board.geometry;
        let board = ctx.board.index;
        for message in codec::tessera::read(frame) {
            match message {
                Ok(ServerMessageView::TileUpdate(update)) => {
                    let start = self.paints.len();
                    let tile = (update.board == board)
                        .then(|| g.tile(u32::from(update.tx), u32::from(update.ty)))
                        .flatten();
                    match tile {
                        Some(tile) => {
                            let rect = g.tile_rect(tile);
                            self.paints.extend(update.changes.map(|change| {
                                let (dx, dy) = (u32::from(change.dx), u32::from(change.dy));
                                if dx >= rect.width || dy >= rect.height {
                                    return None;
                                }
                                identify(
                                    ctx,
                                    Pixel {
                                        x: rect.x + dx,
                                        y: rect.y + dy,
                                        color: change.color,
                                    },
                                )
                            }));
                        }
                        None => self
                            .paints
                            .extend(std::iter::repeat_n(None, update.changes.len())),
                    }
                    self.items.push(Item::Tile {
                        tile: tile.map(|t| g.tile_index(t) as u32),
                        versions: Some((update.base_version, update.version)),
                        paints: start..self.paints.len(),
                    });
                }
                Ok(ServerMessageView::TileState(state)) if state.board == board => {
                    if let Some(tile) = g.tile(u32::from(state.tx), u32::from(state.ty)) {
                        self.items.push(Item::State {
                            tile: g.tile_index(tile) as u32,
                            version: state.version,
                        });
                    }
                }
                Ok(ServerMessageView::Other(other))
                    if matches!(*other, ServerMessage::Error { .. }) =>
                {
                    self.items.push(Item::ServerError)
                }
                // Viewers never paint; a tile of another board or a second Welcome changes
                // nothing.
                Ok(_) => {}
                Err(_) => self.items.push(Item::Bad),
            }
        }
    }

    fn read_raw(&mut self, ctx: &RunContext, frame: &[u8]) {
        let (pixels, whole) = codec::raw::records(frame);
        for px in pixels {
            let tile = ctx.tile_of(px.x, px.y).map(|t| t as u32);
            let paint = tile.and_then(|_| identify(ctx, px));
            let at = self.paints.len();
            self.paints.push(paint);
            // Consecutive pixels of one tile share an item.
            match self.items.last_mut() {
                Some(Item::Tile {
                    tile: last,
                    versions: None,
                    paints,
                }) if *last == tile && paints.end == at => paints.end = at + 1,
                _ => self.items.push(Item::Tile {
                    tile,
                    versions: None,
                    paints: at..at + 1,
                }),
            }
        }
        if !whole {
            self.items.push(Item::Bad);
        }
    }
}

/// The paint of the run that put `px` there, if one did and it was sent.
fn identify(ctx: &RunContext, px: Pixel) -> Option<Sent> {
    let seq = ctx
        .plan
        .identify(px.x, px.y, px.color)
        .filter(|&s| s < ctx.total)?;
    let (sent_ns, generation) = ctx.sends.get(seq)?;
    Some(Sent {
        seq,
        sent_ns,
        generation,
    })
}

#[cfg(test)]
mod tests {
    use tessera::geometry::BoardGeometry;
    use tessera::protocol::{
        ErrorCode, PixelChange, ServerMessage, TileState, TileUpdate, encode_server_into,
    };

    use super::*;
    use crate::accounting::{SendLog, TileCounts};
    use crate::context::BoardSpec;
    use crate::plan::PaintPlan;
    use crate::scenario::{Scenario, ScenarioKind};
    use crate::timeline::RunClock;
    use crate::transport::Transport;

    /// A 128 x 128 board of four 64-pixel tiles (board index 0), 100 paints of which 0..50 were
    /// sent, paint `s` at `1_000 * s` ns while its tile was at generation `s`.
    fn context(codec: Codec) -> RunContext {
        let geometry = BoardGeometry::new(128, 128, 64).unwrap();
        let sends = SendLog::new(100);
        for seq in 0..50 {
            sends.record(seq, 1_000 * seq, seq as Generation);
        }
        RunContext {
            clock: RunClock::start(),
            transport: Transport::Ws {
                url: "ws://127.0.0.1:1/ws".into(),
            },
            codec,
            board: BoardSpec {
                id: None,
                index: 0,
                geometry,
                tile_size: Some(64),
                palette_len: 4,
                tick_ms: 20,
                max_viewport_area: u64::MAX,
                max_messages_per_second: None,
            },
            scenario: Scenario::new(ScenarioKind::Overview, 128, 128, 1.0, u64::MAX, 1).unwrap(),
            plan: PaintPlan::uniform(128, 128, 4, 1).unwrap(),
            sends,
            counts: TileCounts::new(geometry.tile_count()),
            warm: 0,
            total: 100,
            painters: 1,
            pan: None,
            seed: 1,
            dup_check: true,
            memo: None,
        }
    }

    fn sent(seq: u64) -> Option<Sent> {
        Some(Sent {
            seq,
            sent_ns: 1_000 * seq,
            generation: seq as Generation,
        })
    }

    /// The tile of `px`, and its offset inside it.
    fn locate(px: Pixel) -> (u16, u16, PixelChange) {
        let change = PixelChange {
            dx: (px.x % 64) as u16,
            dy: (px.y % 64) as u16,
            color: px.color,
        };
        ((px.x / 64) as u16, (px.y / 64) as u16, change)
    }

    #[test]
    fn tessera_frames_name_each_paint_and_keep_what_is_per_viewer() {
        let ctx = context(Codec::Tessera);
        let (a, b) = (ctx.plan.paint(3), ctx.plan.paint(70));
        let (tx, ty, change_a) = locate(a);
        let (bx, by, change_b) = locate(b);
        // Paint 3's pixel in another colour: every paint of this plan is colour 0 (a colour
        // takes one pass over the 16,384 pixels), so no paint explains it.
        let mut unknown_colour = change_a;
        unknown_colour.color = 3;
        let messages = [
            // A sent paint and one that no paint explains, in paint 3's tile.
            ServerMessage::TileUpdate(TileUpdate {
                board: 0,
                tx,
                ty,
                base_version: 4,
                version: 6,
                changes: vec![change_a, unknown_colour],
            }),
            // A paint of the plan never sent (70 >= 50), in its own tile.
            ServerMessage::TileUpdate(TileUpdate {
                board: 0,
                tx: bx,
                ty: by,
                base_version: 0,
                version: 1,
                changes: vec![change_b],
            }),
            // Paint 3's pixel, but on another board.
            ServerMessage::TileUpdate(TileUpdate {
                board: 1,
                tx,
                ty,
                base_version: 0,
                version: 1,
                changes: vec![change_a],
            }),
            ServerMessage::TileState(TileState {
                board: 0,
                tx: 1,
                ty: 1,
                version: 9,
                width: 64,
                height: 64,
                pixels: vec![0; 64 * 64],
            }),
            ServerMessage::Error {
                code: ErrorCode::Malformed,
                message: "no".into(),
            },
        ];
        let mut frame = Vec::new();
        for message in &messages {
            encode_server_into(message, &mut frame);
        }
        // A last message cut short by one byte: one bad item ends the frame.
        encode_server_into(&messages[0], &mut frame);
        frame.pop();

        let mut identified = Identified::default();
        identified.read(&ctx, &frame);
        let tile_of = |px: Pixel| Some(ctx.tile_of(px.x, px.y).unwrap() as u32);
        assert_eq!(
            identified.paints,
            [sent(3), None, None, None],
            "sent, unexplained, not sent, another board's"
        );
        assert!(tile_of(a) < tile_of(b) && tile_of(b) < Some(3));
        assert_eq!(
            identified.items,
            vec![
                Item::Tile {
                    tile: tile_of(a),
                    versions: Some((4, 6)),
                    paints: 0..2,
                },
                Item::Tile {
                    tile: tile_of(b),
                    versions: Some((0, 1)),
                    paints: 2..3,
                },
                Item::State {
                    tile: 3,
                    version: 9
                },
                // In tile order, then what is about no tile of the board, in arrival order.
                Item::Tile {
                    tile: None,
                    versions: Some((0, 1)),
                    paints: 3..4,
                },
                Item::ServerError,
                Item::Bad,
            ]
        );
    }

    #[test]
    fn raw_frames_group_consecutive_pixels_of_a_tile() {
        let ctx = context(Codec::Raw);
        // Paints 0..4 in order, wherever they landed, then one off the board.
        let pixels: Vec<Pixel> = (0..4).map(|s| ctx.plan.paint(s)).collect();
        let off = Pixel {
            x: 500,
            y: 0,
            color: 0,
        };
        let mut frame: Vec<u8> = pixels
            .iter()
            .chain([&off])
            .flat_map(|&px| codec::raw::encode_paint(px))
            .collect();
        frame.push(0);

        let mut identified = Identified::default();
        identified.read(&ctx, &frame);
        assert_eq!(
            identified.paints,
            vec![sent(0), sent(1), sent(2), sent(3), None]
        );
        let mut expected: Vec<Item> = Vec::new();
        for (i, px) in pixels.iter().enumerate() {
            let tile = Some(ctx.tile_of(px.x, px.y).unwrap() as u32);
            match expected.last_mut() {
                Some(Item::Tile {
                    tile: last, paints, ..
                }) if *last == tile => paints.end = i + 1,
                _ => expected.push(Item::Tile {
                    tile,
                    versions: None,
                    paints: i..i + 1,
                }),
            }
        }
        expected.push(Item::Tile {
            tile: None,
            versions: None,
            paints: 4..5,
        });
        expected.push(Item::Bad);
        // Then in tile order, each tile's runs in arrival order.
        expected.sort_by_key(Item::tile);
        assert_eq!(identified.items, expected);
    }

    #[test]
    fn reading_again_starts_afresh() {
        let ctx = context(Codec::Raw);
        let frame = codec::raw::encode_paint(ctx.plan.paint(1));
        let mut identified = Identified::default();
        identified.read(&ctx, &frame);
        identified.read(&ctx, &frame);
        assert_eq!(identified.paints, vec![sent(1)]);
        assert_eq!(identified.items.len(), 1);
    }

    /// What a viewer does with each item, paints resolved: equal for a merged message and for
    /// its frames taken in turn.
    fn flattened(identified: &Identified) -> Vec<(Item, Vec<Option<Sent>>)> {
        identified
            .items
            .iter()
            .map(|item| match item {
                Item::Tile {
                    tile,
                    versions,
                    paints,
                } => (
                    Item::Tile {
                        tile: *tile,
                        versions: *versions,
                        paints: 0..0,
                    },
                    identified.paints[paints.clone()].to_vec(),
                ),
                other => (other.clone(), Vec::new()),
            })
            .collect()
    }

    #[test]
    fn a_merged_message_identifies_as_its_frames_in_turn() {
        let ctx = context(Codec::Tessera);
        let frame = |seqs: &[u64]| {
            let mut out = Vec::new();
            for &seq in seqs {
                let (tx, ty, change) = locate(ctx.plan.paint(seq));
                let update = TileUpdate {
                    board: 0,
                    tx,
                    ty,
                    base_version: seq,
                    version: seq + 1,
                    changes: vec![change],
                };
                encode_server_into(&ServerMessage::TileUpdate(update), &mut out);
            }
            out
        };
        let (a, b) = (frame(&[1, 2, 3]), frame(&[4, 60]));
        let read = |bytes: &[u8]| {
            let mut identified = Identified::default();
            identified.read(&ctx, bytes);
            flattened(&identified)
        };
        let merged = read(&[a.clone(), b.clone()].concat());
        assert_eq!(merged.len(), 5);
        // Each tile's updates in the order they came, whichever frame they came in: what the
        // viewer checks the versions against. (Between tiles, items are in tile order.)
        let per_tile = |items: &[(Item, Vec<Option<Sent>>)], tile: u32| -> Vec<_> {
            items
                .iter()
                .filter(|(item, _)| item.tile() == tile)
                .cloned()
                .collect()
        };
        let in_turn = [read(&a), read(&b)].concat();
        for tile in 0..4 {
            assert_eq!(per_tile(&merged, tile), per_tile(&in_turn, tile));
        }
        assert!(merged.is_sorted_by_key(|(item, _)| item.tile()));
        let tile_of_3 = ctx
            .tile_of(ctx.plan.paint(3).x, ctx.plan.paint(3).y)
            .unwrap() as u32;
        let tile_of_60 = ctx
            .tile_of(ctx.plan.paint(60).x, ctx.plan.paint(60).y)
            .unwrap() as u32;
        assert_eq!(
            tile_of_3, tile_of_60,
            "the case that matters: one tile in both frames"
        );
    }
}

//! Board geometry: pixel and tile coordinates, rectangles and viewports. Depends on nothing.
//!
//! Every value here is validated on construction against a [`BoardGeometry`], so code above this
//! floor never re-checks bounds: a [`PixelPos`] is inside its board, a [`TileCoord`] names an
//! existing tile and a [`Viewport`] is clipped to the board and bounded in area.

use std::fmt;

/// Smallest and largest accepted tile edge, in pixels. Below 16 the per-tile overhead (an actor,
/// a frame header, a subscription) dominates the pixels it carries; above 1024 one tile is a
/// megabyte, so a viewer subscribes to far more pixels than it shows and one hot tile serialises
/// too many paints on one core.
pub const MIN_TILE_SIZE: u32 = 16;
pub const MAX_TILE_SIZE: u32 = 1024;
/// Largest board edge. Tile coordinates travel as `u16`, and 65,536 x 65,536 is PixelPlanet's
/// largest canvas; beyond it a single process cannot hold the pixels anyway.
pub const MAX_BOARD_EDGE: u32 = 65_536;

/// The shape of one board: its size and how it is cut into square tiles. Edge tiles are partial
/// when `tile_size` does not divide the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardGeometry {
    width: u32,
    height: u32,
    tile_size: u32,
    /// Derived once: routing a pixel to its tile and indexing tiles run for every paint and
    /// every update, and a division by a size only known at run time is a `div` each time.
    tile_shift: u32,
    tiles_x: u32,
    tiles_y: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error(
        "tile size {0} is invalid: it must be a power of two between {MIN_TILE_SIZE} and {MAX_TILE_SIZE}"
    )]
    TileSize(u32),
    #[error(
        "board size {width}x{height} is invalid: each edge must be between 1 and {MAX_BOARD_EDGE}"
    )]
    BoardSize { width: u32, height: u32 },
}

impl BoardGeometry {
    pub fn new(width: u32, height: u32, tile_size: u32) -> Result<Self, GeometryError> {
        if !tile_size.is_power_of_two() || !(MIN_TILE_SIZE..=MAX_TILE_SIZE).contains(&tile_size) {
            return Err(GeometryError::TileSize(tile_size));
        }
        if !(1..=MAX_BOARD_EDGE).contains(&width) || !(1..=MAX_BOARD_EDGE).contains(&height) {
            return Err(GeometryError::BoardSize { width, height });
        }
        Ok(Self {
            width,
            height,
            tile_size,
            tile_shift: tile_size.trailing_zeros(),
            tiles_x: width.div_ceil(tile_size),
            tiles_y: height.div_ceil(tile_size),
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn tile_size(&self) -> u32 {
        self.tile_size
    }
    pub fn pixel_count(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
    /// Tiles per row.
    pub fn tiles_x(&self) -> u32 {
        self.tiles_x
    }
    /// Tiles per column.
    pub fn tiles_y(&self) -> u32 {
        self.tiles_y
    }
    pub fn tile_count(&self) -> usize {
        self.tiles_x() as usize * self.tiles_y() as usize
    }

    /// The pixel at `(x, y)`, if it lies on the board.
    pub fn pixel(&self, x: u32, y: u32) -> Option<PixelPos> {
        (x < self.width && y < self.height).then_some(PixelPos { x, y })
    }

    /// The tile at `(tx, ty)`, if it exists.
    pub fn tile(&self, tx: u32, ty: u32) -> Option<TileCoord> {
        (tx < self.tiles_x() && ty < self.tiles_y()).then_some(TileCoord {
            // Both fit: tiles_x <= MAX_BOARD_EDGE / MIN_TILE_SIZE.
            tx: tx as u16,
            ty: ty as u16,
        })
    }

    /// The tile holding `pos` and the pixel's row-major index inside that tile.
    pub fn locate(&self, pos: PixelPos) -> (TileCoord, u32) {
        let (tx, ty) = (pos.x >> self.tile_shift, pos.y >> self.tile_shift);
        let tile = TileCoord {
            tx: tx as u16,
            ty: ty as u16,
        };
        let rect = self.tile_rect(tile);
        let offset = (pos.y - rect.y) * rect.width + (pos.x - rect.x);
        (tile, offset)
    }

    /// The pixels a tile covers (smaller than `tile_size` for partial edge tiles).
    pub fn tile_rect(&self, tile: TileCoord) -> Rect {
        let x = u32::from(tile.tx) * self.tile_size;
        let y = u32::from(tile.ty) * self.tile_size;
        Rect {
            x,
            y,
            width: self.tile_size.min(self.width - x),
            height: self.tile_size.min(self.height - y),
        }
    }

    /// Row-major index of a tile, for dense per-tile arrays.
    pub fn tile_index(&self, tile: TileCoord) -> usize {
        usize::from(tile.ty) * self.tiles_x() as usize + usize::from(tile.tx)
    }

    /// Every tile of the board, row by row.
    pub fn all_tiles(&self) -> impl Iterator<Item = TileCoord> + use<> {
        let (tiles_x, tiles_y) = (self.tiles_x(), self.tiles_y());
        (0..tiles_y).flat_map(move |ty| {
            (0..tiles_x).map(move |tx| TileCoord {
                tx: tx as u16,
                ty: ty as u16,
            })
        })
    }

    /// Clips `rect` to the board; `None` when nothing of it is on the board.
    pub fn clip(&self, rect: Rect) -> Option<Rect> {
        let x0 = rect.x.min(self.width);
        let y0 = rect.y.min(self.height);
        let x1 = rect.x.saturating_add(rect.width).min(self.width);
        let y1 = rect.y.saturating_add(rect.height).min(self.height);
        (x1 > x0 && y1 > y0).then_some(Rect {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        })
    }

    /// The tiles a clipped viewport intersects, row by row.
    pub fn tiles_in(&self, viewport: &Viewport) -> impl Iterator<Item = TileCoord> + use<> {
        self.tile_span(viewport).tiles()
    }

    /// The rectangle of tiles a clipped viewport intersects.
    pub fn tile_span(&self, viewport: &Viewport) -> TileSpan {
        let r = viewport.rect;
        let shift = self.tile_shift;
        let tile = |x: u32, y: u32| TileCoord {
            tx: (x >> shift) as u16,
            ty: (y >> shift) as u16,
        };
        TileSpan {
            first: tile(r.x, r.y),
            last: tile(r.x + r.width - 1, r.y + r.height - 1),
        }
    }
}

/// A non-empty rectangle of tiles, from `first` (top left) to `last` (bottom right), inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSpan {
    pub first: TileCoord,
    pub last: TileCoord,
}

impl TileSpan {
    pub fn contains(&self, tile: TileCoord) -> bool {
        (self.first.tx..=self.last.tx).contains(&tile.tx)
            && (self.first.ty..=self.last.ty).contains(&tile.ty)
    }

    pub fn count(&self) -> usize {
        (usize::from(self.last.tx - self.first.tx) + 1)
            * (usize::from(self.last.ty - self.first.ty) + 1)
    }

    /// Every tile of the span, row by row.
    pub fn tiles(self) -> impl Iterator<Item = TileCoord> {
        (self.first.ty..=self.last.ty)
            .flat_map(move |ty| (self.first.tx..=self.last.tx).map(move |tx| TileCoord { tx, ty }))
    }
}

/// A pixel known to lie on its board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelPos {
    pub x: u32,
    pub y: u32,
}

/// A tile known to exist on its board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileCoord {
    pub tx: u16,
    pub ty: u16,
}

impl fmt::Display for TileCoord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.tx, self.ty)
    }
}

/// A rectangle of pixels. Not validated: use [`BoardGeometry::clip`] to bring it onto a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// A non-empty rectangle of one board, clipped to it and no larger than the area limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    rect: Rect,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewportError {
    #[error("viewport {width}x{height} at ({x}, {y}) does not overlap the board")]
    OffBoard {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
    #[error("viewport of {area} pixels exceeds the limit of {limit} pixels")]
    TooLarge { area: u64, limit: u64 },
}

impl Viewport {
    /// Clips `requested` to the board and checks the area of what remains against `max_area`.
    pub fn new(
        geometry: &BoardGeometry,
        requested: Rect,
        max_area: u64,
    ) -> Result<Self, ViewportError> {
        let rect = geometry.clip(requested).ok_or(ViewportError::OffBoard {
            x: requested.x,
            y: requested.y,
            width: requested.width,
            height: requested.height,
        })?;
        if rect.area() > max_area {
            return Err(ViewportError::TooLarge {
                area: rect.area(),
                limit: max_area,
            });
        }
        Ok(Self { rect })
    }

    pub fn rect(&self) -> Rect {
        self.rect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(w: u32, h: u32, t: u32) -> BoardGeometry {
        BoardGeometry::new(w, h, t).expect("valid test geometry")
    }

    #[test]
    fn tile_size_must_be_a_power_of_two_in_range() {
        assert_eq!(
            BoardGeometry::new(100, 100, 48),
            Err(GeometryError::TileSize(48))
        );
        assert_eq!(
            BoardGeometry::new(100, 100, 8),
            Err(GeometryError::TileSize(8))
        );
        assert_eq!(
            BoardGeometry::new(100, 100, 2048),
            Err(GeometryError::TileSize(2048))
        );
        assert!(BoardGeometry::new(100, 100, 16).is_ok());
    }

    #[test]
    fn edge_tiles_are_partial() {
        let g = geo(100, 70, 64);
        assert_eq!((g.tiles_x(), g.tiles_y()), (2, 2));
        let edge = g.tile(1, 1).unwrap();
        assert_eq!(
            g.tile_rect(edge),
            Rect {
                x: 64,
                y: 64,
                width: 36,
                height: 6
            }
        );
    }

    #[test]
    fn locate_gives_row_major_offset_inside_partial_tile() {
        let g = geo(100, 70, 64);
        let (tile, offset) = g.locate(g.pixel(99, 69).unwrap());
        assert_eq!(tile, TileCoord { tx: 1, ty: 1 });
        assert_eq!(offset, 5 * 36 + 35);
        assert!(g.pixel(100, 0).is_none());
    }

    #[test]
    fn viewport_is_clipped_and_lists_intersecting_tiles() {
        let g = geo(256, 256, 64);
        let v = Viewport::new(
            &g,
            Rect {
                x: 60,
                y: 200,
                width: 1000,
                height: 10,
            },
            1 << 20,
        )
        .unwrap();
        assert_eq!(
            v.rect(),
            Rect {
                x: 60,
                y: 200,
                width: 196,
                height: 10
            }
        );
        let tiles: Vec<_> = g.tiles_in(&v).collect();
        assert_eq!(tiles.len(), 4);
        assert_eq!(tiles[0], TileCoord { tx: 0, ty: 3 });
        let span = g.tile_span(&v);
        assert_eq!(
            (span.first, span.last, span.count()),
            (TileCoord { tx: 0, ty: 3 }, TileCoord { tx: 3, ty: 3 }, 4)
        );
        assert!(tiles.iter().all(|&t| span.contains(t)));
        assert!(
            !span.contains(TileCoord { tx: 0, ty: 2 })
                && !span.contains(TileCoord { tx: 4, ty: 3 })
        );
    }

    #[test]
    fn viewport_area_is_bounded_and_must_touch_the_board() {
        let g = geo(256, 256, 64);
        let big = Rect {
            x: 0,
            y: 0,
            width: 256,
            height: 256,
        };
        assert!(matches!(
            Viewport::new(&g, big, 1000),
            Err(ViewportError::TooLarge { .. })
        ));
        let off = Rect {
            x: 300,
            y: 0,
            width: 10,
            height: 10,
        };
        assert!(matches!(
            Viewport::new(&g, off, 1000),
            Err(ViewportError::OffBoard { .. })
        ));
    }
}

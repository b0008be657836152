//! The overview pyramid: the board downsampled by 2, 4, 8, ... and cut into 256-pixel tiles, so
//! a client zoomed far out fetches a few small tiles instead of the whole board.
//!
//! Pure data and maths, no actors: the supervisor builds it from the restored pixels, the
//! refresh loop ([`super::overview_refresh`]) feeds it the tiles that changed, and HTTP reads it.
//!
//! # Levels
//! Level `L >= 1` is the board downsampled by `2^L` in each direction: `ceil(W / 2^L)` by
//! `ceil(H / 2^L)` pixels. Each level-`L` pixel is computed from its (up to) four children at
//! level `L - 1` (level 0 is the board itself). The top level, [`Overview::levels`], is the first
//! one that fits in a single [`OVERVIEW_TILE`].
//!
//! # Memory
//! Every level is stored whole, one byte per pixel: together they cost about a third of the
//! board's pixel bytes (1/4 + 1/16 + ... < 1/3), e.g. ~1.3 GiB next to the 4 GiB of a
//! 65,536 x 65,536 board. Each level is one `Vec<u8>` behind its own lock, so a reader copies
//! out at most 256 x 256 bytes and never waits for a whole refresh.
//!
//! # Time
//! Downsampling costs a few nanoseconds per board pixel it covers (level 1 dominates): building
//! the overview of a fully painted 16,384 x 16,384 board at start takes well under a second in
//! a release build; a refresh round costs in proportion to the tiles that changed.

use bytes::Bytes;
use parking_lot::RwLock;

use crate::geometry::{BoardGeometry, Rect, TileCoord};

/// Edge of an overview tile in pixels, whatever the board's own `tile_size`: a client gets the
/// same few requests per screen at every zoom level. Edge tiles are smaller.
pub const OVERVIEW_TILE: u32 = 256;

/// An overview tile that does not exist; the messages complete "board \"main\" ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverviewError {
    #[error("has overview levels 1..={levels}, not {level}")]
    NoSuchLevel { level: u32, levels: u32 },
    #[error(
        "has no overview tile ({tx}, {ty}) at level {level}, which is {tiles_x}x{tiles_y} tiles"
    )]
    NoSuchTile {
        level: u32,
        tx: u32,
        ty: u32,
        tiles_x: u32,
        tiles_y: u32,
    },
}

/// One overview tile, copied out of its level.
#[derive(Debug, Clone)]
pub struct OverviewTile {
    pub width: u32,
    pub height: u32,
    /// See [`Overview::round_version`]: the version of the refresh round that last changed
    /// these pixels, 0 if none did.
    pub version: u64,
    /// One palette index per pixel, row-major, `width * height` bytes.
    pub pixels: Bytes,
}

/// Pixels of one board tile for level 1: the part `area` of tile `coord` (tile-local, with
/// even edges except where the board ends, so it holds whole 2 x 2 blocks), row-major.
#[derive(Debug, Clone, Copy)]
pub struct TilePatch<'a> {
    pub coord: TileCoord,
    pub area: Rect,
    pub pixels: &'a [u8],
}

/// The pyramid of one board. Levels are indexed from 1, as in the URLs.
#[derive(Debug)]
pub struct Overview {
    geometry: BoardGeometry,
    background: u8,
    /// Random per start: part of every ETag, so versions of another run never match.
    boot: u64,
    /// `levels[0]` is level 1.
    levels: Vec<Level>,
    /// Version handed to the last update round; rounds get strictly increasing versions.
    last_round: parking_lot::Mutex<u64>,
}

#[derive(Debug)]
struct Level {
    width: u32,
    height: u32,
    tiles_x: u32,
    tiles_y: u32,
    data: RwLock<LevelData>,
}

/// Pixels and tile versions under one lock, so a reader always gets a tile's pixels together
/// with the version they belong to.
#[derive(Debug)]
struct LevelData {
    pixels: Vec<u8>,
    /// Row-major by overview tile.
    versions: Vec<u64>,
}

/// Size of level `level` of a `width` x `height` board.
pub fn level_size(width: u32, height: u32, level: u32) -> (u32, u32) {
    // At most `edge`, so it fits; u64 because `level` may reach 32 and beyond.
    let shrink = |edge: u32| u64::from(edge).div_ceil(1u64 << level.min(63)) as u32;
    (shrink(width), shrink(height))
}

/// The top level: the smallest `L >= 1` whose level fits in one overview tile.
pub fn level_count(width: u32, height: u32) -> u32 {
    let mut level = 1;
    loop {
        let (w, h) = level_size(width, height, level);
        if w <= OVERVIEW_TILE && h <= OVERVIEW_TILE {
            return level;
        }
        level += 1;
    }
}

/// The value of a pixel from its children in the order top-left, top-right, bottom-left,
/// bottom-right (those that exist, at least one). Palette indices cannot be averaged, so it is
/// the most frequent child; a tie goes to a value that is not `background` (a lone drawing on an
/// empty board stays visible when zoomed out), then to the earliest child.
pub fn downsample_pixel(children: &[u8], background: u8) -> u8 {
    let first = children[0];
    if children.iter().all(|&c| c == first) {
        return first;
    }
    let mut best = first;
    let mut best_count = 0;
    // A repeated value needs no skipping: it has the count it had at its first occurrence, and
    // the best so far only got better since.
    for &c in children {
        let count = children.iter().filter(|&&x| x == c).count();
        let wins_tie = count == best_count && best == background && c != background;
        if count > best_count || wins_tie {
            best = c;
            best_count = count;
        }
    }
    best
}

/// [`downsample_pixel`] of exactly four children that are not all equal (the caller takes that
/// common case first), without branches: on a noisy canvas a branch per comparison would
/// mostly be mispredicted, and this runs for most pixels of level 1.
///
/// Each child gets a score that orders by the rule: count first, then not being the
/// background, then earliness; the value rides in the low byte, so the maximum carries it.
fn downsample_four(a: u8, b: u8, c: u8, d: u8, background: u8) -> u8 {
    let (ab, ac, ad) = (u16::from(a == b), u16::from(a == c), u16::from(a == d));
    let (bc, bd, cd) = (u16::from(b == c), u16::from(b == d), u16::from(c == d));
    let key = |value: u8, count: u16, earliness: u16| {
        let score = count * 8 + u16::from(value != background) * 4 + earliness;
        (score << 8) | u16::from(value)
    };
    let best = key(a, 1 + ab + ac + ad, 3)
        .max(key(b, 1 + ab + bc + bd, 2))
        .max(key(c, 1 + ac + bc + cd, 1))
        .max(key(d, 1 + ad + bd + cd, 0));
    (best & 0xFF) as u8
}

/// A source of children: a row-major grid of pixels of the level below, whose top-left pixel is
/// at `(x, y)` in that level. Children outside the grid do not exist, which is exact for a
/// whole level and for a board tile (its edges are even, or the board's edges).
#[derive(Debug, Clone, Copy)]
struct Grid<'a> {
    pixels: &'a [u8],
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

/// Recomputes the cells of `rect` in `dst` (a level `dst_width` wide) from `src`. True when any
/// of them changed.
fn downsample_rect(
    src: Grid<'_>,
    dst: &mut [u8],
    dst_width: u32,
    rect: Rect,
    background: u8,
) -> bool {
    let mut changed = false;
    let src_w = src.width as usize;
    for cy in rect.y..rect.y + rect.height {
        let sy = (2 * cy - src.y) as usize;
        // Children of the first cell onwards; a last child alone is the end of the grid.
        let first = sy * src_w + (2 * rect.x - src.x) as usize;
        let top = src.pixels[first..(sy + 1) * src_w].chunks(2);
        let dst_row = cy as usize * dst_width as usize;
        let cells = &mut dst[dst_row + rect.x as usize..dst_row + (rect.x + rect.width) as usize];
        // The bottom row of a grid with an odd height has no children below it.
        if sy + 1 < src.height as usize {
            let bottom = src.pixels[first + src_w..(sy + 2) * src_w].chunks(2);
            for ((cell, t), b) in cells.iter_mut().zip(top).zip(bottom) {
                let value = match (t, b) {
                    (&[tl, tr], &[bl, br]) if tl == tr && tl == bl && tl == br => tl,
                    (&[tl, tr], &[bl, br]) => downsample_four(tl, tr, bl, br, background),
                    _ => downsample_pixel(&[t[0], b[0]], background),
                };
                changed |= *cell != value;
                *cell = value;
            }
        } else {
            for (cell, t) in cells.iter_mut().zip(top) {
                let value = downsample_pixel(t, background);
                changed |= *cell != value;
                *cell = value;
            }
        }
    }
    changed
}

/// `rect` cut along the overview tile grid, as (tile index in a row of `tiles_x`, piece).
fn split_by_tiles(rect: Rect, tiles_x: u32) -> impl Iterator<Item = (usize, Rect)> {
    let (tx0, ty0) = (rect.x / OVERVIEW_TILE, rect.y / OVERVIEW_TILE);
    let tx1 = (rect.x + rect.width - 1) / OVERVIEW_TILE;
    let ty1 = (rect.y + rect.height - 1) / OVERVIEW_TILE;
    (ty0..=ty1).flat_map(move |ty| {
        (tx0..=tx1).map(move |tx| {
            let x0 = rect.x.max(tx * OVERVIEW_TILE);
            let y0 = rect.y.max(ty * OVERVIEW_TILE);
            let x1 = (rect.x + rect.width).min((tx + 1) * OVERVIEW_TILE);
            let y1 = (rect.y + rect.height).min((ty + 1) * OVERVIEW_TILE);
            let piece = Rect {
                x: x0,
                y: y0,
                width: x1 - x0,
                height: y1 - y0,
            };
            ((ty * tiles_x + tx) as usize, piece)
        })
    })
}

impl Level {
    fn new(width: u32, height: u32, background: u8) -> Self {
        let tiles_x = width.div_ceil(OVERVIEW_TILE);
        let tiles_y = height.div_ceil(OVERVIEW_TILE);
        Self {
            width,
            height,
            tiles_x,
            tiles_y,
            data: RwLock::new(LevelData {
                // An unpainted board downsamples to background everywhere.
                pixels: vec![background; width as usize * height as usize],
                versions: vec![0; tiles_x as usize * tiles_y as usize],
            }),
        }
    }

    /// `rect` (in this level's pixels) clipped to the level.
    fn clip(&self, rect: Rect) -> Rect {
        Rect {
            x: rect.x,
            y: rect.y,
            width: rect.width.min(self.width - rect.x),
            height: rect.height.min(self.height - rect.y),
        }
    }
}

impl Overview {
    /// An overview of an unpainted board: every level is `background`, every version 0.
    pub fn new(geometry: BoardGeometry, background: u8, boot: u64) -> Self {
        let (width, height) = (geometry.width(), geometry.height());
        let levels = (1..=level_count(width, height))
            .map(|level| {
                let (w, h) = level_size(width, height, level);
                Level::new(w, h, background)
            })
            .collect();
        Self {
            geometry,
            background,
            boot,
            levels,
            last_round: parking_lot::Mutex::new(0),
        }
    }

    /// The top level; levels run `1..=levels()`.
    pub fn levels(&self) -> u32 {
        self.levels.len() as u32
    }

    /// Random per start of the server; goes into ETags.
    pub fn boot(&self) -> u64 {
        self.boot
    }

    fn level(&self, level: u32) -> Result<&Level, OverviewError> {
        (level >= 1)
            .then(|| self.levels.get(level as usize - 1))
            .flatten()
            .ok_or(OverviewError::NoSuchLevel {
                level,
                levels: self.levels(),
            })
    }

    /// Overview tiles per row and column of `level`.
    pub fn tile_grid(&self, level: u32) -> Result<(u32, u32), OverviewError> {
        let l = self.level(level)?;
        Ok((l.tiles_x, l.tiles_y))
    }

    /// A copy of overview tile `(tx, ty)` of `level` and its version.
    pub fn read_tile(&self, level: u32, tx: u32, ty: u32) -> Result<OverviewTile, OverviewError> {
        let l = self.level(level)?;
        if tx >= l.tiles_x || ty >= l.tiles_y {
            return Err(OverviewError::NoSuchTile {
                level,
                tx,
                ty,
                tiles_x: l.tiles_x,
                tiles_y: l.tiles_y,
            });
        }
        let rect = l.clip(Rect {
            x: tx * OVERVIEW_TILE,
            y: ty * OVERVIEW_TILE,
            width: OVERVIEW_TILE,
            height: OVERVIEW_TILE,
        });
        let mut pixels = Vec::with_capacity(rect.area() as usize);
        let data = l.data.read();
        for row in rect.y..rect.y + rect.height {
            let start = row as usize * l.width as usize + rect.x as usize;
            pixels.extend_from_slice(&data.pixels[start..start + rect.width as usize]);
        }
        let version = data.versions[(ty * l.tiles_x + tx) as usize];
        Ok(OverviewTile {
            width: rect.width,
            height: rect.height,
            version,
            pixels: pixels.into(),
        })
    }

    /// The version an update round stamps on the tiles it changes: the board version read at
    /// the start of the round, or one more than the previous round's if that is not larger.
    ///
    /// The board version alone could repeat: a tile may apply a batch (and be read by this
    /// round) a moment before the batch is added to the board version, so two rounds could
    /// read the same board version and yet see different pixels. Strictly increasing round
    /// versions keep "same version, same pixels" true for every ETag.
    pub fn round_version(&self, board_version: u64) -> u64 {
        let mut last = self.last_round.lock();
        *last = board_version.max(*last + 1);
        *last
    }

    /// Recomputes level 1 over `patches` and stamps `version` on the overview tiles that
    /// changed; pushes the level-1 rectangle each patch covered onto `touched`, for
    /// [`Overview::propagate`].
    ///
    /// All of it happens under one lock, so a reader never sees a level-1 overview tile half
    /// updated: pass every changed board tile of an overview tile in one call. A level-1 pixel
    /// never straddles two board tiles (`tile_size` is even) nor two patches (their edges are
    /// even), so each patch is enough for its own part. Higher levels follow in
    /// [`Overview::propagate`].
    pub fn apply_tiles(&self, version: u64, patches: &[TilePatch<'_>], touched: &mut Vec<Rect>) {
        let level = &self.levels[0];
        let mut data = level.data.write();
        let LevelData { pixels, versions } = &mut *data;
        for patch in patches {
            let tile = self.geometry.tile_rect(patch.coord);
            let area = patch.area;
            assert!(
                area.width > 0
                    && area.height > 0
                    && area.x % 2 == 0
                    && area.y % 2 == 0
                    && area.x + area.width <= tile.width
                    && area.y + area.height <= tile.height
                    && patch.pixels.len() == area.area() as usize,
                "patch {area:?} of tile {} must be a non-empty even-edged part of the tile, with its pixels",
                patch.coord
            );
            let src = Grid {
                pixels: patch.pixels,
                x: tile.x + area.x,
                y: tile.y + area.y,
                width: area.width,
                height: area.height,
            };
            let block = level.clip(parent_cells(Rect {
                x: src.x,
                y: src.y,
                width: area.width,
                height: area.height,
            }));
            for (tile, piece) in split_by_tiles(block, level.tiles_x) {
                if downsample_rect(src, pixels, level.width, piece, self.background) {
                    versions[tile] = version;
                }
            }
            touched.push(block);
        }
    }

    /// Recomputes levels 2 and up above the level-1 rectangles `touched` (as
    /// [`Overview::apply_tiles`] reported them, once it brought level 1 up to date there),
    /// stamping `version` on the overview tiles that changed. Work is proportional to the
    /// changed area: at each level only the cells above changed cells are recomputed, each
    /// overview tile under one lock.
    pub fn propagate(&self, version: u64, touched: &[Rect]) {
        let mut rects = touched.to_vec();
        for index in 1..self.levels.len() {
            let (below, above) = self.levels.split_at(index);
            let (src_level, dst_level) = (&below[index - 1], &above[0]);
            // The cells above, cut along overview tiles and deduplicated: far up the pyramid
            // many changes share the same few cells. (Pieces that only overlap are recomputed
            // twice, which gives the same pixels.)
            let mut pieces: Vec<(usize, Rect)> = rects
                .iter()
                .flat_map(|&r| split_by_tiles(dst_level.clip(parent_cells(r)), dst_level.tiles_x))
                .collect();
            pieces.sort_unstable_by_key(|&(tile, r)| (tile, r.y, r.x, r.height, r.width));
            pieces.dedup();
            // One update runs at a time (the build at start, then the refresh loop), so the
            // level below does not change while it is read.
            let src_data = src_level.data.read();
            let src = Grid {
                pixels: &src_data.pixels,
                x: 0,
                y: 0,
                width: src_level.width,
                height: src_level.height,
            };
            for group in pieces.chunk_by(|a, b| a.0 == b.0) {
                let mut dst = dst_level.data.write();
                let LevelData { pixels, versions } = &mut *dst;
                let mut changed = false;
                for &(_, rect) in group {
                    changed |= downsample_rect(src, pixels, dst_level.width, rect, self.background);
                }
                if changed {
                    versions[group[0].0] = version;
                }
            }
            rects = pieces.into_iter().map(|(_, r)| r).collect();
        }
    }
}

/// The cells one level up whose children include a pixel of `rect`.
fn parent_cells(rect: Rect) -> Rect {
    let (x, y) = (rect.x / 2, rect.y / 2);
    Rect {
        x,
        y,
        width: (rect.x + rect.width).div_ceil(2) - x,
        height: (rect.y + rect.height).div_ceil(2) - y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BG: u8 = 31;

    fn geo(w: u32, h: u32, t: u32) -> BoardGeometry {
        BoardGeometry::new(w, h, t).expect("valid test geometry")
    }

    /// xorshift64*: deterministic test data without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u32) -> u32 {
            (self.next() % u64::from(n)) as u32
        }
    }

    /// The board cut into its tiles, row-major pixels each.
    fn tiles_of(g: &BoardGeometry, board: &[u8]) -> Vec<(TileCoord, Vec<u8>)> {
        g.all_tiles()
            .map(|coord| {
                let r = g.tile_rect(coord);
                let mut pixels = Vec::with_capacity(r.area() as usize);
                for y in r.y..r.y + r.height {
                    let start = (y * g.width() + r.x) as usize;
                    pixels.extend_from_slice(&board[start..start + r.width as usize]);
                }
                (coord, pixels)
            })
            .collect()
    }

    /// Applies whole tiles.
    fn apply(o: &Overview, version: u64, tiles: &[(TileCoord, Vec<u8>)]) {
        let g = o.geometry;
        let patches: Vec<TilePatch> = tiles
            .iter()
            .map(|(coord, pixels)| {
                let r = g.tile_rect(*coord);
                TilePatch {
                    coord: *coord,
                    area: Rect {
                        x: 0,
                        y: 0,
                        width: r.width,
                        height: r.height,
                    },
                    pixels,
                }
            })
            .collect();
        apply_patches(o, version, &patches);
    }

    fn apply_patches(o: &Overview, version: u64, patches: &[TilePatch]) {
        let mut touched = vec![];
        o.apply_tiles(version, patches, &mut touched);
        o.propagate(version, &touched);
    }

    /// The part `area` (board coordinates) of `board`, row-major.
    fn cut(w: u32, board: &[u8], area: Rect) -> Vec<u8> {
        (area.y..area.y + area.height)
            .flat_map(|y| {
                let start = (y * w + area.x) as usize;
                board[start..start + area.width as usize].to_vec()
            })
            .collect()
    }

    /// Every level computed the obvious way, straight from the definition.
    fn reference(w: u32, h: u32, board: &[u8]) -> Vec<Vec<u8>> {
        let mut levels = vec![];
        let (mut src, mut sw, mut sh) = (board.to_vec(), w, h);
        for _ in 1..=level_count(w, h) {
            let (dw, dh) = (sw.div_ceil(2), sh.div_ceil(2));
            let mut dst = vec![0; (dw * dh) as usize];
            for y in 0..dh {
                for x in 0..dw {
                    let mut children = vec![];
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (cx, cy) = (2 * x + dx, 2 * y + dy);
                        if cx < sw && cy < sh {
                            children.push(src[(cy * sw + cx) as usize]);
                        }
                    }
                    dst[(y * dw + x) as usize] = downsample_pixel(&children, BG);
                }
            }
            levels.push(dst.clone());
            (src, sw, sh) = (dst, dw, dh);
        }
        levels
    }

    fn stored(o: &Overview) -> Vec<Vec<u8>> {
        o.levels
            .iter()
            .map(|l| l.data.read().pixels.clone())
            .collect()
    }

    fn versions(o: &Overview) -> Vec<Vec<u64>> {
        o.levels
            .iter()
            .map(|l| l.data.read().versions.clone())
            .collect()
    }

    #[test]
    fn level_sizes_and_counts() {
        let cases: &[(u32, u32, u32)] = &[
            (1, 1, 1),
            (256, 256, 1),
            (257, 1, 1),
            (512, 512, 1),
            (513, 1, 2),
            (1000, 1000, 2),
            (2048, 2048, 3),
            (16384, 16384, 6),
            (65536, 65536, 8),
            (65536, 1, 8),
        ];
        for &(w, h, levels) in cases {
            assert_eq!(level_count(w, h), levels, "{w}x{h}");
            let (tw, th) = level_size(w, h, levels);
            assert!(tw <= OVERVIEW_TILE && th <= OVERVIEW_TILE, "{w}x{h}");
            if levels > 1 {
                let (bw, bh) = level_size(w, h, levels - 1);
                assert!(
                    bw > OVERVIEW_TILE || bh > OVERVIEW_TILE,
                    "{w}x{h}: not the smallest"
                );
            }
        }
        assert_eq!(level_size(1, 1, 1), (1, 1));
        assert_eq!(level_size(257, 1, 1), (129, 1));
        assert_eq!(level_size(1000, 1000, 1), (500, 500));
        assert_eq!(level_size(1000, 1000, 2), (250, 250));
        assert_eq!(level_size(1000, 3, 3), (125, 1));
        assert_eq!(level_size(65536, 65536, 8), (256, 256));

        let o = Overview::new(geo(1000, 700, 64), BG, 7);
        assert_eq!(o.levels(), 2);
        assert_eq!(o.tile_grid(1), Ok((2, 2)));
        assert_eq!(o.tile_grid(2), Ok((1, 1)));
        let small = Overview::new(geo(1, 1, 16), BG, 7);
        assert_eq!(small.levels(), 1);
        let t = small.read_tile(1, 0, 0).unwrap();
        assert_eq!((t.width, t.height, t.version), (1, 1, 0));
        assert_eq!(&t.pixels[..], &[BG]);
    }

    #[test]
    fn the_most_frequent_child_wins_and_ties_avoid_the_background() {
        let (a, b, c, d) = (1, 2, 3, 4);
        let cases: &[(&[u8], u8)] = &[
            (&[a, a, a, a], a),
            (&[a, a, b, c], a),
            (&[b, c, a, a], a),
            (&[BG, BG, BG, a], BG),
            (&[BG, BG, a, b], BG),
            // Ties: a value that is not the background, then the earliest child.
            (&[BG, BG, a, a], a),
            (&[BG, a, BG, a], a),
            (&[a, b, b, a], a),
            (&[b, a, a, b], b),
            (&[a, b, c, d], a),
            (&[BG, b, c, d], b),
            (&[BG, a], a),
            (&[a, BG], a),
            (&[a, b], a),
            (&[BG, a, b], a),
            (&[BG], BG),
            (&[c], c),
        ];
        for &(children, expected) in cases {
            assert_eq!(downsample_pixel(children, BG), expected, "{children:?}");
        }
    }

    #[test]
    fn the_branchless_four_child_rule_is_the_same_rule() {
        let values = [BG, 0, 1, 2];
        for i in 0..4u32.pow(4) {
            let c: Vec<u8> = (0..4)
                .map(|k| values[(i >> (2 * k)) as usize % 4])
                .collect();
            assert_eq!(
                downsample_four(c[0], c[1], c[2], c[3], BG),
                downsample_pixel(&c, BG),
                "{c:?}"
            );
        }
    }

    #[test]
    fn edge_cells_use_only_the_children_that_exist() {
        // 3x3: level 1 is 2x2, its right column and bottom row have fewer children.
        let g = geo(3, 3, 16);
        #[rustfmt::skip]
        let board = vec![
            BG, 1, 2,
            1,  1, 2,
            3,  BG, 4,
        ];
        let o = Overview::new(g, BG, 0);
        apply(&o, 5, &tiles_of(&g, &board));
        let level1 = o.read_tile(1, 0, 0).unwrap();
        assert_eq!((level1.width, level1.height), (2, 2));
        // (0,0): BG 1 1 1 -> 1; (1,0): 2 2 -> 2; (0,1): 3 BG -> 3; (1,1): 4 -> 4.
        assert_eq!(&level1.pixels[..], &[1, 2, 3, 4]);
        assert_eq!(level1.version, 5);
        assert_eq!(stored(&o), reference(3, 3, &board));
    }

    #[test]
    fn a_fresh_overview_is_background_with_version_zero() {
        let o = Overview::new(geo(1000, 700, 64), BG, 0);
        let t = o.read_tile(1, 1, 1).unwrap();
        assert_eq!((t.width, t.height, t.version), (500 - 256, 350 - 256, 0));
        assert!(t.pixels.iter().all(|&p| p == BG));
        assert_eq!(t.pixels.len(), 244 * 94);
    }

    #[test]
    fn missing_levels_and_tiles_are_errors() {
        let o = Overview::new(geo(1000, 700, 64), BG, 0);
        assert_eq!(
            o.read_tile(0, 0, 0).unwrap_err(),
            OverviewError::NoSuchLevel {
                level: 0,
                levels: 2
            }
        );
        let err = o.read_tile(3, 0, 0).unwrap_err();
        assert_eq!(err.to_string(), "has overview levels 1..=2, not 3");
        let err = o.read_tile(1, 2, 0).unwrap_err();
        assert!(
            matches!(err, OverviewError::NoSuchTile { tiles_x: 2, .. }),
            "{err:?}"
        );
        assert!(o.read_tile(2, 0, 1).is_err());
        assert!(o.read_tile(u32::MAX, 0, 0).is_err());
    }

    #[test]
    fn round_versions_follow_the_board_and_never_repeat() {
        let o = Overview::new(geo(100, 100, 16), BG, 0);
        assert_eq!(o.round_version(10), 10);
        assert_eq!(o.round_version(10), 11);
        assert_eq!(o.round_version(11), 12);
        assert_eq!(o.round_version(50), 50);
    }

    /// Random data over a small palette (ties are common), rebuilt fully and then updated
    /// tile by tile: always equal to the reference, with versions only where pixels changed.
    #[test]
    fn incremental_updates_equal_a_full_rebuild() {
        for (w, h, ts, seed) in [
            (1000, 700, 16, 1u64),
            (600, 1100, 64, 2),
            (1030, 517, 1024, 3),
            (77, 300, 32, 4),
        ] {
            let g = geo(w, h, ts);
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let palette = [BG, 1, 2];
            let mut board: Vec<u8> = (0..w * h).map(|_| palette[rng.below(3) as usize]).collect();
            let o = Overview::new(g, BG, 0);
            apply(&o, 1, &tiles_of(&g, &board));
            assert_eq!(stored(&o), reference(w, h, &board), "{w}x{h}/{ts} full");

            for round in 2..8u64 {
                let before = stored(&o);
                let old_versions = versions(&o);
                // A few paints in a few tiles, sometimes none that change anything.
                // Each touched tile with the box (x0, y0, x1, y1, inclusive) of its paints.
                let mut touched = std::collections::BTreeMap::new();
                for _ in 0..rng.below(40) + 1 {
                    let (x, y) = (rng.below(w), rng.below(h));
                    board[(y * w + x) as usize] = palette[rng.below(3) as usize];
                    let b = touched
                        .entry(g.locate(g.pixel(x, y).unwrap()).0)
                        .or_insert((x, y, x, y));
                    *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
                }
                // Even rounds take whole tiles, odd rounds only the even-edged box around each
                // tile's paints, as tiles hand them to the refresh.
                let changed: Vec<(TileCoord, Rect, Vec<u8>)> = touched
                    .into_iter()
                    .map(|(coord, (x0, y0, x1, y1))| {
                        let t = g.tile_rect(coord);
                        let area = if round % 2 == 0 {
                            Rect {
                                x: 0,
                                y: 0,
                                width: t.width,
                                height: t.height,
                            }
                        } else {
                            let (x0, y0) = ((x0 - t.x) & !1, (y0 - t.y) & !1);
                            let x1 = (x1 + 1 - t.x).next_multiple_of(2).min(t.width);
                            let y1 = (y1 + 1 - t.y).next_multiple_of(2).min(t.height);
                            Rect {
                                x: x0,
                                y: y0,
                                width: x1 - x0,
                                height: y1 - y0,
                            }
                        };
                        let board_area = Rect {
                            x: t.x + area.x,
                            y: t.y + area.y,
                            ..area
                        };
                        (coord, area, cut(w, &board, board_area))
                    })
                    .collect();
                let patches: Vec<TilePatch> = changed
                    .iter()
                    .map(|(coord, area, pixels)| TilePatch {
                        coord: *coord,
                        area: *area,
                        pixels,
                    })
                    .collect();
                apply_patches(&o, round * 10, &patches);

                let after = stored(&o);
                assert_eq!(after, reference(w, h, &board), "{w}x{h}/{ts} round {round}");
                let new_versions = versions(&o);
                for (li, level) in o.levels.iter().enumerate() {
                    for ty in 0..level.tiles_y {
                        for tx in 0..level.tiles_x {
                            let i = (ty * level.tiles_x + tx) as usize;
                            let differs = tile_pixels(level, &before[li], tx, ty)
                                != tile_pixels(level, &after[li], tx, ty);
                            let expected = if differs {
                                round * 10
                            } else {
                                old_versions[li][i]
                            };
                            assert_eq!(
                                new_versions[li][i],
                                expected,
                                "{w}x{h}/{ts} round {round} level {} tile ({tx}, {ty})",
                                li + 1
                            );
                        }
                    }
                }
            }
        }
    }

    fn tile_pixels(level: &Level, pixels: &[u8], tx: u32, ty: u32) -> Vec<u8> {
        let r = level.clip(Rect {
            x: tx * OVERVIEW_TILE,
            y: ty * OVERVIEW_TILE,
            width: OVERVIEW_TILE,
            height: OVERVIEW_TILE,
        });
        (r.y..r.y + r.height)
            .flat_map(|y| {
                let start = (y * level.width + r.x) as usize;
                pixels[start..start + r.width as usize].to_vec()
            })
            .collect()
    }
}

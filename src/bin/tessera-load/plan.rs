//! Which pixel and colour each paint uses, and back: a bijection between paint numbers and
//! `(x, y, colour)`, so a delivery is identified by arithmetic instead of a shared lookup table.
//!
//! A *stream* of paints walks a *domain* of pixels through an affine permutation
//! `index = (a * k + b) mod N`: paint `k` of the stream hits pixel `index` of the domain in colour
//! `(k / N) mod palette_len`. So one pixel is painted again only after all `N` pixels of its
//! stream were, and no two paints of a pixel can fall into one server tick (where the server
//! would legitimately coalesce them), as long as `N` paints take several ticks (checked by the
//! run). The colour is the pass number, so `(x, y, colour)` names exactly one `k` for the first
//! `palette_len * N` paints.

use strength_reduce::StrengthReducedU64;
use tessera::geometry::Rect;

use crate::rng::Rng;

/// The golden ratio's fractional part. A multiplier near `N / phi` sends consecutive `k` as far
/// apart as possible (Fibonacci hashing), so consecutive paints scatter over the board instead of
/// sweeping one tile after another.
const SPREAD: f64 = 0.618_033_988_749_894_9;

/// In the hotspot scenario one paint in `COLD_EVERY` lands outside the hot region and the rest
/// inside it: 80 % hot, the share the scenario is defined with.
const COLD_EVERY: u64 = 5;

/// One paint: the pixel and the palette index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pixel {
    pub x: u32,
    pub y: u32,
    pub color: u8,
}

/// `k -> (a * k + b) mod n`, a bijection of `0..n` because `a` is coprime with `n`.
#[derive(Debug, Clone, Copy)]
pub struct AffinePermutation {
    n: u64,
    /// `n` prepared for `%` by multiplication: every received pixel takes one modulus, and a
    /// division would be the most expensive step of identifying it.
    modulus: StrengthReducedU64,
    a: u64,
    b: u64,
    a_inverse: u64,
}

impl AffinePermutation {
    /// A permutation of `0..n` (`n >= 1`) starting at `offset`.
    pub fn new(n: u64, offset: u64) -> Self {
        debug_assert!(n >= 1, "a permutation needs a non-empty domain");
        let n = n.max(1);
        // The first multiplier at or after n / phi that is coprime with n. The loop ends: 1 is
        // coprime with every n, and a walks through every residue.
        let mut a = ((n as f64 * SPREAD) as u64 | 1) % n;
        while gcd(a, n) != 1 {
            a = (a + 1) % n;
        }
        Self {
            n,
            modulus: StrengthReducedU64::new(n),
            a,
            b: offset % n,
            a_inverse: modular_inverse(a, n),
        }
    }

    pub fn apply(&self, k: u64) -> u64 {
        self.mul_add(self.a, k % self.modulus, self.b)
    }

    pub fn invert(&self, index: u64) -> u64 {
        let index = if index < self.n {
            index
        } else {
            index % self.modulus
        };
        // (index - b) mod n, with both below n.
        let shifted = if index >= self.b {
            index - self.b
        } else {
            index + self.n - self.b
        };
        self.mul_add(self.a_inverse, shifted, 0)
    }

    /// `(x * y + z) mod n` for `x, y, z < n`. Every board has at most 2^32 pixels, where the
    /// result fits 64-bit arithmetic (`(2^32 - 1)^2 + 2^32 - 1 < 2^64`), several times cheaper
    /// than 128-bit division on the receive path; larger domains take the 128-bit path.
    fn mul_add(&self, x: u64, y: u64, z: u64) -> u64 {
        if self.n <= SMALL_DOMAIN {
            (x * y + z) % self.modulus
        } else {
            ((u128::from(x) * u128::from(y) + u128::from(z)) % u128::from(self.n)) as u64
        }
    }
}

/// Largest domain for 64-bit arithmetic in [`AffinePermutation`]: operands stay below 2^32.
const SMALL_DOMAIN: u64 = 1 << 32;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `a^-1 mod n` for `a` coprime with `n` (extended Euclid).
fn modular_inverse(a: u64, n: u64) -> u64 {
    let (mut old_r, mut r) = (i128::from(a), i128::from(n));
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    old_s.rem_euclid(i128::from(n)) as u64
}

/// The pixels one stream walks, numbered `0..len()` row by row.
#[derive(Debug, Clone, Copy)]
enum Domain {
    /// Every pixel of a rectangle.
    Inside(Rect),
    /// Every pixel of a `width x height` board outside `hole`, which lies inside the board.
    Outside { width: u32, height: u32, hole: Rect },
}

impl Domain {
    fn len(&self) -> u64 {
        match *self {
            Domain::Inside(r) => r.area(),
            Domain::Outside {
                width,
                height,
                hole,
            } => u64::from(width) * u64::from(height) - hole.area(),
        }
    }

    fn pixel(&self, index: u64) -> (u32, u32) {
        match *self {
            Domain::Inside(r) => {
                let w = u64::from(r.width);
                (r.x + (index % w) as u32, r.y + (index / w) as u32)
            }
            Domain::Outside { width, hole, .. } => {
                let w = u64::from(width);
                let above = u64::from(hole.y) * w;
                if index < above {
                    return ((index % w) as u32, (index / w) as u32);
                }
                // Rows beside the hole hold `width - hole.width` pixels each.
                let side = w - u64::from(hole.width);
                let beside = u64::from(hole.height) * side;
                let index = index - above;
                if index < beside {
                    let (row, col) = (index / side, (index % side) as u32);
                    let x = if col < hole.x { col } else { col + hole.width };
                    return (x, hole.y + row as u32);
                }
                let index = index - beside;
                (
                    (index % w) as u32,
                    hole.y + hole.height + (index / w) as u32,
                )
            }
        }
    }

    fn index(&self, x: u32, y: u32) -> Option<u64> {
        match *self {
            Domain::Inside(r) => contains(r, x, y)
                .then(|| u64::from(y - r.y) * u64::from(r.width) + u64::from(x - r.x)),
            Domain::Outside {
                width,
                height,
                hole,
            } => {
                if x >= width || y >= height || contains(hole, x, y) {
                    return None;
                }
                let w = u64::from(width);
                let above = u64::from(hole.y) * w;
                if y < hole.y {
                    return Some(u64::from(y) * w + u64::from(x));
                }
                let side = w - u64::from(hole.width);
                let beside = u64::from(hole.height) * side;
                if y < hole.y + hole.height {
                    let col = if x < hole.x { x } else { x - hole.width };
                    return Some(above + u64::from(y - hole.y) * side + u64::from(col));
                }
                let row = u64::from(y - hole.y - hole.height);
                Some(above + beside + row * w + u64::from(x))
            }
        }
    }
}

fn contains(r: Rect, x: u32, y: u32) -> bool {
    x >= r.x && y >= r.y && x - r.x < r.width && y - r.y < r.height
}

/// Paints `0, 1, 2, ...` of one stream over one domain.
#[derive(Debug, Clone)]
struct Stream {
    domain: Domain,
    permutation: AffinePermutation,
    palette_len: u64,
}

impl Stream {
    fn new(domain: Domain, palette_len: u64, rng: &mut Rng) -> Self {
        let n = domain.len();
        Self {
            domain,
            permutation: AffinePermutation::new(n, rng.below(n)),
            palette_len,
        }
    }

    fn paint(&self, k: u64) -> Pixel {
        let n = self.domain.len();
        let (x, y) = self.domain.pixel(self.permutation.apply(k % n));
        Pixel {
            x,
            y,
            // palette_len <= 256, so the pass number modulo it fits a u8.
            color: ((k / n) % self.palette_len) as u8,
        }
    }

    fn identify(&self, x: u32, y: u32, color: u8) -> Option<u64> {
        if u64::from(color) >= self.palette_len {
            return None;
        }
        let index = self.domain.index(x, y)?;
        Some(u64::from(color) * self.domain.len() + self.permutation.invert(index))
    }

    /// Paints this stream can tell apart: one pass over the domain per colour.
    fn capacity(&self) -> u64 {
        self.palette_len * self.domain.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("a palette of {0} colours cannot be painted with (need 1 to 256)")]
    Palette(usize),
    #[error(
        "the hot region {hot_width}x{hot_height} covers the whole {width}x{height} board, leaving no pixel for the paints outside it; use a larger board"
    )]
    NoColdPixels {
        width: u32,
        height: u32,
        hot_width: u32,
        hot_height: u32,
    },
}

#[derive(Debug, Clone)]
enum Layout {
    /// One stream over the whole board.
    Uniform(Stream),
    /// Paint `seq` is cold when `seq % COLD_EVERY == 0`, hot otherwise.
    Hotspot { hot: Stream, cold: Stream },
}

/// Where every paint of a run goes, and which paint a received pixel was.
#[derive(Debug, Clone)]
pub struct PaintPlan {
    layout: Layout,
}

impl PaintPlan {
    /// Paints spread uniformly over a `width x height` board.
    pub fn uniform(
        width: u32,
        height: u32,
        palette_len: usize,
        seed: u64,
    ) -> Result<Self, PlanError> {
        let palette = palette(palette_len)?;
        let mut rng = Rng::derive(seed, crate::rng::stream::PLAN);
        let board = Rect {
            x: 0,
            y: 0,
            width,
            height,
        };
        Ok(Self {
            layout: Layout::Uniform(Stream::new(Domain::Inside(board), palette, &mut rng)),
        })
    }

    /// 80 % of paints inside `hot` (which lies inside the board), 20 % over the rest.
    pub fn hotspot(
        width: u32,
        height: u32,
        hot: Rect,
        palette_len: usize,
        seed: u64,
    ) -> Result<Self, PlanError> {
        let palette = palette(palette_len)?;
        let outside = Domain::Outside {
            width,
            height,
            hole: hot,
        };
        if outside.len() == 0 {
            return Err(PlanError::NoColdPixels {
                width,
                height,
                hot_width: hot.width,
                hot_height: hot.height,
            });
        }
        let mut rng = Rng::derive(seed, crate::rng::stream::PLAN);
        Ok(Self {
            layout: Layout::Hotspot {
                hot: Stream::new(Domain::Inside(hot), palette, &mut rng),
                cold: Stream::new(outside, palette, &mut rng),
            },
        })
    }

    pub fn paint(&self, seq: u64) -> Pixel {
        match &self.layout {
            Layout::Uniform(stream) => stream.paint(seq),
            Layout::Hotspot { hot, cold, .. } => match hot_index(seq) {
                Some(k) => hot.paint(k),
                None => cold.paint(seq / COLD_EVERY),
            },
        }
    }

    /// The paint that puts `color` on `(x, y)`, if any paint of this plan does.
    pub fn identify(&self, x: u32, y: u32, color: u8) -> Option<u64> {
        match &self.layout {
            Layout::Uniform(stream) => stream.identify(x, y, color),
            // The two domains are disjoint: at most one of them knows the pixel.
            Layout::Hotspot { hot, cold } => hot
                .identify(x, y, color)
                .map(hot_seq)
                .or_else(|| cold.identify(x, y, color).map(|k| k * COLD_EVERY)),
        }
    }

    /// Paints `0..capacity()` all have distinct `(x, y, colour)`.
    pub fn capacity(&self) -> u64 {
        match &self.layout {
            Layout::Uniform(stream) => stream.capacity(),
            Layout::Hotspot { hot, cold, .. } => {
                hot_seq(hot.capacity()).min(cold.capacity().saturating_mul(COLD_EVERY))
            }
        }
    }

    /// The shortest time between two paints of one pixel when the plan is painted at `rate`
    /// paints per second: paints of one pixel closer than a tick apart could be coalesced.
    pub fn min_repaint_secs(&self, rate: f64) -> f64 {
        let n = |s: &Stream| s.domain.len() as f64;
        match &self.layout {
            Layout::Uniform(stream) => n(stream) / rate,
            Layout::Hotspot { hot, cold, .. } => {
                let cold_share = 1.0 / COLD_EVERY as f64;
                (n(hot) / (rate * (1.0 - cold_share))).min(n(cold) / (rate * cold_share))
            }
        }
    }
}

fn palette(len: usize) -> Result<u64, PlanError> {
    if (1..=256).contains(&len) {
        Ok(len as u64)
    } else {
        Err(PlanError::Palette(len))
    }
}

/// The hot stream's paint number of `seq`, or `None` for a cold paint.
fn hot_index(seq: u64) -> Option<u64> {
    (!seq.is_multiple_of(COLD_EVERY)).then(|| seq - seq / COLD_EVERY - 1)
}

/// The inverse of [`hot_index`]: the `seq` of hot paint `k`.
fn hot_seq(k: u64) -> u64 {
    let per_group = COLD_EVERY - 1;
    (k / per_group) * COLD_EVERY + k % per_group + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn rect(x: u32, y: u32, width: u32, height: u32) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn affine_permutations_are_bijections_with_their_inverse() {
        for n in [1u64, 2, 3, 10, 64, 97, 1000, 4096, 65_536] {
            let p = AffinePermutation::new(n, 12_345);
            let images: HashSet<u64> = (0..n).map(|k| p.apply(k)).collect();
            assert_eq!(images.len() as u64, n, "n = {n}");
            assert!((0..n).all(|k| p.invert(p.apply(k)) == k), "n = {n}");
        }
    }

    #[test]
    fn the_largest_domains_take_the_wide_arithmetic_and_stay_bijective() {
        for n in [SMALL_DOMAIN - 1, SMALL_DOMAIN, SMALL_DOMAIN + 7, 1 << 40] {
            let p = AffinePermutation::new(n, n / 3);
            for k in [0, 1, 2, n / 2, n - 2, n - 1] {
                let i = p.apply(k);
                assert!(i < n);
                assert_eq!(p.invert(i), k, "n = {n}, k = {k}");
            }
        }
    }

    #[test]
    fn consecutive_paints_scatter() {
        let p = AffinePermutation::new(65_536, 0);
        let jump = p.apply(1).abs_diff(p.apply(0));
        assert!(jump > 10_000, "consecutive indices {jump} apart");
    }

    #[test]
    fn hot_and_cold_numbering_interleave_exactly() {
        let hot: Vec<u64> = (0..20).filter_map(hot_index).collect();
        assert_eq!(hot, (0..16).collect::<Vec<_>>());
        assert!((0..1000).all(|k| hot_index(hot_seq(k)) == Some(k)));
        assert_eq!(hot_index(0), None);
        assert_eq!(hot_index(5), None);
    }

    /// Every paint below the capacity has its own key, and identify inverts paint.
    fn check_round_trip(plan: &PaintPlan, width: u32, height: u32, palette: usize) {
        let capacity = plan.capacity();
        let mut keys = HashSet::new();
        for seq in 0..capacity {
            let px = plan.paint(seq);
            assert!(
                px.x < width && px.y < height,
                "paint {seq} off the board: {px:?}"
            );
            assert!(usize::from(px.color) < palette);
            assert!(keys.insert((px.x, px.y, px.color)), "repeated key at {seq}");
            assert_eq!(plan.identify(px.x, px.y, px.color), Some(seq), "{px:?}");
        }
        assert_eq!(plan.identify(width, 0, 0), None);
        assert_eq!(plan.identify(0, 0, palette as u8), None);
    }

    #[test]
    fn uniform_plans_round_trip_on_partial_boards() {
        for (w, h) in [(1, 1), (7, 5), (100, 66), (64, 64)] {
            let plan = PaintPlan::uniform(w, h, 3, 9).unwrap();
            assert_eq!(plan.capacity(), 3 * u64::from(w) * u64::from(h));
            check_round_trip(&plan, w, h, 3);
        }
    }

    #[test]
    fn hotspot_plans_round_trip_through_both_streams() {
        for (w, h, hot) in [
            (40, 30, rect(5, 10, 8, 8)),
            (40, 30, rect(0, 0, 8, 30)),
            (40, 30, rect(32, 22, 8, 8)),
            (9, 3, rect(2, 1, 3, 1)),
        ] {
            let plan = PaintPlan::hotspot(w, h, hot, 4, 3).unwrap();
            check_round_trip(&plan, w, h, 4);
            let hot_paints = (0..500.min(plan.capacity()))
                .filter(|&s| contains(hot, plan.paint(s).x, plan.paint(s).y))
                .count() as u64;
            assert_eq!(
                hot_paints,
                (0..500.min(plan.capacity())).filter(|s| s % 5 != 0).count() as u64
            );
        }
    }

    #[test]
    fn a_pixel_is_repainted_only_after_its_whole_stream() {
        let plan = PaintPlan::uniform(10, 10, 32, 1).unwrap();
        let first = plan.paint(0);
        let again = (1..1000).find(|&s| {
            let p = plan.paint(s);
            (p.x, p.y) == (first.x, first.y)
        });
        assert_eq!(again, Some(100));
        assert_eq!(plan.paint(100).color, 1);
    }

    #[test]
    fn a_hot_region_covering_the_board_is_refused() {
        assert!(PaintPlan::hotspot(4, 4, rect(0, 0, 4, 4), 32, 1).is_err());
    }

    #[test]
    fn repaint_interval_follows_the_smaller_share() {
        let plan = PaintPlan::hotspot(100, 100, rect(0, 0, 10, 10), 32, 1).unwrap();
        // 100 hot pixels at 80 paints/s; 9,900 cold pixels at 20 paints/s.
        assert!((plan.min_repaint_secs(100.0) - 1.25).abs() < 1e-9);
    }
}

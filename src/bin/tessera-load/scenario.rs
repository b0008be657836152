//! Viewport geometry per scenario: what each viewer looks at, where the hot region is, and how
//! panning viewers move. Every rectangle produced here lies entirely on the board, so the server
//! never clips it and "the clipped viewport" is the requested one.

use tessera::geometry::Rect;

use crate::plan::{PaintPlan, PlanError};
use crate::rng::{self, Rng};

/// The screen a viewer is assumed to have: a 1080p monitor, the most common desktop size.
pub const SCREEN_WIDTH: u32 = 1920;
pub const SCREEN_HEIGHT: u32 = 1080;
/// The hot region's edge is the board's longer edge divided by this: 1/8 of the edge is 1/64 of
/// a square board, a few tiles wide, like the contested corners of r/place.
const HOT_EDGE_DIVISOR: u32 = 8;
/// One viewer in this many looks anywhere; the rest centre on the hot region (80 %).
const COLD_VIEWER_EVERY: usize = 5;
/// Draws of a pan offset tried before a move is skipped because every draw left the viewport
/// where it was (possible only when the viewport nearly fills the board).
const PAN_ATTEMPTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScenarioKind {
    /// Every viewer views the whole board.
    Overview,
    /// A screen-sized viewport at `--zoom`, placed uniformly; paints uniform.
    Uniform,
    /// A hot square region draws 80 % of viewers and 80 % of paints.
    Hotspot,
    /// Like uniform, and every viewer moves its viewport every `--pan-interval-ms`.
    Pan,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "--scenario overview views the whole {width}x{height} board ({area} pixels), more than the server's max_viewport_area of {limit} pixels; use another scenario or a smaller board"
    )]
    OverviewTooLarge {
        width: u32,
        height: u32,
        area: u64,
        limit: u64,
    },
    #[error(
        "a {SCREEN_WIDTH}x{SCREEN_HEIGHT} screen at --zoom {zoom} shows {width}x{height} = {area} board pixels, more than the server's max_viewport_area of {limit}; raise --zoom"
    )]
    ViewportTooLarge {
        zoom: f64,
        width: u32,
        height: u32,
        area: u64,
        limit: u64,
    },
}

/// The viewports of one run.
#[derive(Debug, Clone)]
pub struct Scenario {
    kind: ScenarioKind,
    board_width: u32,
    board_height: u32,
    /// Size of every viewport (the whole board for overview).
    view_width: u32,
    view_height: u32,
    hot: Option<Rect>,
}

/// `ceil(screen / zoom)` board pixels, at least 1 and at most the board.
pub fn viewport_size(board_width: u32, board_height: u32, zoom: f64) -> (u32, u32) {
    let fit = |screen: u32, board: u32| ((f64::from(screen) / zoom).ceil() as u32).clamp(1, board);
    (
        fit(SCREEN_WIDTH, board_width),
        fit(SCREEN_HEIGHT, board_height),
    )
}

/// The hot square: edge `max(w, h) / 8`, centred on a point drawn from `seed`, moved (and cut to
/// the board when the board is narrower than the square) so that it lies inside the board.
pub fn hot_rect(board_width: u32, board_height: u32, seed: u64) -> Rect {
    let edge = (board_width.max(board_height) / HOT_EDGE_DIVISOR).max(1);
    let (width, height) = (edge.min(board_width), edge.min(board_height));
    let mut rng = Rng::derive(seed, rng::stream::HOT_REGION);
    let cx = rng.below(u64::from(board_width)) as u32;
    let cy = rng.below(u64::from(board_height)) as u32;
    Rect {
        x: cx.saturating_sub(width / 2).min(board_width - width),
        y: cy.saturating_sub(height / 2).min(board_height - height),
        width,
        height,
    }
}

impl Scenario {
    /// `max_viewport_area` is the server's limit (`u64::MAX` when the server has none).
    pub fn new(
        kind: ScenarioKind,
        board_width: u32,
        board_height: u32,
        zoom: f64,
        max_viewport_area: u64,
        seed: u64,
    ) -> Result<Self, ScenarioError> {
        let (view_width, view_height) = match kind {
            ScenarioKind::Overview => (board_width, board_height),
            _ => viewport_size(board_width, board_height, zoom),
        };
        let area = u64::from(view_width) * u64::from(view_height);
        if area > max_viewport_area {
            return Err(match kind {
                ScenarioKind::Overview => ScenarioError::OverviewTooLarge {
                    width: board_width,
                    height: board_height,
                    area,
                    limit: max_viewport_area,
                },
                _ => ScenarioError::ViewportTooLarge {
                    zoom,
                    width: view_width,
                    height: view_height,
                    area,
                    limit: max_viewport_area,
                },
            });
        }
        Ok(Self {
            kind,
            board_width,
            board_height,
            view_width,
            view_height,
            hot: (kind == ScenarioKind::Hotspot).then(|| hot_rect(board_width, board_height, seed)),
        })
    }

    pub fn kind(&self) -> ScenarioKind {
        self.kind
    }

    pub fn viewport_size(&self) -> (u32, u32) {
        (self.view_width, self.view_height)
    }

    pub fn hot_rect(&self) -> Option<Rect> {
        self.hot
    }

    /// The first viewport of viewer number `viewer`.
    pub fn initial_viewport(&self, viewer: usize, rng: &mut Rng) -> Rect {
        match (self.kind, self.hot) {
            (ScenarioKind::Overview, _) => self.placed(0, 0),
            (ScenarioKind::Hotspot, Some(hot)) if !viewer.is_multiple_of(COLD_VIEWER_EVERY) => {
                let cx = hot.x + rng.below(u64::from(hot.width)) as u32;
                let cy = hot.y + rng.below(u64::from(hot.height)) as u32;
                self.placed(
                    cx.saturating_sub(self.view_width / 2),
                    cy.saturating_sub(self.view_height / 2),
                )
            }
            _ => {
                let x = rng.below(u64::from(self.board_width - self.view_width) + 1) as u32;
                let y = rng.below(u64::from(self.board_height - self.view_height) + 1) as u32;
                self.placed(x, y)
            }
        }
    }

    /// The next viewport of a panning viewer now at `current`: moved by up to one viewport size
    /// in each direction and kept on the board. `None` when no draw moved it.
    pub fn pan_move(&self, current: Rect, rng: &mut Rng) -> Option<Rect> {
        let offset =
            |rng: &mut Rng, size: u32| rng.below(2 * u64::from(size) + 1) as i64 - i64::from(size);
        (0..PAN_ATTEMPTS)
            .map(|_| {
                let x = (i64::from(current.x) + offset(rng, self.view_width)).max(0);
                let y = (i64::from(current.y) + offset(rng, self.view_height)).max(0);
                self.placed(
                    x.min(i64::from(u32::MAX)) as u32,
                    y.min(i64::from(u32::MAX)) as u32,
                )
            })
            .find(|next| *next != current)
    }

    /// Paints for this scenario: hot/cold streams for hotspot, uniform otherwise.
    pub fn plan(&self, palette_len: usize, seed: u64) -> Result<PaintPlan, PlanError> {
        match self.hot {
            Some(hot) => {
                PaintPlan::hotspot(self.board_width, self.board_height, hot, palette_len, seed)
            }
            None => PaintPlan::uniform(self.board_width, self.board_height, palette_len, seed),
        }
    }

    /// A viewport-sized rectangle with its corner at `(x, y)`, moved back onto the board.
    fn placed(&self, x: u32, y: u32) -> Rect {
        Rect {
            x: x.min(self.board_width - self.view_width),
            y: y.min(self.board_height - self.view_height),
            width: self.view_width,
            height: self.view_height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_board(r: Rect, w: u32, h: u32) -> bool {
        r.width > 0 && r.height > 0 && r.x + r.width <= w && r.y + r.height <= h
    }

    #[test]
    fn viewport_size_is_the_screen_divided_by_zoom_rounded_up_and_clipped() {
        assert_eq!(viewport_size(2048, 2048, 1.0), (1920, 1080));
        assert_eq!(viewport_size(2048, 2048, 4.0), (480, 270));
        assert_eq!(viewport_size(2048, 2048, 7.0), (275, 155));
        assert_eq!(viewport_size(2048, 2048, 0.5), (2048, 2048));
        assert_eq!(viewport_size(256, 256, 4.0), (256, 256));
        assert_eq!(viewport_size(256, 256, 16.0), (120, 68));
    }

    #[test]
    fn oversized_viewports_are_refused_with_the_limit() {
        let e = Scenario::new(ScenarioKind::Overview, 4096, 4096, 1.0, 1 << 22, 1).unwrap_err();
        assert!(
            e.to_string().contains("max_viewport_area of 4194304"),
            "{e}"
        );
        assert!(Scenario::new(ScenarioKind::Uniform, 4096, 4096, 0.5, 1 << 20, 1).is_err());
        assert!(Scenario::new(ScenarioKind::Uniform, 4096, 4096, 4.0, 1 << 20, 1).is_ok());
    }

    #[test]
    fn hot_region_lies_inside_the_board_for_every_seed() {
        for seed in 0..200 {
            for (w, h) in [(2048, 2048), (100, 66), (1000, 10), (7, 3), (1, 1)] {
                let hot = hot_rect(w, h, seed);
                assert!(on_board(hot, w, h), "{hot:?} on {w}x{h}");
                assert_eq!(hot.width, (w.max(h) / 8).max(1).min(w));
            }
        }
        assert_eq!(hot_rect(2048, 1024, 5).width, 256);
        assert_eq!(hot_rect(2048, 1024, 5), hot_rect(2048, 1024, 5), "seeded");
    }

    #[test]
    fn hotspot_viewers_centre_on_the_hot_region_four_times_in_five() {
        let s = Scenario::new(ScenarioKind::Hotspot, 2048, 2048, 8.0, u64::MAX, 3).unwrap();
        let hot = s.hot_rect().unwrap();
        let mut rng = Rng::derive(3, 99);
        let mut centred = 0;
        for viewer in 0..100 {
            let v = s.initial_viewport(viewer, &mut rng);
            assert!(on_board(v, 2048, 2048));
            assert_eq!((v.width, v.height), (240, 135));
            let (cx, cy) = (v.x + v.width / 2, v.y + v.height / 2);
            // A viewport moved back onto the board may be off centre, never off the region.
            let overlaps = v.x < hot.x + hot.width
                && hot.x < v.x + v.width
                && v.y < hot.y + hot.height
                && hot.y < v.y + v.height;
            assert!(
                viewer % 5 == 0 || overlaps,
                "viewer {viewer} at ({cx}, {cy})"
            );
            centred += usize::from(overlaps);
        }
        assert!(centred >= 80);
    }

    #[test]
    fn overview_is_the_whole_board_and_uniform_stays_on_it() {
        let o = Scenario::new(ScenarioKind::Overview, 300, 200, 1.0, u64::MAX, 1).unwrap();
        let mut rng = Rng::derive(1, 1);
        assert_eq!(
            o.initial_viewport(3, &mut rng),
            Rect {
                x: 0,
                y: 0,
                width: 300,
                height: 200
            }
        );
        let u = Scenario::new(ScenarioKind::Uniform, 300, 200, 16.0, u64::MAX, 1).unwrap();
        assert!((0..1000).all(|i| on_board(u.initial_viewport(i, &mut rng), 300, 200)));
    }

    #[test]
    fn pan_moves_stay_on_the_board_and_move_at_most_one_viewport() {
        let s = Scenario::new(ScenarioKind::Pan, 256, 256, 16.0, u64::MAX, 1).unwrap();
        let mut rng = Rng::derive(1, 7);
        let mut v = s.initial_viewport(0, &mut rng);
        for _ in 0..2000 {
            let next = s
                .pan_move(v, &mut rng)
                .expect("a 120x68 viewport can always move");
            assert!(on_board(next, 256, 256), "{next:?}");
            assert_ne!(next, v);
            assert!(next.x.abs_diff(v.x) <= v.width && next.y.abs_diff(v.y) <= v.height);
            v = next;
        }
        let whole = Scenario::new(ScenarioKind::Pan, 256, 256, 4.0, u64::MAX, 1).unwrap();
        let all = whole.initial_viewport(0, &mut rng);
        assert_eq!(
            whole.pan_move(all, &mut rng),
            None,
            "a full-board viewport cannot pan"
        );
    }
}

//! Viewers of a whole board, served by the board's whole-board feed: every tile's state, then
//! every paint exactly once, and consistent moves into and out of the whole-board view.

use tessera::protocol::{PaintOutcome, ServerMessage};

use crate::helpers::{QUIET, SMALL_BOARD, spawn_app};

/// SMALL_BOARD is 256 x 256 in 4 x 4 tiles of 64.
const TILES: usize = 16;

#[tokio::test]
async fn whole_board_viewers_get_every_state_then_every_paint_once() {
    // Arrange: three viewers of the whole board (one asks for more than the board: clipped).
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut viewers = Vec::new();
    for size in [256, 256, 1000] {
        let mut v = app.connect().await;
        v.view(0, 0, size, size).await;
        v.wait_for_tiles(TILES).await;
        viewers.push(v);
    }
    let mut painter = app.connect().await;

    // Act: paints over every tile, several per tick.
    let total = 64u32;
    for seq in 0..total {
        let (x, y) = ((seq * 37) % 256, (seq * 101) % 256);
        painter.paint(seq, x, y, (seq % 30) as u8 + 1).await;
    }
    for seq in 0..total {
        assert_eq!(painter.result_for(seq).await, PaintOutcome::Accepted);
    }

    // Assert: each viewer holds every paint, each update continuing from the version it held
    // (the client fails the test on a gap or a duplicate), after exactly one state per tile.
    for v in &mut viewers {
        v.until("every paint", |c| {
            c.tiles.values().map(|t| t.version).sum::<u64>() == u64::from(total)
        })
        .await;
        for seq in 0..total {
            let (x, y) = ((seq * 37) % 256, (seq * 101) % 256);
            let last = (0..total)
                .filter(|s| ((s * 37) % 256, (s * 101) % 256) == (x, y))
                .max()
                .expect("this paint");
            assert_eq!(v.pixel_at(x, y, 64), Some((last % 30) as u8 + 1));
        }
        assert_eq!(v.states_received, TILES);
        assert!(
            v.multi_tile_frames >= 1,
            "updates of several tiles share frames"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn joining_the_whole_board_while_paints_stream_in_loses_and_repeats_nothing() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut painter = app.connect().await;
    let mut viewers = Vec::new();
    let total = 240u32;

    // Act: viewers join the whole board at different moments of a stream of paints.
    for seq in 0..total {
        painter.paint(seq, seq % 256, (seq * 7) % 256, 3).await;
        if seq % 40 == 0 {
            let mut v = app.connect().await;
            v.view(0, 0, 256, 256).await;
            viewers.push(v);
        }
    }
    for seq in 0..total {
        assert_eq!(painter.result_for(seq).await, PaintOutcome::Accepted);
    }

    // Assert: whenever it joined, each viewer ends at every tile's final version.
    for v in &mut viewers {
        v.until("all paints", |c| {
            c.tiles.len() == TILES
                && c.tiles.values().map(|t| t.version).sum::<u64>() == u64::from(total)
        })
        .await;
        for seq in 0..total {
            assert_eq!(v.pixel_at(seq % 256, (seq * 7) % 256, 64), Some(3));
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn moving_into_and_out_of_the_whole_board_view_stays_consistent() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut viewer = app.connect().await;
    let mut painter = app.connect().await;
    viewer.view(0, 0, 64, 64).await;
    viewer.wait_for_tiles(1).await;

    // Act 1: zoom out to the whole board. Every tile's state comes, the one already held too.
    viewer.view(0, 0, 256, 256).await;
    viewer
        .until("every tile's state", |c| c.states_received == 1 + TILES)
        .await;
    painter.paint(1, 5, 5, 6).await;
    painter.paint(2, 250, 250, 7).await;
    viewer
        .until("both paints", |c| {
            c.pixel_at(5, 5, 64) == Some(6) && c.pixel_at(250, 250, 64) == Some(7)
        })
        .await;

    // Act 2: the same viewport again asks for a resync: fresh states of every tile.
    viewer.view(0, 0, 256, 256).await;
    viewer
        .until("every state again", |c| c.states_received == 1 + 2 * TILES)
        .await;

    // Act 3: zoom back in to tile (0, 0).
    viewer.view(0, 0, 64, 64).await;
    viewer
        .until("the tile's state", |c| c.states_received == 2 + 2 * TILES)
        .await;
    painter.paint(3, 251, 251, 8).await; // tile (3, 3): out of view now
    painter.paint(4, 6, 6, 9).await; // tile (0, 0)
    assert_eq!(painter.result_for(3).await, PaintOutcome::Accepted);
    viewer
        .until("the paint in view", |c| c.pixel_at(6, 6, 64) == Some(9))
        .await;

    // Assert: nothing more arrives for the tile out of view.
    let later = viewer.drain_for(QUIET).await;
    for msg in &later {
        if let ServerMessage::TileUpdate(u) = msg {
            assert_eq!((u.tx, u.ty), (0, 0), "update for a tile out of view");
        }
    }
    assert_eq!(viewer.pixel_at(251, 251, 64), Some(31));
    app.stop().await;
}

#[tokio::test]
async fn whole_board_viewers_get_a_frame_every_whole_board_ticks_with_every_paint() {
    // Whole-board frames every 10 ticks of 20 ms, whatever the number of viewers (no budget).
    a_frame_every_10_ticks("whole_board_ticks = 10\nwhole_board_frames_per_s = 0\n", 1).await;
}

#[tokio::test]
async fn many_whole_board_viewers_get_frames_every_few_ticks_within_the_frame_budget() {
    // A budget of 50 frames a second: one viewer gets every tick (50 a second), ten viewers
    // would take 500, so the feed forwards every 10 ticks (the most allowed).
    a_frame_every_10_ticks(
        "whole_board_ticks = 10\nwhole_board_frames_per_s = 50\n",
        10,
    )
    .await;
}

/// With `server` settings, `viewers` whole-board viewers each take at most a frame every 10
/// ticks of 20 ms, give or take three, while they get every paint (at every tick they would
/// take one frame each, about 30).
async fn a_frame_every_10_ticks(server: &str, viewers: usize) {
    let (app, _dir) = spawn_app(&format!("{SMALL_BOARD}[server]\n{server}")).await;
    let (frames, painting) = paint_for_30_ticks(&app, viewers).await;
    let bound = painting.as_millis() as usize / 200 + 3;
    for (i, n) in frames.iter().enumerate() {
        assert!(
            *n <= bound,
            "viewer {i}: {n} frames carried 30 paints made in {painting:?}: whole-board frames should come every 10 ticks (at most {bound})"
        );
    }
    app.stop().await;
}

/// `viewers` whole-board viewers, then a paint every 20 ms over all the tiles for about 30 ticks,
/// with one more viewer joining halfway. Asserts that every viewer (the late one too) ends with
/// every paint, each update continuing the version held (the client fails the test on a gap or
/// a duplicate). Returns the update frames each of the first viewers took, and how long the
/// painting lasted.
async fn paint_for_30_ticks(
    app: &crate::helpers::TestApp,
    viewers: usize,
) -> (Vec<usize>, std::time::Duration) {
    let mut early = Vec::new();
    for _ in 0..viewers {
        let mut v = app.connect().await;
        v.view(0, 0, 256, 256).await;
        v.wait_for_tiles(TILES).await;
        early.push(v);
    }
    let frames_before: Vec<usize> = early.iter().map(|v| v.frames_received).collect();
    let mut painter = app.connect().await;
    let mut late = None;

    let total = 30u32;
    let started = std::time::Instant::now();
    for seq in 0..total {
        painter
            .paint(seq, (seq * 37) % 256, (seq * 101) % 256, 5)
            .await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if seq == total / 2 {
            let mut v = app.connect().await;
            v.view(0, 0, 256, 256).await;
            late = Some(v);
        }
    }
    let painting = started.elapsed();
    for seq in 0..total {
        assert_eq!(painter.result_for(seq).await, PaintOutcome::Accepted);
    }

    let mut late = late.expect("joined");
    for v in early.iter_mut().chain([&mut late]) {
        v.until("every paint", |c| {
            c.tiles.len() == TILES
                && c.tiles.values().map(|t| t.version).sum::<u64>() == u64::from(total)
        })
        .await;
        for seq in 0..total {
            assert_eq!(v.pixel_at((seq * 37) % 256, (seq * 101) % 256, 64), Some(5));
        }
    }
    let frames = early
        .iter()
        .zip(frames_before)
        .map(|(v, before)| v.frames_received - before)
        .collect();
    (frames, painting)
}

//! Live updates: who receives a paint, subscriptions that move with the viewport, batching.

use tessera::protocol::{PaintOutcome, RejectReason, ServerMessage};

use crate::helpers::{Client, QUIET, SMALL_BOARD, TestApp, spawn_app};

#[tokio::test]
async fn a_paint_reaches_every_viewer_of_its_tile_and_no_viewer_of_other_tiles() {
    // Arrange: two viewers of tile (0, 0), one of tile (3, 3).
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut near_a = app.connect().await;
    let mut near_b = app.connect().await;
    let mut far = app.connect().await;
    near_a.view(0, 0, 64, 64).await;
    near_b.view(10, 10, 20, 20).await;
    far.view(192, 192, 64, 64).await;
    for c in [&mut near_a, &mut near_b, &mut far] {
        c.wait_for_tiles(1).await;
    }
    let mut painter = app.connect().await;

    // Act
    painter.paint(1, 12, 13, 5).await;

    // Assert
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    for viewer in [&mut near_a, &mut near_b] {
        viewer
            .until("the paint", |c| c.pixel_at(12, 13, 64) == Some(5))
            .await;
    }
    let unrelated = far.drain_for(QUIET).await;
    assert!(
        unrelated.is_empty(),
        "a viewer of another tile received {unrelated:?}"
    );
    assert_eq!(far.tiles.len(), 1);
    app.stop().await;
}

/// A viewer that viewed tile (0, 0), then panned to tile (2, 0) and holds that tile's state.
async fn viewer_panned_from_first_to_third_tile(app: &TestApp) -> Client {
    let mut viewer = app.connect().await;
    viewer.view(0, 0, 64, 64).await;
    viewer.wait_for_tiles(1).await;
    viewer.view(128, 0, 64, 64).await;
    viewer
        .until("the new tile's state", |c| c.tiles.contains_key(&(2, 0)))
        .await;
    viewer
}

#[tokio::test]
async fn panning_drops_the_old_tile_and_subscribes_the_new_one() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut painter = app.connect().await;

    // Act: pan from tile (0, 0) to tile (2, 0).
    let mut viewer = viewer_panned_from_first_to_third_tile(&app).await;
    painter.paint(1, 5, 5, 3).await; // old tile
    painter.paint(2, 130, 5, 4).await; // new tile
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    assert_eq!(painter.result_for(2).await, PaintOutcome::Accepted);

    // Assert: the new tile is live, the old one silent.
    viewer
        .until("the paint on the new tile", |c| {
            c.pixel_at(130, 5, 64) == Some(4)
        })
        .await;
    let later = viewer.drain_for(QUIET).await;
    for msg in &later {
        if let ServerMessage::TileUpdate(u) = msg {
            assert_ne!((u.tx, u.ty), (0, 0), "update for a tile no longer in view");
        }
    }
    assert_eq!(
        viewer.tiles[&(0, 0)].pixel(5, 5),
        31,
        "the old tile copy never saw the paint"
    );
    app.stop().await;
}

/// The load generator accepts updates that continue a returning tile's old version until its new
/// `TileState` (they were in flight when it left), so it cannot tell a server that skipped that
/// state; this does.
#[tokio::test]
async fn a_tile_that_comes_back_into_view_gets_its_state_again_even_if_unpainted() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut painter = app.connect().await;
    let mut viewer = viewer_panned_from_first_to_third_tile(&app).await;
    let states = viewer.states_received;
    // Forget the old copy, so that only a new state of this very tile brings it back.
    viewer.tiles.remove(&(0, 0));

    // Act: back to the first tile, which nobody painted meanwhile.
    viewer.view(0, 0, 64, 64).await;

    // Assert: its state comes again, and updates continue from it.
    viewer
        .until("the returning tile's state", |c| {
            c.tiles.contains_key(&(0, 0))
        })
        .await;
    assert_eq!(
        viewer.states_received,
        states + 1,
        "one state: the returning tile's"
    );
    painter.paint(1, 5, 5, 3).await;
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    viewer
        .until("the paint on the returning tile", |c| {
            c.pixel_at(5, 5, 64) == Some(3)
        })
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_tile_that_stays_in_view_keeps_its_subscription_without_a_new_state() {
    // Arrange: a viewport over tiles (0, 0) and (1, 0).
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut viewer = app.connect().await;
    let mut painter = app.connect().await;
    viewer.view(0, 0, 128, 64).await;
    viewer.wait_for_tiles(2).await;

    // Act: widen the viewport by one tile, then paint on the tile that stayed.
    viewer.view(0, 0, 192, 64).await;
    viewer
        .until("the new tile's state", |c| c.tiles.contains_key(&(2, 0)))
        .await;
    painter.paint(1, 70, 5, 6).await;
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    viewer
        .until("the paint on the kept tile", |c| {
            c.pixel_at(70, 5, 64) == Some(6)
        })
        .await;
    let later = viewer.drain_for(QUIET).await;

    // Assert: only the new tile got a state; the kept one continued with updates.
    assert!(
        later
            .iter()
            .all(|m| !matches!(m, ServerMessage::TileState(_))),
        "unexpected states after the paint: {later:?}"
    );
    assert_eq!(
        viewer.states_received, 3,
        "two states for the first viewport and one for the tile added, none for the kept ones"
    );
    app.stop().await;
}

#[tokio::test]
async fn paints_during_subscription_are_neither_lost_nor_duplicated() {
    // Arrange: a painter keeps painting one tile while viewers subscribe at different moments.
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut painter = app.connect().await;
    let mut viewers = Vec::new();
    let total = 300u32;

    // Act: interleave subscriptions with the stream of paints.
    for seq in 0..total {
        let (x, y) = (seq % 64, seq / 64);
        painter.paint(seq, x, y, (seq % 27) as u8).await;
        if seq % 60 == 0 {
            let mut v = app.connect().await;
            v.view(0, 0, 64, 64).await;
            viewers.push(v);
        }
    }
    for seq in 0..total {
        assert_eq!(
            painter.result_for(seq).await,
            PaintOutcome::Accepted,
            "paint {seq}"
        );
    }

    // Assert: every viewer, whenever it joined, ends with every paint, each applied once (the
    // client fails the test on any update that does not continue from the version it holds).
    for v in &mut viewers {
        v.until("all paints", |c| {
            c.tiles
                .get(&(0, 0))
                .is_some_and(|t| t.version == u64::from(total))
        })
        .await;
        for seq in 0..total {
            assert_eq!(
                v.pixel_at(seq % 64, seq / 64, 64),
                Some((seq % 27) as u8),
                "paint {seq}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn many_concurrent_painters_on_one_tile_end_in_the_same_state_for_all_viewers() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut viewers = Vec::new();
    for _ in 0..4 {
        let mut v = app.connect().await;
        v.view(0, 0, 64, 64).await;
        v.wait_for_tiles(1).await;
        viewers.push(v);
    }
    let painters = 8u32;
    let per_painter = 100u32;

    // Act: every painter hits the same 16 pixels with its own colour, concurrently.
    let mut tasks = Vec::new();
    for p in 0..painters {
        let mut painter = app.connect().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..per_painter {
                painter.paint(i, i % 16, 0, p as u8).await;
            }
            for i in 0..per_painter {
                assert_eq!(painter.result_for(i).await, PaintOutcome::Accepted);
            }
        }));
    }
    for t in tasks {
        t.await.expect("painter task");
    }

    // Assert: all viewers converge to one state that holds every paint, equal to the HTTP tile.
    let expected_version = u64::from(painters * per_painter);
    for v in &mut viewers {
        v.until("every paint", |c| {
            c.tiles[&(0, 0)].version == expected_version
        })
        .await;
    }
    let http_tile = reqwest::get(app.http("/api/boards/main/tiles/0/0"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    for v in &viewers {
        assert_eq!(
            v.tiles[&(0, 0)].pixels,
            http_tile.to_vec(),
            "viewer copy differs from the tile"
        );
    }
    assert!(http_tile[..16].iter().all(|&c| c < painters as u8));
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_of_many_tiles_gets_one_frame_for_updates_of_several_tiles_in_a_tick() {
    // A slow tick makes "the same tick" certain for paints sent back to back.
    let (app, _dir) = spawn_app(&format!("[server]\ntick_ms = 1000\n{SMALL_BOARD}")).await;
    let mut viewer = app.connect().await;
    // Twelve of the sixteen tiles: per-tile subscriptions, not the whole-board feed.
    viewer.view(0, 0, 256, 192).await;
    viewer.wait_for_tiles(12).await;
    let mut painter = app.connect().await;

    // Act: one paint on each of four different tiles.
    for (seq, (x, y)) in [(1, 1), (70, 1), (1, 70), (200, 100)]
        .into_iter()
        .enumerate()
    {
        painter.paint(seq as u32, x, y, 2).await;
    }

    // Assert: the four updates arrive together, in one websocket frame.
    let frames_before = viewer.frames_received;
    viewer
        .until("four updates", |c| c.updates_received >= 4)
        .await;
    assert_eq!(
        viewer.frames_received - frames_before,
        1,
        "expected one frame for one tick"
    );
    assert_eq!(viewer.multi_tile_frames, 1);
    app.stop().await;
}

#[tokio::test]
async fn cooldown_rejects_with_the_wait_then_accepts_and_follows_the_token() {
    let (app, _dir) =
        spawn_app(&SMALL_BOARD.replace("tile_size = 64", "tile_size = 64\ncooldown_secs = 1"))
            .await;
    let mut painter = app.connect().await;
    assert_eq!(painter.welcome.boards[0].cooldown_ms, 1000);

    painter.paint(1, 0, 0, 1).await;
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    painter.paint(2, 0, 1, 1).await;
    let PaintOutcome::Rejected {
        reason,
        retry_after_ms,
    } = painter.result_for(2).await
    else {
        panic!("a second paint within the cooldown must be rejected")
    };
    assert_eq!(reason, RejectReason::Cooldown);
    assert!((1..=1000).contains(&retry_after_ms), "{retry_after_ms}");

    // The same user reconnecting with its token is still cooling down.
    let token = painter.welcome.user_token.clone();
    let mut again =
        crate::helpers::Client::connect(&format!("{}?token={token}", app.ws_url())).await;
    assert_eq!(again.welcome.user_token, token);
    again.paint(3, 0, 2, 1).await;
    assert!(matches!(
        again.result_for(3).await,
        PaintOutcome::Rejected {
            reason: RejectReason::Cooldown,
            ..
        }
    ));

    // Act: wait exactly as long as told.
    tokio::time::sleep(std::time::Duration::from_millis(
        u64::from(retry_after_ms) + 20,
    ))
    .await;
    painter.paint(4, 0, 3, 1).await;
    assert_eq!(painter.result_for(4).await, PaintOutcome::Accepted);
    app.stop().await;
}

#[tokio::test]
async fn repeating_the_same_viewport_resends_every_tile_state_as_a_resync() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut viewer = app.connect().await;
    viewer.view(0, 0, 128, 64).await;
    viewer
        .until("two tile states", |c| c.states_received == 2)
        .await;
    let mut painter = app.connect().await;
    painter.paint(1, 3, 3, 7).await;
    viewer
        .until("the paint", |c| c.pixel_at(3, 3, 64) == Some(7))
        .await;

    // Act: the client pretends it lost track and repeats its viewport.
    viewer.view(0, 0, 128, 64).await;

    // Assert: fresh full states, at the current version, and updates continue from them.
    viewer
        .until("two more tile states", |c| c.states_received == 4)
        .await;
    assert_eq!(viewer.tiles[&(0, 0)].version, 1);
    assert_eq!(viewer.pixel_at(3, 3, 64), Some(7));
    painter.paint(2, 4, 4, 8).await;
    viewer
        .until("a later paint", |c| c.pixel_at(4, 4, 64) == Some(8))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_large_new_viewport_is_spread_over_bounded_frames_without_losing_tiles() {
    // 2048 x 1984 of a 2048 x 2048 board in 64-pixel tiles: 992 tile states of 4 KiB, about
    // 4 MiB in all, through per-tile subscriptions (the whole board would go through the feed).
    let board = "[[boards]]\nid = \"main\"\nwidth = 2048\nheight = 2048\ntile_size = 64\n";
    let (app, _dir) = spawn_app(board).await;
    let mut viewer = app.connect().await;
    let mut painter = app.connect().await;

    viewer.view(0, 64, 2048, 1984).await;
    painter.paint(1, 2047, 2047, 4).await;

    viewer.wait_for_tiles(992).await;
    viewer
        .until("the paint in the last tile", |c| {
            c.pixel_at(2047, 2047, 64) == Some(4)
        })
        .await;
    // Large frames while more than 136 KiB are left (never over 512 KiB plus one state), then
    // small ones; none in between, where actix-http would keep the buffer it grew.
    let large = viewer
        .frame_sizes
        .iter()
        .filter(|&&n| n > 128 * 1024)
        .count();
    assert!((8..=40).contains(&large), "{} large frames", large);
    for &n in &viewer.frame_sizes {
        assert!(n <= 8176 || n > 128 * 1024, "a frame of {n} bytes");
        assert!(n <= 512 * 1024 + 4126, "a frame of {n} bytes");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_message_larger_than_a_frame_goes_alone_in_its_own() {
    // 128-pixel tiles: a state is 10 + 16,384 bytes (docs/protocol.md 4.4: seven one-byte
    // fields, then the pixel count as `fb 00 40`), twice what a frame packs. Two of the three
    // tiles, so through per-tile subscriptions, whose states are queued in the same tick.
    let board = "[[boards]]\nid = \"main\"\nwidth = 384\nheight = 128\ntile_size = 128\n";
    let (app, _dir) = spawn_app(board).await;
    let mut viewer = app.connect().await;

    viewer.view(0, 0, 256, 128).await;
    viewer.wait_for_tiles(2).await;

    assert_eq!(viewer.largest_frame, 10 + 128 * 128, "one state a frame");
    assert_eq!(
        viewer.frames_received, 3,
        "the Welcome, then one frame per state"
    );
    app.stop().await;
}

//! Bad input gets a specific answer, the canvas stays unchanged and the server stays up.

use tessera::protocol::{ErrorCode, PaintOutcome, RejectReason};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{QUIET, SMALL_BOARD, spawn_app};

/// Asserts the board applied exactly `n` paints: waits for the `n`th (the version only moves
/// when tiles flush), then gives any paint wrongly taken before it a moment to show too.
async fn assert_paints_applied(app: &crate::helpers::TestApp, n: u64) {
    let version = || async {
        reqwest::get(app.http("/api/boards/main"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["version"]
            .as_u64()
            .expect("a board version")
    };
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while version().await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "paint {n} never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        version().await,
        n,
        "only the accepted paints change the canvas"
    );
}

#[tokio::test]
async fn out_of_bounds_invalid_colour_and_unknown_board_paints_are_rejected_specifically() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut c = app.connect().await;

    c.paint(1, 256, 0, 1).await;
    c.paint(2, 0, 4_000_000_000, 1).await;
    c.paint(3, 0, 0, 32).await;
    c.send(&tessera::protocol::ClientMessage::Paint {
        seq: 4,
        board: 7,
        x: 0,
        y: 0,
        color: 1,
    })
    .await;

    let rejected = |reason| PaintOutcome::Rejected {
        reason,
        retry_after_ms: 0,
    };
    assert_eq!(c.result_for(1).await, rejected(RejectReason::OutOfBounds));
    assert_eq!(c.result_for(2).await, rejected(RejectReason::OutOfBounds));
    assert_eq!(c.result_for(3).await, rejected(RejectReason::InvalidColor));
    assert_eq!(c.result_for(4).await, rejected(RejectReason::UnknownBoard));

    // The session is still usable, and its one accepted paint is all the canvas took.
    c.paint(5, 1, 1, 1).await;
    assert_eq!(c.result_for(5).await, PaintOutcome::Accepted);
    assert_paints_applied(&app, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_text_frames_get_an_error_and_the_session_continues() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut c = app.connect().await;

    c.send_raw(Message::Binary(vec![1, 0, 0, 0, 7].into()))
        .await; // truncated Paint
    c.send_raw(Message::Binary(vec![9, 0, 0, 0].into())).await; // unknown message type
    c.send_raw(Message::Text("{\"paint\": 1}".into())).await;
    c.until("three errors", |c| c.errors.len() >= 3).await;

    let codes: Vec<ErrorCode> = c.errors.iter().map(|e| e.0).collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::Malformed,
            ErrorCode::Malformed,
            ErrorCode::TextFrame
        ]
    );
    assert!(c.errors[0].1.contains("malformed"), "{:?}", c.errors[0]);
    c.paint(1, 0, 0, 1).await;
    assert_eq!(c.result_for(1).await, PaintOutcome::Accepted);
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection_with_1009_and_the_server_stays_up() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let mut c = app.connect().await;
    let limit = c.welcome.limits.max_message_bytes as usize;

    c.send_raw(Message::Binary(vec![0u8; limit + 1].into()))
        .await;

    let (code, reason) = c.wait_for_close().await;
    assert_eq!(code, 1009, "{reason}");
    let mut other = app.connect().await;
    other.paint(1, 0, 0, 1).await;
    assert_eq!(other.result_for(1).await, PaintOutcome::Accepted);
    assert_paints_applied(&app, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn bad_viewports_are_refused_and_the_old_subscription_is_kept() {
    let (app, _dir) = spawn_app(&format!(
        "[limits]\nmax_viewport_area = 10000\n{SMALL_BOARD}"
    ))
    .await;
    let mut c = app.connect().await;
    c.view(0, 0, 64, 64).await;
    c.wait_for_tiles(1).await;

    c.view(0, 0, 200, 200).await;
    c.view(1000, 1000, 10, 10).await;
    c.send(&tessera::protocol::ClientMessage::SetViewport {
        board: 3,
        x: 0,
        y: 0,
        width: 1,
        height: 1,
    })
    .await;
    c.until("three errors", |c| c.errors.len() >= 3).await;

    let codes: Vec<ErrorCode> = c.errors.iter().map(|e| e.0).collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::ViewportTooLarge,
            ErrorCode::ViewportOffBoard,
            ErrorCode::UnknownBoard
        ]
    );
    assert!(
        c.errors[0].1.contains("40000") && c.errors[0].1.contains("10000"),
        "{:?}",
        c.errors[0]
    );
    let mut painter = app.connect().await;
    painter.paint(1, 3, 3, 9).await;
    c.until("the paint on the kept tile", |c| {
        c.pixel_at(3, 3, 64) == Some(9)
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_disconnected_with_4002() {
    let (app, _dir) = spawn_app(&format!(
        "[limits]\nmax_messages_per_second = 20\n{SMALL_BOARD}"
    ))
    .await;
    let mut c = app.connect().await;

    // Act: 20 paints fit the burst; the next ones are over the limit.
    for seq in 0..25 {
        c.paint(seq, seq, 0, 1).await;
    }
    let outcome = c.result_for(24).await;
    assert!(
        matches!(outcome, PaintOutcome::Rejected { reason: RejectReason::RateLimited, retry_after_ms } if retry_after_ms > 0),
        "{outcome:?}"
    );
    assert_eq!(c.result_for(0).await, PaintOutcome::Accepted);

    // Keep flooding, ignoring the answers: the server closes the connection.
    for seq in 25..100 {
        c.paint(seq, 0, 1, 1).await;
    }
    let (code, _) = c.wait_for_close().await;
    assert_eq!(code, 4002);
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_token_is_closed_with_4003_naming_it() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}?token=not-a-token", app.ws_url()))
            .await
            .unwrap();

    let first = tokio::time::timeout(
        crate::helpers::PATIENCE,
        futures_util::StreamExt::next(&mut ws),
    )
    .await
    .unwrap();

    match first {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 4003);
            assert!(frame.reason.contains("not-a-token"), "{}", frame.reason);
        }
        other => panic!("expected close 4003, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_others_are_unaffected() {
    // Big tiles make every resync heavy, so a client that never reads exhausts its socket
    // buffers, then its queue, then its resyncs.
    let board = "[limits]\nsession_queue_len = 16\nmax_messages_per_second = 100000\n[[boards]]\nid = \"main\"\nwidth = 2048\nheight = 2048\ntile_size = 1024\n";
    let (app, _dir) = spawn_app(board).await;
    let mut slow = app.connect().await;
    slow.view(0, 0, 2048, 2048).await;
    let mut healthy = app.connect().await;
    healthy.view(0, 0, 1024, 1024).await;
    healthy.wait_for_tiles(1).await;
    let mut painter = app.connect().await;

    // Act: paint steadily while `slow` reads nothing.
    let mut seq = 0u32;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.sessions().await == 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow client was never disconnected"
        );
        for _ in 0..50 {
            seq += 1;
            painter
                .paint(seq, (seq * 7) % 2048, (seq * 13) % 2048, (seq % 30) as u8)
                .await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let _ = healthy.drain_for(std::time::Duration::from_millis(1)).await;
    }

    // Assert: the healthy viewer kept up, with no gap (its client checks every version), and
    // sees a paint made after the slow client left.
    assert!(healthy.closed.is_none());
    let _ = painter.drain_for(QUIET).await;
    painter.paint(seq + 1, 5, 5, 30).await;
    healthy
        .until("the marker paint", |c| c.pixel_at(5, 5, 1024) == Some(30))
        .await;
    drop(slow);
    app.stop().await;
}

#[tokio::test]
async fn over_max_connections_the_upgrade_gets_503() {
    let (app, _dir) = spawn_app(&format!("[limits]\nmax_connections = 2\n{SMALL_BOARD}")).await;
    let _a = app.connect().await;
    let _b = app.connect().await;
    let err = tokio_tungstenite::connect_async(app.ws_url())
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    drop(_a);
    // The slot is released once the server notices the close.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while app.sessions().await >= 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed session kept its slot"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut c = app.connect().await;
    c.paint(1, 0, 0, 1).await;
    assert_eq!(c.result_for(1).await, PaintOutcome::Accepted);
    app.stop().await;
}

#[tokio::test]
async fn text_frames_count_against_the_rate_limit() {
    let (app, _dir) = spawn_app(&format!(
        "[limits]\nmax_messages_per_second = 10\n{SMALL_BOARD}"
    ))
    .await;
    let mut c = app.connect().await;

    for _ in 0..40 {
        c.send_raw(Message::Text("hello".into())).await;
    }

    let (code, _) = c.wait_for_close().await;
    assert_eq!(code, 4002);
    assert!(
        c.errors.len() <= 10,
        "only the admitted frames are answered: {}",
        c.errors.len()
    );
    app.stop().await;
}

#[tokio::test]
async fn paints_past_a_tiles_inbox_are_refused_as_unavailable_and_the_accepted_ones_all_apply() {
    // A 1 s tick, so a burst on one tile meets the inbox's bound (4,096 paints a tick) in at
    // most a few ticks; no rate limit in the way.
    let (app, _dir) = spawn_app(&format!(
        "[server]\ntick_ms = 1000\n[limits]\nmax_messages_per_second = 1000000\n{SMALL_BOARD}"
    ))
    .await;
    let mut c = app.connect().await;
    const INBOX: u64 = tessera::canvas::paint_inbox::INBOX_CAPACITY as u64;
    const PAINTS: u32 = 3 * INBOX as u32 + 8;

    let started = tokio::time::Instant::now();
    for seq in 0..PAINTS {
        // All on tile (0, 0) of 64 x 64 pixels.
        c.paint(seq, seq % 64, (seq / 64) % 64, 1).await;
    }
    let sending = started.elapsed();
    c.until("every paint answered", |c| {
        c.results.len() >= PAINTS as usize
    })
    .await;

    let mut accepted = 0u64;
    for r in &c.results {
        match r.outcome {
            PaintOutcome::Accepted => accepted += 1,
            PaintOutcome::Rejected {
                reason: RejectReason::Unavailable,
                retry_after_ms: 1000,
            } => {}
            other => panic!("paint {} answered {other:?}", r.seq),
        }
    }
    // Whatever the sending time, an inbox without a bound refuses nothing.
    assert!(
        accepted < u64::from(PAINTS),
        "all {PAINTS} paints on one tile accepted (sent in {sending:?})"
    );
    // The paints fell into at most this many ticks of the tile.
    let ticks = sending.as_secs() + 2;
    assert!(
        accepted <= INBOX * ticks,
        "{accepted} of {PAINTS} paints accepted in {ticks} ticks of one tile"
    );
    assert_paints_applied(&app, accepted).await;
    app.stop().await;
}

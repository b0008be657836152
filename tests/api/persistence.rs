//! Durability: snapshots on shutdown and on a timer, restore at start, re-slicing, corruption.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tessera::protocol::PaintOutcome;

use crate::helpers::{Client, SMALL_BOARD, TestApp, spawn_app_in};

/// `n` recognisable paints on a 256x256 board, as (x, y, colour).
fn pattern(n: u32) -> Vec<(u32, u32, u8)> {
    (0..n)
        .map(|i| ((i * 37) % 256, (i * 91) % 256, (i % 31) as u8))
        .collect()
}

/// Sends every paint of `pattern` and waits until each is accepted.
async fn paint_all(painter: &mut Client, pattern: &[(u32, u32, u8)]) {
    for (seq, &(x, y, c)) in pattern.iter().enumerate() {
        painter.paint(seq as u32, x, y, c).await;
    }
    for seq in 0..pattern.len() as u32 {
        assert_eq!(painter.result_for(seq).await, PaintOutcome::Accepted);
    }
}

/// The colour each painted pixel ends with: later paints of a pixel win.
fn last_writes(pattern: &[(u32, u32, u8)]) -> HashMap<(u32, u32), u8> {
    pattern.iter().map(|&(x, y, c)| ((x, y), c)).collect()
}

/// Paints a recognisable pattern on a 256x256 board and returns the final pixels as
/// (x, y, colour).
async fn paint_pattern(app: &TestApp) -> Vec<(u32, u32, u8)> {
    let mut painter = app.connect().await;
    let pattern = pattern(200);
    paint_all(&mut painter, &pattern).await;
    last_writes(&pattern)
        .into_iter()
        .map(|((x, y), c)| (x, y, c))
        .collect()
}

async fn whole_board(app: &TestApp) -> Client {
    let mut viewer = app.connect().await;
    viewer.view(0, 0, 256, 256).await;
    let tiles = {
        let meta: serde_json::Value = reqwest::get(app.http("/api/boards/main"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (meta["tiles_x"].as_u64().unwrap() * meta["tiles_y"].as_u64().unwrap()) as usize
    };
    viewer.wait_for_tiles(tiles).await;
    viewer
}

fn region_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "region") {
                out.push(path);
            }
        }
    }
    let mut out = vec![];
    walk(dir, &mut out);
    out
}

#[tokio::test]
async fn a_graceful_stop_and_restart_restores_every_pixel_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), SMALL_BOARD).await.unwrap();
    let painted = paint_pattern(&app).await;
    let before = whole_board(&app).await;
    let versions: Vec<_> = before.tiles.iter().map(|(k, t)| (*k, t.version)).collect();
    drop(before);

    // Act
    app.stop().await;
    let app = spawn_app_in(dir.path(), SMALL_BOARD).await.unwrap();

    // Assert
    let after = whole_board(&app).await;
    for &(x, y, c) in &painted {
        assert_eq!(after.pixel_at(x, y, 64), Some(c), "pixel ({x}, {y})");
    }
    for (k, v) in versions {
        assert_eq!(after.tiles[&k].version, v, "tile {k:?} version");
    }
    app.stop().await;
}

#[tokio::test]
async fn dirty_tiles_are_snapshotted_periodically_without_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(
        dir.path(),
        &format!("[storage]\nsnapshot_interval_secs = 1\n{SMALL_BOARD}"),
    )
    .await
    .unwrap();
    assert!(region_files(dir.path()).is_empty());
    let mut painter = app.connect().await;

    painter.paint(1, 70, 70, 3).await;
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);

    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while region_files(dir.path()).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot was written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let files = region_files(dir.path());
    assert_eq!(files.len(), 1, "one region holds the board: {files:?}");
    assert!(files[0].ends_with("0-0.region"), "{files:?}");
    // Only the dirty tile is written: the region file's tile count (bytes 26..28, see
    // src/storage/region_file.rs) is 1, and its one record is tile (1, 1) (bytes 20..24 of the
    // record, which starts at byte 32).
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(&bytes[26..28], &[1, 0], "tile count");
    assert_eq!(
        &bytes[32 + 20..32 + 24],
        &[1, 0, 1, 0],
        "the record is tile (1, 1)"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_different_tile_size_after_restart_keeps_every_pixel() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), SMALL_BOARD).await.unwrap();
    let painted = paint_pattern(&app).await;
    app.stop().await;

    for tile_size in [16u32, 128, 64] {
        // Act
        let board = SMALL_BOARD.replace("tile_size = 64", &format!("tile_size = {tile_size}"));
        let app = spawn_app_in(dir.path(), &board).await.unwrap();

        // Assert
        let after = whole_board(&app).await;
        assert_eq!(after.welcome.boards[0].tile_size, tile_size);
        for &(x, y, c) in &painted {
            assert_eq!(
                after.pixel_at(x, y, tile_size),
                Some(c),
                "pixel ({x}, {y}) at tile size {tile_size}"
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn growing_the_board_keeps_pixels_and_shrinking_over_paint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), SMALL_BOARD).await.unwrap();
    let mut painter = app.connect().await;
    painter.paint(1, 200, 10, 5).await;
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    app.stop().await;

    let grown = SMALL_BOARD.replace("width = 256", "width = 300");
    let app = spawn_app_in(dir.path(), &grown).await.unwrap();
    let tile = reqwest::get(app.http("/api/boards/main/tiles/3/0"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(tile[10 * 64 + 8], 5);
    app.stop().await;

    let shrunk = SMALL_BOARD.replace("width = 256", "width = 100");
    let err = spawn_app_in(dir.path(), &shrunk)
        .await
        .err()
        .expect("shrinking over paint is refused");
    assert!(err.contains("200") && err.contains("100"), "{err}");

    // Nothing was lost by the refused start.
    let app = spawn_app_in(dir.path(), &grown).await.unwrap();
    let tile = reqwest::get(app.http("/api/boards/main/tiles/3/0"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(tile[10 * 64 + 8], 5);
    app.stop().await;
}

#[tokio::test]
async fn a_corrupt_snapshot_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), SMALL_BOARD).await.unwrap();
    paint_pattern(&app).await;
    app.stop().await;
    let files = region_files(dir.path());
    assert!(!files.is_empty());

    // Act: flip one pixel byte in one file, truncate another.
    let victim = &files[0];
    let mut bytes = std::fs::read(victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(victim, &bytes).unwrap();
    let err = spawn_app_in(dir.path(), SMALL_BOARD)
        .await
        .err()
        .expect("a corrupt snapshot is refused");

    // Assert
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "error must name {name}: {err}");
    assert!(err.to_lowercase().contains("checksum"), "{err}");

    bytes[middle] ^= 0x55;
    bytes.truncate(bytes.len() - 10);
    std::fs::write(victim, &bytes).unwrap();
    let err = spawn_app_in(dir.path(), SMALL_BOARD)
        .await
        .err()
        .expect("a truncated snapshot is refused");
    assert!(err.contains(name), "error must name {name}: {err}");
}

#[tokio::test]
async fn a_palette_that_lost_a_used_colour_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), SMALL_BOARD).await.unwrap();
    let mut painter = app.connect().await;
    painter.paint(1, 1, 1, 20).await;
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    app.stop().await;

    let small_palette = format!(
        "{SMALL_BOARD}background = 0\npalette = [\"#000000\", \"#FFFFFF\", \"#FF0000\", \"#00FF00\"]\n"
    );
    let err = spawn_app_in(dir.path(), &small_palette)
        .await
        .err()
        .expect("refused");

    assert!(err.contains("colour index"), "{err}");
    assert!(err.contains("4 colours"), "{err}");
}

#[tokio::test]
async fn sessions_are_told_the_server_is_going_away_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), SMALL_BOARD).await.unwrap();
    let mut viewer = app.connect().await;
    viewer.view(0, 0, 64, 64).await;
    viewer.wait_for_tiles(1).await;

    let stopping = tokio::spawn(app.stop());
    let (code, reason) = viewer.wait_for_close().await;
    stopping.await.unwrap();

    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
}

/// Starts the binary on a 256x256 board whose snapshots are an hour apart, and returns it with
/// its URL: whatever survives a `kill -9` within the test survives through the journal alone.
fn start_binary(dir: &Path) -> (std::process::Child, String) {
    let mut child = crate::helpers::tessera_binary(dir)
        .env("TESSERA__SERVER__LISTEN", "127.0.0.1:0")
        .env("TESSERA__STORAGE__SNAPSHOT_INTERVAL_SECS", "3600")
        .env("TESSERA__BOARDS__0__ID", "main")
        .env("TESSERA__BOARDS__0__WIDTH", "256")
        .env("TESSERA__BOARDS__0__HEIGHT", "256")
        .env("TESSERA__BOARDS__0__TILE_SIZE", "64")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = crate::helpers::printed_url(&mut child);
    (child, url)
}

#[tokio::test]
async fn every_acknowledged_paint_survives_kill_9_even_with_a_new_tile_size() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start_binary(dir.path());
    let ws_url = format!("{}ws", url.replacen("http://", "ws://", 1));
    let mut painter = Client::connect(&ws_url).await;
    let pattern = pattern(300);
    paint_all(&mut painter, &pattern).await;
    let seqs: Vec<u32> = painter.results.iter().map(|r| r.seq).collect();
    assert!(
        seqs.is_sorted(),
        "results come in the order of the paints: {seqs:?}"
    );
    let http = reqwest::Client::new()
        .post(format!("{url}api/boards/main/pixels"))
        .json(&serde_json::json!({"x": 255, "y": 255, "color": 9}))
        .send()
        .await
        .unwrap();
    assert_eq!(http.status(), 200, "HTTP paint accepted");

    // Act: no final snapshot, no flush of anything.
    child.kill().unwrap();
    child.wait().unwrap();
    let data = dir.path().join("data");
    assert!(
        region_files(&data).is_empty(),
        "no snapshot ran, so only the journal can restore the paint"
    );
    let restarted = SMALL_BOARD.replace("tile_size = 64", "tile_size = 32");
    let app = spawn_app_in(&data, &restarted).await.unwrap();

    // Assert
    let mut last = last_writes(&pattern);
    last.insert((255, 255), 9);
    let mut viewer = app.connect().await;
    viewer.view(0, 0, 256, 256).await;
    viewer.wait_for_tiles(64).await;
    for (&(x, y), &c) in &last {
        assert_eq!(viewer.pixel_at(x, y, 32), Some(c), "pixel ({x}, {y})");
    }
    app.stop().await;
    let journal = data.join("main").join("journal");
    let segments: Vec<_> = std::fs::read_dir(&journal).unwrap().flatten().collect();
    assert!(
        segments.len() <= 1,
        "replayed segments are deleted, at most the (empty) current one is left: {segments:?}"
    );
}

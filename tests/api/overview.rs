//! Overview tiles: the board downsampled by 2^level in 256-pixel tiles, refreshed in rounds,
//! with ETags, exact 404s, and built from the snapshots before a restarted server answers.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{PATIENCE, spawn_app, spawn_app_in};

/// 1024 x 1024 in 64-pixel tiles: level 1 is 512 x 512 (2 x 2 overview tiles), level 2 is
/// 256 x 256 (the top, one tile). Overview refreshed every 100 ms.
const BOARD: &str = "[server]\noverview_refresh_ms = 100\n[[boards]]\nid = \"main\"\nwidth = 1024\nheight = 1024\ntile_size = 64\n";
const BG: u8 = 31;

struct OverviewTile {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl OverviewTile {
    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
    fn width(&self) -> usize {
        self.header("x-tile-width").parse().unwrap()
    }
    fn version(&self) -> u64 {
        self.header("x-tile-version").parse().unwrap()
    }
    fn pixel(&self, x: usize, y: usize) -> u8 {
        self.body[y * self.width() + x]
    }
}

async fn get(url: &str, etag: Option<&str>) -> OverviewTile {
    let mut request = reqwest::Client::new().get(url);
    if let Some(etag) = etag {
        request = request.header("If-None-Match", etag);
    }
    let r = request.send().await.unwrap();
    OverviewTile {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// Polls `url` until `done` holds, failing after [`PATIENCE`].
async fn until(url: &str, what: &str, done: impl Fn(&OverviewTile) -> bool) -> OverviewTile {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let tile = get(url, None).await;
        assert_eq!(tile.status, StatusCode::OK, "{url}");
        if done(&tile) {
            return tile;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what} at {url}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn paint(app: &crate::helpers::TestApp, x: u32, y: u32, color: u8) {
    let r = reqwest::Client::new()
        .post(app.http("/api/boards/main/pixels"))
        .json(&serde_json::json!({"x": x, "y": y, "color": color}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "paint ({x}, {y})");
}

async fn paint_block(app: &crate::helpers::TestApp, x: u32, y: u32, edge: u32, color: u8) {
    for dy in 0..edge {
        for dx in 0..edge {
            paint(app, x + dx, y + dy, color).await;
        }
    }
}

async fn board_json(app: &crate::helpers::TestApp) -> serde_json::Value {
    reqwest::get(app.http("/api/boards/main"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_fresh_board_has_background_overview_tiles_at_their_real_size() {
    let board = BOARD
        .replace("width = 1024", "width = 600")
        .replace("height = 1024", "height = 300");
    let (app, _dir) = spawn_app(&board).await;

    // Level 1 of 600 x 300 is 300 x 150: two tiles, the right one 44 pixels wide.
    let edge = get(&app.http("/api/boards/main/overview/1/1/0"), None).await;
    let top = get(&app.http("/api/boards/main/overview/2/0/0"), None).await;

    assert_eq!(edge.status, StatusCode::OK);
    assert_eq!(edge.header("content-type"), "application/octet-stream");
    assert_eq!(edge.header("x-tile-width"), "44");
    assert_eq!(edge.header("x-tile-height"), "150");
    assert_eq!(edge.header("x-tile-version"), "0");
    assert_eq!(edge.header("cache-control"), "no-cache");
    assert!(
        edge.header("etag").starts_with("\"o1-"),
        "{:?}",
        edge.headers
    );
    assert_eq!(edge.body.len(), 44 * 150);
    assert!(edge.body.iter().all(|&c| c == BG));
    assert_eq!(
        (top.header("x-tile-width"), top.header("x-tile-height")),
        ("150", "75")
    );
    assert!(top.body.iter().all(|&c| c == BG));

    let json = board_json(&app).await;
    assert_eq!(
        json["overview"],
        serde_json::json!({"tile_size": 256, "levels": 2, "refresh_ms": 100})
    );
    let list: serde_json::Value = reqwest::get(app.http("/api/boards"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["overview"], json["overview"]);
    app.stop().await;
}

#[tokio::test]
async fn paints_reach_level_1_and_level_2_by_the_majority_of_their_children() {
    let (app, _dir) = spawn_app(BOARD).await;
    // One pixel of four is outvoted by the background at level 1; make sure it is applied first.
    paint(&app, 800, 400, 9).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        // Raw tile (12, 6) holds (800, 400) at (32, 16).
        let raw = reqwest::get(app.http("/api/boards/main/tiles/12/6"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if raw[16 * 64 + 32] == 9 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the paint never applied"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Act: a 2 x 2 block (one level-1 pixel), two of four pixels (a tie the colour wins), and
    // a 4 x 4 block (one level-2 pixel).
    paint_block(&app, 600, 300, 2, 5).await;
    paint(&app, 700, 300, 6).await;
    paint(&app, 700, 301, 6).await;
    paint_block(&app, 100, 200, 4, 7).await;

    // Assert: level-1 pixel (300, 150) is overview tile (1, 0), pixel (44, 150); the tie at
    // (350, 150) goes to the colour.
    let level1 = until(
        &app.http("/api/boards/main/overview/1/1/0"),
        "the 2x2 block and the tie at level 1",
        // Both conditions: a round may catch the paints half applied.
        |t| t.pixel(44, 150) == 5 && t.pixel(350 - 256, 150) == 6,
    )
    .await;
    assert_eq!(
        level1.pixel(400 - 256, 200),
        BG,
        "one pixel in four is outvoted"
    );
    assert_eq!(level1.pixel(45, 150), BG);
    assert_eq!(level1.pixel(44, 151), BG);
    assert_eq!(level1.body.len(), 256 * 256);
    let version = level1.version();
    assert!(version >= 1, "a changed tile has a version");
    assert!(version <= board_json(&app).await["version"].as_u64().unwrap());

    // Level-2 pixel (25, 50) of the single top tile; the 2x2 block is outvoted there.
    let level2 = until(
        &app.http("/api/boards/main/overview/2/0/0"),
        "the 4x4 block at level 2",
        |t| t.pixel(25, 50) == 7,
    )
    .await;
    assert_eq!(level2.body.len(), 256 * 256);
    assert_eq!(level2.pixel(150, 75), BG);
    assert_eq!(level2.pixel(26, 50), BG);
    // A refresh may have caught the block half painted (level 2 can already show it through
    // ties while one level-1 cell still had a single painted child): wait for the whole block.
    until(
        &app.http("/api/boards/main/overview/1/0/0"),
        "the 4x4 block as 2x2 at level 1",
        |t| (100..102).all(|y| (50..52).all(|x| t.pixel(x, y) == 7)),
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_unchanged_overview_tile_answers_304_and_a_paint_changes_its_etag() {
    let (app, _dir) = spawn_app(BOARD).await;
    let url = app.http("/api/boards/main/overview/1/0/0");
    let other = app.http("/api/boards/main/overview/1/1/1");
    let first = get(&url, None).await;
    let etag = first.header("etag").to_owned();
    let other_etag = get(&other, None).await.header("etag").to_owned();

    let unchanged = get(&url, Some(&etag)).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.header("etag"), etag);

    // Act
    paint_block(&app, 10, 10, 2, 3).await;

    // Assert
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let changed = loop {
        let r = get(&url, Some(&etag)).await;
        if r.status == StatusCode::OK {
            break r;
        }
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the overview tile never changed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(changed.header("etag"), etag);
    assert_eq!(changed.pixel(5, 5), 3);
    let again = get(&url, Some(changed.header("etag"))).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let untouched = get(&other, Some(&other_etag)).await;
    assert_eq!(
        untouched.status,
        StatusCode::NOT_MODIFIED,
        "a tile the paint did not reach keeps its ETag"
    );
    app.stop().await;
}

#[tokio::test]
async fn overview_tiles_are_compressed_when_the_client_accepts_it() {
    let (app, _dir) = spawn_app(BOARD).await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();

    let r = raw
        .get(app.http("/api/boards/main/overview/1/0/0"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();

    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(r.bytes().await.unwrap().len() < 256 * 256 / 16);
    app.stop().await;
}

#[tokio::test]
async fn missing_levels_and_tiles_are_json_404s_naming_what_exists() {
    let (app, _dir) = spawn_app(BOARD).await;
    let cases = [
        (
            "/api/boards/main/overview/0/0/0",
            "unknown_overview_tile",
            "board \"main\" has overview levels 1..=2, not 0",
        ),
        (
            "/api/boards/main/overview/3/0/0",
            "unknown_overview_tile",
            "board \"main\" has overview levels 1..=2, not 3",
        ),
        (
            "/api/boards/main/overview/1/2/0",
            "unknown_overview_tile",
            "board \"main\" has no overview tile (2, 0) at level 1, which is 2x2 tiles",
        ),
        (
            "/api/boards/main/overview/2/0/1",
            "unknown_overview_tile",
            "board \"main\" has no overview tile (0, 1) at level 2, which is 1x1 tiles",
        ),
        ("/api/boards/nope/overview/1/0/0", "unknown_board", "nope"),
        ("/api/boards/main/overview/x/0/0", "not_found", "overview/x"),
        ("/api/boards/main/overview/1/-1/0", "not_found", "-1"),
    ];
    for (path, code, message) in cases {
        let r = reqwest::get(app.http(path)).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], code, "{path}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{path}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_restarted_server_serves_the_restored_overview_at_once_under_new_etags() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), BOARD).await.unwrap();
    paint_block(&app, 600, 300, 2, 5).await;
    let url = app.http("/api/boards/main/overview/1/1/0");
    let before = until(&url, "the block before the restart", |t| {
        t.pixel(44, 150) == 5
    })
    .await;
    let old_etag = before.header("etag").to_owned();

    // Act: restart with a refresh interval far longer than the test, so only the overview
    // built at start can show the paint.
    app.stop().await;
    let slow = BOARD.replace("overview_refresh_ms = 100", "overview_refresh_ms = 60000");
    let app = spawn_app_in(dir.path(), &slow).await.unwrap();

    // Assert
    let url = app.http("/api/boards/main/overview/1/1/0");
    let after = get(&url, Some(&old_etag)).await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "an ETag of the previous run never matches"
    );
    assert_eq!(after.pixel(44, 150), 5);
    assert_eq!(after.pixel(45, 150), BG);
    assert_eq!(
        after.version(),
        board_json(&app).await["version"].as_u64().unwrap(),
        "restored tiles carry the restored board version"
    );
    let top = get(&app.http("/api/boards/main/overview/2/0/0"), None).await;
    assert!(
        top.body.iter().all(|&c| c == BG),
        "a 2x2 block is outvoted at level 2"
    );
    let untouched = get(&app.http("/api/boards/main/overview/1/0/0"), None).await;
    assert_eq!(untouched.version(), 0);
    app.stop().await;
}

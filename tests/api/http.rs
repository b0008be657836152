//! HTTP endpoints: metadata, raw tiles with ETags, the PNG, paints over HTTP, health.

use reqwest::StatusCode;
use tessera::protocol::PaintOutcome;

use crate::helpers::{SMALL_BOARD, spawn_app};

#[tokio::test]
async fn board_metadata_lists_geometry_and_palette() {
    let (app, _dir) = spawn_app(&SMALL_BOARD.replace("width = 256", "width = 200")).await;

    let list: serde_json::Value = reqwest::get(app.http("/api/boards"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let one: serde_json::Value = reqwest::get(app.http("/api/boards/main"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(list[0], one);
    assert_eq!(one["width"], 200);
    assert_eq!(one["tiles_x"], 4);
    assert_eq!(one["palette"].as_array().unwrap().len(), 32);
    assert_eq!(one["palette"][31], "#FFFFFF");
    let missing = reqwest::get(app.http("/api/boards/nope")).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "unknown_board");
    assert!(body["message"].as_str().unwrap().contains("nope"));
    app.stop().await;
}

#[tokio::test]
async fn a_raw_tile_has_its_version_in_an_etag_and_answers_304_when_unchanged() {
    let (app, _dir) = spawn_app(&SMALL_BOARD.replace("width = 256", "width = 200")).await;
    let http = reqwest::Client::new();
    let url = app.http("/api/boards/main/tiles/3/0");

    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let body = first.bytes().await.unwrap();
    assert_eq!(body.len(), 8 * 64, "the edge tile is 8 pixels wide");
    assert!(body.iter().all(|&c| c == 31));

    let unchanged = http
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    // A paint moves the version on.
    let mut painter = app.connect().await;
    painter.paint(1, 199, 1, 4).await;
    assert_eq!(painter.result_for(1).await, PaintOutcome::Accepted);
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let changed = loop {
        let r = http
            .get(&url)
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tile never changed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    let body = changed.bytes().await.unwrap();
    assert_eq!(
        body[8 + 7],
        4,
        "pixel (199, 1) is row 1, column 7 of the edge tile"
    );

    let outside = http
        .get(app.http("/api/boards/main/tiles/4/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn tiles_are_compressed_when_the_client_accepts_it() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();

    let r = raw
        .get(app.http("/api/boards/main/tiles/0/0"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();

    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(
        r.bytes().await.unwrap().len() < 64 * 64 / 4,
        "a blank tile compresses well"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_png_is_an_indexed_image_of_the_board_and_follows_paints() {
    let (app, _dir) = spawn_app(&SMALL_BOARD.replace("height = 256", "height = 100")).await;
    let http = reqwest::Client::new();
    let status = http
        .post(app.http("/api/boards/main/pixels"))
        .json(&serde_json::json!({"x": 10, "y": 99, "color": 2}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);

    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let bytes = http
            .get(app.http("/api/boards/main/image.png"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (256, 100));
        assert_eq!(info.color_type, png::ColorType::Indexed);
        let palette = info.palette.as_ref().unwrap().to_vec();
        assert_eq!(&palette[2 * 3..2 * 3 + 3], &[0xFF, 0x45, 0x00]);
        let mut image = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut image).unwrap();
        if image[99 * 256 + 10] == 2 {
            assert_eq!(image[0], 31);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the PNG never showed the paint"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn http_paints_follow_the_same_rules_as_the_socket() {
    let (app, _dir) =
        spawn_app(&SMALL_BOARD.replace("tile_size = 64", "tile_size = 64\ncooldown_secs = 60"))
            .await;
    let http = reqwest::Client::new();
    let url = app.http("/api/boards/main/pixels");
    let post = |body: serde_json::Value| http.post(&url).json(&body).send();

    let ok = post(serde_json::json!({"x": 1, "y": 1, "color": 3}))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let token = ok.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let again = post(serde_json::json!({"x": 2, "y": 1, "color": 3, "token": token}))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(again.headers().contains_key("retry-after"));
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["error"], "cooldown");
    assert!(body["retry_after_ms"].as_u64().unwrap() > 58_000);

    let cases = [
        (
            serde_json::json!({"x": 256, "y": 0, "color": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_bounds",
            "256",
        ),
        (
            serde_json::json!({"x": -1, "y": 0, "color": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_bounds",
            "-1",
        ),
        (
            serde_json::json!({"x": 0, "y": 0, "color": 300}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_color",
            "300",
        ),
        (
            serde_json::json!({"x": 0, "y": 0}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "color",
        ),
        (
            serde_json::json!({"x": 0, "y": 0, "color": 1, "token": "x"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "token",
        ),
    ];
    for (body, status, code, mentions) in cases {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let json: serde_json::Value = r.json().await.unwrap();
        assert_eq!(json["error"], code, "{body}");
        assert!(
            json["message"].as_str().unwrap().contains(mentions),
            "{body}: {json}"
        );
    }
    let unknown = http
        .post(app.http("/api/boards/other/pixels"))
        .json(&serde_json::json!({"x": 0, "y": 0, "color": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn health_and_the_page_are_served() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;

    let health: serde_json::Value = reqwest::get(app.http("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = reqwest::get(app.http("/")).await.unwrap();

    assert_eq!(health["status"], "ok");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("Tessera"));
    let js = reqwest::get(app.http("/protocol.js")).await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert_eq!(
        reqwest::get(app.http("/nope.js")).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn unparsable_paths_and_unknown_routes_answer_json_errors() {
    let (app, _dir) = spawn_app(SMALL_BOARD).await;
    let http = reqwest::Client::new();

    for (method, path) in [
        ("GET", "/api/boards/main/tiles/abc/0"),
        ("GET", "/api/boards/main/tiles/-1/0"),
        ("POST", "/nowhere"),
    ] {
        let r = http
            .request(method.parse().unwrap(), app.http(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{method} {path}");
    }
    app.stop().await;
}

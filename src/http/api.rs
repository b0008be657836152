//! JSON and binary endpoints under `/api`, plus `/healthz`.

use std::sync::Arc;

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::canvas::overview::OVERVIEW_TILE;
use crate::canvas::tile::GetPixels;
use crate::canvas::{Board, Rejection};
use crate::identity::UserToken;
use crate::protocol::RejectReason;
use crate::settings::Settings;

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let sessions = state.connections.load(std::sync::atomic::Ordering::Relaxed);
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "sessions": sessions }))
}

#[derive(Debug, Serialize)]
struct BoardJson {
    id: String,
    index: u16,
    width: u32,
    height: u32,
    tile_size: u32,
    tiles_x: u32,
    tiles_y: u32,
    cooldown_ms: u32,
    background: u8,
    palette: Vec<String>,
    /// Paints applied to the board so far.
    version: u64,
    overview: OverviewJson,
}

/// How to read the board's overview pyramid (`/overview/{level}/{tx}/{ty}`).
#[derive(Debug, Serialize)]
struct OverviewJson {
    /// Edge of an overview tile, whatever the board's `tile_size`.
    tile_size: u32,
    /// The top level, a single tile; levels run 1..=levels.
    levels: u32,
    /// How often the overview takes in new paints.
    refresh_ms: u64,
}

fn board_json(board: &Board, settings: &Settings) -> BoardJson {
    let info = board.info();
    BoardJson {
        id: info.id,
        index: board.index,
        width: info.width,
        height: info.height,
        tile_size: info.tile_size,
        tiles_x: board.geometry().tiles_x(),
        tiles_y: board.geometry().tiles_y(),
        cooldown_ms: info.cooldown_ms,
        background: info.background,
        palette: board
            .settings
            .palette
            .colours()
            .iter()
            .map(|c| c.to_string())
            .collect(),
        version: board.version(),
        overview: OverviewJson {
            tile_size: OVERVIEW_TILE,
            levels: board.overview.levels(),
            refresh_ms: u64::try_from(settings.server.overview_refresh.as_millis())
                .unwrap_or(u64::MAX),
        },
    }
}

pub(super) fn find_board<'a>(state: &'a AppState, id: &str) -> Result<&'a Arc<Board>, ApiError> {
    state
        .canvas
        .board_by_id(id)
        .ok_or_else(|| ApiError::UnknownBoard(id.to_owned()))
}

pub async fn boards(state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<BoardJson> = state
        .canvas
        .boards()
        .iter()
        .map(|b| board_json(b, &state.settings))
        .collect();
    HttpResponse::Ok().json(list)
}

pub async fn board(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(board_json(find_board(&state, &path)?, &state.settings)))
}

pub(super) fn etag_matches(req: &HttpRequest, etag: &EntityTag) -> bool {
    match req
        .headers()
        .get(header::IF_NONE_MATCH)
        .map(|_| header::Header::parse(req))
    {
        Some(Ok(IfNoneMatch::Any)) => true,
        Some(Ok(IfNoneMatch::Items(items))) => items.iter().any(|item| item.weak_eq(etag)),
        _ => false,
    }
}

/// The raw tile: one palette index per pixel, row-major, at the tile's real size.
pub async fn tile(
    req: HttpRequest,
    path: web::Path<(String, u32, u32)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, tx, ty) = path.into_inner();
    let board = find_board(&state, &id)?;
    let coord = board
        .geometry()
        .tile(tx, ty)
        .ok_or_else(|| ApiError::UnknownTile {
            board: id.clone(),
            tx,
            ty,
        })?;
    let rect = board.geometry().tile_rect(coord);
    let tile = board
        .tile(coord)
        .send(GetPixels)
        .await
        .map_err(|e| ApiError::Internal(format!("tile {coord} did not answer: {e}")))?;
    // The tile size is part of the tag: after a re-slice the same (tx, ty) is another tile.
    let etag = EntityTag::new_strong(format!(
        "t{}-v{}",
        board.geometry().tile_size(),
        tile.version
    ));
    Ok(raw_tile_response(
        &req,
        etag,
        (rect.width, rect.height),
        tile.version,
        tile.pixels,
    ))
}

/// A tile of palette indices (board or overview) as served over HTTP: 304 when the client
/// holds `etag`, else the bytes with their size and version in headers.
pub(super) fn raw_tile_response(
    req: &HttpRequest,
    etag: EntityTag,
    (width, height): (u32, u32),
    version: u64,
    pixels: bytes::Bytes,
) -> HttpResponse {
    if etag_matches(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header(header::ETag(etag))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(header::ETag(etag))
        .insert_header(("X-Tile-Width", width.to_string()))
        .insert_header(("X-Tile-Height", height.to_string()))
        .insert_header(("X-Tile-Version", version.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(pixels)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaintBody {
    // Wide signed types, so a negative or huge value is refused as out of bounds or an invalid
    // colour (422) rather than as unparsable JSON.
    x: i64,
    y: i64,
    color: i64,
    /// The user's identity; a new one is issued (and returned) when absent.
    token: Option<String>,
}

/// Paint over HTTP for scripts: the same checks and cooldown as the websocket.
pub async fn paint(
    path: web::Path<String>,
    body: web::Json<PaintBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let board = find_board(&state, &path)?;
    let user: UserToken = match &body.token {
        None => UserToken::generate(),
        Some(t) => t
            .parse()
            .map_err(|e: crate::identity::BadToken| ApiError::BadRequest(e.to_string()))?,
    };
    let geometry = board.geometry();
    let (x, y) = match (u32::try_from(body.x), u32::try_from(body.y)) {
        (Ok(x), Ok(y)) if geometry.pixel(x, y).is_some() => (x, y),
        _ => {
            return Err(ApiError::PaintDetail(
                Rejection::new(RejectReason::OutOfBounds),
                format!(
                    "pixel ({}, {}) is outside the {}x{} board",
                    body.x,
                    body.y,
                    geometry.width(),
                    geometry.height()
                ),
            ));
        }
    };
    let palette_len = board.settings.palette.len();
    let Some(color) = u8::try_from(body.color)
        .ok()
        .filter(|c| usize::from(*c) < palette_len)
    else {
        return Err(ApiError::PaintDetail(
            Rejection::new(RejectReason::InvalidColor),
            format!(
                "colour {} is not a palette index (0..{palette_len})",
                body.color
            ),
        ));
    };
    let ticket = state
        .canvas
        .paint(&user, board.index, x, y, color)
        .map_err(ApiError::Paint)?;
    // Accepted means on disk: answer once the journal has fsynced it.
    if state.canvas.wait_durable(ticket).await.is_err() {
        return Err(ApiError::Paint(Rejection::new(RejectReason::Unavailable)));
    }
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "status": "accepted", "token": user.as_str() })),
    )
}

/// Turns malformed JSON bodies into the same error shape as every other failure.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(4096)
        .error_handler(|err, _| ApiError::BadRequest(format!("invalid JSON body: {err}")).into())
}

/// Turns unparsable path segments (`/tiles/abc/0`) into JSON 404s.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, req| {
        ApiError::NotFound(format!("no such resource {:?}: {err}", req.path())).into()
    })
}

/// Turns unparsable query strings into JSON 400s.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _| ApiError::BadRequest(format!("invalid query string: {err}")).into())
}

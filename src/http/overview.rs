//! `GET /api/boards/{board}/overview/{level}/{tx}/{ty}`: one 256-pixel tile of the board
//! downsampled by `2^level`, for clients zoomed out too far to read the board's own tiles.

use actix_web::http::header::EntityTag;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::api::{find_board, raw_tile_response};
use super::error::ApiError;

/// The overview tile: one palette index per pixel, row-major, at its real size, with the same
/// headers as a raw tile. It is a copy out of memory, so no actor is asked.
pub async fn tile(
    req: HttpRequest,
    path: web::Path<(String, u32, u32, u32)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (id, level, tx, ty) = path.into_inner();
    let board = find_board(&state, &id)?;
    let overview = &board.overview;
    let tile = overview
        .read_tile(level, tx, ty)
        .map_err(|source| ApiError::UnknownOverviewTile { board: id, source })?;
    // The boot value keeps a tag of a previous run (versions restart from the snapshots, and
    // the board's geometry may have changed) from ever matching.
    let etag = EntityTag::new_strong(format!("o{level}-{}-{}", overview.boot(), tile.version));
    Ok(raw_tile_response(
        &req,
        etag,
        (tile.width, tile.height),
        tile.version,
        tile.pixels,
    ))
}

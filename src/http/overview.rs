//! `GET /api/boards/{board}/overview/{level}/{tx}/{ty}`: one 256-pixel tile of the board
//! downsampled by `2^level`, for clients zoomed out too far to read the board's own tiles.

use actix_web::http::header::{self, EntityTag};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::api::{etag_matches, find_board};
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
    if etag_matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(header::ETag(etag))
        .insert_header(("X-Tile-Width", tile.width.to_string()))
        .insert_header(("X-Tile-Height", tile.height.to_string()))
        .insert_header(("X-Tile-Version", tile.version.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(tile.pixels))
}

//! `GET /api/boards/{board}/image.png`: the whole board as an indexed PNG, rendered at most once
//! per board version and at most once a second.

use std::sync::Arc;
use std::time::Duration;

use crate::canvas::gather::gather;
use actix_web::http::header::{self, EntityTag};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use tokio::time::Instant;

use super::AppState;
use super::api::{etag_matches, find_board};
use super::error::ApiError;
use crate::canvas::Board;
use crate::canvas::board::Rendered;
use crate::canvas::tile::GetPixels;

/// Largest board rendered as one PNG: 1 GiB of palette indices held while encoding. Beyond it
/// (boards up to 65,536 x 65,536 are legal) clients read tiles.
const MAX_PNG_PIXELS: u64 = 1 << 30;
/// How old a served image may be. Under load the board changes every tick, so without this
/// every request would copy and encode the whole board.
const MAX_STALENESS: Duration = Duration::from_secs(1);

pub async fn png(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let board = Arc::clone(find_board(&state, &path)?);
    let pixels = board.geometry().pixel_count();
    if pixels > MAX_PNG_PIXELS {
        return Err(ApiError::TooLarge(format!(
            "board {:?} has {pixels} pixels, more than the {MAX_PNG_PIXELS} a single PNG is rendered for; read its tiles instead",
            board.id(),
        )));
    }
    let image = match fresh_enough(&board) {
        Some(image) => image,
        None => {
            let _rendering = board.png.render_lock.lock().await;
            // Someone else may have rendered while we waited.
            match fresh_enough(&board) {
                Some(image) => image,
                None => render(&board).await?,
            }
        }
    };
    let etag = EntityTag::new_strong(format!("b{}", image.version));
    if etag_matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(header::ETag(etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(image.bytes))
}

/// The cached image, if it shows the current version or is younger than [`MAX_STALENESS`].
fn fresh_enough(board: &Board) -> Option<Rendered> {
    let version = board.version();
    board
        .png
        .last
        .lock()
        .as_ref()
        .filter(|r| r.version == version || r.at.elapsed() < MAX_STALENESS)
        .cloned()
}

async fn render(board: &Arc<Board>) -> Result<Rendered, ApiError> {
    let version = board.version();
    let at = Instant::now();
    let tiles = gather(board.tiles(), || GetPixels)
        .await
        .into_iter()
        .map(|t| t.map(|t| t.pixels))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::Internal("a tile stopped before answering".into()))?;
    let render_board = Arc::clone(board);
    let bytes = web::block(move || encode(&render_board, tiles))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let rendered = Rendered { version, at, bytes };
    *board.png.last.lock() = Some(rendered.clone());
    Ok(rendered)
}

fn encode(board: &Board, tiles: Vec<Bytes>) -> Result<Bytes, ApiError> {
    let geometry = board.geometry();
    let width = geometry.width() as usize;
    let mut image = vec![0u8; geometry.pixel_count() as usize];
    for (coord, pixels) in geometry.all_tiles().zip(tiles) {
        let rect = geometry.tile_rect(coord);
        let (w, x, y) = (rect.width as usize, rect.x as usize, rect.y as usize);
        for (row, src) in pixels.chunks_exact(w).enumerate() {
            let start = (y + row) * width + x;
            image[start..start + w].copy_from_slice(src);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, geometry.width(), geometry.height());
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(
        board
            .settings
            .palette
            .colours()
            .iter()
            .flat_map(|c| c.0)
            .collect::<Vec<u8>>(),
    );
    let internal = |e: png::EncodingError| ApiError::Internal(format!("png encoding failed: {e}"));
    let mut writer = encoder.write_header().map_err(internal)?;
    writer.write_image_data(&image).map_err(internal)?;
    writer.finish().map_err(internal)?;
    Ok(out.into())
}

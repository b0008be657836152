//! HTTP routes: board metadata, raw tiles, overview tiles, the PNG, paints for scripts, health,
//! assets and `/ws`.

mod api;
pub use api::{json_config, path_config, query_config};
mod assets;
pub mod error;
mod overview;
mod png;
mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};

use actix_web::middleware::Compress;
use actix_web::web;

use crate::canvas::Canvas;
use crate::settings::Settings;

/// Shared by every worker: the canvas and what limits the connections to it.
pub struct AppState {
    pub canvas: Arc<Canvas>,
    pub settings: Arc<Settings>,
    /// Open websocket sessions.
    pub connections: Arc<AtomicUsize>,
    pub next_session_id: AtomicU64,
    /// Turns true when the server begins to shut down; every session then closes with 1001.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(api::health))
        .route("/ws", web::get().to(ws::upgrade))
        .service(
            web::scope("/api")
                // Tiles and JSON compress well (a blank tile is one repeated byte); the websocket
                // upgrade is kept outside the scope so it is never wrapped.
                .wrap(Compress::default())
                .route("/boards", web::get().to(api::boards))
                .route("/boards/{board}", web::get().to(api::board))
                .route("/boards/{board}/tiles/{tx}/{ty}", web::get().to(api::tile))
                .route(
                    "/boards/{board}/overview/{level}/{tx}/{ty}",
                    web::get().to(overview::tile),
                )
                .route("/boards/{board}/image.png", web::get().to(png::png))
                .route("/boards/{board}/pixels", web::post().to(api::paint)),
        )
        .route("/", web::get().to(assets::index))
        .route("/{path:.*}", web::get().to(assets::file))
        .default_service(web::to(|req: actix_web::HttpRequest| async move {
            actix_web::ResponseError::error_response(&error::ApiError::NotFound(format!(
                "no route for {} {}",
                req.method(),
                req.path()
            )))
        }));
}

//! The browser client: files of `assets/`, embedded in the binary and served at `/`.

use actix_web::{HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
#[exclude = "*.test.*"]
struct Assets;

pub async fn index() -> HttpResponse {
    serve("index.html")
}

pub async fn file(path: web::Path<String>) -> HttpResponse {
    serve(&path)
}

fn serve(path: &str) -> HttpResponse {
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            HttpResponse::Ok()
                .content_type(mime.as_ref())
                // Assets change only with the binary; revalidate so an upgrade is picked up.
                .insert_header(("Cache-Control", "no-cache"))
                .body(file.data.into_owned())
        }
        None => HttpResponse::NotFound().json(
            serde_json::json!({ "error": "not_found", "message": format!("no asset {path:?}") }),
        ),
    }
}

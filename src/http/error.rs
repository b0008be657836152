//! HTTP errors: one enum for every way a request fails, each mapped to a status and JSON body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::canvas::Rejection;
use crate::canvas::overview::OverviewError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("board {0:?} does not exist")]
    UnknownBoard(String),
    #[error("tile ({tx}, {ty}) is outside board {board:?}")]
    UnknownTile { board: String, tx: u32, ty: u32 },
    #[error("board {board:?} {source}")]
    UnknownOverviewTile {
        board: String,
        #[source]
        source: OverviewError,
    },
    #[error("paint refused: {}", .0.reason.as_str())]
    Paint(Rejection),
    #[error("paint refused: {1}")]
    PaintDetail(Rejection, String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotFound(String),
    #[error("server is at its limit of {0} connections")]
    TooManyConnections(usize),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownBoard(_) => "unknown_board",
            ApiError::UnknownTile { .. } => "unknown_tile",
            ApiError::UnknownOverviewTile { .. } => "unknown_overview_tile",
            ApiError::Paint(r) | ApiError::PaintDetail(r, _) => r.reason.as_str(),
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge(_) => "too_large",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooManyConnections(_) => "too_many_connections",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use crate::protocol::RejectReason as R;
        match self {
            ApiError::UnknownBoard(_)
            | ApiError::UnknownTile { .. }
            | ApiError::UnknownOverviewTile { .. } => StatusCode::NOT_FOUND,
            ApiError::Paint(r) | ApiError::PaintDetail(r, _) => match r.reason {
                R::Cooldown | R::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                R::UnknownBoard => StatusCode::NOT_FOUND,
                R::OutOfBounds | R::InvalidColor => StatusCode::UNPROCESSABLE_ENTITY,
                R::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooManyConnections(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Paint(r) = self
            && r.retry_after_ms > 0
        {
            body["retry_after_ms"] = r.retry_after_ms.into();
            response.insert_header(("Retry-After", r.retry_after_ms.div_ceil(1000).to_string()));
        }
        response.json(body)
    }
}

//! `GET /ws`: the websocket upgrade that starts a session actor.

use std::sync::atomic::Ordering;

use actix::{Actor, AsyncContext};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use actix_ws::{CloseCode, CloseReason};

use crate::identity::UserToken;
use crate::protocol::close_code;
use crate::session::body::SessionBody;
use crate::session::{ConnectionSlot, Session, SessionParts};

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // A malformed token is answered after the upgrade, with close code 4003: browsers cannot
    // read the status of a refused upgrade, only a close code.
    let user = match &query.token {
        None => Ok(UserToken::generate()),
        Some(token) => token.parse::<UserToken>(),
    };
    let limits = &state.settings.limits;
    let slot = ConnectionSlot::try_acquire(&state.connections, limits.max_connections)
        .ok_or(ApiError::TooManyConnections(limits.max_connections))?;
    let (response, ws, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let user = match user {
        Ok(user) => user,
        Err(bad) => {
            let reason = CloseReason {
                code: CloseCode::from(close_code::BAD_TOKEN),
                description: Some(bad.to_string()),
            };
            actix_web::rt::spawn(async move {
                let _ = ws.close(Some(reason)).await;
                drop(stream);
            });
            return Ok(response);
        }
    };
    let stream = stream
        .max_frame_size(limits.max_message_bytes)
        .aggregate_continuations()
        .max_continuation_size(limits.max_message_bytes);
    let parts = SessionParts {
        id: state.next_session_id.fetch_add(1, Ordering::Relaxed),
        user,
        canvas: state.canvas.clone(),
        limits: limits.clone(),
        ws,
        slot,
        shutting_down: state.shutting_down.clone(),
    };
    let (session, welcome, writer) = Session::open(parts);
    Session::create(move |ctx| {
        ctx.add_stream(stream);
        session
    });
    // The session's frames are written by the connection's own task, beside what the actor
    // sends through actix-ws (see `session::writer`).
    Ok(response
        .map_body(|_, control| SessionBody::new(control, welcome, writer))
        .map_into_boxed_body())
}

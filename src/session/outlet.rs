//! Where a session's frames go: the websocket in production, a channel for the load generator's
//! in-process mode, so the same session actor is measured with and without sockets.

use std::future::Future;

use actix_ws::{CloseReason, Closed};
use bytes::Bytes;

/// The sending half of a session's connection. Clones share one connection.
pub trait Outlet: Clone + Unpin + 'static {
    fn binary(&mut self, frame: Bytes) -> impl Future<Output = Result<(), Closed>> + 'static;
    fn ping(&mut self) -> impl Future<Output = Result<(), Closed>> + 'static;
    fn pong(&mut self, payload: Bytes) -> impl Future<Output = Result<(), Closed>> + 'static;
    fn close(self, reason: CloseReason) -> impl Future<Output = Result<(), Closed>> + 'static;
}

impl Outlet for actix_ws::Session {
    fn binary(&mut self, frame: Bytes) -> impl Future<Output = Result<(), Closed>> + 'static {
        let mut ws = self.clone();
        async move { ws.binary(frame).await }
    }

    fn ping(&mut self) -> impl Future<Output = Result<(), Closed>> + 'static {
        let mut ws = self.clone();
        async move { ws.ping(b"").await }
    }

    fn pong(&mut self, payload: Bytes) -> impl Future<Output = Result<(), Closed>> + 'static {
        let mut ws = self.clone();
        async move { ws.pong(&payload).await }
    }

    fn close(self, reason: CloseReason) -> impl Future<Output = Result<(), Closed>> + 'static {
        actix_ws::Session::close(self, Some(reason))
    }
}

/// What an in-memory outlet delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Binary(Bytes),
    Close(CloseReason),
}

/// An outlet into a bounded channel. The bound plays the part of the socket buffer: a reader
/// that falls behind makes writes wait, exactly as a slow websocket client does.
#[derive(Debug, Clone)]
pub struct ChannelOutlet(pub tokio::sync::mpsc::Sender<Outgoing>);

impl Outlet for ChannelOutlet {
    fn binary(&mut self, frame: Bytes) -> impl Future<Output = Result<(), Closed>> + 'static {
        let tx = self.0.clone();
        async move { tx.send(Outgoing::Binary(frame)).await.map_err(|_| Closed) }
    }

    fn ping(&mut self) -> impl Future<Output = Result<(), Closed>> + 'static {
        std::future::ready(Ok(()))
    }

    fn pong(&mut self, _: Bytes) -> impl Future<Output = Result<(), Closed>> + 'static {
        std::future::ready(Ok(()))
    }

    async fn close(self, reason: CloseReason) -> Result<(), Closed> {
        self.0
            .send(Outgoing::Close(reason))
            .await
            .map_err(|_| Closed)
    }
}

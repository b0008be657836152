//! A real websocket connection (tokio-tungstenite), to tessera or to `wsprobe limit-server`.

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Incoming, LinkClosed};

/// Per-connection read buffer. tungstenite zero-fills the free part of it before every read
/// (including the last one of a burst, which finds nothing), so with thousands of connections
/// receiving small frames its size is CPU spent in `memset`. Sized for one of tessera's small
/// frames (payload under 8 KiB - 16, header 4 bytes) per read; larger frames still arrive
/// whole, in several reads. Measured on p2 at 4,000 paints/s (2026-12-02): 16 KiB took 49-50%
/// of a core, 4 KiB 47-48%; in p1 4 KiB took 2-3 points more than 16 KiB (two reads per frame).
const READ_BUFFER_BYTES: usize = 8 * 1024;

pub struct WsLink {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub async fn connect(url: &str) -> Result<WsLink, String> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // An overview viewer's first frame holds the state of every tile of the board, which
        // for large boards exceeds tungstenite's 64 MiB default.
        .max_message_size(None)
        .max_frame_size(None);
    // Nagle off: paints are tiny and latency is what is measured.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| format!("websocket connect to {url}: {e}"))?;
    Ok(WsLink { ws })
}

impl WsLink {
    pub async fn send(&mut self, frame: Bytes) -> Result<(), LinkClosed> {
        self.ws
            .feed(Message::Binary(frame))
            .await
            .map_err(|_| LinkClosed)
    }

    pub async fn flush(&mut self) -> Result<(), LinkClosed> {
        self.ws.flush().await.map_err(|_| LinkClosed)
    }

    pub async fn recv(&mut self) -> Incoming {
        classify(self.ws.next().await)
    }

    pub fn try_recv(&mut self) -> Option<Incoming> {
        self.ws.next().now_or_never().map(classify)
    }
}

fn classify(item: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Incoming {
    match item {
        Some(Ok(Message::Binary(frame))) => Incoming::Frame(frame),
        Some(Ok(Message::Text(_))) => Incoming::Unexpected,
        Some(Ok(Message::Close(frame))) => Incoming::Closed(frame.map(|f| u16::from(f.code))),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Incoming::Control,
        Some(Err(_)) | None => Incoming::Closed(None),
    }
}

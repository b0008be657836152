//! A real websocket connection (tokio-websockets), to tessera or to `wsprobe limit-server`.
//!
//! Why tokio-websockets and not tungstenite: tungstenite zero-fills the free part of its read
//! buffer before every read, including the last read of a burst, which finds nothing. With
//! thousands of connections receiving small frames that `memset` was 7.7% of the generator's
//! samples at p2's 53,000 frames/s (BENCHMARKS.md); tokio-websockets reads through
//! `tokio-util`'s codec into uninitialised spare capacity.

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http::Uri;
use tokio::net::TcpStream;
use tokio_websockets::{ClientBuilder, Limits, Message, WebSocketStream};

use super::{Incoming, LinkClosed};

pub struct WsLink {
    ws: WebSocketStream<TcpStream>,
}

pub async fn connect(url: &str) -> Result<WsLink, String> {
    let failed = |e: &dyn std::fmt::Display| format!("websocket connect to {url}: {e}");
    let uri: Uri = url.parse().map_err(|e| failed(&e))?;
    // The URL was checked to be ws:// to a loopback address (`cli::check_loopback`).
    let host = uri.host().ok_or_else(|| failed(&"no host"))?;
    let addr = (
        host.trim_start_matches('[').trim_end_matches(']'),
        uri.port_u16().unwrap_or(80),
    );
    let socket = TcpStream::connect(addr).await.map_err(|e| failed(&e))?;
    // Nagle off: paints are tiny and latency is what is measured.
    socket.set_nodelay(true).map_err(|e| failed(&e))?;
    let (ws, _) = ClientBuilder::from_uri(uri)
        // An overview viewer's first frame holds the state of every tile of the board, which
        // for large boards exceeds the 64 MiB default.
        .limits(Limits::unlimited())
        .connect_on(socket)
        .await
        .map_err(|e| failed(&e))?;
    Ok(WsLink { ws })
}

impl WsLink {
    pub async fn send(&mut self, frame: Bytes) -> Result<(), LinkClosed> {
        self.ws
            .feed(Message::binary(frame))
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

fn classify(item: Option<Result<Message, tokio_websockets::Error>>) -> Incoming {
    match item {
        Some(Ok(message)) if message.is_binary() => {
            Incoming::Frame(Bytes::from(message.into_payload()))
        }
        Some(Ok(message)) if message.is_close() => {
            Incoming::Closed(message.as_close().map(|(code, _)| u16::from(code)))
        }
        Some(Ok(message)) if message.is_text() => Incoming::Unexpected,
        Some(Ok(_)) => Incoming::Control,
        Some(Err(_)) | None => Incoming::Closed(None),
    }
}

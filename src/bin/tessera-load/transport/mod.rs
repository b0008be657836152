//! Connections to sessions: real websockets ([`ws`]), or channels straight into session actors
//! running in this process ([`in_process`]). Viewers and painters use both through [`Link`].

pub mod in_process;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tessera::protocol::Welcome;

use crate::codec::Codec;
use in_process::{ChannelLink, InProcessServer};
use ws::WsLink;

/// Time allowed for connecting and receiving the server's greeting. Generous: a server accepting
/// a ramp of thousands of connections on a busy machine can take seconds per handshake.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// What reading a connection produced.
#[derive(Debug)]
pub enum Incoming {
    /// A binary frame.
    Frame(Bytes),
    /// Something that is not part of the protocol (a text frame): a bad frame.
    Unexpected,
    /// A control frame (ping, pong) the websocket layer handles by itself.
    Control,
    /// The connection ended, with the server's close code if it sent one.
    Closed(Option<u16>),
}

#[derive(Debug, thiserror::Error)]
#[error("the connection is closed")]
pub struct LinkClosed;

/// One client connection.
pub enum Link {
    Ws(Box<WsLink>),
    InProcess(ChannelLink),
}

impl Link {
    /// Queues a frame; [`Link::flush`] sends what is queued.
    pub async fn send(&mut self, frame: Bytes) -> Result<(), LinkClosed> {
        match self {
            Link::Ws(ws) => ws.send(frame).await,
            Link::InProcess(ch) => ch.send(frame).await,
        }
    }

    pub async fn flush(&mut self) -> Result<(), LinkClosed> {
        match self {
            Link::Ws(ws) => ws.flush().await,
            Link::InProcess(_) => Ok(()),
        }
    }

    /// Waits for the next frame or the end of the connection. Cancel-safe.
    pub async fn recv(&mut self) -> Incoming {
        match self {
            Link::Ws(ws) => ws.recv().await,
            Link::InProcess(ch) => ch.recv().await,
        }
    }

    /// What is already readable, without waiting.
    pub fn try_recv(&mut self) -> Option<Incoming> {
        match self {
            Link::Ws(ws) => ws.try_recv(),
            Link::InProcess(ch) => ch.try_recv(),
        }
    }

    /// Collects `first` and whatever else is already readable, up to `max` frames, into
    /// `frames`: a burst is accounted at once (one clock read, one lock). Returns how many
    /// non-protocol frames it skipped, and `Some(code)` when the connection ended.
    pub fn drain_burst(
        &mut self,
        first: Incoming,
        frames: &mut Vec<Bytes>,
        max: usize,
    ) -> (u64, Option<Option<u16>>) {
        let mut bad = 0;
        let mut next = Some(first);
        while let Some(incoming) = next.take() {
            match incoming {
                Incoming::Frame(frame) => frames.push(frame),
                Incoming::Unexpected => bad += 1,
                Incoming::Control => {}
                Incoming::Closed(code) => return (bad, Some(code)),
            }
            if frames.len() < max {
                next = self.try_recv();
            }
        }
        (bad, None)
    }

    /// How often the client must speak to be heard as alive, when the transport does not answer
    /// the server's pings by itself.
    pub fn keepalive_interval(&self) -> Option<Duration> {
        match self {
            Link::Ws(_) => None,
            Link::InProcess(_) => Some(in_process::KEEPALIVE_INTERVAL),
        }
    }

    pub async fn keepalive(&mut self) -> Result<(), LinkClosed> {
        match self {
            Link::Ws(_) => Ok(()),
            Link::InProcess(ch) => ch.keepalive().await,
        }
    }
}

/// Where sessions are opened.
pub enum Transport {
    Ws { url: String },
    InProcess(Arc<InProcessServer>),
}

impl Transport {
    /// A new session, greeted: returns the link and, for tessera, the server's `Welcome`.
    pub async fn open(&self, codec: Codec) -> Result<(Link, Option<Welcome>), String> {
        let open = async {
            let mut link = match self {
                Transport::Ws { url } => Link::Ws(Box::new(ws::connect(url).await?)),
                Transport::InProcess(server) => Link::InProcess(server.connect()?),
            };
            let welcome = codec.handshake(&mut link).await?;
            Ok((link, welcome))
        };
        tokio::time::timeout(OPEN_TIMEOUT, open)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no connection and greeting within {OPEN_TIMEOUT:?}"
                ))
            })
    }

    /// The URL for the report.
    pub fn describe(&self) -> String {
        match self {
            Transport::Ws { url } => url.clone(),
            Transport::InProcess(_) => "in-process".to_owned(),
        }
    }
}

//! The websocket's response body: actix-ws's own body (the actor's replies, pings, pongs and the
//! close frame) with the session's frame writer beside it.
//!
//! actix-http polls the body whenever the connection can take more bytes, on the connection's
//! own task. The frames of a tick are pulled from the session's queue right there, framed as
//! websocket messages; the session actor is not involved (see `writer.rs`).

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use bytes::Bytes;

use super::writer::FrameWriter;

pub struct SessionBody {
    /// actix-ws's body: what the actor sends through its `actix_ws::Session`.
    control: BoxBody,
    writer: FrameWriter,
    /// The writer has ended (the actor stopped): only the control body remains.
    writer_done: bool,
    /// The payload of the message whose header went out last.
    payload: Option<Bytes>,
}

impl SessionBody {
    pub fn new(control: BoxBody, writer: FrameWriter) -> Self {
        Self {
            control,
            writer,
            writer_done: false,
            payload: None,
        }
    }

    fn data(&mut self, frame: Bytes) -> Bytes {
        let header = binary_header(frame.len());
        self.payload = Some(frame);
        header
    }
}

impl MessageBody for SessionBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        // A message's payload right after its header: nothing may come between them.
        if let Some(payload) = this.payload.take() {
            return Poll::Ready(Some(Ok(payload)));
        }
        if let Some(welcome) = this.writer.take_first() {
            return Poll::Ready(Some(Ok(this.data(welcome))));
        }
        // The control body first: it ends with the close frame, after which nothing is sent.
        match Pin::new(&mut this.control).poll_next(cx) {
            Poll::Pending => {}
            done_or_bytes => return done_or_bytes,
        }
        if this.writer_done {
            return Poll::Pending;
        }
        match this.writer.poll_frame(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(this.data(frame)))),
            Poll::Ready(None) => {
                // The actor stopped; its control body ends once its last message is out.
                this.writer_done = true;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The header of an unfragmented, unmasked binary message of `len` bytes (RFC 6455, 5.2): a
/// server's frames are never masked.
fn binary_header(len: usize) -> Bytes {
    const FIN_BINARY: u8 = 0x80 | 0x2;
    let mut header = [0u8; 10];
    let n = if len < 126 {
        header[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    header[0] = FIN_BINARY;
    Bytes::copy_from_slice(&header[..n])
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    use super::*;

    #[test]
    fn headers_match_tungstenite_s_framing() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 600_000] {
            let payload = vec![7u8; len];
            let mut reference = Vec::new();
            Frame::message(payload, OpCode::Data(Data::Binary), true)
                .format(&mut reference)
                .expect("a Vec takes every byte");
            let header = binary_header(len);
            assert_eq!(
                &reference[..header.len()],
                &header[..],
                "header of a {len}-byte message"
            );
            assert_eq!(reference.len(), header.len() + len);
        }
    }
}

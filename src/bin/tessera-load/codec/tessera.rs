//! Tessera's protocol, through the library's own encoder and reader (`tessera::protocol`), so
//! the load generator can never drift from the server's wire format. Frames are read in place
//! (`read_server_frame`): a viewer sees every update of its tiles, and an allocation per update
//! made the generator, not the server, the bottleneck of the paint-intake runs.

use bytes::Bytes;
use tessera::geometry::Rect;
use tessera::protocol::{self, ClientMessage, ServerMessage, ServerMessageView, Welcome};

use crate::plan::Pixel;

pub use tessera::protocol::read_server_frame as read;

pub fn encode_paint(seq: u32, board: u16, px: Pixel) -> Bytes {
    protocol::encode_client(&ClientMessage::Paint {
        seq,
        board,
        x: px.x,
        y: px.y,
        color: px.color,
    })
    .into()
}

pub fn encode_viewport(board: u16, rect: Rect) -> Bytes {
    protocol::encode_client(&ClientMessage::SetViewport {
        board,
        x: rect.x,
        y: rect.y,
        width: rect.width,
        height: rect.height,
    })
    .into()
}

/// The `Welcome` that must open a connection's first frame.
pub fn welcome(frame: &[u8]) -> Result<Welcome, String> {
    let first = read(frame)
        .next()
        .transpose()
        .map_err(|e| format!("undecodable first frame: {e}"))?;
    match first.map(ServerMessageView::into_owned) {
        Some(ServerMessage::Welcome(w)) if w.protocol_version == protocol::PROTOCOL_VERSION => {
            Ok(w)
        }
        Some(ServerMessage::Welcome(w)) => Err(format!(
            "server speaks protocol version {}, this generator {}",
            w.protocol_version,
            protocol::PROTOCOL_VERSION
        )),
        other => Err(format!("first message was not a Welcome: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera::protocol::{Limits, decode_client};

    #[test]
    fn paints_and_viewports_use_the_library_encoding() {
        let px = Pixel {
            x: 3,
            y: 258,
            color: 5,
        };
        assert_eq!(
            decode_client(&encode_paint(7, 0, px)).unwrap(),
            ClientMessage::Paint {
                seq: 7,
                board: 0,
                x: 3,
                y: 258,
                color: 5
            }
        );
        let rect = Rect {
            x: 1,
            y: 2,
            width: 3,
            height: 4,
        };
        assert!(matches!(
            decode_client(&encode_viewport(1, rect)).unwrap(),
            ClientMessage::SetViewport {
                board: 1,
                x: 1,
                y: 2,
                width: 3,
                height: 4
            }
        ));
    }

    #[test]
    fn only_a_welcome_of_this_version_opens_a_connection() {
        let w = Welcome {
            protocol_version: protocol::PROTOCOL_VERSION,
            session_id: 1,
            user_token: "t".into(),
            limits: Limits {
                tick_ms: 20,
                max_message_bytes: 1024,
                max_viewport_area: 10,
                max_messages_per_second: 10,
            },
            boards: vec![],
        };
        let frame = protocol::encode_server(&ServerMessage::Welcome(w.clone()));
        assert_eq!(welcome(&frame).unwrap(), w);
        let old = ServerMessage::Welcome(Welcome {
            protocol_version: 0,
            ..w
        });
        assert!(welcome(&protocol::encode_server(&old)).is_err());
        assert!(
            welcome(&[1, 2, 3]).is_err(),
            "garbage is an error, not a panic"
        );
    }
}

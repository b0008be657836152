//! The wire protocol: every websocket message, and the only code that turns them into bytes.
//!
//! Messages are serde enums in bincode's standard wire format: little-endian variable-length
//! integers (see `docs/protocol.md` for the byte-by-byte definition and `tests/golden/` for
//! pinned vectors). A server frame carries one or more [`ServerMessage`]s back to back; a
//! client frame carries exactly one [`ClientMessage`].

mod borrowed;
mod view;

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::{Deserialize, Serialize};

pub use view::{
    PixelChanges, ServerFrameReader, ServerMessageView, TileStateView, TileUpdateView,
    read_server_frame,
};

/// Bumped on any change to the bytes of an existing message.
pub const PROTOCOL_VERSION: u16 = 2;

/// Variable-length integers because most of what the server sends is tile updates, and a
/// fixed-width one spent 34 bytes of header (u32 tag, u64 versions and count) on a 5-byte pixel
/// change; in this encoding a small number is one byte, and an update of one change is at most
/// 14 bytes while the board index and tile coordinates are below 251 and the tile's version
/// below 65,536. The encoding is still simple enough to write a client from `docs/protocol.md`
/// alone (section 2). Version 1 used fixed-width integers.
/// The limit bounds what one decoded message may claim: without it a length field of 2^64 - 1
/// (a corrupt or hostile server frame) made bincode try to allocate that much and abort. The
/// largest real message, a 1024 x 1024 tile state, is 1 MiB; client messages are bounded by
/// `max_message_bytes` before they get here.
const WIRE: Configuration<LittleEndian, Varint, Limit<MAX_DECODED_BYTES>> =
    bincode::config::standard().with_limit::<MAX_DECODED_BYTES>();
const MAX_DECODED_BYTES: usize = 64 << 20;

/// Messages a client sends. One per binary websocket frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// Show this pixel rectangle of a board (clipped to it): the server subscribes the session to
    /// exactly the tiles it intersects and drops every other subscription. A zero-sized
    /// rectangle unsubscribes from everything.
    SetViewport {
        board: u16,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
    /// Paint one pixel. `seq` is chosen by the client and echoed in the [`PaintResult`].
    Paint {
        seq: u32,
        board: u16,
        x: u32,
        y: u32,
        color: u8,
    },
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// First message of every connection.
    Welcome(Welcome),
    /// A whole tile: sent on subscription and on resynchronisation. Replaces the client's copy.
    TileState(TileState),
    /// The pixels that changed in one tile during one tick.
    TileUpdate(TileUpdate),
    /// The outcome of one `Paint`.
    PaintResult(PaintResult),
    /// Something the client sent was refused; see [`ErrorCode`].
    Error {
        code: ErrorCode,
        #[serde(deserialize_with = "borrowed::string")]
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u16,
    /// This connection's id (for logs; a reconnect gets a new one).
    pub session_id: u64,
    /// The identity to present as `?token=` on the next connection, so cooldowns follow the user.
    #[serde(deserialize_with = "borrowed::string")]
    pub user_token: String,
    pub limits: Limits,
    /// Boards in index order: messages name a board by its index in this list.
    pub boards: Vec<BoardInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The batching tick: updates reach a viewer at most once per tick.
    pub tick_ms: u32,
    /// Largest client frame accepted; larger frames close the connection (code 1009).
    pub max_message_bytes: u32,
    /// Largest viewport area in pixels after clipping to the board.
    pub max_viewport_area: u64,
    /// Sustained client messages per second before `RateLimited`.
    pub max_messages_per_second: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardInfo {
    #[serde(deserialize_with = "borrowed::string")]
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
    /// Minimum time between two accepted paints of one user on this board.
    pub cooldown_ms: u32,
    /// Palette index of a pixel nobody has painted.
    pub background: u8,
    pub palette: Vec<[u8; 3]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileState {
    pub board: u16,
    pub tx: u16,
    pub ty: u16,
    /// Number of paints ever applied to this tile; later updates continue from it.
    pub version: u64,
    pub width: u16,
    pub height: u16,
    /// `width * height` palette indices, row-major.
    #[serde(
        serialize_with = "serde_bytes::serialize",
        deserialize_with = "borrowed::bytes"
    )]
    pub pixels: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileUpdate {
    pub board: u16,
    pub tx: u16,
    pub ty: u16,
    /// The tile version this update applies to. A client whose copy is at another version has
    /// missed something and should drop the tile and set its viewport again.
    pub base_version: u64,
    /// The tile version after this update (`base_version` + paints applied in the tick).
    pub version: u64,
    /// Final colour of every pixel that changed (repeated writes in one tick are coalesced).
    pub changes: Vec<PixelChange>,
}

/// One changed pixel, at `(dx, dy)` from the tile's top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelChange {
    pub dx: u16,
    pub dy: u16,
    pub color: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaintResult {
    pub seq: u32,
    pub outcome: PaintOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaintOutcome {
    /// Applied: every viewer of the tile sees it within one tick.
    Accepted,
    /// Not applied; the canvas is unchanged. `retry_after_ms` is the wait for `Cooldown` and
    /// `RateLimited`, one tick for `Unavailable` (0 when the journal failed), 0 otherwise.
    Rejected {
        reason: RejectReason,
        retry_after_ms: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    Cooldown,
    UnknownBoard,
    OutOfBounds,
    InvalidColor,
    RateLimited,
    /// The server is shutting down or the tile could not take the paint.
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The frame was not a valid `ClientMessage`.
    Malformed,
    /// A text frame: the protocol is binary only.
    TextFrame,
    UnknownBoard,
    /// The viewport does not overlap the board.
    ViewportOffBoard,
    ViewportTooLarge,
    /// Too many messages; this one was dropped.
    RateLimited,
}

impl ErrorCode {
    /// Stable text form used in HTTP JSON errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::TextFrame => "text_frame",
            ErrorCode::UnknownBoard => "unknown_board",
            ErrorCode::ViewportOffBoard => "viewport_off_board",
            ErrorCode::ViewportTooLarge => "viewport_too_large",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Cooldown => "cooldown",
            RejectReason::UnknownBoard => "unknown_board",
            RejectReason::OutOfBounds => "out_of_bounds",
            RejectReason::InvalidColor => "invalid_color",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::Unavailable => "unavailable",
        }
    }
}

/// Websocket close codes the server uses, beyond the standard 1000/1009/1011.
pub mod close_code {
    /// The client could not keep up with its updates even after being resynchronised.
    pub const SLOW_CONSUMER: u16 = 4001;
    /// The client kept sending faster than the rate limit after being told.
    pub const FLOOD: u16 = 4002;
    /// The client's `?token=` was not a well-formed token.
    pub const BAD_TOKEN: u16 = 4003;
}

#[derive(Debug, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct DecodeError(String);

/// Encodes one server message. Appends to `out`, so several can share one frame.
pub fn encode_server_into(msg: &ServerMessage, out: &mut Vec<u8>) {
    bincode::serde::encode_into_std_write(msg, out, WIRE)
        .expect("encoding into a Vec cannot fail: every server message is serialisable");
}

/// Encodes one server message at the end of `out`, without an intermediate buffer.
pub fn encode_server_into_bytes(msg: &ServerMessage, out: &mut bytes::BytesMut) {
    use bytes::BufMut;
    bincode::serde::encode_into_std_write(msg, &mut out.writer(), WIRE)
        .expect("encoding into memory cannot fail: every server message is serialisable");
}

pub fn encode_server(msg: &ServerMessage) -> Vec<u8> {
    let mut out = Vec::new();
    encode_server_into(msg, &mut out);
    out
}

pub fn encode_client(msg: &ClientMessage) -> Vec<u8> {
    bincode::serde::encode_to_vec(msg, WIRE)
        .expect("encoding into a Vec cannot fail: every client message is serialisable")
}

/// Decodes exactly one client message; trailing bytes are an error.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
    let (msg, used) = decode_one(bytes)?;
    if used != bytes.len() {
        return Err(DecodeError(format!(
            "{} trailing bytes after a complete message",
            bytes.len() - used
        )));
    }
    Ok(msg)
}

/// Decodes every server message in one frame. Readers of many updates use
/// [`read_server_frame`], which copies no tile data.
pub fn decode_server_frame(mut bytes: &[u8]) -> Result<Vec<ServerMessage>, DecodeError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (msg, used) = decode_one(bytes)?;
        out.push(msg);
        bytes = &bytes[used..];
    }
    Ok(out)
}

/// Decodes the message at the start of `bytes`, and how many bytes it took.
fn decode_one<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), DecodeError> {
    bincode::serde::decode_from_slice(bytes, WIRE).map_err(|e| DecodeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_is_a_record_of_variable_length_integers() {
        let paint = ClientMessage::Paint {
            seq: 7,
            board: 0,
            x: 3,
            y: 258,
            color: 5,
        };
        let bytes = encode_client(&paint);
        assert_eq!(
            bytes,
            [1, 7, 0, 3, 251, 2, 1, 5],
            "tag, seq, board, x, y (251 = two bytes follow), color"
        );
        assert_eq!(decode_client(&bytes).unwrap(), paint);
    }

    /// The three widths of a varint, and the wider prefixes a narrower type refuses.
    #[test]
    fn integers_take_one_three_five_or_nine_bytes() {
        let viewport = |x: u32| {
            encode_client(&ClientMessage::SetViewport {
                board: 0,
                x,
                y: 0,
                width: 1,
                height: 1,
            })
        };
        assert_eq!(viewport(250), [0, 0, 250, 0, 1, 1]);
        assert_eq!(viewport(251), [0, 0, 251, 251, 0, 0, 1, 1]);
        assert_eq!(viewport(65_536), [0, 0, 252, 0, 0, 1, 0, 0, 1, 1]);
        let update = encode_server(&ServerMessage::TileUpdate(TileUpdate {
            board: 0,
            tx: 0,
            ty: 0,
            base_version: 1 << 32,
            version: 1 << 32,
            changes: vec![],
        }));
        assert_eq!(update[4], 253, "a u64 of 2^32 takes the 9-byte form");
        assert_eq!(update.len(), 4 + 9 + 9 + 1);
        // A u16 field (board) with the u32 prefix is malformed, not truncated to 16 bits.
        assert!(decode_client(&[0, 252, 0, 0, 0, 0, 0, 0, 1, 1]).is_err());
    }

    #[test]
    fn trailing_and_truncated_bytes_are_malformed() {
        let mut bytes = encode_client(&ClientMessage::SetViewport {
            board: 0,
            x: 0,
            y: 0,
            width: 1,
            height: 1,
        });
        assert!(decode_client(&bytes[..bytes.len() - 1]).is_err());
        bytes.push(0);
        assert!(decode_client(&bytes).is_err());
        assert!(decode_client(&[9]).is_err(), "unknown variant");
    }

    #[test]
    fn a_frame_of_several_server_messages_decodes_in_order() {
        let a = ServerMessage::PaintResult(PaintResult {
            seq: 1,
            outcome: PaintOutcome::Accepted,
        });
        let b = ServerMessage::Error {
            code: ErrorCode::TextFrame,
            message: "binary only".into(),
        };
        let mut frame = Vec::new();
        encode_server_into(&a, &mut frame);
        encode_server_into(&b, &mut frame);
        assert_eq!(decode_server_frame(&frame).unwrap(), vec![a, b]);
    }
}

//! Server frames read in place, for readers that see every update of many tiles (the load
//! generator's viewers, the whole-board feed's mirror): a [`TileUpdate`]'s changes and a
//! [`TileState`]'s pixels are read off the frame instead of copied into a `Vec` per message.
//!
//! The layout read here is the one `docs/protocol.md` defines for the bincode encoding in
//! [`super`] (fixed-width little-endian integers, `u32` variant tags, `u64` lengths); the tests
//! below check it against that encoder, message by message, so the two cannot drift.
//!
//! [`TileUpdate`]: super::TileUpdate
//! [`TileState`]: super::TileState

use super::{DecodeError, PixelChange, ServerMessage, TileState, TileUpdate, decode_one};

/// Variant tags of [`ServerMessage`] (its declaration order, as bincode numbers variants).
const TAG_TILE_STATE: u32 = 1;
const TAG_TILE_UPDATE: u32 = 2;
/// `tag, board, tx, ty, base_version, version, changes count`.
const TILE_UPDATE_HEADER: usize = 4 + 2 + 2 + 2 + 8 + 8 + 8;
/// `tag, board, tx, ty, version, width, height, pixels length`.
const TILE_STATE_HEADER: usize = 4 + 2 + 2 + 2 + 8 + 2 + 2 + 8;
const PIXEL_CHANGE: usize = 2 + 2 + 1;

/// One server message of a frame: tiles borrowed from the frame, anything else decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessageView<'a> {
    TileState(TileStateView<'a>),
    TileUpdate(TileUpdateView<'a>),
    /// `Welcome`, `PaintResult` or `Error`: small, and decoded as usual.
    Other(ServerMessage),
}

/// A [`TileState`](super::TileState) whose pixels stay in the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileStateView<'a> {
    pub board: u16,
    pub tx: u16,
    pub ty: u16,
    pub version: u64,
    pub width: u16,
    pub height: u16,
    pub pixels: &'a [u8],
}

/// A [`TileUpdate`](super::TileUpdate) whose changes stay in the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileUpdateView<'a> {
    pub board: u16,
    pub tx: u16,
    pub ty: u16,
    pub base_version: u64,
    pub version: u64,
    pub changes: PixelChanges<'a>,
}

/// The changes of one update, decoded as they are iterated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelChanges<'a> {
    /// A whole number of 5-byte records (checked when the update was read).
    records: &'a [u8],
}

impl ServerMessageView<'_> {
    /// The owned message this view stands for (copies the changes or pixels).
    pub fn into_owned(self) -> ServerMessage {
        match self {
            ServerMessageView::TileState(s) => ServerMessage::TileState(TileState {
                board: s.board,
                tx: s.tx,
                ty: s.ty,
                version: s.version,
                width: s.width,
                height: s.height,
                pixels: s.pixels.to_vec(),
            }),
            ServerMessageView::TileUpdate(u) => ServerMessage::TileUpdate(TileUpdate {
                board: u.board,
                tx: u.tx,
                ty: u.ty,
                base_version: u.base_version,
                version: u.version,
                changes: u.changes.collect(),
            }),
            ServerMessageView::Other(m) => m,
        }
    }
}

impl Iterator for PixelChanges<'_> {
    type Item = PixelChange;

    fn next(&mut self) -> Option<PixelChange> {
        let (record, rest) = self.records.split_first_chunk::<PIXEL_CHANGE>()?;
        self.records = rest;
        Some(PixelChange {
            dx: u16::from_le_bytes([record[0], record[1]]),
            dy: u16::from_le_bytes([record[2], record[3]]),
            color: record[4],
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.records.len() / PIXEL_CHANGE;
        (n, Some(n))
    }
}

impl ExactSizeIterator for PixelChanges<'_> {}

/// Reads every message of one server frame, in order. Yields an error, then nothing more, at the
/// first message that does not decode: the same frames [`super::decode_server_frame`] refuses.
pub fn read_server_frame(frame: &[u8]) -> ServerFrameReader<'_> {
    ServerFrameReader { rest: frame }
}

/// The messages of one server frame, in order ([`read_server_frame`]).
#[derive(Debug, Clone)]
pub struct ServerFrameReader<'a> {
    /// What is still to be read; emptied by an error.
    rest: &'a [u8],
}

impl std::iter::FusedIterator for ServerFrameReader<'_> {}

impl<'a> Iterator for ServerFrameReader<'a> {
    type Item = Result<ServerMessageView<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let read = match Cursor(self.rest).u32() {
            Some(TAG_TILE_UPDATE) => read_tile_update(self.rest),
            Some(TAG_TILE_STATE) => read_tile_state(self.rest),
            _ => read_other(self.rest),
        };
        match read {
            Ok((message, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(message))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn read_tile_update(bytes: &[u8]) -> Result<(ServerMessageView<'_>, usize), DecodeError> {
    let truncated = || DecodeError("truncated TileUpdate".into());
    let mut at = Cursor(bytes.get(4..).ok_or_else(truncated)?);
    let (board, tx, ty) = (at.u16(), at.u16(), at.u16());
    let (base_version, version, count) = (at.u64(), at.u64(), at.u64());
    let (Some(board), Some(tx), Some(ty), Some(base_version), Some(version), Some(count)) =
        (board, tx, ty, base_version, version, count)
    else {
        return Err(truncated());
    };
    let len = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(PIXEL_CHANGE))
        .filter(|&len| len <= bytes.len() - TILE_UPDATE_HEADER)
        .ok_or_else(truncated)?;
    let records = &bytes[TILE_UPDATE_HEADER..TILE_UPDATE_HEADER + len];
    let update = TileUpdateView {
        board,
        tx,
        ty,
        base_version,
        version,
        changes: PixelChanges { records },
    };
    Ok((
        ServerMessageView::TileUpdate(update),
        TILE_UPDATE_HEADER + len,
    ))
}

fn read_tile_state(bytes: &[u8]) -> Result<(ServerMessageView<'_>, usize), DecodeError> {
    let truncated = || DecodeError("truncated TileState".into());
    let mut at = Cursor(bytes.get(4..).ok_or_else(truncated)?);
    let (board, tx, ty, version) = (at.u16(), at.u16(), at.u16(), at.u64());
    let (width, height, len) = (at.u16(), at.u16(), at.u64());
    let (Some(board), Some(tx), Some(ty), Some(version), Some(width), Some(height), Some(len)) =
        (board, tx, ty, version, width, height, len)
    else {
        return Err(truncated());
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= bytes.len() - TILE_STATE_HEADER)
        .ok_or_else(truncated)?;
    let state = TileStateView {
        board,
        tx,
        ty,
        version,
        width,
        height,
        pixels: &bytes[TILE_STATE_HEADER..TILE_STATE_HEADER + len],
    };
    Ok((ServerMessageView::TileState(state), TILE_STATE_HEADER + len))
}

fn read_other(bytes: &[u8]) -> Result<(ServerMessageView<'_>, usize), DecodeError> {
    let (message, used) = decode_one(bytes)?;
    Ok((ServerMessageView::Other(message), used))
}

/// Little-endian fields read off the front of a slice; `None` once it runs out.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        ErrorCode, PaintOutcome, PaintResult, decode_server_frame, encode_server_into,
    };

    fn messages() -> Vec<ServerMessage> {
        let change = |i: u16| PixelChange {
            dx: i * 3 + 1,
            dy: 0x0102 + i,
            color: (i % 7) as u8,
        };
        vec![
            ServerMessage::TileUpdate(TileUpdate {
                board: 3,
                tx: 0x0201,
                ty: 0xfffe,
                base_version: u64::MAX - 9,
                version: u64::MAX - 2,
                changes: (0..7).map(change).collect(),
            }),
            ServerMessage::PaintResult(PaintResult {
                seq: 9,
                outcome: PaintOutcome::Accepted,
            }),
            ServerMessage::TileUpdate(TileUpdate {
                board: 0,
                tx: 1,
                ty: 2,
                base_version: 5,
                version: 5,
                changes: vec![],
            }),
            ServerMessage::TileState(TileState {
                board: 1,
                tx: 7,
                ty: 8,
                version: 1 << 40,
                width: 3,
                height: 2,
                pixels: vec![1, 2, 3, 4, 5, 6],
            }),
            ServerMessage::Error {
                code: ErrorCode::Malformed,
                message: "nope".into(),
            },
        ]
    }

    #[test]
    fn change_counts_are_exact() {
        let ServerMessage::TileUpdate(update) = &messages()[0] else {
            panic!()
        };
        let frame = crate::protocol::encode_server(&messages()[0]);
        let Some(Ok(ServerMessageView::TileUpdate(view))) = read_server_frame(&frame).next() else {
            panic!()
        };
        assert_eq!(view.changes.len(), update.changes.len());
    }

    #[test]
    fn views_read_what_the_encoder_wrote() {
        let messages = messages();
        let mut frame = Vec::new();
        for m in &messages {
            encode_server_into(m, &mut frame);
        }
        let read: Vec<ServerMessage> = read_server_frame(&frame)
            .map(|m| m.expect("decodes").into_owned())
            .collect();
        assert_eq!(read, messages);
        assert_eq!(decode_server_frame(&frame).unwrap(), messages);
    }

    #[test]
    fn every_truncation_is_refused_like_the_owned_decoder() {
        let messages = messages();
        let mut frame = Vec::new();
        for m in &messages {
            encode_server_into(m, &mut frame);
        }
        for cut in 0..frame.len() {
            let bytes = &frame[..cut];
            let views: Vec<_> = read_server_frame(bytes).collect();
            let owned_ok = decode_server_frame(bytes).is_ok();
            let views_ok = views.iter().all(Result::is_ok);
            assert_eq!(views_ok, owned_ok, "cut at {cut}");
            assert!(
                views
                    .iter()
                    .position(Result::is_err)
                    .is_none_or(|i| i == views.len() - 1),
                "nothing is read after an error (cut at {cut})"
            );
        }
    }

    /// Every byte of a frame changed to a few values: both decoders accept or refuse alike, and
    /// read the same messages when they accept.
    #[test]
    fn corrupted_frames_read_like_the_owned_decoder() {
        let mut frame = Vec::new();
        for m in &messages() {
            encode_server_into(m, &mut frame);
        }
        for at in 0..frame.len() {
            for value in [0, 1, 2, 5, 0x7f, 0xff] {
                let mut bad = frame.clone();
                bad[at] = value;
                let owned = decode_server_frame(&bad);
                let read: Result<Vec<ServerMessage>, DecodeError> = read_server_frame(&bad)
                    .map(|m| m.map(ServerMessageView::into_owned))
                    .collect();
                match (owned, read) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "byte {at} = {value}"),
                    (Err(_), Err(_)) => {}
                    (a, b) => panic!("byte {at} = {value}: owned {a:?}, in place {b:?}"),
                }
            }
        }
    }

    /// A length field claiming more than the frame holds: a TileState's pixel count, a
    /// TileUpdate's change count (also one whose byte count overflows), refused by both
    /// decoders, without a panic or a huge allocation.
    #[test]
    fn a_length_past_the_frame_is_an_error_not_a_panic() {
        for (message, field, claim) in [
            (3, 22..30, u64::MAX),
            (0, 26..34, u64::MAX),
            (0, 26..34, u64::MAX / 5 + 1),
        ] {
            let mut frame = Vec::new();
            encode_server_into(&messages()[message], &mut frame);
            frame[field].copy_from_slice(&claim.to_le_bytes());
            assert!(
                read_server_frame(&frame).next().unwrap().is_err(),
                "{message}: {claim}"
            );
            assert!(decode_server_frame(&frame).is_err(), "{message}: {claim}");
        }
    }
}

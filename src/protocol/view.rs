//! Server frames read in place, for readers that see every update of many tiles (the load
//! generator's viewers, the whole-board feed's mirror): a [`TileUpdate`]'s changes and a
//! [`TileState`]'s pixels are read off the frame instead of copied into a `Vec` per message.
//!
//! The layout read here is the one `docs/protocol.md` defines for the bincode encoding in
//! [`super`] (bincode's variable-length little-endian integers, for variant tags and lengths
//! too); the tests below check it against that encoder and decoder, byte by byte, so the two
//! cannot drift.
//!
//! [`TileUpdate`]: super::TileUpdate
//! [`TileState`]: super::TileState

use super::{DecodeError, PixelChange, ServerMessage, TileState, TileUpdate, decode_one};

/// Variant tags of [`ServerMessage`] (its declaration order, as bincode numbers variants).
const TAG_TILE_STATE: u32 = 1;
const TAG_TILE_UPDATE: u32 = 2;
/// The smallest encoding of a [`PixelChange`]: one byte each for `dx`, `dy` and `color`.
const MIN_PIXEL_CHANGE: usize = 3;

/// One server message of a frame: tiles borrowed from the frame, anything else decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessageView<'a> {
    TileState(TileStateView<'a>),
    TileUpdate(TileUpdateView<'a>),
    /// `Welcome`, `PaintResult` or `Error`: decoded as usual, and boxed, because
    /// every view of a frame is moved a few times on its way to the reader, and a `Welcome`
    /// inline would make each of them 88 bytes instead of 56.
    Other(Box<ServerMessage>),
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
    /// Exactly `left` encoded changes, every one checked when the update was read.
    records: &'a [u8],
    left: usize,
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
            ServerMessageView::Other(m) => *m,
        }
    }
}

impl Iterator for PixelChanges<'_> {
    type Item = PixelChange;

    fn next(&mut self) -> Option<PixelChange> {
        if self.left == 0 {
            return None;
        }
        let mut at = Cursor(self.records);
        // Cannot fail: read_tile_update checked `left` whole changes.
        let change = at.pixel_change()?;
        self.records = at.0;
        self.left -= 1;
        Some(change)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
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
        let mut at = Cursor(self.rest);
        let read = match at.u32() {
            Some(TAG_TILE_UPDATE) => read_tile_update(at),
            Some(TAG_TILE_STATE) => read_tile_state(at),
            _ => read_other(self.rest),
        };
        match read {
            Ok((message, rest)) => {
                self.rest = rest;
                Some(Ok(message))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// A message read from the front of a frame, and the bytes after it.
type Read<'a> = Result<(ServerMessageView<'a>, &'a [u8]), DecodeError>;

/// Reads a `TileUpdate` whose tag `at` has just read.
fn read_tile_update(mut at: Cursor<'_>) -> Read<'_> {
    let malformed = || DecodeError("truncated or malformed TileUpdate".into());
    let (board, tx, ty) = (at.u16(), at.u16(), at.u16());
    let (base_version, version, count) = (at.u64(), at.u64(), at.u64());
    let (Some(board), Some(tx), Some(ty), Some(base_version), Some(version), Some(count)) =
        (board, tx, ty, base_version, version, count)
    else {
        return Err(malformed());
    };
    // Refuses a count the frame cannot hold before walking it.
    let left = usize::try_from(count)
        .ok()
        .filter(|&c| c <= at.0.len() / MIN_PIXEL_CHANGE)
        .ok_or_else(malformed)?;
    let records = at.0;
    // On tiles of up to 250 pixels every change is three bytes (two one-byte offsets, then the
    // colour): checking the two offset bytes of each triple is enough, where a full walk would
    // decode every change once here and again when it is iterated. By induction over the
    // triples, when every offset byte is a one-byte varint the walk would end at the same place.
    let short = &records[..left * MIN_PIXEL_CHANGE];
    let used = if short
        .chunks_exact(MIN_PIXEL_CHANGE)
        .all(|c| c[0] <= MAX_ONE_BYTE && c[1] <= MAX_ONE_BYTE)
    {
        short.len()
    } else {
        for _ in 0..left {
            at.pixel_change().ok_or_else(malformed)?;
        }
        records.len() - at.0.len()
    };
    at.0 = &records[used..];
    let update = TileUpdateView {
        board,
        tx,
        ty,
        base_version,
        version,
        changes: PixelChanges {
            records: &records[..used],
            left,
        },
    };
    Ok((ServerMessageView::TileUpdate(update), at.0))
}

/// Reads a `TileState` whose tag `at` has just read.
fn read_tile_state(mut at: Cursor<'_>) -> Read<'_> {
    let malformed = || DecodeError("truncated or malformed TileState".into());
    let (board, tx, ty, version) = (at.u16(), at.u16(), at.u16(), at.u64());
    let (width, height, len) = (at.u16(), at.u16(), at.u64());
    let (Some(board), Some(tx), Some(ty), Some(version), Some(width), Some(height), Some(len)) =
        (board, tx, ty, version, width, height, len)
    else {
        return Err(malformed());
    };
    // The frame must hold the pixels, and so must the owned decoder's limit: both decoders
    // refuse the same frames, even one larger than any the server sends.
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= at.0.len() && len <= super::MAX_DECODED_BYTES)
        .ok_or_else(malformed)?;
    let (pixels, rest) = at.0.split_at(len);
    let state = TileStateView {
        board,
        tx,
        ty,
        version,
        width,
        height,
        pixels,
    };
    Ok((ServerMessageView::TileState(state), rest))
}

fn read_other(bytes: &[u8]) -> Read<'_> {
    let (message, used) = decode_one(bytes)?;
    Ok((ServerMessageView::Other(Box::new(message)), &bytes[used..]))
}

/// bincode's varint: a first byte up to 250 is the value; 251, 252 and 253 say that a `u16`, a
/// `u32` or a `u64` follows, little-endian. A type refuses a prefix wider than itself, and so
/// does bincode.
const MAX_ONE_BYTE: u8 = 250;
const PREFIX_U16: u8 = 251;
const PREFIX_U32: u8 = 252;
const PREFIX_U64: u8 = 253;

/// Fields read off the front of a slice; `None` once it runs out or a field is malformed.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    /// A varint of at most `widest` (one of the prefixes).
    #[inline]
    fn varint(&mut self, widest: u8) -> Option<u64> {
        let first = self.u8()?;
        if first <= MAX_ONE_BYTE {
            return Some(u64::from(first));
        }
        if first > widest {
            return None;
        }
        match first {
            PREFIX_U16 => self.take().map(|b| u64::from(u16::from_le_bytes(b))),
            PREFIX_U32 => self.take().map(|b| u64::from(u32::from_le_bytes(b))),
            PREFIX_U64 => self.take().map(u64::from_le_bytes),
            _ => None,
        }
    }

    fn u16(&mut self) -> Option<u16> {
        self.varint(PREFIX_U16).map(|v| v as u16)
    }

    fn u32(&mut self) -> Option<u32> {
        self.varint(PREFIX_U32).map(|v| v as u32)
    }

    fn u64(&mut self) -> Option<u64> {
        self.varint(PREFIX_U64)
    }

    fn pixel_change(&mut self) -> Option<PixelChange> {
        Some(PixelChange {
            dx: self.u16()?,
            dy: self.u16()?,
            color: self.u8()?,
        })
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
            // One-byte offsets only, with colours that look like varint prefixes.
            ServerMessage::TileUpdate(TileUpdate {
                board: 2,
                tx: 4,
                ty: 5,
                base_version: 10,
                version: 13,
                changes: vec![
                    PixelChange {
                        dx: 0,
                        dy: 250,
                        color: 255,
                    },
                    PixelChange {
                        dx: 250,
                        dy: 1,
                        color: 251,
                    },
                    PixelChange {
                        dx: 7,
                        dy: 9,
                        color: 253,
                    },
                ],
            }),
            // A wide offset before short changes.
            ServerMessage::TileUpdate(TileUpdate {
                board: 2,
                tx: 4,
                ty: 5,
                base_version: 15,
                version: 18,
                changes: vec![
                    PixelChange {
                        dx: 300,
                        dy: 1,
                        color: 2,
                    },
                    PixelChange {
                        dx: 3,
                        dy: 4,
                        color: 5,
                    },
                    PixelChange {
                        dx: 6,
                        dy: 7,
                        color: 251,
                    },
                ],
            }),
            // One wide offset after a short change.
            ServerMessage::TileUpdate(TileUpdate {
                board: 2,
                tx: 4,
                ty: 5,
                base_version: 13,
                version: 15,
                changes: vec![
                    PixelChange {
                        dx: 1,
                        dy: 2,
                        color: 3,
                    },
                    PixelChange {
                        dx: 1,
                        dy: 251,
                        color: 3,
                    },
                ],
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

    /// Every byte of a frame changed to a few values (among them each varint prefix, so a
    /// length or field can grow, shrink or take a prefix its type refuses): both decoders accept
    /// or refuse alike, and read the same messages when they accept.
    #[test]
    fn corrupted_frames_read_like_the_owned_decoder() {
        let mut frame = Vec::new();
        for m in &messages() {
            encode_server_into(m, &mut frame);
        }
        for at in 0..frame.len() {
            for value in [0, 1, 2, 5, 0x7f, 250, 251, 252, 253, 254, 0xff] {
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
    /// TileUpdate's change count (also one whose smallest size, 3 bytes a change, overflows a
    /// u64, and one just one change too many), refused by both decoders, without a panic or a
    /// huge allocation.
    #[test]
    fn a_length_past_the_frame_is_an_error_not_a_panic() {
        let claim = |prefix: &[u8], count: u64, suffix: &[u8]| {
            let mut frame = prefix.to_vec();
            frame.push(PREFIX_U64);
            frame.extend_from_slice(&count.to_le_bytes());
            frame.extend_from_slice(suffix);
            frame
        };
        // tag, board, tx, ty, version, width, height | pixels length | pixels
        let state = [1, 0, 0, 0, 0, 1, 1];
        // tag, board, tx, ty, base_version, version | changes count | changes (dx, dy, color)
        let update = [2, 0, 0, 0, 0, 1];
        for frame in [
            claim(&state, u64::MAX, &[5]),
            claim(&state, 2, &[5]),
            claim(&update, u64::MAX, &[0, 0, 5]),
            claim(&update, u64::MAX / 3 + 1, &[0, 0, 5]),
            claim(&update, 2, &[0, 0, 5]),
            claim(&update, 2, &[0, 0, 5, PREFIX_U16, 0]),
        ] {
            assert!(
                read_server_frame(&frame).next().unwrap().is_err(),
                "{frame:?}"
            );
            assert!(decode_server_frame(&frame).is_err(), "{frame:?}");
        }
        // The same frames with the right count are fine, so what failed above is the count.
        let fine = claim(&update, 1, &[0, 0, 5]);
        assert_eq!(read_server_frame(&fine).count(), 1);
        assert!(decode_server_frame(&fine).is_ok());
    }

    /// A TileState whose pixels the frame holds but which exceeds the owned decoder's limit:
    /// refused by both decoders; one whose pixels and header fit under the limit is read by
    /// both.
    #[test]
    fn pixels_past_the_decode_limit_are_refused_like_the_owned_decoder() {
        for (len, accepted) in [
            (super::super::MAX_DECODED_BYTES + 1, false),
            (super::super::MAX_DECODED_BYTES - 64, true),
        ] {
            // tag, board, tx, ty, version, width, height | pixels length (u64 form) | pixels
            let mut frame = vec![1, 0, 0, 0, 0, 1, 1, PREFIX_U64];
            frame.extend_from_slice(&(len as u64).to_le_bytes());
            frame.resize(frame.len() + len, 0);
            let in_place = read_server_frame(&frame).next().unwrap();
            assert_eq!(in_place.is_ok(), accepted, "in place, {len} pixels");
            assert_eq!(
                decode_server_frame(&frame).is_ok(),
                accepted,
                "owned, {len}"
            );
        }
    }
}

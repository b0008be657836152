//! The two wire protocols a run can speak: tessera's own (bincode messages, tiles, viewports,
//! acknowledged paints) and the raw 9-byte records of `wsprobe limit-server`, the measured
//! ceiling. Both carry the same [`PaintPlan`](crate::plan::PaintPlan) paints.

pub mod raw;
pub mod tessera;

use bytes::Bytes;
// `::tessera` is the library crate; plain `tessera` is this module's child.
use ::tessera::protocol::Welcome;

use crate::plan::Pixel;
use crate::transport::{Incoming, Link};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Tessera's protocol (docs/protocol.md).
    Tessera,
    /// `x u32 LE, y u32 LE, colour u8` per paint; every client receives every paint.
    Raw,
}

impl Codec {
    /// The frame a painter sends for paint `seq`.
    pub fn paint(self, seq: u64, board: u16, px: Pixel) -> Bytes {
        match self {
            // The run refuses more than u32::MAX paints, so seq fits the protocol's u32.
            Codec::Tessera => tessera::encode_paint(seq as u32, board, px),
            Codec::Raw => raw::encode_paint(px),
        }
    }

    /// Reads the server's greeting: tessera's `Welcome`, which must come first; raw has none.
    pub async fn handshake(self, link: &mut Link) -> Result<Option<Welcome>, String> {
        match self {
            Codec::Raw => Ok(None),
            Codec::Tessera => loop {
                match link.recv().await {
                    Incoming::Frame(frame) => return tessera::welcome(&frame).map(Some),
                    Incoming::Control => continue,
                    Incoming::Unexpected => return Err("the first frame was not binary".into()),
                    Incoming::Closed(code) => {
                        return Err(format!(
                            "closed before the Welcome (code {})",
                            code.map_or("none".to_owned(), |c| c.to_string())
                        ));
                    }
                }
            },
        }
    }
}

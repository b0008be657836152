//! The raw protocol of `wsprobe limit-server`: a paint is a 9-byte record (`x` u32 LE, `y` u32 LE,
//! colour u8) in its own binary frame; a received frame is any concatenation of records.

use bytes::Bytes;

use crate::plan::Pixel;

pub const RECORD_LEN: usize = 9;

pub fn encode_paint(px: Pixel) -> Bytes {
    let mut record = [0u8; RECORD_LEN];
    record[0..4].copy_from_slice(&px.x.to_le_bytes());
    record[4..8].copy_from_slice(&px.y.to_le_bytes());
    record[8] = px.color;
    Bytes::copy_from_slice(&record)
}

/// Every whole record of `frame`, and whether that is all of it (false: a bad frame).
pub fn records(frame: &[u8]) -> (impl Iterator<Item = Pixel> + '_, bool) {
    let records = frame.chunks_exact(RECORD_LEN);
    let whole = records.remainder().is_empty();
    let pixels = records.map(|r| {
        let word = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        Pixel {
            x: word(0),
            y: word(4),
            color: r[8],
        }
    });
    (pixels, whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_alone_and_concatenated() {
        let a = Pixel {
            x: 4095,
            y: 7,
            color: 31,
        };
        let b = Pixel {
            x: 1,
            y: 70_000,
            color: 0,
        };
        let frame = [encode_paint(a), encode_paint(b)].concat();
        let (pixels, whole) = records(&frame);
        assert!(whole);
        assert_eq!(pixels.collect::<Vec<_>>(), vec![a, b]);
        let (pixels, whole) = records(&frame[..10]);
        assert!(!whole, "a partial record is a bad frame");
        assert_eq!(pixels.collect::<Vec<_>>(), vec![a]);
    }
}

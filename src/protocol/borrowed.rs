//! Deserializers for the length-prefixed fields (strings, a tile's pixels) that read the field
//! from the frame before copying it.
//!
//! Why: bincode decodes an owned `String` or `Vec<u8>` by allocating the length the message
//! claims and only then reading that many bytes, so a 10-byte `Error` claiming a 32 MiB message
//! made the decoder allocate 32 MiB before failing (anything up to the configured limit,
//! `tests/decode_allocation.rs`). `docs/protocol.md` (section 2) tells decoders to check every
//! length against the bytes left in the frame before allocating; asking the decoder for a
//! borrowed `&str` or `&[u8]` does exactly that (bincode takes the bytes from the frame, or
//! fails), and the copy that follows is of bytes that exist. Protocol messages are only ever
//! decoded from bincode, which hands these visitors borrowed data.

use std::fmt;

use serde::Deserializer;
use serde::de::{Error, Visitor};

/// A `String` field, read from the frame before it is copied.
pub fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl Visitor<'_> for Text {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a UTF-8 string")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_owned())
        }
    }
    deserializer.deserialize_str(Text)
}

/// A `Vec<u8>` field encoded as one block of bytes, read from the frame before it is copied.
pub fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Block;
    impl Visitor<'_> for Block {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a block of bytes")
        }

        fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }
    }
    deserializer.deserialize_bytes(Block)
}

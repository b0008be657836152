//! Tessera: a tile-sharded actor server for r/place-style collaborative canvases.
//!
//! # Layout
//! Floors from the ground up; each module imports only from floors below it.
//! - [`geometry`], [`palette`]: pixel and tile coordinates, viewports, colours. Depend on nothing.
//! - [`settings`]: layered settings loaded into a typed, validated tree.
//! - [`protocol`]: every websocket message and the only code that turns them into bytes.
//! - [`storage`]: tile snapshot files, atomic writes, re-slicing when the tile size changes.

pub mod app;
pub mod canvas;
pub mod geometry;
pub mod http;
pub mod identity;
pub mod palette;
pub mod protocol;
pub mod session;
pub mod settings;
pub mod storage;

//! Rebuilds when `assets/` changes: rust-embed reads the folder at compile time, and cargo
//! otherwise notices only edits to files it already knew, not added or removed ones.

fn main() {
    println!("cargo:rerun-if-changed=assets");
}

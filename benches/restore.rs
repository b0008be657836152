//! Restore time of a fully painted board: `BoardStore::load`, which the supervisor runs for every
//! board at start, on a board whose every tile has been painted (256 region files of 1 MiB for
//! the default 16384 x 16384 in 64-pixel tiles).
//!
//! ```sh
//! cargo bench --bench restore                    # 16384 x 16384 in 64-pixel tiles, 3 runs each
//! RESTORE_SIZE=4096 RESTORE_TILE=128 RESTORE_RUNS=5 cargo bench --bench restore
//! RESTORE_DIR=/var/tmp/board cargo bench --bench restore   # keep (or reuse) the written board
//! ```
//!
//! Prints the time to write the board (durably, as snapshots are), then each warm-cache load and
//! each cold-cache load. Cold loads drop the page cache first (`/proc/sys/vm/drop_caches`, root
//! only); without that permission they are not run, and the bench says so.

use std::path::PathBuf;
use std::time::Instant;

use tessera::geometry::BoardGeometry;
use tessera::storage::{BoardStore, TileSnapshot};

fn setting(name: &str, default: u32) -> u32 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a positive whole number")),
        Err(_) => default,
    }
}

/// Deterministic pixels: every tile differs, every value is a palette index of the default
/// 32-colour palette.
fn pixels(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 32) as u8
        })
        .collect()
}

fn drop_page_cache() -> std::io::Result<()> {
    // Dirty pages must reach the disk before the clean ones can be dropped.
    std::process::Command::new("sync").status()?;
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) passes nothing else.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "restore: run with `cargo bench --bench restore`; nothing measured under `cargo test`"
        );
        return;
    }
    let size = setting("RESTORE_SIZE", 16384);
    let tile_size = setting("RESTORE_TILE", 64);
    let runs = setting("RESTORE_RUNS", 3);
    let geometry = BoardGeometry::new(size, size, tile_size).expect("a valid board geometry");
    let (dir, _temp) = match std::env::var_os("RESTORE_DIR") {
        Some(dir) => (PathBuf::from(dir), None),
        None => {
            let temp = tempfile::tempdir().expect("a temporary directory");
            (temp.path().to_owned(), Some(temp))
        }
    };
    let store = BoardStore::new(&dir, "main");
    println!(
        "board {size} x {size}, tile {tile_size}: {} tiles in {}",
        geometry.tile_count(),
        store.board_dir().display()
    );

    let loaded = store.load(geometry, 0).expect("the board directory loads");
    if loaded.len() == geometry.tile_count() {
        println!("reusing the board written before");
    } else {
        let tiles: Vec<TileSnapshot> = geometry
            .all_tiles()
            .enumerate()
            .map(|(i, tile)| {
                let rect = geometry.tile_rect(tile);
                TileSnapshot {
                    tile,
                    version: 1,
                    pixels: pixels(i as u64, (rect.width * rect.height) as usize),
                }
            })
            .collect();
        let start = Instant::now();
        store.save(geometry, &tiles).expect("the board is written");
        println!(
            "write (every tile, durably): {:.0} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
    }

    let load = |label: &str| {
        let start = Instant::now();
        let tiles = store.load(geometry, 0).expect("the board loads");
        let ms = start.elapsed().as_secs_f64() * 1e3;
        assert_eq!(tiles.len(), geometry.tile_count(), "every tile restored");
        println!("{label}: {ms:.0} ms");
    };
    for run in 1..=runs {
        load(&format!("load, warm cache, run {run}"));
    }
    for run in 1..=runs {
        if let Err(e) = drop_page_cache() {
            println!("cold-cache loads not run: cannot drop the page cache ({e}); run as root");
            break;
        }
        load(&format!("load, cold cache, run {run}"));
    }
}

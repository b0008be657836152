//! Reading a whole-board feed frame in place, as a viewer does: every message of the frame and
//! every change of every update. The frame is the paint-intake benchmark's (p1): one tick of
//! 64,000 paints/s on a 1000 x 1000 board, 1,280 paints over its 256 tiles of 64, about 5
//! changes an update.
//!
//! ```sh
//! cargo bench --bench frame_read
//! ```

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera::protocol::{
    PixelChange, ServerMessage, ServerMessageView, TileUpdate, encode_server_into,
    read_server_frame,
};

/// One tick's updates: 5 changes to each of 256 tiles, offsets and colours spread over their
/// ranges (offsets under 64, so one byte each, as on any tile up to 250 pixels).
fn feed_frame(tile_size: u16, changes_per_tile: u16) -> Vec<u8> {
    let tiles_per_side = 1000u16.div_ceil(tile_size);
    let mut frame = Vec::new();
    let mut n: u32 = 0;
    for ty in 0..tiles_per_side {
        for tx in 0..tiles_per_side {
            let changes = (0..changes_per_tile)
                .map(|_| {
                    n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    PixelChange {
                        dx: (n >> 8) as u16 % tile_size,
                        dy: (n >> 16) as u16 % tile_size,
                        color: (n >> 24) as u8 % 32,
                    }
                })
                .collect();
            let version = 1_000 + u64::from(tx) * 7 + u64::from(ty);
            let update = TileUpdate {
                board: 0,
                tx,
                ty,
                base_version: version,
                version: version + u64::from(changes_per_tile),
                changes,
            };
            encode_server_into(&ServerMessage::TileUpdate(update), &mut frame);
        }
    }
    frame
}

fn read_all(frame: &[u8]) -> u64 {
    let mut sum = 0u64;
    for message in read_server_frame(frame) {
        if let Ok(ServerMessageView::TileUpdate(update)) = message {
            sum += u64::from(update.tx) + update.version;
            for change in update.changes {
                sum += u64::from(change.dx) + u64::from(change.dy) + u64::from(change.color);
            }
        }
    }
    sum
}

fn frame_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame/read");
    for (name, tile_size) in [("p1_tile64", 64), ("p1_tile128", 128)] {
        // 1,280 paints a tick over the tiles of 1000 x 1000.
        let tiles = u32::from(1000u16.div_ceil(tile_size)).pow(2);
        let per_tile = (1280 / tiles).max(1) as u16;
        let frame = feed_frame(tile_size, per_tile);
        group.throughput(Throughput::Elements(u64::from(per_tile) * u64::from(tiles)));
        group.bench_function(name, |b| b.iter(|| read_all(std::hint::black_box(&frame))));
    }
    // p3 at 8,000 paints/s: 160 paints a tick, so most of the 256 tiles get no update and the
    // rest one or two changes; versions past 251, so three bytes each, as in a long run.
    let frame = sparse_frame(160);
    group.throughput(Throughput::Elements(160));
    group.bench_function("p3_8000", |b| {
        b.iter(|| read_all(std::hint::black_box(&frame)))
    });
    group.finish();
}

/// `paints` single-pixel changes over the 256 tiles of 64 of 1000 x 1000, spread at random.
fn sparse_frame(paints: u32) -> Vec<u8> {
    let mut per_tile = [0u16; 256];
    let mut n: u32 = 7;
    for _ in 0..paints {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        per_tile[(n >> 16) as usize % 256] += 1;
    }
    let mut frame = Vec::new();
    for (tile, &count) in per_tile.iter().enumerate().filter(|(_, c)| **c > 0) {
        let changes = (0..count)
            .map(|i| PixelChange {
                dx: (i * 17) % 64,
                dy: (i * 29 + 3) % 64,
                color: (i % 32) as u8,
            })
            .collect();
        let version = 40_000 + tile as u64;
        let update = TileUpdate {
            board: 0,
            tx: (tile % 16) as u16,
            ty: (tile / 16) as u16,
            base_version: version,
            version: version + u64::from(count),
            changes,
        };
        encode_server_into(&ServerMessage::TileUpdate(update), &mut frame);
    }
    frame
}

criterion_group!(benches, frame_read);
criterion_main!(benches);

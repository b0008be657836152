//! The per-tick hot path, without actors or sockets: a tile applying and encoding one tick of
//! paints and fanning the one encoded batch out to its subscribers' queues, and a session
//! draining its queue into one websocket frame.
//!
//! The inputs model the 2-core target: 64,000 paints/s spread uniformly over a 1000x1000 board,
//! a 20 ms tick (the default `server.tick_ms`) and 200 "overview" sessions that view the whole
//! board, so every tile has 200 subscribers and each session's queue receives one frame from
//! every tile that changed in the tick.
//!
//! Run with `cargo bench --bench tile_tick`; see BENCHMARKS.md for results.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tessera::canvas::frame_queue::{FrameQueue, QueuedFrame};
use tessera::canvas::tile_buffer::TileBuffer;
use tessera::geometry::{BoardGeometry, TileCoord};

/// Board edge of the target scenario (pixels).
const BOARD_EDGE: u32 = 1000;
/// Target intake: 64,000 paints per second over the whole board.
const PAINTS_PER_SECOND: f64 = 64_000.0;
/// Default tick (`server.tick_ms = 20`).
const TICK_SECONDS: f64 = 0.020;
/// Sessions viewing the whole board in the target scenario, hence subscribers of every tile.
const OVERVIEW_SESSIONS: usize = 200;
/// Colours in the default palette (the r/place 2022 palette); 31 is the background.
const PALETTE_LEN: u64 = 32;
const BACKGROUND: u8 = 31;
/// `limits.session_queue_len` default; the real queue adds the tiles of the largest viewport.
const SESSION_QUEUE_LEN: usize = 4096;
const BOARD: u16 = 0;
const EPOCH: u32 = 1;

/// Deterministic xorshift64 so every run measures the same paints; no extra crate needed.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn color(&mut self) -> u8 {
        self.below(PALETTE_LEN) as u8
    }
}

/// Paints one tile of `tile_size` receives in one tick of the target load: the board-wide rate
/// times the tick times the tile's share of the board, at least one (a tile with no paint does
/// not tick at all). 32 -> 1, 64 -> 5, 128 -> 21, 256 -> 84.
fn paints_per_tile_tick(tile_size: u32) -> usize {
    let share = f64::from(tile_size * tile_size) / f64::from(BOARD_EDGE * BOARD_EDGE);
    ((PAINTS_PER_SECOND * TICK_SECONDS * share).round() as usize).max(1)
}

/// Tiles of the 1000x1000 board, i.e. the tiles one overview session views and so the frames
/// its queue collects per tick when every tile changes (which at the target load they do:
/// even a 32-pixel tile sees ~1.3 paints a tick).
fn board_tiles(tile_size: u32) -> usize {
    geometry(tile_size).tile_count()
}

fn geometry(tile_size: u32) -> BoardGeometry {
    BoardGeometry::new(BOARD_EDGE, BOARD_EDGE, tile_size).expect("valid bench geometry")
}

/// A full interior tile (1, 1) of the board, with a background-filled buffer.
fn tile_buffer(tile_size: u32) -> (TileCoord, TileBuffer) {
    let g = geometry(tile_size);
    let coord = g
        .tile(1, 1)
        .expect("tile (1, 1) exists for every bench tile size");
    let rect = g.tile_rect(coord);
    let buffer = TileBuffer::new(
        BOARD,
        coord,
        rect,
        vec![BACKGROUND; rect.area() as usize],
        0,
    );
    (coord, buffer)
}

/// A session's queue as the server sizes it for an overview of the board: the update budget
/// plus one full state per tile, so a tick's fan-out never overflows it.
fn session_queue(tile_size: u32) -> Arc<FrameQueue> {
    FrameQueue::new(SESSION_QUEUE_LEN + board_tiles(tile_size))
}

/// A tile's view of one subscriber, as in `canvas::tile` (its `Subscription` is private).
struct Subscription {
    queue: Arc<FrameQueue>,
    epoch: u32,
}

/// The subscribers of one tile, keyed by session id like the tile actor's map.
fn subscribers(n: usize, tile_size: u32) -> HashMap<u64, Subscription> {
    (0..n as u64)
        .map(|id| {
            let sub = Subscription {
                queue: session_queue(tile_size),
                epoch: EPOCH,
            };
            (id, sub)
        })
        .collect()
}

/// Empties every subscriber's queue, as the sessions do once a tick. Called from the (unmeasured)
/// setup of each input.
fn drain_all(subs: &HashMap<u64, Subscription>) {
    for sub in subs.values() {
        drop(sub.queue.drain());
    }
}

/// One tick's input for one tile: a buffer that has already lived through one tick (so its
/// pending list has capacity, as in a long-lived tile) and the paints that arrive this tick.
struct TickInput {
    buffer: TileBuffer,
    paints: Vec<(u32, u8)>,
}

fn tick_input(tile_size: u32, paints: Vec<(u32, u8)>) -> TickInput {
    let (_, mut buffer) = tile_buffer(tile_size);
    for &(offset, color) in &paints {
        buffer.paint(offset, color);
    }
    buffer.flush();
    TickInput { buffer, paints }
}

/// The measured tick: the tile's `Paint` handler for each paint, then `Tile::flush`: apply,
/// coalesce and encode once, count, and push one `QueuedFrame` sharing the batch's bytes to
/// every subscriber. Returns the input so dropping it is not measured.
fn tick(
    mut input: TickInput,
    coord: TileCoord,
    subs: &HashMap<u64, Subscription>,
    applied: &AtomicU64,
) -> TickInput {
    for &(offset, color) in &input.paints {
        input.buffer.paint(offset, color);
    }
    if let Some(batch) = input.buffer.flush() {
        applied.fetch_add(batch.version - batch.base_version, Ordering::Relaxed);
        for sub in subs.values() {
            sub.queue.push(QueuedFrame {
                board: BOARD,
                tile: coord,
                epoch: sub.epoch,
                bytes: batch.bytes.clone(),
            });
        }
    }
    input
}

/// `count` paints at uniformly random pixels of a `tile_size` tile, random colours.
fn random_paints(rng: &mut XorShift, tile_size: u32, count: usize) -> Vec<(u32, u8)> {
    let area = u64::from(tile_size * tile_size);
    (0..count)
        .map(|_| (rng.below(area) as u32, rng.color()))
        .collect()
}

/// Benchmarks one tile tick with `n_subs` subscribers and paints from `make_paints`.
///
/// Batching: each `iter_batched` batch is `board_tiles(tile_size)` ticks of different tile
/// buffers pushing into the same subscriber queues, exactly what an overview session's queue
/// collects in one real tick; the setup drains the queues before each batch so they never
/// overflow, and each push starts from a freshly drained queue as in the server.
fn bench_tick(
    b: &mut criterion::Bencher<'_>,
    tile_size: u32,
    n_subs: usize,
    mut make_paints: impl FnMut() -> Vec<(u32, u8)>,
) {
    let (coord, _) = tile_buffer(tile_size);
    let subs = subscribers(n_subs, tile_size);
    let applied = AtomicU64::new(0);
    b.iter_batched(
        || {
            drain_all(&subs);
            tick_input(tile_size, make_paints())
        },
        |input| tick(input, coord, &subs, &applied),
        BatchSize::NumIterations(board_tiles(tile_size) as u64),
    );
    drain_all(&subs);
}

/// Group 1: the cost of one tile's tick at the target load, per tile size. Bigger tiles see more
/// paints per tick (P scales with the tile's area) but there are fewer of them; throughput is in
/// paints, so the per-paint cost of each tile size can be compared directly.
fn tick_tile_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick/tile_size");
    // 32..256: the tile sizes worth considering for a 1000x1000 board (16 is per-tile overhead,
    // 512+ is a quarter of the board on one actor).
    for tile_size in [32u32, 64, 128, 256] {
        let paints = paints_per_tile_tick(tile_size);
        group.throughput(Throughput::Elements(paints as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(tile_size),
            &tile_size,
            |b, &ts| {
                let mut rng = XorShift::new(0x5eed_0001 ^ u64::from(ts));
                bench_tick(b, ts, OVERVIEW_SESSIONS, || {
                    random_paints(&mut rng, ts, paints)
                });
            },
        );
    }
    group.finish();
}

/// Group 2: fan-out cost versus subscriber count at tile size 64 and its 5 paints a tick.
/// 1 = a tile only one viewer watches, 10 and 100 = popular regions, 1000 = five times the
/// target's 200 overview sessions. Throughput is in subscribers (frames pushed).
fn tick_subscribers(c: &mut Criterion) {
    const TILE_SIZE: u32 = 64;
    // 64 * 64 / 1e6 of 1,280 paints a tick, rounded.
    const PAINTS: usize = 5;
    let mut group = c.benchmark_group("tick/subscribers");
    for n_subs in [1usize, 10, 100, 1000] {
        group.throughput(Throughput::Elements(n_subs as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n_subs), &n_subs, |b, &n| {
            let mut rng = XorShift::new(0x5eed_0002 ^ n as u64);
            bench_tick(b, TILE_SIZE, n, || {
                random_paints(&mut rng, TILE_SIZE, PAINTS)
            });
        });
    }
    group.finish();
}

/// Group 4: coalescing. 1,000 paints in one tick is a hot tile (the actor's mailbox is sized for
/// ~1,000 a tick): on 10 pixels (a fight over a few pixels, 10 changes encoded) versus on 1,000
/// distinct pixels (1,000 changes encoded). Tile 64, 200 subscribers; throughput in paints.
fn tick_coalesce(c: &mut Criterion) {
    const TILE_SIZE: u32 = 64;
    const PAINTS: usize = 1000;
    const HOT_PIXELS: usize = 10;
    let area = TILE_SIZE * TILE_SIZE;
    let mut group = c.benchmark_group("tick/coalesce");
    group.throughput(Throughput::Elements(PAINTS as u64));
    group.bench_function("10_pixels", |b| {
        let mut rng = XorShift::new(0x5eed_0003);
        let hot: Vec<u32> = (0..HOT_PIXELS)
            .map(|_| rng.below(u64::from(area)) as u32)
            .collect();
        bench_tick(b, TILE_SIZE, OVERVIEW_SESSIONS, || {
            (0..PAINTS)
                .map(|_| (hot[rng.below(HOT_PIXELS as u64) as usize], rng.color()))
                .collect()
        });
    });
    group.bench_function("distinct_pixels", |b| {
        let mut rng = XorShift::new(0x5eed_0004);
        bench_tick(b, TILE_SIZE, OVERVIEW_SESSIONS, || {
            // A partial Fisher-Yates shuffle: 1,000 distinct pixels of the 4,096, random order.
            let mut offsets: Vec<u32> = (0..area).collect();
            for i in 0..PAINTS {
                let j = i + rng.below((offsets.len() - i) as u64) as usize;
                offsets.swap(i, j);
            }
            offsets[..PAINTS]
                .iter()
                .map(|&offset| (offset, rng.color()))
                .collect()
        });
    });
    group.finish();
}

/// The encoded `TileUpdate` of one tick of tile `(tx, ty)` at tile size 64: 5 paints, ~60 bytes.
fn update_bytes(rng: &mut XorShift, tx: u32, ty: u32) -> (TileCoord, Bytes) {
    const TILE_SIZE: u32 = 64;
    let g = geometry(TILE_SIZE);
    let coord = g.tile(tx, ty).expect("tile on the board");
    let rect = g.tile_rect(coord);
    let mut buffer = TileBuffer::new(
        BOARD,
        coord,
        rect,
        vec![BACKGROUND; rect.area() as usize],
        0,
    );
    for _ in 0..5 {
        buffer.paint(rng.below(rect.area()) as u32, rng.color());
    }
    (coord, buffer.flush().expect("paints were queued").bytes)
}

/// The measured session write, replicating `Session::write` on public types: drain the queue,
/// keep the frames of the current board and subscription epochs, then send a lone frame as is or
/// concatenate everything (after the pending replies, none here) into one `Bytes`. Returns the
/// queue too so its deallocation is not measured.
fn session_write(
    queue: Arc<FrameQueue>,
    board: Option<u16>,
    subscriptions: &HashMap<TileCoord, u32>,
    replies: &mut BytesMut,
) -> (Arc<FrameQueue>, Option<Bytes>) {
    let drained = queue.drain();
    assert!(
        !drained.overflowed,
        "bench queues are sized not to overflow"
    );
    let current: Vec<Bytes> = drained
        .frames
        .into_iter()
        .filter(|f| Some(f.board) == board && subscriptions.get(&f.tile) == Some(&f.epoch))
        .map(|f| f.bytes)
        .collect();
    let frame = if current.len() == 1 && replies.is_empty() {
        current.into_iter().next()
    } else {
        let len = replies.len() + current.iter().map(Bytes::len).sum::<usize>();
        if len == 0 {
            return (queue, None);
        }
        let mut out = BytesMut::with_capacity(len);
        out.extend_from_slice(replies);
        replies.clear();
        for bytes in &current {
            out.extend_from_slice(bytes);
        }
        Some(out.freeze())
    };
    (queue, frame)
}

/// Group 3: the per-session, per-tick cost of collecting a tick's frames into one websocket
/// frame. K = tiles in view that changed this tick: 1 = zoomed in on one tile (the frame goes out
/// untouched, no copy), 16 = a 4x4-tile window (256x256 pixels at tile 64), 256 = the overview
/// of the whole 1000x1000 board at tile 64 (16x16 tiles, every one of which changes each tick at
/// the target load). Each frame is one tile's ~60-byte update (5 paints). Throughput in frames.
fn session_write_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("session/write");
    for k in [1u32, 16, 256] {
        let side = k.isqrt();
        let mut rng = XorShift::new(0x5eed_0005 ^ u64::from(k));
        let frames: Vec<(TileCoord, Bytes)> = (0..k)
            .map(|i| update_bytes(&mut rng, i % side, i / side))
            .collect();
        let subscriptions: HashMap<TileCoord, u32> =
            frames.iter().map(|&(coord, _)| (coord, EPOCH)).collect();
        group.throughput(Throughput::Elements(u64::from(k)));
        group.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, _| {
            let mut replies = BytesMut::new();
            b.iter_batched(
                || {
                    // What the tiles pushed during the tick (frame bytes shared, as in fan-out).
                    let queue = session_queue(64);
                    for (coord, bytes) in &frames {
                        queue.push(QueuedFrame {
                            board: BOARD,
                            tile: *coord,
                            epoch: EPOCH,
                            bytes: bytes.clone(),
                        });
                    }
                    queue
                },
                |queue| session_write(queue, Some(BOARD), &subscriptions, &mut replies),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // Short enough for a 2-core machine: 0.5 s warm-up and 20 samples over ~2 s per benchmark.
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = tick_tile_size, tick_subscribers, session_write_group, tick_coalesce
}
criterion_main!(benches);

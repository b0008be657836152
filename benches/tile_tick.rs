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

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::task::noop_waker_ref;
use parking_lot::Mutex;
use tessera::canvas::frame_queue::{FrameQueue, FrameSource, QueuedFrame};
use tessera::canvas::paint_inbox::PaintInbox;
use tessera::canvas::tile_buffer::TileBuffer;
use tessera::canvas::write_schedule::WriteSchedule;
use tessera::canvas::write_signal::WriteSignal;
use tessera::geometry::{BoardGeometry, Rect, TileCoord};
use tessera::session::outbox::Outbox;
use tessera::session::subscriptions::Subscriptions;
use tessera::session::writer::FrameWriter;

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
/// its queue collects per tick when every tile changes. At the target load nearly all do; at
/// tile size 32 (1.3 paints a tick on average) about a quarter see no paint in a given tick, so
/// there the queue depth is somewhat overstated.
fn board_tiles(tile_size: u32) -> usize {
    geometry(tile_size).tile_count()
}

fn geometry(tile_size: u32) -> BoardGeometry {
    BoardGeometry::new(BOARD_EDGE, BOARD_EDGE, tile_size).expect("valid bench geometry")
}

/// A full `tile_size` tile at `coord`, filled with the background.
fn tile_buffer(tile_size: u32, coord: TileCoord) -> TileBuffer {
    let rect = Rect {
        x: u32::from(coord.tx) * tile_size,
        y: u32::from(coord.ty) * tile_size,
        width: tile_size,
        height: tile_size,
    };
    TileBuffer::new(
        BOARD,
        coord,
        rect,
        vec![BACKGROUND; rect.area() as usize],
        0,
    )
}

/// A session's queue as the server sizes it for an overview of the board: the update budget
/// plus one full state per tile, so a tick's fan-out never overflows it. Enlisted with a write
/// schedule as the server's are; nothing wakes it here, so after its first push each push pays
/// only the check that it is already enlisted (the server pays one enlistment per tick).
fn session_queue(tile_size: u32) -> Arc<FrameQueue> {
    FrameQueue::with_schedule(
        SESSION_QUEUE_LEN + board_tiles(tile_size),
        Arc::new(WriteSchedule::default()),
    )
}

/// A tile's view of one subscriber, as in `canvas::tile` (its `Subscription` is private).
struct Subscription {
    queue: Arc<FrameQueue>,
    epoch: u32,
}

/// The subscribers of every tile, keyed by session id like the tile actor's map. Every tile has
/// the same ones: they are overview sessions.
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

/// Empties every subscriber's queue, as each session does once a tick, and checks that none
/// overflowed (an overflowing queue refuses pushes, which would make them look cheap).
fn drain_all(subs: &HashMap<u64, Subscription>) {
    let mut frames = VecDeque::new();
    for sub in subs.values() {
        assert!(
            !sub.queue.drain_into(&mut frames),
            "a bench queue overflowed"
        );
        frames.clear();
    }
}

/// The measured tick of one tile: each paint queued in the tile's inbox (as
/// `Board::queue_paint` does, without the journal), then the tile's `Flush`: take the inbox,
/// apply, coalesce and encode once, count, and push one `QueuedFrame` sharing the batch's bytes
/// to every subscriber.
fn tick(
    buffer: &mut TileBuffer,
    coord: TileCoord,
    paints: &[(u32, u8)],
    inbox: &mut Inbox,
    subs: &HashMap<u64, Subscription>,
    applied: &AtomicU64,
) {
    for &paint in paints {
        assert!(
            inbox.paints.push(paint, || true),
            "a bench inbox overflowed"
        );
    }
    inbox.paints.take(&mut inbox.taken);
    buffer.paint_all(&mut inbox.taken);
    if let Some(batch) = buffer.flush() {
        applied.fetch_add(batch.version - batch.base_version, Ordering::Relaxed);
        for sub in subs.values() {
            sub.queue.push(QueuedFrame {
                board: BOARD,
                source: FrameSource::Tile(coord),
                epoch: sub.epoch,
                bytes: batch.bytes.clone(),
            });
        }
    }
}

/// A tile's paint inbox and the buffer its paints move through (`Tile`'s `inbox` and `taken`),
/// shared by the bench's tiles: it is empty between their ticks.
#[derive(Default)]
struct Inbox {
    paints: PaintInbox,
    taken: Vec<(u32, u8)>,
}

/// `count` paints at uniformly random pixels of a `tile_size` tile, random colours.
fn random_paints(rng: &mut XorShift, tile_size: u32, count: usize) -> Vec<(u32, u8)> {
    let area = u64::from(tile_size * tile_size);
    (0..count)
        .map(|_| (rng.below(area) as u32, rng.color()))
        .collect()
}

/// Board ticks whose paints are generated up front and replayed in turn, so the measured loop
/// and its setup allocate nothing of their own and every run replays the same paints.
const ROUNDS: usize = 4;

/// Benchmarks one tile tick with `n_subs` subscribers and paints from `make_paints`.
///
/// The model is a whole board ticking, as in the server: `board_tiles(tile_size)` long-lived tile
/// buffers (one per tile of the 1000x1000 board, so the pixels total one board, and each buffer
/// keeps its pending list's capacity from tick to tick) take turns, each iteration being one
/// tile's tick, all pushing into the same subscriber queues. The (unmeasured) setup drains the
/// queues when the turn comes back to the first tile, as the sessions do once a tick, so each
/// queue grows from empty to one frame per tile per tick, exactly what an overview session's
/// queue holds at the target load, and never overflows. Creating the buffers, the queues and the
/// paints is done once, outside the measurement.
fn bench_tick(
    b: &mut criterion::Bencher<'_>,
    tile_size: u32,
    n_subs: usize,
    mut make_paints: impl FnMut() -> Vec<(u32, u8)>,
) {
    let tiles: Vec<TileCoord> = geometry(tile_size).all_tiles().collect();
    let subs = subscribers(n_subs, tile_size);
    let applied = AtomicU64::new(0);
    let mut inbox = Inbox::default();
    // Every tile has lived through one tick already, as in a running server.
    let mut buffers: Vec<TileBuffer> = tiles
        .iter()
        .map(|&coord| {
            let mut buffer = tile_buffer(tile_size, coord);
            tick(
                &mut buffer,
                coord,
                &make_paints(),
                &mut inbox,
                &subs,
                &applied,
            );
            buffer
        })
        .collect();
    let schedule: Vec<Vec<(u32, u8)>> = (0..ROUNDS * tiles.len()).map(|_| make_paints()).collect();
    let mut next = 0;
    b.iter_batched(
        || {
            let turn = next;
            next = (next + 1) % schedule.len();
            if turn % tiles.len() == 0 {
                drain_all(&subs);
            }
            (turn % tiles.len(), schedule[turn].as_slice())
        },
        |(tile, paints)| {
            tick(
                &mut buffers[tile],
                tiles[tile],
                paints,
                &mut inbox,
                &subs,
                &applied,
            )
        },
        // One board tick per timed batch; a batch cut short at the end of a sample only lets a
        // queue reach two ticks' worth of frames, far below its capacity.
        BatchSize::NumIterations(tiles.len() as u64),
    );
    drain_all(&subs);
}

/// Group 1: the cost of one tile's tick at the target load, per tile size. Bigger tiles see more
/// paints per tick (P scales with the tile's area) but there are fewer of them; throughput is in
/// paints, so the per-paint cost of each tile size can be compared directly.
fn tick_tile_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick/tile_size");
    // 32..256: the tile sizes worth considering for a 1000x1000 board (16 is all per-tile
    // overhead, 512 puts a quarter of the board on one actor).
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
/// 1 = a tile only one viewer watches, 10 and 100 = more popular regions, 1000 = five times the
/// target's 200 overview sessions. Throughput is in subscribers (frames pushed).
fn tick_subscribers(c: &mut Criterion) {
    const TILE_SIZE: u32 = 64;
    // 64 * 64 / 1e6 of the board's 1,280 paints a tick, rounded.
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
        bench_tick(b, TILE_SIZE, OVERVIEW_SESSIONS, || {
            let hot: Vec<u32> = (0..HOT_PIXELS)
                .map(|_| rng.below(u64::from(area)) as u32)
                .collect();
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

/// The encoded `TileUpdate` of one tick of tile `coord` at tile size 64: 5 paints, 22 bytes
/// (7 + 5 x 3 on a fresh tile of board 0 below tile 251, docs/protocol.md 4.5; 59 bytes in
/// protocol 1), fewer when two paints fall on one pixel.
fn update_bytes(rng: &mut XorShift, coord: TileCoord) -> Bytes {
    const TILE_SIZE: u32 = 64;
    let mut buffer = tile_buffer(TILE_SIZE, coord);
    for _ in 0..5 {
        buffer.paint(
            rng.below(u64::from(TILE_SIZE * TILE_SIZE)) as u32,
            rng.color(),
        );
    }
    buffer.flush().expect("paints were queued").bytes
}

/// One session of the write bench: the queue its tiles push into, and its real frame writer
/// (`session::writer::FrameWriter`, which the websocket's response body polls in the server).
fn bench_session(frames: &[(TileCoord, Bytes)]) -> (Arc<FrameQueue>, FrameWriter, Vec<u32>) {
    let schedule = Arc::new(WriteSchedule::default());
    let queue =
        FrameQueue::with_schedule(SESSION_QUEUE_LEN + board_tiles(64), Arc::clone(&schedule));
    let subscriptions = Arc::new(Mutex::new(Subscriptions::default()));
    let epochs = {
        let mut subs = subscriptions.lock();
        subs.set_board(Some(BOARD));
        frames
            .iter()
            .map(|(coord, _)| subs.subscribe_tile(*coord))
            .collect()
    };
    let writer = FrameWriter::new(
        Arc::clone(&queue),
        subscriptions,
        Arc::new(Mutex::new(Outbox::new(Box::new(|_| Ok(true))))),
        WriteSignal::new(schedule),
    );
    (queue, writer, epochs)
}

/// Group 3: the per-session, per-tick cost of collecting a tick's frames into one websocket
/// frame, by the server's own `FrameWriter`: the boundary's wake, the drain, the filter by board
/// and subscription epoch, and one frame (the lone tile frame as is, otherwise everything
/// concatenated). K = tiles in view that changed this tick: 1 = zoomed in on one tile (the frame
/// goes out untouched, no copy), 16 = a 4x4-tile window (256x256 pixels at tile 64), 256 = the
/// overview of the whole 1000x1000 board at tile 64 (16x16 tiles, every one of which changes
/// each tick at the target load; 256 updates of 22 bytes fit one 8 KiB frame). Each frame is one
/// tile's 22-byte update (5 paints). Throughput in frames.
///
/// The model is the 200 target sessions writing once each per tick: 200 long-lived sessions,
/// the (unmeasured) setup queues session i's K frames as the tiles would, the measured routine
/// wakes its writer (as the write tick does) and takes the frame. The frame is dropped inside the
/// measurement (the connection frees it once written), so the timed loop reuses memory as the
/// server does instead of freeing 200 frames at once.
fn session_write_group(c: &mut Criterion) {
    const TILE_SIZE: u32 = 64;
    let mut group = c.benchmark_group("session/write");
    for k in [1u32, 16, 256] {
        let side = k.isqrt();
        let mut rng = XorShift::new(0x5eed_0005 ^ u64::from(k));
        let frames: Vec<(TileCoord, Bytes)> = (0..k)
            .map(|i| {
                let coord = geometry(TILE_SIZE)
                    .tile(i % side, i / side)
                    .expect("tile on the board");
                (coord, update_bytes(&mut rng, coord))
            })
            .collect();
        let (queues, mut writers): (Vec<_>, Vec<_>) = (0..OVERVIEW_SESSIONS)
            .map(|_| {
                let (queue, writer, epochs) = bench_session(&frames);
                ((queue, epochs), writer)
            })
            .unzip();
        group.throughput(Throughput::Elements(u64::from(k)));
        group.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, _| {
            let mut next = 0;
            let mut cx = Context::from_waker(noop_waker_ref());
            b.iter_batched(
                || {
                    // What the tiles pushed during the tick (bytes shared, as in the fan-out).
                    let i = next;
                    next = (next + 1) % queues.len();
                    let (queue, epochs) = &queues[i];
                    for ((coord, bytes), epoch) in frames.iter().zip(epochs) {
                        queue.push(QueuedFrame {
                            board: BOARD,
                            source: FrameSource::Tile(*coord),
                            epoch: *epoch,
                            bytes: bytes.clone(),
                        });
                    }
                    i
                },
                |i| {
                    queues[i].0.wake();
                    match writers[i].poll_frame(&mut cx) {
                        Poll::Ready(Some(frame)) => drop(frame),
                        other => panic!("no frame: {other:?}"),
                    }
                },
                // One tick of the 200 sessions per timed batch. A batch never repeats a session
                // and each routine takes what its own setup queued: at most K frames.
                BatchSize::NumIterations(queues.len() as u64),
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

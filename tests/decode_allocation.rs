//! The owned decoder checks a claimed length against the frame before allocating
//! (`docs/protocol.md`, section 2): a short frame that claims a huge string or pixel block is
//! refused without allocating what it claims. Its own test binary, because it watches every
//! allocation of the process through the global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera::protocol::{ServerMessage, TileState, decode_server_frame, encode_server};

/// The system allocator, remembering the largest single allocation since the last reset.
struct Watch;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as for `alloc`; `ptr` and `layout` come from this allocator, i.e. from System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by System with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Watch = Watch;

/// Decodes `frame`, returning whether it decoded and the largest allocation meanwhile.
fn decode_watched(frame: &[u8]) -> (bool, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    let decoded = decode_server_frame(frame).is_ok();
    (decoded, LARGEST.load(Ordering::Relaxed))
}

/// One test, so no other test's allocations run alongside the ones watched.
#[test]
fn claimed_lengths_past_the_frame_allocate_nothing_like_them() {
    const CLAIM: usize = 32 << 20;
    // `fc` + a little-endian u32: the varint of 32 MiB (docs/protocol.md, section 2).
    let claim = [0xfc, 0x00, 0x00, 0x00, 0x02];
    let frame = |head: &[u8], tail: &[u8]| [head, &claim, tail].concat();
    for (what, bad) in [
        // tag 4 (Error), code 0 | message length | 3 bytes of message
        ("Error.message", frame(&[4, 0], b"abc")),
        // tag 0 (Welcome), protocol_version 2, session_id 1 | user_token length | 1 byte
        ("Welcome.user_token", frame(&[0, 2, 1], b"t")),
        // tag 1 (TileState), board, tx, ty, version 0, width 1, height 1 | pixels length | 1 pixel
        ("TileState.pixels", frame(&[1, 0, 0, 0, 0, 1, 1], &[5])),
    ] {
        let (decoded, largest) = decode_watched(&bad);
        assert!(
            !decoded,
            "{what}: a 32 MiB claim in {} bytes decoded",
            bad.len()
        );
        assert!(
            largest < 1 << 20,
            "{what}: decoding a {}-byte frame allocated {largest} bytes at once",
            bad.len()
        );
    }

    // The watch sees a real allocation of that size: a frame that holds 32 MiB of pixels.
    let real = encode_server(&ServerMessage::TileState(TileState {
        board: 0,
        tx: 0,
        ty: 0,
        version: 0,
        width: 0,
        height: 0,
        pixels: vec![5; CLAIM],
    }));
    let (decoded, largest) = decode_watched(&real);
    assert!(decoded);
    assert!(largest >= CLAIM, "largest allocation {largest}");
}

//! The journal against a real directory: group commit, sealing and deletion, and recovery
//! through [`BoardStore::recover_journal`] (replay, torn tails, corruption, geometry changes).

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use super::format::{self, Record};
use super::{CommitSchedule, Journal, list_segments};
use crate::geometry::{BoardGeometry, TileCoord};
use crate::storage::{BoardStore, Corruption, StorageError, TileSnapshot};

const BG: u8 = 31;

fn geo(tile_size: u32) -> BoardGeometry {
    BoardGeometry::new(100, 60, tile_size).expect("geometry")
}

fn record(x: u32, y: u32, color: u8) -> Record {
    Record { x, y, color }
}

/// Appends `records` and waits until all are durable.
async fn journal_paints(journal: &Journal, records: &[Record]) {
    let mut last = 0;
    for &r in records {
        last = journal.append(r, || true).expect("open").expect("queued");
    }
    tokio::time::timeout(Duration::from_secs(10), journal.wait_durable(last))
        .await
        .expect("durable in time")
        .expect("not failed");
}

/// A board store in `dir` and a journal open on it for `g`.
fn journalled(dir: &tempfile::TempDir, g: BoardGeometry) -> (BoardStore, Arc<Journal>) {
    let store = BoardStore::new(dir.path(), "b");
    let journal = Journal::open(&store.journal_dir(), g, CommitSchedule::Asap).expect("open");
    (store, journal)
}

fn pixel(tiles: &[TileSnapshot], g: BoardGeometry, x: u32, y: u32) -> u8 {
    let (tile, offset) = g.locate(g.pixel(x, y).expect("on board"));
    tiles
        .iter()
        .find(|t| t.tile == tile)
        .map_or(BG, |t| t.pixels[offset as usize])
}

#[tokio::test]
async fn tickets_become_durable_in_order_and_a_refused_paint_is_not_journalled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), geo(16), CommitSchedule::Asap).expect("open");
    let first = journal.append(record(1, 1, 1), || true).unwrap().unwrap();
    assert_eq!(journal.append(record(2, 2, 2), || false).unwrap(), None);
    let second = journal.append(record(3, 3, 3), || true).unwrap().unwrap();
    assert_eq!((first, second), (1, 2));
    journal.wait_durable(second).await.expect("durable");
    assert_eq!(journal.is_durable(first), Ok(true));
    assert_eq!(journal.is_durable(second + 1), Ok(false));
    let segments = list_segments(dir.path()).unwrap();
    let bytes = fs::read(&segments[0].1).unwrap();
    let decoded = format::decode_segment(&bytes);
    assert_eq!(decoded.error, None);
    assert_eq!(decoded.records, [record(1, 1, 1), record(3, 3, 3)]);
    journal.close();
    assert!(journal.append(record(4, 4, 4), || true).is_err(), "closed");
}

/// A journal in `dir` whose next scheduled commit is an hour away.
fn hourly(dir: &std::path::Path) -> Arc<Journal> {
    let hour = Duration::from_secs(3600);
    let schedule = CommitSchedule::before_ticks(std::time::Instant::now(), hour);
    Journal::open(dir, geo(16), schedule).expect("open")
}

#[tokio::test]
async fn a_tick_schedule_commits_at_the_tick_and_a_seal_does_not_wait_for_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = std::time::Instant::now();
    let tick = Duration::from_secs(1);
    let journal =
        Journal::open(dir.path(), geo(16), CommitSchedule::before_ticks(t0, tick)).expect("open");
    let first = journal.append(record(1, 1, 1), || true).unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // With `Asap` this paint would have been durable within a millisecond or so.
    assert_eq!(
        journal.is_durable(first),
        Ok(false),
        "committed before the tick's commit point"
    );
    let second = journal.append(record(2, 2, 2), || true).unwrap().unwrap();
    journal.wait_durable(second).await.expect("durable");
    assert!(
        t0.elapsed() >= tick - Duration::from_millis(2),
        "at the commit point, not before"
    );
    assert_eq!(journal.is_durable(first), Ok(true));

    // Between commit points, a seal writes what is pending at once.
    let slow = hourly(&dir.path().join("slow"));
    let third = slow.append(record(3, 3, 3), || true).unwrap().unwrap();
    let sealed = tokio::time::timeout(Duration::from_secs(10), slow.seal())
        .await
        .expect("the seal did not wait for the hourly commit point");
    assert_eq!(sealed.unwrap(), 1);
    assert_eq!(slow.is_durable(third), Ok(true));

    // And a close (shutdown) writes what is pending at once too.
    let closing = hourly(&dir.path().join("closing"));
    let fourth = closing.append(record(4, 4, 4), || true).unwrap().unwrap();
    closing.close();
    tokio::time::timeout(Duration::from_secs(10), closing.wait_durable(fourth))
        .await
        .expect("the close did not wait for the hourly commit point")
        .expect("durable");
}

#[tokio::test]
async fn sealing_starts_a_new_segment_only_when_the_current_one_has_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(dir.path(), geo(16), CommitSchedule::Asap).expect("open");
    assert_eq!(journal.seal().await.unwrap(), 0, "empty: nothing sealed");
    journal_paints(&journal, &[record(1, 1, 1)]).await;
    assert_eq!(journal.seal().await.unwrap(), 1);
    assert_eq!(journal.seal().await.unwrap(), 1, "segment 2 is still empty");
    journal_paints(&journal, &[record(2, 2, 2)]).await;
    let ids: Vec<u64> = list_segments(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(journal.delete_through(1).unwrap(), 1);
    let ids: Vec<u64> = list_segments(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(ids, [2], "the current segment stays");
}

#[tokio::test]
async fn recovery_replays_over_the_stored_tiles_then_removes_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BoardStore::new(dir.path(), "b");
    let g = geo(16);
    // A stored tile (0,0) at version 5 with pixel (0,0) = 7.
    let mut pixels = vec![BG; 256];
    pixels[0] = 7;
    let stored = TileSnapshot {
        tile: TileCoord { tx: 0, ty: 0 },
        version: 5,
        pixels,
    };
    store.save(g, &[stored]).unwrap();
    let journal = Journal::open(&store.journal_dir(), g, CommitSchedule::Asap).expect("open");
    journal_paints(
        &journal,
        &[record(1, 0, 2), record(1, 0, 3), record(99, 59, 4)],
    )
    .await;
    journal.seal().await.unwrap();
    journal_paints(&journal, &[record(50, 30, 5)]).await;
    journal.close();

    let recovery = store.recover_journal(BG).expect("recovers");

    assert_eq!((recovery.segments, recovery.records), (2, 4));
    assert_eq!(recovery.tiles_written, 3);
    assert!(list_segments(&store.journal_dir()).unwrap().is_empty());
    let tiles = store.load(g, BG).unwrap();
    assert_eq!(pixel(&tiles, g, 0, 0), 7, "untouched pixel kept");
    assert_eq!(pixel(&tiles, g, 1, 0), 3, "last write wins");
    assert_eq!(pixel(&tiles, g, 99, 59), 4);
    assert_eq!(pixel(&tiles, g, 50, 30), 5, "later segment replayed too");
    let first = tiles
        .iter()
        .find(|t| t.tile == TileCoord { tx: 0, ty: 0 })
        .unwrap();
    assert_eq!(
        first.version, 7,
        "each replayed paint counts, as a live tile counts them"
    );
    let again = store.recover_journal(BG).expect("nothing left");
    assert_eq!(again.records, 0);
}

#[tokio::test]
async fn a_cut_off_last_batch_is_dropped_and_the_rest_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = geo(16);
    let (store, journal) = journalled(&dir, g);
    journal_paints(&journal, &[record(5, 5, 1)]).await;
    journal.close();
    let (_, path) = list_segments(&store.journal_dir()).unwrap().pop().unwrap();
    // What a crash in the middle of the next append leaves: half a batch.
    let mut encoded = Vec::new();
    record(1, 2, 9).encode_into(&mut encoded);
    let mut torn = Vec::new();
    format::encode_batch(&encoded, &mut torn);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&torn[..torn.len() - 3]);
    fs::write(&path, bytes).unwrap();

    let recovery = store
        .recover_journal(BG)
        .expect("a torn tail is not corruption");

    assert_eq!((recovery.records, recovery.torn_bytes), (1, torn.len() - 3));
    assert_eq!(pixel(&store.load(g, BG).unwrap(), g, 5, 5), 1);
}

#[tokio::test]
async fn damage_in_a_sealed_segment_stops_recovery_naming_the_file_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = geo(16);
    let (store, journal) = journalled(&dir, g);
    journal_paints(&journal, &[record(5, 5, 1), record(6, 6, 2)]).await;
    journal.seal().await.unwrap();
    journal_paints(&journal, &[record(7, 7, 3)]).await;
    journal.close();
    let segments = list_segments(&store.journal_dir()).unwrap();
    let sealed = &segments[0].1;
    let mut bytes = fs::read(sealed).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(sealed, bytes).unwrap();

    let err = store
        .recover_journal(BG)
        .expect_err("corruption, not a torn tail");

    assert!(
        matches!(&err, StorageError::Corrupt { path, reason: Corruption::Journal(_) } if path == sealed),
        "{err}"
    );
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(
        list_segments(&store.journal_dir()).unwrap().len(),
        2,
        "kept"
    );
    assert!(store.load(g, BG).unwrap().is_empty(), "nothing written");
}

#[tokio::test]
async fn a_journal_replays_in_its_own_geometry_before_the_board_is_resliced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = journalled(&dir, geo(16));
    journal_paints(&journal, &[record(40, 33, 6), record(99, 0, 7)]).await;
    journal.close();

    store.recover_journal(BG).expect("recovers");
    let g = geo(32);
    let tiles = store.load(g, BG).expect("re-slices to the new tile size");

    assert_eq!(pixel(&tiles, g, 40, 33), 6);
    assert_eq!(pixel(&tiles, g, 99, 0), 7);
}

#[tokio::test]
async fn segments_of_two_geometries_are_refused_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, journal) = journalled(&dir, geo(16));
    journal_paints(&journal, &[record(5, 5, 1)]).await;
    journal.close();
    // Only a copied-in or tampered file can do this: one run writes one geometry.
    let other = Journal::open(&store.journal_dir(), geo(32), CommitSchedule::Asap).expect("open");
    journal_paints(&other, &[record(6, 6, 2)]).await;
    other.close();

    let err = store.recover_journal(BG).expect_err("two geometries");

    let newest = list_segments(&store.journal_dir())
        .unwrap()
        .pop()
        .unwrap()
        .1;
    assert!(
        matches!(&err, StorageError::Corrupt { path, reason: Corruption::Journal(_) } if *path == newest),
        "{err}"
    );
    assert!(
        err.to_string().contains("32-pixel tiles") && err.to_string().contains("16-pixel"),
        "{err}"
    );
    assert!(
        store.load(geo(16), BG).unwrap().is_empty(),
        "nothing written"
    );
}

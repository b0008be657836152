//! Tests of [`BoardStore`] against a real temporary directory: round trips, corruption,
//! re-slicing, shrinking and crash leftovers.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;

const BG: u8 = 31;

fn geo(w: u32, h: u32, t: u32) -> BoardGeometry {
    BoardGeometry::new(w, h, t).expect("valid test geometry")
}

/// A deterministic pseudo-random board: about one pixel in `sparsity` is painted.
fn paint(g: BoardGeometry, seed: u64, sparsity: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..g.pixel_count())
        .map(|_| {
            // xorshift64: enough randomness for test data, no dependency.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state.is_multiple_of(sparsity) {
                (state >> 32) as u8 % 32
            } else {
                BG
            }
        })
        .collect()
}

/// Every tile of `board`, with a distinct non-zero version each.
fn cut(g: BoardGeometry, board: &[u8]) -> Vec<TileSnapshot> {
    g.all_tiles()
        .map(|tile| {
            let r = g.tile_rect(tile);
            let pixels = (r.y..r.y + r.height)
                .flat_map(|y| {
                    let start = (y * g.width() + r.x) as usize;
                    board[start..start + r.width as usize].iter().copied()
                })
                .collect();
            let version = 1 + u64::from(tile.tx) * 7 + u64::from(tile.ty) * 1000;
            TileSnapshot {
                tile,
                version,
                pixels,
            }
        })
        .collect()
}

/// The full board described by `tiles`; missing tiles are background.
fn assemble(g: BoardGeometry, tiles: &[TileSnapshot]) -> Vec<u8> {
    let mut board = vec![BG; g.pixel_count() as usize];
    for t in tiles {
        let r = g.tile_rect(t.tile);
        assert_eq!(
            t.pixels.len() as u64,
            r.area(),
            "tile {} has the wrong size",
            t.tile
        );
        for (row, line) in t.pixels.chunks_exact(r.width as usize).enumerate() {
            let start = ((r.y + row as u32) * g.width() + r.x) as usize;
            board[start..start + line.len()].copy_from_slice(line);
        }
    }
    board
}

/// The board of `g` cropped or padded (with background) to `to`.
fn resize(g: BoardGeometry, board: &[u8], to: BoardGeometry) -> Vec<u8> {
    let mut out = vec![BG; to.pixel_count() as usize];
    for y in 0..g.height().min(to.height()) {
        for x in 0..g.width().min(to.width()) {
            out[(y * to.width() + x) as usize] = board[(y * g.width() + x) as usize];
        }
    }
    out
}

/// Every file under `dir` with its contents, to prove that nothing was modified.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = fs::read(&path).expect("read");
                files.insert(path, bytes);
            }
        }
    }
    files
}

/// The reason of `err`, which must be a corruption error naming `expected`.
fn corruption_of<'e>(err: &'e StorageError, expected: &Path) -> &'e Corruption {
    match err {
        StorageError::Corrupt { path, reason } if path == expected => reason,
        other => panic!(
            "expected corruption of {}, got: {other}",
            expected.display()
        ),
    }
}

fn store() -> (tempfile::TempDir, BoardStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BoardStore::new(dir.path(), "main");
    (dir, store)
}

fn layout_dir(store: &BoardStore, g: BoardGeometry) -> PathBuf {
    store
        .board_dir()
        .join(layout::layout_dir_name(g, LayoutKind::Regions))
}

fn region_path(store: &BoardStore, g: BoardGeometry, rx: u16, ry: u16) -> PathBuf {
    layout_dir(store, g).join(format!("{rx}-{ry}.region"))
}

/// The reason of a damaged record: `reason` must be about record `index` of a region file.
fn record_reason(reason: &Corruption, index: usize) -> &Corruption {
    match reason {
        Corruption::RegionRecord {
            index: found,
            reason,
            ..
        } if *found == index => reason,
        other => panic!("expected damage to record {index}, got: {other}"),
    }
}

#[test]
fn save_then_load_round_trips() {
    let (_dir, store) = store();
    let g = geo(100, 70, 16); // Partial edge tiles in both directions.
    let tiles = cut(g, &paint(g, 1, 3));
    let (first, second) = tiles.split_at(tiles.len() / 2);
    store.save(g, first).expect("save first half");
    store.save(g, second).expect("save second half");
    assert_eq!(store.load(g, BG).expect("load"), tiles);

    let manifest = fs::read_to_string(store.board_dir().join("manifest.json")).expect("manifest");
    assert!(
        manifest.contains("\"layout\": \"w100-h70-t16-r64\""),
        "{manifest}"
    );
    assert!(region_path(&store, g, 0, 0).is_file());

    // Saving a tile again replaces it.
    let mut newer = tiles[3].clone();
    newer.version += 1;
    newer.pixels[0] = 5;
    store
        .save(g, std::slice::from_ref(&newer))
        .expect("save again");
    assert_eq!(store.load(g, BG).expect("load")[3], newer);
}

#[test]
fn missing_directory_or_manifest_is_a_blank_board() {
    let (dir, store) = store();
    let g = geo(64, 64, 16);
    assert_eq!(store.load(g, BG).expect("no directory"), vec![]);
    fs::create_dir_all(store.board_dir()).expect("mkdir");
    assert_eq!(store.load(g, BG).expect("no manifest"), vec![]);
    store.save(g, &[]).expect("empty save");
    assert_eq!(
        tree(dir.path()),
        BTreeMap::new(),
        "an empty save writes nothing"
    );
}

#[test]
fn saving_dirty_tiles_keeps_the_other_tiles_of_their_regions() {
    let (_dir, store) = store();
    // 132 x 3 tiles in regions of 64 x 64 tiles: three regions, the last one partial.
    let g = geo(2100, 40, 16);
    assert_eq!(region_file::region_edge(g), 64);
    let board = paint(g, 11, 4);
    let mut tiles = cut(g, &board);
    // Every other tile first, then the rest, then a few again with new contents: each save
    // rewrites the regions it touches and must keep what they already held.
    let (even, odd): (Vec<_>, Vec<_>) = tiles.iter().cloned().partition(|t| t.tile.tx % 2 == 0);
    store.save(g, &even).expect("save even columns");
    assert_eq!(store.load(g, BG).expect("load"), even);
    store.save(g, &odd).expect("save odd columns");
    assert_eq!(store.load(g, BG).expect("load"), tiles);
    for i in [0, 70, tiles.len() - 1] {
        tiles[i].version += 100;
        tiles[i].pixels.fill(3);
    }
    let changed = [
        tiles[0].clone(),
        tiles[70].clone(),
        tiles[tiles.len() - 1].clone(),
    ];
    store.save(g, &changed).expect("save three");
    assert_eq!(store.load(g, BG).expect("load"), tiles);
    let mut files: Vec<_> = layout::list_dir(&layout_dir(&store, g))
        .expect("list")
        .iter()
        .map(|e| e.file_name().into_string().expect("utf-8"))
        .collect();
    files.sort();
    assert_eq!(files, ["0-0.region", "1-0.region", "2-0.region"]);
}

#[test]
fn the_one_file_per_tile_layout_of_earlier_versions_is_converted() {
    for to in [geo(200, 150, 32), geo(200, 150, 64)] {
        let (_dir, store) = store();
        let from = geo(200, 150, 32);
        let board = paint(from, 12, 3);
        let tiles = cut(from, &board);
        // What an earlier version wrote: manifest format 1 and a `.tile` file per tile.
        let old_dir = store.board_dir().join("w200-h150-t32");
        fs::create_dir_all(&old_dir).expect("mkdir");
        for t in tiles.iter().filter(|t| t.tile.tx != 1) {
            let name = layout::tile_file_name(t.tile);
            fs::write(old_dir.join(name), tile_file::encode(from, t)).expect("tile");
        }
        let manifest = store.board_dir().join("manifest.json");
        let old =
            r#"{"format":1,"width":200,"height":150,"tile_size":32,"layout":"w200-h150-t32"}"#;
        fs::write(&manifest, old).expect("manifest");
        let err = store
            .save(from, &tiles[..1])
            .expect_err("save before conversion");
        assert!(
            matches!(&err, StorageError::Unconverted { path } if *path == manifest),
            "{err}"
        );

        let saved: Vec<_> = tiles.iter().filter(|t| t.tile.tx != 1).cloned().collect();
        let expected = assemble(from, &saved);
        let loaded = store.load(to, BG).expect("converted");
        assert_eq!(assemble(to, &loaded), expected);
        if to == from {
            assert_eq!(loaded, saved, "same geometry: tiles and versions unchanged");
        }
        assert_eq!(store.load(to, BG).expect("reload"), loaded);
        assert!(
            !old_dir.exists(),
            "the old layout is removed once converted"
        );
        let text = fs::read_to_string(&manifest).expect("manifest");
        assert!(text.contains("\"format\": 2"), "{text}");
        assert_eq!(
            layout::layout_dirs(store.board_dir()).expect("list"),
            vec![layout_dir(&store, to)]
        );
    }
}

/// Saves a board of four tiles (one region), damages the region file, and returns the load
/// error and that path.
fn load_after_damage(damage: impl FnOnce(&mut Vec<u8>)) -> (StorageError, PathBuf) {
    let (_dir, store) = store();
    let g = geo(64, 64, 32);
    store.save(g, &cut(g, &paint(g, 2, 2))).expect("save");
    let path = region_path(&store, g, 0, 0);
    let mut bytes = fs::read(&path).expect("read");
    damage(&mut bytes);
    fs::write(&path, bytes).expect("write damaged");
    (
        store.load(g, BG).expect_err("damaged file must not load"),
        path,
    )
}

#[test]
fn wrong_checksum_is_an_error_naming_the_file() {
    // Byte 100 is a pixel of the first record (32 bytes of region header, 36 of tile header).
    let (err, path) = load_after_damage(|b| b[100] ^= 1);
    assert!(
        matches!(
            record_reason(corruption_of(&err, &path), 0),
            Corruption::Checksum { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("0-0.region"), "{err}");
    assert!(
        err.to_string().contains("tile record 0 at byte 32"),
        "{err}"
    );
    // The region header has its own checksum.
    let (err, path) = load_after_damage(|b| b[26] ^= 1);
    assert!(
        matches!(corruption_of(&err, &path), Corruption::Checksum { .. }),
        "{err}"
    );
}

#[test]
fn truncated_file_is_an_error_naming_the_file() {
    let (err, path) = load_after_damage(|b| b.truncate(b.len() - 10));
    assert!(
        matches!(
            record_reason(corruption_of(&err, &path), 3),
            Corruption::Length { .. }
        ),
        "{err}"
    );
    let (err, path) = load_after_damage(Vec::clear);
    assert!(
        matches!(
            corruption_of(&err, &path),
            Corruption::TooShort { len: 0, .. }
        ),
        "{err}"
    );
}

#[test]
fn bad_magic_is_an_error_naming_the_file() {
    let (err, path) = load_after_damage(|b| b[..4].copy_from_slice(b"PNG\0"));
    assert!(
        matches!(corruption_of(&err, &path), Corruption::BadMagic { .. }),
        "{err}"
    );
}

#[test]
fn misplaced_region_files_are_errors_naming_the_file() {
    let (_dir, store) = store();
    let g = geo(2048, 32, 16); // 128 x 2 tiles: regions (0, 0) and (1, 0).
    store.save(g, &cut(g, &paint(g, 3, 2))).expect("save");

    // A region renamed to another region's name.
    let (a, b) = (region_path(&store, g, 0, 0), region_path(&store, g, 1, 0));
    fs::copy(&a, &b).expect("copy");
    let err = store.load(g, BG).expect_err("renamed region");
    assert!(
        matches!(corruption_of(&err, &b), Corruption::RegionMismatch { .. }),
        "{err}"
    );

    // A region copied in from a board of another geometry.
    let other = geo(2048, 48, 16);
    let foreign_tiles = cut(other, &paint(other, 4, 2));
    let foreign: Vec<&TileSnapshot> = foreign_tiles
        .iter()
        .filter(|t| t.tile.tx >= 64 && t.tile.ty == 0)
        .collect();
    let region = region_file::RegionCoord { rx: 1, ry: 0 };
    fs::write(&b, region_file::encode(other, region, &foreign)).expect("plant foreign region");
    let err = store.load(g, BG).expect_err("foreign region");
    assert!(
        matches!(corruption_of(&err, &b), Corruption::BoardMismatch { .. }),
        "{err}"
    );

    // A region name off the board, and a malformed region name.
    fs::remove_file(&b).expect("remove");
    type Check = fn(&Corruption) -> bool;
    let cases: [(&str, Check); 3] = [
        ("2-0.region", |r| {
            matches!(r, Corruption::RegionOffBoard { rx: 2, ry: 0 })
        }),
        ("0-1.region", |r| {
            matches!(r, Corruption::RegionOffBoard { rx: 0, ry: 1 })
        }),
        ("01-0.region", |r| matches!(r, Corruption::FileName { .. })),
    ];
    for (name, check) in cases {
        let bad = layout_dir(&store, g).join(name);
        fs::copy(&a, &bad).expect("copy");
        let err = store.load(g, BG).expect_err("bad name");
        assert!(check(corruption_of(&err, &bad)), "{name}: {err}");
        fs::remove_file(&bad).expect("remove");
    }
    assert!(store.load(g, BG).is_ok());
}

#[test]
fn lost_manifest_or_layout_is_an_error_not_a_blank_board() {
    let (_dir, store) = store();
    let g = geo(64, 64, 32);
    store.save(g, &cut(g, &paint(g, 5, 2))).expect("save");
    let manifest = store.board_dir().join("manifest.json");

    let saved = fs::read(&manifest).expect("read manifest");
    fs::write(&manifest, b"{\"format\":1,").expect("truncate manifest");
    let err = store.load(g, BG).expect_err("truncated manifest");
    assert!(
        matches!(&err, StorageError::Corrupt { path, .. } if *path == manifest),
        "{err}"
    );

    fs::remove_file(&manifest).expect("remove manifest");
    let err = store.load(g, BG).expect_err("tiles without a manifest");
    assert!(
        matches!(
            corruption_of(&err, &manifest),
            Corruption::MissingManifest { .. }
        ),
        "{err}"
    );

    fs::write(&manifest, saved).expect("restore manifest");
    let layout = store.board_dir().join("w64-h64-t32-r32");
    fs::remove_dir_all(&layout).expect("remove layout");
    let err = store.load(g, BG).expect_err("missing layout");
    assert!(
        matches!(corruption_of(&err, &layout), Corruption::MissingLayout),
        "{err}"
    );
}

/// Saves a board in `from`, loads it as `to`, and checks every pixel and version.
fn check_reslice(from: BoardGeometry, to: BoardGeometry) {
    let (_dir, store) = store();
    let board = paint(from, 6, 5);
    let old_tiles = cut(from, &board);
    // Leave some tiles unsaved (never painted): they count as background with version 0.
    let saved: Vec<_> = old_tiles
        .iter()
        .filter(|t| (t.tile.tx + t.tile.ty) % 3 != 0)
        .cloned()
        .collect();
    store.save(from, &saved).expect("save");
    let expected_board = resize(from, &assemble(from, &saved), to);

    let new_tiles = store.load(to, BG).expect("re-slice");
    assert_eq!(
        assemble(to, &new_tiles),
        expected_board,
        "{from:?} -> {to:?} lost pixels"
    );
    for t in &new_tiles {
        let r = to.tile_rect(t.tile);
        let overlapping: u64 = saved
            .iter()
            .filter(|o| {
                let s = from.tile_rect(o.tile);
                s.x < r.x + r.width
                    && r.x < s.x + s.width
                    && s.y < r.y + r.height
                    && r.y < s.y + s.height
            })
            .map(|o| o.version)
            .sum();
        assert_eq!(t.version, overlapping, "version of new tile {}", t.tile);
    }

    // The switch is complete: reloading reads the new layout, the old one is gone.
    assert_eq!(store.load(to, BG).expect("reload"), new_tiles);
    let dirs = layout::layout_dirs(store.board_dir()).expect("list");
    assert_eq!(dirs, vec![layout_dir(&store, to)]);
}

#[test]
fn tile_size_change_keeps_every_pixel() {
    check_reslice(geo(200, 150, 64), geo(200, 150, 16));
    check_reslice(geo(200, 150, 16), geo(200, 150, 128));
    check_reslice(geo(100, 70, 32), geo(100, 70, 16)); // Partial edge tiles on both sides.
}

#[test]
fn growing_keeps_pixels_and_fills_background() {
    check_reslice(geo(100, 70, 32), geo(180, 90, 32));
    check_reslice(geo(100, 70, 32), geo(130, 200, 64)); // Grow and change tile size at once.
}

#[test]
fn shrinking_over_paint_is_refused_and_changes_nothing() {
    let (dir, store) = store();
    let (from, to) = (geo(100, 70, 32), geo(90, 60, 16));
    let mut board = vec![BG; from.pixel_count() as usize];
    board[10 * 100 + 20] = 3; // Kept.
    board[10 * 100 + 95] = 4; // Off the narrower board.
    store.save(from, &cut(from, &board)).expect("save");
    let before = tree(dir.path());

    match store.load(to, BG) {
        Err(StorageError::Shrink {
            path,
            old_width: 100,
            old_height: 70,
            new_width: 90,
            new_height: 60,
            x: 95,
            y: 10,
            colour: 4,
        }) => {
            assert_eq!(path, store.board_dir());
        }
        other => panic!("expected a shrink refusal, got {other:?}"),
    }
    assert_eq!(
        tree(dir.path()),
        before,
        "a refused shrink must not touch the store"
    );
    assert_eq!(
        assemble(
            from,
            &store.load(from, BG).expect("old geometry still loads")
        ),
        board
    );
}

#[test]
fn shrinking_over_background_succeeds() {
    let (_dir, store) = store();
    let (from, to) = (geo(100, 70, 32), geo(90, 60, 16));
    let mut board = vec![BG; from.pixel_count() as usize];
    board[59 * 100 + 89] = 3; // The last pixel that stays.
    board[5] = 7;
    store.save(from, &cut(from, &board)).expect("save");
    let tiles = store.load(to, BG).expect("shrink over background");
    assert_eq!(assemble(to, &tiles), resize(from, &board, to));
}

#[test]
fn leftover_tmp_files_are_ignored_and_removed() {
    let (_dir, store) = store();
    let g = geo(64, 64, 32);
    let tiles = cut(g, &paint(g, 7, 2));
    store.save(g, &tiles).expect("save");
    // A crash mid-save leaves `<name>.tmp` next to the good old file; a crash before the first
    // rename leaves one with no final file at all; a crash mid-manifest-write leaves its .tmp.
    let leftovers = [
        tmp_path(&region_path(&store, g, 0, 0)),
        layout_dir(&store, g).join("9-9.region.tmp"),
        store.board_dir().join("manifest.json.tmp"),
    ];
    let region = fs::read(region_path(&store, g, 0, 0)).expect("read region");
    fs::write(&leftovers[0], &region[..50]).expect("torn tmp");
    fs::write(&leftovers[1], b"garbage").expect("orphan tmp");
    fs::write(&leftovers[2], b"{\"form").expect("torn manifest tmp");

    assert_eq!(store.load(g, BG).expect("load ignores .tmp"), tiles);
    for path in &leftovers {
        assert!(!path.exists(), "{} was not cleaned", path.display());
    }
}

#[test]
fn half_written_layout_from_a_crashed_reslice_is_discarded() {
    let (_dir, store) = store();
    let (from, to) = (geo(64, 64, 32), geo(64, 64, 16));
    let board = paint(from, 8, 3);
    store.save(from, &cut(from, &board)).expect("save");
    // A re-slice to `to` that crashed before switching the manifest: a partial, even corrupt,
    // target directory. So does an unrelated stale layout left by an older geometry.
    let half = layout_dir(&store, to);
    fs::create_dir(&half).expect("mkdir");
    fs::write(half.join("0-0.region"), b"torn").expect("torn region");
    fs::write(half.join("1-0.region.tmp"), b"torn").expect("torn tmp");
    let stale = store.board_dir().join("w32-h32-t16");
    fs::create_dir(&stale).expect("mkdir");
    fs::write(stale.join("0-0.tile"), b"old").expect("stale tile");
    let unrelated = store.board_dir().join("notes.txt");
    fs::write(&unrelated, b"operator's file").expect("unrelated");

    // Same geometry: the half-written directories are not read, and are removed.
    assert_eq!(assemble(from, &store.load(from, BG).expect("load")), board);
    assert!(!half.exists() && !stale.exists());
    assert!(
        unrelated.exists(),
        "only our own layout directories are cleaned"
    );

    // And a re-slice over a half-written target starts it over.
    fs::create_dir(&half).expect("mkdir");
    fs::write(half.join("0-0.region"), b"torn").expect("torn region");
    assert_eq!(assemble(to, &store.load(to, BG).expect("re-slice")), board);
    assert_eq!(assemble(to, &store.load(to, BG).expect("reload")), board);
}

#[test]
fn corrupt_old_tile_aborts_reslice_without_changes() {
    let (dir, store) = store();
    let (from, to) = (geo(64, 64, 32), geo(64, 64, 16));
    store
        .save(from, &cut(from, &paint(from, 9, 2)))
        .expect("save");
    let path = region_path(&store, from, 0, 0);
    let mut bytes = fs::read(&path).expect("read");
    let last = bytes.len() - 100; // a pixel of the last tile record
    bytes[last] ^= 0xff;
    fs::write(&path, bytes).expect("damage");
    let before = tree(dir.path());
    let err = store.load(to, BG).expect_err("corrupt old tile");
    assert!(
        matches!(&err, StorageError::Corrupt { path: p, .. } if *p == path),
        "{err}"
    );
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn save_rejects_bad_snapshots_and_other_geometries() {
    let (dir, store) = store();
    let g = geo(100, 70, 32);
    let mut tiles = cut(g, &paint(g, 10, 2));

    tiles[5].pixels.pop();
    let err = store.save(g, &tiles).expect_err("short pixels");
    assert!(
        matches!(&err, StorageError::PixelCount { tile, .. } if *tile == tiles[5].tile),
        "{err}"
    );
    assert_eq!(
        tree(dir.path()),
        BTreeMap::new(),
        "nothing is written when a tile is invalid"
    );

    let off = TileSnapshot {
        tile: TileCoord { tx: 4, ty: 0 },
        version: 1,
        pixels: vec![BG; 32 * 32],
    };
    let err = store.save(g, &[off]).expect_err("off board");
    assert!(matches!(err, StorageError::TileOffBoard { .. }), "{err}");

    tiles[5].pixels.push(BG);
    store.save(g, &tiles).expect("save");
    let other = geo(100, 70, 16);
    let err = store
        .save(other, &cut(other, &paint(other, 1, 2)))
        .expect_err("other geometry");
    let manifest = store.board_dir().join("manifest.json");
    assert!(
        matches!(&err, StorageError::GeometryMismatch { path, .. } if *path == manifest),
        "{err}"
    );
}

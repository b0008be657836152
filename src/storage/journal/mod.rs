//! The paint journal: every accepted paint is appended and fsynced before it is acknowledged, so
//! a crash (`kill -9`, power loss) loses no acknowledged paint. Snapshots become compaction.
//!
//! # Layout on disk
//!
//! ```text
//! <data_dir>/<board_id>/journal/
//!     00000000000000000007.log   sealed segment (fully fsynced)
//!     00000000000000000008.log   the segment being appended to
//! ```
//!
//! Segments are numbered upwards and hold batches of records (see [`format`]); each batch is
//! one group commit: one `write` and one `fdatasync` for every paint that arrived meanwhile,
//! once per tick (see [`CommitSchedule`]).
//! A new segment is created complete with its header (temp file, fsync, rename, fsync dir), so
//! a segment always has a valid header.
//!
//! # Why replay is correct
//!
//! A record is appended in the same critical section that queues the paint in its tile's
//! inbox, so the journal holds each tile's paints in the order the tile applies them. A paint
//! sets a pixel, so replaying any suffix of the journal over a snapshot that already holds part
//! of it ends with every replayed pixel at its last journalled colour. (A snapshot may also hold
//! a paint queued but not yet synced when the process died; replay can then set that pixel back
//! to its previous journalled colour. Such a paint was never acknowledged.)
//! A snapshot pass therefore:
//! 1. *seals* the current segment (its records written and fsynced, a new segment opened);
//! 2. asks every tile for its pixels: each tile has the sealed paints in its inbox or its buffer
//!    when the request arrives, and takes its inbox before answering, so the pixels include them;
//! 3. writes the dirty tiles durably;
//! 4. deletes the sealed segments, oldest first, each deletion made durable before the next, so
//!    a segment never outlives a newer one (replaying an old segment after a newer one is gone
//!    would repaint a pixel with an overwritten colour).
//!
//! At start, [`super::BoardStore::recover_journal`] replays whatever segments exist onto the
//! stored tiles, writes the tiles it touched, then deletes the segments. A crash during recovery
//! only repeats it. A batch cut off at the end of the newest segment is what a crash during an
//! append leaves: it was never fsynced, so never acknowledged, and is dropped with a warning.
//! Anything else that fails validation stops startup, naming the file and the byte.
//!
//! Tile versions count paints, so a replayed paint that the snapshot already held is counted
//! twice: versions after a crash may jump, but never go back.

pub mod format;
mod schedule;
mod writer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub use format::Record;
pub use schedule::CommitSchedule;
pub use writer::{Journal, JournalFailed, Ticket};

use super::StorageError;
use super::atomic::{create_dir_durably, replace_file_durably, sync_dir};
use super::layout::list_dir;
use crate::geometry::BoardGeometry;

pub const JOURNAL_DIR: &str = "journal";
const SEGMENT_SUFFIX: &str = ".log";

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

/// The segments in `dir`, oldest first. No directory is no segments. Leftover `.tmp` files of
/// an interrupted segment creation are removed; other files are left alone.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut segments = Vec::new();
    for entry in list_dir(dir)? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(super::atomic::TMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
            continue;
        }
        let id = name
            .strip_suffix(SEGMENT_SUFFIX)
            .filter(|digits| digits.len() == 20)
            .and_then(|digits| digits.parse::<u64>().ok());
        match id {
            Some(id) => segments.push((id, entry.path())),
            None => {
                tracing::warn!(path = %entry.path().display(), "unexpected file in the journal directory; ignored")
            }
        }
    }
    segments.sort();
    Ok(segments)
}

/// Creates segment `id` holding only its header, durably, and opens it for appending.
fn create_segment(dir: &Path, id: u64, geometry: BoardGeometry) -> Result<File, StorageError> {
    create_dir_durably(dir)?;
    let path = segment_path(dir, id);
    replace_file_durably(&path, &format::encode_header(geometry))?;
    File::options()
        .append(true)
        .open(&path)
        .map_err(|source| StorageError::Io {
            path,
            action: "open for appending",
            source,
        })
}

/// Deletes the segments numbered `..=through`, oldest first, each deletion durable before the
/// next (see the module docs for why the order matters).
pub fn delete_segments(dir: &Path, through: u64) -> Result<usize, StorageError> {
    let mut deleted = 0;
    for (id, path) in list_segments(dir)? {
        if id > through {
            break;
        }
        fs::remove_file(&path).map_err(|source| StorageError::Io {
            path: path.clone(),
            action: "delete",
            source,
        })?;
        sync_dir(dir)?;
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests;

//! The running journal of one board: paints are appended to a buffer in memory, and one thread
//! writes and fsyncs whatever has accumulated (group commit, once per tick: see
//! [`CommitSchedule`]), then publishes how far the journal is durable. Callers acknowledge a
//! paint once its ticket is durable.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::{oneshot, watch};

use super::format::{self, MAX_BATCH_RECORDS, RECORD_LEN, Record};
use super::schedule::CommitSchedule;
use super::{create_segment, delete_segments, list_segments};
use crate::geometry::BoardGeometry;
use crate::storage::StorageError;

/// Position of one record in the journal: the number of records appended up to and including it.
/// Tickets start at 1 and grow by one per record, so `durable >= ticket` says it is on disk.
pub type Ticket = u64;

/// The journal could not write or fsync: durability can no longer be promised, so the board
/// takes no more paints until the server is restarted (which replays what is on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the paint journal failed to write; see the server log")]
pub struct JournalFailed;

/// How far the journal is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Durable {
    through: Ticket,
    failed: bool,
}

impl Durable {
    /// Whether `ticket` is on disk; `Err` if it never will be.
    fn covers(self, ticket: Ticket) -> Result<bool, JournalFailed> {
        if self.through >= ticket {
            Ok(true)
        } else if self.failed {
            Err(JournalFailed)
        } else {
            Ok(false)
        }
    }
}

struct Pending {
    /// Encoded records not yet handed to the writer.
    records: Vec<u8>,
    /// Tickets handed out so far.
    issued: Ticket,
    /// A snapshot pass waiting for the current segment to be sealed.
    seal: Option<oneshot::Sender<Result<u64, StorageError>>>,
    closed: bool,
    failed: bool,
    /// The writer waits for records: the next append wakes it. While it waits for its commit
    /// point instead, appends leave it alone (one wake-up per commit, not one per paint).
    writer_idle: bool,
}

pub struct Journal {
    dir: PathBuf,
    pending: Mutex<Pending>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

impl Journal {
    /// Starts a new segment after any existing ones (recovery has replayed and removed them
    /// before this runs) and the thread that writes it, committing on `schedule`.
    pub fn open(
        dir: &Path,
        geometry: BoardGeometry,
        schedule: CommitSchedule,
    ) -> Result<Arc<Self>, StorageError> {
        let next = list_segments(dir)?.last().map_or(1, |(id, _)| id + 1);
        let file = create_segment(dir, next, geometry)?;
        let journal = Arc::new(Self {
            dir: dir.to_owned(),
            pending: Mutex::new(Pending {
                records: Vec::new(),
                issued: 0,
                seal: None,
                closed: false,
                failed: false,
                writer_idle: false,
            }),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable {
                through: 0,
                failed: false,
            }),
        });
        let writer = Writer {
            journal: Arc::clone(&journal),
            geometry,
            schedule,
            file,
            segment: next,
            segment_has_records: false,
        };
        let failing = Arc::clone(&journal);
        std::thread::Builder::new()
            .name("tessera-journal".into())
            .spawn(move || {
                // A panic is a bug, but must not leave paints and snapshot passes waiting.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run())).is_err() {
                    tracing::error!("paint journal writer panicked: the board refuses paints until the server restarts");
                    failing.mark_failed();
                }
            })
            .map_err(|source| StorageError::Io {
                path: dir.to_owned(),
                action: "start the journal thread for",
                source,
            })?;
        Ok(journal)
    }

    /// Appends `record` if `queue` (which hands the paint to its tile) succeeds, both under one
    /// lock: that is what keeps the journal in the order tiles apply paints. `Ok(None)` when
    /// `queue` refused; the paint is then neither applied nor journalled.
    pub fn append(
        &self,
        record: Record,
        queue: impl FnOnce() -> bool,
    ) -> Result<Option<Ticket>, JournalFailed> {
        let mut pending = self.pending.lock();
        if pending.failed || pending.closed {
            return Err(JournalFailed);
        }
        if !queue() {
            return Ok(None);
        }
        record.encode_into(&mut pending.records);
        pending.issued += 1;
        let ticket = pending.issued;
        let wake = std::mem::take(&mut pending.writer_idle);
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
        Ok(Some(ticket))
    }

    /// Whether the record of `ticket` is on disk; `Err` if it never will be.
    pub fn is_durable(&self, ticket: Ticket) -> Result<bool, JournalFailed> {
        self.durable.borrow().covers(ticket)
    }

    /// Waits until the record of `ticket` is on disk.
    pub async fn wait_durable(&self, ticket: Ticket) -> Result<(), JournalFailed> {
        let mut durable = self.durable.subscribe();
        let reached = durable
            .wait_for(|d| d.covers(ticket) != Ok(false))
            .await
            .map_err(|_| JournalFailed)?;
        reached.covers(ticket).map(drop)
    }

    /// Writes and fsyncs everything appended so far, starts a new segment if the current one
    /// holds records, and returns the newest segment that is now sealed: every paint appended
    /// before this call is in a segment at or below it. One caller at a time (the snapshot
    /// passes are serialised).
    pub async fn seal(&self) -> Result<u64, StorageError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock();
            if pending.failed || pending.closed {
                return Err(self.failed_error());
            }
            debug_assert!(pending.seal.is_none(), "snapshot passes are serialised");
            pending.seal = Some(tx);
        }
        self.wake.notify_one();
        rx.await.unwrap_or_else(|_| Err(self.failed_error()))
    }

    /// Deletes the sealed segments up to `through`. Blocking IO.
    pub fn delete_through(&self, through: u64) -> Result<usize, StorageError> {
        delete_segments(&self.dir, through)
    }

    /// Later appends fail; the writer thread writes what is buffered, then ends (not awaited:
    /// what it has not written by the time the process exits was never acknowledged).
    pub fn close(&self) {
        self.pending.lock().closed = true;
        self.wake.notify_one();
    }

    /// No write will succeed any more: answer every waiter. A seal requested while the writer
    /// was failing would otherwise wait forever (and with it the snapshot pass and shutdown).
    fn mark_failed(&self) {
        let seal = {
            let mut pending = self.pending.lock();
            pending.failed = true;
            pending.seal.take()
        };
        if let Some(seal) = seal {
            let _ = seal.send(Err(self.failed_error()));
        }
        self.durable.send_modify(|d| d.failed = true);
    }

    fn failed_error(&self) -> StorageError {
        StorageError::Io {
            path: self.dir.clone(),
            action: "append to the journal in",
            source: std::io::Error::other(JournalFailed),
        }
    }
}

struct Writer {
    journal: Arc<Journal>,
    geometry: BoardGeometry,
    schedule: CommitSchedule,
    file: File,
    segment: u64,
    segment_has_records: bool,
}

impl Writer {
    fn run(mut self) {
        let mut records = Vec::new();
        let mut framed = Vec::new();
        let mut last_commit = None;
        loop {
            let (issued, seal, closed) = {
                let mut pending = self.journal.pending.lock();
                while pending.records.is_empty() && pending.seal.is_none() && !pending.closed {
                    pending.writer_idle = true;
                    self.journal.wake.wait(&mut pending);
                }
                pending.writer_idle = false;
                // Let the batch gather until the commit point (see `CommitSchedule`); a seal or
                // a close does not wait.
                let at = self
                    .schedule
                    .next_commit(std::time::Instant::now(), last_commit);
                while pending.seal.is_none()
                    && !pending.closed
                    && !self.journal.wake.wait_until(&mut pending, at).timed_out()
                {}
                // The two buffers trade places, so neither reallocates once grown.
                std::mem::swap(&mut pending.records, &mut records);
                (pending.issued, pending.seal.take(), pending.closed)
            };
            if !records.is_empty() {
                last_commit = Some(std::time::Instant::now());
                if let Err(e) = self.write(&records, &mut framed) {
                    self.fail(e, seal);
                    return;
                }
                records.clear();
                self.journal.durable.send_modify(|d| d.through = issued);
            }
            if let Some(seal) = seal {
                match self.rotate() {
                    Ok(sealed) => {
                        let _ = seal.send(Ok(sealed));
                    }
                    Err(e) => {
                        self.fail(e, Some(seal));
                        return;
                    }
                }
            }
            if closed {
                return;
            }
        }
    }

    fn write(&mut self, records: &[u8], framed: &mut Vec<u8>) -> Result<(), StorageError> {
        framed.clear();
        for batch in records.chunks(MAX_BATCH_RECORDS as usize * RECORD_LEN) {
            format::encode_batch(batch, framed);
        }
        let path = || super::segment_path(&self.journal.dir, self.segment);
        self.file
            .write_all(framed)
            .map_err(|source| StorageError::Io {
                path: path(),
                action: "append to",
                source,
            })?;
        // Data only: the file's size is metadata `fdatasync` covers, its times are not needed.
        self.file.sync_data().map_err(|source| StorageError::Io {
            path: path(),
            action: "fsync",
            source,
        })?;
        self.segment_has_records = true;
        Ok(())
    }

    /// Seals the current segment (already fsynced) by starting the next one, unless the current
    /// one is still empty: then everything before it is what is sealed.
    fn rotate(&mut self) -> Result<u64, StorageError> {
        if !self.segment_has_records {
            return Ok(self.segment - 1);
        }
        let next = self.segment + 1;
        self.file = create_segment(&self.journal.dir, next, self.geometry)?;
        self.segment = next;
        self.segment_has_records = false;
        Ok(next - 1)
    }

    fn fail(&self, error: StorageError, seal: Option<oneshot::Sender<Result<u64, StorageError>>>) {
        tracing::error!(error = %error, "paint journal failed: the board refuses paints until the server restarts");
        if let Some(seal) = seal {
            let _ = seal.send(Err(error));
        }
        self.journal.mark_failed();
    }
}

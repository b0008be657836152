//! What a session owes its client besides tile frames: replies (errors) and paint results. The
//! actor fills it; the frame writer empties it on the write boundary, into the front of the
//! tick's frame, so a painter still gets one frame a tick.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::acks::PaintAcks;
use crate::canvas::PaintTicket;
use crate::protocol::{self, PaintResult, ServerMessage};
use crate::storage::journal::JournalFailed;

/// Whether an accepted paint is on disk (`Canvas::is_durable`).
pub type IsDurable = dyn Fn(PaintTicket) -> Result<bool, JournalFailed> + Send + Sync;

pub struct Outbox {
    /// Whether an accepted paint's ticket is on disk yet.
    is_durable: Box<IsDurable>,
    /// Encoded replies, and paint results that were due.
    replies: BytesMut,
    /// Paint results not yet due: accepted paints wait for the journal to have them on disk.
    acks: PaintAcks,
    /// Since when something has waited that the writer has not looked at: a writer that has not
    /// looked for seconds is not being polled (the client stopped reading).
    unseen_since: Option<Instant>,
    /// The session is closing or gone: nothing more is handed out (the close sent what was due
    /// itself), and the frame writer ends.
    closed: bool,
}

impl Outbox {
    pub fn new(is_durable: Box<IsDurable>) -> Self {
        Self {
            is_durable,
            replies: BytesMut::new(),
            acks: PaintAcks::default(),
            unseen_since: None,
            closed: false,
        }
    }

    pub fn reply(&mut self, msg: &ServerMessage) {
        self.added();
        protocol::encode_server_into_bytes(msg, &mut self.replies);
    }

    /// An accepted paint, answered once the journal has it.
    pub fn accepted(&mut self, seq: u32, ticket: PaintTicket) {
        self.added();
        self.acks.accepted(seq, ticket);
    }

    fn added(&mut self) {
        if self.unseen_since.is_none() {
            self.unseen_since = Some(Instant::now());
        }
    }

    /// How long something has waited without the writer looking (`None`: it looked since).
    pub fn unseen_for(&self, now: Instant) -> Option<Duration> {
        Some(now.saturating_duration_since(self.unseen_since?))
    }

    /// Closes the outbox and returns what was due, for the closing session to send itself:
    /// nothing more is handed out, since a result taken later by the writer could overtake
    /// these. The writer ends at its next look. Empty once closed.
    pub fn close(&mut self) -> Bytes {
        let due = self.take_due().map(|(due, _)| due).unwrap_or_default();
        self.closed = true;
        due
    }

    /// A refused paint, answered after the results owed ahead of it.
    pub fn refused(&mut self, result: PaintResult) {
        if let Some(result) = self.acks.decided(result) {
            self.reply(&ServerMessage::PaintResult(result));
        }
    }

    /// The replies and every paint result that is due, encoded back to back (empty if none),
    /// and whether results are still owed (then the writer looks again next boundary); `None`
    /// once closed.
    pub fn take_due(&mut self) -> Option<(Bytes, bool)> {
        self.unseen_since = None;
        if self.closed {
            return None;
        }
        if !self.acks.is_empty() {
            let replies = &mut self.replies;
            self.acks.release(&*self.is_durable, |result| {
                protocol::encode_server_into_bytes(&ServerMessage::PaintResult(result), replies)
            });
        }
        let due = if self.replies.is_empty() {
            Bytes::new()
        } else {
            // Split off, not taken: the buffer keeps its allocation for the next tick's replies
            // once the frame that carries these is written.
            self.replies.split().freeze()
        };
        Some((due, !self.acks.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::protocol::{ErrorCode, PaintOutcome, RejectReason};

    fn ticket(ticket: u64) -> PaintTicket {
        PaintTicket { board: 0, ticket }
    }

    /// An outbox whose paints are on disk once `durable` says so.
    fn outbox() -> (Outbox, Arc<AtomicBool>) {
        let durable = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&durable);
        let outbox = Outbox::new(Box::new(move |_| Ok(flag.load(Ordering::SeqCst))));
        (outbox, durable)
    }

    fn results(bytes: &[u8]) -> Vec<PaintResult> {
        protocol::decode_server_frame(bytes)
            .expect("server messages")
            .into_iter()
            .map(|msg| match msg {
                ServerMessage::PaintResult(r) => r,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn results_are_due_in_order_once_durable_and_replies_come_along() {
        let (mut outbox, durable) = outbox();
        outbox.accepted(1, ticket(10));
        outbox.refused(PaintResult {
            seq: 2,
            outcome: PaintOutcome::Rejected {
                reason: RejectReason::Cooldown,
                retry_after_ms: 5,
            },
        });
        let (due, owed) = outbox.take_due().expect("open");
        assert!(
            due.is_empty() && owed,
            "the refusal waits behind the accepted paint"
        );
        durable.store(true, Ordering::SeqCst);
        let (due, owed) = outbox.take_due().expect("open");
        assert!(!owed);
        let seqs: Vec<u32> = results(&due).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        outbox.reply(&ServerMessage::Error {
            code: ErrorCode::Malformed,
            message: "x".into(),
        });
        let (due, owed) = outbox.take_due().expect("open");
        assert!(!due.is_empty() && !owed);
        assert!(outbox.take_due().expect("open").0.is_empty(), "taken once");
    }

    #[test]
    fn what_waits_is_timed_until_the_writer_looks_and_nothing_is_handed_out_after_close() {
        let (mut outbox, durable) = outbox();
        let later = Instant::now() + Duration::from_secs(9);
        assert_eq!(outbox.unseen_for(later), None);
        outbox.accepted(1, ticket(10));
        outbox.accepted(2, ticket(11));
        assert!(outbox.unseen_for(later).unwrap() >= Duration::from_secs(8));
        assert!(outbox.take_due().expect("open").1, "still owed");
        assert_eq!(outbox.unseen_for(later), None, "the writer looked");
        durable.store(true, Ordering::SeqCst);
        let at_close = results(&outbox.close());
        assert_eq!(
            at_close.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2],
            "the close takes what is due"
        );
        outbox.accepted(3, ticket(12));
        assert_eq!(outbox.take_due(), None);
        assert!(outbox.close().is_empty(), "nothing after close");
    }
}

//! The paint results a session owes its client, in the order the paints arrived: an accepted
//! paint is answered once the journal has it on disk, and a refusal behind it waits its turn, so
//! a client sees its results in the order it sent its paints.

use std::collections::VecDeque;

use crate::canvas::PaintTicket;
use crate::protocol::{PaintOutcome, PaintResult, RejectReason};
use crate::storage::journal::JournalFailed;

#[derive(Debug, Default)]
pub struct PaintAcks {
    owed: VecDeque<Owed>,
}

#[derive(Debug)]
enum Owed {
    /// Accepted once `ticket` is durable.
    Accepted { seq: u32, ticket: PaintTicket },
    /// Already decided; waits only for the results ahead of it.
    Decided(PaintResult),
}

impl PaintAcks {
    pub fn is_empty(&self) -> bool {
        self.owed.is_empty()
    }

    pub fn accepted(&mut self, seq: u32, ticket: PaintTicket) {
        self.owed.push_back(Owed::Accepted { seq, ticket });
    }

    /// A refusal: returned at once if nothing is owed ahead of it, else queued behind.
    pub fn decided(&mut self, result: PaintResult) -> Option<PaintResult> {
        if self.owed.is_empty() {
            return Some(result);
        }
        self.owed.push_back(Owed::Decided(result));
        None
    }

    /// Hands out, in order, every result that is due: accepted paints whose ticket is durable
    /// (or `Unavailable` if the journal failed and it never will be), and the refusals behind
    /// them. Stops at the first paint still on its way to disk.
    pub fn release(
        &mut self,
        is_durable: impl Fn(PaintTicket) -> Result<bool, JournalFailed>,
        mut emit: impl FnMut(PaintResult),
    ) {
        while let Some(front) = self.owed.front() {
            let result = match *front {
                Owed::Decided(result) => result,
                Owed::Accepted { seq, ticket } => match is_durable(ticket) {
                    Ok(true) => PaintResult {
                        seq,
                        outcome: PaintOutcome::Accepted,
                    },
                    Ok(false) => return,
                    // Applied in memory but never durable: the client may retry.
                    Err(JournalFailed) => PaintResult {
                        seq,
                        outcome: PaintOutcome::Rejected {
                            reason: RejectReason::Unavailable,
                            retry_after_ms: 0,
                        },
                    },
                },
            };
            self.owed.pop_front();
            emit(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(ticket: u64) -> PaintTicket {
        PaintTicket { board: 0, ticket }
    }

    fn refused(seq: u32) -> PaintResult {
        PaintResult {
            seq,
            outcome: PaintOutcome::Rejected {
                reason: RejectReason::Cooldown,
                retry_after_ms: 5,
            },
        }
    }

    fn released(acks: &mut PaintAcks, durable: u64) -> Vec<u32> {
        let mut out = Vec::new();
        acks.release(|t| Ok(t.ticket <= durable), |r| out.push(r.seq));
        out
    }

    #[test]
    fn results_come_out_in_arrival_order_once_durable() {
        let mut acks = PaintAcks::default();
        assert_eq!(
            acks.decided(refused(1)),
            Some(refused(1)),
            "nothing owed: at once"
        );
        acks.accepted(2, ticket(10));
        assert_eq!(acks.decided(refused(3)), None, "behind an accepted paint");
        acks.accepted(4, ticket(11));
        assert_eq!(released(&mut acks, 9), Vec::<u32>::new());
        assert_eq!(released(&mut acks, 10), [2, 3]);
        assert!(!acks.is_empty());
        assert_eq!(released(&mut acks, 11), [4]);
        assert!(acks.is_empty());
    }

    #[test]
    fn a_failed_journal_answers_unavailable() {
        let mut acks = PaintAcks::default();
        acks.accepted(7, ticket(1));
        let mut out = Vec::new();
        acks.release(|_| Err(JournalFailed), |r| out.push(r));
        assert_eq!(
            out,
            [PaintResult {
                seq: 7,
                outcome: PaintOutcome::Rejected {
                    reason: RejectReason::Unavailable,
                    retry_after_ms: 0
                }
            }]
        );
    }
}

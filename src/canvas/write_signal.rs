//! One reader's wake-up on the write boundary: enlisted with the [`WriteSchedule`] by the first
//! request after a wake, woken once when the boundary comes.
//!
//! A session has two readers: its frame writer (the websocket's response body, woken through its
//! `FrameQueue`, which also sends the actor's replies and paint results) and its actor (woken
//! only for a resync or a queue that stopped draining).

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use super::write_schedule::WriteSchedule;

#[derive(Debug)]
pub struct WriteSignal {
    schedule: Arc<WriteSchedule>,
    /// Enlisted for the next boundary and not woken since: later requests need not enlist again.
    enlisted: AtomicBool,
    /// Woken and not yet seen by the reader: the permit that makes a wake before the reader
    /// waits count.
    woken: AtomicBool,
    waker: AtomicWaker,
}

impl WriteSignal {
    pub fn new(schedule: Arc<WriteSchedule>) -> Arc<Self> {
        Arc::new(Self {
            schedule,
            enlisted: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        })
    }

    /// Wake the reader on the next write boundary.
    pub fn request(self: &Arc<Self>) {
        // The plain load first: every push of a tick after the first finds the flag set, and a
        // read does not take the cache line from the other cores the way a swap does.
        if self.enlisted.load(Ordering::Acquire) || self.enlisted.swap(true, Ordering::AcqRel) {
            return;
        }
        self.schedule.enlist(Arc::clone(self));
    }

    /// Wakes the reader now; a reader not waiting finds the wake on its next poll. Called
    /// outside the schedule (a session stopping, a resync), it may leave the signal on the
    /// schedule's list as well as enlisted anew by a later request: the reader then gets one
    /// spare wake at the boundary, which finds nothing to do.
    pub fn wake(&self) {
        // Cleared first: a request from here on enlists the reader for the next boundary.
        self.enlisted.store(false, Ordering::Release);
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Ready once per wake.
    pub fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.swap(false, Ordering::AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Checked again after registering: a wake between the first check and the register
        // found no waker to wake.
        if self.woken.swap(false, Ordering::AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Resolves at the next wake (or at once if one came since the last).
    pub async fn woken(&self) {
        poll_fn(|cx| self.poll_woken(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_wake_before_the_wait_is_kept_and_counts_once() {
        let signal = WriteSignal::new(Arc::new(WriteSchedule::default()));
        signal.wake();
        signal.wake();
        assert!(
            signal.woken().now_or_never().is_some(),
            "the permit is kept"
        );
        assert!(
            signal.woken().now_or_never().is_none(),
            "two wakes before a wait are one"
        );
    }

    #[tokio::test]
    async fn a_request_enlists_once_per_boundary() {
        let schedule = Arc::new(WriteSchedule::default());
        let signal = WriteSignal::new(Arc::clone(&schedule));
        signal.request();
        signal.request();
        let waiting = tokio::spawn({
            let signal = Arc::clone(&signal);
            async move { signal.woken().await }
        });
        tokio::task::yield_now().await;
        assert_eq!(schedule.wake_enlisted(), 1);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("a waiting reader is woken")
            .expect("no panic");
        assert_eq!(schedule.wake_enlisted(), 0, "woken once, then forgotten");
        signal.request();
        assert_eq!(
            schedule.wake_enlisted(),
            1,
            "a request after the wake enlists anew"
        );
    }
}

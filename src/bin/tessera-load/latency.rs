//! Latency histograms: one set per thread, registered once and merged at the end, so recording
//! takes only this thread's own (uncontended) lock, never a lock shared by every viewer.

use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

/// Histogram range in microseconds: 1 µs to 60 s, the longest latency a bounded run can see.
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 60_000_000;
/// Three significant digits: percentiles within 0.1 %, in a few tens of KiB per histogram.
const SIGNIFICANT_DIGITS: u8 = 3;

/// What one thread recorded, all in microseconds.
#[derive(Debug, Clone)]
pub struct Histograms {
    /// Paint sent -> update received by a stably subscribed viewer (measured paints).
    pub delivery: Histogram<u64>,
    /// Paint sent -> its `PaintResult` received by the painter (measured paints).
    pub ack: Histogram<u64>,
    /// How late each measured paint was sent after its due time.
    pub send_lag: Histogram<u64>,
}

impl Histograms {
    fn new() -> Self {
        Self {
            delivery: histogram(),
            ack: histogram(),
            send_lag: histogram(),
        }
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("the constant bounds are valid")
}

/// Every thread's histograms, for the final merge. Locked once per thread and at the end.
static REGISTRY: Mutex<Vec<Arc<parking_lot::Mutex<Histograms>>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: Arc<parking_lot::Mutex<Histograms>> = {
        let mine = Arc::new(parking_lot::Mutex::new(Histograms::new()));
        REGISTRY
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::clone(&mine));
        mine
    };
}

/// Runs `f` on this thread's histograms. Keep `f` short and free of `.await`.
pub fn record<R>(f: impl FnOnce(&mut Histograms) -> R) -> R {
    LOCAL.with(|local| f(&mut local.lock()))
}

/// All threads' histograms added together.
pub fn merged() -> Histograms {
    let mut all = Histograms::new();
    let registry = REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for h in registry.iter() {
        let h = h.lock();
        // Same bounds everywhere, so adding cannot go out of range.
        for (into, from) in [
            (&mut all.delivery, &h.delivery),
            (&mut all.ack, &h.ack),
            (&mut all.send_lag, &h.send_lag),
        ] {
            into.add(from).expect("histograms share their bounds");
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_of_several_threads_are_merged() {
        let before = merged().delivery.len();
        let threads: Vec<_> = (0..3)
            .map(|i| std::thread::spawn(move || record(|h| h.delivery.saturating_record(100 + i))))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        record(|h| h.delivery.saturating_record(120_000_000));
        let all = merged().delivery;
        assert!(all.len() >= before + 4);
        assert!(all.max() >= HIGHEST_US, "out-of-range values saturate");
    }
}

//! The run's clock and painting schedule: one monotonic origin every task measures from, and the
//! timeline (when paint 0 is due, the measured window) they all agree on.

use std::time::{Duration, Instant};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Nanoseconds since the start of the run; `u64` nanoseconds last 584 years.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    origin: Instant,
}

impl RunClock {
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// The instant `ns` after the origin, for tokio timers.
    pub fn at(&self, ns: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + Duration::from_nanos(ns))
    }
}

/// When paints are due. Paint `seq` is due at `start + seq / rate`; paints `warm..total` are
/// measured, so the window is exactly the span in which they are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub start: u64,
    pub rate: u64,
    pub window_start: u64,
    pub window_end: u64,
}

impl Timeline {
    /// A timeline painting `total` paints at `rate` per second from `start`, measuring `warm..`.
    pub fn new(start: u64, rate: u64, warm: u64, total: u64) -> Self {
        let mut t = Self {
            start,
            rate: rate.max(1),
            window_start: 0,
            window_end: 0,
        };
        t.window_start = t.due(warm);
        t.window_end = t.due(total);
        t
    }

    pub fn due(&self, seq: u64) -> u64 {
        self.start + (u128::from(seq) * u128::from(NANOS_PER_SEC) / u128::from(self.rate)) as u64
    }

    pub fn in_window(&self, ns: u64) -> bool {
        (self.window_start..self.window_end).contains(&ns)
    }

    pub fn window_secs(&self) -> f64 {
        (self.window_end - self.window_start) as f64 / NANOS_PER_SEC as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_where_measured_paints_are_due() {
        let t = Timeline::new(1_000, 500, 500, 1_500);
        assert_eq!(t.due(0), 1_000);
        assert_eq!(t.due(1), 1_000 + 2_000_000);
        assert_eq!(t.window_start, 1_000 + NANOS_PER_SEC);
        assert_eq!(t.window_end, 1_000 + 3 * NANOS_PER_SEC);
        assert!((t.window_secs() - 2.0).abs() < 1e-12);
        assert!(t.in_window(t.due(500)) && !t.in_window(t.due(1_500)) && !t.in_window(t.due(499)));
    }
}

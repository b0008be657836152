//! The shared tick clock: tiles flush and sessions write on the same global tick boundaries.

use std::time::Duration;

use tokio::time::Instant;

use crate::storage::journal::CommitSchedule;

/// Tick boundaries shared by every tile and session of the process.
///
/// Tiles flush at `origin + k * period`; sessions write at `origin + k * period + session_lag`
/// at the latest. Aligning both to one clock is what gives each viewer one websocket frame per
/// tick however many tiles it views: every tile's batch for tick `k` is queued before the
/// session's write for tick `k`, which collects them all into one frame (several of at most
/// 8 KiB if they are more). Usually the write comes sooner: when the last tile due at tick `k`
/// has flushed, the `TickBarrier` wakes the sessions at once, and the lag is only the fallback.
#[derive(Debug, Clone, Copy)]
pub struct TickClock {
    origin: Instant,
    period: Duration,
    session_lag: Duration,
}

impl TickClock {
    pub fn new(period: Duration) -> Self {
        // The fallback for ticks whose end the barrier does not report: a quarter tick lets the
        // tile actors on every arbiter finish their fan-out before sessions write; 1 ms is the
        // floor so a 1 ms tick still has a gap. A batch that misses it goes out with the next
        // tick, never lost.
        let session_lag = (period / 4).max(Duration::from_millis(1)).min(period);
        Self {
            origin: Instant::now(),
            period,
            session_lag,
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// The journal commits just before each tile-flush boundary, so a tick's paints are usually
    /// durable by the time the sessions write the tick's acknowledgements.
    pub fn commit_schedule(&self) -> CommitSchedule {
        CommitSchedule::before_ticks(self.origin.into_std(), self.period)
    }

    /// The first tile-flush boundary strictly after `now`, and its tick index (what the
    /// `TickBarrier` counts by).
    pub fn next_tile_tick(&self, now: Instant) -> (u64, Instant) {
        self.next_boundary(now, Duration::ZERO)
    }

    /// The first session-write boundary strictly after `now`: the latest a tick's frames wait.
    /// The whole-board feed's fallback tick too (it wakes its members itself after forwarding).
    pub fn next_session_write(&self, now: Instant) -> Instant {
        self.next_boundary(now, self.session_lag).1
    }

    fn next_boundary(&self, now: Instant, offset: Duration) -> (u64, Instant) {
        let base = self.origin + offset;
        if now < base {
            return (0, base);
        }
        let elapsed = now.saturating_duration_since(base).as_nanos();
        let period = self.period.as_nanos().max(1);
        let ticks = elapsed / period + 1;
        // ticks * period fits u64 nanoseconds for ~584 years of uptime.
        let at = base + Duration::from_nanos((ticks * period) as u64);
        (ticks as u64, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_strictly_later_and_aligned() {
        let clock = TickClock::new(Duration::from_millis(20));
        let t0 = clock.origin;
        assert_eq!(
            clock.next_tile_tick(t0),
            (1, t0 + Duration::from_millis(20))
        );
        assert_eq!(
            clock.next_tile_tick(t0 + Duration::from_millis(21)),
            (2, t0 + Duration::from_millis(40))
        );
        assert_eq!(clock.next_session_write(t0), t0 + Duration::from_millis(5));
        assert_eq!(
            clock.next_session_write(t0 + Duration::from_millis(5)),
            t0 + Duration::from_millis(25)
        );
    }
}

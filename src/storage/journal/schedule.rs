//! When the journal's writer commits (writes and `fdatasync`s what accumulated).
//!
//! Sessions send acknowledgements only at their write boundary, once a tick, so a paint made
//! durable 2 ms after it arrived and one made durable just before that boundary are
//! acknowledged in the same frame. Committing once per tick, just before the boundary, keeps
//! that for every paint that arrives before the commit starts, with one `fdatasync` per tick
//! instead of up to 500 a second. A sync is a filesystem journal commit: 8% of the server's
//! samples at 64,000 paints/s when it ran every 2 ms. The price is for paints that arrive
//! during the last millisecond of a tick, which are acknowledged a tick later.

use std::time::{Duration, Instant};

/// Shortest time from the start of one scheduled commit to the start of the next, whatever the
/// schedule: a 1 ms tick must not mean 1,000 syncs a second. (A seal or a close commits at once.)
const MIN_COMMIT_INTERVAL: Duration = Duration::from_millis(2);

/// How long before a tick boundary the commit starts, at most. The sessions answer once the
/// tiles have flushed, a little after the boundary; the write and the sync (0.6 ms median,
/// 1.7 ms p90 at 64,000 paints/s on the reference machine) usually fit in between. A batch whose
/// sync ends later is acknowledged a tick later, and so is a paint that arrives after the commit
/// started. Longer leads made acknowledgements slower in the paint-intake benchmark, whose
/// painters send most paints late in the tick (median 15.1-18.9 ms at 2 ms, 19.0 at 5 ms,
/// against 10.8-15.4 committing every 2 ms; BENCHMARKS.md, "journal commits once per tick").
/// Single runs did not separate 1 ms from no lead (13.4-19.3 against 17.6-17.7); 1 ms keeps
/// a median sync ahead of the boundary where the tiles flush at once (a light load).
const MAX_LEAD: Duration = Duration::from_millis(1);

/// Commit points: `origin + k * period - lead` for every k, or as soon as records arrive.
/// Either way at least [`MIN_COMMIT_INTERVAL`] apart.
#[derive(Debug, Clone, Copy)]
pub enum CommitSchedule {
    /// As soon as records arrive: for a journal whose acknowledgements are not tied to a tick
    /// (tests, tools).
    Asap,
    /// At `first + k * period` for every k (of either sign).
    BeforeTicks { first: Instant, period: Duration },
}

impl CommitSchedule {
    /// Commits just before each boundary `origin + k * period`: `min(1 ms, period / 2)` before.
    pub fn before_ticks(origin: Instant, period: Duration) -> Self {
        let lead = MAX_LEAD.min(period / 2);
        Self::BeforeTicks {
            first: origin.checked_sub(lead).unwrap_or(origin),
            period,
        }
    }

    /// When to commit records that are waiting at `now`, the previous commit having started at
    /// `last` (if any): the first commit point at or after both `now` and
    /// `last + MIN_COMMIT_INTERVAL`.
    pub fn next_commit(&self, now: Instant, last: Option<Instant>) -> Instant {
        let earliest = last.map_or(now, |last| now.max(last + MIN_COMMIT_INTERVAL));
        let Self::BeforeTicks { first, period } = *self else {
            return earliest;
        };
        // The products fit u64 nanoseconds for ~584 years either side of `first`.
        let period = period.as_nanos().max(1);
        match earliest.checked_duration_since(first) {
            Some(after) => {
                let k = after.as_nanos().div_ceil(period);
                first + Duration::from_nanos((k * period) as u64)
            }
            None => {
                // `earliest` is before `first` (an origin in the future): step back from it.
                let k = first.duration_since(earliest).as_nanos() / period;
                first - Duration::from_nanos((k * period) as u64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn commits_a_ms_before_each_tick() {
        let t0 = Instant::now();
        let s = CommitSchedule::before_ticks(t0, 20 * MS);
        assert_eq!(s.next_commit(t0 + MS, None), t0 + 19 * MS);
        assert_eq!(s.next_commit(t0 + 19 * MS, None), t0 + 19 * MS);
        assert_eq!(s.next_commit(t0 + 19 * MS + MS / 2, None), t0 + 39 * MS);
    }

    #[test]
    fn a_point_within_two_ms_of_the_last_commit_is_skipped() {
        let t0 = Instant::now();
        // Points every 3 ms, 1 ms before each boundary: 2, 5, 8 ms...
        let s = CommitSchedule::before_ticks(t0, 3 * MS);
        assert_eq!(s.next_commit(t0 + 4 * MS, None), t0 + 5 * MS);
        // The last commit at 3.5 ms: 5 ms is too close, 8 ms is the next point.
        assert_eq!(
            s.next_commit(t0 + 4 * MS, Some(t0 + 3 * MS + MS / 2)),
            t0 + 8 * MS
        );
    }

    #[test]
    fn an_origin_in_the_future_still_gives_the_next_point() {
        let now = Instant::now();
        let s = CommitSchedule::before_ticks(now + 50 * MS, 20 * MS);
        // Points at 49 - 20k ms from now: 9 ms is the first one at or after now.
        assert_eq!(s.next_commit(now, None), now + 9 * MS);
        assert_eq!(s.next_commit(now + 9 * MS, None), now + 9 * MS);
    }

    #[test]
    fn short_ticks_keep_commits_two_ms_apart() {
        let t0 = Instant::now();
        let s = CommitSchedule::before_ticks(t0, MS);
        // Lead is half the tick: points at 0.5, 1.5, 2.5 ms...
        assert_eq!(
            s.next_commit(t0 + MS, Some(t0 + MS / 2)),
            t0 + 2 * MS + MS / 2
        );
        assert_eq!(s.next_commit(t0 + MS, None), t0 + MS + MS / 2);
    }

    #[test]
    fn asap_commits_at_once_but_two_ms_after_the_last() {
        let t0 = Instant::now();
        let s = CommitSchedule::Asap;
        assert_eq!(s.next_commit(t0 + 5 * MS, None), t0 + 5 * MS);
        assert_eq!(s.next_commit(t0 + 5 * MS, Some(t0 + 4 * MS)), t0 + 6 * MS);
        assert_eq!(s.next_commit(t0 + 7 * MS, Some(t0 + 4 * MS)), t0 + 7 * MS);
    }
}

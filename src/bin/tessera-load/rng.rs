//! A small deterministic random number generator (SplitMix64), so one `--seed` reproduces a run's
//! viewports, hot region and paint order exactly, without a dependency.

/// SplitMix64's increment, 2^64 divided by the golden ratio: consecutive states are spread over
/// the whole range, and any seed (0 included) gives a full-period sequence.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Independent random streams derived from one seed, one per purpose, so that adding a viewer
/// does not change the hot region or the paint plan.
pub mod stream {
    pub const PLAN: u64 = 1;
    pub const HOT_REGION: u64 = 2;
    /// Viewer `i` uses stream `VIEWERS + i`.
    pub const VIEWERS: u64 = 1_000;
}

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator for one purpose (see [`stream`]) of a run seeded with `seed`.
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut mixer = Rng(seed);
        let a = mixer.next_u64();
        let mut mixer = Rng(a ^ stream.wrapping_mul(GOLDEN_GAMMA));
        Rng(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0). The multiply-shift keeps the bias below n / 2^64.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::derive(7, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]), "same seed, same stream");
        assert_ne!(Rng::derive(7, 1).next_u64(), Rng::derive(7, 2).next_u64());
        assert_ne!(Rng::derive(7, 1).next_u64(), Rng::derive(8, 1).next_u64());
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::derive(1, 1);
        assert!((0..10_000).all(|_| r.below(7) < 7));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }
}

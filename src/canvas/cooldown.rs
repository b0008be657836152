//! Per-user, per-board cooldowns: how long a user must wait before painting again.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::identity::UserToken;

/// When each user may next paint on each board.
///
/// One mutex for the whole map: it is held only for one lookup-and-insert, far shorter than the
/// rest of a paint, and only when the board has a cooldown at all.
#[derive(Debug, Default)]
pub struct Cooldowns {
    next_allowed: Mutex<HashMap<(UserToken, u16), Instant>>,
}

impl Cooldowns {
    /// Takes the user's turn on `board`, or says how long until the next one.
    pub fn try_take(
        &self,
        user: &UserToken,
        board: u16,
        cooldown: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        if cooldown.is_zero() {
            return Ok(());
        }
        let mut map = self.next_allowed.lock();
        let key = (user.clone(), board);
        if let Some(&next) = map.get(&key)
            && next > now
        {
            return Err(next - now);
        }
        map.insert(key, now + cooldown);
        Ok(())
    }

    /// Gives the turn back when the paint could not be applied after all.
    pub fn refund(&self, user: &UserToken, board: u16) {
        self.next_allowed.lock().remove(&(user.clone(), board));
    }

    /// Forgets users whose cooldown has passed, so the map holds only users still waiting.
    pub fn prune(&self, now: Instant) {
        self.next_allowed.lock().retain(|_, next| *next > now);
    }

    pub fn len(&self) -> usize {
        self.next_allowed.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_paint_waits_for_the_cooldown() {
        let c = Cooldowns::default();
        let user = UserToken::generate();
        let t0 = Instant::now();
        let cd = Duration::from_secs(5);
        assert!(c.try_take(&user, 0, cd, t0).is_ok());
        assert_eq!(
            c.try_take(&user, 0, cd, t0 + Duration::from_secs(2)),
            Err(Duration::from_secs(3))
        );
        assert!(
            c.try_take(&user, 1, cd, t0).is_ok(),
            "boards are independent"
        );
        assert!(c.try_take(&user, 0, cd, t0 + cd).is_ok());
        c.prune(t0 + Duration::from_secs(100));
        assert!(c.is_empty());
    }

    #[test]
    fn zero_cooldown_stores_nothing() {
        let c = Cooldowns::default();
        let user = UserToken::generate();
        assert!(c.try_take(&user, 0, Duration::ZERO, Instant::now()).is_ok());
        assert!(c.is_empty());
    }
}

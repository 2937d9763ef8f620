//! Exponential backoff between failed inserts.

use std::time::Duration;

use tokio::time::Instant;

/// First wait after a failed insert.
pub(super) const RETRY_MIN: Duration = Duration::from_millis(250);

/// Exponential backoff between failed inserts.
#[derive(Debug)]
pub(super) struct Retry {
    /// When the next attempt may run; `None` when the last one succeeded.
    pub(super) at: Option<Instant>,
    wait: Duration,
    max: Duration,
}

impl Retry {
    pub(super) fn new(max: Duration) -> Retry {
        Retry {
            at: None,
            wait: RETRY_MIN,
            max: max.max(RETRY_MIN),
        }
    }

    pub(super) fn due(&self, now: Instant) -> bool {
        self.at.is_none_or(|at| at <= now)
    }

    /// Record a failure at `now`; returns the wait before the next attempt.
    pub(super) fn failed(&mut self, now: Instant) -> Duration {
        let wait = self.wait;
        self.at = Some(now + wait);
        self.wait = (self.wait * 2).min(self.max);
        wait
    }

    pub(super) fn succeeded(&mut self) {
        self.at = None;
        self.wait = RETRY_MIN;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let now = Instant::now();
        let mut retry = Retry::new(Duration::from_millis(1000));
        assert!(retry.due(now));
        let waits: Vec<u128> = (0..5).map(|_| retry.failed(now).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 1000, 1000]);
        assert!(!retry.due(now));
        assert!(retry.due(now + Duration::from_millis(1000)));
        retry.succeeded();
        assert!(retry.due(now));
        assert_eq!(retry.failed(now).as_millis(), 250);
    }
}

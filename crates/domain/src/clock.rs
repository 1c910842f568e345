//! Where services take the time from: the system's clock, or one a test moves by hand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current time in µs since the epoch. Services take it from here, never from the system
/// directly, so that what is due after days can be tested in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_micros(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
    }
}

/// A clock that stands still until it is moved: for tests and demonstrations.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn at(micros: i64) -> Self {
        Self { now: AtomicI64::new(micros) }
    }

    pub fn set(&self, micros: i64) {
        self.now.store(micros, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(i64::try_from(by.as_micros()).unwrap_or(i64::MAX), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now_micros(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_micros(), 2_001_000);
        clock.set(5);
        assert_eq!(clock.now_micros(), 5);
        assert!(SystemClock.now_micros() > 1_700_000_000_000_000);
    }
}

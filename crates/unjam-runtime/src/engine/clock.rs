//! The wall clock as the core sees it: nanoseconds since the engine started. The core never
//! reads a clock; the engine reads this one and passes `now` in.

use std::time::{Duration, Instant};

/// Converts between the wall clock and the core's [`unjam_core::Instant`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            epoch: Instant::now(),
        }
    }

    /// The wall-clock instant that is the core's zero.
    pub fn epoch(self) -> Instant {
        self.epoch
    }

    pub fn to_core(self, at: Instant) -> unjam_core::Instant {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        unjam_core::Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    pub fn to_std(self, at: unjam_core::Instant) -> Instant {
        self.epoch + Duration::from_nanos(at.as_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        let clock = Clock::start();
        let later = Instant::now() + Duration::from_millis(1500);
        let core = clock.to_core(later);
        assert!(core.as_nanos() >= 1_500_000_000);
        let back = clock.to_std(core);
        assert!(back.max(later) - back.min(later) < Duration::from_micros(1));
        if let Some(earlier) = clock.epoch.checked_sub(Duration::from_secs(1)) {
            assert_eq!(clock.to_core(earlier).as_nanos(), 0);
        }
    }
}

//! The kernel's `__ratelimit` in virtual time: at most `burst` messages per `interval`
//! from one call site (DEFAULT_RATELIMIT_INTERVAL 5 s, DEFAULT_RATELIMIT_BURST 10).

use std::time::Duration;

use crate::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    interval: Duration,
    burst: u32,
    begin: Option<Instant>,
    printed: u32,
    /// Messages suppressed in the current interval.
    pub suppressed: u32,
}

impl RateLimit {
    pub const fn new(interval: Duration, burst: u32) -> RateLimit {
        RateLimit {
            interval,
            burst,
            begin: None,
            printed: 0,
            suppressed: 0,
        }
    }

    /// The kernel's defaults: 5 s, burst 10.
    pub const fn kernel_default() -> RateLimit {
        RateLimit::new(Duration::from_secs(5), 10)
    }

    /// May a message be printed at `now`? Returns the count suppressed in the interval that
    /// just ended, when one ended with suppressions ("N callbacks suppressed").
    pub fn allow(&mut self, now: Instant) -> (bool, Option<u32>) {
        let mut ended = None;
        match self.begin {
            None => self.begin = Some(now),
            Some(begin) if now >= begin + self.interval => {
                if self.suppressed > 0 {
                    ended = Some(self.suppressed);
                }
                self.begin = Some(now);
                self.printed = 0;
                self.suppressed = 0;
            }
            Some(_) => {}
        }
        if self.printed < self.burst {
            self.printed += 1;
            return (true, ended);
        }
        self.suppressed += 1;
        (false, ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_of_ten_per_five_seconds() {
        let mut limit = RateLimit::kernel_default();
        let t0 = Instant::ZERO;
        let allowed = (0..15).filter(|_| limit.allow(t0).0).count();
        assert_eq!(allowed, 10);
        assert!(!limit.allow(t0 + Duration::from_millis(4999)).0);
        assert_eq!(limit.allow(t0 + Duration::from_secs(5)), (true, Some(6)));
    }
}

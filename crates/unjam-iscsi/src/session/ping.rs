//! NOP-Out keep-alive (open-iscsi's `noop_out_interval` / `noop_out_timeout`): after an
//! interval with nothing received, send a ping; if its answer does not arrive within the
//! timeout, the connection has failed.
//!
//! Owns the two deadlines; time is always an argument.

use std::time::{Duration, Instant};

/// Ping settings. `interval = None` disables pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingConfig {
    pub interval: Option<Duration>,
    pub timeout: Duration,
}

impl Default for PingConfig {
    /// open-iscsi's defaults: 5 s interval, 5 s timeout.
    fn default() -> Self {
        PingConfig {
            interval: Some(Duration::from_secs(5)),
            timeout: Duration::from_secs(5),
        }
    }
}

/// What the ping timer wants when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PingAction {
    Nothing,
    SendPing,
    TimedOut,
}

#[derive(Debug, Clone)]
pub(crate) struct PingTimer {
    config: PingConfig,
    last_received: Instant,
    /// Tag and deadline of the ping in flight.
    outstanding: Option<(u32, Instant)>,
}

impl PingTimer {
    pub fn new(config: PingConfig, now: Instant) -> PingTimer {
        PingTimer {
            config,
            last_received: now,
            outstanding: None,
        }
    }

    pub fn received(&mut self, now: Instant) {
        self.last_received = now;
    }

    pub fn answered(&mut self, tag: u32) -> bool {
        if self.outstanding.map(|(pending, _)| pending) == Some(tag) {
            self.outstanding = None;
            return true;
        }
        false
    }

    pub fn sent(&mut self, tag: u32, now: Instant) {
        self.outstanding = Some((tag, now + self.config.timeout));
    }

    pub fn deadline(&self) -> Option<Instant> {
        if let Some((_, deadline)) = self.outstanding {
            return Some(deadline);
        }
        self.config
            .interval
            .map(|interval| self.last_received + interval)
    }

    pub fn on_timeout(&self, now: Instant) -> PingAction {
        match (self.outstanding, self.config.interval) {
            (Some((_, deadline)), _) if now >= deadline => PingAction::TimedOut,
            (Some(_), _) => PingAction::Nothing,
            (None, Some(interval)) if now >= self.last_received + interval => PingAction::SendPing,
            (None, _) => PingAction::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_after_idle_interval_and_fail_after_timeout() {
        let start = Instant::now();
        let mut timer = PingTimer::new(PingConfig::default(), start);
        assert_eq!(timer.deadline(), Some(start + Duration::from_secs(5)));
        assert_eq!(
            timer.on_timeout(start + Duration::from_secs(4)),
            PingAction::Nothing
        );
        let fire = start + Duration::from_secs(5);
        assert_eq!(timer.on_timeout(fire), PingAction::SendPing);
        timer.sent(42, fire);
        assert_eq!(timer.deadline(), Some(fire + Duration::from_secs(5)));
        assert_eq!(
            timer.on_timeout(fire + Duration::from_secs(5)),
            PingAction::TimedOut
        );
    }

    #[test]
    fn traffic_and_answers_postpone_the_ping() {
        let start = Instant::now();
        let mut timer = PingTimer::new(PingConfig::default(), start);
        timer.received(start + Duration::from_secs(3));
        assert_eq!(
            timer.on_timeout(start + Duration::from_secs(5)),
            PingAction::Nothing
        );
        timer.sent(1, start + Duration::from_secs(8));
        assert!(!timer.answered(2));
        assert!(timer.answered(1));
        // The answer arrived (the session records every received PDU): next ping is an
        // interval after it.
        timer.received(start + Duration::from_secs(9));
        assert_eq!(
            timer.on_timeout(start + Duration::from_secs(13)),
            PingAction::Nothing
        );
        assert_eq!(
            timer.on_timeout(start + Duration::from_secs(14)),
            PingAction::SendPing
        );
    }

    #[test]
    fn disabled_pings_never_fire() {
        let config = PingConfig {
            interval: None,
            timeout: Duration::from_secs(1),
        };
        let timer = PingTimer::new(config, Instant::now());
        assert_eq!(timer.deadline(), None);
    }
}

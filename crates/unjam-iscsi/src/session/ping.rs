//! NOP-Out keep-alive (open-iscsi's `noop_out_interval` / `noop_out_timeout`).
//!
//! Idle (no task waits for the target): after an interval with nothing received, send a
//! ping; if its answer does not arrive within the timeout, the connection has failed
//! (open-iscsi's rule; the worst case is interval + timeout after the last receive).
//!
//! Busy (a command, task management function or logout waits for an answer): a silent
//! connection stalls I/O, so the session does not wait a whole interval. It pings once
//! nothing has been received for half the timeout (or the interval, if shorter), and the
//! connection has failed when nothing at all — no data, no response, no ping answer — has
//! come for the timeout since the last receive. A live target answers the ping and keeps
//! the connection however slow its commands are; a silent one is found within the
//! timeout, well inside interval + timeout, which leaves the multipath layer time to fail
//! over before that bound. The ping is still given at least a quarter of the timeout after
//! it went out, so an initiator that was itself held up (a stopped process) does not drop a
//! connection whose answers wait unread in the socket.
//!
//! Owns the deadlines; time is always an argument.

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
    /// Tag of the ping in flight and when it went out.
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
        self.outstanding = Some((tag, now));
    }

    /// The next instant the timer wants to run; `busy` says whether a task waits for the
    /// target.
    pub fn deadline(&self, busy: bool) -> Option<Instant> {
        let interval = self.config.interval?;
        Some(match self.outstanding {
            Some((_, sent)) => self.failure_at(sent, busy),
            None => self.last_received + self.ping_after(interval, busy),
        })
    }

    pub fn on_timeout(&self, now: Instant, busy: bool) -> PingAction {
        let Some(interval) = self.config.interval else {
            return PingAction::Nothing;
        };
        match self.outstanding {
            Some((_, sent)) if now >= self.failure_at(sent, busy) => PingAction::TimedOut,
            Some(_) => PingAction::Nothing,
            None if now >= self.last_received + self.ping_after(interval, busy) => {
                PingAction::SendPing
            }
            None => PingAction::Nothing,
        }
    }

    /// Silence after which a ping goes out.
    fn ping_after(&self, interval: Duration, busy: bool) -> Duration {
        if busy {
            interval.min(self.config.timeout / 2)
        } else {
            interval
        }
    }

    /// When the connection counts as failed with a ping sent at `sent` unanswered.
    fn failure_at(&self, sent: Instant, busy: bool) -> Instant {
        let timeout = self.config.timeout;
        if busy {
            let silent = self.last_received + timeout;
            silent.max(sent + timeout / 4).min(sent + timeout)
        } else {
            sent + timeout
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: bool = false;
    const BUSY: bool = true;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn idle_pings_after_the_interval_and_fails_a_timeout_after_the_ping() {
        let start = Instant::now();
        let mut timer = PingTimer::new(PingConfig::default(), start);
        assert_eq!(timer.deadline(IDLE), Some(start + secs(5)));
        assert_eq!(timer.on_timeout(start + secs(4), IDLE), PingAction::Nothing);
        let fire = start + secs(5);
        assert_eq!(timer.on_timeout(fire, IDLE), PingAction::SendPing);
        timer.sent(42, fire);
        assert_eq!(timer.deadline(IDLE), Some(fire + secs(5)));
        assert_eq!(
            timer.on_timeout(fire + secs(5) - Duration::from_nanos(1), IDLE),
            PingAction::Nothing
        );
        assert_eq!(timer.on_timeout(fire + secs(5), IDLE), PingAction::TimedOut);
    }

    #[test]
    fn traffic_and_answers_postpone_the_ping() {
        let start = Instant::now();
        let mut timer = PingTimer::new(PingConfig::default(), start);
        timer.received(start + secs(3));
        assert_eq!(timer.on_timeout(start + secs(5), IDLE), PingAction::Nothing);
        timer.sent(1, start + secs(8));
        assert!(!timer.answered(2));
        assert!(timer.answered(1));
        // The answer arrived (the session records every received PDU): next ping is an
        // interval after it.
        timer.received(start + secs(9));
        assert_eq!(
            timer.on_timeout(start + secs(13), IDLE),
            PingAction::Nothing
        );
        assert_eq!(
            timer.on_timeout(start + secs(14), IDLE),
            PingAction::SendPing
        );
    }

    #[test]
    fn busy_a_silent_connection_fails_a_timeout_after_the_last_receive() {
        // 1 s interval, 1 s timeout, as the multipath bench runs: with I/O outstanding the
        // ping goes at 0.5 s of silence and the connection fails at 1 s, not at 2 s.
        let config = PingConfig {
            interval: Some(secs(1)),
            timeout: secs(1),
        };
        let start = Instant::now();
        let last = start + secs(10);
        let mut timer = PingTimer::new(config, start);
        timer.received(last);
        let half = Duration::from_millis(500);
        assert_eq!(timer.deadline(BUSY), Some(last + half));
        assert_eq!(timer.deadline(IDLE), Some(last + secs(1)));
        assert_eq!(timer.on_timeout(last + half, BUSY), PingAction::SendPing);
        // The timer ran 3 ms late: the failure is still due a timeout after the last receive.
        let sent = last + half + Duration::from_millis(3);
        timer.sent(7, sent);
        assert_eq!(timer.deadline(BUSY), Some(last + secs(1)));
        assert_eq!(
            timer.on_timeout(last + secs(1) - Duration::from_nanos(1), BUSY),
            PingAction::Nothing
        );
        assert_eq!(timer.on_timeout(last + secs(1), BUSY), PingAction::TimedOut);
        // Within interval + timeout of the last receive in every case.
        assert!(timer.deadline(BUSY) <= Some(last + secs(2)));
    }

    #[test]
    fn busy_a_live_target_that_answers_the_ping_keeps_the_connection() {
        // A command that takes 12 s on a target that answers pings at once.
        let start = Instant::now();
        let mut timer = PingTimer::new(PingConfig::default(), start);
        let mut now = start;
        for tag in 0..4u32 {
            let due = timer.deadline(BUSY).unwrap_or(now);
            assert_eq!(due, now + Duration::from_millis(2500));
            now = due;
            assert_eq!(timer.on_timeout(now, BUSY), PingAction::SendPing);
            timer.sent(tag, now);
            now += Duration::from_millis(1);
            assert!(timer.answered(tag));
            timer.received(now);
        }
        assert!(now > start + secs(10));
    }

    #[test]
    fn busy_a_late_ping_still_gets_a_quarter_of_the_timeout() {
        // The initiator itself was held up for 20 s with a command outstanding: the ping
        // goes out on waking and has a quarter of the timeout to come back, not zero.
        let start = Instant::now();
        let mut timer = PingTimer::new(PingConfig::default(), start);
        let wake = start + secs(20);
        assert_eq!(timer.on_timeout(wake, BUSY), PingAction::SendPing);
        timer.sent(1, wake);
        assert_eq!(
            timer.deadline(BUSY),
            Some(wake + Duration::from_millis(1250))
        );
        assert_eq!(timer.on_timeout(wake + secs(1), BUSY), PingAction::Nothing);
    }

    #[test]
    fn busy_never_waits_longer_than_idle() {
        // Data keeps coming but the ping is never answered: the ping's own timeout holds.
        let start = Instant::now();
        let mut timer = PingTimer::new(PingConfig::default(), start);
        timer.sent(1, start + secs(5));
        timer.received(start + secs(9));
        assert_eq!(timer.deadline(BUSY), Some(start + secs(10)));
        assert_eq!(timer.deadline(IDLE), Some(start + secs(10)));
    }

    #[test]
    fn disabled_pings_never_fire() {
        let config = PingConfig {
            interval: None,
            timeout: Duration::from_secs(1),
        };
        let timer = PingTimer::new(config, Instant::now());
        assert_eq!(timer.deadline(IDLE), None);
        assert_eq!(timer.deadline(BUSY), None);
        assert_eq!(
            timer.on_timeout(Instant::now() + secs(100), BUSY),
            PingAction::Nothing
        );
    }
}

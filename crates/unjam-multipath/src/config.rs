//! The multipath settings (`multipath.conf`'s vocabulary where one exists): path grouping,
//! selector, failback, `no_path_retry`, the checker's interval and timeout, and the bounds
//! of marginal-path detection. Checked once by [`Config::validate`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How paths are put into groups (`path_grouping_policy`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathGrouping {
    /// One path per group: I/O uses one path at a time.
    #[default]
    Failover,
    /// All paths in one group: I/O is spread over every usable path.
    Multibus,
    /// One group per path priority (ALUA state).
    GroupByPrio,
    /// One group per ALUA target port group.
    GroupByTpg,
}

/// How a path is chosen inside the active group (`path_selector`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// `rr_min_io` requests to each path in turn.
    RoundRobin,
    /// The path with the fewest requests in flight.
    QueueLength,
    /// The path with the smallest (in flight + 1) × recent mean service time.
    #[default]
    ServiceTime,
}

/// When I/O goes back to a better path group that became usable again (`failback`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Failback {
    /// At once.
    #[default]
    Immediate,
    /// Never by itself: only when the current group has no usable path left.
    Manual,
    /// Only when a path of the better group came back (checker reinstated it), not when
    /// a priority changed (another initiator may have asked for the change).
    Followover,
    /// Once the better group has been usable for this long.
    After(Duration),
}

/// What happens to I/O when no path is usable (`no_path_retry`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoPathRetry {
    /// Fail queued and new I/O at once with `BLK_STS_TRANSPORT`.
    Fail,
    /// Queue until a path comes back (`queue_if_no_path`), up to the queue bound.
    Queue,
    /// Queue for this many checker intervals, then fail with `BLK_STS_TRANSPORT`.
    Intervals(u32),
}

impl Default for NoPathRetry {
    fn default() -> Self {
        NoPathRetry::Intervals(12)
    }
}

/// Marginal-path detection: a path whose error rate or latency over a window exceeds a
/// bound, or that failed too often in one window (flapping), is demoted: it carries I/O
/// only when no other path can, until `recovery` has passed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MarginalConfig {
    pub window: Duration,
    /// Completions a window needs before its rates count.
    pub min_ios: u32,
    /// Path errors per thousand completions above which the path is marginal.
    pub max_error_permille: u32,
    /// Mean latency above `latency_factor` × the best other path's mean (and above
    /// `latency_floor`) makes a path marginal.
    pub latency_factor: u32,
    pub latency_floor: Duration,
    /// This many path failures inside one window make a path marginal (a flapping path).
    pub flap_failures: u32,
    /// How long a marginal path stays demoted.
    pub recovery: Duration,
}

impl Default for MarginalConfig {
    fn default() -> Self {
        MarginalConfig {
            window: Duration::from_secs(10),
            min_ios: 20,
            max_error_permille: 50,
            latency_factor: 10,
            latency_floor: Duration::from_millis(5),
            flap_failures: 3,
            recovery: Duration::from_secs(60),
        }
    }
}

/// All settings of a [`crate::Multipath`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Config {
    pub grouping: PathGrouping,
    pub selector: Selector,
    /// Requests per path before round-robin moves on.
    pub rr_min_io: u32,
    pub failback: Failback,
    pub no_path_retry: NoPathRetry,
    /// Time between two checks of one path.
    pub polling_interval: Duration,
    /// How long a checker TUR may take before the path counts as down.
    pub checker_timeout: Duration,
    /// How long a transitioning path group is waited for before it counts as absent.
    pub transition_timeout: Duration,
    /// `None`: no marginal-path detection.
    pub marginal: Option<MarginalConfig>,
    /// Requests one multipath device holds queued (not yet on a path).
    pub max_queued: usize,
    /// Times one request may fail over before its last status is returned.
    pub max_request_failovers: u32,
    /// Requests one path carries at once (the selector skips a full path).
    pub max_in_flight_per_path: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grouping: PathGrouping::default(),
            selector: Selector::default(),
            rr_min_io: 1,
            failback: Failback::default(),
            no_path_retry: NoPathRetry::default(),
            polling_interval: Duration::from_secs(5),
            checker_timeout: Duration::from_secs(30),
            transition_timeout: Duration::from_secs(60),
            marginal: Some(MarginalConfig::default()),
            max_queued: 4096,
            max_request_failovers: 32,
            max_in_flight_per_path: 1024,
        }
    }
}

/// The most paths one multipath device has (bounds every per-device scan).
pub const MAX_PATHS_PER_DEVICE: usize = 64;
/// The most multipath devices.
pub const MAX_DEVICES: usize = 65_536;
/// The most paths altogether.
pub const MAX_PATHS: usize = 1 << 20;

/// A setting out of range.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum ConfigError {
    #[error("`{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message| Err(ConfigError::Invalid { field, message });
        if self.polling_interval.is_zero() {
            return invalid("polling_interval", "must be more than 0");
        }
        if self.checker_timeout.is_zero() {
            return invalid("checker_timeout", "must be more than 0");
        }
        if self.rr_min_io == 0 {
            return invalid("rr_min_io", "must be at least 1");
        }
        if self.max_queued == 0 || self.max_queued > 1 << 20 {
            return invalid("max_queued", "must lie in 1..=1048576");
        }
        if self.max_in_flight_per_path == 0 {
            return invalid("max_in_flight_per_path", "must be at least 1");
        }
        if self.max_request_failovers > 1024 {
            return invalid("max_request_failovers", "at most 1024");
        }
        if let NoPathRetry::Intervals(0) = self.no_path_retry {
            return invalid("no_path_retry", "0 intervals: say `fail`");
        }
        if let Some(marginal) = self.marginal {
            if marginal.window.is_zero() || marginal.min_ios == 0 {
                return invalid("marginal.window", "window and min_ios must be more than 0");
            }
            if marginal.latency_factor < 2 {
                return invalid("marginal.latency_factor", "must be at least 2");
            }
        }
        Ok(())
    }
}

impl Failback {
    /// `immediate`, `manual`, `followover` or a number of seconds.
    pub fn parse(text: &str) -> Option<Failback> {
        match text {
            "immediate" => Some(Failback::Immediate),
            "manual" => Some(Failback::Manual),
            "followover" => Some(Failback::Followover),
            seconds => seconds
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0 && *s <= 86_400)
                .map(|s| Failback::After(Duration::from_secs(s))),
        }
    }
}

impl NoPathRetry {
    /// `fail`, `queue` or a number of checker intervals.
    pub fn parse(text: &str) -> Option<NoPathRetry> {
        match text {
            "fail" => Some(NoPathRetry::Fail),
            "queue" => Some(NoPathRetry::Queue),
            count => count
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .map(NoPathRetry::Intervals),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_words_parse() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Failback::parse("manual"), Some(Failback::Manual));
        assert_eq!(
            Failback::parse("15"),
            Some(Failback::After(Duration::from_secs(15)))
        );
        assert_eq!(Failback::parse("0"), None);
        assert_eq!(NoPathRetry::parse("queue"), Some(NoPathRetry::Queue));
        assert_eq!(NoPathRetry::parse("3"), Some(NoPathRetry::Intervals(3)));
        assert_eq!(NoPathRetry::parse("x"), None);
        let bad = Config {
            rr_min_io: 0,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }
}

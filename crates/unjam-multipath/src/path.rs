//! One path's state: its phase (identifying, up, failed, removed), ALUA access state and
//! priority, the checker's probe, the window counters of marginal-path detection, and the
//! tier that decides where it stands in path selection.

use std::collections::VecDeque;
use std::time::Duration;

use unjam_core::Instant;
use unjam_scsi::cdb::response::AccessState;

use crate::config::{Config, MarginalConfig};
use crate::event::PathId;

/// Path failures remembered for flap detection.
pub(crate) const MAX_FAILURE_HISTORY: usize = 16;

/// The steps of identifying a path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IdentifyStep {
    Inquiry,
    DeviceIdentification,
    UnitSerial,
    PortGroups,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    Identifying(IdentifyStep),
    Up,
    Failed,
    Removed,
}

/// The counters of one marginal-detection window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Window {
    pub start: Instant,
    pub ios: u32,
    pub errors: u32,
    pub latency_sum_ns: u64,
}

#[derive(Debug)]
pub(crate) struct PathEntry {
    pub id: PathId,
    pub device: Option<usize>,
    pub phase: Phase,
    pub alua: bool,
    pub access: AccessState,
    pub preferred: bool,
    pub relative_port: Option<u16>,
    pub port_group: Option<u16>,
    /// Error handling (or a transport block) holds the path: no new I/O, no checker.
    pub recovering: bool,
    /// An I/O was refused for the path's ALUA state: no I/O until the next check.
    pub alua_hold: bool,
    /// The core refused a submission: no I/O until one of the path's requests completes.
    pub busy: bool,
    pub in_flight: u32,
    /// Recent mean service time (exponentially weighted), nanoseconds; 0 = unknown.
    pub service_ns: u64,
    pub window: Window,
    /// Mean latency of the last full window.
    pub last_mean_ns: Option<u64>,
    pub failures: VecDeque<Instant>,
    pub marginal_until: Option<Instant>,
    pub up_since: Option<Instant>,
    pub reinstated_at: Option<Instant>,
    pub transitioning_since: Option<Instant>,
    pub next_check: Instant,
    /// The checker's (or an identify step's) command in flight.
    pub probe: Option<u64>,
    pub rtpg: Option<u64>,
    pub identify_attempts: u32,
}

impl PathEntry {
    pub fn new(id: PathId, now: Instant) -> PathEntry {
        PathEntry {
            id,
            device: None,
            phase: Phase::Identifying(IdentifyStep::Inquiry),
            alua: false,
            access: AccessState::ActiveOptimized,
            preferred: false,
            relative_port: None,
            port_group: None,
            recovering: false,
            alua_hold: false,
            busy: false,
            in_flight: 0,
            service_ns: 0,
            window: Window {
                start: now,
                ..Window::default()
            },
            last_mean_ns: None,
            failures: VecDeque::with_capacity(MAX_FAILURE_HISTORY),
            marginal_until: None,
            up_since: None,
            reinstated_at: None,
            transitioning_since: None,
            next_check: now,
            probe: None,
            rtpg: None,
            identify_attempts: 0,
        }
    }

    /// ALUA priority as multipath-tools' `alua` prioritizer gives it: optimized 50,
    /// non-optimized 10, standby 1, the rest 0; +80 for the preferred group.
    pub fn prio(&self) -> u32 {
        let base = match self.access {
            AccessState::ActiveOptimized => 50,
            AccessState::ActiveNonOptimized | AccessState::LbaDependent => 10,
            AccessState::Standby => 1,
            _ => 0,
        };
        base + if self.preferred { 80 } else { 0 }
    }

    pub fn marginal(&self) -> bool {
        self.marginal_until.is_some()
    }

    /// The path can take I/O now or soon (error handling, a full queue and a
    /// transition pass): what `no_path_retry` counts.
    pub fn alive(&self, now: Instant, config: &Config) -> bool {
        if self.phase != Phase::Up {
            return false;
        }
        match self.access {
            AccessState::Transitioning => self
                .transitioning_since
                .is_none_or(|since| now < since + config.transition_timeout),
            state => state.is_active() || state == AccessState::LbaDependent,
        }
    }

    /// Where the path stands for new I/O: 0 active, 1 active but marginal, 2 standby,
    /// 3 unavailable (the last two only as a last resort, one request at a time);
    /// `None` when it takes no I/O now.
    pub fn tier(&self, config: &Config) -> Option<u8> {
        if self.phase != Phase::Up || self.recovering || self.busy || self.alua_hold {
            return None;
        }
        if self.in_flight >= config.max_in_flight_per_path {
            return None;
        }
        let tier = match self.access {
            AccessState::ActiveOptimized
            | AccessState::ActiveNonOptimized
            | AccessState::LbaDependent => u8::from(self.marginal()),
            AccessState::Standby => 2,
            AccessState::Unavailable => 3,
            _ => return None,
        };
        (tier < 2 || self.in_flight == 0).then_some(tier)
    }

    /// Records one completed I/O (its latency, and whether it was a path error) in the
    /// current window; a window that has ended rolls over first.
    pub fn record_io(&mut self, now: Instant, latency: Duration, error: bool, window: Duration) {
        let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.service_ns = if self.service_ns == 0 {
            latency_ns.max(1)
        } else {
            (self.service_ns.saturating_mul(7) / 8).saturating_add(latency_ns / 8)
        }
        .max(1);
        if now >= self.window.start + window {
            if self.window.ios > 0 {
                self.last_mean_ns = Some(self.window.latency_sum_ns / u64::from(self.window.ios));
            }
            self.window = Window {
                start: now,
                ..Window::default()
            };
        }
        self.window.ios = self.window.ios.saturating_add(1);
        self.window.latency_sum_ns = self.window.latency_sum_ns.saturating_add(latency_ns);
        if error {
            self.window.errors = self.window.errors.saturating_add(1);
        }
    }

    /// The window's mean latency once it holds enough completions, else the last window's.
    pub fn mean_ns(&self, marginal: &MarginalConfig) -> Option<u64> {
        if self.window.ios >= marginal.min_ios {
            return Some(self.window.latency_sum_ns / u64::from(self.window.ios));
        }
        self.last_mean_ns
    }

    /// Records a path failure; true when the path failed `flap_failures` times within
    /// `recovery` (it flaps).
    pub fn record_failure(&mut self, now: Instant, marginal: Option<&MarginalConfig>) -> bool {
        if self.failures.len() == MAX_FAILURE_HISTORY {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        let Some(marginal) = marginal else {
            return false;
        };
        let recent = self
            .failures
            .iter()
            .filter(|at| now.saturating_duration_since(**at) < marginal.recovery)
            .count();
        recent as u32 >= marginal.flap_failures
    }

    /// The path's state word for reports: removed, discovering, failed, recovering,
    /// marginal, or its access (active, non_optimized, standby, unavailable,
    /// transitioning, offline).
    pub fn state_name(&self) -> &'static str {
        match self.phase {
            Phase::Removed => "removed",
            Phase::Identifying(_) => "discovering",
            Phase::Failed => "failed",
            Phase::Up if self.recovering => "recovering",
            Phase::Up if self.marginal() => "marginal",
            Phase::Up => access_name(self.access),
        }
    }
}

/// The word for an ALUA access state.
pub fn access_name(state: AccessState) -> &'static str {
    match state {
        AccessState::ActiveOptimized => "active",
        AccessState::ActiveNonOptimized => "non_optimized",
        AccessState::Standby => "standby",
        AccessState::Unavailable => "unavailable",
        AccessState::LbaDependent => "lba_dependent",
        AccessState::Offline => "offline",
        AccessState::Transitioning => "transitioning",
        AccessState::Reserved(_) => "reserved",
    }
}

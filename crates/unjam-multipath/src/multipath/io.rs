//! The I/O side: queued requests go to the path the group policy and the selector choose;
//! a completion with a path error fails the path and sends the request whole to another
//! path (in its original order among failed-over requests); a target error is returned;
//! with no usable path, `no_path_retry` decides.

use unjam_core::request::cmd_flags;
use unjam_core::{Completion, Instant};
use unjam_scsi::cdb::response::AccessState;
use unjam_scsi::{BlkStatus, HostByte};

use super::{InFlight, Multipath, Pending, ProbeKind, Timer};
use crate::config::{Failback, NoPathRetry, PathGrouping, Selector};
use crate::event::{Action, EventKind};
use crate::path::Phase;

impl Multipath {
    /// A completion from the core for one of the layer's requests (`data_in`: the bytes a
    /// data-in command returned; ignored for I/O). Returns false when the token is not
    /// the layer's.
    pub fn handle_completion(
        &mut self,
        now: Instant,
        completion: &Completion,
        data_in: &[u8],
    ) -> bool {
        self.advance(now);
        let Some(entry) = self.in_flight.remove(&completion.token) else {
            return false;
        };
        match entry {
            InFlight::Io {
                device,
                seq,
                pending,
                path,
                sent_at,
            } => self.io_done(device, seq, pending, path, sent_at, completion),
            InFlight::Probe { path, kind } => self.probe_done(path, kind, completion, data_in),
            InFlight::Stale => {}
        }
        true
    }

    /// The core refused to take a request the layer submitted (its queue is full): the
    /// request goes back to the queue and the path takes no more until one of its
    /// requests completes.
    pub fn handle_submit_refused(&mut self, now: Instant, token: u64) -> bool {
        self.advance(now);
        let Some(entry) = self.in_flight.remove(&token) else {
            return false;
        };
        match entry {
            InFlight::Io {
                device,
                seq,
                pending,
                path,
                ..
            } => {
                let entry = &mut self.paths[path];
                entry.in_flight = entry.in_flight.saturating_sub(1);
                entry.busy = true;
                self.devices[device].waiting.insert(seq, pending);
                self.pump(device);
            }
            InFlight::Probe { path, kind } => {
                if self.paths[path].probe == Some(token) {
                    self.paths[path].probe = None;
                }
                if self.paths[path].rtpg == Some(token) {
                    self.paths[path].rtpg = None;
                }
                if kind != ProbeKind::PortGroups {
                    self.retry_probe_later(path);
                }
            }
            InFlight::Stale => {}
        }
        true
    }

    fn io_done(
        &mut self,
        device: usize,
        seq: u64,
        mut pending: Pending,
        path: usize,
        sent_at: Instant,
        completion: &Completion,
    ) {
        let now = self.now;
        let entry = &mut self.paths[path];
        entry.in_flight = entry.in_flight.saturating_sub(1);
        entry.busy = false;
        pending.attempts = pending.attempts.saturating_add(completion.attempts);
        let alua = alua_refusal(completion);
        let failfast = completion.result.host() == HostByte::DID_TRANSPORT_FAILFAST;
        let path_error = completion.status != BlkStatus::Ok
            && (alua.is_some() || failfast || completion.status.is_path_error());
        if let Some(marginal) = self.config.marginal {
            let latency = now.saturating_duration_since(sent_at);
            let error = path_error && alua.is_none() && !unit_attention(completion);
            self.paths[path].record_io(now, latency, error, marginal.window);
            self.check_marginal(device, path);
        }
        if asymmetric_access_changed(completion) {
            self.send_port_groups(path);
        }
        if completion.status == BlkStatus::Ok {
            self.complete(device, pending, BlkStatus::Ok, Some(completion));
        } else if let Some(state) = alua {
            self.set_access(path, state);
            if state != AccessState::Transitioning {
                self.paths[path].alua_hold = true;
            }
            self.send_port_groups(path);
            self.fail_over(device, seq, pending, completion);
        } else if unit_attention(completion) {
            // The device answered: the path works. The core retries a unit attention
            // itself; one that still ends the request is sent again, the path kept.
            self.fail_over(device, seq, pending, completion);
        } else if path_error {
            let reason = if failfast {
                "transport_failfast"
            } else {
                "path_error"
            };
            self.fail_path(path, reason);
            self.fail_over(device, seq, pending, completion);
        } else {
            self.complete(device, pending, completion.status, Some(completion));
        }
        self.pump(device);
    }

    /// Sends the request whole to another path (back into the queue at its original
    /// place), or returns its status when it failed over too often.
    fn fail_over(
        &mut self,
        device: usize,
        seq: u64,
        mut pending: Pending,
        completion: &Completion,
    ) {
        if pending.failovers >= self.config.max_request_failovers {
            self.complete(device, pending, completion.status, Some(completion));
            return;
        }
        pending.failovers += 1;
        self.devices[device].stats.failovers += 1;
        let path = pending
            .last_path
            .and_then(|p| self.path_index.get(&p).copied());
        self.emit(
            Some(device),
            path,
            EventKind::FailedOver {
                token: pending.request.token,
                status: completion.status,
            },
        );
        self.devices[device].waiting.insert(seq, pending);
    }

    /// Error rate or latency over the window beyond the bounds: the path is demoted.
    fn check_marginal(&mut self, device: usize, path: usize) {
        let Some(marginal) = self.config.marginal else {
            return;
        };
        let entry = &self.paths[path];
        if entry.marginal() || entry.window.ios < marginal.min_ios {
            return;
        }
        let errors = u64::from(entry.window.errors) * 1000;
        if errors > u64::from(marginal.max_error_permille) * u64::from(entry.window.ios) {
            self.make_marginal(path, "error_rate");
            return;
        }
        let Some(mean) = entry.mean_ns(&marginal) else {
            return;
        };
        let floor = marginal.latency_floor.as_nanos() as u64;
        let best_other = self.devices[device]
            .paths
            .iter()
            .filter(|p| **p != path)
            .map(|p| &self.paths[*p])
            .filter(|p| p.phase == Phase::Up && !p.marginal())
            .filter_map(|p| p.mean_ns(&marginal))
            .min();
        if let Some(best) = best_other {
            if mean > floor && mean > best.saturating_mul(u64::from(marginal.latency_factor)) {
                self.make_marginal(path, "latency");
            }
        }
    }

    /// Sends queued requests to paths while a path can take one; then accounts for a
    /// device without a usable path.
    pub(crate) fn pump(&mut self, device: usize) {
        let bound = self.devices[device].waiting.len();
        for _ in 0..bound {
            if self.devices[device].waiting.is_empty() {
                break;
            }
            let Some(path) = self.select(device) else {
                break;
            };
            let Some((seq, pending)) = self.devices[device].waiting.pop_first() else {
                break;
            };
            self.dispatch(device, seq, pending, path);
        }
        self.account_no_path(device);
    }

    fn dispatch(&mut self, device: usize, seq: u64, mut pending: Pending, path: usize) {
        let token = self.fresh_token();
        let caller_token = pending.request.token;
        let mut request = pending.request;
        request.token = token;
        request.block.cmd_flags |= cmd_flags::FAILFAST_TRANSPORT;
        let entry = &mut self.paths[path];
        entry.in_flight += 1;
        pending.last_path = Some(entry.id);
        let path_id = entry.id;
        self.in_flight.insert(
            token,
            InFlight::Io {
                device,
                seq,
                pending,
                path,
                sent_at: self.now,
            },
        );
        self.actions.push_back(Action::Submit {
            path: path_id,
            request,
            caller_token: Some(caller_token),
        });
    }

    /// The path group of a path (its number in reports).
    pub(crate) fn group_key(&self, path: usize) -> u32 {
        let entry = &self.paths[path];
        match self.config.grouping {
            PathGrouping::Failover => path as u32,
            PathGrouping::Multibus => 0,
            PathGrouping::GroupByPrio => entry.prio(),
            PathGrouping::GroupByTpg => entry.port_group.map_or(0x1_0000 + path as u32, u32::from),
        }
    }

    /// Chooses a path for the next request: the best tier that has a path (active, then
    /// marginal, then standby, then unavailable); in it, the current group unless a better
    /// group is there and failback allows the move; in the group, the selector's pick.
    fn select(&mut self, device: usize) -> Option<usize> {
        for tier in 0..4u8 {
            let mut best: Option<(u32, u32)> = None;
            let mut current_present = false;
            let current = self.devices[device].current_group;
            for &path in &self.devices[device].paths {
                if self.paths[path].tier(&self.config) != Some(tier) {
                    continue;
                }
                let group = self.group_key(path);
                let prio = self.paths[path].prio();
                current_present |= Some(group) == current;
                let better = best.is_none_or(|(g, p)| prio > p || (prio == p && group < g));
                if better {
                    best = Some((group, prio));
                }
            }
            let Some((best_group, _)) = best else {
                continue;
            };
            let group = match current {
                Some(current) if current_present && current != best_group => {
                    if self.failback_allows(device, best_group) {
                        best_group
                    } else {
                        current
                    }
                }
                Some(current) if current_present => current,
                _ => best_group,
            };
            if current != Some(group) {
                let device_entry = &mut self.devices[device];
                device_entry.current_group = Some(group);
                device_entry.switched_at = self.now;
                device_entry.stats.group_switches += 1;
                self.emit(Some(device), None, EventKind::GroupSwitched { group });
            }
            return self.pick(device, tier, group);
        }
        None
    }

    fn failback_allows(&mut self, device: usize, group: u32) -> bool {
        let switched_at = self.devices[device].switched_at;
        let members: Vec<usize> = self.devices[device]
            .paths
            .iter()
            .copied()
            .filter(|p| self.group_key(*p) == group)
            .collect();
        match self.config.failback {
            Failback::Immediate => true,
            Failback::Manual => false,
            Failback::Followover => members.iter().any(|p| {
                self.paths[*p]
                    .reinstated_at
                    .is_some_and(|at| at > switched_at)
            }),
            Failback::After(delay) => {
                let since = members.iter().filter_map(|p| self.paths[*p].up_since).min();
                let Some(since) = since else {
                    return false;
                };
                let due = since + delay;
                if due <= self.now {
                    return true;
                }
                if self.devices[device].failback_due.is_none_or(|d| d > due) {
                    self.devices[device].failback_due = Some(due);
                    self.schedule(due, Timer::Failback(device));
                }
                false
            }
        }
    }

    /// The selector's pick among the group's paths of this tier.
    fn pick(&mut self, device: usize, tier: u8, group: u32) -> Option<usize> {
        let entry = &self.devices[device];
        let count = entry.paths.len();
        let start = entry
            .last_path
            .and_then(|last| entry.paths.iter().position(|p| *p == last))
            .map_or(0, |i| i + 1);
        let candidates = (0..count)
            .map(|k| entry.paths[(start + k) % count])
            .filter(|p| {
                self.paths[*p].tier(&self.config) == Some(tier) && self.group_key(*p) == group
            });
        let chosen = match self.config.selector {
            Selector::RoundRobin => {
                let keep = entry.last_path.filter(|last| {
                    entry.rr_sent < self.config.rr_min_io
                        && self.paths[*last].tier(&self.config) == Some(tier)
                        && self.group_key(*last) == group
                });
                keep.or_else(|| candidates.into_iter().next())
            }
            Selector::QueueLength => candidates.min_by_key(|p| self.paths[*p].in_flight),
            Selector::ServiceTime => {
                // A path without a recent measurement counts as the fastest known one.
                let candidates: Vec<usize> = candidates.collect();
                let fastest = candidates
                    .iter()
                    .map(|p| self.paths[*p].service_ns)
                    .filter(|ns| *ns > 0)
                    .min()
                    .unwrap_or(1_000_000);
                candidates.into_iter().min_by_key(|p| {
                    let path = &self.paths[*p];
                    let service = if path.service_ns == 0 {
                        fastest
                    } else {
                        path.service_ns
                    };
                    u64::from(path.in_flight + 1).saturating_mul(service)
                })
            }
        }?;
        let entry = &mut self.devices[device];
        if entry.last_path == Some(chosen) {
            entry.rr_sent = entry.rr_sent.saturating_add(1);
        } else {
            entry.last_path = Some(chosen);
            entry.rr_sent = 1;
        }
        Some(chosen)
    }

    /// Opens or closes the device's no-path window; under `no_path_retry = fail` (or once
    /// its intervals ran out) queued requests fail with `BLK_STS_TRANSPORT`.
    pub(crate) fn account_no_path(&mut self, device: usize) {
        let now = self.now;
        let alive = self.devices[device]
            .paths
            .iter()
            .any(|p| self.paths[*p].alive(now, &self.config));
        let entry = &mut self.devices[device];
        match (alive, entry.no_path_since) {
            (true, Some(since)) => {
                let waited = now.saturating_duration_since(since);
                entry.no_path_total_ns += waited.as_nanos() as u64;
                entry.no_path_since = None;
                entry.no_path_deadline = None;
                entry.failing = false;
                let waited_ms = waited.as_millis() as u64;
                self.emit(Some(device), None, EventKind::PathRestored { waited_ms });
                self.pump(device);
                return;
            }
            (false, None) => {
                entry.no_path_since = Some(now);
                match self.config.no_path_retry {
                    NoPathRetry::Fail => entry.failing = true,
                    NoPathRetry::Queue => {}
                    NoPathRetry::Intervals(count) => {
                        let due = now + self.config.polling_interval.saturating_mul(count);
                        entry.no_path_deadline = Some(due);
                        self.schedule(due, Timer::NoPath(device));
                    }
                }
                self.emit(Some(device), None, EventKind::NoPath);
            }
            _ => {}
        }
        if !alive && self.devices[device].failing {
            self.fail_queued(device);
        }
    }

    pub(crate) fn no_path_due(&mut self, device: usize) {
        let entry = &mut self.devices[device];
        if entry.no_path_deadline.is_none_or(|due| due > self.now) {
            return;
        }
        entry.no_path_deadline = None;
        entry.failing = true;
        let failed = entry.waiting.len() as u32;
        self.emit(Some(device), None, EventKind::NoPathRetryExpired { failed });
        self.fail_queued(device);
    }

    /// Every queued request of the device fails with `BLK_STS_TRANSPORT`.
    fn fail_queued(&mut self, device: usize) {
        let waiting = std::mem::take(&mut self.devices[device].waiting);
        for (_, pending) in waiting {
            self.complete(device, pending, BlkStatus::Transport, None);
        }
    }
}

/// NOT READY 04/0A, 04/0B, 04/0C: the port's ALUA state refused the command.
pub(crate) fn alua_refusal(completion: &Completion) -> Option<AccessState> {
    let header = completion.sense.header()?;
    if header.key != unjam_scsi::sense::SenseKey::NOT_READY || header.asc != 0x04 {
        return None;
    }
    match header.ascq {
        0x0a => Some(AccessState::Transitioning),
        0x0b => Some(AccessState::Standby),
        0x0c => Some(AccessState::Unavailable),
        _ => None,
    }
}

/// Any UNIT ATTENTION.
fn unit_attention(completion: &Completion) -> bool {
    completion
        .sense
        .header()
        .is_some_and(|h| h.key == unjam_scsi::sense::SenseKey::UNIT_ATTENTION)
}

/// UNIT ATTENTION 2A/06 (asymmetric access state changed) or 2A/07 (implicit transition
/// failed): ask the port groups again.
pub(crate) fn asymmetric_access_changed(completion: &Completion) -> bool {
    completion.sense.header().is_some_and(|h| {
        h.key == unjam_scsi::sense::SenseKey::UNIT_ATTENTION
            && h.asc == 0x2a
            && matches!(h.ascq, 0x06 | 0x07)
    })
}

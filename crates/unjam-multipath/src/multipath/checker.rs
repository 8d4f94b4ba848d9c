//! The layer's own commands on a path: identification (standard INQUIRY, VPD 83h, VPD
//! 80h, REPORT TARGET PORT GROUPS), the TUR checker every `polling_interval` with its
//! `checker_timeout`, and ALUA state from REPORT TARGET PORT GROUPS and from sense.

use unjam_core::request::{cmd_flags, BlockOp, Request};
use unjam_core::Completion;
use unjam_scsi::cdb::response::{AccessState, TargetPortGroups};
use unjam_scsi::cdb::{Inquiry, ReportTargetPortGroups, TestUnitReady};
use unjam_scsi::sense::SenseKey;
use unjam_scsi::{BlkStatus, HostByte, SamStatus};

use super::io::{alua_refusal, asymmetric_access_changed};
use super::{InFlight, Multipath, ProbeKind, Timer};
use crate::event::{Action, EventKind};
use crate::identity;
use crate::path::{IdentifyStep, Phase};

/// Sends of one identification step before the path is given up.
const MAX_IDENTIFY_ATTEMPTS: u32 = 5;
/// Allocation lengths of the layer's data-in commands.
const INQUIRY_LENGTH: u16 = 96;
const VPD_LENGTH: u16 = 1024;
const RTPG_LENGTH: u32 = 1024;

/// What one checker answer says about its path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum CheckResult {
    Up,
    Access(AccessState),
    Down(&'static str),
}

/// The command reached the device and it answered GOOD. A passthrough command's
/// `BlkStatus` alone does not say so: a command without data whose transport failed ends
/// "all bytes completed" (`BLK_STS_OK`), as in the kernel, so the result word decides.
pub(crate) fn answered_good(completion: &Completion) -> bool {
    completion.status == BlkStatus::Ok
        && completion.result.host() == HostByte::DID_OK
        && completion.result.status() == SamStatus::GOOD
}

fn classify(completion: &Completion) -> CheckResult {
    let result = completion.result;
    if result.host() != HostByte::DID_OK {
        return CheckResult::Down("checker_transport");
    }
    if answered_good(completion) {
        return CheckResult::Up;
    }
    if let Some(state) = alua_refusal(completion) {
        return CheckResult::Access(state);
    }
    if matches!(result.status(), SamStatus::BUSY | SamStatus::TASK_SET_FULL) {
        return CheckResult::Up;
    }
    match completion.sense.header().map(|h| h.key) {
        Some(SenseKey::UNIT_ATTENTION) => CheckResult::Up,
        Some(SenseKey::NOT_READY) => CheckResult::Down("not_ready"),
        _ => CheckResult::Down("checker_error"),
    }
}

impl Multipath {
    /// A request of the layer's own, sent on `path` (no retries on the path: the layer
    /// decides what an answer means).
    fn send_probe(
        &mut self,
        path: usize,
        kind: ProbeKind,
        cdb: unjam_core::buffers::Cdb,
        data_len: u32,
    ) -> u64 {
        let token = self.fresh_token();
        let mut request = Request::new(cdb, token);
        request.data_len = data_len;
        request.block.op = BlockOp::DriverIn;
        request.block.cmd_flags = cmd_flags::FAILFAST_MASK;
        request.passthrough = true;
        request.quiet = true;
        request.allowed = Some(0);
        request.timeout = Some(self.config.checker_timeout);
        self.in_flight.insert(token, InFlight::Probe { path, kind });
        let deadline = self.now + self.config.checker_timeout.saturating_mul(2);
        self.schedule(deadline, Timer::ProbeDeadline(path, token));
        let id = self.paths[path].id;
        self.actions.push_back(Action::Submit {
            path: id,
            request,
            caller_token: None,
        });
        token
    }

    /// Sends the path's current identification step.
    pub(crate) fn send_identify(&mut self, path: usize) {
        let Phase::Identifying(step) = self.paths[path].phase else {
            return;
        };
        if self.paths[path].probe.is_some() || self.paths[path].rtpg.is_some() {
            return;
        }
        self.paths[path].identify_attempts += 1;
        if self.paths[path].identify_attempts > MAX_IDENTIFY_ATTEMPTS {
            self.unidentified(path, "identification failed");
            return;
        }
        let (cdb, len) = match step {
            IdentifyStep::Inquiry => (Inquiry::standard(INQUIRY_LENGTH).build(), INQUIRY_LENGTH),
            IdentifyStep::DeviceIdentification => {
                (Inquiry::vpd(0x83, VPD_LENGTH).build(), VPD_LENGTH)
            }
            IdentifyStep::UnitSerial => (Inquiry::vpd(0x80, VPD_LENGTH).build(), VPD_LENGTH),
            IdentifyStep::PortGroups => {
                self.send_port_groups(path);
                return;
            }
        };
        let Ok(cdb) = cdb else {
            self.unidentified(path, "identification CDB");
            return;
        };
        let token = self.send_probe(path, ProbeKind::Identify, cdb, u32::from(len));
        self.paths[path].probe = Some(token);
    }

    /// Asks the path for REPORT TARGET PORT GROUPS (once at a time).
    pub(crate) fn send_port_groups(&mut self, path: usize) {
        let entry = &self.paths[path];
        if !entry.alua || entry.rtpg.is_some() || entry.phase == Phase::Removed {
            return;
        }
        let command = ReportTargetPortGroups {
            extended: false,
            allocation_length: RTPG_LENGTH,
        };
        let Ok(cdb) = command.build() else {
            return;
        };
        let token = self.send_probe(path, ProbeKind::PortGroups, cdb, RTPG_LENGTH);
        self.paths[path].rtpg = Some(token);
    }

    pub(crate) fn probe_done(
        &mut self,
        path: usize,
        kind: ProbeKind,
        completion: &Completion,
        data: &[u8],
    ) {
        match kind {
            ProbeKind::Checker => {
                if self.paths[path].probe == Some(completion.token) {
                    self.paths[path].probe = None;
                }
                self.checked(path, completion);
            }
            ProbeKind::Identify => {
                if self.paths[path].probe == Some(completion.token) {
                    self.paths[path].probe = None;
                }
                self.identify_step_done(path, completion, data);
            }
            ProbeKind::PortGroups => {
                if self.paths[path].rtpg == Some(completion.token) {
                    self.paths[path].rtpg = None;
                }
                let attention = completion
                    .sense
                    .header()
                    .is_some_and(|h| h.key == SenseKey::UNIT_ATTENTION);
                if attention && self.paths[path].identify_attempts < MAX_IDENTIFY_ATTEMPTS {
                    // A unit attention (2A/06 after a transition, 29/00 after a reset)
                    // took the answer's place: ask again (bounded).
                    self.paths[path].identify_attempts += 1;
                    self.send_port_groups(path);
                    return;
                }
                if answered_good(completion) {
                    self.paths[path].identify_attempts = 0;
                    self.apply_port_groups(path, data);
                }
                if self.paths[path].phase == Phase::Identifying(IdentifyStep::PortGroups) {
                    self.path_up(path);
                } else if let Some(device) = self.paths[path].device {
                    self.pump(device);
                }
            }
        }
    }

    fn identify_step_done(&mut self, path: usize, completion: &Completion, data: &[u8]) {
        let Phase::Identifying(step) = self.paths[path].phase else {
            return;
        };
        if !answered_good(completion) {
            let attention = completion
                .sense
                .header()
                .is_some_and(|h| h.key == SenseKey::UNIT_ATTENTION);
            if attention {
                self.send_identify(path);
            } else {
                self.retry_probe_later(path);
            }
            return;
        }
        let next = |mp: &mut Multipath, step| {
            mp.paths[path].phase = Phase::Identifying(step);
            mp.paths[path].identify_attempts = 0;
            mp.send_identify(path);
        };
        match step {
            IdentifyStep::Inquiry => {
                self.paths[path].alua = identity::supports_alua(data);
                next(self, IdentifyStep::DeviceIdentification);
            }
            IdentifyStep::DeviceIdentification => {
                let parsed = identity::from_device_identification(data).unwrap_or_default();
                self.paths[path].relative_port = parsed.relative_port;
                self.paths[path].port_group = parsed.port_group;
                match parsed.identity {
                    Some(identity) => {
                        self.paths[path].identify_attempts = 0;
                        self.attach(path, identity);
                    }
                    None => next(self, IdentifyStep::UnitSerial),
                }
            }
            IdentifyStep::UnitSerial => match identity::from_unit_serial(data) {
                Some(identity) => {
                    self.paths[path].identify_attempts = 0;
                    self.attach(path, identity);
                }
                None => self.unidentified(path, "no designator and no serial number"),
            },
            IdentifyStep::PortGroups => {}
        }
    }

    /// Applies REPORT TARGET PORT GROUPS data to every ALUA path of the device.
    fn apply_port_groups(&mut self, path: usize, data: &[u8]) {
        let Ok(groups) = TargetPortGroups::parse(data) else {
            return;
        };
        let members = match self.paths[path].device {
            Some(device) => self.devices[device].paths.clone(),
            None => vec![path],
        };
        let mut members = members;
        if !members.contains(&path) {
            members.push(path);
        }
        for member in members {
            let entry = &self.paths[member];
            if !entry.alua {
                continue;
            }
            let (group_id, port) = (entry.port_group, entry.relative_port);
            let found = groups
                .groups
                .iter()
                .find(|g| Some(g.id) == group_id || port.is_some_and(|p| g.contains_port(p)));
            let Some(group) = found else { continue };
            self.paths[member].preferred = group.preferred;
            if self.paths[member].port_group.is_none() {
                self.paths[member].port_group = Some(group.id);
            }
            self.set_access(member, group.state);
            if group.state.is_active() {
                self.paths[member].alua_hold = false;
            }
        }
    }

    /// Sets a path's ALUA access state (with the transition clock) and tells about it.
    pub(crate) fn set_access(&mut self, path: usize, state: AccessState) {
        let now = self.now;
        let entry = &mut self.paths[path];
        if state == AccessState::Transitioning {
            entry.transitioning_since.get_or_insert(now);
        } else {
            entry.transitioning_since = None;
        }
        if entry.access == state {
            return;
        }
        entry.access = state;
        if state.is_active() {
            // Service times measured in another state say nothing about this one.
            entry.service_ns = 0;
        }
        let device = entry.device;
        let state = crate::path::access_name(state);
        self.emit(device, Some(path), EventKind::AccessState { state });
    }

    /// A checker answer: reinstate, fail, or note the ALUA state.
    fn checked(&mut self, path: usize, completion: &Completion) {
        let result = classify(completion);
        let was_failed = self.paths[path].phase == Phase::Failed;
        match result {
            CheckResult::Down(reason) => self.fail_path(path, reason),
            CheckResult::Up | CheckResult::Access(_) => {
                if was_failed {
                    self.reinstate(path);
                }
                self.paths[path].alua_hold = false;
                let alua = self.paths[path].alua;
                match result {
                    CheckResult::Access(state) => self.set_access(path, state),
                    _ if !self.paths[path].access.is_active() => {
                        let state = if alua {
                            AccessState::ActiveNonOptimized
                        } else {
                            AccessState::ActiveOptimized
                        };
                        self.set_access(path, state);
                        self.send_port_groups(path);
                    }
                    _ => {}
                }
                if was_failed || asymmetric_access_changed(completion) {
                    self.send_port_groups(path);
                }
            }
        }
        self.retry_probe_later(path);
        if let Some(device) = self.paths[path].device {
            self.pump(device);
        }
    }

    fn reinstate(&mut self, path: usize) {
        let now = self.now;
        let entry = &mut self.paths[path];
        entry.phase = Phase::Up;
        entry.up_since = Some(now);
        entry.reinstated_at = Some(now);
        entry.busy = false;
        entry.service_ns = 0;
        let device = entry.device;
        self.emit(device, Some(path), EventKind::PathReinstated);
    }

    /// The next check (or identification attempt) one polling interval from now.
    pub(crate) fn retry_probe_later(&mut self, path: usize) {
        let at = self.now + self.config.polling_interval;
        self.paths[path].next_check = at;
        self.schedule(at, Timer::Check(path));
    }

    pub(crate) fn check_due(&mut self, path: usize) {
        let entry = &self.paths[path];
        if entry.next_check > self.now || entry.probe.is_some() {
            return;
        }
        match entry.phase {
            Phase::Removed => {}
            Phase::Identifying(_) => self.send_identify(path),
            Phase::Up | Phase::Failed if entry.recovering => self.retry_probe_later(path),
            Phase::Up | Phase::Failed => {
                let Ok(cdb) = TestUnitReady.build() else {
                    return;
                };
                let token = self.send_probe(path, ProbeKind::Checker, cdb, 0);
                self.paths[path].probe = Some(token);
            }
        }
    }

    /// A probe got no answer in time: the checker counts the path down; an
    /// identification step is tried again later.
    pub(crate) fn probe_deadline(&mut self, path: usize, token: u64) {
        let Some(InFlight::Probe { kind, .. }) = self.in_flight.get(&token).copied() else {
            return;
        };
        self.in_flight.insert(token, InFlight::Stale);
        if self.paths[path].probe == Some(token) {
            self.paths[path].probe = None;
        }
        if self.paths[path].rtpg == Some(token) {
            self.paths[path].rtpg = None;
        }
        match kind {
            ProbeKind::Checker => {
                self.fail_path(path, "checker_timeout");
                self.retry_probe_later(path);
            }
            ProbeKind::Identify => self.retry_probe_later(path),
            ProbeKind::PortGroups => {
                if self.paths[path].phase == Phase::Identifying(IdentifyStep::PortGroups) {
                    self.path_up(path);
                }
            }
        }
        if let Some(device) = self.paths[path].device {
            self.pump(device);
        }
    }
}

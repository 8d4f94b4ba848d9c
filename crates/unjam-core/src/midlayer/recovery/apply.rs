//! The one place the error handler's decisions (`crate::eh::EhDecision`) become effects on
//! the mid-layer: EH commands and resets sent, settle timers armed, devices told of a reset,
//! commands released, decided again, judged by sd's medium-access rule, revoked or offlined.
//! The handler itself (`crate::eh`, `ladder.rs`) decides; this module must not.

use std::time::Duration;

use unjam_scsi::{Disposition, HostByte, SamStatus};

use crate::action::Action;
use crate::buffers::SenseBuffer;
use crate::command::{Command, CommandKind};
use crate::disposition::{check_sense, SenseVerdict, RETRIES_NO_LIMIT};
use crate::eh::{EhDecision, EhNext, EhRun, EhStep, EhView};
use crate::ids::{DeviceId, EhCommand, HostId, ResetKind, Tag, TmfOp};
use crate::lifecycle::State;
use crate::midlayer::{MidLayer, TmfPurpose};
use crate::request::Request;
use crate::state::DeviceState;
use crate::time::Instant;
use crate::timers::RareTimer;
use crate::trace::TraceEvent;

/// Settle time after a bus or host reset (`BUS_RESET_SETTLE_TIME`, `HOST_RESET_SETTLE_TIME`).
const SETTLE: Duration = Duration::from_secs(10);

/// Bound on the decisions applied in one drive of a run (each starts a job, a step or
/// applies one answer; a run has a few jobs per device per step).
const MAX_DECISIONS_PER_DRIVE: usize = 10_000;

/// `scsi_eh_stu`'s test: START UNIT is allowed and the command's sense asks for it
/// (check_sense FAILED, i.e. 04/02 with `allow_restart`).
fn wants_start_unit(
    cmd: &Command,
    sense: &SenseBuffer,
    view: &crate::disposition::DeviceView,
) -> bool {
    view.allow_restart
        && sense.is_valid()
        && matches!(
            check_sense(sense, cmd.request.cdb.opcode(), false, view),
            SenseVerdict {
                disposition: unjam_scsi::Disposition::Failed,
                ..
            }
        )
}

/// The mid-layer as the error handler sees it at `now`.
pub(crate) struct View<'a> {
    pub mid: &'a MidLayer,
    pub now: Instant,
}

impl EhView for View<'_> {
    fn device_of(&self, slot: u32) -> DeviceId {
        self.mid.slab.command(slot).device
    }

    /// get_sense skips commands whose current attempt timed out, commands with valid
    /// sense, and statuses other than CHECK CONDITION. (The kernel tests
    /// ABORT_SCHEDULED, which after an abort-and-retry also skips a later CHECK CONDITION;
    /// unjam follows seed 002 §8 and skips only a timed-out attempt.)
    fn needs_sense(&self, slot: u32) -> bool {
        let cmd = self.mid.slab.command(slot);
        let timed_out = matches!(
            cmd.state,
            State::InEh {
                timed_out: true,
                ..
            }
        );
        !timed_out
            && !self.mid.slab.sense(slot).is_valid()
            && cmd.result.status() == SamStatus::CHECK_CONDITION
    }

    fn wants_start_unit(&self, slot: u32) -> bool {
        let cmd = self.mid.slab.command(slot);
        let sense = self.mid.slab.sense(slot);
        wants_start_unit(cmd, sense, &self.mid.device_view(cmd.device))
    }

    fn step_tried(&self, device: DeviceId, step: EhStep) -> bool {
        let done = self.mid.devices[device.0 as usize].eh_done;
        match step {
            EhStep::GetSense => done.get_sense,
            EhStep::StartUnit => done.start_unit,
            EhStep::Reset(ResetKind::Lun) => done.lun_reset,
            EhStep::Reset(ResetKind::Target) => done.target_reset,
            _ => false,
        }
    }

    fn can_reset(&self, host: HostId, kind: ResetKind) -> bool {
        self.mid.can_reset(host, kind)
    }

    fn same_reset_domain(&self, origin: DeviceId, kind: ResetKind, device: DeviceId) -> bool {
        self.mid.in_reset_domain(origin, kind, device)
    }

    fn online(&self, device: DeviceId) -> bool {
        self.mid.devices[device.0 as usize].state.is_online()
    }

    fn allow_restart(&self, device: DeviceId) -> bool {
        self.mid.devices[device.0 as usize].config.allow_restart
    }

    fn past_deadline(&self, host: HostId) -> bool {
        self.mid.past_deadline(self.now, host)
    }

    fn skip_settle(&self, host: HostId) -> bool {
        self.mid.hosts[host.0 as usize].config.skip_settle_delay
    }

    fn host_devices(&self, host: HostId) -> &[DeviceId] {
        &self.mid.hosts[host.0 as usize].devices
    }
}

impl MidLayer {
    pub(crate) fn eh_view(&self, now: Instant) -> View<'_> {
        View { mid: self, now }
    }

    /// Applies the run's decisions until it waits for an answer (then it is parked in
    /// `eh_runs`) or is over.
    pub(crate) fn eh_drive(&mut self, now: Instant, mut run: EhRun) {
        for _ in 0..MAX_DECISIONS_PER_DRIVE {
            let next = run.next(&self.eh_view(now));
            match next {
                EhNext::Decide(decision) => self.eh_apply(now, &mut run, decision),
                EhNext::Wait => {
                    self.eh_runs.push(run);
                    return;
                }
                EhNext::Finished => return self.eh_finish(now, run),
            }
        }
        panic!(
            "error handler run {} did not settle in {MAX_DECISIONS_PER_DRIVE} decisions",
            run.epoch
        );
    }

    fn eh_apply(&mut self, now: Instant, run: &mut EhRun, decision: EhDecision) {
        let host = run.host();
        match decision {
            EhDecision::Step(step) => {
                let scope = run.scope;
                self.trace(now, || TraceEvent::EhStep {
                    host,
                    scope,
                    step: step.name(),
                });
            }
            EhDecision::TakeHost => {
                if self.go_host_wide(now, host) {
                    run.wait_quiesce();
                }
            }
            EhDecision::ResetSkipped { device, kind } => {
                self.trace(now, || TraceEvent::ResetSkipped { device, kind })
            }
            EhDecision::SendCommand {
                device,
                command,
                carrier,
            } => {
                let tag = self.send_eh_command(now, device, command, carrier);
                run.command_sent(tag);
            }
            EhDecision::SendReset {
                kind,
                device,
                carrier,
            } => {
                let op = self.send_reset(now, run, kind, device, carrier);
                run.reset_sent(op);
            }
            EhDecision::Settle => {
                let timer = RareTimer::EhSettle {
                    host: host.0,
                    epoch: run.epoch,
                };
                self.rare_timers.arm(now + SETTLE, timer);
            }
            EhDecision::ReportReset { devices, .. } => {
                for device in devices {
                    let dev = &mut self.devices[device.0 as usize];
                    dev.was_reset = true;
                    dev.expecting_cc_ua = true;
                }
            }
            EhDecision::Release { slots } => {
                for slot in slots {
                    let released = self.slab.command(slot).state.released();
                    self.set_state(slot, released);
                }
            }
            EhDecision::Redecide { slot } => {
                let decision = self.decide(now, slot);
                if decision.disposition == Disposition::Success {
                    // Finished with its sense: no retry is left for it.
                    let cmd = self.slab.command_mut(slot);
                    if cmd.allowed == RETRIES_NO_LIMIT {
                        cmd.allowed = 1;
                        cmd.retries = 1;
                    } else {
                        cmd.retries = cmd.allowed;
                    }
                }
                run.sense_decided(slot, decision.disposition);
            }
            EhDecision::DeviceReady {
                slots,
                sd_eh_action,
                ..
            } => {
                for slot in slots {
                    if sd_eh_action {
                        self.eh_action(now, slot);
                    }
                    // After START UNIT (no reset) a timed-out command whose abort failed is
                    // still the transport's: the core drops it before finishing.
                    self.revoke_if_owned(now, slot);
                }
            }
            EhDecision::Offline { device, slots } => {
                self.set_device_state_internal(now, device, DeviceState::Offline);
                self.trace(now, || TraceEvent::DeviceOfflined { device });
                for slot in slots {
                    self.revoke_if_owned(now, slot);
                }
            }
        }
    }

    pub(crate) fn can_reset(&self, host: HostId, kind: ResetKind) -> bool {
        let capabilities = self.hosts[host.0 as usize].config.capabilities;
        match kind {
            ResetKind::Lun => capabilities.lun_reset,
            ResetKind::Target => capabilities.target_reset,
            ResetKind::Bus => capabilities.bus_reset,
            ResetKind::Host => capabilities.host_reset,
        }
    }

    /// Commands are grouped per reset: the device, its target id (the channel is not
    /// considered, as in the kernel), its channel, or the whole host.
    fn reset_domain_key(&self, device: DeviceId, kind: ResetKind) -> (u32, u32) {
        let dev = &self.devices[device.0 as usize];
        match kind {
            ResetKind::Lun => (0, device.0),
            ResetKind::Target => (1, dev.hctl.target),
            ResetKind::Bus => (2, dev.hctl.channel),
            ResetKind::Host => (3, 0),
        }
    }

    /// `device` lies in the reset domain of `origin`.
    pub(crate) fn in_reset_domain(
        &self,
        origin: DeviceId,
        kind: ResetKind,
        device: DeviceId,
    ) -> bool {
        self.host_of(origin) == self.host_of(device)
            && self.reset_domain_key(origin, kind) == self.reset_domain_key(device, kind)
    }

    fn send_reset(
        &mut self,
        now: Instant,
        run: &EhRun,
        kind: ResetKind,
        device: DeviceId,
        carrier: u32,
    ) -> TmfOp {
        let for_tag = self.slab.tag(carrier);
        let cdb = self.slab.command(carrier).request.cdb;
        let host = run.host();
        let op = self.new_tmf(
            now,
            host,
            TmfPurpose::EhReset {
                host,
                epoch: run.epoch,
            },
        );
        self.emit_reset(now, op, kind, device, cdb, for_tag, false);
        op
    }

    /// `scsi_send_eh_cmnd`: an own tag, `eh_timeout`, never completed upward. The failed
    /// command it is sent for (`carrier`) lends its tag to the log lines and its sense
    /// buffer, which is cleared now and receives the answer's sense (the kernel's
    /// `scsi_eh_prep_cmnd` zeroes it and does not restore it).
    fn send_eh_command(
        &mut self,
        now: Instant,
        device: DeviceId,
        command: EhCommand,
        carrier: u32,
    ) -> Tag {
        let for_tag = self.slab.tag(carrier);
        self.slab.clear_sense(carrier);
        let dev = &self.devices[device.0 as usize];
        let timeout = dev.config.eh_timeout;
        let cdb = command.cdb();
        let mut request = Request::new(cdb, u64::MAX);
        request.data_len = if command == EhCommand::RequestSense {
            96
        } else {
            0
        };
        request.timeout = Some(timeout);
        let mut eh_command =
            Command::new(request, device, CommandKind::Eh(command), 0, timeout, now);
        // Created sent: an EH command never waits in a queue and is never counted busy.
        eh_command.state = State::InFlight { aborted: false };
        eh_command.attempts = 1;
        eh_command.eh_carrier = carrier;
        let tag = self.slab.insert(eh_command);
        self.rare_timers.arm(
            now + timeout,
            RareTimer::EhCommand {
                slot: tag.slot,
                generation: tag.generation,
            },
        );
        self.stats.eh_commands += 1;
        self.actions.push_back(Action::SendEhCommand {
            tag,
            device,
            command,
            cdb,
            timeout,
        });
        self.trace(now, || TraceEvent::EhCommandSent {
            device,
            tag,
            command,
            for_tag,
        });
        tag
    }

    /// The core gives up waiting for the transport: it must drop the command now.
    pub(crate) fn revoke_if_owned(&mut self, _now: Instant, slot: u32) {
        let tag: Tag = self.slab.tag(slot);
        let cmd = self.slab.command(slot);
        if cmd.owned() {
            let (device, released) = (cmd.device, cmd.state.released());
            self.set_state(slot, released);
            self.actions.push_back(Action::Revoke { tag, device });
        }
    }

    /// sd's `eh_action`: a medium-access command that timed out and whose device passed
    /// TUR counts against `max_medium_access_timeouts`; at the limit the disk is offlined
    /// ("Medium access timeout failure. Offlining disk!"). Always SUCCESS.
    fn eh_action(&mut self, now: Instant, slot: u32) {
        let tag = self.slab.tag(slot);
        let cmd = self.slab.command(slot);
        let device = cmd.device;
        let dev = &mut self.devices[device.0 as usize];
        let timed_out = cmd.result.host() == HostByte::DID_TIME_OUT;
        let medium = unjam_scsi::cdb::is_medium_access(cmd.request.cdb.as_slice())
            && !cmd.request.passthrough;
        if !dev.state.is_online() || !medium || !timed_out {
            return;
        }
        if !dev.ignore_medium_access_errors {
            dev.medium_access_timed_out += 1;
            dev.ignore_medium_access_errors = true;
        }
        if dev.medium_access_timed_out >= dev.config.max_medium_access_timeouts {
            self.trace(now, || TraceEvent::MediumAccessOffline { device, tag });
            self.set_device_state_internal(now, device, DeviceState::Offline);
        }
    }
}

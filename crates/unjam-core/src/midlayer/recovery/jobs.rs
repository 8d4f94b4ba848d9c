//! Planning a ladder step into jobs, and starting a job (sending the EH command or the
//! reset it needs). Answers are handled in `results.rs`.

use std::collections::VecDeque;
use std::time::Duration;

use unjam_scsi::SamStatus;

use crate::action::Action;
use crate::command::{Command, CommandKind};
use crate::disposition::{check_sense, SenseVerdict};
use crate::eh::{EhJob, EhRun, EhStep, EhWait, TestStage};
use crate::ids::DeviceId;
use crate::ids::{EhCommand, ResetKind, Tag};
use crate::lifecycle::State;
use crate::midlayer::{MidLayer, TmfPurpose};
use crate::request::Request;
use crate::time::Instant;
use crate::timers::RareTimer;
use crate::trace::TraceEvent;

/// Settle time after a bus or host reset (`BUS_RESET_SETTLE_TIME`, `HOST_RESET_SETTLE_TIME`).
const SETTLE: Duration = Duration::from_secs(10);

/// `scsi_eh_stu`'s test: START UNIT is allowed and the command's sense asks for it
/// (check_sense FAILED, i.e. 04/02 with `allow_restart`).
fn wants_start_unit(cmd: &Command, view: &crate::disposition::DeviceView) -> bool {
    view.allow_restart
        && cmd.sense.is_valid()
        && matches!(
            check_sense(&cmd.sense, cmd.request.cdb.opcode(), false, view),
            SenseVerdict {
                disposition: unjam_scsi::Disposition::Failed,
                ..
            }
        )
}

impl MidLayer {
    /// The jobs of `step` for the commands still in `run.work`.
    pub(crate) fn eh_plan_step(&self, run: &EhRun, step: EhStep) -> VecDeque<EhJob> {
        let mut jobs = VecDeque::new();
        match step {
            EhStep::GetSense => {
                for slot in &run.work {
                    if self.needs_sense(*slot) && !self.tried(*slot, |d| d.get_sense) {
                        jobs.push_back(EhJob::RequestSense { slot: *slot });
                    }
                }
            }
            EhStep::StartUnit => {
                for device in self.work_devices(run) {
                    if self.wants_start_unit(run, device)
                        && !self.devices[device.0 as usize].eh_done.start_unit
                    {
                        jobs.push_back(EhJob::StartUnit { device, tries: 0 });
                    }
                }
            }
            EhStep::Reset(kind) if self.can_reset(run, kind) => {
                let mut seen: Vec<(u32, u32)> = Vec::new();
                for device in self.work_devices(run) {
                    let done = self.devices[device.0 as usize].eh_done;
                    let tried = match kind {
                        ResetKind::Lun => done.lun_reset,
                        ResetKind::Target => done.target_reset,
                        _ => false,
                    };
                    if tried {
                        continue;
                    }
                    let key = self.reset_domain_key(device, kind);
                    if !seen.contains(&key) {
                        seen.push(key);
                        jobs.push_back(EhJob::Reset { kind, device });
                    }
                }
            }
            EhStep::Reset(_) => {}
            EhStep::Offline => {
                for device in self.work_devices(run) {
                    jobs.push_back(EhJob::Offline { device });
                }
            }
        }
        jobs
    }

    /// get_sense skips commands whose current attempt timed out, commands with valid
    /// sense, and statuses other than CHECK CONDITION. (The kernel tests
    /// ABORT_SCHEDULED, which after an abort-and-retry also skips a later CHECK CONDITION;
    /// unjam follows seed 002 §8 and skips only a timed-out attempt.)
    fn needs_sense(&self, slot: u32) -> bool {
        let cmd = self.slab.command(slot);
        let timed_out = matches!(
            cmd.state,
            State::InEh {
                timed_out: true,
                ..
            }
        );
        !timed_out && !cmd.sense.is_valid() && cmd.result.status() == SamStatus::CHECK_CONDITION
    }

    /// A smaller scope already tried this step for the command's device.
    fn tried(&self, slot: u32, step: impl Fn(&crate::topology::EhDone) -> bool) -> bool {
        self.slab
            .get(slot)
            .is_some_and(|cmd| step(&self.devices[cmd.device.0 as usize].eh_done))
    }

    fn wants_start_unit(&self, run: &EhRun, device: DeviceId) -> bool {
        let view = self.device_view(device);
        run.work.iter().any(|s| {
            let cmd = self.slab.command(*s);
            cmd.device == device && wants_start_unit(cmd, &view)
        })
    }

    pub(crate) fn can_reset(&self, run: &EhRun, kind: ResetKind) -> bool {
        let capabilities = self.hosts[run.host().0 as usize].config.capabilities;
        match kind {
            ResetKind::Lun => capabilities.lun_reset,
            ResetKind::Target => capabilities.target_reset,
            ResetKind::Bus => capabilities.bus_reset,
            ResetKind::Host => capabilities.host_reset,
        }
    }

    /// Devices with commands in `run.work`, in order of first appearance.
    pub(crate) fn work_devices(&self, run: &EhRun) -> Vec<DeviceId> {
        let mut devices = Vec::new();
        for cmd in run.work.iter().map(|s| self.slab.command(*s)) {
            if !devices.contains(&cmd.device) {
                devices.push(cmd.device);
            }
        }
        devices
    }

    /// Commands are grouped per reset: the device, its target id (the channel is not
    /// considered, as in the kernel), its channel, or the whole host.
    pub(crate) fn reset_domain_key(&self, device: DeviceId, kind: ResetKind) -> (u32, u32) {
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

    pub(crate) fn eh_start_job(&mut self, now: Instant, run: &mut EhRun, job: EhJob) {
        match job {
            EhJob::RequestSense { slot } => {
                // Planned for commands in the run's work; only its own answer finishes one.
                assert!(
                    run.work.contains(&slot),
                    "REQUEST SENSE for slot {slot} not in work"
                );
                let device = self.slab.command(slot).device;
                self.send_eh_command(now, run, device, EhCommand::RequestSense, job, slot);
            }
            EhJob::StartUnit { device, .. } => {
                let carrier = self.start_unit_carrier(run, device);
                self.send_eh_command(now, run, device, EhCommand::StartUnit, job, carrier)
            }
            EhJob::Reset { kind, device } => self.send_reset(now, run, kind, device),
            EhJob::Settle => {
                if self.hosts[run.host().0 as usize].config.skip_settle_delay {
                    return;
                }
                let timer = RareTimer::EhSettle {
                    host: run.host().0,
                    epoch: run.epoch,
                };
                self.rare_timers.arm(now + SETTLE, timer);
                run.waiting = EhWait::Settle;
            }
            EhJob::TestDevice { device, stage, .. } => {
                if !self.devices[device.0 as usize].state.is_online() {
                    return self.eh_device_ready(now, run, job, device);
                }
                let command = match stage {
                    TestStage::StartUnit { .. } => EhCommand::StartUnit,
                    TestStage::TestUnitReady { .. } => EhCommand::TestUnitReady,
                };
                let Some(carrier) = self.first_of_device(run, device) else {
                    panic!("device test of {device:?} with no command of it in the run");
                };
                self.send_eh_command(now, run, device, command, job, carrier);
            }
            EhJob::Offline { device } => self.eh_offline(now, run, device),
        }
    }

    fn send_reset(&mut self, now: Instant, run: &mut EhRun, kind: ResetKind, device: DeviceId) {
        let carrier = run
            .work
            .iter()
            .copied()
            .find(|s| self.in_reset_domain(device, kind, self.slab.command(*s).device));
        let Some(carrier) = carrier else {
            panic!("{kind:?} reset of {device:?} planned with no command of its domain");
        };
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
        run.waiting = EhWait::Tmf {
            op,
            job: EhJob::Reset { kind, device },
        };
    }

    /// The first command of `device` in the run's work (the one the kernel's ladder hands
    /// to TUR).
    fn first_of_device(&self, run: &EhRun, device: DeviceId) -> Option<u32> {
        run.work
            .iter()
            .copied()
            .find(|s| self.slab.command(*s).device == device)
    }

    /// `scsi_eh_stu`'s command: the first of the device whose sense asks for START UNIT.
    fn start_unit_carrier(&self, run: &EhRun, device: DeviceId) -> u32 {
        let view = self.device_view(device);
        let wants = |slot: &u32| {
            let cmd = self.slab.command(*slot);
            cmd.device == device && wants_start_unit(cmd, &view)
        };
        match run.work.iter().copied().find(wants) {
            Some(slot) => slot,
            None => panic!("START UNIT planned for {device:?} without a command asking for it"),
        }
    }

    /// `scsi_send_eh_cmnd`: an own tag, `eh_timeout`, never completed upward. The failed
    /// command it is sent for (`carrier`) lends its tag to the log lines and its sense
    /// buffer, which is cleared now and receives the answer's sense (the kernel's
    /// `scsi_eh_prep_cmnd` zeroes it and does not restore it).
    fn send_eh_command(
        &mut self,
        now: Instant,
        run: &mut EhRun,
        device: DeviceId,
        command: EhCommand,
        job: EhJob,
        carrier: u32,
    ) {
        let for_tag = self.slab.tag(carrier);
        self.slab.command_mut(carrier).sense.clear();
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
        run.waiting = EhWait::Command { tag, job };
    }

    /// `scsi_eh_offline_sdevs` for one device: offline it and give up its commands.
    fn eh_offline(&mut self, now: Instant, run: &mut EhRun, device: DeviceId) {
        self.set_device_state_internal(now, device, crate::state::DeviceState::Offline);
        self.trace(now, || TraceEvent::DeviceOfflined { device });
        let slots: Vec<u32> = run
            .work
            .iter()
            .copied()
            .filter(|s| self.slab.command(*s).device == device)
            .collect();
        for slot in slots {
            self.revoke_if_owned(now, slot);
            run.finish(slot);
        }
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
}

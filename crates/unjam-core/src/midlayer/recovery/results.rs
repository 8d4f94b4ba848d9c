//! Answers to the error handler's jobs: EH command completions and timeouts, reset
//! results, the settle timer; and what each answer means for the commands in the run
//! (§6.4: get_sense's verdict, TUR readiness, sd's `eh_action` medium-access rule).

use unjam_scsi::{Disposition, HostByte};

use crate::command::CommandKind;
use crate::disposition::{eh_completed_normally, RETRIES_NO_LIMIT};
use crate::eh::{EhJob, EhRun, EhWait, TestStage};
use crate::ids::{DeviceId, HostId};
use crate::ids::{ResetKind, Tag, TmfOp, TmfResult};
use crate::lifecycle::State;
use crate::midlayer::MidLayer;
use crate::request::TransportOutcome;
use crate::state::DeviceState;
use crate::time::Instant;
use crate::trace::TraceEvent;

impl MidLayer {
    /// An EH command completed (from `handle_transport_done`).
    pub(crate) fn eh_command_done(&mut self, now: Instant, tag: Tag, outcome: TransportOutcome) {
        let state = self.slab.command(tag.slot).state;
        if !matches!(state, State::Aborting { .. }) {
            return self.eh_command_answered(now, tag, outcome);
        }
        // Late: the escalation decides (FAILED); the transport has let go of it.
        self.set_state(tag.slot, state.released());
    }

    /// An EH command is over: its slot is freed (the run keeps its answer).
    pub(crate) fn remove_eh_command(&mut self, tag: Tag) -> crate::command::Command {
        self.set_state(tag.slot, State::Done);
        match self.slab.remove(tag.slot) {
            Some(cmd) => cmd,
            None => panic!("EH command {tag:?} vanished"),
        }
    }

    fn eh_command_answered(&mut self, now: Instant, tag: Tag, outcome: TransportOutcome) {
        let cmd = self.slab.command(tag.slot);
        let (device, opcode, carrier) = (cmd.device, cmd.request.cdb.opcode(), cmd.eh_carrier);
        let CommandKind::Eh(command) = cmd.kind else {
            panic!("EH answer for {tag:?}, which is not an EH command");
        };
        let verdict = eh_completed_normally(
            outcome.result,
            &outcome.sense,
            opcode,
            &self.device_view(device),
        );
        self.remove_eh_command(tag);
        self.slab.command_mut(carrier).sense = outcome.sense;
        let for_tag = self.slab.tag(carrier);
        self.apply_effects(now, device, for_tag, &verdict.effects);
        let (result, sense, disposition) = (outcome.result, outcome.sense, verdict.disposition);
        self.trace(now, || TraceEvent::EhCommandDone {
            device,
            tag,
            command,
            verdict: disposition,
            result,
            sense,
            for_tag,
        });
        self.eh_answer(
            now,
            |run| matches!(run.waiting, EhWait::Command { tag: t, .. } if t == tag),
            |this, run, job| this.eh_command_result(now, run, job, disposition, outcome),
        );
    }

    /// The transport refused an EH command: treated as FAILED.
    pub(crate) fn eh_command_refused(&mut self, now: Instant, tag: Tag) {
        self.remove_eh_command(tag);
        let outcome = TransportOutcome::host(HostByte::DID_ERROR);
        self.eh_answer(
            now,
            |run| matches!(run.waiting, EhWait::Command { tag: t, .. } if t == tag),
            |this, run, job| this.eh_command_result(now, run, job, Disposition::Failed, outcome),
        );
        self.run_pending(now);
    }

    pub(crate) fn eh_reset_done(
        &mut self,
        now: Instant,
        _host: HostId,
        epoch: u32,
        op: TmfOp,
        result: TmfResult,
    ) {
        self.eh_answer(
            now,
            |run| run.epoch == epoch && matches!(run.waiting, EhWait::Tmf { op: o, .. } if o == op),
            |this, run, job| {
                if let EhJob::Reset { kind, device } = job {
                    let for_tag = this.reset_carrier(run, kind, device);
                    this.trace(now, || TraceEvent::ResetDone {
                        device,
                        kind,
                        result,
                        for_tag,
                        escalation: false,
                    });
                    this.eh_reset_result(now, run, kind, device, result);
                }
            },
        );
    }

    pub(crate) fn eh_settled(&mut self, now: Instant, _host: HostId, epoch: u32) {
        let Some(mut run) =
            self.eh_resume(|run| run.epoch == epoch && run.waiting == EhWait::Settle)
        else {
            panic!("settle timer of run {epoch} with no run settling");
        };
        run.waiting = EhWait::Nothing;
        self.eh_advance(now, run);
    }

    /// Takes the parked run whose wait `matches`, runs `handle` with the job it waited
    /// for, and advances the run.
    pub(crate) fn eh_answer(
        &mut self,
        now: Instant,
        matches: impl Fn(&EhRun) -> bool,
        handle: impl FnOnce(&mut MidLayer, &mut EhRun, EhJob),
    ) {
        // Every EH command and reset is sent by a run that parks waiting for its answer.
        let Some(mut run) = self.eh_resume(matches) else {
            panic!("an error-handler answer with no run waiting for it");
        };
        let (EhWait::Command { job, .. } | EhWait::Tmf { job, .. }) = run.waiting else {
            panic!(
                "an error-handler answer for a run waiting for {:?}",
                run.waiting
            );
        };
        run.waiting = EhWait::Nothing;
        handle(self, &mut run, job);
        self.eh_advance(now, run);
    }

    pub(crate) fn eh_command_result(
        &mut self,
        now: Instant,
        run: &mut EhRun,
        job: EhJob,
        verdict: Disposition,
        outcome: TransportOutcome,
    ) {
        match job {
            EhJob::RequestSense { slot } => self.eh_sense_fetched(now, run, slot, verdict, outcome),
            EhJob::StartUnit { device, tries } => match verdict {
                Disposition::NeedsRetry if tries < 1 => run.jobs.push_front(EhJob::StartUnit {
                    device,
                    tries: tries + 1,
                }),
                Disposition::Success => run.jobs.push_front(EhJob::TestDevice {
                    device,
                    try_stu: false,
                    stage: TestStage::TUR,
                }),
                _ => {}
            },
            EhJob::TestDevice {
                device,
                try_stu,
                stage,
            } => self.eh_test_result(now, run, device, try_stu, stage, verdict),
            _ => {}
        }
    }

    /// `scsi_eh_get_sense` after REQUEST SENSE: decide again with the sense.
    fn eh_sense_fetched(
        &mut self,
        now: Instant,
        run: &mut EhRun,
        slot: u32,
        verdict: Disposition,
        outcome: TransportOutcome,
    ) {
        // The answer is already in the command's sense buffer (eh_command_answered).
        let _ = outcome;
        if verdict != Disposition::Success || !run.work.contains(&slot) {
            return;
        }
        let decision = self.decide(now, slot);
        let cmd = self.slab.command_mut(slot);
        match decision.disposition {
            Disposition::Success => {
                if cmd.allowed == RETRIES_NO_LIMIT {
                    cmd.allowed = 1;
                    cmd.retries = 1;
                } else {
                    cmd.retries = cmd.allowed;
                }
                run.finish(slot);
            }
            Disposition::NeedsRetry => run.finish(slot),
            _ => {}
        }
    }

    /// `scsi_eh_test_devices` for one device: the next test, or ready.
    fn eh_test_result(
        &mut self,
        now: Instant,
        run: &mut EhRun,
        device: DeviceId,
        try_stu: bool,
        stage: TestStage,
        verdict: Disposition,
    ) {
        use Disposition::{NeedsRetry, Success};
        let next = |stage| {
            Some(EhJob::TestDevice {
                device,
                try_stu,
                stage,
            })
        };
        let then = match (stage, verdict) {
            (TestStage::StartUnit { .. }, Success) => next(TestStage::TestUnitReady {
                tries: 0,
                second_chance: true,
            }),
            (TestStage::StartUnit { tries: 0 }, NeedsRetry) => {
                next(TestStage::StartUnit { tries: 1 })
            }
            // START UNIT failed: fall back to TUR alone.
            (TestStage::StartUnit { .. }, _) => next(TestStage::TUR),
            (
                TestStage::TestUnitReady {
                    tries: 0,
                    second_chance,
                },
                NeedsRetry,
            ) => next(TestStage::TestUnitReady {
                tries: 1,
                second_chance,
            }),
            (TestStage::TestUnitReady { .. }, Success | NeedsRetry) => {
                let job = EhJob::TestDevice {
                    device,
                    try_stu,
                    stage,
                };
                self.eh_device_ready(now, run, job, device);
                None
            }
            (
                TestStage::TestUnitReady {
                    second_chance: true,
                    ..
                },
                _,
            ) => next(TestStage::TUR),
            (TestStage::TestUnitReady { .. }, _) => None,
        };
        if let Some(job) = then {
            run.jobs.push_front(job);
        }
    }

    /// The command a ladder reset of `kind` at `device` is sent with: the first of its
    /// domain still in the run.
    pub(crate) fn reset_carrier(&self, run: &EhRun, kind: ResetKind, device: DeviceId) -> Tag {
        let slot = run
            .work
            .iter()
            .chain(run.done.iter())
            .copied()
            .find(|s| self.in_reset_domain(device, kind, self.slab.command(*s).device));
        match slot {
            Some(slot) => self.slab.tag(slot),
            None => panic!("{kind:?} reset of {device:?} answered with no command of its domain"),
        }
    }

    /// A reset answered. SUCCESS: the transport dropped every command in the domain; the
    /// devices expect a UNIT ATTENTION; test them. FAST_IO_FAIL: finish the domain's
    /// commands. FAILED: nothing (the next step tries harder).
    fn eh_reset_result(
        &mut self,
        _now: Instant,
        run: &mut EhRun,
        kind: ResetKind,
        origin: DeviceId,
        result: TmfResult,
    ) {
        if result == TmfResult::Failed {
            return;
        }
        let host = run.host();
        let devices: Vec<DeviceId> = self.hosts[host.0 as usize]
            .devices
            .iter()
            .copied()
            .filter(|d| kind == ResetKind::Host || self.in_reset_domain(origin, kind, *d))
            .collect();
        if result == TmfResult::Success {
            self.report_reset(kind, origin, &devices);
        }
        let slots = self.release_domain(run, &devices, result == TmfResult::FastIoFail);
        if result == TmfResult::Success {
            self.queue_device_tests(run, kind, &devices, &slots);
        }
    }

    /// Devices a reset reached expect a UNIT ATTENTION (`was_reset`, `expecting_cc_ua`). A
    /// host reset reports a bus reset on the first command's channel only, as the kernel.
    fn report_reset(&mut self, kind: ResetKind, origin: DeviceId, devices: &[DeviceId]) {
        let reported = if kind == ResetKind::Host {
            ResetKind::Bus
        } else {
            kind
        };
        for device in devices {
            if self.in_reset_domain(origin, reported, *device) {
                let dev = &mut self.devices[device.0 as usize];
                dev.was_reset = true;
                dev.expecting_cc_ua = true;
            }
        }
    }

    /// The transport dropped the domain's commands; with FAST_IO_FAIL they are finished.
    fn release_domain(&mut self, run: &mut EhRun, devices: &[DeviceId], finish: bool) -> Vec<u32> {
        let slots: Vec<u32> = run
            .work
            .iter()
            .copied()
            .filter(|s| devices.contains(&self.slab.command(*s).device))
            .collect();
        for slot in &slots {
            let released = self.slab.command(*slot).state.released();
            self.set_state(*slot, released);
            if finish {
                run.finish(*slot);
            }
        }
        slots
    }

    /// After a successful reset: settle (bus, host), then test each device that has work;
    /// a host reset tries START UNIT first (`scsi_eh_test_devices(try_stu = 1)`).
    fn queue_device_tests(
        &mut self,
        run: &mut EhRun,
        kind: ResetKind,
        devices: &[DeviceId],
        slots: &[u32],
    ) {
        let try_stu = kind == ResetKind::Host;
        let mut tests: Vec<EhJob> = Vec::new();
        for device in devices.iter().copied() {
            if !slots.iter().any(|s| self.slab.command(*s).device == device) {
                continue;
            }
            let start_unit = try_stu && self.devices[device.0 as usize].config.allow_restart;
            let stage = if start_unit {
                TestStage::StartUnit { tries: 0 }
            } else {
                TestStage::TUR
            };
            tests.push(EhJob::TestDevice {
                device,
                try_stu,
                stage,
            });
        }
        for job in tests.into_iter().rev() {
            run.jobs.push_front(job);
        }
        if matches!(kind, ResetKind::Bus | ResetKind::Host) {
            run.jobs.push_front(EhJob::Settle);
        }
    }

    /// The device is ready (or offline): finish its commands (`scsi_eh_test_devices`).
    pub(crate) fn eh_device_ready(
        &mut self,
        now: Instant,
        run: &mut EhRun,
        job: EhJob,
        device: DeviceId,
    ) {
        let try_stu = matches!(job, EhJob::TestDevice { try_stu: true, .. });
        let slots: Vec<u32> = run
            .work
            .iter()
            .copied()
            .filter(|s| self.slab.command(*s).device == device)
            .collect();
        for slot in slots {
            if try_stu || self.eh_action(now, slot) == Disposition::Success {
                // After START UNIT (no reset) a timed-out command whose abort failed is
                // still the transport's: the core drops it before finishing.
                self.revoke_if_owned(now, slot);
                run.finish(slot);
            }
        }
    }

    /// sd's `eh_action`: a medium-access command that timed out and whose device passed
    /// TUR counts against `max_medium_access_timeouts`; at the limit the disk is offlined
    /// ("Medium access timeout failure. Offlining disk!"). Always SUCCESS.
    fn eh_action(&mut self, now: Instant, slot: u32) -> Disposition {
        let tag = self.slab.tag(slot);
        let cmd = self.slab.command(slot);
        let device = cmd.device;
        let dev = &mut self.devices[device.0 as usize];
        let timed_out = cmd.result.host() == HostByte::DID_TIME_OUT;
        let medium = unjam_scsi::cdb::is_medium_access(cmd.request.cdb.as_slice())
            && !cmd.request.passthrough;
        if !dev.state.is_online() || !medium || !timed_out {
            return Disposition::Success;
        }
        if !dev.ignore_medium_access_errors {
            dev.medium_access_timed_out += 1;
            dev.ignore_medium_access_errors = true;
        }
        if dev.medium_access_timed_out >= dev.config.max_medium_access_timeouts {
            self.trace(now, || TraceEvent::MediumAccessOffline { device, tag });
            self.set_device_state_internal(now, device, DeviceState::Offline);
        }
        Disposition::Success
    }
}

//! The error handler as a component (spec §6.4, issue 9): one run walks its ladder over the
//! commands in its work queue. It is sans-I/O and owns no mid-layer state: it reads what it
//! needs through [`EhView`] and returns [`EhDecision`]s, one per call of [`EhRun::next`];
//! `MidLayer` applies each (sends, traces, state changes) in `midlayer/recovery/apply.rs`
//! and feeds the answers back (`command_sent`, `reset_sent`, `command_answered`,
//! `reset_answered`, `sense_decided`, `settled`, `quiesced`).
//!
//! What it owns: the order of steps and jobs, which command carries a job, when a command
//! moves from work to done, when the run waits and when it is over. What it must not do:
//! touch a command's state, a device's state or counters, send anything or read a clock;
//! those are decisions.

use unjam_scsi::Disposition;

use super::{EhJob, EhRun, EhScope, EhStep, EhWait, TestStage};
use crate::ids::{DeviceId, EhCommand, HostId, ResetKind, Tag, TmfOp, TmfResult};

/// What the handler reads of the mid-layer at the instant it is driven.
pub(crate) trait EhView {
    /// The device of a command in the run.
    fn device_of(&self, slot: u32) -> DeviceId;
    /// get_sense applies: CHECK CONDITION without sense, and the attempt did not time out.
    fn needs_sense(&self, slot: u32) -> bool;
    /// `scsi_eh_stu`'s test: START UNIT is allowed and the command's sense asks for it.
    fn wants_start_unit(&self, slot: u32) -> bool;
    /// A smaller scope already tried `step` for the device (the RFC's `*_done` flags).
    fn step_tried(&self, device: DeviceId, step: EhStep) -> bool;
    /// The host's transport can send a reset of `kind`.
    fn can_reset(&self, host: HostId, kind: ResetKind) -> bool;
    /// `device` lies in the reset domain of `origin` (same device, target id, channel or
    /// host).
    fn same_reset_domain(&self, origin: DeviceId, kind: ResetKind, device: DeviceId) -> bool;
    fn online(&self, device: DeviceId) -> bool;
    fn allow_restart(&self, device: DeviceId) -> bool;
    /// §6.7: the host's eh_deadline has passed.
    fn past_deadline(&self, host: HostId) -> bool;
    fn skip_settle(&self, host: HostId) -> bool;
    /// Every device of the host, in order.
    fn host_devices(&self, host: HostId) -> &[DeviceId];
}

/// One thing for the mid-layer to do.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum EhDecision {
    /// A ladder step with work begins (trace).
    Step(EhStep),
    /// Before a bus or host reset: the whole host stops. If busy commands remain, the
    /// mid-layer answers `wait_quiesce` and later `quiesced`.
    TakeHost,
    /// The step's reset is not in the transport's capabilities (trace).
    ResetSkipped { device: DeviceId, kind: ResetKind },
    /// Send an EH command for the failed command `carrier`; answer `command_sent(tag)`.
    SendCommand {
        device: DeviceId,
        command: EhCommand,
        carrier: u32,
    },
    /// Send a reset with the failed command `carrier`; answer `reset_sent(op)`.
    SendReset {
        kind: ResetKind,
        device: DeviceId,
        carrier: u32,
    },
    /// Arm the settle timer (`BUS_RESET_SETTLE_TIME`, `HOST_RESET_SETTLE_TIME`); answer
    /// `settled` when it fires.
    Settle,
    /// A reset succeeded: the devices it reached expect a UNIT ATTENTION.
    ReportReset {
        kind: ResetKind,
        origin: DeviceId,
        devices: Vec<DeviceId>,
    },
    /// A reset covering these commands answered: the transport let go of them.
    Release { slots: Vec<u32> },
    /// REQUEST SENSE filled the command's sense: decide again and answer `sense_decided`.
    Redecide { slot: u32 },
    /// The device passed its test (or is offline): its commands are done; with
    /// `sd_eh_action`, sd's medium-access rule judges each first. A command the transport
    /// still holds is revoked.
    DeviceReady {
        device: DeviceId,
        slots: Vec<u32>,
        sd_eh_action: bool,
    },
    /// `scsi_eh_offline_sdevs`: offline the device and give up its commands.
    Offline { device: DeviceId, slots: Vec<u32> },
}

/// What [`EhRun::next`] returns.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum EhNext {
    Decide(EhDecision),
    /// Park the run until the answer it waits for.
    Wait,
    /// The ladder is over (or the deadline passed in a smaller scope): end the run.
    Finished,
}

/// The escalation of a timed-out EH command (`scsi_abort_eh_cmnd`): abort (`None`), then
/// resets from the smallest domain up.
pub(crate) const ESCALATION: [Option<ResetKind>; 5] = [
    None,
    Some(ResetKind::Lun),
    Some(ResetKind::Target),
    Some(ResetKind::Bus),
    Some(ResetKind::Host),
];

/// The first escalation step from `from` on that the transport allows and the run's scope
/// (`scope_level`, see `scope_level`) reaches: its index and what to send. `None`: the
/// escalation is over and the EH command failed.
pub(crate) fn escalation_step(
    from: u8,
    scope_level: u8,
    allowed: impl Fn(Option<ResetKind>) -> bool,
) -> Option<(u8, Option<ResetKind>)> {
    ESCALATION
        .iter()
        .enumerate()
        .skip(from as usize)
        .find(|(_, step)| {
            let level = match step {
                None | Some(ResetKind::Lun) => 0,
                Some(ResetKind::Target) => 1,
                Some(ResetKind::Bus | ResetKind::Host) => 2,
            };
            allowed(**step) && level <= scope_level
        })
        .map(|(index, step)| (index as u8, *step))
}

/// Bound on the loop of one `next` call: each turn starts a job or a step, and a run has at
/// most a few jobs per device per step.
const MAX_TURNS_PER_NEXT: usize = 10_000;

impl EhRun {
    /// The next decision, or why there is none.
    pub(crate) fn next(&mut self, view: &impl EhView) -> EhNext {
        for _ in 0..MAX_TURNS_PER_NEXT {
            if let Some(decision) = self.out.pop_front() {
                return EhNext::Decide(decision);
            }
            if self.waiting != EhWait::Nothing {
                return EhNext::Wait;
            }
            if let Some(job) = self.jobs.pop_front() {
                self.start_job(job, view);
                continue;
            }
            let Some(step) = self
                .steps
                .get(self.next_step)
                .copied()
                .filter(|_| !self.work.is_empty())
            else {
                return EhNext::Finished;
            };
            self.next_step += 1;
            let past_deadline = view.past_deadline(self.host);
            if past_deadline && !matches!(self.scope, EhScope::Host(_)) {
                // §6.7 past the deadline: straight to the host scope's host reset.
                return EhNext::Finished;
            }
            if past_deadline && !matches!(step, EhStep::Reset(ResetKind::Host) | EhStep::Offline) {
                continue;
            }
            self.jobs = self.plan_step(step, view);
            if !self.jobs.is_empty() {
                self.out.push_back(EhDecision::Step(step));
                if matches!(step, EhStep::Reset(ResetKind::Bus | ResetKind::Host)) {
                    self.out.push_back(EhDecision::TakeHost);
                }
            } else if let (EhStep::Reset(kind), Some(device)) =
                (step, self.work_devices(view).first().copied())
            {
                if !view.can_reset(self.host, kind) {
                    self.out
                        .push_back(EhDecision::ResetSkipped { device, kind });
                }
            }
        }
        panic!(
            "error handler run {} did not settle in {MAX_TURNS_PER_NEXT} turns",
            self.epoch
        );
    }

    /// The EH command of the `SendCommand` just returned went out as `tag`.
    pub(crate) fn command_sent(&mut self, tag: Tag) {
        let EhWait::Unsent { job } = self.waiting else {
            panic!(
                "EH command {tag:?} sent while the run waits for {:?}",
                self.waiting
            );
        };
        self.waiting = EhWait::Command { tag, job };
    }

    /// The reset of the `SendReset` just returned went out as `op`.
    pub(crate) fn reset_sent(&mut self, op: TmfOp) {
        let EhWait::Unsent { job } = self.waiting else {
            panic!(
                "reset {op:?} sent while the run waits for {:?}",
                self.waiting
            );
        };
        self.waiting = EhWait::Tmf { op, job };
    }

    /// After `TakeHost`: busy commands of the host remain; wait for them to fail.
    pub(crate) fn wait_quiesce(&mut self) {
        assert_eq!(self.waiting, EhWait::Nothing, "quiesce while waiting");
        self.waiting = EhWait::Quiesce;
    }

    pub(crate) fn quiesced(&mut self) {
        assert_eq!(self.waiting, EhWait::Quiesce, "quiesced without waiting");
        self.waiting = EhWait::Nothing;
    }

    pub(crate) fn settled(&mut self) {
        assert_eq!(self.waiting, EhWait::Settle, "settled without settling");
        self.waiting = EhWait::Nothing;
    }

    fn answered(&mut self) -> EhJob {
        let (EhWait::Command { job, .. } | EhWait::Tmf { job, .. }) = self.waiting else {
            panic!(
                "an error-handler answer for a run waiting for {:?}",
                self.waiting
            );
        };
        self.waiting = EhWait::Nothing;
        job
    }

    /// The EH command the run waits for answered with `verdict` (FAILED when it timed out
    /// or was refused).
    pub(crate) fn command_answered(&mut self, verdict: Disposition, view: &impl EhView) {
        use Disposition::{NeedsRetry, Success};
        match self.answered() {
            EhJob::RequestSense { slot } => {
                if verdict == Success && self.work.contains(&slot) {
                    self.out.push_back(EhDecision::Redecide { slot });
                    self.waiting = EhWait::Redecide { slot };
                }
            }
            // `scsi_eh_stu`: once more while NEEDS_RETRY, then TUR after a success.
            EhJob::StartUnit { device, tries } => match verdict {
                NeedsRetry if tries < 1 => self.jobs.push_front(EhJob::StartUnit {
                    device,
                    tries: tries + 1,
                }),
                Success => self.jobs.push_front(EhJob::TestDevice {
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
            } => self.test_result(device, try_stu, stage, verdict, view),
            job => panic!("EH command answer for job {job:?}"),
        }
    }

    /// REQUEST SENSE's command decided again (`scsi_eh_get_sense`): SUCCESS or NEEDS_RETRY
    /// means it is done (the mid-layer used up its retries for SUCCESS).
    pub(crate) fn sense_decided(&mut self, slot: u32, disposition: Disposition) {
        assert_eq!(
            self.waiting,
            EhWait::Redecide { slot },
            "sense_decided without a Redecide"
        );
        self.waiting = EhWait::Nothing;
        if matches!(disposition, Disposition::Success | Disposition::NeedsRetry) {
            self.finish(slot);
        }
    }

    /// The reset the run waits for answered. SUCCESS: the devices it reached expect a UNIT
    /// ATTENTION, the transport dropped their commands; test them (after the settle for a
    /// bus or host reset). FAST_IO_FAIL: their commands are done. FAILED: the next step
    /// tries harder.
    pub(crate) fn reset_answered(&mut self, result: TmfResult, view: &impl EhView) {
        let EhJob::Reset { kind, device } = self.answered() else {
            panic!("reset answer for a run not waiting for a reset");
        };
        if result == TmfResult::Failed {
            return;
        }
        let devices: Vec<DeviceId> = view
            .host_devices(self.host)
            .iter()
            .copied()
            .filter(|d| kind == ResetKind::Host || view.same_reset_domain(device, kind, *d))
            .collect();
        let slots: Vec<u32> = self
            .work
            .iter()
            .copied()
            .filter(|s| devices.contains(&view.device_of(*s)))
            .collect();
        if result == TmfResult::Success {
            // A host reset reports a bus reset on the first command's channel only.
            let reported = if kind == ResetKind::Host {
                ResetKind::Bus
            } else {
                kind
            };
            let reached = devices
                .iter()
                .copied()
                .filter(|d| view.same_reset_domain(device, reported, *d))
                .collect();
            self.out.push_back(EhDecision::ReportReset {
                kind,
                origin: device,
                devices: reached,
            });
        }
        self.out.push_back(EhDecision::Release {
            slots: slots.clone(),
        });
        match result {
            TmfResult::FastIoFail => slots.iter().for_each(|s| self.finish(*s)),
            TmfResult::Success => self.queue_device_tests(kind, &devices, &slots, view),
            TmfResult::Failed => {}
        }
    }

    /// The command a ladder reset of `kind` at `device` was sent with: the first of its
    /// domain still in the run.
    pub(crate) fn reset_carrier(
        &self,
        kind: ResetKind,
        device: DeviceId,
        view: &impl EhView,
    ) -> u32 {
        let slot = self
            .work
            .iter()
            .chain(self.done.iter())
            .copied()
            .find(|s| view.same_reset_domain(device, kind, view.device_of(*s)));
        match slot {
            Some(slot) => slot,
            None => panic!("{kind:?} reset of {device:?} answered with no command of its domain"),
        }
    }

    /// The jobs of `step` for the commands still in the work queue.
    fn plan_step(&self, step: EhStep, view: &impl EhView) -> std::collections::VecDeque<EhJob> {
        let mut jobs = std::collections::VecDeque::new();
        match step {
            EhStep::GetSense => {
                for slot in &self.work {
                    if view.needs_sense(*slot)
                        && !view.step_tried(view.device_of(*slot), EhStep::GetSense)
                    {
                        jobs.push_back(EhJob::RequestSense { slot: *slot });
                    }
                }
            }
            EhStep::StartUnit => {
                for device in self.work_devices(view) {
                    let wants = self
                        .work
                        .iter()
                        .any(|s| view.device_of(*s) == device && view.wants_start_unit(*s));
                    if wants && !view.step_tried(device, EhStep::StartUnit) {
                        jobs.push_back(EhJob::StartUnit { device, tries: 0 });
                    }
                }
            }
            EhStep::Reset(kind) if view.can_reset(self.host, kind) => {
                for device in self.work_devices(view) {
                    if view.step_tried(device, step) {
                        continue;
                    }
                    let covered = jobs.iter().any(|job| {
                        matches!(job, EhJob::Reset { device: origin, .. }
                            if view.same_reset_domain(*origin, kind, device))
                    });
                    if !covered {
                        jobs.push_back(EhJob::Reset { kind, device });
                    }
                }
            }
            EhStep::Reset(_) => {}
            EhStep::Offline => {
                for device in self.work_devices(view) {
                    jobs.push_back(EhJob::Offline { device });
                }
            }
        }
        jobs
    }

    /// Devices with commands in the work queue, in order of first appearance.
    fn work_devices(&self, view: &impl EhView) -> Vec<DeviceId> {
        let mut devices = Vec::new();
        for device in self.work.iter().map(|s| view.device_of(*s)) {
            if !devices.contains(&device) {
                devices.push(device);
            }
        }
        devices
    }

    fn slots_of(&self, device: DeviceId, view: &impl EhView) -> Vec<u32> {
        self.work
            .iter()
            .copied()
            .filter(|s| view.device_of(*s) == device)
            .collect()
    }

    fn send(&mut self, job: EhJob, decision: EhDecision) {
        self.out.push_back(decision);
        self.waiting = EhWait::Unsent { job };
    }

    fn start_job(&mut self, job: EhJob, view: &impl EhView) {
        match job {
            EhJob::RequestSense { slot } => {
                // Planned for commands in the work queue; only its own answer finishes one.
                assert!(
                    self.work.contains(&slot),
                    "REQUEST SENSE for slot {slot} not in work"
                );
                let device = view.device_of(slot);
                let command = EhCommand::RequestSense;
                self.send(
                    job,
                    EhDecision::SendCommand {
                        device,
                        command,
                        carrier: slot,
                    },
                );
            }
            EhJob::StartUnit { device, .. } => {
                // `scsi_eh_stu`'s command: the first of the device whose sense asks for it.
                let carrier = self
                    .work
                    .iter()
                    .copied()
                    .find(|s| view.device_of(*s) == device && view.wants_start_unit(*s));
                let Some(carrier) = carrier else {
                    panic!("START UNIT planned for {device:?} without a command asking for it");
                };
                let command = EhCommand::StartUnit;
                self.send(
                    job,
                    EhDecision::SendCommand {
                        device,
                        command,
                        carrier,
                    },
                );
            }
            EhJob::Reset { kind, device } => {
                let carrier = self
                    .work
                    .iter()
                    .copied()
                    .find(|s| view.same_reset_domain(device, kind, view.device_of(*s)));
                let Some(carrier) = carrier else {
                    panic!("{kind:?} reset of {device:?} planned with no command of its domain");
                };
                self.send(
                    job,
                    EhDecision::SendReset {
                        kind,
                        device,
                        carrier,
                    },
                );
            }
            EhJob::Settle => {
                if !view.skip_settle(self.host) {
                    self.out.push_back(EhDecision::Settle);
                    self.waiting = EhWait::Settle;
                }
            }
            EhJob::TestDevice { device, stage, .. } => {
                if !view.online(device) {
                    return self.device_ready(job, device, view);
                }
                let command = match stage {
                    TestStage::StartUnit { .. } => EhCommand::StartUnit,
                    TestStage::TestUnitReady { .. } => EhCommand::TestUnitReady,
                };
                // The first command of the device is the one the kernel hands to TUR.
                let Some(carrier) = self
                    .work
                    .iter()
                    .copied()
                    .find(|s| view.device_of(*s) == device)
                else {
                    panic!("device test of {device:?} with no command of it in the run");
                };
                self.send(
                    job,
                    EhDecision::SendCommand {
                        device,
                        command,
                        carrier,
                    },
                );
            }
            EhJob::Offline { device } => {
                let slots = self.slots_of(device, view);
                slots.iter().for_each(|s| self.finish(*s));
                self.out.push_back(EhDecision::Offline { device, slots });
            }
        }
    }

    /// `scsi_eh_test_devices` for one device: the next test, or ready.
    fn test_result(
        &mut self,
        device: DeviceId,
        try_stu: bool,
        stage: TestStage,
        verdict: Disposition,
        view: &impl EhView,
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
                self.device_ready(job, device, view);
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
            self.jobs.push_front(job);
        }
    }

    /// After a successful reset: settle (bus, host), then test each device that has work;
    /// a host reset tries START UNIT first (`scsi_eh_test_devices(try_stu = 1)`) on devices
    /// with `allow_restart`.
    fn queue_device_tests(
        &mut self,
        kind: ResetKind,
        devices: &[DeviceId],
        slots: &[u32],
        view: &impl EhView,
    ) {
        let try_stu = kind == ResetKind::Host;
        let mut tests: Vec<EhJob> = Vec::new();
        for device in devices.iter().copied() {
            if !slots.iter().any(|s| view.device_of(*s) == device) {
                continue;
            }
            let stage = if try_stu && view.allow_restart(device) {
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
            self.jobs.push_front(job);
        }
        if matches!(kind, ResetKind::Bus | ResetKind::Host) {
            self.jobs.push_front(EhJob::Settle);
        }
    }

    /// The device is ready (or offline): its commands are done.
    fn device_ready(&mut self, job: EhJob, device: DeviceId, view: &impl EhView) {
        let try_stu = matches!(job, EhJob::TestDevice { try_stu: true, .. });
        let slots = self.slots_of(device, view);
        slots.iter().for_each(|s| self.finish(*s));
        self.out.push_back(EhDecision::DeviceReady {
            device,
            slots,
            sd_eh_action: !try_stu,
        });
    }
}

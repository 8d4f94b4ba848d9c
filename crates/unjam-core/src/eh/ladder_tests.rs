//! The error handler alone: a run fed events through a fake view, and the decisions it
//! returns (spec §6.4, kernel-observed.md's ladders).

use unjam_scsi::Disposition::{self, Failed, NeedsRetry, Success};

use super::{escalation_step, EhDecision, EhNext, EhRun, EhScope, EhStep, EhView};
use super::{HOST_LADDER, LUN_LADDER};
use crate::ids::{DeviceId, EhCommand, HostId, ResetKind, Tag, TmfOp, TmfResult};

const HOST: HostId = HostId(0);

/// Devices `(target, lun)` of one host and one channel; commands `slot -> device`.
struct Fake {
    devices: Vec<DeviceId>,
    hctl: Vec<(u32, u32)>,
    commands: Vec<DeviceId>,
    sense_missing: Vec<u32>,
    start_unit: Vec<u32>,
    caps: [bool; 4],
    allow_restart: bool,
    past_deadline: bool,
    offline: Vec<DeviceId>,
    tried_lun_reset: Vec<DeviceId>,
}

impl Fake {
    /// Two targets × two LUNs; one timed-out command on device 0 (slot 0).
    fn new() -> Fake {
        Fake {
            devices: (0..4).map(DeviceId).collect(),
            hctl: vec![(0, 0), (0, 1), (1, 0), (1, 1)],
            commands: vec![DeviceId(0)],
            sense_missing: Vec::new(),
            start_unit: Vec::new(),
            caps: [true; 4],
            allow_restart: false,
            past_deadline: false,
            offline: Vec::new(),
            tried_lun_reset: Vec::new(),
        }
    }
}

fn index(kind: ResetKind) -> usize {
    match kind {
        ResetKind::Lun => 0,
        ResetKind::Target => 1,
        ResetKind::Bus => 2,
        ResetKind::Host => 3,
    }
}

impl EhView for Fake {
    fn device_of(&self, slot: u32) -> DeviceId {
        self.commands[slot as usize]
    }
    fn needs_sense(&self, slot: u32) -> bool {
        self.sense_missing.contains(&slot)
    }
    fn wants_start_unit(&self, slot: u32) -> bool {
        self.start_unit.contains(&slot)
    }
    fn step_tried(&self, device: DeviceId, step: EhStep) -> bool {
        step == EhStep::Reset(ResetKind::Lun) && self.tried_lun_reset.contains(&device)
    }
    fn can_reset(&self, _host: HostId, kind: ResetKind) -> bool {
        self.caps[index(kind)]
    }
    fn same_reset_domain(&self, origin: DeviceId, kind: ResetKind, device: DeviceId) -> bool {
        let (a, b) = (self.hctl[origin.0 as usize], self.hctl[device.0 as usize]);
        match kind {
            ResetKind::Lun => origin == device,
            ResetKind::Target => a.0 == b.0,
            ResetKind::Bus | ResetKind::Host => true,
        }
    }
    fn online(&self, device: DeviceId) -> bool {
        !self.offline.contains(&device)
    }
    fn allow_restart(&self, _device: DeviceId) -> bool {
        self.allow_restart
    }
    fn past_deadline(&self, _host: HostId) -> bool {
        self.past_deadline
    }
    fn skip_settle(&self, _host: HostId) -> bool {
        false
    }
    fn host_devices(&self, _host: HostId) -> &[DeviceId] {
        &self.devices
    }
}

fn host_run(work: Vec<u32>) -> EhRun {
    EhRun::new(EhScope::Host(HOST), HOST, 1, work, HOST_LADDER)
}

/// Decisions until the run waits or ends; sends are acknowledged with made-up ids.
fn drain(run: &mut EhRun, view: &Fake) -> (Vec<EhDecision>, EhNext) {
    let mut out = Vec::new();
    for n in 0..100 {
        match run.next(view) {
            EhNext::Decide(decision) => {
                match decision {
                    EhDecision::SendCommand { .. } => run.command_sent(Tag {
                        slot: 100 + n,
                        generation: 1,
                    }),
                    EhDecision::SendReset { .. } => run.reset_sent(TmfOp(n)),
                    _ => {}
                }
                out.push(decision);
            }
            other => return (out, other),
        }
    }
    panic!("the run did not wait or end in 100 decisions");
}

fn reset(kind: ResetKind, device: u32, carrier: u32) -> EhDecision {
    EhDecision::SendReset {
        kind,
        device: DeviceId(device),
        carrier,
    }
}

fn tur(device: u32, carrier: u32) -> EhDecision {
    EhDecision::SendCommand {
        device: DeviceId(device),
        command: EhCommand::TestUnitReady,
        carrier,
    }
}

/// kernel-observed.md "every READ times out, resets OK": LUN reset OK + TUR OK; the
/// command is done and sd's medium-access rule judges it.
#[test]
fn a_lun_reset_that_works_is_followed_by_tur_and_the_device_is_ready() {
    let view = Fake::new();
    let mut run = host_run(vec![0]);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::Step(EhStep::Reset(ResetKind::Lun)),
            reset(ResetKind::Lun, 0, 0)
        ]
    );
    assert_eq!(next, EhNext::Wait);
    run.reset_answered(TmfResult::Success, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::ReportReset {
                kind: ResetKind::Lun,
                origin: DeviceId(0),
                devices: vec![DeviceId(0)],
            },
            EhDecision::Release { slots: vec![0] },
            tur(0, 0),
        ]
    );
    assert_eq!(next, EhNext::Wait);
    run.command_answered(Success, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![EhDecision::DeviceReady {
            device: DeviceId(0),
            slots: vec![0],
            sd_eh_action: true,
        }]
    );
    assert_eq!(next, EhNext::Finished);
    assert_eq!((run.work.len(), run.done.clone()), (0, vec![0]));
}

/// "+ target reset fails": LUN and target reset fail, the bus reset (host-wide: the host
/// is taken first) works, settles 10 s, then TUR.
#[test]
fn failing_resets_climb_to_the_bus_reset_which_takes_the_host_and_settles() {
    let view = Fake::new();
    let mut run = host_run(vec![0]);
    drain(&mut run, &view);
    run.reset_answered(TmfResult::Failed, &view);
    let (out, _) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::Step(EhStep::Reset(ResetKind::Target)),
            reset(ResetKind::Target, 0, 0)
        ]
    );
    run.reset_answered(TmfResult::Failed, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::Step(EhStep::Reset(ResetKind::Bus)),
            EhDecision::TakeHost,
            reset(ResetKind::Bus, 0, 0)
        ]
    );
    assert_eq!(next, EhNext::Wait);
    run.reset_answered(TmfResult::Success, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::ReportReset {
                kind: ResetKind::Bus,
                origin: DeviceId(0),
                devices: view.devices.clone(),
            },
            EhDecision::Release { slots: vec![0] },
            EhDecision::Settle,
        ]
    );
    assert_eq!(next, EhNext::Wait);
    run.settled();
    let (out, _) = drain(&mut run, &view);
    assert_eq!(out, vec![tur(0, 0)]);
}

/// A host-wide step waits for the host to quiesce before it sends anything.
#[test]
fn take_host_then_quiesce_holds_the_reset_back() {
    let mut view = Fake::new();
    view.caps = [false, false, false, true];
    let mut run = host_run(vec![0]);
    assert_eq!(
        run.next(&view),
        EhNext::Decide(EhDecision::ResetSkipped {
            device: DeviceId(0),
            kind: ResetKind::Lun
        })
    );
    run.next(&view); // target reset skipped
    run.next(&view); // bus reset skipped
    assert_eq!(
        run.next(&view),
        EhNext::Decide(EhDecision::Step(EhStep::Reset(ResetKind::Host)))
    );
    assert_eq!(run.next(&view), EhNext::Decide(EhDecision::TakeHost));
    run.wait_quiesce();
    assert_eq!(run.next(&view), EhNext::Wait);
    run.quiesced();
    assert_eq!(
        run.next(&view),
        EhNext::Decide(reset(ResetKind::Host, 0, 0))
    );
}

/// Issue 9 item 1: after a successful host reset, START UNIT (with `allow_restart`) is
/// tried again while it says NEEDS_RETRY, then TUR; the disk is ready, not offline.
#[test]
fn after_a_host_reset_start_unit_is_retried_then_tur_and_the_disk_is_ready() {
    let mut view = Fake::new();
    view.caps = [false, false, false, true];
    view.allow_restart = true;
    let mut run = host_run(vec![0]);
    drain(&mut run, &view);
    run.reset_answered(TmfResult::Success, &view);
    drain(&mut run, &view);
    run.settled();
    let start_unit = EhDecision::SendCommand {
        device: DeviceId(0),
        command: EhCommand::StartUnit,
        carrier: 0,
    };
    assert_eq!(drain(&mut run, &view).0, vec![start_unit.clone()]);
    run.command_answered(NeedsRetry, &view); // the UNIT ATTENTION of the reset
    assert_eq!(drain(&mut run, &view).0, vec![start_unit]);
    run.command_answered(NeedsRetry, &view);
    assert_eq!(drain(&mut run, &view).0, vec![tur(0, 0)]);
    run.command_answered(Success, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![EhDecision::DeviceReady {
            device: DeviceId(0),
            slots: vec![0],
            sd_eh_action: false,
        }]
    );
    assert_eq!(next, EhNext::Finished);
}

/// scsi_debug has no `allow_restart`: a host reset goes straight to TUR.
#[test]
fn without_allow_restart_a_host_reset_is_followed_by_tur_alone() {
    let mut view = Fake::new();
    view.caps = [false, false, false, true];
    let mut run = host_run(vec![0]);
    drain(&mut run, &view);
    run.reset_answered(TmfResult::Success, &view);
    drain(&mut run, &view);
    run.settled();
    assert_eq!(drain(&mut run, &view).0, vec![tur(0, 0)]);
}

/// Every reset fails: the ladder ends with the device offline and its commands given up.
#[test]
fn when_every_reset_fails_the_devices_are_offlined_with_their_commands() {
    let mut view = Fake::new();
    view.commands = vec![DeviceId(0), DeviceId(0), DeviceId(2)];
    let mut run = host_run(vec![0, 1, 2]);
    let (out, _) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::Step(EhStep::Reset(ResetKind::Lun)),
            reset(ResetKind::Lun, 0, 0)
        ]
    );
    run.reset_answered(TmfResult::Failed, &view);
    assert_eq!(drain(&mut run, &view).0, vec![reset(ResetKind::Lun, 2, 2)]);
    // Two targets: one target reset each.
    for (device, carrier) in [(0, 0), (2, 2)] {
        run.reset_answered(TmfResult::Failed, &view);
        let out = drain(&mut run, &view).0;
        assert_eq!(out.last(), Some(&reset(ResetKind::Target, device, carrier)));
    }
    // One bus and one host reset for the whole host.
    run.reset_answered(TmfResult::Failed, &view);
    assert_eq!(
        drain(&mut run, &view).0.last(),
        Some(&reset(ResetKind::Bus, 0, 0))
    );
    run.reset_answered(TmfResult::Failed, &view);
    assert_eq!(
        drain(&mut run, &view).0.last(),
        Some(&reset(ResetKind::Host, 0, 0))
    );
    run.reset_answered(TmfResult::Failed, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::Step(EhStep::Offline),
            EhDecision::Offline {
                device: DeviceId(0),
                slots: vec![0, 1]
            },
            EhDecision::Offline {
                device: DeviceId(2),
                slots: vec![2]
            },
        ]
    );
    assert_eq!(next, EhNext::Finished);
    assert_eq!(run.done, vec![0, 1, 2]);
}

/// get sense: REQUEST SENSE for a CHECK CONDITION without sense; the mid-layer decides
/// again, and SUCCESS or NEEDS_RETRY ends the command's recovery.
#[test]
fn request_sense_asks_the_mid_layer_to_decide_again() {
    let mut view = Fake::new();
    view.sense_missing = vec![0];
    let mut run = host_run(vec![0]);
    let (out, _) = drain(&mut run, &view);
    assert_eq!(
        out,
        vec![
            EhDecision::Step(EhStep::GetSense),
            EhDecision::SendCommand {
                device: DeviceId(0),
                command: EhCommand::RequestSense,
                carrier: 0
            }
        ]
    );
    run.command_answered(Success, &view);
    assert_eq!(
        drain(&mut run, &view),
        (vec![EhDecision::Redecide { slot: 0 }], EhNext::Wait)
    );
    run.sense_decided(0, Disposition::Success);
    assert_eq!(drain(&mut run, &view), (vec![], EhNext::Finished));
}

/// A failed REQUEST SENSE leaves the command to the resets.
#[test]
fn a_failed_request_sense_goes_on_to_the_resets() {
    let mut view = Fake::new();
    view.sense_missing = vec![0];
    let mut run = host_run(vec![0]);
    drain(&mut run, &view);
    run.command_answered(Failed, &view);
    assert_eq!(
        drain(&mut run, &view).0,
        vec![
            EhDecision::Step(EhStep::Reset(ResetKind::Lun)),
            reset(ResetKind::Lun, 0, 0)
        ]
    );
}

/// A step a smaller scope already tried is skipped (the RFC's `*_done` flags).
#[test]
fn a_lun_reset_already_tried_in_lun_scope_is_skipped_by_the_host_scope() {
    let mut view = Fake::new();
    view.tried_lun_reset = vec![DeviceId(0)];
    let mut run = host_run(vec![0]);
    assert_eq!(
        drain(&mut run, &view).0,
        vec![
            EhDecision::Step(EhStep::Reset(ResetKind::Target)),
            reset(ResetKind::Target, 0, 0)
        ]
    );
}

/// §6.7: past the deadline a LUN scope stops at once; the host scope goes straight to the
/// host reset.
#[test]
fn past_the_deadline_a_lun_scope_ends_and_the_host_scope_jumps_to_the_host_reset() {
    let mut view = Fake::new();
    view.past_deadline = true;
    let mut lun = EhRun::new(EhScope::Lun(DeviceId(0)), HOST, 1, vec![0], LUN_LADDER);
    assert_eq!(lun.next(&view), EhNext::Finished);
    let mut run = host_run(vec![0]);
    assert_eq!(
        drain(&mut run, &view).0,
        vec![
            EhDecision::Step(EhStep::Reset(ResetKind::Host)),
            EhDecision::TakeHost,
            reset(ResetKind::Host, 0, 0)
        ]
    );
}

/// An offline device is not tested: its commands are done at once.
#[test]
fn an_offline_device_is_ready_without_a_test() {
    let mut view = Fake::new();
    let mut run = host_run(vec![0]);
    drain(&mut run, &view);
    view.offline = vec![DeviceId(0)];
    run.reset_answered(TmfResult::Success, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(
        out.last(),
        Some(&EhDecision::DeviceReady {
            device: DeviceId(0),
            slots: vec![0],
            sd_eh_action: true
        })
    );
    assert_eq!(next, EhNext::Finished);
}

/// FAST_IO_FAIL finishes the domain's commands without a test.
#[test]
fn fast_io_fail_finishes_the_commands_without_a_test() {
    let view = Fake::new();
    let mut run = host_run(vec![0]);
    drain(&mut run, &view);
    run.reset_answered(TmfResult::FastIoFail, &view);
    let (out, next) = drain(&mut run, &view);
    assert_eq!(out, vec![EhDecision::Release { slots: vec![0] }]);
    assert_eq!(next, EhNext::Finished);
}

/// `scsi_abort_eh_cmnd`: abort, then resets inside the scope, skipping what the transport
/// lacks; nothing left means the EH command failed.
#[test]
fn the_eh_command_escalation_stays_inside_the_scope() {
    let all = |_: Option<ResetKind>| true;
    assert_eq!(escalation_step(0, 2, all), Some((0, None)));
    assert_eq!(escalation_step(1, 2, all), Some((1, Some(ResetKind::Lun))));
    // LUN scope: abort and LUN reset only.
    assert_eq!(escalation_step(2, 0, all), None);
    // Target scope: + target reset.
    assert_eq!(
        escalation_step(2, 1, all),
        Some((2, Some(ResetKind::Target)))
    );
    assert_eq!(escalation_step(3, 1, all), None);
    // No bus reset: straight to the host reset.
    let no_bus = |step: Option<ResetKind>| step != Some(ResetKind::Bus);
    assert_eq!(
        escalation_step(3, 2, no_bus),
        Some((4, Some(ResetKind::Host)))
    );
    assert_eq!(escalation_step(5, 2, all), None);
}

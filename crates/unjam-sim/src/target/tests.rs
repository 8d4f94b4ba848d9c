//! The target engine end to end: latency, faults, task management, polls, transports.

use super::*;
use crate::fault::{Count, FaultRule, TmfKind};
use crate::media_command::{rw16, MediaAccess};

const LUN0: LunAddress = LunAddress::new(0, 0, 0, 0);
const LUN1: LunAddress = LunAddress::new(0, 0, 0, 1);

fn target_with(faults: Vec<FaultRule>) -> SimTarget {
    let mut config = TargetConfig::grid(1, 1, 2, Personality::Mpt3sas);
    config.faults = faults;
    SimTarget::new(&config).unwrap()
}

fn drain(target: &mut SimTarget, now_us: u64) -> Vec<TargetEvent> {
    target.advance(now_us);
    std::iter::from_fn(|| target.poll_event()).collect()
}

fn completions(events: &[TargetEvent]) -> Vec<&Completion> {
    events
        .iter()
        .filter_map(|e| match e {
            TargetEvent::Completed(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn read(target: &mut SimTarget, now_us: u64, tag: u64, address: LunAddress) -> Queued {
    target
        .queue_command(
            now_us,
            tag,
            address,
            &rw16(MediaAccess::Read, 0, 1),
            Vec::new(),
            512,
        )
        .unwrap()
}

#[test]
fn a_command_completes_after_its_latency() {
    let mut target = target_with(Vec::new());
    let data: Vec<u8> = (0..512u32).map(|i| i as u8).collect();
    let write = rw16(MediaAccess::Write, 7, 1);
    target
        .queue_command(0, 1, LUN0, &write, data.clone(), 0)
        .unwrap();
    assert_eq!(target.next_due_us(), Some(100));
    assert!(drain(&mut target, 99).is_empty());
    let events = drain(&mut target, 100);
    let done = completions(&events);
    assert_eq!(
        (done[0].tag, done[0].status, done[0].executed),
        (1, SamStatus::GOOD, true)
    );
    target
        .queue_command(
            100,
            2,
            LUN0,
            &rw16(MediaAccess::Read, 7, 1),
            Vec::new(),
            4096,
        )
        .unwrap();
    let events = drain(&mut target, 200);
    let done = completions(&events);
    assert_eq!(done[0].data_in, data);
    assert_eq!(done[0].resid, 4096 - 512);
    assert!(!target.holds(2));
}

#[test]
fn power_on_unit_attention_once_per_path() {
    let mut config = TargetConfig::grid(1, 1, 2, Personality::Mpt3sas);
    config.power_on_unit_attention = true;
    let mut target = SimTarget::new(&config).unwrap();
    read(&mut target, 0, 1, LUN0);
    read(&mut target, 0, 2, LUN1);
    read(&mut target, 0, 3, LUN0);
    let events = drain(&mut target, 1000);
    let done = completions(&events);
    let keys: Vec<_> = done
        .iter()
        .map(|c| c.sense.as_ref().and_then(|s| s.key_code()))
        .collect();
    assert_eq!(keys[0].map(|k| (k.1, k.2)), Some((0x29, 0x01)));
    assert_eq!(keys[1].map(|k| (k.1, k.2)), Some((0x29, 0x01)));
    assert_eq!(keys[2], None);
}

#[test]
fn a_swallowed_command_waits_for_an_abort() {
    let mut rule = FaultRule::new(AddressSelector::exact(LUN0), FaultAction::Timeout);
    rule.trigger.count = Count::Times(1);
    let mut target = target_with(vec![rule]);
    read(&mut target, 0, 1, LUN0);
    assert!(drain(&mut target, 10_000_000).is_empty());
    assert!(target.holds(1));
    target.abort(10_000_000, 77, 1, LUN0, &[0x28]);
    assert!(
        !target.holds(1),
        "an aborted command no longer touches its buffers"
    );
    let events = drain(&mut target, 10_000_100);
    assert_eq!(
        events,
        vec![TargetEvent::TaskManagementDone {
            id: 77,
            function: TaskManagement::Abort,
            address: LUN0,
            success: true
        }]
    );
}

#[test]
fn failed_abort_keeps_the_command_and_lun_reset_drops_it() {
    let swallow = FaultRule::new(AddressSelector::exact(LUN0), FaultAction::Timeout);
    let abort_fails = FaultRule::new(
        AddressSelector::ANY,
        FaultAction::TmfFails {
            function: TmfKind::Abort,
        },
    );
    let mut target = target_with(vec![swallow, abort_fails]);
    read(&mut target, 0, 1, LUN0);
    read(&mut target, 0, 2, LUN1);
    target.abort(50, 10, 1, LUN0, &[0x28]);
    let events = drain(&mut target, 150);
    assert!(events.contains(&TargetEvent::TaskManagementDone {
        id: 10,
        function: TaskManagement::Abort,
        address: LUN0,
        success: false
    }));
    assert!(target.holds(1));
    target.reset(200, 11, ResetScope::Lun, LUN0, &[0x28]);
    assert!(!target.holds(1));
    let events = drain(&mut target, 300);
    assert!(matches!(
        events[0],
        TargetEvent::TaskManagementDone {
            id: 11,
            success: true,
            ..
        }
    ));
    // The reset raised 29/03 on LUN 0 only.
    read(&mut target, 300, 3, LUN1);
    let events = drain(&mut target, 400);
    assert_eq!(completions(&events)[0].status, SamStatus::GOOD);
    assert_eq!(target.stats().commands_dropped_by_tmf, 1);
}

#[test]
fn lost_completions_are_found_by_a_poll() {
    let mut rule = FaultRule::new(AddressSelector::exact(LUN0), FaultAction::LostCompletion);
    rule.trigger.count = Count::Times(1);
    let mut target = target_with(vec![rule]);
    let write = rw16(MediaAccess::Write, 0, 1);
    target
        .queue_command(0, 1, LUN0, &write, vec![9u8; 512], 0)
        .unwrap();
    assert!(drain(&mut target, 1_000_000).is_empty());
    assert!(target.holds(1));
    let mut out = [0u8; 512];
    target
        .unit(&LUN0)
        .unwrap()
        .media
        .read(0, 1, &mut out)
        .unwrap();
    assert_eq!(
        out, [9u8; 512],
        "executed although the notification was lost"
    );
    assert_eq!(
        target.poll_host(1_000_000, 1),
        0,
        "another host finds nothing"
    );
    assert_eq!(target.poll_host(1_000_000, 0), 1);
    let events = drain(&mut target, 1_000_000);
    let done = completions(&events);
    assert!(done[0].polled && done[0].executed);
    assert!(!target.holds(1));
}

#[test]
fn transport_down_fails_in_flight_and_new_commands() {
    let mut rule = FaultRule::new(
        "0:*:*:*".parse().unwrap(),
        FaultAction::TransportDown {
            host_byte: HostByte::DID_TRANSPORT_DISRUPTED,
        },
    );
    rule.trigger.from_us = 50;
    rule.trigger.until_us = Some(1000);
    let mut target = target_with(vec![rule]);
    read(&mut target, 0, 1, LUN0);
    let events = drain(&mut target, 50);
    assert!(matches!(events[0], TargetEvent::TransportDown { .. }));
    assert_eq!(
        completions(&events)[0].host_byte,
        HostByte::DID_TRANSPORT_DISRUPTED
    );
    read(&mut target, 60, 2, LUN1);
    let events = drain(&mut target, 500);
    assert_eq!(
        completions(&events)[0].host_byte,
        HostByte::DID_TRANSPORT_DISRUPTED
    );
    let events = drain(&mut target, 1000);
    assert!(matches!(events[0], TargetEvent::TransportUp { .. }));
    read(&mut target, 1000, 3, LUN1);
    let events = drain(&mut target, 2000);
    assert_eq!(completions(&events)[0].host_byte, HostByte::DID_OK);
}

#[test]
fn medium_errors_carry_the_first_bad_lba() {
    let mut rule = FaultRule::new(AddressSelector::ANY, FaultAction::MediumError);
    rule.commands = crate::fault::CommandMatch::MediaAccess;
    rule.lba_range = Some((100, 110));
    let mut target = target_with(vec![rule]);
    let cdb = rw16(MediaAccess::Read, 96, 8);
    target
        .queue_command(0, 1, LUN0, &cdb, Vec::new(), 4096)
        .unwrap();
    let events = drain(&mut target, 1000);
    let done = completions(&events);
    let sense = done[0].sense.clone().unwrap();
    assert_eq!(
        sense.key_code().map(|k| (k.0.value(), k.1)),
        Some((0x03, 0x11))
    );
    assert_eq!(unjam_scsi::sense::information(sense.as_bytes()), Some(100));
    assert!(!done[0].executed);
}

#[test]
fn virtio_personality_answers_with_responses() {
    let mut config = TargetConfig::grid(1, 1, 1, Personality::VirtioScsi);
    let mut rule = FaultRule::new(
        AddressSelector::ANY,
        FaultAction::Virtio {
            response: VirtioResponse::FAILURE,
            status: SamStatus::GOOD,
            sense: None,
        },
    );
    rule.trigger.count = Count::Times(1);
    config.faults = vec![rule];
    let mut target = SimTarget::new(&config).unwrap();
    read(&mut target, 0, 1, LUN0);
    read(&mut target, 0, 2, LUN0);
    let events = drain(&mut target, 1000);
    let done = completions(&events);
    assert_eq!(done[0].virtio_response, Some(VirtioResponse::FAILURE));
    assert_eq!(done[0].host_byte, HostByte::DID_ERROR);
    assert_eq!(done[1].virtio_response, Some(VirtioResponse::OK));
    assert_eq!(done[1].host_byte, HostByte::DID_OK);
}

#[test]
fn withheld_sense_goes_to_request_sense() {
    let rule = FaultRule {
        commands: crate::fault::CommandMatch::Reads,
        trigger: crate::fault::Trigger {
            count: Count::Times(1),
            ..Default::default()
        },
        ..FaultRule::new(
            AddressSelector::ANY,
            FaultAction::Fail {
                host_byte: HostByte::DID_OK,
                status: SamStatus::CHECK_CONDITION,
                sense: Some(SenseData::fixed(
                    unjam_scsi::sense::SenseKey::ILLEGAL_REQUEST,
                    (0x24, 0),
                    None,
                )),
                autosense: false,
            },
        )
    };
    let mut target = target_with(vec![rule]);
    read(&mut target, 0, 1, LUN0);
    target
        .queue_command(500, 2, LUN0, &[0x03, 0, 0, 0, 96, 0], Vec::new(), 96)
        .unwrap();
    let events = drain(&mut target, 1000);
    let done = completions(&events);
    assert_eq!(
        (done[0].status, done[0].sense.clone()),
        (SamStatus::CHECK_CONDITION, None)
    );
    assert_eq!((done[1].data_in[2], done[1].data_in[12]), (0x05, 0x24));
}

#[test]
fn task_set_full_beyond_the_task_set_and_queue_rejections() {
    let mut config = TargetConfig::grid(1, 1, 1, Personality::Smartpqi);
    config.luns[0].task_set_size = 2;
    let mut reject = FaultRule::new(
        AddressSelector::ANY,
        FaultAction::QueueReject {
            reason: QueueRejection::DeviceBusy,
        },
    );
    reject.trigger.skip = 3;
    reject.trigger.count = Count::Times(1);
    config.faults = vec![reject];
    let mut target = SimTarget::new(&config).unwrap();
    for tag in 1..=3 {
        assert_eq!(read(&mut target, 0, tag, LUN0), Queued::Accepted);
    }
    assert_eq!(
        read(&mut target, 0, 4, LUN0),
        Queued::Rejected(QueueRejection::DeviceBusy)
    );
    let events = drain(&mut target, 1000);
    let statuses: Vec<_> = completions(&events).iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [SamStatus::GOOD, SamStatus::GOOD, SamStatus::TASK_SET_FULL]
    );
    assert_eq!(
        target.queue_command(0, 5, LUN0, &[0u8; 40], Vec::new(), 0),
        Err(TargetError::CdbTooLong(40))
    );
}

#[test]
fn commands_to_missing_luns_and_targets() {
    let mut target = target_with(Vec::new());
    read(&mut target, 0, 1, LunAddress::new(0, 0, 0, 5));
    read(&mut target, 0, 2, LunAddress::new(0, 0, 9, 0));
    let events = drain(&mut target, 1000);
    let done = completions(&events);
    let sense = done
        .iter()
        .find(|c| c.tag == 1)
        .unwrap()
        .sense
        .clone()
        .unwrap();
    assert_eq!(sense.key_code().map(|k| k.1), Some(0x25));
    let missing = done.iter().find(|c| c.tag == 2).unwrap();
    assert_eq!(missing.host_byte, HostByte::DID_NO_CONNECT);
    assert_eq!(
        target.queue_command(0, 3, LUN0, &[0; 6], Vec::new(), 0),
        Ok(Queued::Accepted)
    );
    assert_eq!(
        target.queue_command(0, 3, LUN0, &[0; 6], Vec::new(), 0),
        Err(TargetError::DuplicateTag(3))
    );
}

#[test]
fn hung_resets_never_answer_and_hangs_with_a_limit_fail_late() {
    let hang = FaultRule::new(
        AddressSelector::ANY,
        FaultAction::TmfHangs {
            function: TmfKind::Reset(Some(ResetScope::Target)),
            after_us: None,
        },
    );
    let late = FaultRule::new(
        AddressSelector::ANY,
        FaultAction::TmfHangs {
            function: TmfKind::Reset(Some(ResetScope::Host)),
            after_us: Some(5_000_000),
        },
    );
    let mut target = target_with(vec![hang, late]);
    target.reset(0, 1, ResetScope::Target, LUN0, &[0x28]);
    target.reset(0, 2, ResetScope::Host, LUN0, &[0x28]);
    assert!(drain(&mut target, 4_999_999).is_empty());
    let events = drain(&mut target, 5_000_000);
    assert!(matches!(
        events[..],
        [TargetEvent::TaskManagementDone {
            id: 2,
            success: false,
            ..
        }]
    ));
    assert_eq!(target.hung_task_management(), 1);
}

//! Task management at the target: ABORT TASK and the resets, whose fate the fault engine
//! decides; on success they drop the commands they reach and raise unit attentions. Also
//! the transport's down and up edges.

use std::collections::BTreeSet;

use unjam_scsi::HostByte;

use super::{Command, Completion, SimTarget, TargetEvent, Timed};
use crate::address::LunAddress;
use crate::fault::{FaultAction, ResetScope, TaskManagement, TmfFate};
use crate::media_command::MediaCommand;
use crate::sense_data::code;

pub(super) fn abort(
    target: &mut SimTarget,
    now_us: u64,
    id: u64,
    tag: u64,
    address: LunAddress,
    cdb: &[u8],
) {
    let function = TaskManagement::Abort;
    let fate = target.faults.decide_tmf(now_us, &address, function, cdb);
    if fate == TmfFate::Succeed && target.remove_command(tag).is_some() {
        target.stats.commands_dropped_by_tmf += 1;
    }
    schedule_answer(target, now_us, id, function, address, fate);
}

pub(super) fn reset(
    target: &mut SimTarget,
    now_us: u64,
    id: u64,
    scope: ResetScope,
    address: LunAddress,
    cdb: &[u8],
) {
    let function = TaskManagement::Reset(scope);
    let fate = target.faults.decide_tmf(now_us, &address, function, cdb);
    if fate == TmfFate::Succeed {
        apply_reset(target, scope, address);
    }
    schedule_answer(target, now_us, id, function, address, fate);
}

fn schedule_answer(
    target: &mut SimTarget,
    now_us: u64,
    id: u64,
    function: TaskManagement,
    address: LunAddress,
    fate: TmfFate,
) {
    let (delay_us, success) = match fate {
        TmfFate::Succeed => (target.tmf_latency_us, true),
        TmfFate::Fail => (target.tmf_latency_us, false),
        TmfFate::Hang {
            after_us: Some(after),
        } => (after, false),
        TmfFate::Hang { after_us: None } => {
            target.hung_tmfs += 1;
            return;
        }
    };
    target.pending_tmfs.insert(id, (function, address));
    target.timeline.schedule(
        now_us.saturating_add(delay_us),
        Timed::TaskManagement { id, success },
    );
}

pub(super) fn answer(target: &mut SimTarget, id: u64, success: bool) {
    if let Some((function, address)) = target.pending_tmfs.remove(&id) {
        target.ready.push_back(TargetEvent::TaskManagementDone {
            id,
            function,
            address,
            success,
        });
    }
}

/// Drops every command the reset reaches and raises the reset's unit attention on every
/// path to the logical units it reaches (a LUN reset reaches its unit on all paths).
fn apply_reset(target: &mut SimTarget, scope: ResetScope, address: LunAddress) {
    let units: BTreeSet<usize> = target
        .paths
        .iter()
        .filter(|p| scope.covers(&address, &p.address))
        .map(|p| p.unit)
        .collect();
    let reached = |target: &SimTarget, at: &LunAddress, path: Option<usize>| {
        scope.covers(&address, at)
            || path
                .and_then(|i| target.paths.get(i))
                .is_some_and(|p| units.contains(&p.unit))
    };
    let mut tags: Vec<u64> = target
        .commands
        .iter()
        .filter(|(_, c)| reached(target, &c.address, c.path))
        .map(|(tag, _)| *tag)
        .collect();
    tags.sort_unstable();
    for tag in tags {
        if target.remove_command(tag).is_some() {
            target.stats.commands_dropped_by_tmf += 1;
        }
    }
    let unit_attention = match scope {
        ResetScope::Lun | ResetScope::Target => code::DEVICE_RESET_OCCURRED,
        ResetScope::Bus => code::BUS_RESET_OCCURRED,
        ResetScope::Host => code::POWER_ON_RESET,
    };
    for path in &mut target.paths {
        if units.contains(&path.unit) {
            path.state.raise_unit_attention(unit_attention);
        }
    }
}

/// A transport goes down: every command it carries completes at once with the rule's host
/// byte. Or it comes back up. Either way the edge is reported.
pub(super) fn transport_edge(target: &mut SimTarget, at_us: u64, rule: usize, down: bool) {
    if target.faults.is_healed(at_us) {
        return; // healed: it came up when the faults healed and stays up
    }
    let Some(rule) = target.faults.rules().get(rule).copied() else {
        return;
    };
    let FaultAction::TransportDown { host_byte } = rule.action else {
        return;
    };
    if !down {
        target.ready.push_back(TargetEvent::TransportUp {
            devices: rule.devices,
        });
        return;
    }
    target.ready.push_back(TargetEvent::TransportDown {
        devices: rule.devices,
        host_byte,
    });
    let mut tags: Vec<u64> = target
        .commands
        .iter()
        .filter(|(_, c)| rule.devices.matches(&c.address))
        .map(|(tag, _)| *tag)
        .collect();
    tags.sort_unstable();
    for tag in tags {
        if let Some(command) = target.remove_command(tag) {
            let completion = failed(target, tag, &command, host_byte);
            target.ready.push_back(TargetEvent::Completed(completion));
        }
    }
}

fn failed(target: &mut SimTarget, tag: u64, command: &Command, host_byte: HostByte) -> Completion {
    let cdb = command.cdb.get(..command.cdb_len as usize).unwrap_or(&[]);
    Completion {
        tag,
        address: command.address,
        host_byte,
        status: unjam_scsi::SamStatus::GOOD,
        sense: None,
        data_in: target.take_buffer(),
        resid: command.data_in_len,
        virtio_response: None,
        media: MediaCommand::parse(cdb),
        executed: false,
        polled: false,
    }
}

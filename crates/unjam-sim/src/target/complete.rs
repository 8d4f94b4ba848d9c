//! Finishing a command at its due time: carry out its fate (execute it, fail it, lose its
//! notification) and queue the completion.

use unjam_scsi::sense::SenseKey;
use unjam_scsi::{HostByte, SamStatus};

use super::{Command, CommandState, Completion, SimTarget, TargetEvent};
use crate::execute::{execute, execute_absent, PortView, Reply};
use crate::fault::FaultAction;
use crate::media_command::{MediaAccess, MediaCommand};
use crate::sense_data::{code, SenseData};
use crate::virtio::VirtioResponse;

pub(super) fn finish(target: &mut SimTarget, _at_us: u64, tag: u64, generation: u64) {
    let due = target
        .commands
        .get(&tag)
        .is_some_and(|c| c.generation == generation && c.state == CommandState::Scheduled);
    if !due {
        return;
    }
    let Some(mut command) = target.commands.remove(&tag) else {
        return;
    };
    let completion = build(target, tag, &mut command);
    if let Some(path) = command.path.and_then(|index| target.paths.get_mut(index)) {
        path.in_flight = path.in_flight.saturating_sub(1);
    }
    if command.fate.as_deref() == Some(&FaultAction::LostCompletion) {
        command.state = CommandState::Lost;
        command.finished = Some(Box::new(completion));
        target.stats.completions_lost += 1;
        target.commands.insert(tag, command);
        return;
    }
    let data_out = std::mem::take(&mut command.data_out);
    target.recycle_buffer(data_out);
    target.ready.push_back(TargetEvent::Completed(completion));
}

fn build(target: &mut SimTarget, tag: u64, command: &mut Command) -> Completion {
    let cdb = command.cdb.get(..command.cdb_len as usize).unwrap_or(&[]);
    let media = MediaCommand::parse(cdb);
    let mut completion = Completion {
        tag,
        address: command.address,
        host_byte: HostByte::DID_OK,
        status: SamStatus::GOOD,
        sense: None,
        data_in: target.take_buffer(),
        resid: 0,
        virtio_response: None,
        media,
        executed: false,
        polled: false,
    };
    match command.fate.as_deref().copied() {
        Some(FaultAction::Fail {
            host_byte,
            status,
            sense,
            autosense,
        }) => {
            completion.host_byte = host_byte;
            completion.status = status;
            if autosense {
                completion.sense = sense.map(Box::new);
            } else if let Some(path) = command.path.and_then(|i| target.paths.get_mut(i)) {
                path.state.withheld_sense = sense.map(Box::new);
            }
        }
        Some(FaultAction::Virtio {
            response,
            status,
            sense,
        }) => {
            let mapped = response.to_result(status);
            completion.host_byte = mapped.host;
            completion.status = mapped.status;
            completion.sense = sense.map(Box::new);
            completion.virtio_response = Some(response);
        }
        Some(FaultAction::Busy { status }) => completion.status = status,
        Some(FaultAction::MediumError) => {
            let first = medium_error_lba(target, command, media.as_ref());
            let code = match media.map(|m| m.access) {
                Some(MediaAccess::Write) => code::WRITE_ERROR,
                _ => code::UNRECOVERED_READ_ERROR,
            };
            completion.status = SamStatus::CHECK_CONDITION;
            completion.sense = Some(Box::new(SenseData::fixed(
                SenseKey::MEDIUM_ERROR,
                code,
                Some(first),
            )));
        }
        _ => run(target, command, &mut completion),
    }
    if completion.virtio_response.is_none() && speaks_virtio(target, command) {
        completion.virtio_response = Some(VirtioResponse::OK);
    }
    let transferred = completion.data_in.len() as u32;
    completion.resid = command.data_in_len.saturating_sub(transferred);
    completion
}

fn run(target: &mut SimTarget, command: &Command, completion: &mut Completion) {
    let cdb = command.cdb.get(..command.cdb_len as usize).unwrap_or(&[]);
    let luns = match command.path {
        Some(path) => target.tables.target_luns_of_path(path),
        None => target.tables.target_luns(&command.address),
    };
    let Some(luns) = luns else {
        completion.host_byte = HostByte::DID_NO_CONNECT;
        return;
    };
    let reply = match command.path.and_then(|index| target.paths.get_mut(index)) {
        Some(path) => {
            let port = PortView {
                target_luns: luns,
                relative_port: path.relative_port,
                port_groups: &target.alua_groups,
                port_group: (path.address.host as u16).wrapping_add(1),
                ..PortView::default()
            };
            match target.units.get_mut(path.unit) {
                Some(unit) => execute(
                    unit,
                    &mut path.state,
                    port,
                    cdb,
                    &command.data_out,
                    &mut completion.data_in,
                ),
                None => Reply::illegal_request(code::LOGICAL_UNIT_NOT_SUPPORTED),
            }
        }
        None => {
            let port = PortView {
                target_luns: luns,
                ..PortView::default()
            };
            execute_absent(port, cdb, &mut completion.data_in)
        }
    };
    completion.data_in.truncate(command.data_in_len as usize);
    completion.status = reply.status;
    completion.sense = reply.sense.map(Box::new);
    completion.executed = command.path.is_some();
    target.stats.commands_executed += 1;
}

fn speaks_virtio(target: &SimTarget, command: &Command) -> bool {
    target
        .personality(command.address.host)
        .is_some_and(|p| p.speaks_virtio())
}

/// The first LBA of the command inside the fault's range.
fn medium_error_lba(target: &SimTarget, command: &Command, media: Option<&MediaCommand>) -> u64 {
    let range_start = target
        .faults
        .rules()
        .iter()
        .filter(|r| r.action == FaultAction::MediumError && r.devices.matches(&command.address))
        .filter_map(|r| r.lba_range)
        .find(|(first, last)| media.is_some_and(|m| m.overlaps(*first, *last)))
        .map_or(0, |(first, _)| first);
    media.map_or(range_start, |m| m.lba.max(range_start))
}

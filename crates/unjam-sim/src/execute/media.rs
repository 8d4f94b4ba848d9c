//! READ, WRITE (6, 10, 16) and SYNCHRONIZE CACHE (10, 16) against the sparse media, with the
//! checks SBC-3 asks for: the unit must be started, the range must lie on the media (21/00),
//! the transfer must fit the buffer bound (24/00) and the data-out must be complete (4b/00).

use unjam_scsi::sense::SenseKey;

use super::{Reply, MAX_TRANSFER_BYTES};
use crate::logical_unit::LogicalUnit;
use crate::media::MediaError;
use crate::media_command::{MediaAccess, MediaCommand};
use crate::sense_data::code;

pub(super) fn media_access(
    unit: &mut LogicalUnit,
    cdb: &[u8],
    data_out: &[u8],
    data_in: &mut Vec<u8>,
) -> Reply {
    let Some(command) = MediaCommand::parse(cdb) else {
        return Reply::invalid_field();
    };
    if !unit.started {
        return Reply::not_ready();
    }
    if command.access == MediaAccess::Synchronize {
        return synchronize(unit, command);
    }
    if command.blocks == 0 {
        return Reply::GOOD;
    }
    if unit.media.check_range(command.lba, command.blocks).is_err() {
        return Reply::illegal_request(code::LBA_OUT_OF_RANGE);
    }
    let bytes = command
        .blocks
        .saturating_mul(unit.media.block_size() as u64);
    let Some(bytes) = usize::try_from(bytes)
        .ok()
        .filter(|b| *b <= MAX_TRANSFER_BYTES)
    else {
        return Reply::invalid_field();
    };
    match command.access {
        MediaAccess::Read => {
            data_in.clear();
            finish(unit.media.read_append(command.lba, command.blocks, data_in))
        }
        _ => match data_out.get(..bytes) {
            Some(data) => finish(unit.media.write(command.lba, command.blocks, data)),
            None => Reply::check(SenseKey::ABORTED_COMMAND, code::DATA_PHASE_ERROR),
        },
    }
}

/// SYNCHRONIZE CACHE: the media is the cache, so only the range is checked (0 blocks means
/// "to the end of the medium").
fn synchronize(unit: &LogicalUnit, command: MediaCommand) -> Reply {
    let blocks = if command.blocks == 0 {
        unit.media.block_count().saturating_sub(command.lba).max(1)
    } else {
        command.blocks
    };
    match unit.media.check_range(command.lba, blocks) {
        Ok(()) => Reply::GOOD,
        Err(_) => Reply::illegal_request(code::LBA_OUT_OF_RANGE),
    }
}

fn finish(result: Result<(), MediaError>) -> Reply {
    match result {
        Ok(()) => Reply::GOOD,
        Err(MediaError::OutOfRange { .. }) => Reply::illegal_request(code::LBA_OUT_OF_RANGE),
        Err(MediaError::BufferLength { .. }) => {
            Reply::check(SenseKey::ABORTED_COMMAND, code::DATA_PHASE_ERROR)
        }
        Err(MediaError::OutOfMemory { .. }) => {
            Reply::check(SenseKey::DATA_PROTECT, code::SPACE_ALLOCATION_FAILED)
        }
    }
}

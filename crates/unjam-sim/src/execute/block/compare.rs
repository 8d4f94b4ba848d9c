//! The block commands that compare or combine data-out with the media: VERIFY (BYTCHK),
//! ORWRITE and COMPARE AND WRITE. A mismatch is MISCOMPARE 1D/00 with the offset of the
//! first differing byte in the information field (SBC-3 §5.2, §5.33).

use unjam_scsi::sense::SenseKey;

use super::{data_phase_error, finish, BlockCommand};
use crate::execute::Reply;
use crate::logical_unit::LogicalUnit;
use crate::sense_data::SenseData;

/// MISCOMPARE DURING VERIFY OPERATION.
const MISCOMPARE_DURING_VERIFY: (u8, u8) = (0x1d, 0x00);

fn miscompare(offset: usize) -> Reply {
    Reply {
        status: unjam_scsi::SamStatus::CHECK_CONDITION,
        sense: Some(SenseData::fixed(
            SenseKey::MISCOMPARE,
            MISCOMPARE_DURING_VERIFY,
            Some(offset as u64),
        )),
    }
}

/// The offset of the first byte where `media` and `expected` differ.
fn first_difference(media: &[u8], expected: &[u8]) -> Option<usize> {
    media.iter().zip(expected).position(|(a, b)| a != b)
}

fn read(unit: &LogicalUnit, command: BlockCommand) -> Result<Vec<u8>, Reply> {
    let mut stored = Vec::new();
    unit.media
        .read_append(command.lba, command.blocks, &mut stored)
        .map_err(|error| finish(Err(error)))?;
    Ok(stored)
}

/// VERIFY: BYTCHK 00b checks the medium only, 01b compares the data-out with the blocks,
/// 11b compares one block of data-out with every block.
pub(super) fn verify(unit: &LogicalUnit, command: BlockCommand, data_out: &[u8]) -> Reply {
    let block_size = unit.media.block_size() as usize;
    let byte_check = (command.flags >> 1) & 0x03;
    if byte_check == 0 {
        return Reply::GOOD;
    }
    if byte_check == 0x02 {
        return Reply::invalid_field();
    }
    let stored = match read(unit, command) {
        Ok(stored) => stored,
        Err(reply) => return reply,
    };
    let expected: Vec<u8> = if byte_check == 0x01 {
        match data_out.get(..stored.len()) {
            Some(data) => data.to_vec(),
            None => return data_phase_error(),
        }
    } else {
        match data_out.get(..block_size) {
            Some(block) => block.repeat(command.blocks as usize),
            None => return data_phase_error(),
        }
    };
    match first_difference(&stored, &expected) {
        Some(offset) => miscompare(offset),
        None => Reply::GOOD,
    }
}

/// ORWRITE: each stored byte is ORed with the data-out.
pub(super) fn or_write(
    unit: &mut LogicalUnit,
    command: BlockCommand,
    data_out: &[u8],
    bytes: usize,
) -> Reply {
    let Some(data) = data_out.get(..bytes) else {
        return data_phase_error();
    };
    let mut stored = match read(unit, command) {
        Ok(stored) => stored,
        Err(reply) => return reply,
    };
    stored.iter_mut().zip(data).for_each(|(a, b)| *a |= b);
    finish(unit.media.write(command.lba, command.blocks, &stored))
}

/// COMPARE AND WRITE: the first half of the data-out must equal the blocks; then the second
/// half is written, atomically (one command runs at a time).
pub(super) fn compare_and_write(
    unit: &mut LogicalUnit,
    command: BlockCommand,
    data_out: &[u8],
) -> Reply {
    let length = command.blocks as usize * unit.media.block_size() as usize;
    let (Some(verify), Some(write)) = (data_out.get(..length), data_out.get(length..length * 2))
    else {
        return data_phase_error();
    };
    let stored = match read(unit, command) {
        Ok(stored) => stored,
        Err(reply) => return reply,
    };
    if let Some(offset) = first_difference(&stored, verify) {
        return miscompare(offset);
    }
    finish(unit.media.write(command.lba, command.blocks, write))
}

//! Commands on a range of logical blocks (SBC-3): READ, WRITE, WRITE AND VERIFY and VERIFY
//! in every CDB size, PRE-FETCH, SYNCHRONIZE CACHE, ORWRITE, COMPARE AND WRITE, WRITE SAME
//! and WRITE ATOMIC. Shared checks: the unit must be started, no protection information is
//! asked for (none is formatted: 24/00), the range lies on the media (21/00, also for a
//! transfer length of zero), the transfer fits the buffer bound (24/00), the data-out is
//! complete.
//!
//! Owns CDB field positions of these commands and their semantics on the media; thin
//! provisioning (UNMAP, GET LBA STATUS) is in `provisioning`.

mod compare;
mod write_same;

use unjam_scsi::cdb::{lba_and_block_count, opcode, with_lba_and_block_count};
use unjam_scsi::sense::SenseKey;

use super::{Reply, MAX_TRANSFER_BYTES};
use crate::logical_unit::LogicalUnit;
use crate::media::MediaError;
use crate::sense_data::code;

pub(super) use write_same::MAX_WRITE_SAME_BLOCKS;

const PRE_FETCH_10: u8 = 0x34;
const PRE_FETCH_16: u8 = 0x90;

/// The largest COMPARE AND WRITE, in blocks (VPD B0h MAXIMUM COMPARE AND WRITE LENGTH).
pub(super) const MAX_COMPARE_AND_WRITE_BLOCKS: u64 = 128;
/// The largest WRITE ATOMIC, in blocks (VPD B0h MAXIMUM ATOMIC TRANSFER LENGTH).
pub(super) const MAX_ATOMIC_BLOCKS: u64 = 2048;

/// What a block command does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum BlockOp {
    Read,
    Write,
    WriteAndVerify,
    Verify,
    OrWrite,
    CompareAndWrite,
    PreFetch,
    Synchronize,
    WriteSame,
    WriteAtomic,
}

/// A decoded block command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct BlockCommand {
    pub op: BlockOp,
    pub lba: u64,
    pub blocks: u64,
    /// RDPROTECT / WRPROTECT / VRPROTECT / ORPROTECT (0 for six-byte CDBs).
    pub protect: u8,
    /// Byte 1 of the CDB (flags).
    pub flags: u8,
}

/// Decodes a block command; `None` for other opcodes or a CDB too short for its fields.
/// READ, WRITE and WRITE AND VERIFY (every size) go through unjam-scsi's extent codec
/// (`lba_and_block_count`: READ(6)/WRITE(6) with length 0 move 256 blocks); the other
/// block commands' fields are read here.
pub(super) fn decode(cdb: &[u8]) -> Option<BlockCommand> {
    let first = *cdb.first()?;
    let flags = *cdb.get(1)?;
    let (op, lba, blocks, protected) = match first {
        opcode::READ_6
        | opcode::WRITE_6
        | opcode::READ_10
        | opcode::WRITE_10
        | opcode::WRITE_AND_VERIFY_10
        | opcode::READ_12
        | opcode::WRITE_12
        | opcode::WRITE_AND_VERIFY_12
        | opcode::READ_16
        | opcode::WRITE_16
        | opcode::WRITE_AND_VERIFY_16 => {
            let (lba, blocks) = lba_and_block_count(cdb)?;
            let op = match first {
                opcode::READ_6 => BlockOp::Read,
                opcode::WRITE_6 => BlockOp::Write,
                other => op_of(other)?,
            };
            let six = matches!(first, opcode::READ_6 | opcode::WRITE_6);
            (op, lba, u64::from(blocks), !six)
        }
        opcode::VERIFY_10 | PRE_FETCH_10 | opcode::SYNCHRONIZE_CACHE_10 | opcode::WRITE_SAME_10 => {
            (op_of(first)?, be(cdb, 2, 4)?, be(cdb, 7, 2)?, true)
        }
        opcode::VERIFY_12 => (op_of(first)?, be(cdb, 2, 4)?, be(cdb, 6, 4)?, true),
        opcode::COMPARE_AND_WRITE => (op_of(first)?, be(cdb, 2, 8)?, be(cdb, 13, 1)?, true),
        opcode::WRITE_ATOMIC_16 => (op_of(first)?, be(cdb, 2, 8)?, be(cdb, 12, 2)?, true),
        _ => (op_of(first)?, be(cdb, 2, 8)?, be(cdb, 10, 4)?, true),
    };
    let protect = if protected && !matches!(op, BlockOp::PreFetch | BlockOp::Synchronize) {
        flags >> 5
    } else {
        0
    };
    Some(BlockCommand {
        op,
        lba,
        blocks,
        protect,
        flags,
    })
}

fn op_of(first: u8) -> Option<BlockOp> {
    Some(match first {
        opcode::READ_10 | opcode::READ_12 | opcode::READ_16 => BlockOp::Read,
        opcode::WRITE_10 | opcode::WRITE_12 | opcode::WRITE_16 => BlockOp::Write,
        opcode::WRITE_AND_VERIFY_10 | opcode::WRITE_AND_VERIFY_12 | opcode::WRITE_AND_VERIFY_16 => {
            BlockOp::WriteAndVerify
        }
        opcode::VERIFY_10 | opcode::VERIFY_12 | opcode::VERIFY_16 => BlockOp::Verify,
        opcode::ORWRITE_16 => BlockOp::OrWrite,
        opcode::COMPARE_AND_WRITE => BlockOp::CompareAndWrite,
        PRE_FETCH_10 | PRE_FETCH_16 => BlockOp::PreFetch,
        opcode::SYNCHRONIZE_CACHE_10 | opcode::SYNCHRONIZE_CACHE_16 => BlockOp::Synchronize,
        opcode::WRITE_SAME_10 | opcode::WRITE_SAME_16 => BlockOp::WriteSame,
        opcode::WRITE_ATOMIC_16 => BlockOp::WriteAtomic,
        _ => return None,
    })
}

/// `cdb` with its transfer length set to `blocks`, for the write commands (READ/WRITE
/// layouts of every size, through unjam-scsi's extent codec); `None` for other commands or
/// a length the CDB cannot hold.
pub(super) fn with_transfer_length(cdb: &[u8], blocks: u64) -> Option<[u8; 16]> {
    let command = decode(cdb)?;
    if !matches!(command.op, BlockOp::Write | BlockOp::WriteAndVerify) || blocks == 0 {
        return None;
    }
    let cut = with_lba_and_block_count(cdb, command.lba, u32::try_from(blocks).ok()?)?;
    let mut copy = [0u8; 16];
    let bytes = cut.as_slice();
    copy.get_mut(..bytes.len())?.copy_from_slice(bytes);
    Some(copy)
}

/// Whether `first` is a block command's opcode.
pub(super) fn is_block_command(first: u8) -> bool {
    matches!(first, opcode::READ_6 | opcode::WRITE_6) || op_of(first).is_some()
}

/// A big-endian field of `width` bytes at `at`.
fn be(cdb: &[u8], at: usize, width: usize) -> Option<u64> {
    let bytes = cdb.get(at..at + width)?;
    Some(
        bytes
            .iter()
            .fold(0u64, |value, byte| value << 8 | u64::from(*byte)),
    )
}

/// The data-out bytes a block command takes.
pub(super) fn data_out_length(command: &BlockCommand, block_size: u64) -> Option<u64> {
    let bytes = command.blocks.saturating_mul(block_size);
    match command.op {
        BlockOp::Write | BlockOp::WriteAndVerify | BlockOp::OrWrite | BlockOp::WriteAtomic => {
            Some(bytes)
        }
        BlockOp::CompareAndWrite => Some(bytes.saturating_mul(2)),
        BlockOp::Verify => match (command.flags >> 1) & 0x03 {
            0x01 => Some(bytes),
            0x03 => Some(block_size),
            _ => None,
        },
        BlockOp::WriteSame => write_same::data_out_length(command, block_size),
        BlockOp::Read | BlockOp::PreFetch | BlockOp::Synchronize => None,
    }
}

pub(super) fn block_access(
    unit: &mut LogicalUnit,
    cdb: &[u8],
    data_out: &[u8],
    data_in: &mut Vec<u8>,
) -> Reply {
    let Some(command) = decode(cdb) else {
        return Reply::invalid_field();
    };
    if !unit.started {
        return Reply::not_ready();
    }
    if command.protect != 0 {
        return Reply::invalid_field();
    }
    match command.op {
        BlockOp::Synchronize => return synchronize(unit, command),
        BlockOp::WriteSame => return write_same::write_same(unit, command, data_out),
        _ => {}
    }
    if let Err(reply) = check_range(unit, command) {
        return reply;
    }
    let compare_length = command.blocks * 2 * u64::from(unit.media.block_size());
    if command.op == BlockOp::CompareAndWrite && data_out.len() as u64 != compare_length {
        // The verify and write data must be exactly twice the blocks (a length that does
        // not fit the one-byte NUMBER OF LOGICAL BLOCKS shows up here).
        return Reply::invalid_field();
    }
    if command.blocks == 0 {
        return Reply::GOOD;
    }
    let Some(bytes) = usize::try_from(command.blocks * u64::from(unit.media.block_size()))
        .ok()
        .filter(|bytes| *bytes <= MAX_TRANSFER_BYTES)
    else {
        return Reply::invalid_field();
    };
    match command.op {
        BlockOp::Read => finish(unit.media.read_append(command.lba, command.blocks, data_in)),
        BlockOp::Write | BlockOp::WriteAndVerify => match data_out.get(..bytes) {
            Some(data) => finish(unit.media.write(command.lba, command.blocks, data)),
            None => data_phase_error(),
        },
        BlockOp::WriteAtomic => write_atomic(unit, command, cdb, data_out, bytes),
        BlockOp::Verify => compare::verify(unit, command, data_out),
        BlockOp::OrWrite => compare::or_write(unit, command, data_out, bytes),
        BlockOp::CompareAndWrite => compare::compare_and_write(unit, command, data_out),
        BlockOp::PreFetch | BlockOp::Synchronize | BlockOp::WriteSame => Reply::GOOD,
    }
}

/// The range must lie on the media; a transfer length of zero still needs a valid LBA.
fn check_range(unit: &LogicalUnit, command: BlockCommand) -> Result<(), Reply> {
    let count = unit.media.block_count();
    let end = command.lba.checked_add(command.blocks);
    if command.lba >= count || end.is_none_or(|end| end > count) {
        return Err(Reply::illegal_request(code::LBA_OUT_OF_RANGE));
    }
    if command.op == BlockOp::CompareAndWrite && command.blocks > MAX_COMPARE_AND_WRITE_BLOCKS {
        return Err(Reply::invalid_field());
    }
    Ok(())
}

/// SYNCHRONIZE CACHE: the media is the cache, so only the range is checked (0 blocks means
/// "to the end of the medium").
fn synchronize(unit: &LogicalUnit, command: BlockCommand) -> Reply {
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

/// WRITE ATOMIC(16): every write is atomic here (one command runs at a time); the limits
/// of VPD B0h apply, and no atomic boundary is supported.
fn write_atomic(
    unit: &mut LogicalUnit,
    command: BlockCommand,
    cdb: &[u8],
    data_out: &[u8],
    bytes: usize,
) -> Reply {
    let boundary = be(cdb, 10, 2).unwrap_or(0);
    if boundary != 0 || command.blocks > MAX_ATOMIC_BLOCKS {
        return Reply::invalid_field();
    }
    match data_out.get(..bytes) {
        Some(data) => finish(unit.media.write(command.lba, command.blocks, data)),
        None => data_phase_error(),
    }
}

fn data_phase_error() -> Reply {
    Reply::check(SenseKey::ABORTED_COMMAND, code::DATA_PHASE_ERROR)
}

pub(super) fn finish(result: Result<(), MediaError>) -> Reply {
    match result {
        Ok(()) => Reply::GOOD,
        Err(MediaError::OutOfRange { .. }) => Reply::illegal_request(code::LBA_OUT_OF_RANGE),
        Err(MediaError::BufferLength { .. }) => data_phase_error(),
        Err(MediaError::OutOfMemory { .. }) => {
            Reply::check(SenseKey::DATA_PROTECT, code::SPACE_ALLOCATION_FAILED)
        }
    }
}

#[cfg(test)]
mod codec_tests {
    use super::{decode, with_transfer_length, BlockOp};

    #[test]
    fn six_byte_length_zero_is_256_blocks_and_cuts_keep_the_lba() {
        let read6 = decode(&[0x08, 0x01, 0x02, 0x03, 0x00, 0x00]).unwrap();
        assert_eq!(
            (read6.op, read6.lba, read6.blocks, read6.protect),
            (BlockOp::Read, 0x01_0203, 256, 0)
        );
        let write10 = [0x2a, 0, 0, 0, 0x12, 0x34, 0, 0, 8, 0];
        let cut = with_transfer_length(&write10, 3).unwrap();
        assert_eq!(&cut[..10], &[0x2a, 0, 0, 0, 0x12, 0x34, 0, 0, 3, 0]);
        assert_eq!(with_transfer_length(&write10, 0), None);
        assert_eq!(with_transfer_length(&write10, 1 << 16), None);
        let read10 = [0x28, 0, 0, 0, 0x12, 0x34, 0, 0, 8, 0];
        assert_eq!(
            with_transfer_length(&read10, 3),
            None,
            "only writes are cut"
        );
    }
}

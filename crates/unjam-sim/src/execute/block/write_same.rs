//! WRITE SAME(10) and (16) (SBC-3 §5.41–5.42): one block of data-out (or none with NDOB:
//! zeros) written to every block of the range; a range of 0 blocks runs to the end of the
//! medium. With UNMAP set the blocks are deallocated instead, whatever the data (thin
//! provisioning, LBPWS and LBPWS10; unmapped blocks read as zeros, LBPRZ). ANCHOR is not
//! supported.

use super::{data_phase_error, finish, BlockCommand, BlockOp};
use crate::execute::Reply;
use crate::logical_unit::LogicalUnit;
use crate::sense_data::code;

/// The most blocks one WRITE SAME writes (VPD B0h MAXIMUM WRITE SAME LENGTH); deallocating
/// has no limit.
pub(in crate::execute) const MAX_WRITE_SAME_BLOCKS: u64 = 65_536;

/// Bytes written per media call while filling the range.
const FILL_BYTES: usize = 256 * 1024;

const ANCHOR: u8 = 0x10;
const UNMAP: u8 = 0x08;
const NDOB: u8 = 0x01;

/// One block, or none with NDOB (defined in WRITE SAME(16); in WRITE SAME(10) bit 0 is
/// obsolete, and set it means the same here).
pub(super) fn data_out_length(command: &BlockCommand, block_size: u64) -> Option<u64> {
    (command.flags & NDOB == 0).then_some(block_size)
}

pub(super) fn write_same(unit: &mut LogicalUnit, command: BlockCommand, data_out: &[u8]) -> Reply {
    debug_assert_eq!(command.op, BlockOp::WriteSame);
    if command.flags & ANCHOR != 0 {
        return Reply::invalid_field();
    }
    let count = unit.media.block_count();
    if command.lba >= count {
        return Reply::illegal_request(code::LBA_OUT_OF_RANGE);
    }
    let blocks = if command.blocks == 0 {
        count - command.lba
    } else {
        command.blocks
    };
    if command
        .lba
        .checked_add(blocks)
        .is_none_or(|end| end > count)
    {
        return Reply::illegal_request(code::LBA_OUT_OF_RANGE);
    }
    let block_size = unit.media.block_size() as usize;
    let zeros = vec![0u8; block_size];
    let block = if command.flags & NDOB != 0 {
        &zeros[..]
    } else {
        match data_out.get(..block_size) {
            Some(block) => block,
            None => return data_phase_error(),
        }
    };
    if command.flags & UNMAP != 0 {
        return finish(unit.media.deallocate(command.lba, blocks));
    }
    if blocks > MAX_WRITE_SAME_BLOCKS {
        return Reply::invalid_field();
    }
    fill(unit, command.lba, blocks, block)
}

fn fill(unit: &mut LogicalUnit, lba: u64, blocks: u64, block: &[u8]) -> Reply {
    let per_call = (FILL_BYTES / block.len()).max(1) as u64;
    let buffer = block.repeat(per_call.min(blocks) as usize);
    let mut done = 0;
    while done < blocks {
        let take = per_call.min(blocks - done);
        let bytes = take as usize * block.len();
        let result = unit.media.write(lba + done, take, &buffer[..bytes]);
        if result.is_err() {
            return finish(result);
        }
        done += take;
    }
    Reply::GOOD
}

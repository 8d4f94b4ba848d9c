//! Thin provisioning (SBC-3 §4.7): the sparse media is a thinly provisioned logical unit
//! whose unmapped blocks read as zeros (LBPRZ). UNMAP deallocates block ranges and GET LBA
//! STATUS reports which are mapped; WRITE SAME with UNMAP is in `block`.
//!
//! Owns the parameter lists of these two commands and their limits (reported in VPD B0h).

use super::{be32, byte, respond, Reply, MAX_TRANSFER_BYTES};
use crate::logical_unit::LogicalUnit;
use crate::sense_data::code;

/// MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
pub(super) const MAX_UNMAP_DESCRIPTORS: usize = 256;
/// MAXIMUM UNMAP LBA COUNT (blocks per descriptor).
pub(super) const MAX_UNMAP_BLOCKS: u64 = 1 << 20;
/// Descriptors one GET LBA STATUS returns at most.
const MAX_STATUS_DESCRIPTORS: usize = 1024;

const INVALID_FIELD_IN_PARAMETER_LIST: (u8, u8) = (0x26, 0x00);
const PARAMETER_LIST_LENGTH_ERROR: (u8, u8) = (0x1a, 0x00);

/// The parameter list length of an UNMAP CDB.
pub(super) fn unmap_parameter_length(cdb: &[u8]) -> u64 {
    u64::from(u16::from_be_bytes([byte(cdb, 7), byte(cdb, 8)]))
}

/// UNMAP: every descriptor is checked before any block is deallocated.
pub(super) fn unmap(unit: &mut LogicalUnit, cdb: &[u8], data_out: &[u8]) -> Reply {
    if byte(cdb, 1) & 0x01 != 0 {
        return Reply::invalid_field(); // ANCHOR: anchored blocks are not supported
    }
    let length = unmap_parameter_length(cdb) as usize;
    if length == 0 {
        return Reply::GOOD;
    }
    let Some(list) = data_out.get(..length) else {
        return Reply::illegal_request(PARAMETER_LIST_LENGTH_ERROR);
    };
    if length < 8 {
        return Reply::illegal_request(PARAMETER_LIST_LENGTH_ERROR);
    }
    let descriptors_length = usize::from(u16::from_be_bytes([list[2], list[3]]));
    let Some(descriptors) = list.get(8..8 + descriptors_length) else {
        return Reply::illegal_request(PARAMETER_LIST_LENGTH_ERROR);
    };
    if descriptors.len() / 16 > MAX_UNMAP_DESCRIPTORS {
        return Reply::illegal_request(INVALID_FIELD_IN_PARAMETER_LIST);
    }
    let mut ranges = Vec::with_capacity(descriptors.len() / 16);
    for descriptor in descriptors.chunks_exact(16) {
        let lba = u64::from_be_bytes(descriptor[..8].try_into().unwrap_or_default());
        let blocks = u64::from(u32::from_be_bytes(
            descriptor[8..12].try_into().unwrap_or_default(),
        ));
        if blocks > MAX_UNMAP_BLOCKS {
            return Reply::illegal_request(INVALID_FIELD_IN_PARAMETER_LIST);
        }
        // A descriptor of zero blocks unmaps nothing and is not an error (SBC-3 §5.28.2).
        if blocks > 0 && unit.media.check_range(lba, blocks).is_err() {
            return Reply::illegal_request(code::LBA_OUT_OF_RANGE);
        }
        ranges.push((lba, blocks));
    }
    for (lba, blocks) in ranges {
        if let Err(error) = unit.media.deallocate(lba, blocks) {
            return super::block::finish(Err(error));
        }
    }
    Reply::GOOD
}

/// GET LBA STATUS (SERVICE ACTION IN(16), 12h): runs of mapped and deallocated blocks from
/// the starting LBA.
pub(super) fn get_lba_status(unit: &LogicalUnit, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    let lba = u64::from_be_bytes(
        cdb.get(2..10)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default(),
    );
    let allocation_length = (be32(cdb, 10) as usize).min(MAX_TRANSFER_BYTES);
    let count = unit.media.block_count();
    if lba >= count {
        return Reply::illegal_request(code::LBA_OUT_OF_RANGE);
    }
    let room = allocation_length.saturating_sub(8) / 16;
    let mut data = vec![0u8; 8];
    let mut at = lba;
    for _ in 0..room.clamp(1, MAX_STATUS_DESCRIPTORS) {
        if at >= count {
            break;
        }
        let Ok((mapped, blocks)) = unit.media.mapping(at, u64::from(u32::MAX)) else {
            break;
        };
        data.extend_from_slice(&at.to_be_bytes());
        data.extend_from_slice(&(blocks as u32).to_be_bytes());
        data.extend_from_slice(&[u8::from(!mapped), 0, 0, 0]);
        at += blocks;
    }
    let length = (data.len() - 4) as u32;
    data[..4].copy_from_slice(&length.to_be_bytes());
    respond(data_in, &data, allocation_length)
}

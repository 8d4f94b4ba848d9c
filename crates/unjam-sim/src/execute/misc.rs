//! The small commands: TEST UNIT READY, START STOP UNIT, REQUEST SENSE and READ CAPACITY
//! (10) and (16).

use unjam_scsi::sense::SenseKey;

use super::{be32, byte, respond, Reply};
use crate::logical_unit::{LogicalUnit, PathState};
use crate::sense_data::{code, SenseData};

pub(super) fn test_unit_ready(unit: &LogicalUnit) -> Reply {
    if unit.started {
        Reply::GOOD
    } else {
        Reply::not_ready()
    }
}

/// START STOP UNIT: with power condition 0 the START bit starts or stops the unit; other
/// power conditions are accepted and change nothing. LOEJ is ignored (no removable media).
pub(super) fn start_stop_unit(unit: &mut LogicalUnit, cdb: &[u8]) -> Reply {
    let power_condition = byte(cdb, 4) >> 4;
    if power_condition == 0 {
        unit.started = byte(cdb, 4) & 0x01 != 0;
    }
    Reply::GOOD
}

/// REQUEST SENSE: a pending unit attention first, then sense withheld by a fault, then the
/// unit's own condition (NOT READY when stopped, 25/00 when absent), else NO SENSE.
/// Descriptor format (DESC = 1) is not supported and refused as SPC-4 requires.
pub(super) fn request_sense(
    unit: Option<&LogicalUnit>,
    path: &mut PathState,
    cdb: &[u8],
    data_in: &mut Vec<u8>,
) -> Reply {
    if byte(cdb, 1) & 0x01 != 0 {
        return Reply::invalid_field();
    }
    let allocation_length = byte(cdb, 4) as usize;
    let sense = if let Some(asc_ascq) = path.take_unit_attention() {
        SenseData::fixed(SenseKey::UNIT_ATTENTION, asc_ascq, None)
    } else if let Some(withheld) = path.withheld_sense.take() {
        *withheld
    } else {
        match unit {
            None => SenseData::fixed(
                SenseKey::ILLEGAL_REQUEST,
                code::LOGICAL_UNIT_NOT_SUPPORTED,
                None,
            ),
            Some(unit) if !unit.started => SenseData::fixed(
                SenseKey::NOT_READY,
                code::LOGICAL_UNIT_NOT_READY_INIT_REQUIRED,
                None,
            ),
            Some(_) => SenseData::fixed(SenseKey::NO_SENSE, code::NO_ADDITIONAL_SENSE, None),
        }
    };
    respond(data_in, sense.as_bytes(), allocation_length)
}

/// READ CAPACITY(10): the last LBA (FFFFFFFFh when it does not fit) and the block length.
pub(super) fn read_capacity_10(unit: &LogicalUnit, data_in: &mut Vec<u8>) -> Reply {
    let last_lba = unit.media.block_count() - 1;
    let reported = u32::try_from(last_lba).unwrap_or(u32::MAX);
    let mut data = [0u8; 8];
    data[0..4].copy_from_slice(&reported.to_be_bytes());
    data[4..8].copy_from_slice(&unit.media.block_size().to_be_bytes());
    respond(data_in, &data, data.len())
}

/// READ CAPACITY(16): last LBA, block length, and LBPME with LBPRZ (the sparse media is
/// thinly provisioned and unmapped blocks read as zeros).
pub(super) fn read_capacity_16(unit: &LogicalUnit, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    let allocation_length = be32(cdb, 10) as usize;
    let mut data = [0u8; 32];
    data[0..8].copy_from_slice(&(unit.media.block_count() - 1).to_be_bytes());
    data[8..12].copy_from_slice(&unit.media.block_size().to_be_bytes());
    data[14] = 0x80 | 0x40;
    respond(data_in, &data, allocation_length)
}

/// READ DEFECT DATA(10) and (12): an empty defect list in the requested format.
pub(super) fn read_defect_data(cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    let ten = byte(cdb, 0) == 0x37;
    let (flags, allocation_length) = if ten {
        (
            byte(cdb, 2),
            usize::from(u16::from_be_bytes([byte(cdb, 7), byte(cdb, 8)])),
        )
    } else {
        (byte(cdb, 1), be32(cdb, 6) as usize)
    };
    let lists_and_format = flags & 0x1f;
    let header: &[u8] = if ten {
        &[0, lists_and_format, 0, 0]
    } else {
        &[0, lists_and_format, 0, 0, 0, 0, 0, 0]
    };
    respond(data_in, header, allocation_length)
}

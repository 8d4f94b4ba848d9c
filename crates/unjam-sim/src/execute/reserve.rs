//! RESERVE and RELEASE (6) and (10) (SPC-2), and the reservation conflict check every other
//! command passes through.

use unjam_scsi::SamStatus;

use super::persistent::{PERSISTENT_RESERVE_IN, PERSISTENT_RESERVE_OUT};
use super::{byte, PortView, Reply};
use crate::logical_unit::LogicalUnit;
use crate::reservation::Access;

pub(super) const RESERVE_6: u8 = 0x16;
pub(super) const RELEASE_6: u8 = 0x17;
pub(super) const RESERVE_10: u8 = 0x56;
pub(super) const RELEASE_10: u8 = 0x57;

pub(super) const CONFLICT: Reply = Reply {
    status: SamStatus::RESERVATION_CONFLICT,
    sense: None,
};

/// RESERVATION CONFLICT for a command a reservation of another nexus shuts out (SPC-2
/// reservations, and persistent reservations by their type).
pub(super) fn conflict(unit: &LogicalUnit, port: PortView<'_>, cdb: &[u8]) -> Option<Reply> {
    let access = access(cdb);
    unit.reservations
        .conflicts(port.nexus, access)
        .then_some(CONFLICT)
}

/// How a command touches the unit, for the conflict rules (SPC-4 table 47, simplified to
/// three classes).
fn access(cdb: &[u8]) -> Access {
    use unjam_scsi::cdb::opcode;
    let first = byte(cdb, 0);
    let read_capacity_16 =
        first == opcode::SERVICE_ACTION_IN_16 && byte(cdb, 1) & 0x1f == opcode::SA_READ_CAPACITY_16;
    match first {
        opcode::INQUIRY
        | opcode::REPORT_LUNS
        | opcode::REQUEST_SENSE
        | opcode::MAINTENANCE_IN
        | opcode::READ_CAPACITY_10
        | PERSISTENT_RESERVE_IN
        | PERSISTENT_RESERVE_OUT
        | RESERVE_6
        | RESERVE_10
        | RELEASE_6
        | RELEASE_10 => Access::Always,
        _ if read_capacity_16 => Access::Always,
        _ if changes_medium(cdb) => Access::Write,
        _ => Access::Read,
    }
}

fn changes_medium(cdb: &[u8]) -> bool {
    let reads = matches!(
        byte(cdb, 0),
        0x08 | 0x28 | 0xa8 | 0x88 | 0x2f | 0xaf | 0x8f | 0x34 | 0x90
    );
    (super::block::is_block_command(byte(cdb, 0)) && !reads) || byte(cdb, 0) == 0x42
}

/// RESERVE(6)/(10) of the whole unit; third-party and extent reservations are refused.
pub(super) fn reserve(unit: &mut LogicalUnit, port: PortView<'_>, cdb: &[u8]) -> Reply {
    let third_party_or_extent = if byte(cdb, 0) == RESERVE_6 {
        byte(cdb, 1) & 0x1f != 0
    } else {
        byte(cdb, 1) & 0x13 != 0
    };
    if third_party_or_extent {
        return Reply::invalid_field();
    }
    if unit.reservations.persistent_in_use() {
        return CONFLICT;
    }
    if unit.reservations.reserve(port.nexus) {
        Reply::GOOD
    } else {
        CONFLICT
    }
}

/// RELEASE(6)/(10): releases the nexus's own reservation; anything else is a no-op.
pub(super) fn release(unit: &mut LogicalUnit, port: PortView<'_>, cdb: &[u8]) -> Reply {
    let third_party = if byte(cdb, 0) == RELEASE_6 {
        byte(cdb, 1) & 0x1f != 0
    } else {
        byte(cdb, 1) & 0x13 != 0
    };
    if third_party {
        return Reply::invalid_field();
    }
    if unit.reservations.persistent_in_use() {
        return CONFLICT;
    }
    unit.reservations.release(port.nexus);
    Reply::GOOD
}

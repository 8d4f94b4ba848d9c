//! RESERVE and RELEASE (6) and (10) (SPC-2), and the reservation conflict check every other
//! command passes through.

use unjam_scsi::SamStatus;

use super::{byte, PortView, Reply};
use crate::logical_unit::LogicalUnit;

pub(super) const RESERVE_6: u8 = 0x16;
pub(super) const RELEASE_6: u8 = 0x17;
pub(super) const RESERVE_10: u8 = 0x56;
pub(super) const RELEASE_10: u8 = 0x57;

pub(super) const CONFLICT: Reply = Reply {
    status: SamStatus::RESERVATION_CONFLICT,
    sense: None,
};

/// RESERVATION CONFLICT for a command from a nexus another nexus's reservation shuts out;
/// INQUIRY, REPORT LUNS, REQUEST SENSE, RELEASE and MAINTENANCE IN always run.
pub(super) fn conflict(unit: &LogicalUnit, port: PortView<'_>, first: u8) -> Option<Reply> {
    let exempt = matches!(
        first,
        unjam_scsi::cdb::opcode::INQUIRY
            | unjam_scsi::cdb::opcode::REPORT_LUNS
            | unjam_scsi::cdb::opcode::REQUEST_SENSE
            | unjam_scsi::cdb::opcode::MAINTENANCE_IN
            | RELEASE_6
            | RELEASE_10
    );
    (!exempt && unit.reservations.conflicts(port.nexus)).then_some(CONFLICT)
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
    unit.reservations.release(port.nexus);
    Reply::GOOD
}

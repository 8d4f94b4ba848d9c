//! The command executor: a pure function from (logical unit, path, CDB, data-out) to the
//! target's answer (status, sense, data-in). It knows SPC/SBC command semantics and nothing
//! about time, faults or transports: those belong to the target engine around it.
//!
//! ```text
//!  CDB ─► unit attention? ─► opcode ─► inquiry / capacity / mode_sense / report_luns /
//!                                      media (READ, WRITE, SYNCHRONIZE CACHE) / misc
//!                                   └► anything else: ILLEGAL REQUEST 20/00
//! ```

mod alua;
mod inquiry;
mod media;
mod misc;
mod mode_sense;
mod report_luns;

use unjam_scsi::cdb::opcode;
use unjam_scsi::sense::SenseKey;
use unjam_scsi::SamStatus;

use crate::logical_unit::{LogicalUnit, PathState};
use crate::sense_data::{code, SenseData};

/// The most data one command may move in either direction (a bound on every buffer).
pub const MAX_TRANSFER_BYTES: usize = 32 * 1024 * 1024;

/// The target's answer to one command (its data-in is written to the caller's buffer).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reply {
    pub status: SamStatus,
    pub sense: Option<SenseData>,
}

impl Reply {
    pub const GOOD: Reply = Reply {
        status: SamStatus::GOOD,
        sense: None,
    };

    /// CHECK CONDITION with fixed-format sense.
    pub fn check(key: SenseKey, asc_ascq: (u8, u8)) -> Reply {
        Reply {
            status: SamStatus::CHECK_CONDITION,
            sense: Some(SenseData::fixed(key, asc_ascq, None)),
        }
    }

    pub fn illegal_request(asc_ascq: (u8, u8)) -> Reply {
        Reply::check(SenseKey::ILLEGAL_REQUEST, asc_ascq)
    }

    pub fn invalid_field() -> Reply {
        Reply::illegal_request(code::INVALID_FIELD_IN_CDB)
    }

    pub fn not_ready() -> Reply {
        Reply::check(
            SenseKey::NOT_READY,
            code::LOGICAL_UNIT_NOT_READY_INIT_REQUIRED,
        )
    }
}

/// What the executor needs to know about the port the command arrived on.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortView<'a> {
    /// The LUN numbers that exist behind this target, ascending.
    pub target_luns: &'a [u64],
    /// The relative target port identifier reported in VPD 83h (one per path).
    pub relative_port: u16,
    /// The I_T nexus the command arrived on (reservations belong to one); 0 when there is
    /// only one initiator, as in the simulator.
    pub nexus: u64,
    /// Target port groups for ALUA (empty: the logical unit does not report ALUA).
    pub port_groups: &'a [PortGroup],
    /// The group of the port the command arrived on.
    pub port_group: u16,
}

pub use alua::PortGroup;

/// Executes `cdb` on a logical unit that exists. `data_in` is cleared and filled with the
/// data the target transfers to the initiator (never more than the CDB's allocation length
/// or transfer length allow).
pub fn execute(
    unit: &mut LogicalUnit,
    path: &mut PathState,
    port: PortView<'_>,
    cdb: &[u8],
    data_out: &[u8],
    data_in: &mut Vec<u8>,
) -> Reply {
    data_in.clear();
    let Some(&first) = cdb.first() else {
        return Reply::illegal_request(code::INVALID_OPCODE);
    };
    if cdb.len() < cdb_length(first) {
        return Reply::invalid_field();
    }
    if reports_unit_attention(first) {
        if let Some(asc_ascq) = path.take_unit_attention() {
            return Reply::check(SenseKey::UNIT_ATTENTION, asc_ascq);
        }
    }
    if let Some(refusal) = alua::refuse_in_state(port, cdb) {
        return refusal;
    }
    match first {
        opcode::INQUIRY => inquiry::inquiry(unit, port, cdb, data_in),
        opcode::REPORT_LUNS => report_luns::report_luns(port.target_luns, cdb, data_in),
        opcode::REQUEST_SENSE => misc::request_sense(Some(unit), path, cdb, data_in),
        opcode::TEST_UNIT_READY => misc::test_unit_ready(unit),
        opcode::START_STOP_UNIT => misc::start_stop_unit(unit, cdb),
        opcode::READ_CAPACITY_10 => misc::read_capacity_10(unit, data_in),
        opcode::SERVICE_ACTION_IN_16 => misc::service_action_in_16(unit, cdb, data_in),
        opcode::MODE_SENSE_6 | opcode::MODE_SENSE_10 => mode_sense::mode_sense(unit, cdb, data_in),
        opcode::READ_6
        | opcode::READ_10
        | opcode::READ_16
        | opcode::WRITE_6
        | opcode::WRITE_10
        | opcode::WRITE_16
        | opcode::SYNCHRONIZE_CACHE_10
        | opcode::SYNCHRONIZE_CACHE_16 => media::media_access(unit, cdb, data_out, data_in),
        opcode::MAINTENANCE_IN => maintenance_in(port, cdb, data_in),
        _ => Reply::illegal_request(code::INVALID_OPCODE),
    }
}

/// MAINTENANCE IN: the service actions the target serves.
fn maintenance_in(port: PortView<'_>, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    match byte(cdb, 1) & 0x1f {
        opcode::SA_REPORT_TARGET_PORT_GROUPS if !port.port_groups.is_empty() => {
            alua::report_target_port_groups(port, cdb, data_in)
        }
        _ => Reply::invalid_field(),
    }
}

/// Executes `cdb` addressed to a LUN that does not exist behind the target: INQUIRY answers
/// peripheral qualifier 3, REPORT LUNS and REQUEST SENSE work, the rest is refused with
/// ILLEGAL REQUEST 25/00 (SPC-4 §5.1 and the kernel's scan rely on this).
pub fn execute_absent(port: PortView<'_>, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    data_in.clear();
    let Some(&first) = cdb.first() else {
        return Reply::illegal_request(code::INVALID_OPCODE);
    };
    if cdb.len() < cdb_length(first) {
        return Reply::invalid_field();
    }
    match first {
        opcode::INQUIRY => inquiry::inquiry_absent(cdb, data_in),
        opcode::REPORT_LUNS => report_luns::report_luns(port.target_luns, cdb, data_in),
        opcode::REQUEST_SENSE => misc::request_sense(None, &mut PathState::default(), cdb, data_in),
        _ => Reply::illegal_request(code::LOGICAL_UNIT_NOT_SUPPORTED),
    }
}

/// The data-out bytes `cdb` takes from the initiator on `unit` (`None`: the command sends
/// no data). A transport checks the initiator's expected length against it.
pub fn data_out_length(unit: &LogicalUnit, cdb: &[u8]) -> Option<u64> {
    let first = *cdb.first()?;
    let block_size = u64::from(unit.media.block_size());
    match first {
        opcode::WRITE_6
        | opcode::WRITE_10
        | opcode::WRITE_12
        | opcode::WRITE_16
        | opcode::WRITE_AND_VERIFY_10
        | opcode::WRITE_AND_VERIFY_12
        | opcode::WRITE_AND_VERIFY_16 => unjam_scsi::cdb::lba_and_block_count(cdb)
            .map(|(_, blocks)| u64::from(blocks) * block_size),
        _ => None,
    }
}

/// The CDB length implied by the opcode's group code (SPC-4 §4.2.5.1).
pub fn cdb_length(first: u8) -> usize {
    match first >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        _ => 6,
    }
}

/// INQUIRY, REPORT LUNS and REQUEST SENSE never report a pending unit attention (SAM-5).
fn reports_unit_attention(first: u8) -> bool {
    !matches!(
        first,
        opcode::INQUIRY | opcode::REPORT_LUNS | opcode::REQUEST_SENSE
    )
}

/// Appends `bytes` to `data_in`, cut to the allocation length.
fn respond(data_in: &mut Vec<u8>, bytes: &[u8], allocation_length: usize) -> Reply {
    let length = bytes.len().min(allocation_length).min(MAX_TRANSFER_BYTES);
    data_in.extend_from_slice(&bytes[..length]);
    Reply::GOOD
}

/// Big-endian field readers over a CDB whose length was checked against its group code.
fn be16(cdb: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([byte(cdb, at), byte(cdb, at + 1)])
}

fn be32(cdb: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([
        byte(cdb, at),
        byte(cdb, at + 1),
        byte(cdb, at + 2),
        byte(cdb, at + 3),
    ])
}

fn byte(cdb: &[u8], at: usize) -> u8 {
    cdb.get(at).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests;

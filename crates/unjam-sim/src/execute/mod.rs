//! The command executor: a pure function from (logical unit, path, CDB, data-out) to the
//! target's answer (status, sense, data-in). It knows SPC/SBC command semantics and nothing
//! about time, faults or transports: those belong to the target engine around it.
//!
//! ```text
//!  CDB ─► unit attention? ─► ALUA state? ─► reservation conflict? ─► opcode ─►
//!        inquiry (+ vpd) / capacity / mode_sense / report_luns / block (READ, WRITE, VERIFY,
//!        WRITE SAME, COMPARE AND WRITE, ...) / provisioning (UNMAP, GET LBA STATUS) /
//!        reserve / opcodes (REPORT SUPPORTED OPERATION CODES) / alua / misc
//!        └► anything else: ILLEGAL REQUEST 20/00
//! ```

mod alua;
mod block;
mod inquiry;
mod misc;
mod mode_sense;
mod opcodes;
mod persistent;
mod provisioning;
mod report_luns;
mod reserve;
mod vpd;

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
    /// The initiator port's name (iSCSI: `name,i,0xISID`), as persistent reservations
    /// report it.
    pub initiator_port: &'a str,
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
    if let Some(conflict) = reserve::conflict(unit, port, cdb) {
        return conflict;
    }
    dispatch(unit, path, port, cdb, data_out, data_in)
}

fn dispatch(
    unit: &mut LogicalUnit,
    path: &mut PathState,
    port: PortView<'_>,
    cdb: &[u8],
    data_out: &[u8],
    data_in: &mut Vec<u8>,
) -> Reply {
    let first = byte(cdb, 0);
    if block::is_block_command(first) {
        return block::block_access(unit, cdb, data_out, data_in);
    }
    match first {
        opcode::INQUIRY => inquiry::inquiry(unit, port, cdb, data_in),
        opcode::REPORT_LUNS => report_luns::report_luns(port.target_luns, cdb, data_in),
        opcode::REQUEST_SENSE => misc::request_sense(Some(unit), path, cdb, data_in),
        opcode::TEST_UNIT_READY => misc::test_unit_ready(unit),
        opcode::START_STOP_UNIT => misc::start_stop_unit(unit, cdb),
        opcode::READ_CAPACITY_10 => misc::read_capacity_10(unit, data_in),
        opcode::SERVICE_ACTION_IN_16 => service_action_in_16(unit, cdb, data_in),
        opcode::MODE_SENSE_6 | opcode::MODE_SENSE_10 => mode_sense::mode_sense(unit, cdb, data_in),
        opcode::MAINTENANCE_IN => maintenance_in(port, cdb, data_in),
        UNMAP => provisioning::unmap(unit, cdb, data_out),
        READ_DEFECT_DATA_10 | READ_DEFECT_DATA_12 => misc::read_defect_data(cdb, data_in),
        reserve::RESERVE_6 | reserve::RESERVE_10 => reserve::reserve(unit, port, cdb),
        reserve::RELEASE_6 | reserve::RELEASE_10 => reserve::release(unit, port, cdb),
        persistent::PERSISTENT_RESERVE_IN => persistent::reserve_in(unit, cdb, data_in),
        persistent::PERSISTENT_RESERVE_OUT => persistent::reserve_out(unit, port, cdb, data_out),
        _ => Reply::illegal_request(code::INVALID_OPCODE),
    }
}

const UNMAP: u8 = 0x42;
const READ_DEFECT_DATA_10: u8 = 0x37;
const READ_DEFECT_DATA_12: u8 = 0xb7;
const SA_GET_LBA_STATUS: u8 = 0x12;
const SA_REPORT_SUPPORTED_OPERATION_CODES: u8 = 0x0c;

/// SERVICE ACTION IN(16): READ CAPACITY(16) and GET LBA STATUS.
fn service_action_in_16(unit: &LogicalUnit, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    match byte(cdb, 1) & 0x1f {
        opcode::SA_READ_CAPACITY_16 => misc::read_capacity_16(unit, cdb, data_in),
        SA_GET_LBA_STATUS => provisioning::get_lba_status(unit, cdb, data_in),
        _ => Reply::invalid_field(),
    }
}

/// MAINTENANCE IN: the service actions the target serves.
fn maintenance_in(port: PortView<'_>, cdb: &[u8], data_in: &mut Vec<u8>) -> Reply {
    match byte(cdb, 1) & 0x1f {
        opcode::SA_REPORT_TARGET_PORT_GROUPS if !port.port_groups.is_empty() => {
            alua::report_target_port_groups(port, cdb, data_in)
        }
        SA_REPORT_SUPPORTED_OPERATION_CODES => opcodes::report_supported(port, cdb, data_in),
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
    if let Some(command) = block::decode(cdb) {
        return block::data_out_length(&command, block_size);
    }
    match first {
        UNMAP => Some(provisioning::unmap_parameter_length(cdb)),
        persistent::PERSISTENT_RESERVE_OUT => Some(persistent::out_parameter_length(cdb)),
        _ => None,
    }
}

/// What to run when a transport delivered only `available` bytes of a write's data-out
/// (its expected length was shorter than the command: SAM-5's overflow, where the device
/// server processes only the data transferred): the CDB cut to the whole blocks that
/// arrived, or `None` when not one block did (nothing to write) or the command is not a
/// write.
pub fn cut_write(unit: &LogicalUnit, cdb: &[u8], available: u64) -> Option<[u8; 16]> {
    let blocks = available / u64::from(unit.media.block_size());
    block::with_transfer_length(cdb, blocks)
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

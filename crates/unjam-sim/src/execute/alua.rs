//! Asymmetric logical unit access (SPC-4 §5.15): the access state of the port a command
//! arrived on decides which commands it may run (NOT READY 04/0A transitioning, 04/0B
//! standby, 04/0C unavailable), and REPORT TARGET PORT GROUPS tells the initiator every
//! group's state.
//!
//! Owns the per-state command tables and the REPORT TARGET PORT GROUPS layout. Who changes
//! a state, and the unit attention 2A/06 that follows, belong to the front that owns the
//! ports.

use unjam_scsi::cdb::opcode;
use unjam_scsi::cdb::response::AccessState;
use unjam_scsi::sense::SenseKey;

use super::{be32, byte, respond, PortView, Reply, MAX_TRANSFER_BYTES};

/// One target port group as the executor sees it: one relative target port per group.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PortGroup {
    pub id: u16,
    pub state: AccessState,
    pub preferred: bool,
    /// The relative target port identifier of the group's port.
    pub relative_port: u16,
}

/// The most port groups reported (bounds the response).
const MAX_GROUPS: usize = 64;

/// T_SUP, U_SUP, S_SUP, AN_SUP and AO_SUP: the states a group can take.
const SUPPORTED_STATES: u8 = 0x8f;

const LOG_SELECT: u8 = 0x4c;
const LOG_SENSE: u8 = 0x4d;
const MODE_SELECT_6: u8 = 0x15;
const MODE_SELECT_10: u8 = 0x55;
const RECEIVE_DIAGNOSTIC_RESULTS: u8 = 0x1c;
const SEND_DIAGNOSTIC: u8 = 0x1d;
const PERSISTENT_RESERVE_IN: u8 = 0x5e;
const PERSISTENT_RESERVE_OUT: u8 = 0x5f;
const MAINTENANCE_OUT: u8 = 0xa4;

/// The refusal of `cdb` on a port whose group is not active, or `None` when it may run.
pub(super) fn refuse_in_state(port: PortView<'_>, cdb: &[u8]) -> Option<Reply> {
    let group = port.port_groups.iter().find(|g| g.id == port.port_group)?;
    let first = byte(cdb, 0);
    let always = matches!(
        first,
        opcode::INQUIRY | opcode::REPORT_LUNS | opcode::REQUEST_SENSE
    ) || (first == opcode::MAINTENANCE_IN
        && byte(cdb, 1) & 0x1f == opcode::SA_REPORT_TARGET_PORT_GROUPS);
    if always || group.state.is_active() {
        return None;
    }
    let ascq = match group.state {
        AccessState::Standby if allowed_in_standby(first) => return None,
        AccessState::Unavailable if matches!(first, opcode::MAINTENANCE_IN | MAINTENANCE_OUT) => {
            return None
        }
        AccessState::Standby => 0x0b,
        AccessState::Unavailable => 0x0c,
        _ => 0x0a,
    };
    Some(Reply::check(SenseKey::NOT_READY, (0x04, ascq)))
}

fn allowed_in_standby(first: u8) -> bool {
    matches!(
        first,
        LOG_SELECT
            | LOG_SENSE
            | MODE_SELECT_6
            | MODE_SELECT_10
            | opcode::MODE_SENSE_6
            | opcode::MODE_SENSE_10
            | RECEIVE_DIAGNOSTIC_RESULTS
            | SEND_DIAGNOSTIC
            | PERSISTENT_RESERVE_IN
            | PERSISTENT_RESERVE_OUT
            | opcode::MAINTENANCE_IN
            | MAINTENANCE_OUT
    )
}

/// REPORT TARGET PORT GROUPS (MAINTENANCE IN, service action 0Ah), in the length-only or
/// the extended format.
pub(super) fn report_target_port_groups(
    port: PortView<'_>,
    cdb: &[u8],
    data_in: &mut Vec<u8>,
) -> Reply {
    let extended = match byte(cdb, 1) >> 5 {
        0 => false,
        1 => true,
        _ => return Reply::invalid_field(),
    };
    let allocation_length = be32(cdb, 6) as usize;
    let mut data = Vec::with_capacity(8 + 12 * port.port_groups.len().min(MAX_GROUPS));
    data.extend_from_slice(&[0; 4]);
    if extended {
        data.extend_from_slice(&[0x10, 0, 0, 0]);
    }
    for group in port.port_groups.iter().take(MAX_GROUPS) {
        let preferred = if group.preferred { 0x80 } else { 0 };
        let [id_high, id_low] = group.id.to_be_bytes();
        let [port_high, port_low] = group.relative_port.to_be_bytes();
        data.extend_from_slice(&[
            preferred | group.state.code(),
            SUPPORTED_STATES,
            id_high,
            id_low,
            0,
            0,
            0,
            1,
            0,
            0,
            port_high,
            port_low,
        ]);
    }
    let return_length = (data.len() - 4) as u32;
    data[..4].copy_from_slice(&return_length.to_be_bytes());
    respond(data_in, &data, allocation_length.min(MAX_TRANSFER_BYTES))
}

/// TPGS of standard INQUIRY data: 01b (implicit ALUA) when the unit reports port groups.
pub(super) fn tpgs_bits(port: PortView<'_>) -> u8 {
    if port.port_groups.is_empty() {
        0
    } else {
        0x10
    }
}

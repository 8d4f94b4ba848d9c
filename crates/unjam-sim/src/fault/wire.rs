//! Faults on the wire: what a network front of the embedded target (`unjam target`, iSCSI)
//! does to PDUs, connections, portals and logins, in addition to every command fault. They
//! are rules like any other (device, commands, LBA range, window, count, probability) so one
//! grammar describes them all; the simulator's own engine ignores them (it has no wire).
//!
//! This module holds the data only; the network front carries the faults out.

use unjam_scsi::cdb::response::AccessState;

/// What a wire fault does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WireAction {
    /// A matching command runs, but its answer never leaves the target.
    DropResponse,
    /// A matching command's status PDU is sent twice.
    DuplicateResponse,
    /// A matching command's status PDU leaves with a corrupted header digest (only when
    /// HeaderDigest=CRC32C is in force).
    CorruptDigest,
    /// A matching command resets its connection instead of running.
    ResetConnection,
    /// A matching command is answered with a Reject PDU of this reason instead of running.
    RejectPdu { reason: u8 },
    /// In the window every PDU the target sends leaves this much later.
    DelayPdus { delay_us: u64 },
    /// In the window MaxCmdSN stops advancing: the initiator's command window runs dry.
    StallCmdSn,
    /// In the window NOP-Out pings get no NOP-In.
    IgnoreNops,
    /// In the window the portal is down: its listener closed, its connections reset.
    PortalDown,
    /// In the window the portal's paths die silently, as a pulled cable or a partition: its
    /// connections neither read nor send (no answers, no NOP-Ins, no resets) and logins get
    /// no answer; at the window's end what was queued flows again.
    Blackhole,
    /// Logins in the window are refused with this status class and detail.
    RejectLogin { class: u8, detail: u8 },
    /// At the window's start the target asks every session to log out (Async Message 1).
    LogoutRequest { within_s: u16 },
    /// In the window the target port group `group` is in this ALUA state.
    AluaState { group: u16, state: AccessState },
}

impl WireAction {
    /// Faults that fire on a matching command (and count its hits).
    pub fn is_per_command(self) -> bool {
        matches!(
            self,
            WireAction::DropResponse
                | WireAction::DuplicateResponse
                | WireAction::CorruptDigest
                | WireAction::ResetConnection
                | WireAction::RejectPdu { .. }
        )
    }
}

/// ALUA states by name, as scenario files and the control socket write them.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AluaStateName {
    ActiveOptimized,
    ActiveNonOptimized,
    Standby,
    Unavailable,
    Transitioning,
}

impl AluaStateName {
    pub fn access_state(self) -> AccessState {
        match self {
            AluaStateName::ActiveOptimized => AccessState::ActiveOptimized,
            AluaStateName::ActiveNonOptimized => AccessState::ActiveNonOptimized,
            AluaStateName::Standby => AccessState::Standby,
            AluaStateName::Unavailable => AccessState::Unavailable,
            AluaStateName::Transitioning => AccessState::Transitioning,
        }
    }
}

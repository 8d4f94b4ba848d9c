//! Protocol violations a target can commit against one task, and what each costs.
//!
//! Every byte of a read is accounted for (RFC 7143 §11.7: DataSN order, buffer offsets with
//! DataPDUInOrder=Yes, the expected length; §11.4.5: residuals against what arrived), a write
//! is good only when every byte the status claims was sent, and R2Ts follow R2TSN order,
//! MaxOutstandingR2T and the write's length (§11.8, §13.17). A violation fails its task with
//! [`super::TaskFailure::Protocol`]; it is never reported as good data.
//!
//! Owns the list of violations and the split between the two costs:
//! - *mid-stream* violations (a PDU that cannot belong to the task's transfer) also end the
//!   connection: at ErrorRecoveryLevel 0 the only repair is a new connection, and the
//!   target's view of the task is unknown (open-iscsi does the same);
//! - *status-time* violations (the status arrived, but the bytes do not add up) fail only the
//!   task: the target considers it finished, the connection is in step.

use crate::pdu::Residual;

/// SAM statuses that may ride on the last Data-In (RFC 7143 §11.7.3: GOOD, CONDITION MET,
/// INTERMEDIATE, INTERMEDIATE-CONDITION MET); any other needs a SCSI Response with sense.
pub fn is_good_class_status(status: u8) -> bool {
    matches!(status, 0x00 | 0x04 | 0x10 | 0x14)
}

/// What a target did wrong with one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolViolation {
    #[error("Data-In DataSN {received} out of order (expected {expected})")]
    DataSnOutOfOrder { expected: u32, received: u32 },
    #[error("Data-In at offset {offset} leaves a gap after the {expected} bytes received")]
    DataGap { expected: u32, offset: u32 },
    #[error("Data-In at offset {offset} overlaps the {expected} bytes already received")]
    DataOverlap { expected: u32, offset: u32 },
    #[error(
        "Data-In of {length} bytes at offset {offset} runs past the expected {expected} bytes"
    )]
    DataBeyondLength {
        offset: u32,
        length: u32,
        expected: u32,
    },
    #[error("status {status:#04x} on a Data-In: only GOOD-class status may ride on data")]
    StatusInDataIn { status: u8 },
    #[error("status {status:#04x} after {received} of {expected} bytes with residual {residual:?}: data missing")]
    ReadShort {
        status: u8,
        received: u32,
        expected: u32,
        residual: Residual,
    },
    #[error(
        "residual {residual:?} does not match the {received} of {expected} bytes that arrived"
    )]
    ResidualMismatch {
        residual: Residual,
        received: u32,
        expected: u32,
    },
    #[error("SCSI Response ExpDataSN {reported}, but {counted} Data-In/R2T PDUs arrived")]
    ExpDataSnMismatch { reported: u32, counted: u32 },
    #[error("R2TSN {received} out of order or repeated (expected {expected})")]
    R2tSnOutOfOrder { expected: u32, received: u32 },
    #[error("R2T for {length} bytes at offset {offset}; the next unrequested byte is {next} of a {write_length}-byte write")]
    R2tOutOfRange {
        offset: u32,
        length: u32,
        next: u32,
        write_length: u32,
    },
    #[error("R2T for {length} bytes exceeds MaxBurstLength {max_burst}")]
    R2tAboveMaxBurst { length: u32, max_burst: u32 },
    #[error("R2T while {outstanding} R2Ts are outstanding (MaxOutstandingR2T {limit})")]
    TooManyR2ts { outstanding: u32, limit: u32 },
    #[error("status {status:#04x} claims {claimed} bytes of a {expected}-byte write, but only {sent} were sent")]
    WriteStatusBeforeData {
        status: u8,
        sent: u32,
        claimed: u32,
        expected: u32,
    },
    #[error("{pdu} carries the tag of a {task}")]
    WrongPduForTask {
        pdu: &'static str,
        task: &'static str,
    },
}

impl ProtocolViolation {
    /// Whether the connection must end too (mid-stream) or only the task (status-time).
    pub fn ends_connection(&self) -> bool {
        !matches!(
            self,
            ProtocolViolation::StatusInDataIn { .. }
                | ProtocolViolation::ReadShort { .. }
                | ProtocolViolation::ResidualMismatch { .. }
                | ProtocolViolation::ExpDataSnMismatch { .. }
                | ProtocolViolation::WriteStatusBeforeData { .. }
        )
    }

    /// A short stable name for traces and logs (`data_gap`, `read_short`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            ProtocolViolation::DataSnOutOfOrder { .. } => "data_sn_out_of_order",
            ProtocolViolation::DataGap { .. } => "data_gap",
            ProtocolViolation::DataOverlap { .. } => "data_overlap",
            ProtocolViolation::DataBeyondLength { .. } => "data_beyond_length",
            ProtocolViolation::StatusInDataIn { .. } => "status_in_data_in",
            ProtocolViolation::ReadShort { .. } => "read_short",
            ProtocolViolation::ResidualMismatch { .. } => "residual_mismatch",
            ProtocolViolation::ExpDataSnMismatch { .. } => "exp_data_sn_mismatch",
            ProtocolViolation::R2tSnOutOfOrder { .. } => "r2t_sn_out_of_order",
            ProtocolViolation::R2tOutOfRange { .. } => "r2t_out_of_range",
            ProtocolViolation::R2tAboveMaxBurst { .. } => "r2t_above_max_burst",
            ProtocolViolation::TooManyR2ts { .. } => "too_many_r2ts",
            ProtocolViolation::WriteStatusBeforeData { .. } => "write_status_before_data",
            ProtocolViolation::WrongPduForTask { .. } => "wrong_pdu_for_task",
        }
    }
}

//! Exit statuses as sg3_utils defines them (`man sg3_utils`, EXIT STATUS), and the one
//! classification of a command's outcome into them. Every device command ends through
//! [`Failure`] (an error with its status) or success.
//!
//! Owns the table; the commands decide which outcomes are failures.

use std::fmt;

use unjam_runtime::{CommandOutcome, InitiatorError, IoError, ProbeError};
use unjam_scsi::sense::{SenseHeader, SenseKey};
use unjam_scsi::{HostByte, SamStatus};

/// sg3_utils' exit statuses that unjam's device commands use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 1: bad command line (options, URL, values).
    Syntax,
    /// 2: NOT READY.
    NotReady,
    /// 3: MEDIUM ERROR, HARDWARE ERROR or BLANK CHECK.
    MediumHard,
    /// 5: ILLEGAL REQUEST (other than an invalid operation code).
    IllegalRequest,
    /// 6: UNIT ATTENTION.
    UnitAttention,
    /// 7: DATA PROTECT.
    DataProtect,
    /// 9: ILLEGAL REQUEST, invalid command operation code (20/00).
    InvalidOp,
    /// 10: COPY ABORTED.
    CopyAborted,
    /// 11: ABORTED COMMAND.
    AbortedCommand,
    /// 14: MISCOMPARE.
    Miscompare,
    /// 15: cannot open or use the device or a file (login failed, no such LUN, a file).
    CannotOpen,
    /// 20: NO SENSE with additional sense.
    NoSense,
    /// 21: RECOVERED ERROR.
    RecoveredError,
    /// 22: ILLEGAL REQUEST, LBA out of range (21/00).
    LbaOutOfRange,
    /// 24: RESERVATION CONFLICT.
    ReservationConflict,
    /// 25: CONDITION MET.
    ConditionMet,
    /// 26: BUSY.
    Busy,
    /// 27: TASK SET FULL.
    TaskSetFull,
    /// 28: ACA ACTIVE.
    AcaActive,
    /// 29: TASK ABORTED.
    TaskAborted,
    /// 33: the command timed out (or the transport could not deliver it in time).
    Timeout,
    /// 40: ABORTED COMMAND with a protection information error (10/xx).
    Protection,
    /// 97: the response failed sanity checks (an iSCSI protocol violation: data that did
    /// not add up).
    Malformed,
    /// 98: CHECK CONDITION that fits no other class.
    Sense,
    /// 99: anything else (transport failures, internal errors).
    Other,
}

impl ExitClass {
    #[cfg(test)]
    pub const ALL: [ExitClass; 25] = [
        Self::Syntax,
        Self::NotReady,
        Self::MediumHard,
        Self::IllegalRequest,
        Self::UnitAttention,
        Self::DataProtect,
        Self::InvalidOp,
        Self::CopyAborted,
        Self::AbortedCommand,
        Self::Miscompare,
        Self::CannotOpen,
        Self::NoSense,
        Self::RecoveredError,
        Self::LbaOutOfRange,
        Self::ReservationConflict,
        Self::ConditionMet,
        Self::Busy,
        Self::TaskSetFull,
        Self::AcaActive,
        Self::TaskAborted,
        Self::Timeout,
        Self::Protection,
        Self::Malformed,
        Self::Sense,
        Self::Other,
    ];

    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Self::Syntax => 1,
            Self::NotReady => 2,
            Self::MediumHard => 3,
            Self::IllegalRequest => 5,
            Self::UnitAttention => 6,
            Self::DataProtect => 7,
            Self::InvalidOp => 9,
            Self::CopyAborted => 10,
            Self::AbortedCommand => 11,
            Self::Miscompare => 14,
            Self::CannotOpen => 15,
            Self::NoSense => 20,
            Self::RecoveredError => 21,
            Self::LbaOutOfRange => 22,
            Self::ReservationConflict => 24,
            Self::ConditionMet => 25,
            Self::Busy => 26,
            Self::TaskSetFull => 27,
            Self::AcaActive => 28,
            Self::TaskAborted => 29,
            Self::Timeout => 33,
            Self::Protection => 40,
            Self::Malformed => 97,
            Self::Sense => 98,
            Self::Other => 99,
        }
    }

    /// A short name for JSON (`not_ready`, `illegal_request`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Syntax => "syntax_error",
            Self::NotReady => "not_ready",
            Self::MediumHard => "medium_or_hardware_error",
            Self::IllegalRequest => "illegal_request",
            Self::UnitAttention => "unit_attention",
            Self::DataProtect => "data_protect",
            Self::InvalidOp => "invalid_operation_code",
            Self::CopyAborted => "copy_aborted",
            Self::AbortedCommand => "aborted_command",
            Self::Miscompare => "miscompare",
            Self::CannotOpen => "cannot_open",
            Self::NoSense => "no_sense",
            Self::RecoveredError => "recovered_error",
            Self::LbaOutOfRange => "lba_out_of_range",
            Self::ReservationConflict => "reservation_conflict",
            Self::ConditionMet => "condition_met",
            Self::Busy => "busy",
            Self::TaskSetFull => "task_set_full",
            Self::AcaActive => "aca_active",
            Self::TaskAborted => "task_aborted",
            Self::Timeout => "timeout",
            Self::Protection => "protection_information",
            Self::Malformed => "malformed_response",
            Self::Sense => "other_sense",
            Self::Other => "other",
        }
    }

    /// The class of a command that did not complete good, from its status, sense and host
    /// byte (sg3_utils' categories; a sense key decides before the host byte).
    pub fn of_outcome(outcome: &CommandOutcome) -> ExitClass {
        let status = outcome.result.status();
        match status {
            SamStatus::RESERVATION_CONFLICT => return Self::ReservationConflict,
            SamStatus::BUSY => return Self::Busy,
            SamStatus::TASK_SET_FULL => return Self::TaskSetFull,
            SamStatus::ACA_ACTIVE => return Self::AcaActive,
            SamStatus::TASK_ABORTED => return Self::TaskAborted,
            SamStatus::CONDITION_MET => return Self::ConditionMet,
            _ => {}
        }
        if let Some(header) = SenseHeader::normalize(outcome.sense.as_slice()) {
            return Self::of_sense(header);
        }
        match outcome.result.host() {
            HostByte::DID_OK if status == SamStatus::CHECK_CONDITION => Self::Sense,
            HostByte::DID_TIME_OUT | HostByte::DID_NO_CONNECT | HostByte::DID_BUS_BUSY => {
                Self::Timeout
            }
            HostByte::DID_ERROR if outcome.transport_error.as_deref().is_some_and(is_violation) => {
                Self::Malformed
            }
            _ => Self::Other,
        }
    }

    /// sg3_utils' sense categories.
    pub fn of_sense(header: SenseHeader) -> ExitClass {
        match header.key {
            SenseKey::NOT_READY => Self::NotReady,
            SenseKey::MEDIUM_ERROR | SenseKey::HARDWARE_ERROR | SenseKey::BLANK_CHECK => {
                Self::MediumHard
            }
            SenseKey::ILLEGAL_REQUEST => match (header.asc, header.ascq) {
                (0x20, 0x00) => Self::InvalidOp,
                (0x21, 0x00) => Self::LbaOutOfRange,
                _ => Self::IllegalRequest,
            },
            SenseKey::UNIT_ATTENTION => Self::UnitAttention,
            SenseKey::DATA_PROTECT => Self::DataProtect,
            SenseKey::COPY_ABORTED => Self::CopyAborted,
            SenseKey::ABORTED_COMMAND if header.asc == 0x10 => Self::Protection,
            SenseKey::ABORTED_COMMAND => Self::AbortedCommand,
            SenseKey::MISCOMPARE => Self::Miscompare,
            SenseKey::NO_SENSE => Self::NoSense,
            SenseKey::RECOVERED_ERROR => Self::RecoveredError,
            _ => Self::Sense,
        }
    }
}

fn is_violation(text: &str) -> bool {
    text.starts_with("protocol violation")
}

/// A failed device command: what to tell the user and which exit status it ends with.
#[derive(Debug)]
pub struct Failure {
    pub class: ExitClass,
    pub message: String,
}

impl Failure {
    pub fn new(class: ExitClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
        }
    }

    /// A command that reached the core and did not complete good.
    pub fn outcome(what: &str, outcome: &CommandOutcome) -> Failure {
        Failure::new(ExitClass::of_outcome(outcome), format!("{what}: {outcome}"))
    }

    pub fn io(what: &str, error: &IoError) -> Failure {
        match error {
            IoError::Failed(outcome) => Failure::outcome(what, outcome),
            IoError::Invalid(_) => Failure::new(ExitClass::Syntax, format!("{what}: {error}")),
            IoError::Refused(_) | IoError::Stopped => {
                Failure::new(ExitClass::Other, format!("{what}: {error}"))
            }
        }
    }

    pub fn initiator(error: &InitiatorError) -> Failure {
        match error {
            InitiatorError::Login { .. }
            | InitiatorError::Paths(_)
            | InitiatorError::Probe(ProbeError::NoSuchLun(_)) => {
                Failure::new(ExitClass::CannotOpen, error.to_string())
            }
            InitiatorError::Probe(ProbeError::Inquiry(io)) | InitiatorError::Io(io) => {
                Failure::io("cannot open the LUN", io)
            }
            _ => Failure::new(ExitClass::Other, error.to_string()),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit class of any error a device command returns: a [`Failure`]'s own, syntax for
/// errors in what the user typed (clap has already caught the rest), else "other".
pub fn class_of(error: &anyhow::Error) -> ExitClass {
    if let Some(failure) = error.downcast_ref::<Failure>() {
        return failure.class;
    }
    ExitClass::Other
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use unjam_core::buffers::SenseBuffer;
    use unjam_core::TransportOutcome;
    use unjam_scsi::{BlkStatus, MlStatus, ScsiResult};

    fn outcome(host: HostByte, status: SamStatus, sense: &[u8]) -> CommandOutcome {
        CommandOutcome {
            status: BlkStatus::IoErr,
            result: ScsiResult::new(host, MlStatus::OK, status),
            sense: SenseBuffer::from_slice(sense),
            attempts: 1,
            counted_retries: 0,
            resid: 0,
            data: Bytes::new(),
            transport_error: None,
        }
    }

    fn sense(key: u8, asc: u8, ascq: u8) -> CommandOutcome {
        let sense = TransportOutcome::fixed_sense(key, asc, ascq);
        outcome(HostByte::DID_OK, SamStatus::CHECK_CONDITION, &sense)
    }

    #[test]
    fn every_sense_class_has_sg3_utils_exit_status() {
        let cases = [
            (sense(0x2, 0x04, 0x01), 2),
            (sense(0x3, 0x11, 0x00), 3),
            (sense(0x4, 0x44, 0x00), 3),
            (sense(0x8, 0x00, 0x05), 3),
            (sense(0x5, 0x24, 0x00), 5),
            (sense(0x6, 0x29, 0x00), 6),
            (sense(0x7, 0x27, 0x00), 7),
            (sense(0x5, 0x20, 0x00), 9),
            (sense(0xa, 0x1d, 0x00), 10),
            (sense(0xb, 0x47, 0x00), 11),
            (sense(0xe, 0x1d, 0x00), 14),
            (sense(0x0, 0x00, 0x16), 20),
            (sense(0x1, 0x17, 0x01), 21),
            (sense(0x5, 0x21, 0x00), 22),
            (sense(0xb, 0x10, 0x01), 40),
            (sense(0x9, 0x80, 0x00), 98),
        ];
        for (outcome, code) in cases {
            let class = ExitClass::of_outcome(&outcome);
            assert_eq!(class.code(), code, "{:?} -> {class:?}", outcome.sense);
        }
    }

    #[test]
    fn statuses_and_host_bytes_have_their_classes() {
        let status = |status| ExitClass::of_outcome(&outcome(HostByte::DID_OK, status, &[]));
        assert_eq!(status(SamStatus::RESERVATION_CONFLICT).code(), 24);
        assert_eq!(status(SamStatus::BUSY).code(), 26);
        assert_eq!(status(SamStatus::TASK_SET_FULL).code(), 27);
        assert_eq!(status(SamStatus::TASK_ABORTED).code(), 29);
        assert_eq!(status(SamStatus::CHECK_CONDITION).code(), 98);
        let host = |host| ExitClass::of_outcome(&outcome(host, SamStatus::GOOD, &[]));
        assert_eq!(host(HostByte::DID_TIME_OUT).code(), 33);
        assert_eq!(host(HostByte::DID_NO_CONNECT).code(), 33);
        assert_eq!(host(HostByte::DID_TRANSPORT_FAILFAST).code(), 99);
        let mut violation = outcome(HostByte::DID_ERROR, SamStatus::GOOD, &[]);
        violation.transport_error = Some("protocol violation: Data-In leaves a gap".into());
        assert_eq!(ExitClass::of_outcome(&violation).code(), 97);
    }

    #[test]
    fn codes_and_names_are_unique() {
        let mut codes: Vec<u8> = ExitClass::ALL.iter().map(|c| c.code()).collect();
        let mut names: Vec<&str> = ExitClass::ALL.iter().map(|c| c.name()).collect();
        codes.sort_unstable();
        names.sort_unstable();
        codes.dedup();
        names.dedup();
        assert_eq!((codes.len(), names.len()), (25, 25));
    }
}

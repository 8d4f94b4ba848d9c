//! The session's vocabulary: its configuration, the requests it takes, the outcomes,
//! failures and events it reports, and its counters.
//!
//! Owns these types only; the rules that produce them are in the sibling modules.

use std::time::Duration;

use bytes::Bytes;

use crate::pdu::{self, PduError, TaskAttribute};

use super::{DataDirection, PingConfig, ProtocolViolation};

/// Bounds and timers of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Most SCSI tasks held at once, waiting for the window plus in flight.
    pub max_tasks: usize,
    /// Most task management functions outstanding at once.
    pub max_management_tasks: usize,
    /// Largest Expected Data Transfer Length accepted from a caller.
    pub max_transfer_length: u32,
    pub ping: PingConfig,
    /// `poll_transmit` stops adding PDUs once this many bytes are pending.
    pub transmit_chunk_bytes: usize,
    /// PDUs naming a task we do not know that one connection tolerates before it is dropped.
    pub max_stray_pdus: u64,
    /// Answers to target NOP-Ins queued at once; pings beyond it go unanswered (counted).
    pub max_queued_nop_replies: usize,
    /// How long a Logout Request waits for its response (open-iscsi `logout_timeout`, 15 s).
    pub logout_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_tasks: 1024,
            max_management_tasks: 16,
            max_transfer_length: 64 * 1024 * 1024,
            ping: PingConfig::default(),
            transmit_chunk_bytes: 1024 * 1024,
            max_stray_pdus: 16,
            max_queued_nop_replies: 8,
            logout_timeout: Duration::from_secs(15),
        }
    }
}

/// A SCSI command to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRequest {
    pub lun: u64,
    pub cdb: Bytes,
    pub direction: DataDirection,
    pub attribute: TaskAttribute,
}

/// The Initiator Task Tag that names a task for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

/// What the target said about a completed SCSI command, after accounting: `data` holds only
/// bytes that arrived, and `residual` covers every byte that did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiOutcome {
    /// iSCSI Response: 0x00 = command completed at target, 0x01 = target failure.
    pub response: u8,
    pub status: u8,
    pub sense: Bytes,
    pub residual: pdu::Residual,
    /// Data read (empty for writes and non-data commands).
    pub data: Bytes,
}

/// Why a task ended without a SCSI status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TaskFailure {
    #[error("task aborted by a task management function")]
    Aborted,
    #[error("target rejected the command (reason {0:#04x})")]
    Rejected(u8),
    /// The connection failed; `sent` says whether the target may have seen the command.
    #[error("connection lost")]
    ConnectionLost { sent: bool },
    /// The target broke the protocol for this task; nothing it sent for it is trusted.
    #[error("protocol violation: {0}")]
    Protocol(ProtocolViolation),
}

/// Why a request could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("task queue full ({0} tasks)")]
    QueueFull(usize),
    #[error("task management queue full ({0} functions outstanding)")]
    ManagementQueueFull(usize),
    #[error("CDB of {0} bytes is empty or longer than 16 bytes")]
    BadCdbLength(usize),
    #[error("transfer of {length} bytes exceeds the limit of {limit}")]
    TransferTooLong { length: u64, limit: u32 },
    #[error("session is logging out")]
    LoggingOut,
}

/// A failure that ends the connection (ErrorRecoveryLevel 0 has no finer recovery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("PDU: {0}")]
    Pdu(#[from] PduError),
    #[error("unexpected {0} PDU in the full feature phase")]
    UnexpectedPdu(&'static str),
    /// The task named by `tag` already ended with this violation.
    #[error("protocol violation on task {tag:#x}: {violation}")]
    Violation {
        tag: u32,
        violation: ProtocolViolation,
    },
    #[error("more than {limit} PDUs for unknown task tags")]
    TooManyStrayPdus { limit: u64 },
    #[error("no NOP-In answer within the ping timeout")]
    PingTimeout,
    #[error("no Logout Response within the logout timeout")]
    LogoutTimeout,
    #[error("target rejected a PDU with a protocol error (reason {0:#04x})")]
    ProtocolReject(u8),
}

/// Outputs of the session, drained with [`Session::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    TaskDone {
        id: TaskId,
        result: Result<ScsiOutcome, TaskFailure>,
    },
    /// A task management function finished with this RFC 7143 §11.6.1 response code, or
    /// without one.
    ManagementDone {
        id: TaskId,
        response: Result<u8, TaskFailure>,
    },
    /// The target asked us to log out within this many seconds (AsyncEvent 1).
    LogoutRequested {
        within_s: u16,
    },
    /// The target will drop the connection (AsyncEvent 2 or 3).
    ConnectionDropAnnounced,
    /// A SCSI asynchronous event (AsyncEvent 0) with its sense data.
    ScsiAsyncEvent {
        lun: u64,
        sense: Bytes,
    },
    LogoutDone {
        response: Result<u8, TaskFailure>,
    },
}

/// Queue lengths, their high-water marks and misbehaviour counters of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionStats {
    /// SCSI tasks sent and not finished.
    pub in_flight: usize,
    /// SCSI tasks waiting for the command window.
    pub waiting: usize,
    pub management: usize,
    /// PDUs and Data-Out runs queued for the wire.
    pub outgoing: usize,
    pub outgoing_high_water: usize,
    pub queued_nop_replies: usize,
    /// Target pings left unanswered because `max_queued_nop_replies` were queued.
    pub nop_replies_dropped: u64,
    /// PDUs for task tags this connection does not know.
    pub stray_pdus: u64,
    pub violations: u64,
    /// Data-In PDUs whose data segment went from the socket straight into its task's buffer
    /// (received in place, see [`super::Session::read_target`]).
    pub placed_data_in: u64,
}

//! What a caller hands the runtime and what it gets back: one command (CDB, data, flags),
//! its one outcome after every retry and recovery step the core took, and the errors.
//!
//! Owns the caller-facing value types only; no I/O.

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use unjam_core::buffers::{Cdb, SenseBuffer};
use unjam_core::request::BlockInfo;
use unjam_scsi::sense::SenseReport;
use unjam_scsi::{BlkStatus, ScsiResult};

/// Largest transfer one command carries (the iSCSI session's own limit).
pub const MAX_TRANSFER_BYTES: u32 = 64 * 1024 * 1024;

/// Where a command's data goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Transfer {
    #[default]
    None,
    /// Read up to `length` bytes into `buffer` (its contents are discarded; pass the
    /// buffer of an earlier read to read without allocating).
    In { length: u32, buffer: BytesMut },
    /// Write these bytes.
    Out(Bytes),
}

impl Transfer {
    /// A read into a fresh buffer.
    pub fn read(length: u32) -> Transfer {
        Transfer::In {
            length,
            buffer: BytesMut::new(),
        }
    }

    /// The Expected Data Transfer Length.
    pub fn length(&self) -> u64 {
        match self {
            Transfer::None => 0,
            Transfer::In { length, .. } => u64::from(*length),
            Transfer::Out(data) => data.len() as u64,
        }
    }
}

/// One command as the core runs it.
#[derive(Debug, Clone)]
pub struct Command {
    pub cdb: Cdb,
    pub transfer: Transfer,
    /// The block-layer identity (operation, start sector) the kernel log lines print.
    /// `DriverIn` / `DriverOut` make it a passthrough command (as SG_IO and the kernel's
    /// `scsi_execute_cmd`): a CHECK CONDITION or a timeout is returned, never retried
    /// (`scsi_noretry_cmd`), and a residual is reported, not re-sent. `Read`, `Write` and
    /// `Flush` are block requests, retried as sd's are.
    pub block: BlockInfo,
    /// Per-attempt timeout; `None` takes the initiator's `command_timeout`.
    pub timeout: Option<Duration>,
    /// Retries allowed; `None` takes the initiator's `retries`.
    pub retries: Option<i32>,
}

impl Command {
    /// A passthrough command as `sg_raw` sends it: no retries (the sg driver's default),
    /// CHECK CONDITION returned.
    pub fn passthrough(cdb: &[u8], transfer: Transfer) -> Result<Command, IoError> {
        let cdb = Cdb::from_slice(cdb).map_err(|error| IoError::Invalid(error.to_string()))?;
        let op = match transfer {
            Transfer::Out(_) => unjam_core::request::BlockOp::DriverOut,
            _ => unjam_core::request::BlockOp::DriverIn,
        };
        Ok(Command {
            cdb,
            transfer,
            block: BlockInfo {
                op,
                ..BlockInfo::default()
            },
            timeout: None,
            retries: Some(0),
        })
    }

    /// Is this a passthrough command (`REQ_OP_DRV_IN` / `REQ_OP_DRV_OUT`)?
    pub fn is_passthrough(&self) -> bool {
        matches!(
            self.block.op,
            unjam_core::request::BlockOp::DriverIn | unjam_core::request::BlockOp::DriverOut
        )
    }
}

/// The one completion of a command, after every retry and recovery step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// The final status (`BlkStatus::Ok` when every byte completed good).
    pub status: BlkStatus,
    /// Host byte and SAM status of the last attempt.
    pub result: ScsiResult,
    /// Sense data of the last attempt (autosense or the error handler's REQUEST SENSE).
    pub sense: SenseBuffer,
    /// Sends that reached the target.
    pub attempts: u32,
    pub counted_retries: u32,
    /// Bytes not transferred.
    pub resid: u32,
    /// The data read. Only data that arrived and only when `status` is `Ok`; empty otherwise.
    pub data: Bytes,
    /// Why the last attempt ended without a SCSI status (a lost connection, an abort, an
    /// iSCSI protocol violation), if it did.
    pub transport_error: Option<String>,
}

impl CommandOutcome {
    pub fn is_ok(&self) -> bool {
        self.status == BlkStatus::Ok
    }

    /// `Ok(self)` for a good completion, else the failure as an [`IoError`].
    pub fn into_result(self) -> Result<CommandOutcome, IoError> {
        if self.is_ok() {
            Ok(self)
        } else {
            Err(IoError::Failed(Box::new(self)))
        }
    }
}

impl fmt::Display for CommandOutcome {
    /// `BLK_STS_IOERR (DID_OK, CHECK_CONDITION) after 6 attempt(s)` and the decoded sense;
    /// a failure that no attempt's result explains (a multipath device with no usable
    /// path) reads `BLK_STS_TRANSPORT: no usable path: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unexplained = self.status != BlkStatus::Ok && self.result == ScsiResult::OK;
        if unexplained && self.transport_error.is_some() {
            write!(f, "{}", self.status)?;
            if self.attempts > 0 {
                write!(f, " after {} attempt(s)", self.attempts)?;
            }
        } else {
            write!(
                f,
                "{} ({}, {}) after {} attempt(s)",
                self.status,
                self.result.host(),
                self.result.status(),
                self.attempts
            )?;
        }
        if let Some(reason) = &self.transport_error {
            write!(f, ": {reason}")?;
        }
        if !self.sense.is_empty() {
            let report = SenseReport::new(self.sense.as_slice()).to_string();
            write!(f, "\n{}", report.trim_end())?;
        }
        Ok(())
    }
}

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// The core finished the command with an error after its retries and recovery.
    #[error("{0}")]
    Failed(Box<CommandOutcome>),
    /// The request cannot be sent as given (CDB, transfer length, range).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The core refused the request (its device queue is full).
    #[error("the core refused the request: {0}")]
    Refused(String),
    /// The initiator stopped (logged out, or its task ended).
    #[error("the initiator has stopped")]
    Stopped,
}

impl IoError {
    /// The final outcome, for a command that reached the core.
    pub fn outcome(&self) -> Option<&CommandOutcome> {
        match self {
            IoError::Failed(outcome) => Some(outcome),
            _ => None,
        }
    }
}

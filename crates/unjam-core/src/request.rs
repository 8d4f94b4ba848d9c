//! What a caller submits ([`Request`]) and what a transport reports back
//! ([`TransportOutcome`]). Plain values: no buffers, no allocation. Data buffers stay with
//! the caller and the transport, keyed by the request's `token`.

use std::time::Duration;

use unjam_scsi::sense::{FixedFields, SenseBody, SenseData, SenseKey};
use unjam_scsi::{HostByte, MlStatus, SamStatus, ScsiResult};

use crate::buffers::{Cdb, SenseBuffer};

/// The block layer's `cmd_flags` bits that the mid-layer reads (spec §2.2). The low 8 bits
/// are the operation; the log line prints `flags & !0xff`.
pub mod cmd_flags {
    pub const FAILFAST_DEV: u32 = 1 << 8;
    pub const FAILFAST_TRANSPORT: u32 = 1 << 9;
    pub const FAILFAST_DRIVER: u32 = 1 << 10;
    pub const SYNC: u32 = 1 << 11;
    pub const RAHEAD: u32 = 1 << 19;
    pub const FAILFAST_MASK: u32 = FAILFAST_DEV | FAILFAST_TRANSPORT | FAILFAST_DRIVER;
}

/// The block-layer operation (`REQ_OP_*`), printed as `op 0x%x:(%s)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, serde::Serialize)]
pub enum BlockOp {
    #[default]
    Read,
    Write,
    Flush,
    Discard,
    SecureErase,
    WriteZeroes,
    /// SCSI passthrough from the device (`REQ_OP_DRV_IN`).
    DriverIn,
    /// SCSI passthrough to the device (`REQ_OP_DRV_OUT`).
    DriverOut,
}

impl BlockOp {
    pub fn code(self) -> u8 {
        match self {
            Self::Read => 0,
            Self::Write => 1,
            Self::Flush => 2,
            Self::Discard => 3,
            Self::SecureErase => 5,
            Self::WriteZeroes => 9,
            Self::DriverIn => 34,
            Self::DriverOut => 35,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Flush => "FLUSH",
            Self::Discard => "DISCARD",
            Self::SecureErase => "SECURE_ERASE",
            Self::WriteZeroes => "WRITE_ZEROES",
            Self::DriverIn => "DRV_IN",
            Self::DriverOut => "DRV_OUT",
        }
    }
}

/// The block request's identity as the "I/O error, dev sda, sector ..." line prints it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize)]
pub struct BlockInfo {
    pub op: BlockOp,
    /// Start sector in 512-byte units.
    pub start_sector: u64,
    /// `cmd_flags`, including the failfast bits in [`cmd_flags`].
    pub cmd_flags: u32,
    pub phys_segments: u16,
    /// I/O priority class: 0 none, 1 RT, 2 BE, 3 IDLE.
    pub prio_class: u8,
}

/// One request from a caller. `Copy` so that submission never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Request {
    pub cdb: Cdb,
    /// Data transfer length in bytes (`bufflen`).
    pub data_len: u32,
    pub block: BlockInfo,
    /// SG_IO / scsi_execute style: no ULD completion, failfast on CHECK CONDITION.
    pub passthrough: bool,
    /// `RQF_QUIET`: no failure log lines.
    pub quiet: bool,
    /// Retries allowed; `None` takes the device's default. -1 means no limit.
    pub allowed: Option<i32>,
    /// Per-attempt timeout; `None` takes the device's default.
    pub timeout: Option<Duration>,
    /// The caller's handle, returned in the completion.
    pub token: u64,
}

impl Request {
    /// A request for `cdb` with no data and default everything.
    pub fn new(cdb: Cdb, token: u64) -> Request {
        Request {
            cdb,
            data_len: 0,
            block: BlockInfo::default(),
            passthrough: false,
            quiet: false,
            allowed: None,
            timeout: None,
            token,
        }
    }

    pub fn failfast_dev(&self) -> bool {
        self.block.cmd_flags & cmd_flags::FAILFAST_DEV != 0
    }

    pub fn failfast_transport(&self) -> bool {
        self.block.cmd_flags & cmd_flags::FAILFAST_TRANSPORT != 0
    }

    pub fn failfast_driver(&self) -> bool {
        self.block.cmd_flags & cmd_flags::FAILFAST_DRIVER != 0
    }
}

/// What a transport reports for a dispatched command (the LLD's `scsi_done`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TransportOutcome {
    /// Host byte and status; the mid-layer byte is the core's and is cleared on arrival.
    pub result: ScsiResult,
    /// Autosense. For a REQUEST SENSE the core issued, the returned parameter data.
    pub sense: SenseBuffer,
    /// Bytes not transferred.
    pub resid: u32,
}

impl TransportOutcome {
    pub const GOOD: TransportOutcome = TransportOutcome {
        result: ScsiResult::OK,
        sense: SenseBuffer::EMPTY,
        resid: 0,
    };

    pub fn new(host: HostByte, status: SamStatus) -> TransportOutcome {
        TransportOutcome {
            result: ScsiResult::new(host, MlStatus::OK, status),
            ..TransportOutcome::GOOD
        }
    }

    pub fn host(host: HostByte) -> TransportOutcome {
        Self::new(host, SamStatus::GOOD)
    }

    pub fn status(status: SamStatus) -> TransportOutcome {
        Self::new(HostByte::DID_OK, status)
    }

    /// CHECK CONDITION with autosense.
    pub fn check_condition(sense: &[u8]) -> TransportOutcome {
        TransportOutcome {
            sense: SenseBuffer::from_slice(sense),
            ..Self::status(SamStatus::CHECK_CONDITION)
        }
    }

    /// Fixed-format current sense with `key`, `asc`, `ascq` (18 bytes), encoded by
    /// unjam-scsi.
    pub fn fixed_sense(key: u8, asc: u8, ascq: u8) -> [u8; 18] {
        let sense = SenseData {
            deferred: false,
            key: SenseKey::new(key & 0x0f),
            asc,
            ascq,
            sdat_overflow: false,
            body: SenseBody::Fixed(FixedFields::default()),
        };
        let mut bytes = [0u8; 18];
        match sense.to_bytes() {
            Ok(encoded) if encoded.len() == bytes.len() => bytes.copy_from_slice(&encoded),
            other => panic!("fixed sense {key:x}/{asc:02x}/{ascq:02x} encoded as {other:?}"),
        }
        bytes
    }
}

//! Outputs of the mid-layer, drained with `MidLayer::poll_action`: queued values, never
//! callbacks, so a driver can batch them and there is no re-entrancy.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use unjam_scsi::cdb::{RequestSense, StartStopUnit, TestUnitReady};
use unjam_scsi::{BlkStatus, ScsiResult};

use crate::buffers::{Cdb, SenseBuffer};
use crate::request::Request;
use crate::topology::DeviceId;
use crate::trace::TraceRecord;

/// A command's handle at the transport: slot and generation. The generation changes on
/// every dispatch, so a completion for an earlier attempt is recognised as stale.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Tag {
    pub slot: u32,
    pub generation: u32,
}

impl Tag {
    /// The number log lines print after `tag#`.
    pub fn number(self) -> u32 {
        self.slot
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag#{}.{}", self.slot, self.generation)
    }
}

/// Identifies one abort or reset request to the transport.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct TmfOp(pub u32);

/// Which reset (spec §6.4 steps 3–6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub enum ResetKind {
    Lun,
    Target,
    Bus,
    Host,
}

impl ResetKind {
    /// The kernel's log word: BDR, target reset, BRST, HRST.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Self::Lun => "BDR",
            Self::Target => "target reset",
            Self::Bus => "BRST",
            Self::Host => "HRST",
        }
    }
}

/// The transport's answer to an abort or reset.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum TmfResult {
    /// The function completed: the transport dropped every reference to the commands.
    Success,
    Failed,
    /// Not sent, and the commands may be failed fast.
    FastIoFail,
}

/// The error handler's own commands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum EhCommand {
    TestUnitReady,
    StartUnit,
    RequestSense,
}

impl EhCommand {
    /// TEST UNIT READY, START STOP UNIT with START (§6.4: `1b 00 00 00 01 00`), REQUEST
    /// SENSE of 96 bytes, built by unjam-scsi.
    pub fn cdb(self) -> Cdb {
        let built = match self {
            Self::TestUnitReady => TestUnitReady.build(),
            Self::StartUnit => StartStopUnit {
                start: true,
                ..StartStopUnit::default()
            }
            .build(),
            Self::RequestSense => RequestSense {
                descriptor_format: false,
                allocation_length: 96,
            }
            .build(),
        };
        match built {
            Ok(cdb) => cdb,
            Err(error) => panic!("the error handler's fixed {self:?} CDB: {error}"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::TestUnitReady => "TEST UNIT READY",
            Self::StartUnit => "START UNIT",
            Self::RequestSense => "REQUEST SENSE",
        }
    }
}

/// The one completion of a request, delivered exactly once.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Completion {
    pub token: u64,
    pub device: DeviceId,
    /// Status of the bytes that did not complete good (`Ok` when all did).
    pub status: BlkStatus,
    pub result: ScsiResult,
    pub sense: SenseBuffer,
    /// Sends that reached the transport.
    pub attempts: u32,
    /// Retries counted against `allowed` that were carried out since the request was last
    /// prepared (a REPREP starts a new count, as in the kernel).
    pub counted_retries: u32,
    /// Bytes completed good.
    pub good_bytes: u32,
    pub resid: u32,
    /// The tag number of the last attempt (as log lines print it).
    pub tag_number: u32,
}

/// Something the driver must do.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// Send the request to the transport; it owns the request's buffers until it reports.
    Dispatch {
        tag: Tag,
        device: DeviceId,
        request: Request,
    },
    /// Send an error-handler command (own tag, own timeout, never completed upward).
    SendEhCommand {
        tag: Tag,
        device: DeviceId,
        command: EhCommand,
        cdb: Cdb,
        timeout: Duration,
    },
    /// Abort one command (ABORT TASK); answer with `handle_tmf_done`. `cdb` is the
    /// aborted command's (the kernel hands the command to the LLD's handler; fault
    /// injection such as scsi_debug's matches on its opcode).
    Abort {
        op: TmfOp,
        tag: Tag,
        device: DeviceId,
        cdb: Cdb,
    },
    /// Reset the LUN, target, bus or host of `device`; answer with `handle_tmf_done`.
    /// `cdb` is that of the command the reset is sent with (the first failed command of
    /// its domain, or a timed-out EH command).
    Reset {
        op: TmfOp,
        kind: ResetKind,
        device: DeviceId,
        cdb: Cdb,
    },
    /// Reap completions of `tag` that may have been missed; answer with `handle_poll_done`.
    Poll { tag: Tag, device: DeviceId },
    /// The core stopped waiting for `tag`: drop every reference to it now.
    Revoke { tag: Tag, device: DeviceId },
    /// Deliver the request's one completion to the caller.
    Complete(Completion),
    /// A structured trace event (only when tracing is enabled).
    Trace(TraceRecord),
}

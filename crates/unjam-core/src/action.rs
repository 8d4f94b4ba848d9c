//! Outputs of the mid-layer, drained with `MidLayer::poll_action`: queued values, never
//! callbacks, so a driver can batch them and there is no re-entrancy.

use std::time::Duration;

use unjam_scsi::{BlkStatus, ScsiResult};

use crate::buffers::{Cdb, SenseBuffer};
use crate::ids::DeviceId;
pub use crate::ids::{EhCommand, ResetKind, Tag, TmfOp, TmfResult};
use crate::request::Request;
use crate::trace::TraceRecord;

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

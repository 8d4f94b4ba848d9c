//! The mid-layer's decisions about a completed command, as pure functions over the
//! command's outcome, its history and the device's flags (spec linux-midlayer.md §2–§4).
//!
//! ```text
//!  outcome ──► decide_disposition (decide.rs, §2.1) ──► SUCCESS ──► io_completion (completion.rs, §4.3–4.5)
//!                 │   └─ CHECK CONDITION ► check_sense (check_sense.rs, §3.2)          └─► finish | requeue
//!                 └─ maybe_retry ► retry_allowed / noretry (retry.rs, §2.2–2.3)
//! ```
//!
//! Nothing here keeps state, allocates or knows about time except through its arguments;
//! the caller (the mid-layer) applies the returned effects. Every rule carries a short
//! `rule` text naming the row of the spec table that fired, which the explanation prints.

mod check_sense;
mod completion;
mod decide;
mod retry;

pub use check_sense::{check_sense, SenseReport, SenseVerdict};
pub use completion::{
    completed_bytes, completion_action, io_completion, result_to_blk_status, CompletionAction,
    CompletionInput, CompletionPlan, FinishOrRequeue, RequeueKind, RULE_ALL_BYTES,
};
pub use decide::{decide_disposition, eh_completed_normally, Decision, EhVerdict, RULE_GOOD};
pub use retry::{
    lifetime_exceeded, noretry_cmd, retry_allowed, runtime_cap, RetryCounter,
    NO_LIMIT_LIFETIME_TIMEOUTS, RETRIES_NO_LIMIT,
};

use crate::buffers::SenseBuffer;
use crate::request::Request;
use unjam_scsi::ScsiResult;

/// The device and target flags the rules read (`struct scsi_device` / `scsi_target`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceView {
    /// Not OFFLINE, TRANSPORT_OFFLINE or DEL.
    pub online: bool,
    /// Set by a reset: the next UNIT ATTENTION (other than 28/00) is retried.
    pub expecting_cc_ua: bool,
    /// The target reported 3f/0e; REPORT LUNS GOOD clears it.
    pub expecting_lun_change: bool,
    /// EH may send START UNIT for 04/02.
    pub allow_restart: bool,
    /// HARDWARE ERROR is requeued instead of failed.
    pub retry_hwerror: bool,
    /// BLIST_RETRY_ITF: ABORTED COMMAND 44/xx is requeued.
    pub retry_itf: bool,
    /// BLIST_RETRY_ASC_C1: ABORTED COMMAND c1/01 is requeued.
    pub retry_asc_c1: bool,
    /// Removable medium: UNIT ATTENTION fails the request (medium may have changed).
    pub removable: bool,
    /// sd builds READ(10)/WRITE(10); ILLEGAL REQUEST 20/00 falls back to the 6-byte forms.
    pub use_10_for_rw: bool,
    /// Logical block size in bytes.
    pub sector_size: u32,
}

impl Default for DeviceView {
    fn default() -> DeviceView {
        DeviceView {
            online: true,
            expecting_cc_ua: false,
            expecting_lun_change: false,
            allow_restart: true,
            retry_hwerror: false,
            retry_itf: false,
            retry_asc_c1: false,
            removable: false,
            use_10_for_rw: true,
            sector_size: 512,
        }
    }
}

/// The command as the rules see it.
#[derive(Clone, Copy, Debug)]
pub struct CommandView<'a> {
    pub result: ScsiResult,
    pub sense: &'a SenseBuffer,
    pub request: &'a Request,
    /// `SCSI_EH_ABORT_SCHEDULED`: an earlier timeout scheduled an abort of this command.
    pub abort_scheduled: bool,
    /// The error handler issued this command (its TURs are interpreted, not passed up).
    pub submitted_by_eh: bool,
}

/// Side effects a rule asks the mid-layer to apply to the device, target or request.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Effects {
    /// Clear `expecting_cc_ua` (the UA it was waiting for arrived).
    pub clear_cc_ua: bool,
    /// Set (`Some(true)`) or clear (`Some(false)`) the target's `expecting_lun_change`.
    pub lun_change: Option<bool>,
    /// TASK SET FULL: lower the queue depth of every LUN of the target by one.
    pub queue_full: bool,
    /// Log `reservation conflict`.
    pub reservation_conflict: bool,
    /// A duration-limit abort: set REQ_FAILFAST_DEV and RQF_QUIET on the request.
    pub failfast_dev_quiet: bool,
    /// A UNIT ATTENTION that `scsi_report_sense` logs.
    pub report: Option<SenseReport>,
    /// The retry counter was incremented by maybe_retry.
    pub counted_retry: bool,
}

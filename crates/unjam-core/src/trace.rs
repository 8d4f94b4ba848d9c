//! Structured trace events: every lifecycle and error-handler step, with its virtual time.
//! Kernel-format log lines (`log/`) and the `explain` narration are both built from these.
//! Events are only built when tracing is enabled.

use std::time::Duration;

use unjam_scsi::disposition::QueueReason;
use unjam_scsi::{BlkStatus, Disposition, ScsiResult};

use crate::action::{EhCommand, ResetKind, Tag, TmfOp, TmfResult};
use crate::buffers::{Cdb, SenseBuffer};
use crate::config::TimedOutHook;
use crate::disposition::SenseReport;
use crate::eh::EhScope;
use crate::request::BlockInfo;
use crate::state::{DeviceState, HostState};
use crate::time::Instant;
use crate::topology::{DeviceId, HostId};

/// One event at one instant.
#[derive(Clone, Copy, Debug)]
pub struct TraceRecord {
    pub at: Instant,
    pub event: TraceEvent,
}

/// Why a request was rejected at dispatch (spec §6.8 gating).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RejectReason {
    Offline,
    Dead,
    Cancelled,
}

/// Why a command went back to the head of its device queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RequeueWhy {
    /// decide_disposition said NEEDS_RETRY.
    NeedsRetry,
    /// decide_disposition said ADD_TO_MLQUEUE.
    AddToMlQueue,
    /// Async abort succeeded and a retry is allowed ("retry aborted command").
    AbortRetry,
    /// The error handler's flush ("flush retry cmd").
    FlushRetry,
    /// Completion action RETRY.
    CompletionRetry,
    /// Completion action DELAYED_RETRY.
    CompletionDelayedRetry,
    /// A new command for the remainder (REPREP, leftover bytes, 6-byte fallback).
    Reprep,
    /// REPREP after 1000 ms.
    DelayedReprep,
    /// The transport refused the command at dispatch.
    DispatchRefused,
}

impl RequeueWhy {
    /// The queue reason (and so the blocked counter) this requeue uses.
    pub fn queue_reason(self) -> Option<QueueReason> {
        match self {
            Self::NeedsRetry | Self::AbortRetry | Self::FlushRetry | Self::CompletionRetry => {
                Some(QueueReason::EhRetry)
            }
            Self::AddToMlQueue | Self::CompletionDelayedRetry => Some(QueueReason::DeviceBusy),
            Self::Reprep | Self::DelayedReprep | Self::DispatchRefused => None,
        }
    }
}

/// The verdict of decide_disposition, as traced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DispositionTrace {
    pub disposition: Disposition,
    pub result: ScsiResult,
    pub rule: &'static str,
    pub sense_rule: Option<&'static str>,
    pub retry_rule: Option<&'static str>,
    pub retries: i32,
    pub allowed: i32,
}

#[derive(Clone, Copy, Debug)]
pub enum TraceEvent {
    Submitted {
        device: DeviceId,
        tag: Tag,
        token: u64,
    },
    Dispatched {
        device: DeviceId,
        tag: Tag,
        attempt: u32,
    },
    Rejected {
        device: DeviceId,
        tag: Tag,
        reason: RejectReason,
        logged: bool,
    },
    DispatchRefused {
        device: DeviceId,
        tag: Tag,
        reason: QueueReason,
    },
    TransportDone {
        device: DeviceId,
        tag: Tag,
        result: ScsiResult,
        sense: SenseBuffer,
        resid: u32,
    },
    StaleCompletion {
        tag: Tag,
    },
    LateCompletionDropped {
        device: DeviceId,
        tag: Tag,
    },
    Disposition {
        device: DeviceId,
        tag: Tag,
        decision: DispositionTrace,
    },
    SenseReported {
        device: DeviceId,
        report: SenseReport,
    },
    ReservationConflict {
        device: DeviceId,
        tag: Tag,
    },
    RuntimeExceeded {
        device: DeviceId,
        tag: Tag,
        waited_s: u64,
    },
    /// unjam's bound on re-preparations without progress (sd's "false check condition"
    /// loop) ended the request.
    RepreparedTooOften {
        device: DeviceId,
        tag: Tag,
        repreps: u32,
    },
    Requeued {
        device: DeviceId,
        tag: Tag,
        why: RequeueWhy,
        counted: bool,
        cap_deadline: Option<Instant>,
    },
    CompletionRule {
        device: DeviceId,
        tag: Tag,
        rule: &'static str,
        good_bytes: u32,
    },
    TimedOut {
        device: DeviceId,
        tag: Tag,
        hook: TimedOutHook,
        age: Duration,
    },
    TimerReset {
        device: DeviceId,
        tag: Tag,
        resets: u32,
        limit_reached: bool,
    },
    PollStarted {
        device: DeviceId,
        tag: Tag,
    },
    PollFoundNothing {
        device: DeviceId,
        tag: Tag,
    },
    AbortScheduled {
        device: DeviceId,
        tag: Tag,
    },
    AbortSent {
        device: DeviceId,
        tag: Tag,
        op: TmfOp,
        /// A step of a timed-out EH command's escalation (`scsi_abort_eh_cmnd`; `tag` is
        /// the EH command's), not the async abort of a request.
        escalation: bool,
    },
    AbortDone {
        device: DeviceId,
        tag: Tag,
        result: TmfResult,
        escalation: bool,
    },
    AbortRetry {
        device: DeviceId,
        tag: Tag,
    },
    AbortFinish {
        device: DeviceId,
        tag: Tag,
    },
    /// A timed-out command goes to the error handler without an async abort.
    Escalated {
        device: DeviceId,
        tag: Tag,
        why: &'static str,
    },
    EhAdded {
        device: DeviceId,
        tag: Tag,
        /// The scope whose handler takes the command.
        scope: EhScope,
        failed: u32,
        busy: u32,
    },
    EhWake {
        host: HostId,
        failed: u32,
        busy: u32,
        devices: u32,
    },
    /// A ladder step starts in the handler of `scope` (on `host`).
    EhStep {
        host: HostId,
        scope: EhScope,
        step: &'static str,
    },
    /// A LUN- or target-scope handler starts (scope_busy == scope_failed).
    ScopeEhWake {
        scope: EhScope,
        commands: u32,
    },
    /// A scope could not recover `commands` commands and hands them to `to`.
    ScopeEhFallback {
        scope: EhScope,
        to: EhScope,
        commands: u32,
    },
    /// A LUN- or target-scope handler ended; its devices dispatch again.
    ScopeEhDone {
        scope: EhScope,
    },
    /// A scoped handler without fallback offlined the device (`luneh`).
    ScopeOfflined {
        device: DeviceId,
    },
    EhCommandSent {
        device: DeviceId,
        tag: Tag,
        command: EhCommand,
        /// The failed command it is sent for (the kernel's log lines carry its tag).
        for_tag: Tag,
    },
    EhCommandDone {
        device: DeviceId,
        tag: Tag,
        command: EhCommand,
        verdict: Disposition,
        result: ScsiResult,
        sense: SenseBuffer,
        for_tag: Tag,
    },
    ResetSent {
        device: DeviceId,
        kind: ResetKind,
        op: TmfOp,
        /// The command the reset is sent with (the first of its domain, or the carrier of
        /// an escalating EH command).
        for_tag: Tag,
        /// A step of a timed-out EH command's escalation rather than a ladder step.
        escalation: bool,
    },
    ResetDone {
        device: DeviceId,
        kind: ResetKind,
        result: TmfResult,
        for_tag: Tag,
        escalation: bool,
    },
    ResetSkipped {
        device: DeviceId,
        kind: ResetKind,
    },
    MediumAccessOffline {
        device: DeviceId,
        tag: Tag,
    },
    DeviceOfflined {
        device: DeviceId,
    },
    FlushRetry {
        device: DeviceId,
        tag: Tag,
    },
    FlushFinish {
        device: DeviceId,
        tag: Tag,
    },
    HostRestart {
        host: HostId,
    },
    DeviceStateChanged {
        device: DeviceId,
        from: DeviceState,
        to: DeviceState,
    },
    HostStateChanged {
        host: HostId,
        from: HostState,
        to: HostState,
    },
    FailurePrinted {
        device: DeviceId,
        tag: Tag,
        result: ScsiResult,
        cmd_age_s: u64,
        sense: SenseBuffer,
        cdb: Cdb,
    },
    RecoveredPrinted {
        device: DeviceId,
        tag: Tag,
        sense: SenseBuffer,
    },
    UnalignedResid {
        device: DeviceId,
        tag: Tag,
        resid: u32,
        sector_size: u32,
    },
    BlockError {
        device: DeviceId,
        status: BlkStatus,
        block: BlockInfo,
    },
    Completed {
        device: DeviceId,
        tag: Tag,
        token: u64,
        status: BlkStatus,
        attempts: u32,
        good_bytes: u32,
    },
}

impl TraceEvent {
    /// A short machine name, e.g. `dispatched`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Submitted { .. } => "submitted",
            Self::Dispatched { .. } => "dispatched",
            Self::Rejected { .. } => "rejected",
            Self::DispatchRefused { .. } => "dispatch_refused",
            Self::TransportDone { .. } => "transport_done",
            Self::StaleCompletion { .. } => "stale_completion",
            Self::LateCompletionDropped { .. } => "late_completion_dropped",
            Self::Disposition { .. } => "disposition",
            Self::SenseReported { .. } => "sense_reported",
            Self::ReservationConflict { .. } => "reservation_conflict",
            Self::RuntimeExceeded { .. } => "runtime_exceeded",
            Self::RepreparedTooOften { .. } => "reprepared_too_often",
            Self::Requeued { .. } => "requeued",
            Self::CompletionRule { .. } => "completion_rule",
            Self::TimedOut { .. } => "timed_out",
            Self::TimerReset { .. } => "timer_reset",
            Self::PollStarted { .. } => "poll_started",
            Self::PollFoundNothing { .. } => "poll_found_nothing",
            Self::AbortScheduled { .. } => "abort_scheduled",
            Self::AbortSent { .. } => "abort_sent",
            Self::AbortDone { .. } => "abort_done",
            Self::AbortRetry { .. } => "abort_retry",
            Self::AbortFinish { .. } => "abort_finish",
            Self::Escalated { .. } => "escalated",
            Self::EhAdded { .. } => "eh_added",
            Self::EhWake { .. } => "eh_wake",
            Self::EhStep { .. } => "eh_step",
            Self::ScopeEhWake { .. } => "scope_eh_wake",
            Self::ScopeEhFallback { .. } => "scope_eh_fallback",
            Self::ScopeEhDone { .. } => "scope_eh_done",
            Self::ScopeOfflined { .. } => "scope_offlined",
            Self::EhCommandSent { .. } => "eh_command_sent",
            Self::EhCommandDone { .. } => "eh_command_done",
            Self::ResetSent { .. } => "reset_sent",
            Self::ResetDone { .. } => "reset_done",
            Self::ResetSkipped { .. } => "reset_skipped",
            Self::MediumAccessOffline { .. } => "medium_access_offline",
            Self::DeviceOfflined { .. } => "device_offlined",
            Self::FlushRetry { .. } => "flush_retry",
            Self::FlushFinish { .. } => "flush_finish",
            Self::HostRestart { .. } => "host_restart",
            Self::DeviceStateChanged { .. } => "device_state",
            Self::HostStateChanged { .. } => "host_state",
            Self::FailurePrinted { .. } => "failure_printed",
            Self::RecoveredPrinted { .. } => "recovered_printed",
            Self::UnalignedResid { .. } => "unaligned_resid",
            Self::BlockError { .. } => "block_error",
            Self::Completed { .. } => "completed",
        }
    }
}

//! Structured trace events: every lifecycle and error-handler step, with its virtual time.
//! Kernel-format log lines (`log/`) and the `explain` narration are both built from these.
//! Events are only built when tracing is enabled.
//!
//! Events serialize with typed fields and `kind` first (`{"kind":"dispatched","tag":
//! {"slot":3,"generation":7},"attempt":1}`). The device is left out of the serialized
//! event: whoever writes a line names it beside the event (`"device":"0:0:0:1"`, from
//! [`TraceEvent::device`]), so core and simulator lines spell devices one way. Scopes
//! serialize as their kind (`lun`, `target`, `host`).

use std::time::Duration;

use serde::{Serialize, Serializer};
use unjam_scsi::disposition::QueueReason;
use unjam_scsi::{BlkStatus, Disposition, ScsiResult};

use crate::buffers::{Cdb, SenseBuffer};
use crate::config::TimedOutHook;
use crate::disposition::SenseReport;
use crate::ids::{
    DeviceId, EhCommand, EhScope, HostId, ResetKind, Tag, TargetId, TmfOp, TmfResult,
};
use crate::request::BlockInfo;
use crate::state::{DeviceState, HostState};
use crate::time::Instant;

/// One event at one instant.
#[derive(Clone, Copy, Debug)]
pub struct TraceRecord {
    pub at: Instant,
    pub event: TraceEvent,
}

/// Why a request was rejected at dispatch (spec §6.8 gating).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    Offline,
    Dead,
    Cancelled,
}

/// Why a command went back to the head of its device queue.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// The command is prepared afresh (a new command for the rest of the request): its
    /// retry count and abort history start over.
    pub fn prepares_afresh(self) -> bool {
        matches!(self, Self::Reprep | Self::DelayedReprep)
    }

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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct DispositionTrace {
    pub disposition: Disposition,
    pub result: ScsiResult,
    pub rule: &'static str,
    pub sense_rule: Option<&'static str>,
    pub retry_rule: Option<&'static str>,
    pub retries: i32,
    pub allowed: i32,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceEvent {
    Submitted {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        token: u64,
    },
    Dispatched {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        attempt: u32,
    },
    Rejected {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        reason: RejectReason,
        logged: bool,
    },
    DispatchRefused {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        reason: QueueReason,
    },
    TransportDone {
        #[serde(skip)]
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
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    Disposition {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        decision: DispositionTrace,
    },
    SenseReported {
        #[serde(skip)]
        device: DeviceId,
        report: SenseReport,
    },
    ReservationConflict {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    RuntimeExceeded {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        waited_s: u64,
    },
    /// unjam's bound on re-preparations without progress (sd's "false check condition"
    /// loop) ended the request.
    RepreparedTooOften {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        repreps: u32,
    },
    Requeued {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        why: RequeueWhy,
        counted: bool,
        cap_deadline: Option<Instant>,
    },
    CompletionRule {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        rule: &'static str,
        good_bytes: u32,
    },
    TimedOut {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        hook: TimedOutHook,
        #[serde(rename = "age_ms", serialize_with = "millis")]
        age: Duration,
    },
    TimerReset {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        resets: u32,
        limit_reached: bool,
    },
    PollStarted {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    PollFoundNothing {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    AbortScheduled {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    AbortSent {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        op: TmfOp,
        /// A step of a timed-out EH command's escalation (`scsi_abort_eh_cmnd`; `tag` is
        /// the EH command's), not the async abort of a request.
        escalation: bool,
    },
    AbortDone {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        result: TmfResult,
        escalation: bool,
    },
    AbortRetry {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    AbortFinish {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    /// A timed-out command goes to the error handler without an async abort.
    Escalated {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        why: &'static str,
    },
    EhAdded {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        /// The scope whose handler takes the command.
        #[serde(serialize_with = "scope_kind")]
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
        #[serde(serialize_with = "scope_kind")]
        scope: EhScope,
        step: &'static str,
    },
    /// A LUN- or target-scope handler starts (scope_busy == scope_failed).
    ScopeEhWake {
        #[serde(serialize_with = "scope_kind")]
        scope: EhScope,
        commands: u32,
    },
    /// A scope could not recover `commands` commands and hands them to `to`.
    ScopeEhFallback {
        #[serde(serialize_with = "scope_kind")]
        scope: EhScope,
        #[serde(serialize_with = "scope_kind")]
        to: EhScope,
        commands: u32,
    },
    /// A LUN- or target-scope handler ended; its devices dispatch again.
    ScopeEhDone {
        #[serde(serialize_with = "scope_kind")]
        scope: EhScope,
    },
    /// The host-scope handler, entered by fallback, holds (or releases) one target's LUNs
    /// back from dispatch without stopping the rest of the host (`midlayer/recovery/host_hold.rs`).
    HostEhHoldsTarget {
        host: HostId,
        target: TargetId,
        held: bool,
    },
    /// A scoped handler without fallback offlined the device (`luneh`).
    ScopeOfflined {
        #[serde(skip)]
        device: DeviceId,
    },
    EhCommandSent {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        command: EhCommand,
        /// The failed command it is sent for (the kernel's log lines carry its tag).
        for_tag: Tag,
    },
    EhCommandDone {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        command: EhCommand,
        verdict: Disposition,
        result: ScsiResult,
        sense: SenseBuffer,
        for_tag: Tag,
    },
    ResetSent {
        #[serde(skip)]
        device: DeviceId,
        #[serde(rename = "reset")]
        kind: ResetKind,
        op: TmfOp,
        /// The command the reset is sent with (the first of its domain, or the carrier of
        /// an escalating EH command).
        for_tag: Tag,
        /// A step of a timed-out EH command's escalation rather than a ladder step.
        escalation: bool,
    },
    ResetDone {
        #[serde(skip)]
        device: DeviceId,
        #[serde(rename = "reset")]
        kind: ResetKind,
        result: TmfResult,
        for_tag: Tag,
        escalation: bool,
    },
    ResetSkipped {
        #[serde(skip)]
        device: DeviceId,
        #[serde(rename = "reset")]
        kind: ResetKind,
    },
    MediumAccessOffline {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    DeviceOfflined {
        #[serde(skip)]
        device: DeviceId,
    },
    FlushRetry {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    FlushFinish {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
    },
    HostRestart {
        host: HostId,
    },
    #[serde(rename = "device_state")]
    DeviceStateChanged {
        #[serde(skip)]
        device: DeviceId,
        from: DeviceState,
        to: DeviceState,
    },
    #[serde(rename = "host_state")]
    HostStateChanged {
        host: HostId,
        from: HostState,
        to: HostState,
    },
    FailurePrinted {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        result: ScsiResult,
        cmd_age_s: u64,
        sense: SenseBuffer,
        cdb: Cdb,
    },
    RecoveredPrinted {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        sense: SenseBuffer,
    },
    UnalignedResid {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        resid: u32,
        sector_size: u32,
    },
    BlockError {
        #[serde(skip)]
        device: DeviceId,
        status: BlkStatus,
        block: BlockInfo,
    },
    Completed {
        #[serde(skip)]
        device: DeviceId,
        tag: Tag,
        token: u64,
        status: BlkStatus,
        attempts: u32,
        good_bytes: u32,
    },
}

fn scope_kind<S: Serializer>(scope: &EhScope, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(scope.name())
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

impl TraceEvent {
    /// The device the event is about: its own, or the LUN of a LUN-scope event.
    pub fn device(&self) -> Option<DeviceId> {
        match *self {
            Self::Submitted { device, .. }
            | Self::Dispatched { device, .. }
            | Self::Rejected { device, .. }
            | Self::DispatchRefused { device, .. }
            | Self::TransportDone { device, .. }
            | Self::LateCompletionDropped { device, .. }
            | Self::Disposition { device, .. }
            | Self::SenseReported { device, .. }
            | Self::ReservationConflict { device, .. }
            | Self::RuntimeExceeded { device, .. }
            | Self::RepreparedTooOften { device, .. }
            | Self::Requeued { device, .. }
            | Self::CompletionRule { device, .. }
            | Self::TimedOut { device, .. }
            | Self::TimerReset { device, .. }
            | Self::PollStarted { device, .. }
            | Self::PollFoundNothing { device, .. }
            | Self::AbortScheduled { device, .. }
            | Self::AbortSent { device, .. }
            | Self::AbortDone { device, .. }
            | Self::AbortRetry { device, .. }
            | Self::AbortFinish { device, .. }
            | Self::Escalated { device, .. }
            | Self::EhAdded { device, .. }
            | Self::ScopeOfflined { device }
            | Self::EhCommandSent { device, .. }
            | Self::EhCommandDone { device, .. }
            | Self::ResetSent { device, .. }
            | Self::ResetDone { device, .. }
            | Self::ResetSkipped { device, .. }
            | Self::MediumAccessOffline { device, .. }
            | Self::DeviceOfflined { device }
            | Self::FlushRetry { device, .. }
            | Self::FlushFinish { device, .. }
            | Self::DeviceStateChanged { device, .. }
            | Self::FailurePrinted { device, .. }
            | Self::RecoveredPrinted { device, .. }
            | Self::UnalignedResid { device, .. }
            | Self::BlockError { device, .. }
            | Self::Completed { device, .. } => Some(device),
            Self::EhStep { scope, .. }
            | Self::ScopeEhWake { scope, .. }
            | Self::ScopeEhFallback { scope, .. }
            | Self::ScopeEhDone { scope } => match scope {
                EhScope::Lun(device) => Some(device),
                _ => None,
            },
            Self::StaleCompletion { .. }
            | Self::EhWake { .. }
            | Self::HostRestart { .. }
            | Self::HostEhHoldsTarget { .. }
            | Self::HostStateChanged { .. } => None,
        }
    }

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
            Self::HostEhHoldsTarget { .. } => "host_eh_holds_target",
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

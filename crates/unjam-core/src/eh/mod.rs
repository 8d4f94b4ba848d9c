//! The error handler. A command that needs recovery is added to its host's queue
//! (`scsi_eh_scmd_add`, spec §6.1): the host enters RECOVERY and stops dispatching; the
//! handler runs once every in-flight command of the host has completed or failed
//! (busy == failed). It then walks a *ladder* of steps over a *scope* (§6.4): get sense,
//! START UNIT, LUN / target / bus / host reset each followed by TUR, and offline; then it
//! flushes its done queue (retry or finish, §6.5) and restarts the host (§6.6).
//!
//! ```text
//!   eh_add ─► host RECOVERY ─► busy == failed ─► EhRun { scope, work, done, steps, jobs }
//!     step ─► jobs (RequestSense, StartUnit, Reset, Settle, TestDevice, Offline)
//!     job  ─► Action (SendEhCommand | Reset) ─► answer ─► job result ─► next job / step
//!   steps exhausted ─► flush done (retry | finish) ─► host RUNNING ─► run queues
//! ```
//!
//! This module is the handler's vocabulary as plain data (the ladders, the jobs a step
//! plans, a run's work and done queues, a scoped handler's queue) and, in `ladder.rs`, the
//! handler itself as a sans-I/O component: a run is fed events (a job's answer, the settle
//! timer, the host quiesced) and returns typed decisions ([`EhDecision`]: send this EH
//! command, send that reset, the devices a reset reached, these commands are ready or
//! offline, the run is over) that `midlayer/recovery/apply.rs` applies to the mid-layer in
//! one place. It reads the mid-layer only through the [`EhView`] trait and imports only
//! `ids` (no import circle), so its unit tests drive it alone (`ladder_tests.rs`).
//!
//! Scopes (spec §4, issue 5): a device recovers in its configured scopes, smallest first
//! (`midlayer/recovery/scope.rs`): a LUN or target scope blocks only its own devices and runs the §6.4 ladder
//! restricted to itself; what it cannot recover falls back to the next scope, up to the
//! host scope, which is the kernel's host-wide handler above. EH commands never take the
//! normal completion path and have their own timeout (`eh_timeout`).

mod ladder;
#[cfg(test)]
mod ladder_tests;

use std::collections::VecDeque;

use crate::ids::{DeviceId, HostId};
use crate::ids::{ResetKind, Tag, TmfOp};

pub use crate::ids::EhScope;
pub(crate) use ladder::{escalation_step, EhDecision, EhNext, EhView, ESCALATION};

/// One rung of the ladder.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EhStep {
    GetSense,
    StartUnit,
    Reset(ResetKind),
    Offline,
}

impl EhStep {
    pub fn name(self) -> &'static str {
        match self {
            Self::GetSense => "get sense",
            Self::StartUnit => "START UNIT",
            Self::Reset(ResetKind::Lun) => "LUN reset",
            Self::Reset(ResetKind::Target) => "target reset",
            Self::Reset(ResetKind::Bus) => "bus reset",
            Self::Reset(ResetKind::Host) => "host reset",
            Self::Offline => "offline",
        }
    }
}

/// The full host ladder of §6.4. Steps the transport cannot do are skipped.
pub const HOST_LADDER: &[EhStep] = &[
    EhStep::GetSense,
    EhStep::StartUnit,
    EhStep::Reset(ResetKind::Lun),
    EhStep::Reset(ResetKind::Target),
    EhStep::Reset(ResetKind::Bus),
    EhStep::Reset(ResetKind::Host),
    EhStep::Offline,
];

/// The LUN-scope ladder: §6.4 restricted to one device.
pub const LUN_LADDER: &[EhStep] = &[
    EhStep::GetSense,
    EhStep::StartUnit,
    EhStep::Reset(ResetKind::Lun),
];

/// The target-scope ladder adds the target reset.
pub const TARGET_LADDER: &[EhStep] = &[
    EhStep::GetSense,
    EhStep::StartUnit,
    EhStep::Reset(ResetKind::Lun),
    EhStep::Reset(ResetKind::Target),
];

/// Where a device test is (`scsi_eh_test_devices`: with `try_stu`, START UNIT up to twice
/// while it says NEEDS_RETRY, then TUR; TUR is retried once on NEEDS_RETRY, and after a
/// successful START UNIT a failed TUR gets one more try).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TestStage {
    StartUnit { tries: u8 },
    TestUnitReady { tries: u8, second_chance: bool },
}

impl TestStage {
    pub(crate) const TUR: TestStage = TestStage::TestUnitReady {
        tries: 0,
        second_chance: false,
    };
}

/// A unit of work inside a step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EhJob {
    RequestSense {
        slot: u32,
    },
    StartUnit {
        device: DeviceId,
        tries: u8,
    },
    Reset {
        kind: ResetKind,
        device: DeviceId,
    },
    Settle,
    /// TUR (after START UNIT when `try_stu`); a ready device's commands are finished.
    TestDevice {
        device: DeviceId,
        try_stu: bool,
        stage: TestStage,
    },
    Offline {
        device: DeviceId,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EhWait {
    Nothing,
    /// A send decision was returned; the mid-layer reports its tag or op
    /// (`command_sent`, `reset_sent`).
    Unsent {
        job: EhJob,
    },
    /// A `Redecide` decision was returned; the mid-layer answers `sense_decided`.
    Redecide {
        slot: u32,
    },
    Command {
        tag: Tag,
        job: EhJob,
    },
    Tmf {
        op: TmfOp,
        job: EhJob,
    },
    Settle,
    /// Before a host-wide step: until every busy command of the host has failed.
    Quiesce,
}

/// One run of the error handler.
#[derive(Clone, Debug)]
pub(crate) struct EhRun {
    pub scope: EhScope,
    pub host: HostId,
    pub epoch: u32,
    /// Commands still to recover (`work_q`).
    pub work: Vec<u32>,
    /// Commands recovered or given up (`done_q`), flushed at the end.
    pub done: Vec<u32>,
    pub steps: &'static [EhStep],
    pub next_step: usize,
    pub jobs: VecDeque<EhJob>,
    pub waiting: EhWait,
    /// Decisions returned by the next calls of `next`, in order.
    pub out: VecDeque<EhDecision>,
}

impl EhRun {
    pub(crate) fn new(
        scope: EhScope,
        host: HostId,
        epoch: u32,
        work: Vec<u32>,
        steps: &'static [EhStep],
    ) -> EhRun {
        EhRun {
            scope,
            host,
            epoch,
            work,
            done: Vec::new(),
            steps,
            next_step: 0,
            jobs: VecDeque::new(),
            waiting: EhWait::Nothing,
            out: VecDeque::new(),
        }
    }

    pub(crate) fn host(&self) -> HostId {
        self.host
    }

    /// Moves `slot` from work to done (`scsi_eh_finish_cmd`).
    pub(crate) fn finish(&mut self, slot: u32) {
        if let Some(index) = self.work.iter().position(|s| *s == slot) {
            self.work.remove(index);
            self.done.push(slot);
        }
    }
}

/// One active LUN- or target-scope handler: failed commands waiting for the wake-up, or a
/// run in progress (then parked in `MidLayer::eh_runs` while it waits for an answer).
#[derive(Clone, Debug)]
pub(crate) struct ScopedEh {
    pub scope: EhScope,
    pub host: HostId,
    pub queue: Vec<u32>,
    pub running: bool,
}

/// Lun < Target < Host.
pub(crate) fn scope_level(scope: EhScope) -> u8 {
    match scope {
        EhScope::Lun(_) => 0,
        EhScope::Target(_) => 1,
        EhScope::Host(_) => 2,
    }
}

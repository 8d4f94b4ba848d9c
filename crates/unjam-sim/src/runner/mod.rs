//! The scenario runner: the core (`unjam_core::MidLayer`) and the simulated target on one
//! virtual clock, fed by the scenario's workloads, observed by the recorder, checked by the
//! invariant checkers. Deterministic: one scenario and seed give one trace, byte for byte.
//!
//! ```text
//!  streams ── submit ──► MidLayer ── Dispatch/Abort/Reset/Poll/Revoke/SendEhCommand ──► SimTarget
//!     ▲                     ▲  handle_transport_done / handle_tmf_done / handle_poll_done  │
//!     └── Complete ─────────┴─────────────── target events (at their virtual time) ◄───────┘
//!  next step = min(target due, core timer, stream wake-up)
//! ```

mod check;
mod events;
mod io;
mod setup;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::fast_hash::FastMap;

use thiserror::Error;
use unjam_core::harness::Checker;
use unjam_core::topology::DeviceId;
use unjam_core::{Instant, MidLayer};

use crate::report::{Recorder, RunReport};
use crate::scenario::{ResolvedLun, Scenario};
use crate::target::SimTarget;
use crate::workload::{IoPlan, LunStream, WriteLedger};

/// Why a run could not be carried out.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum RunError {
    #[error("scenario: {0}")]
    Scenario(String),
    #[error("the run took more than {0} steps")]
    StepLimit(u64),
}

/// How to run.
pub struct RunOptions {
    /// Check the core's and the target's invariants after every step.
    pub check_invariants: bool,
    /// Keep every trace event as a JSON line.
    pub trace: bool,
    /// Trace the core at all (needed for blocked windows and EH events; off for benchmarks).
    pub observe: bool,
    /// Virtual time allowed after the workloads end for outstanding commands to finish.
    pub drain_limit_ms: u64,
    pub max_steps: u64,
    /// Called with the virtual time (ns) of the step about to run (real-time pacing).
    pub pace: Option<Box<dyn FnMut(u64)>>,
    /// Called now and then with (virtual ms done, virtual ms planned).
    pub progress: Option<Box<dyn FnMut(u64, u64)>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check_invariants: false,
            trace: false,
            observe: true,
            drain_limit_ms: 600_000,
            max_steps: 2_000_000_000,
            pace: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("check_invariants", &self.check_invariants)
            .field("trace", &self.trace)
            .field("observe", &self.observe)
            .field("drain_limit_ms", &self.drain_limit_ms)
            .field("max_steps", &self.max_steps)
            .finish()
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    pub report: RunReport,
    /// JSON lines, when asked for.
    pub trace: Vec<u8>,
    /// Broken invariants (empty when the run was clean).
    pub violations: Vec<String>,
    /// Requests still outstanding when the drain limit ended the run.
    pub outstanding_at_end: u32,
    pub steps: u64,
    /// Blocks checked on the media at the end against the write ledger.
    pub verified_blocks: u64,
}

/// The most violations kept.
const MAX_VIOLATIONS: usize = 100;
/// Rounds of action draining at one instant before giving up (a bound on zero-time loops).
const MAX_DRAIN_ROUNDS: usize = 1_000_000;

/// One I/O of a workload in flight.
#[derive(Debug)]
struct Io {
    stream: usize,
    plan: IoPlan,
    submitted: Instant,
    /// The write data, or the data the last read attempt returned.
    data: Vec<u8>,
}

/// An error-handler command the target holds (I/O attempts need no record: their tag
/// is their target key and the core knows their token).
#[derive(Clone, Copy, Debug)]
struct EhTag {
    request_sense: bool,
}

/// A run in progress.
pub struct Runner {
    title: String,
    seed: u64,
    mid: MidLayer,
    target: SimTarget,
    devices: Vec<DeviceId>,
    luns: Vec<ResolvedLun>,
    now: Instant,
    streams: Vec<LunStream>,
    stream_path: Vec<usize>,
    streams_of_unit: Vec<Vec<usize>>,
    wakeups: BinaryHeap<Reverse<(u64, usize)>>,
    wake_scheduled: Vec<bool>,
    ledgers: Vec<Option<WriteLedger>>,
    ios: FastMap<u64, Io>,
    eh_tags: FastMap<u64, EhTag>,
    next_token: u64,
    recorder: Recorder,
    host_recovering: Vec<bool>,
    device_blocked: Vec<bool>,
    /// Scoped handlers (LUN or target) currently holding each path.
    scope_holds: Vec<u32>,
    target_of_path: Vec<u32>,
    trace: Option<Vec<u8>>,
    checker: Option<Checker>,
    exactly_once: Option<check::ExactlyOnce>,
    violations: Vec<String>,
    workload_end_ns: u64,
    /// The last time a request completed or error handling did something.
    last_activity_ns: u64,
    limit_ns: u64,
    steps: u64,
    commands_simulated: u64,
    options: RunOptions,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("title", &self.title)
            .field("now", &self.now)
            .field("steps", &self.steps)
            .finish()
    }
}

impl Runner {
    pub fn new(scenario: &Scenario, options: RunOptions) -> Result<Runner, RunError> {
        let mut halves = setup::build(scenario)?;
        halves
            .mid
            .set_tracing(options.observe || options.trace || options.check_invariants);
        let ids = halves.luns.iter().map(|l| l.address.to_string()).collect();
        let bucket_us = (scenario.duration_ms * 1000 / 200).max(1000);
        let host_count = scenario.hosts.len();
        let path_count = halves.luns.len();
        let target_of_path = setup::target_indexes(&halves.luns);
        let mut runner = Runner {
            title: scenario
                .name
                .clone()
                .unwrap_or_else(|| "scenario".to_string()),
            seed: scenario.seed,
            mid: halves.mid,
            target: halves.target,
            devices: halves.devices,
            luns: halves.luns,
            now: Instant::ZERO,
            streams: Vec::new(),
            stream_path: Vec::new(),
            streams_of_unit: Vec::new(),
            wakeups: BinaryHeap::new(),
            wake_scheduled: Vec::new(),
            ledgers: Vec::new(),
            ios: FastMap::default(),
            eh_tags: FastMap::default(),
            next_token: 1,
            recorder: Recorder::new(ids, bucket_us),
            host_recovering: vec![false; host_count],
            device_blocked: vec![false; path_count],
            scope_holds: vec![0; path_count],
            target_of_path,
            trace: options.trace.then(Vec::new),
            checker: options.check_invariants.then(Checker::default),
            exactly_once: options.check_invariants.then(check::ExactlyOnce::default),
            violations: Vec::new(),
            workload_end_ns: 0,
            last_activity_ns: 0,
            limit_ns: 0,
            steps: 0,
            commands_simulated: 0,
            options,
        };
        io::build_streams(&mut runner, scenario)?;
        let end_ms = runner
            .streams
            .iter()
            .map(|s| s.end_us() / 1000)
            .max()
            .unwrap_or(scenario.duration_ms);
        runner.workload_end_ns = end_ms.saturating_mul(1_000_000);
        runner.limit_ns = end_ms
            .saturating_add(runner.options.drain_limit_ms)
            .saturating_mul(1_000_000);
        Ok(runner)
    }

    /// Runs to the end and builds the result.
    pub fn run(mut self) -> Result<RunResult, RunError> {
        for stream in 0..self.streams.len() {
            self.schedule_stream(stream);
        }
        while let Some(next) = self.next_time() {
            if next > self.limit_ns {
                break;
            }
            if let Some(pace) = self.options.pace.as_mut() {
                pace(next);
            }
            self.now = self.now.max(Instant::from_nanos(next));
            self.step();
            self.steps += 1;
            if self.steps > self.options.max_steps {
                return Err(RunError::StepLimit(self.options.max_steps));
            }
            if self.steps % 4096 == 0 {
                let (done, planned) = (
                    self.now.as_nanos() / 1_000_000,
                    self.workload_end_ns / 1_000_000,
                );
                if let Some(progress) = self.options.progress.as_mut() {
                    progress(done, planned);
                }
            }
        }
        Ok(self.finish())
    }

    /// The earliest of: the target's next answer, the core's next timer, a stream wake-up.
    fn next_time(&mut self) -> Option<u64> {
        let target = self.target.next_due_us().map(|us| us.saturating_mul(1000));
        let timer = self.mid.poll_timeout().map(Instant::as_nanos);
        let wake = self.wakeups.peek().map(|Reverse((at, _))| *at);
        [target, timer, wake].into_iter().flatten().min()
    }

    fn now_us(&self) -> u64 {
        self.now.as_nanos() / 1000
    }

    fn step(&mut self) {
        self.drain();
        if self.mid.poll_timeout().is_some_and(|t| t <= self.now) {
            self.mid.handle_timeout(self.now);
        }
        self.drain();
        io::issue_due(self);
        self.drain();
        if self.options.check_invariants {
            self.check_step();
        }
    }

    /// Executes the core's actions and delivers the target's answers until both are quiet.
    fn drain(&mut self) {
        for _ in 0..MAX_DRAIN_ROUNDS {
            let mut progressed = false;
            while let Some(action) = self.mid.poll_action() {
                events::execute(self, action);
                progressed = true;
            }
            self.target.advance(self.now_us());
            while let Some(event) = self.target.poll_event() {
                events::deliver(self, event);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
        self.violation(format!(
            "more than {MAX_DRAIN_ROUNDS} rounds at one instant"
        ));
    }

    fn check_step(&mut self) {
        if let Err(error) = self.mid.check_invariants() {
            self.violation(format!("core at {:?}: {error}", self.now));
        }
        let found: Vec<String> = self
            .checker
            .as_mut()
            .map(|c| c.violations.drain(..).map(|v| v.to_string()).collect())
            .unwrap_or_default();
        for violation in found {
            self.violation(format!("at {:?}: {violation}", self.now));
        }
    }

    fn violation(&mut self, text: String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(text);
        }
    }

    fn schedule_stream(&mut self, stream: usize) {
        if self.wake_scheduled.get(stream).copied().unwrap_or(true) {
            return;
        }
        let now_us = self.now_us();
        let Some(at_us) = self
            .streams
            .get(stream)
            .and_then(|s| s.wants_to_issue_at(now_us))
        else {
            return;
        };
        let at = at_us.saturating_mul(1000).max(self.now.as_nanos());
        self.wakeups.push(Reverse((at, stream)));
        self.wake_scheduled[stream] = true;
    }

    fn finish(mut self) -> RunResult {
        let verified_blocks = io::final_sweep(&mut self);
        let outstanding_at_end = self.mid.outstanding();
        if self.options.check_invariants && outstanding_at_end == 0 {
            if let Some(checker) = self.checker.as_mut() {
                checker.finish(&self.mid);
                let found: Vec<String> = checker
                    .violations
                    .drain(..)
                    .map(|v| v.to_string())
                    .collect();
                for violation in found {
                    self.violation(violation);
                }
            }
            let never = self
                .exactly_once
                .as_ref()
                .map(check::ExactlyOnce::never_completed);
            for violation in never.unwrap_or_default() {
                self.violation(violation);
            }
        }
        let end_us = self.last_activity_ns.max(self.workload_end_ns) / 1000;
        let commands = self.mid.stats().dispatched + self.mid.stats().eh_commands;
        let report = self
            .recorder
            .finish(self.title.clone(), self.seed, end_us, commands);
        RunResult {
            report,
            trace: self.trace.take().unwrap_or_default(),
            violations: self.violations,
            outstanding_at_end,
            steps: self.steps,
            verified_blocks,
        }
    }
}

/// Runs `scenario` with `options`.
pub fn run_scenario(scenario: &Scenario, options: RunOptions) -> Result<RunResult, RunError> {
    Runner::new(scenario, options)?.run()
}

/// The key the target knows a core tag by.
fn tag_key(tag: unjam_core::Tag) -> u64 {
    ((tag.slot as u64) << 32) | tag.generation as u64
}

/// The core tag behind a target key.
fn tag_of(key: u64) -> unjam_core::Tag {
    unjam_core::Tag {
        slot: (key >> 32) as u32,
        generation: key as u32,
    }
}

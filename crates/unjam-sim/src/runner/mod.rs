//! The scenario runner: the core's one driver loop (`unjam_core::harness::Driver`) with the
//! simulated target behind the `Transport` trait, fed by the scenario's workloads,
//! observed by the recorder (and the trace and kernel-log writers), checked by the
//! checker and the write ledger. When the workloads end the faults heal, and every request
//! must complete within the liveness bound. Deterministic: one scenario and seed give one
//! trace, byte for byte.
//!
//! ```text
//!  streams ── submit ──► Driver (MidLayer ⇄ SimTransport ⇄ SimTarget, Checker)
//!     ▲                     │ outputs: completions, trace records, target notes
//!     └── completions ◄─────┴──► recorder, --trace lines, --kernel-log lines
//!  next step = min(driver due, stream wake-up); workloads end → heal → liveness bound
//! ```

mod events;
mod io;
mod mpath;
mod output;
mod setup;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use thiserror::Error;
use unjam_core::harness::{liveness_bound, Driver, DriverOptions};
use unjam_core::log::KernelLog;
use unjam_core::topology::DeviceId;
use unjam_core::Instant;

pub use output::SharedBuffer;

use crate::report::{FaultMark, Recorder, RunReport, MAX_FAULT_HITS};
use crate::scenario::{ResolvedLun, Scenario};
use crate::transport::SimTransport;
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
    /// Write every trace event as a JSON line here, as it happens (constant memory).
    pub trace: Option<Box<dyn Write>>,
    /// Write the run's kernel-format log lines here, with dmesg-style timestamps.
    pub kernel_log: Option<Box<dyn Write>>,
    /// Trace the core at all (needed for blocked windows and EH events; off for benchmarks).
    pub observe: bool,
    /// Virtual time after the workloads end (and the faults heal) for every request to
    /// complete; `None`: the liveness bound of the configuration
    /// (`unjam_core::harness::liveness_bound`). A request still outstanding then is stuck.
    pub liveness_ms: Option<u64>,
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
            trace: None,
            kernel_log: None,
            observe: true,
            liveness_ms: None,
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
            .field("trace", &self.trace.is_some())
            .field("kernel_log", &self.kernel_log.is_some())
            .field("observe", &self.observe)
            .field("liveness_ms", &self.liveness_ms)
            .field("max_steps", &self.max_steps)
            .finish()
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    pub report: RunReport,
    /// Broken invariants (empty when the run was clean).
    pub violations: Vec<String>,
    /// Requests still outstanding when the liveness bound had passed.
    pub outstanding_at_end: u32,
    /// The liveness bound that applied after the workloads ended.
    pub liveness_ms: u64,
    /// The stuck requests (at most 10), named by token, LUN, operation and LBA.
    pub stuck: Vec<String>,
    pub steps: u64,
    /// Blocks checked on the media at the end against the write ledger.
    pub verified_blocks: u64,
}

/// The most violations kept.
const MAX_VIOLATIONS: usize = 100;
/// Rounds of output handling at one instant before giving up (a bound on zero-time loops).
const MAX_DRAIN_ROUNDS: usize = 1_000_000;

/// One I/O of a workload in flight (the transport carries it beside the request's data).
#[derive(Debug)]
struct Io {
    stream: usize,
    plan: IoPlan,
    submitted: Instant,
}

/// A stream's path and what its commands need of it.
#[derive(Clone, Copy, Debug)]
struct StreamLink {
    /// Index of the path (in `Runner::luns` and `Runner::devices`).
    path: usize,
    /// Index of the logical unit behind it.
    unit: usize,
    device: DeviceId,
    block_size: u32,
    /// The stream targets the multipath device of its path's logical unit.
    mpath: bool,
    /// A wake-up of the stream is in `Runner::wakeups`.
    wake_scheduled: bool,
    /// The unit's writes are checked (it has a ledger).
    ledger: bool,
    /// Other streams work on the same unit (a completion wakes them).
    siblings: bool,
}

/// A run in progress.
pub struct Runner {
    title: String,
    seed: u64,
    /// The transport also carries each workload request's [`Io`] beside its data.
    driver: Driver<SimTransport<Io>>,
    devices: Vec<DeviceId>,
    luns: Vec<ResolvedLun>,
    now: Instant,
    streams: Vec<LunStream>,
    /// What a command of stream `i` needs of its path, at `links[i]`: one cache line per
    /// command at 4096 LUNs (the path, unit, device and flags were four arrays).
    links: Vec<StreamLink>,
    streams_of_unit: Vec<Vec<usize>>,
    wakeups: BinaryHeap<Reverse<(u64, usize)>>,
    ledgers: Vec<Option<WriteLedger>>,
    next_token: u64,
    recorder: Recorder,
    host_recovering: Vec<bool>,
    device_blocked: Vec<bool>,
    /// Scoped handlers (LUN or target) currently holding each path.
    scope_holds: Vec<u32>,
    target_of_path: Vec<u32>,
    trace: Option<Box<dyn Write>>,
    /// The kernel's log lines: for `--kernel-log` and for the report (whose share is
    /// bounded; the log stops once that is full and no writer wants the lines).
    kernel_log: Option<KernelLog>,
    kernel_out: Option<Box<dyn Write>>,
    /// The scenario's faults as the report shows them (fired counts filled in at the end).
    faults: Vec<FaultMark>,
    violations: Vec<String>,
    workload_end_ns: u64,
    healed: bool,
    /// The last time a request completed or error handling did something.
    last_activity_ns: u64,
    liveness_ns: u64,
    steps: u64,
    options: RunOptions,
    /// The multipath layer (`[multipath]`).
    mpath: Option<mpath::MpathSide>,
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
    pub fn new(scenario: &Scenario, mut options: RunOptions) -> Result<Runner, RunError> {
        let mut halves = setup::build(scenario)?;
        let trace = options.trace.take();
        let kernel_out = options.kernel_log.take();
        let observe =
            options.observe || trace.is_some() || kernel_out.is_some() || options.check_invariants;
        halves.mid.set_tracing(observe);
        if observe {
            halves.target.fault_engine_mut().record_hits(MAX_FAULT_HITS);
        }
        let faults = setup::fault_marks(scenario, &halves.luns);
        let liveness_ms = options.liveness_ms.unwrap_or_else(|| {
            let core = liveness_bound(&halves.mid).as_millis() as u64;
            let paths = scenario.multipath.as_ref().map_or(0, |m| m.liveness_ms());
            core.saturating_add(paths)
        });
        let addresses = halves.luns.iter().map(|l| l.address).collect();
        let mut transport = SimTransport::new(halves.target, addresses);
        transport.set_note_completions(trace.is_some());
        let driver_options = DriverOptions {
            check: options.check_invariants,
            keep_history: false,
        };
        let driver = Driver::with_options(halves.mid, transport, driver_options);
        let ids = halves.luns.iter().map(|l| l.address.to_string()).collect();
        let bucket_us = (scenario.duration_ms * 1000 / 200).max(1000);
        let host_count = scenario.hosts.len();
        let path_count = halves.luns.len();
        let target_of_path = setup::target_indexes(&halves.luns);
        let mpath = match &scenario.multipath {
            Some(settings) => {
                let config = settings.config().map_err(|(field, message)| {
                    RunError::Scenario(format!("`{field}`: {message}"))
                })?;
                let mp = unjam_multipath::Multipath::new(config)
                    .map_err(|e| RunError::Scenario(e.to_string()))?;
                Some(mpath::MpathSide::new(mp, bucket_us))
            }
            None => None,
        };
        let mut runner = Runner {
            title: scenario
                .name
                .clone()
                .unwrap_or_else(|| "scenario".to_string()),
            seed: scenario.seed,
            driver,
            devices: halves.devices,
            luns: halves.luns,
            now: Instant::ZERO,
            streams: Vec::new(),
            links: Vec::new(),
            streams_of_unit: Vec::new(),
            wakeups: BinaryHeap::new(),
            ledgers: Vec::new(),
            next_token: 1,
            recorder: Recorder::new(ids, bucket_us),
            host_recovering: vec![false; host_count],
            device_blocked: vec![false; path_count],
            scope_holds: vec![0; path_count],
            target_of_path,
            trace,
            kernel_log: (observe || kernel_out.is_some()).then(KernelLog::default),
            kernel_out,
            faults,
            violations: Vec::new(),
            workload_end_ns: 0,
            healed: false,
            last_activity_ns: 0,
            liveness_ns: liveness_ms.saturating_mul(1_000_000),
            steps: 0,
            options,
            mpath,
        };
        io::build_streams(&mut runner, scenario)?;
        let end_ms = runner
            .streams
            .iter()
            .map(|s| s.end_us() / 1000)
            .max()
            .unwrap_or(scenario.duration_ms);
        runner.workload_end_ns = end_ms.saturating_mul(1_000_000);
        Ok(runner)
    }

    /// Runs to the end and builds the result.
    pub fn run(mut self) -> Result<RunResult, RunError> {
        mpath::start(&mut self);
        for stream in 0..self.streams.len() {
            self.schedule_stream(stream);
        }
        while let Some(next) = self.next_time() {
            if !self.healed && next >= self.workload_end_ns {
                self.heal();
                continue;
            }
            if self.healed && next > self.limit_ns() {
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

    /// The workloads are over: every fault ends now, and the liveness bound starts.
    fn heal(&mut self) {
        self.healed = true;
        self.now = self.now.max(Instant::from_nanos(self.workload_end_ns));
        self.driver.transport.heal(self.now);
        self.driver.advance_to(self.now);
        self.handle_outputs();
    }

    /// The end of the liveness bound.
    fn limit_ns(&self) -> u64 {
        self.workload_end_ns.saturating_add(self.liveness_ns)
    }

    /// The earliest of: the driver's next answer or timer, a stream wake-up, and the end
    /// of the workloads (when the faults heal).
    fn next_time(&mut self) -> Option<u64> {
        let driver = self.driver.next_due().map(Instant::as_nanos);
        let wake = self.wakeups.peek().map(|Reverse((at, _))| *at);
        let heal = (!self.healed).then_some(self.workload_end_ns);
        // The checker runs forever; once the faults healed it only matters while
        // requests are outstanding.
        let paths = if self.healed && self.driver.transport.payloads() == 0 {
            None
        } else {
            mpath::next_due(self)
        };
        [driver, wake, heal, paths].into_iter().flatten().min()
    }

    fn now_us(&self) -> u64 {
        self.now.as_nanos() / 1000
    }

    fn step(&mut self) {
        self.driver.advance_to(self.now);
        self.handle_outputs();
        mpath::on_time(self);
        self.handle_outputs();
        io::issue_due(self);
        self.handle_outputs();
        if self.options.check_invariants {
            self.driver.check_step();
            self.take_checker_violations();
        }
    }

    /// Hands the driver's outputs to the recorder, the writers and the workloads, until
    /// none is left at this instant (a completion may submit, which may complete).
    fn handle_outputs(&mut self) {
        for _ in 0..MAX_DRAIN_ROUNDS {
            match self.driver.poll_output() {
                Some(output) => {
                    events::handle(self, output);
                    self.driver.drain_actions();
                }
                None => {
                    self.driver.drain();
                    if self.driver.pending_outputs() == 0 {
                        return;
                    }
                }
            }
        }
        self.violation(format!(
            "more than {MAX_DRAIN_ROUNDS} outputs at {:?}",
            self.now
        ));
    }

    fn take_checker_violations(&mut self) {
        let found: Vec<String> = self
            .driver
            .checker
            .violations
            .drain(..)
            .map(|v| v.to_string())
            .collect();
        for violation in found {
            self.violation(violation);
        }
    }

    fn violation(&mut self, text: String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(text);
        }
    }

    fn schedule_stream(&mut self, stream: usize) {
        if self.links.get(stream).is_none_or(|l| l.wake_scheduled) {
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
        self.links[stream].wake_scheduled = true;
    }

    fn finish(mut self) -> RunResult {
        if !self.healed {
            self.heal();
        }
        let verified_blocks = io::final_sweep(&mut self);
        let stuck = io::stuck_requests(&self);
        let outstanding_at_end = self.driver.transport.payloads() as u32;
        if outstanding_at_end > 0 && self.options.check_invariants {
            self.violation(format!(
                "{outstanding_at_end} request(s) did not complete within the liveness bound of {} ms after the workloads ended (faults healed at {} ms)",
                self.liveness_ns / 1_000_000,
                self.workload_end_ns / 1_000_000
            ));
            for request in &stuck {
                self.violation(format!("stuck: {request}"));
            }
        } else if self.options.check_invariants {
            self.driver.check();
        }
        self.take_checker_violations();
        self.flush_writers();
        let end_us = self.last_activity_ns.max(self.workload_end_ns) / 1000;
        let commands = self.driver.transport.commands_completed();
        let states = (0..self.devices.len())
            .map(|index| {
                let device = self.devices[index];
                let state = self.driver.mid.device_state(device);
                state.map_or("unknown", |s| s.name())
            })
            .collect();
        self.hand_faults_to_recorder();
        let (mpaths, mpath_lanes) = mpath::finish(&mut self);
        let mut report =
            self.recorder
                .finish(self.title.clone(), self.seed, end_us, commands, states);
        report.summary.mpaths = mpaths;
        report.mpath_lanes = mpath_lanes;
        RunResult {
            report,
            violations: self.violations,
            outstanding_at_end,
            liveness_ms: self.liveness_ns / 1_000_000,
            stuck,
            steps: self.steps,
            verified_blocks,
        }
    }

    /// The scenario's faults with how often and when they fired, and their firings per lane.
    fn hand_faults_to_recorder(&mut self) {
        let engine = self.driver.transport.target().fault_engine();
        let mut faults = std::mem::take(&mut self.faults);
        for (index, fault) in faults.iter_mut().enumerate() {
            fault.fired = engine.fired(index);
            fault.fired_span_us = engine.fired_span_us(index);
        }
        let (hits, not_kept) = engine.hits();
        let lanes: Vec<(usize, u64)> = hits
            .iter()
            .filter_map(|hit| {
                let lane = self.luns.iter().position(|l| l.address == hit.address)?;
                Some((lane, hit.at_us))
            })
            .collect();
        let rules: Vec<usize> = hits.iter().map(|hit| hit.rule).collect();
        self.recorder.set_faults(faults);
        for ((lane, at_us), rule) in lanes.into_iter().zip(rules) {
            self.recorder.fault_hit(at_us, rule, lane);
        }
        self.recorder.fault_hits_not_kept(not_kept);
    }

    fn flush_writers(&mut self) {
        let mut failed = Vec::new();
        if let Some(out) = self.trace.as_mut() {
            if let Err(error) = out.flush() {
                failed.push(format!("writing the trace: {error}"));
            }
        }
        if let Some(out) = self.kernel_out.as_mut() {
            if let Err(error) = out.flush() {
                failed.push(format!("writing the kernel log: {error}"));
            }
        }
        for text in failed {
            self.violation(text);
        }
    }
}

/// Runs `scenario` with `options`.
pub fn run_scenario(scenario: &Scenario, options: RunOptions) -> Result<RunResult, RunError> {
    Runner::new(scenario, options)?.run()
}

//! The one driver loop: a [`MidLayer`] and a [`Transport`] on one virtual clock. It hands
//! the core's actions to the transport, the transport's answers back to the core (answers
//! due at an instant go before the core's timers due at the same instant), fires the
//! core's timers, and feeds the [`Checker`] after every action. Tests, `explain` and the
//! scenario runner all run on it.
//!
//! ```text
//!   submit ─► MidLayer ── poll_action ──► Transport::execute      Checker (every action)
//!               ▲   handle_timeout ◄── poll_timeout                    │
//!               └── deliver ◄── Transport::poll_event ◄── next_due     ▼
//!   Output: completions, trace records, transport notes (drained with poll_output)
//! ```
//!
//! `Driver::new` keeps every completion, trace record and dispatch (for tests);
//! `Driver::with_options` keeps nothing and queues outputs for the caller to drain after
//! each step, so a long run holds only what is outstanding.

use std::collections::VecDeque;
use std::time::Duration;

use super::checker::{Checker, Violation};
use super::kept_deadline::KeptDeadline;
use super::liveness::liveness_bound;
use super::transport::{deliver, Transport};
use crate::action::{Action, Completion, Tag};
use crate::midlayer::{MidLayer, SubmitError};
use crate::request::Request;
use crate::time::Instant;
use crate::topology::DeviceId;
use crate::trace::TraceRecord;

/// The most actions and answers handled at one instant before the driver calls it a
/// livelock (a run of 65 536 LUNs completes about a million commands at one instant).
pub const MAX_WORK_PER_INSTANT: u64 = 1 << 26;

/// Queued outputs at which `drain` hands back to the caller (without history).
pub const OUTPUTS_BEFORE_YIELD: usize = 1024;

/// Bounds on one run.
#[derive(Clone, Copy, Debug)]
pub struct RunLimit {
    pub max_steps: u64,
    pub max_time: Duration,
}

impl Default for RunLimit {
    fn default() -> RunLimit {
        RunLimit {
            max_steps: 10_000_000,
            max_time: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RunOutcome {
    /// Nothing left to deliver and no timer armed.
    Idle,
    StepLimit,
    TimeLimit,
}

/// How the driver runs.
#[derive(Clone, Copy, Debug)]
pub struct DriverOptions {
    /// Feed the checker (exactly once, held buffers, retries, requeues past the cap).
    pub check: bool,
    /// Keep every completion, trace record and dispatch in the driver's vectors instead of
    /// queueing them as outputs.
    pub keep_history: bool,
}

/// What the driver hands the caller, in the order it happened.
#[derive(Clone, Debug)]
pub enum Output<N> {
    Completed(Completion),
    Traced(TraceRecord),
    /// A transport's note, at the time it was made.
    Note(Instant, N),
}

/// What the liveness phase found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// The bound that applied.
    pub bound: Duration,
    /// Requests still outstanding when it had passed (oldest first, at most 10).
    pub stuck: Vec<Violation>,
    pub outstanding: usize,
}

/// A mid-layer and a transport on one virtual clock.
#[derive(Debug)]
pub struct Driver<T: Transport> {
    pub mid: MidLayer,
    pub transport: T,
    pub now: Instant,
    /// History (only with `keep_history`).
    pub completions: Vec<Completion>,
    pub trace: Vec<TraceRecord>,
    /// Every request as it was dispatched (CDBs change when a request is prepared again).
    pub dispatches: Vec<(Instant, Tag, Request)>,
    pub checker: Checker,
    outputs: VecDeque<Output<T::Note>>,
    options: DriverOptions,
    /// The core's earliest deadline as last read (a lower bound, exact up to `now`).
    core_deadline: KeptDeadline<Instant>,
}

impl<T: Transport> Driver<T> {
    /// For tests and `explain`: tracing on, every check on, history kept.
    pub fn new(mut mid: MidLayer, transport: T) -> Driver<T> {
        mid.set_tracing(true);
        let options = DriverOptions {
            check: true,
            keep_history: true,
        };
        Driver::with_options(mid, transport, options)
    }

    /// Tracing stays as `mid` has it.
    pub fn with_options(mid: MidLayer, transport: T, options: DriverOptions) -> Driver<T> {
        Driver {
            mid,
            transport,
            now: Instant::ZERO,
            completions: Vec::new(),
            trace: Vec::new(),
            dispatches: Vec::new(),
            checker: Checker::default(),
            outputs: VecDeque::with_capacity(64),
            options,
            core_deadline: KeptDeadline::new(),
        }
    }

    pub fn submit(&mut self, device: DeviceId, request: Request) -> Result<(), SubmitError> {
        self.mid.submit(self.now, device, request)?;
        if self.options.check {
            let allowed = match request.allowed {
                Some(allowed) => allowed,
                None => self.mid.device_allowed(device).unwrap_or(0),
            };
            self.checker
                .submitted(request.token, device, allowed, self.now);
        }
        self.drain_actions();
        Ok(())
    }

    /// The next output (with `keep_history` off).
    pub fn poll_output(&mut self) -> Option<Output<T::Note>> {
        crate::ring::pop_front_rewinding(&mut self.outputs)
    }

    /// The next output where it lies (with keep_history off), with the core and the
    /// transport beside it; drop it with [`Driver::drop_output`] once handled. Reading an
    /// output in place instead of moving it out with `poll_output` saves a copy of it (a
    /// completion carries its sense buffer).
    #[inline]
    pub fn peek_output(&mut self) -> Option<(&Output<T::Note>, &MidLayer, &mut T)> {
        let output = self.outputs.front()?;
        Some((output, &self.mid, &mut self.transport))
    }

    /// Drops the output [`Driver::peek_output`] showed.
    #[inline]
    pub fn drop_output(&mut self) {
        crate::ring::drop_front_rewinding(&mut self.outputs);
    }

    /// Outputs queued and not yet drained.
    pub fn pending_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// When the next answer or timer is due.
    pub fn next_due(&mut self) -> Option<Instant> {
        match self.transport.next_due() {
            // Only a timer before the answer matters: the bound is exact up to it.
            Some(answer) => Some(
                self.mid
                    .poll_timeout_bound(answer)
                    .map_or(answer, |at| at.min(answer)),
            ),
            None => self.mid.poll_timeout(),
        }
    }

    /// Moves the clock to `at` (never back) and does everything due by then.
    pub fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.drain();
    }

    /// Executes the core's actions, delivers the transport's answers due now and fires the
    /// core's timers due now, until nothing is left at this instant.
    ///
    /// Without history it stops early once [`OUTPUTS_BEFORE_YIELD`] outputs are queued, so
    /// the caller drains them before calling again (memory stays bounded by that, not by
    /// the commands finishing at one instant).
    pub fn drain(&mut self) {
        let now = self.now;
        for _ in 0..MAX_WORK_PER_INSTANT {
            if !self.options.keep_history && self.outputs.len() >= OUTPUTS_BEFORE_YIELD {
                return;
            }
            if self.execute_next() {
            } else if let Some(event) = self.transport.poll_event(now) {
                self.take_notes();
                deliver(&mut self.mid, now, event);
            } else if self.core_timer_due(now) {
                self.mid.handle_timeout(now);
            } else {
                return;
            }
        }
        let text = format!("more than {MAX_WORK_PER_INSTANT} actions at {now:?}");
        self.checker.push(Violation::Driver(text));
    }

    /// Whether a core timer is due at `now` ([`KeptDeadline`]: the core's timers are looked
    /// at only when it armed one since or the deadline kept is due).
    #[inline]
    fn core_timer_due(&mut self, now: Instant) -> bool {
        self.core_deadline
            .get(&mut self.mid, now, |mid| mid.poll_timeout_bound(now))
            .is_some_and(|at| at <= now)
    }

    /// Executes the core's pending actions only (answers wait for the next step).
    pub fn drain_actions(&mut self) {
        while self.execute_next() {}
    }

    /// Executes the core's next action where it lies in the core's queue, then drops it
    /// from there; false when there is none. Moving an action out (`poll_action`) and into
    /// a call would copy it twice, and an action is as large as a request or a completion.
    ///
    /// Inline for the look at an empty queue (half the calls: the end of every drain);
    /// the work is out of line.
    #[inline]
    fn execute_next(&mut self) -> bool {
        if self.mid.actions.is_empty() {
            return false;
        }
        self.execute_front()
    }

    #[inline(never)]
    fn execute_front(&mut self) -> bool {
        let now = self.now;
        let Some(action) = self.mid.actions.front() else {
            return false;
        };
        let options = self.options;
        match action {
            Action::Complete(completion) => {
                if options.check {
                    let transport = &self.transport;
                    self.checker
                        .completed(completion, |tag| transport.holds(tag));
                }
                self.emit(Output::Completed(*completion));
                self.mid.drop_action();
                return true;
            }
            Action::Trace(record) => {
                if options.check {
                    self.checker.traced(record);
                }
                self.emit(Output::Traced(*record));
                self.mid.drop_action();
                return true;
            }
            Action::Dispatch { tag, request, .. } => {
                if options.check {
                    let transport = &self.transport;
                    self.checker
                        .dispatched(*tag, request.token, |held| transport.holds(held));
                }
                if options.keep_history {
                    self.dispatches.push((now, *tag, *request));
                }
            }
            _ => {}
        }
        let refused = self.transport.execute(now, action);
        let refused_tag = match action {
            Action::Dispatch { tag, .. } | Action::SendEhCommand { tag, .. } => Some(*tag),
            _ => None,
        };
        // Dropped before the core hears of a refusal (which queues actions of its own).
        self.mid.drop_action();
        self.take_notes();
        if let (Some(reason), Some(tag)) = (refused, refused_tag) {
            self.mid.handle_dispatch_refused(now, tag, reason);
        }
        true
    }

    /// Runs after every dispatch and answer and almost always finds nothing: inline.
    #[inline(always)]
    fn take_notes(&mut self) {
        while let Some(note) = self.transport.poll_note() {
            self.emit(Output::Note(self.now, note));
        }
    }

    /// An output for the caller: with `keep_history`, kept in the history (notes are not
    /// kept); otherwise queued for [`Driver::poll_output`]. Inline: built where it goes.
    #[inline(always)]
    fn emit(&mut self, output: Output<T::Note>) {
        if !self.options.keep_history {
            self.outputs.push_back(output);
            return;
        }
        match output {
            Output::Completed(completion) => self.completions.push(completion),
            Output::Traced(record) => self.trace.push(record),
            Output::Note(..) => {}
        }
    }

    /// Advances to the next answer or timer and does everything due then; false when
    /// nothing is due.
    pub fn step(&mut self) -> bool {
        match self.next_due() {
            Some(at) => {
                self.advance_to(at);
                true
            }
            None => false,
        }
    }

    /// Steps until idle or a limit.
    pub fn run_until_idle(&mut self, limit: RunLimit) -> RunOutcome {
        let start = self.now;
        for _ in 0..limit.max_steps {
            if self.now.saturating_duration_since(start) > limit.max_time {
                return RunOutcome::TimeLimit;
            }
            if !self.step() {
                return RunOutcome::Idle;
            }
        }
        RunOutcome::StepLimit
    }

    /// Steps while the next answer or timer is at or before `until`, then sets the clock
    /// there.
    pub fn run_until(&mut self, until: Instant) {
        while self.next_due().is_some_and(|at| at <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// The liveness phase (call once faults have healed): runs until every request the
    /// checker watches has completed or the bound of [`liveness_bound`] has passed, and
    /// names the requests still outstanding then.
    pub fn run_liveness_phase(&mut self) -> Liveness {
        let bound = liveness_bound(&self.mid);
        let deadline = self.now + bound;
        while self.checker.outstanding() > 0 && self.next_due().is_some_and(|at| at <= deadline) {
            self.step();
        }
        Liveness {
            bound,
            stuck: self.checker.never_completed(10),
            outstanding: self.checker.outstanding(),
        }
    }

    /// Runs the core's structural invariants now (after a step).
    pub fn check_step(&mut self) {
        if let Err(error) = self.mid.check_invariants() {
            let text = format!("at {:?}: {error}", self.now);
            self.checker.push(Violation::Core(text));
        }
    }

    /// Finishes the invariant checks (call when idle).
    pub fn check(&mut self) -> &Checker {
        self.checker.finish(&self.mid);
        &self.checker
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffers::Cdb;
    use crate::config::{DeviceConfig, HostConfig, Personality};
    use crate::harness::NullTransport;

    fn one_disk() -> (MidLayer, DeviceId) {
        let mut mid = MidLayer::new();
        let host = mid.add_host(HostConfig::new(0, Personality::Generic));
        let disk = mid.add_device(host, DeviceConfig::disk(0, 0, 0)).unwrap();
        (mid, disk)
    }

    fn read(token: u64) -> Request {
        let cdb = Cdb::from_slice(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap();
        let mut request = Request::new(cdb, token);
        request.data_len = 512;
        request
    }

    #[test]
    fn outputs_come_in_order_and_nothing_is_kept() {
        let (mut mid, disk) = one_disk();
        mid.set_tracing(true);
        let options = DriverOptions {
            check: true,
            keep_history: false,
        };
        let transport = NullTransport::with_latency(Duration::from_millis(1));
        let mut driver = Driver::with_options(mid, transport, options);
        driver.submit(disk, read(1)).unwrap();
        let liveness = driver.run_liveness_phase();
        assert!(liveness.stuck.is_empty());
        assert_eq!(driver.now, Instant::ZERO + Duration::from_millis(1));
        let outputs: Vec<_> = std::iter::from_fn(|| driver.poll_output()).collect();
        assert!(matches!(outputs.first(), Some(Output::Traced(_))));
        assert!(matches!(outputs.last(), Some(Output::Completed(c)) if c.token == 1));
        assert!(driver.completions.is_empty() && driver.trace.is_empty());
        assert!(driver.check().is_clean());
    }

    /// What `MidLayer::timer_generation` promises the engine: while it stays, the earliest
    /// deadline never moves earlier (so a deadline read before stays a safe wake-up).
    #[test]
    fn the_earliest_deadline_moves_earlier_only_with_a_new_timer_generation() {
        // Answers in 0.7 s, and answers after the 30 s timeout (aborts, error handling).
        for latency in [Duration::from_millis(700), Duration::from_secs(40)] {
            let (mid, disk) = one_disk();
            let mut driver = Driver::new(mid, NullTransport::with_latency(latency));
            let mut seen = (driver.mid.timer_generation(), driver.mid.poll_timeout());
            // Steps that armed no timer: the promise is checked on each of them.
            let mut compared = 0;
            for token in 0..300u64 {
                if token % 3 != 2 {
                    let _ = driver.submit(disk, read(token));
                }
                driver.step();
                let now = (driver.mid.timer_generation(), driver.mid.poll_timeout());
                if now.0 == seen.0 {
                    compared += 1;
                    match (seen.1, now.1) {
                        (Some(before), Some(after)) => assert!(after >= before, "{latency:?}"),
                        (None, Some(_)) => panic!("a deadline appeared without arming"),
                        _ => {}
                    }
                }
                seen = now;
            }
            assert!(
                compared > 50,
                "{latency:?}: only {compared} steps kept a generation"
            );
            driver.run_until_idle(RunLimit::default());
            assert!(driver.check().is_clean());
        }
    }

    #[test]
    fn the_liveness_phase_names_a_request_that_never_completes() {
        let (mid, disk) = one_disk();
        let mut driver = Driver::new(mid, NullTransport::default());
        driver.submit(disk, read(1)).unwrap();
        // A request the checker saw submitted but the core never got: it cannot complete.
        driver.checker.submitted(2, disk, 5, driver.now);
        let liveness = driver.run_liveness_phase();
        assert_eq!(liveness.outstanding, 1);
        assert_eq!(liveness.bound, liveness_bound(&driver.mid));
        assert!(matches!(
            liveness.stuck.as_slice(),
            [Violation::NeverCompleted { token: 2, .. }]
        ));
        assert!(!driver.check().is_clean());
    }
}

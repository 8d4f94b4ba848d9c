//! The virtual-clock loop: delivers the transport's scheduled answers and the core's
//! timers in time order (an answer due at the same instant as a timer goes first),
//! executes the core's actions, and keeps completions, trace and invariant checks.

use std::time::Duration;

use super::checker::Checker;
use super::transport::{EventQueue, Transport, TransportEvent};
use crate::action::{Action, Completion};
use crate::midlayer::{MidLayer, SubmitError};
use crate::request::Request;
use crate::time::Instant;
use crate::topology::DeviceId;
use crate::trace::TraceRecord;

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

/// A mid-layer and a transport on one virtual clock.
#[derive(Debug)]
pub struct Driver<T: Transport> {
    pub mid: MidLayer,
    pub transport: T,
    pub events: EventQueue,
    pub now: Instant,
    pub completions: Vec<Completion>,
    pub trace: Vec<TraceRecord>,
    /// Every request as it was dispatched (CDBs change when a request is prepared again).
    pub dispatches: Vec<(Instant, crate::action::Tag, Request)>,
    pub checker: Checker,
}

impl<T: Transport> Driver<T> {
    /// Tracing is switched on so that log lines and explanations can be built.
    pub fn new(mut mid: MidLayer, transport: T) -> Driver<T> {
        mid.set_tracing(true);
        Driver {
            mid,
            transport,
            events: EventQueue::with_capacity(64),
            now: Instant::ZERO,
            completions: Vec::new(),
            trace: Vec::new(),
            dispatches: Vec::new(),
            checker: Checker::default(),
        }
    }

    pub fn submit(&mut self, device: DeviceId, request: Request) -> Result<(), SubmitError> {
        let allowed = match request.allowed {
            Some(allowed) => allowed,
            None => self.mid.device_allowed(device).unwrap_or(0),
        };
        self.mid.submit(self.now, device, request)?;
        self.checker.submitted(request.token, allowed);
        self.drain();
        Ok(())
    }

    /// Executes every pending action.
    pub fn drain(&mut self) {
        while let Some(action) = self.mid.poll_action() {
            self.execute(action);
        }
    }

    fn execute(&mut self, action: Action) {
        let now = self.now;
        match action {
            Action::Dispatch {
                tag,
                device,
                request,
            } => {
                self.checker.dispatched(tag, request.token);
                self.dispatches.push((now, tag, request));
                self.transport
                    .dispatch(now, tag, device, &request, &mut self.events);
            }
            Action::SendEhCommand {
                tag,
                device,
                command,
                cdb,
                ..
            } => self
                .transport
                .eh_command(now, tag, device, command, &cdb, &mut self.events),
            Action::Abort { op, tag, device } => {
                self.transport.abort(now, op, tag, device, &mut self.events)
            }
            Action::Reset { op, kind, device } => {
                self.transport
                    .reset(now, op, kind, device, &mut self.events)
            }
            Action::Poll { tag, device } => self.transport.poll(now, tag, device, &mut self.events),
            Action::Revoke { tag, device } => self.transport.revoke(now, tag, device),
            Action::Complete(completion) => {
                let transport = &self.transport;
                self.checker
                    .completed(&completion, |tag| transport.holds(tag));
                self.completions.push(completion);
            }
            Action::Trace(record) => {
                self.checker.traced(&record);
                self.trace.push(record);
            }
        }
    }

    /// Delivers the next answer or timer; false when there is none.
    pub fn step(&mut self) -> bool {
        let event_at = self.events.next_time();
        let timer_at = self.mid.poll_timeout();
        match (event_at, timer_at) {
            (Some(event), timer) if timer.is_none_or(|t| event <= t) => {
                let Some((at, event)) = self.events.pop() else {
                    return false;
                };
                self.now = self.now.max(at);
                self.deliver(event);
            }
            (_, Some(timer)) => {
                self.now = self.now.max(timer);
                self.mid.handle_timeout(self.now);
            }
            _ => return false,
        }
        self.drain();
        true
    }

    fn deliver(&mut self, event: TransportEvent) {
        let now = self.now;
        match event {
            TransportEvent::Done { tag, outcome } => {
                self.mid.handle_transport_done(now, tag, outcome)
            }
            TransportEvent::TmfDone { op, result } => self.mid.handle_tmf_done(now, op, result),
            TransportEvent::PollDone { tag } => self.mid.handle_poll_done(now, tag),
            TransportEvent::Refused { tag, reason } => {
                self.mid.handle_dispatch_refused(now, tag, reason)
            }
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

    /// Steps while the next event or timer is at or before `until`, then sets the clock there.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next = match (self.events.next_time(), self.mid.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if next.is_none_or(|at| at > until) || !self.step() {
                break;
            }
        }
        self.now = self.now.max(until);
    }

    /// Finishes the invariant checks (call when idle).
    pub fn check(&mut self) -> &Checker {
        self.checker.finish(&self.mid);
        &self.checker
    }
}

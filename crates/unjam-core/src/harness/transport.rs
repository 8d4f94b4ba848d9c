//! The transport side of the one driver loop: the [`Transport`] trait every transport
//! implements (the embedded target, the scripted and the null transports; the tokio
//! runtime can wrap its iSCSI client the same way), the answers it gives, the one routing
//! of those answers into the core ([`deliver`]), and [`EventQueue`], a helper for
//! transports that schedule answers at virtual times.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use unjam_scsi::disposition::QueueReason;

use crate::action::{Action, Tag, TmfOp, TmfResult};
use crate::midlayer::MidLayer;
use crate::request::TransportOutcome;
use crate::time::Instant;

/// An answer of a transport.
#[derive(Clone, Copy, Debug)]
pub enum TransportEvent {
    Done { tag: Tag, outcome: TransportOutcome },
    TmfDone { op: TmfOp, result: TmfResult },
    PollDone { tag: Tag },
    Refused { tag: Tag, reason: QueueReason },
}

/// A transport (LLD) as the driver loop sees it. Every call carries `now`.
///
/// The driver hands every transport-facing [`Action`] (`Dispatch`, `SendEhCommand`,
/// `Abort`, `Reset`, `Poll`, `Revoke`) to [`Transport::execute`], then collects answers
/// with [`Transport::poll_event`] until it returns `None`, and sleeps until
/// [`Transport::next_due`] (or the core's own timer). A transport must answer every
/// abort and reset (or the core counts them failed after `tmf_timeout`) and must drop a
/// revoked command at once. `Poll` is answered with the completions it found, then
/// `PollDone`.
pub trait Transport {
    /// What the transport reports for the trace beside its answers (the simulated target:
    /// what each command did at the device). `()` for transports with nothing to add.
    type Note;

    /// Carries out one action of the core. `Complete` and `Trace` are not for the
    /// transport and are ignored. A `Dispatch` or `SendEhCommand` the transport refuses at
    /// once (queuecommand's `SCSI_MLQUEUE_*` return value) returns the reason; the driver
    /// hands it back to the core before anything else happens, as the kernel does. A
    /// transport that learns of a refusal later answers `TransportEvent::Refused`.
    fn execute(&mut self, now: Instant, action: &Action) -> Option<QueueReason>;

    /// The next answer due at or before `now`, earliest first (ties in the order they
    /// were scheduled).
    fn poll_event(&mut self, now: Instant) -> Option<TransportEvent>;

    /// When the next answer is due; `None` when nothing is scheduled (commands the
    /// transport swallowed may still be held).
    fn next_due(&self) -> Option<Instant>;

    /// Does the transport still hold `tag` (may it still touch the command's buffers)?
    fn holds(&self, tag: Tag) -> bool;

    /// The next note for the trace, drained by the driver after every call above.
    fn poll_note(&mut self) -> Option<Self::Note> {
        None
    }
}

/// Hands one transport answer to the core: the action routing every driver shares.
pub fn deliver(mid: &mut MidLayer, now: Instant, event: TransportEvent) {
    match event {
        TransportEvent::Done { tag, outcome } => mid.handle_transport_done(now, tag, &outcome),
        TransportEvent::TmfDone { op, result } => mid.handle_tmf_done(now, op, result),
        TransportEvent::PollDone { tag } => mid.handle_poll_done(now, tag),
        TransportEvent::Refused { tag, reason } => mid.handle_dispatch_refused(now, tag, reason),
    }
}

/// Answers ordered by time, then by the order they were scheduled.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<(Instant, u64, EventSlot)>>,
    events: Vec<Option<TransportEvent>>,
    free: Vec<usize>,
    sequence: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct EventSlot(usize);

impl EventQueue {
    pub fn with_capacity(capacity: usize) -> EventQueue {
        EventQueue {
            heap: BinaryHeap::with_capacity(capacity),
            events: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            sequence: 0,
        }
    }

    /// Schedules `event` at `at`.
    pub fn at(&mut self, at: Instant, event: TransportEvent) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.events[slot] = Some(event);
                slot
            }
            None => {
                self.events.push(Some(event));
                self.events.len() - 1
            }
        };
        self.sequence += 1;
        self.heap
            .push(Reverse((at, self.sequence, EventSlot(slot))));
    }

    pub fn next_time(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The earliest event if it is due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<TransportEvent> {
        if self.next_time()? > now {
            return None;
        }
        self.pop().map(|(_, event)| event)
    }

    pub fn pop(&mut self) -> Option<(Instant, TransportEvent)> {
        let Reverse((at, _, EventSlot(slot))) = self.heap.pop()?;
        let event = self.events.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some((at, event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

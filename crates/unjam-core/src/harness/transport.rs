//! The transport side of the driver loop: what a transport is asked to do, and the queue
//! of answers it schedules at virtual times.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use unjam_scsi::disposition::QueueReason;

use crate::action::{EhCommand, ResetKind, Tag, TmfOp, TmfResult};
use crate::buffers::Cdb;
use crate::request::{Request, TransportOutcome};
use crate::time::Instant;
use crate::topology::DeviceId;

/// An answer a transport schedules.
#[derive(Clone, Copy, Debug)]
pub enum TransportEvent {
    Done { tag: Tag, outcome: TransportOutcome },
    TmfDone { op: TmfOp, result: TmfResult },
    PollDone { tag: Tag },
    Refused { tag: Tag, reason: QueueReason },
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

/// A transport (LLD) as the driver loop sees it. Every call carries `now`; answers are
/// scheduled on `events` at `now` or later. A transport must answer every abort and reset
/// (or the core calls them failed after `tmf_timeout`) and must drop a revoked command.
pub trait Transport {
    fn dispatch(
        &mut self,
        now: Instant,
        tag: Tag,
        device: DeviceId,
        request: &Request,
        events: &mut EventQueue,
    );
    fn eh_command(
        &mut self,
        now: Instant,
        tag: Tag,
        device: DeviceId,
        command: EhCommand,
        cdb: &Cdb,
        events: &mut EventQueue,
    );
    fn abort(
        &mut self,
        now: Instant,
        op: TmfOp,
        tag: Tag,
        device: DeviceId,
        events: &mut EventQueue,
    );
    fn reset(
        &mut self,
        now: Instant,
        op: TmfOp,
        kind: ResetKind,
        device: DeviceId,
        events: &mut EventQueue,
    );
    /// Reap completions of `tag` that were missed; schedule them, then `PollDone`.
    fn poll(&mut self, now: Instant, tag: Tag, device: DeviceId, events: &mut EventQueue);
    /// Drop every reference to `tag` now.
    fn revoke(&mut self, now: Instant, tag: Tag, device: DeviceId);
    /// Does the transport still hold `tag`'s buffers? (For the invariant checker.)
    fn holds(&self, tag: Tag) -> bool;
}

//! Timers. Command deadlines sit in one FIFO per timeout value: deadlines armed with the
//! same timeout at non-decreasing `now` are monotonic, so arming is O(1) and the earliest
//! deadline is at a front. Entries are deleted lazily (a fired or re-armed command no longer
//! matches its entry) and compacted when a queue grows past a bound. Rare timers (abort
//! delay, TMF and EH-command timeouts, queue re-runs, settle delays) live in a heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use crate::time::Instant;

/// One armed command deadline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeadlineEntry {
    pub deadline: Instant,
    pub slot: u32,
    pub generation: u32,
}

struct Fifo {
    timeout: Duration,
    entries: VecDeque<DeadlineEntry>,
}

/// Command deadlines, one FIFO per distinct timeout.
pub struct CommandTimers {
    fifos: Vec<Fifo>,
    /// A FIFO longer than this is compacted (bounds memory under out-of-order completion).
    compact_above: usize,
}

impl CommandTimers {
    pub fn new(compact_above: usize) -> CommandTimers {
        CommandTimers {
            fifos: Vec::new(),
            compact_above: compact_above.max(64),
        }
    }

    pub fn arm(
        &mut self,
        timeout: Duration,
        entry: DeadlineEntry,
        is_live: impl Fn(&DeadlineEntry) -> bool,
    ) {
        let index = match self.fifos.iter().position(|fifo| fifo.timeout == timeout) {
            Some(index) => index,
            None => {
                self.fifos.push(Fifo {
                    timeout,
                    entries: VecDeque::with_capacity(self.compact_above),
                });
                self.fifos.len() - 1
            }
        };
        let compact_above = self.compact_above;
        let fifo = &mut self.fifos[index];
        debug_assert!(fifo
            .entries
            .back()
            .is_none_or(|last| last.deadline <= entry.deadline));
        fifo.entries.push_back(entry);
        if fifo.entries.len() > compact_above {
            fifo.entries.retain(&is_live);
            if fifo.entries.len() > compact_above / 2 {
                self.compact_above = compact_above.saturating_mul(2);
            }
        }
    }

    /// Drops dead entries at the fronts and returns the earliest live deadline.
    pub fn earliest(&mut self, is_live: impl Fn(&DeadlineEntry) -> bool) -> Option<Instant> {
        let mut earliest: Option<Instant> = None;
        for fifo in &mut self.fifos {
            while fifo.entries.front().is_some_and(|entry| !is_live(entry)) {
                fifo.entries.pop_front();
            }
            if let Some(front) = fifo.entries.front() {
                earliest = Some(earliest.map_or(front.deadline, |e| e.min(front.deadline)));
            }
        }
        earliest
    }

    /// Pops the earliest live entry due at `now`.
    pub fn pop_due(
        &mut self,
        now: Instant,
        is_live: impl Fn(&DeadlineEntry) -> bool,
    ) -> Option<DeadlineEntry> {
        self.earliest(&is_live)?;
        let fifo = self
            .fifos
            .iter_mut()
            .filter(|fifo| {
                fifo.entries
                    .front()
                    .is_some_and(|entry| entry.deadline <= now)
            })
            .min_by_key(|fifo| {
                fifo.entries
                    .front()
                    .map(|entry| (entry.deadline, entry.slot))
            })?;
        fifo.entries.pop_front()
    }

    /// Drops dead entries at the front of the FIFO for `timeout` (called on completion, so
    /// in-order completions keep the FIFOs short).
    pub fn prune(&mut self, timeout: Duration, is_live: impl Fn(&DeadlineEntry) -> bool) {
        if let Some(fifo) = self.fifos.iter_mut().find(|fifo| fifo.timeout == timeout) {
            while fifo.entries.front().is_some_and(|entry| !is_live(entry)) {
                fifo.entries.pop_front();
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.fifos.iter().map(|fifo| fifo.entries.len()).sum()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rarer timers, keyed by what they are for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum RareTimer {
    /// The async abort goes out 10 ms after the timeout.
    AbortDelay { slot: u32, generation: u32 },
    /// An abort or reset not answered in time.
    Tmf { op: u32 },
    /// A poll not answered in time.
    Poll { slot: u32, generation: u32 },
    /// An error-handler command not answered in time.
    EhCommand { slot: u32, generation: u32 },
    /// Re-run a device queue (blocked counter, SCSI_QUEUE_DELAY 3 ms).
    DeviceRerun { device: u32 },
    /// Re-run every queue of a host (host_blocked).
    HostRerun { host: u32 },
    /// A delayed requeue (ALUA transition, 1000 ms).
    DelayedRequeue { slot: u32, generation: u32 },
    /// The settle delay after a bus or host reset.
    EhSettle { host: u32, epoch: u32 },
}

/// A min-heap of rare timers; entries are validated when they fire.
pub struct RareTimers {
    heap: BinaryHeap<Reverse<(Instant, u64, RareTimer)>>,
    sequence: u64,
}

impl RareTimers {
    pub fn new() -> RareTimers {
        RareTimers {
            heap: BinaryHeap::with_capacity(64),
            sequence: 0,
        }
    }

    pub fn arm(&mut self, at: Instant, timer: RareTimer) {
        self.sequence += 1;
        self.heap.push(Reverse((at, self.sequence, timer)));
    }

    pub fn earliest(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn pop_due(&mut self, now: Instant) -> Option<RareTimer> {
        if self.earliest()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, _, timer))| timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(seconds)
    }

    #[test]
    fn fifos_yield_the_earliest_live_deadline() {
        let mut timers = CommandTimers::new(64);
        let live = |entry: &DeadlineEntry| entry.slot != 1;
        timers.arm(
            Duration::from_secs(30),
            DeadlineEntry {
                deadline: at(30),
                slot: 1,
                generation: 0,
            },
            live,
        );
        timers.arm(
            Duration::from_secs(30),
            DeadlineEntry {
                deadline: at(31),
                slot: 2,
                generation: 0,
            },
            live,
        );
        timers.arm(
            Duration::from_secs(3),
            DeadlineEntry {
                deadline: at(33),
                slot: 3,
                generation: 0,
            },
            live,
        );
        assert_eq!(timers.earliest(live), Some(at(31)), "slot 1 is dead");
        assert_eq!(timers.pop_due(at(30), live), None);
        assert_eq!(timers.pop_due(at(40), live).map(|e| e.slot), Some(2));
        assert_eq!(timers.pop_due(at(40), live).map(|e| e.slot), Some(3));
        assert!(timers.is_empty());
    }

    #[test]
    fn compaction_bounds_a_fifo() {
        let mut timers = CommandTimers::new(64);
        let never_live = |_: &DeadlineEntry| false;
        for slot in 0..10_000 {
            timers.arm(
                Duration::from_secs(30),
                DeadlineEntry {
                    deadline: at(30),
                    slot,
                    generation: 0,
                },
                never_live,
            );
        }
        assert!(timers.len() <= 65);
    }

    #[test]
    fn rare_timers_fire_in_time_order() {
        let mut timers = RareTimers::new();
        timers.arm(at(2), RareTimer::HostRerun { host: 0 });
        timers.arm(at(1), RareTimer::DeviceRerun { device: 4 });
        assert_eq!(timers.pop_due(at(0)), None);
        assert_eq!(
            timers.pop_due(at(5)),
            Some(RareTimer::DeviceRerun { device: 4 })
        );
        assert_eq!(
            timers.pop_due(at(5)),
            Some(RareTimer::HostRerun { host: 0 })
        );
    }
}

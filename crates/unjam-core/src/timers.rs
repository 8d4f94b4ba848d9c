//! Timers. Requests follow the block layer's per-queue timer (`blk_add_timer`,
//! `blk_mq_timeout_work`): each device keeps its in-flight requests in an intrusive list
//! (links in the commands) and one queue timer; when it fires, the requests whose deadline
//! passed time out and the timer is re-armed at the earliest remaining deadline. How the
//! timer is rounded and how queues re-run follow the host's [`TimerModel`]. Every timer
//! (queue timers, abort delay, TMF and EH-command timeouts, queue re-runs, settle delays)
//! lives in one heap; entries are validated when they fire.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::config::TimerModel;
use crate::time::Instant;

/// One jiffy at HZ = 250.
pub const JIFFY: Duration = Duration::from_millis(4);
/// `BLK_MAX_TIMEOUT`: the queue timer is never armed further ahead than this.
const BLK_MAX_TIMEOUT: Duration = Duration::from_secs(5);
/// A pending queue timer is moved earlier only by at least `HZ / 2` (timer slack tolerance).
const MOVE_EARLIER_BY: Duration = Duration::from_millis(500);
/// `SCSI_QUEUE_DELAY` under the exact model.
const QUEUE_DELAY: Duration = Duration::from_millis(3);
/// How long kblockd's requeue work takes to run the queue again under the jiffies model
/// (kernel-observed.md: 7–15 k re-sends per second in sd's false-check-condition loop).
const REQUEUE_WORK_DELAY: Duration = Duration::from_micros(100);

/// How long after a command enters the error handler it counts as failed
/// (`scsi_eh_scmd_add` increments `host_failed` from an RCU callback, `call_rcu_hurry`):
/// kernel-observed.md shows 17–19 ms from "previous abort failed" to the first EH step.
const RCU_GRACE: Duration = Duration::from_millis(16);

/// When a command added to the error handler at `now` is seen as failed by the wake-up
/// check (jiffies model: after an RCU grace period; exact: at once).
pub fn eh_failed_visible_at(model: TimerModel, now: Instant) -> Instant {
    match model {
        TimerModel::Exact => now,
        TimerModel::Jiffies => now + RCU_GRACE,
    }
}

/// The jiffy `now` lies in.
pub fn jiffy(now: Instant) -> u64 {
    now.as_nanos() / JIFFY.as_nanos() as u64
}

/// The next jiffy tick strictly after `now`.
pub fn next_tick(now: Instant) -> Instant {
    Instant::from_nanos((jiffy(now) + 1).saturating_mul(JIFFY.as_nanos() as u64))
}

/// `round_jiffies_up`: the next whole second strictly after `at` (a whole second itself
/// moves a full second on, as the kernel's rounding does).
pub fn round_up_to_second(at: Instant) -> Instant {
    const SECOND: u64 = 1_000_000_000;
    Instant::from_nanos((at.as_nanos() / SECOND + 1).saturating_mul(SECOND))
}

/// When the queue timer should fire for a request with `deadline` armed at `now`, and
/// whether it replaces the `pending` timer (`blk_add_timer`). `None`: leave it.
pub fn queue_timer_for(
    model: TimerModel,
    now: Instant,
    deadline: Instant,
    pending: Option<Instant>,
) -> Option<Instant> {
    match model {
        TimerModel::Exact => match pending {
            Some(pending) if pending <= deadline => None,
            _ => Some(deadline),
        },
        TimerModel::Jiffies => {
            let expiry = round_up_to_second(deadline).min(now + BLK_MAX_TIMEOUT);
            match pending {
                None => Some(expiry),
                Some(pending)
                    if expiry < pending
                        && pending.saturating_duration_since(expiry) >= MOVE_EARLIER_BY =>
                {
                    Some(expiry)
                }
                Some(_) => None,
            }
        }
    }
}

/// Whether a pending queue timer at `pending` stays as it is for a new request due at
/// `deadline`, in every timer model: it fires after `now`, no later than the deadline and no
/// later than `BLK_MAX_TIMEOUT` ahead (so the jiffies model cannot move it earlier either).
pub fn pending_covers(now: Instant, deadline: Instant, pending: Instant) -> bool {
    pending > now && pending <= deadline && pending <= now + BLK_MAX_TIMEOUT
}

/// When a blocked queue runs again (`SCSI_QUEUE_DELAY`, 3 ms = one jiffy at HZ = 250).
pub fn queue_rerun_at(model: TimerModel, now: Instant) -> Instant {
    match model {
        TimerModel::Exact => now + QUEUE_DELAY,
        TimerModel::Jiffies => next_tick(now),
    }
}

/// When a requeued request's queue runs again (`blk_mq_kick_requeue_list` on kblockd).
pub fn requeue_run_at(model: TimerModel, now: Instant) -> Option<Instant> {
    match model {
        TimerModel::Exact => None,
        TimerModel::Jiffies => Some(now + REQUEUE_WORK_DELAY),
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
    /// A device's request timer (`q->timeout`), valid while the device's timer is `at`.
    QueueTimer { device: u32, at: Instant },
    /// Failed commands of a host became visible to the error handler's wake-up check.
    EhVisible { host: u32 },
    /// Lines a completion printed are out on the console: it ends.
    Console,
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

    /// How many timers were ever armed. Only arming can bring the earliest entry forward
    /// (popping moves it later), so while this stays the same a deadline read earlier is no
    /// later than the one [`RareTimers::earliest`] would give now.
    pub fn armed_count(&self) -> u64 {
        self.sequence
    }

    pub fn earliest(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The earliest entry and its timer.
    pub fn peek(&self) -> Option<(Instant, RareTimer)> {
        self.heap
            .peek()
            .map(|Reverse((at, _, timer))| (*at, *timer))
    }

    /// Drops the earliest entry.
    pub fn pop(&mut self) {
        self.heap.pop();
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

    #[test]
    fn a_covering_pending_timer_is_kept_by_every_model() {
        let ms = |n: u64| Instant::ZERO + Duration::from_millis(n);
        for now in (0..4_000).step_by(250) {
            for pending in (0..12_000).step_by(250) {
                for deadline in (0..12_000).step_by(250) {
                    let (now, pending, deadline) = (ms(now), ms(pending), ms(deadline));
                    if !pending_covers(now, deadline, pending) {
                        continue;
                    }
                    for model in [TimerModel::Exact, TimerModel::Jiffies] {
                        assert_eq!(
                            queue_timer_for(model, now, deadline, Some(pending)),
                            None,
                            "{model:?} now {now:?} pending {pending:?} deadline {deadline:?}"
                        );
                    }
                }
            }
        }
    }

    fn at(seconds: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(seconds)
    }

    fn ms(millis: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(millis)
    }

    #[test]
    fn only_arming_brings_the_earliest_timer_forward_and_each_arm_counts() {
        let mut timers = RareTimers::new();
        assert_eq!(timers.armed_count(), 0);
        timers.arm(at(3), RareTimer::HostRerun { host: 0 });
        timers.arm(at(5), RareTimer::HostRerun { host: 1 });
        let (count, earliest) = (timers.armed_count(), timers.earliest());
        assert_eq!((count, earliest), (2, Some(at(3))));
        // Firing and dropping move the earliest entry later and leave the count alone.
        assert!(timers.pop_due(at(4)).is_some());
        timers.pop();
        assert_eq!(timers.armed_count(), count);
        assert_eq!(timers.earliest(), None);
        timers.arm(at(1), RareTimer::DeviceRerun { device: 0 });
        assert_eq!(timers.armed_count(), count + 1);
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

    #[test]
    fn blk_add_timer_rounds_up_to_the_next_second_at_most_5s_ahead() {
        let jiffies = TimerModel::Jiffies;
        // Idle queue: a 3 s request sent at 10.984 s fires at 14 s (the kernel's later
        // timeouts came 4.05-4.19 s after the retry, kernel-observed.md).
        assert_eq!(
            queue_timer_for(jiffies, ms(10_984), ms(13_984), None),
            Some(at(14))
        );
        // A whole second still moves on (round_jiffies_up adds HZ when rem == 0).
        assert_eq!(queue_timer_for(jiffies, at(1), at(4), None), Some(at(5)));
        // A 30 s request: the timer is armed at most 5 s ahead.
        assert_eq!(queue_timer_for(jiffies, at(1), at(31), None), Some(at(6)));
        // A pending earlier timer stays; a later one moves only by >= 0.5 s.
        assert_eq!(queue_timer_for(jiffies, at(1), at(4), Some(at(3))), None);
        assert_eq!(
            queue_timer_for(jiffies, at(1), at(4), Some(ms(5_300))),
            None
        );
        assert_eq!(
            queue_timer_for(jiffies, at(1), at(4), Some(at(6))),
            Some(at(5))
        );
        // Exact: the deadline itself when earlier than the pending timer.
        let exact = TimerModel::Exact;
        assert_eq!(queue_timer_for(exact, at(1), at(4), None), Some(at(4)));
        assert_eq!(queue_timer_for(exact, at(1), at(4), Some(at(3))), None);
        assert_eq!(
            queue_timer_for(exact, at(1), at(4), Some(ms(4_001))),
            Some(at(4))
        );
    }

    #[test]
    fn jiffies_tick_every_4ms() {
        assert_eq!(next_tick(ms(0)), ms(4));
        assert_eq!(next_tick(ms(4)), ms(8));
        assert_eq!(next_tick(ms(5)), ms(8));
        assert_eq!(jiffy(ms(7)), 1);
        assert_eq!(queue_rerun_at(TimerModel::Exact, ms(5)), ms(8));
        assert_eq!(queue_rerun_at(TimerModel::Jiffies, ms(5)), ms(8));
        assert_eq!(queue_rerun_at(TimerModel::Jiffies, ms(9)), ms(12));
        assert_eq!(requeue_run_at(TimerModel::Exact, ms(9)), None);
    }
}

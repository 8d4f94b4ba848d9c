//! Host ▸ target ▸ device: identifiers, addresses, disk names, and the per-level counters
//! that gate dispatch (queue depth, busy, blocked; spec §1.5).

use std::collections::VecDeque;
use std::fmt;

use serde::Serialize;

use crate::config::{DeviceConfig, HostConfig};
use crate::state::{DeviceState, HostState};
use crate::time::Instant;

pub use crate::ids::{DeviceId, HostId, TargetId};

/// `H:C:T:L` as the kernel prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct Hctl {
    pub host: u32,
    pub channel: u32,
    pub target: u32,
    pub lun: u64,
}

impl fmt::Display for Hctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.host, self.channel, self.target, self.lun
        )
    }
}

/// A disk name (`sda`, `sdz`, `sdaa`, ...) stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DiskName {
    bytes: [u8; 12],
    len: u8,
}

impl DiskName {
    /// The sd name for the `index`-th disk: sda..sdz, sdaa..sdzz, sdaaa...
    pub fn sd(index: u32) -> DiskName {
        let mut letters = [0u8; 8];
        let mut count = 0;
        let mut value = u64::from(index) + 1;
        while value > 0 && count < letters.len() {
            value -= 1;
            letters[count] = b'a' + (value % 26) as u8;
            count += 1;
            value /= 26;
        }
        let mut bytes = [0u8; 12];
        bytes[0] = b's';
        bytes[1] = b'd';
        for (offset, letter) in letters[..count].iter().rev().enumerate() {
            bytes[2 + offset] = *letter;
        }
        DiskName {
            bytes,
            len: 2 + count as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Display for DiskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DiskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How log lines name a device: driver, address and disk.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceLabel {
    pub driver: &'static str,
    pub hctl: Hctl,
    pub disk: DiskName,
}

pub(crate) struct Host {
    pub config: HostConfig,
    pub state: HostState,
    /// Commands dispatched and not yet finished or requeued (`scsi_host_busy`).
    pub busy: u32,
    /// Commands handed to the error handler (`host_failed`).
    pub failed: u32,
    pub blocked: u32,
    pub devices: Vec<DeviceId>,
    /// Devices refused by `can_queue`, run first when a slot frees.
    pub starved: VecDeque<DeviceId>,
    /// Start of the eh_deadline clock (`last_reset`).
    pub last_reset: Option<Instant>,
    pub rerun_armed: bool,
    /// The jiffy of the last host_blocked countdown (jiffies timer model).
    pub blocked_jiffy: u64,
    /// The error handler's wake-up check sees the failed commands from this instant on
    /// (the RCU grace period of `scsi_eh_scmd_add`; jiffies timer model).
    pub failed_visible_at: Instant,
    /// The host-scope handler holds only some targets (`held_by_host_eh`), not the host.
    pub eh_partial: bool,
}

pub(crate) struct Target {
    pub host: HostId,
    pub channel: u32,
    pub id: u32,
    pub busy: u32,
    pub blocked: u32,
    /// The jiffy of the last target_blocked countdown (jiffies timer model).
    pub blocked_jiffy: u64,
    /// The host-scope handler, entered by fallback, holds this target's LUNs.
    pub held_by_host_eh: bool,
    pub expecting_lun_change: bool,
    pub devices: Vec<DeviceId>,
}

/// A device's record. `repr(C)`, the fields a dispatch reads first (state, counters, the
/// head of its queue): at 4096 LUNs a device is cold whenever its turn comes, and these
/// sit on the first lines of a line-aligned record instead of spread over it.
#[repr(C, align(64))]
pub(crate) struct Device {
    /// Slots waiting for dispatch; the head goes first (requeues are pushed there).
    pub queue: SlotQueue,
    pub state: DeviceState,
    pub host: HostId,
    pub target: TargetId,
    pub queue_depth: u32,
    pub busy: u32,
    pub blocked: u32,
    /// The jiffy of the last device_blocked countdown (jiffies timer model).
    pub blocked_jiffy: u64,
    /// Requests whose block timer runs, oldest first (intrusive list through the commands).
    pub timed: TimedList,
    /// The request queue's timer (`q->timeout`), when pending.
    pub queue_timer: Option<Instant>,
    /// The pending queue timer has an entry in the timer heap (`poll_timeout` drops the
    /// entry of a timer with nothing to time out; dispatch puts it back).
    pub queue_timer_armed: bool,
    /// Live requests (queued, in flight, in recovery); bounded by `max_outstanding`.
    pub outstanding: u32,
    pub expecting_cc_ua: bool,
    pub was_reset: bool,
    /// Removable medium changed (set by a UNIT ATTENTION).
    pub changed: bool,
    pub use_10_for_rw: bool,
    pub medium_access_timed_out: u32,
    /// sd's `ignore_medium_access_errors`: cleared when a command of the device enters the
    /// error handler, set when `eh_action` counts a medium-access timeout (once per run).
    pub ignore_medium_access_errors: bool,
    /// "rejecting I/O to offline device" was logged since the last state change.
    pub offline_logged: bool,
    pub rerun_armed: bool,
    pub starved: bool,
    /// In `MidLayer::pending_runs` (an O(1) membership test instead of a scan).
    pub run_scheduled: bool,
    pub config: DeviceConfig,
    pub hctl: Hctl,
    pub disk: DiskName,
    /// Error-handler steps a smaller scope already tried for this device's commands
    /// (`get_sense_done`, `stu_done`, `reset_done`), skipped by the larger scope.
    pub eh_done: EhDone,
}

/// Slots a device's queue holds in its own record; more go to a deque beside it.
const QUEUE_INLINE: usize = 16;

/// A FIFO of slots (with pushes at the head for requeues): the first [`QUEUE_INLINE`] in
/// a ring inside the device's record, the rest after them in a deque. A device kept 16
/// deep never touches the deque (at 4096 LUNs, a separately allocated queue was one more
/// cache miss on every dispatch and submission).
#[derive(Default)]
pub(crate) struct SlotQueue {
    ring: [u32; QUEUE_INLINE],
    /// Index in `ring` of the head.
    head: u8,
    /// Slots in `ring`; `spill` is empty unless the ring is full.
    len: u8,
    spill: VecDeque<u32>,
}

impl SlotQueue {
    const MASK: usize = QUEUE_INLINE - 1;

    fn ring_at(&self, offset: usize) -> usize {
        (self.head as usize + offset) & Self::MASK
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn front(&self) -> Option<&u32> {
        (self.len > 0).then(|| &self.ring[self.head as usize & Self::MASK])
    }

    pub fn push_back(&mut self, slot: u32) {
        if (self.len as usize) < QUEUE_INLINE {
            // The spill is empty: it fills only behind a full ring.
            let at = self.ring_at(self.len as usize);
            self.ring[at] = slot;
            self.len += 1;
        } else {
            self.spill.push_back(slot);
        }
    }

    pub fn push_front(&mut self, slot: u32) {
        if self.len as usize == QUEUE_INLINE {
            let last = self.ring[self.ring_at(QUEUE_INLINE - 1)];
            self.spill.push_front(last);
            self.len -= 1;
        }
        self.head = self.ring_at(Self::MASK) as u8;
        self.ring[self.head as usize & Self::MASK] = slot;
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let slot = self.ring[self.head as usize & Self::MASK];
        self.head = self.ring_at(1) as u8;
        self.len -= 1;
        if let Some(next) = self.spill.pop_front() {
            let at = self.ring_at(self.len as usize);
            self.ring[at] = next;
            self.len += 1;
        }
        Some(slot)
    }

    /// Every slot, head first.
    pub fn iter(&self) -> impl Iterator<Item = &u32> {
        (0..self.len as usize)
            .map(|offset| &self.ring[self.ring_at(offset)])
            .chain(self.spill.iter())
    }
}

const _: () = assert!(QUEUE_INLINE.is_power_of_two() && QUEUE_INLINE <= u8::MAX as usize);

/// Head and tail slots of a device's timed requests (`NO_SLOT` when empty).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TimedList {
    pub head: u32,
    pub tail: u32,
    pub len: u32,
}

impl Default for TimedList {
    fn default() -> TimedList {
        TimedList {
            head: crate::ids::NO_SLOT,
            tail: crate::ids::NO_SLOT,
            len: 0,
        }
    }
}

/// Steps already tried for a device by a smaller error-handler scope.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct EhDone {
    pub get_sense: bool,
    pub start_unit: bool,
    pub lun_reset: bool,
    pub target_reset: bool,
}

impl Host {
    pub fn new(config: HostConfig) -> Host {
        let mut config = config;
        if !config.capabilities.host_reset {
            config.eh_deadline = None;
        }
        Host {
            config,
            state: HostState::Running,
            busy: 0,
            failed: 0,
            blocked: 0,
            devices: Vec::new(),
            starved: VecDeque::new(),
            last_reset: None,
            rerun_armed: false,
            blocked_jiffy: 0,
            failed_visible_at: Instant::ZERO,
            eh_partial: false,
        }
    }
}

impl Device {
    pub fn new(
        config: DeviceConfig,
        host: HostId,
        host_number: u32,
        target: TargetId,
        disk: DiskName,
    ) -> Device {
        Device {
            config,
            host,
            target,
            hctl: Hctl {
                host: host_number,
                channel: config.channel,
                target: config.target,
                lun: config.lun,
            },
            disk,
            state: DeviceState::Running,
            queue: SlotQueue::default(),
            queue_depth: config.queue_depth.max(1),
            busy: 0,
            blocked: 0,
            blocked_jiffy: 0,
            timed: TimedList::default(),
            queue_timer: None,
            queue_timer_armed: false,
            outstanding: 0,
            expecting_cc_ua: false,
            was_reset: false,
            changed: false,
            use_10_for_rw: config.use_10_for_rw,
            medium_access_timed_out: 0,
            ignore_medium_access_errors: false,
            offline_logged: false,
            rerun_armed: false,
            starved: false,
            run_scheduled: false,
            eh_done: EhDone::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn slot_queue_is_a_deque_across_the_ring_and_the_spill() {
        let mut queue = SlotQueue::default();
        let mut model = VecDeque::new();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for step in 0..20_000u32 {
            let state: u64 = rng.gen();
            // Lengths wander around the ring's size (16) and well past it.
            let bias = if (step / 2000) % 2 == 0 { 2 } else { 5 };
            match (state >> 33) % 8 {
                0 => {
                    queue.push_front(step);
                    model.push_front(step);
                }
                r if r < bias => {
                    queue.push_back(step);
                    model.push_back(step);
                }
                _ => assert_eq!(queue.pop_front(), model.pop_front()),
            }
            assert_eq!(queue.front(), model.front());
            assert_eq!(queue.is_empty(), model.is_empty());
            assert!(queue.spill.is_empty() || queue.len as usize == QUEUE_INLINE);
            if step % 97 == 0 {
                assert!(queue.iter().eq(model.iter()));
            }
        }
        assert!(queue.iter().eq(model.iter()));
    }

    #[test]
    fn disk_names_follow_sd() {
        assert_eq!(DiskName::sd(0).as_str(), "sda");
        assert_eq!(DiskName::sd(25).as_str(), "sdz");
        assert_eq!(DiskName::sd(26).as_str(), "sdaa");
        assert_eq!(DiskName::sd(27).as_str(), "sdab");
        assert_eq!(DiskName::sd(26 + 26 * 26).as_str(), "sdaaa");
    }

    #[test]
    fn hctl_prints_like_the_kernel() {
        let hctl = Hctl {
            host: 2,
            channel: 0,
            target: 1,
            lun: 3,
        };
        assert_eq!(hctl.to_string(), "2:0:1:3");
    }
}

//! The block layer's request timer, one per device (spec §5.1, `blk_add_timer` and
//! `blk_mq_timeout_work`). A dispatched request joins its device's timed list with its
//! deadline; the device's queue timer is armed as the host's [`TimerModel`] says (exactly,
//! or rounded up to a whole second on an idle queue). When the queue timer fires, every
//! request of the list past its deadline times out, in list order, and the timer is
//! re-armed at the earliest remaining deadline, exactly. It owns the timed list and the
//! queue timer; what a timeout does is `timeout.rs`'s.

use super::MidLayer;
use crate::command::NO_SLOT;
use crate::config::TimerModel;
use crate::time::Instant;
use crate::timers::{queue_timer_for, RareTimer};
use crate::topology::DeviceId;

impl MidLayer {
    pub(crate) fn timer_model(&self, device: DeviceId) -> TimerModel {
        let host = self.devices[device.0 as usize].host;
        self.hosts[host.0 as usize].config.timer_model
    }

    /// `blk_add_timer`: the request's deadline is `now + timeout`; it joins the timed list
    /// (at the tail: deadlines armed later are later for one timeout value).
    pub(crate) fn start_request_timer(&mut self, now: Instant, slot: u32) {
        self.stop_request_timer(slot);
        let cmd = self.slab.command_mut(slot);
        cmd.deadline = now + cmd.timeout();
        let (device, deadline) = (cmd.device, cmd.deadline);
        let list = self.devices[device.0 as usize].timed;
        let cmd = self.slab.command_mut(slot);
        cmd.timer_prev = list.tail;
        cmd.timer_next = NO_SLOT;
        if list.tail != NO_SLOT {
            self.slab.command_mut(list.tail).timer_next = slot;
        }
        let dev = &mut self.devices[device.0 as usize];
        if dev.timed.head == NO_SLOT {
            dev.timed.head = slot;
        }
        dev.timed.tail = slot;
        dev.timed.len += 1;
        let dev = &self.devices[device.0 as usize];
        if let Some(pending) = dev.queue_timer {
            // The common case: an armed timer that fires first and will see this request,
            // and that no timer model would move (see `queue_timer_for`).
            if dev.queue_timer_armed && crate::timers::pending_covers(now, deadline, pending) {
                return;
            }
        }
        let model = self.timer_model(device);
        let pending = self.pending_queue_timer(now, device, list.len == 0);
        if let Some(at) = queue_timer_for(model, now, deadline, pending) {
            self.set_queue_timer(device, at);
        }
    }

    /// The device's pending queue timer as the kernel would see it now. A timer that came
    /// due while the list was empty has fired (doing nothing) even if `handle_timeout` has
    /// not run it yet; a pending one whose heap entry `poll_timeout` dropped is put back.
    fn pending_queue_timer(
        &mut self,
        now: Instant,
        device: DeviceId,
        was_empty: bool,
    ) -> Option<Instant> {
        let dev = &mut self.devices[device.0 as usize];
        let at = dev.queue_timer?;
        if was_empty && at <= now {
            dev.queue_timer = None;
            return None;
        }
        if !dev.queue_timer_armed {
            dev.queue_timer_armed = true;
            self.rare_timers.arm(
                at,
                RareTimer::QueueTimer {
                    device: device.0,
                    at,
                },
            );
        }
        Some(at)
    }

    /// Whether the heap entry `QueueTimer { device, at }` still matters for `poll_timeout`:
    /// it is the device's pending timer and there is a request it could time out. Entries
    /// that do not are dropped from the heap (`queue_timer_armed` says so).
    pub(crate) fn queue_timer_matters(&mut self, device: u32, at: Instant) -> bool {
        let dev = &mut self.devices[device as usize];
        if dev.queue_timer != Some(at) {
            return false;
        }
        if dev.timed.len == 0 {
            dev.queue_timer_armed = false;
            return false;
        }
        true
    }

    /// The request left the block timer (completed, timed out, requeued). A no-op when it
    /// is not in the list. The queue timer stays: a spurious fire re-arms it.
    #[inline]
    pub(crate) fn stop_request_timer(&mut self, slot: u32) {
        let cmd = self.slab.command(slot);
        let (device, prev) = (cmd.device, cmd.timer_prev);
        if prev == NO_SLOT && self.devices[device.0 as usize].timed.head != slot {
            return;
        }
        self.unlink_timed(slot);
    }

    /// Takes a linked request out of its device's timed list.
    #[inline(never)]
    fn unlink_timed(&mut self, slot: u32) {
        let cmd = self.slab.command(slot);
        let (device, prev, next) = (cmd.device, cmd.timer_prev, cmd.timer_next);
        let list = &mut self.devices[device.0 as usize].timed;
        assert!(
            list.len > 0,
            "timed list of {device:?} empty but slot {slot} linked"
        );
        list.len -= 1;
        if prev == NO_SLOT {
            list.head = next;
        }
        if next == NO_SLOT {
            list.tail = prev;
        }
        if prev != NO_SLOT {
            self.slab.command_mut(prev).timer_next = next;
        }
        if next != NO_SLOT {
            self.slab.command_mut(next).timer_prev = prev;
        }
        let cmd = self.slab.command_mut(slot);
        cmd.timer_prev = NO_SLOT;
        cmd.timer_next = NO_SLOT;
    }

    /// `tag` is current and its request is in its device's timed list.
    fn is_timed(&self, tag: crate::action::Tag) -> bool {
        self.slab.by_tag(tag).is_some_and(|cmd| {
            cmd.timer_prev != NO_SLOT || self.devices[cmd.device.0 as usize].timed.head == tag.slot
        })
    }

    fn set_queue_timer(&mut self, device: DeviceId, at: Instant) {
        let dev = &mut self.devices[device.0 as usize];
        dev.queue_timer = Some(at);
        dev.queue_timer_armed = true;
        self.rare_timers.arm(
            at,
            RareTimer::QueueTimer {
                device: device.0,
                at,
            },
        );
    }

    /// `blk_mq_timeout_work`: time out what is due, re-arm at the next deadline.
    pub(crate) fn queue_timer_fired(&mut self, now: Instant, device: DeviceId, at: Instant) {
        let dev = &mut self.devices[device.0 as usize];
        if dev.queue_timer != Some(at) {
            return;
        }
        dev.queue_timer = None;
        dev.queue_timer_armed = false;
        let mut expired = std::mem::take(&mut self.expired_scratch);
        expired.clear();
        let mut next: Option<Instant> = None;
        let mut slot = dev.timed.head;
        let mut walked = 0u32;
        while slot != NO_SLOT {
            walked += 1;
            assert!(
                walked <= dev.timed.len,
                "timed list of {device:?} has a cycle"
            );
            let cmd = self.slab.command(slot);
            if cmd.deadline <= now {
                expired.push(self.slab.tag(slot));
            } else {
                next = Some(next.map_or(cmd.deadline, |n| n.min(cmd.deadline)));
            }
            slot = cmd.timer_next;
        }
        if let Some(next) = next {
            self.set_queue_timer(device, next);
        }
        for tag in expired.iter().copied() {
            // An earlier timeout of this scan may have ended the command (e.g. the error
            // handler finished it): only a command still in the list times out.
            if !self.is_timed(tag) {
                continue;
            }
            self.stop_request_timer(tag.slot);
            self.on_command_timeout(now, tag.slot);
            self.run_pending(now);
        }
        self.expired_scratch = expired;
    }
}

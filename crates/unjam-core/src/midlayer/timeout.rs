//! The timeout path (spec §5, seed 004): the transport's timed-out hook, poll before abort,
//! the exactly-once claim, the async abort 10 ms later, its outcome (retry, finish or the
//! error handler), and the dispatch of every other timer.

use std::time::Duration;

use unjam_scsi::HostByte;

use super::{MidLayer, PendingTmf, TmfPurpose};
use crate::action::{Action, Tag, TmfOp, TmfResult};
use crate::config::TimedOutHook;
use crate::disposition::{noretry_cmd, retry_allowed, RetryCounter, RETRIES_NO_LIMIT};
use crate::lifecycle::State;
use crate::time::Instant;
use crate::timers::RareTimer;
use crate::topology::{DeviceId, HostId};
use crate::trace::{RequeueWhy, TraceEvent};

/// `HZ/100`: the async abort goes out 10 ms after the timeout.
const ABORT_DELAY: Duration = Duration::from_millis(10);

impl MidLayer {
    /// Runs every timer due at `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance_clock(now);
        while let Some(timer) = self.rare_timers.pop_due(now) {
            self.on_rare_timer(now, timer);
            self.run_pending(now);
        }
    }

    fn on_rare_timer(&mut self, now: Instant, timer: RareTimer) {
        match timer {
            RareTimer::AbortDelay { slot, generation } => self.send_abort(now, slot, generation),
            RareTimer::Tmf { op } => self.tmf_timed_out(now, TmfOp(op)),
            RareTimer::Poll { slot, generation } => {
                self.handle_poll_done(now, Tag { slot, generation });
            }
            RareTimer::EhCommand { slot, generation } => {
                self.eh_command_timed_out(now, Tag { slot, generation })
            }
            RareTimer::DeviceRerun { device } => {
                self.devices[device as usize].rerun_armed = false;
                self.schedule_run(DeviceId(device));
            }
            RareTimer::HostRerun { host } => self.rerun_host(HostId(host)),
            RareTimer::DelayedRequeue { slot, generation } => {
                self.delayed_requeue(slot, generation)
            }
            RareTimer::EhSettle { host, epoch } => self.eh_settled(now, HostId(host), epoch),
            RareTimer::QueueTimer { device, at } => {
                self.queue_timer_fired(now, DeviceId(device), at)
            }
            RareTimer::Console => {
                while let Some(completion) = self.console.release(now) {
                    self.actions.push_back(Action::Complete(completion));
                }
            }
            RareTimer::EhVisible { host } => {
                if !self.pending_wakes.contains(&HostId(host)) {
                    self.pending_wakes.push(HostId(host));
                }
            }
        }
    }

    fn rerun_host(&mut self, host: HostId) {
        let entry = &mut self.hosts[host.0 as usize];
        entry.rerun_armed = false;
        for device in entry.devices.clone() {
            self.schedule_run(device);
        }
    }

    /// The requeue work (or the delayed re-preparation) puts the command back at the head
    /// of its queue. Only this timer moves a command out of Delayed.
    fn delayed_requeue(&mut self, slot: u32, generation: u32) {
        let tag = Tag { slot, generation };
        let Some(cmd) = self.slab.by_tag(tag) else {
            panic!("delayed requeue of {tag:?}, which is gone");
        };
        let (device, aborted) = (cmd.device, cmd.state.aborted());
        self.set_state(slot, State::Queued { aborted });
        self.devices[device.0 as usize].queue.push_front(slot);
        self.schedule_run(device);
    }

    /// `scsi_timeout`: the hook, then poll or claim.
    pub(crate) fn on_command_timeout(&mut self, now: Instant, slot: u32) {
        let cmd = self.slab.command(slot);
        assert!(
            matches!(cmd.state, State::InFlight { .. }),
            "timeout of a command not in flight: {:?}",
            cmd.state
        );
        let (device, tag) = (cmd.device, self.slab.tag(slot));
        let age = cmd.age(now);
        let capped = cmd.lifetime_exceeded(now).is_some();
        let host = self.host_of(device);
        self.stats.timeouts += 1;
        self.start_deadline_clock(now, host);
        let config = self.hosts[host.0 as usize].config;
        let mut hook = config.timed_out_hook;
        // unjam bounds the kernel's unlimited re-arming by the runtime cap.
        let limit_reached = hook != TimedOutHook::NotHandled && capped;
        if limit_reached {
            hook = TimedOutHook::NotHandled;
        }
        self.trace(now, || TraceEvent::TimedOut {
            device,
            tag,
            hook,
            age,
        });
        if hook != TimedOutHook::NotHandled {
            return self.rearm(now, slot);
        }
        if limit_reached {
            self.trace(now, || TraceEvent::TimerReset {
                device,
                tag,
                resets: 0,
                limit_reached: true,
            });
        }
        if config.capabilities.poll {
            return self.start_poll(now, slot, config.poll_timeout);
        }
        self.claim_timed_out(now, slot);
    }

    /// `BLK_EH_RESET_TIMER`: `blk_add_timer` again.
    fn rearm(&mut self, now: Instant, slot: u32) {
        let tag = self.slab.tag(slot);
        let cmd = self.slab.command_mut(slot);
        assert!(
            matches!(cmd.state, State::InFlight { .. }),
            "re-arming {tag:?} not in flight"
        );
        cmd.timer_resets = cmd.timer_resets.saturating_add(1);
        let (device, resets) = (cmd.device, u32::from(cmd.timer_resets));
        self.stats.timer_resets += 1;
        self.start_request_timer(now, slot);
        self.trace(now, || TraceEvent::TimerReset {
            device,
            tag,
            resets,
            limit_reached: false,
        });
    }

    fn start_poll(&mut self, now: Instant, slot: u32, poll_timeout: Duration) {
        let tag = self.slab.tag(slot);
        let cmd = self.slab.command(slot);
        let (device, aborted) = (cmd.device, cmd.state.aborted());
        self.set_state(slot, State::Polling { aborted });
        self.stats.polls += 1;
        self.actions.push_back(Action::Poll { tag, device });
        self.rare_timers.arm(
            now + poll_timeout,
            RareTimer::Poll {
                slot,
                generation: tag.generation,
            },
        );
        self.trace(now, || TraceEvent::PollStarted { device, tag });
    }

    /// The transport reaped what it could for `tag`. A completion it found has already
    /// arrived through `handle_transport_done`; if the command is still missing, the
    /// timeout claims it and the abort path runs.
    pub fn handle_poll_done(&mut self, now: Instant, tag: Tag) {
        let now = self.advance_clock(now);
        // The answer may come after the command completed (the race poll is for).
        let Some(cmd) = self
            .slab
            .by_tag(tag)
            .filter(|c| matches!(c.state, State::Polling { .. }))
        else {
            return;
        };
        let device = cmd.device;
        self.trace(now, || TraceEvent::PollFoundNothing { device, tag });
        self.claim_timed_out(now, tag.slot);
        self.run_pending(now);
    }

    /// The timeout wins the race: the command leaves InFlight, a late completion will be
    /// dropped. Then `scsi_abort_command`, or the error handler.
    fn claim_timed_out(&mut self, now: Instant, slot: u32) {
        let tag = self.slab.tag(slot);
        let cmd = self.slab.command(slot);
        let (device, abort_scheduled) = (cmd.device, cmd.state.aborted());
        let host = self.host_of(device);
        let can_abort = self.hosts[host.0 as usize].config.capabilities.abort;
        let why = if !can_abort {
            Some("no abort handler")
        } else if abort_scheduled {
            Some("previous abort failed")
        } else if self.past_deadline(now, host) {
            Some("past eh_deadline")
        } else {
            None
        };
        if let Some(why) = why {
            self.set_result_host(slot, HostByte::DID_TIME_OUT);
            self.trace(now, || TraceEvent::Escalated { device, tag, why });
            return self.eh_add(now, slot, true);
        }
        self.start_deadline_clock(now, host);
        self.set_state(slot, State::AbortScheduled { owned: true });
        self.rare_timers.arm(
            now + ABORT_DELAY,
            RareTimer::AbortDelay {
                slot,
                generation: tag.generation,
            },
        );
        self.trace(now, || TraceEvent::AbortScheduled { device, tag });
    }

    /// `scmd_eh_abort_handler`, first half: send ABORT TASK.
    fn send_abort(&mut self, now: Instant, slot: u32, generation: u32) {
        let tag = Tag { slot, generation };
        let Some(cmd) = self.slab.by_tag(tag) else {
            panic!("abort delay of {tag:?}, which is gone");
        };
        let State::AbortScheduled { owned } = cmd.state else {
            panic!("abort delay of {tag:?} in {:?}", cmd.state);
        };
        let (device, cdb) = (cmd.device, cmd.request.cdb);
        let host = self.host_of(device);
        if self.past_deadline(now, host) {
            self.trace(now, || TraceEvent::Escalated {
                device,
                tag,
                why: "past eh_deadline",
            });
            return self.eh_add(now, slot, true);
        }
        self.set_state(slot, State::Aborting { owned });
        let op = self.new_tmf(now, host, TmfPurpose::Abort { slot, generation });
        self.emit_abort(now, op, tag, device, cdb, false);
    }

    pub(crate) fn new_tmf(&mut self, now: Instant, host: HostId, purpose: TmfPurpose) -> TmfOp {
        self.next_tmf = self.next_tmf.wrapping_add(1);
        let op = TmfOp(self.next_tmf);
        self.tmfs.push(PendingTmf { op, purpose });
        let timeout = self.hosts[host.0 as usize].config.tmf_timeout;
        self.rare_timers
            .arm(now + timeout, RareTimer::Tmf { op: op.0 });
        op
    }

    /// The transport answered an abort or reset. Unknown or already-answered ops are ignored.
    pub fn handle_tmf_done(&mut self, now: Instant, op: TmfOp, result: TmfResult) {
        let now = self.advance_clock(now);
        let Some(index) = self.tmfs.iter().position(|t| t.op == op) else {
            return;
        };
        let pending = self.tmfs.swap_remove(index);
        match pending.purpose {
            TmfPurpose::Abort { slot, generation } => {
                self.abort_done(now, Tag { slot, generation }, result)
            }
            TmfPurpose::EhReset { host, epoch } => self.eh_reset_done(now, host, epoch, op, result),
            TmfPurpose::EhCommandAbort {
                slot,
                generation,
                stage,
            } => self.eh_escalation_done(now, Tag { slot, generation }, stage, result),
        }
        self.run_pending(now);
    }

    fn tmf_timed_out(&mut self, now: Instant, op: TmfOp) {
        if self.tmfs.iter().any(|t| t.op == op) {
            self.handle_tmf_done(now, op, TmfResult::Failed);
        }
    }

    /// `scmd_eh_abort_handler`, second half.
    fn abort_done(&mut self, now: Instant, tag: Tag, result: TmfResult) {
        let Some(cmd) = self.slab.by_tag(tag) else {
            panic!("abort answer for {tag:?}, which is gone");
        };
        assert!(
            matches!(cmd.state, State::Aborting { .. }),
            "abort answer for {tag:?} in {:?}",
            cmd.state
        );
        let device = cmd.device;
        let host = self.host_of(device);
        self.trace(now, || TraceEvent::AbortDone {
            device,
            tag,
            result,
            escalation: false,
        });
        if result != TmfResult::Success {
            return self.eh_add(now, tag.slot, true);
        }
        // The abort completed: the transport dropped every reference to the command.
        self.set_state(tag.slot, State::Completing { aborted: true });
        self.set_result_host(tag.slot, HostByte::DID_TIME_OUT);
        if self.past_deadline(now, host) {
            return self.eh_add(now, tag.slot, true);
        }
        if self.eh_queues[host.0 as usize].is_empty() && !self.eh_running[host.0 as usize] {
            self.hosts[host.0 as usize].last_reset = None;
        }
        let cmd = self.slab.command_mut(tag.slot);
        let mut counter = RetryCounter {
            retries: cmd.retries,
            allowed: cmd.allowed,
        };
        let retry = !noretry_cmd(cmd.result, &cmd.request)
            && !cmd.no_limit_retry_expired(now)
            && retry_allowed(&mut counter);
        cmd.retries = counter.retries;
        if retry {
            self.trace(now, || TraceEvent::AbortRetry { device, tag });
            self.requeue(
                now,
                tag.slot,
                RequeueWhy::AbortRetry,
                counter.allowed != RETRIES_NO_LIMIT,
            );
        } else {
            self.trace(now, || TraceEvent::AbortFinish { device, tag });
            self.finish_command(now, tag.slot);
        }
    }

    pub(crate) fn set_result_host(&mut self, slot: u32, host: HostByte) {
        let cmd = self.slab.command_mut(slot);
        cmd.result = cmd.result.with_host(host);
    }

    /// Starts the eh_deadline clock if it is enabled and not running.
    pub(crate) fn start_deadline_clock(&mut self, now: Instant, host: HostId) {
        let entry = &mut self.hosts[host.0 as usize];
        if entry.config.eh_deadline.is_some() && entry.last_reset.is_none() {
            entry.last_reset = Some(now);
        }
    }

    /// §6.7: the deadline is enabled, its clock runs, and it has passed.
    pub(crate) fn past_deadline(&self, now: Instant, host: HostId) -> bool {
        let entry = &self.hosts[host.0 as usize];
        match (entry.config.eh_deadline, entry.last_reset) {
            (Some(deadline), Some(start)) => now >= start + deadline,
            _ => false,
        }
    }
}

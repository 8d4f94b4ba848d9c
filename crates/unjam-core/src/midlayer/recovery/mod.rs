//! The error handler's work on the mid-layer (spec §6): adding a failed command to its
//! host's or scope's queue, waking the handler, driving a run of the `crate::eh` component
//! (which walks the ladder and returns decisions; `apply.rs` applies them in one place),
//! routing answers to it (`results.rs`, `escalate.rs`), flushing the done queue and
//! restarting the host. `crate::eh` imports nothing of the mid-layer.

mod apply;
mod escalate;
mod host_hold;
mod results;
mod scope;
mod send;

use unjam_scsi::disposition::QueueReason;
use unjam_scsi::HostByte;

use crate::disposition::{noretry_cmd, retry_allowed, RetryCounter, RETRIES_NO_LIMIT};
use crate::eh::{EhRun, EhScope, HOST_LADDER};
use crate::ids::{DeviceId, HostId};
use crate::lifecycle::State;
use crate::midlayer::MidLayer;
use crate::state::HostState;
use crate::time::Instant;
use crate::timers::RareTimer;
use crate::trace::{RequeueWhy, TraceEvent};

impl MidLayer {
    /// `scsi_eh_scmd_add`: hand a dispatched command to its host's error handler;
    /// `timed_out` says whether this attempt timed out (then no REQUEST SENSE for it).
    pub(crate) fn eh_add(&mut self, now: Instant, slot: u32, timed_out: bool) {
        let cmd = self.slab.command(slot);
        assert!(
            cmd.busy(),
            "only dispatched commands enter the error handler"
        );
        let (state, device) = (cmd.state, cmd.device);
        self.set_state(
            slot,
            State::InEh {
                aborted: state.aborted(),
                owned: state.owned(),
                timed_out,
            },
        );
        // sd's `eh_reset`: the run may count one medium-access timeout for the device.
        self.devices[device.0 as usize].ignore_medium_access_errors = false;
        let host = self.host_of(device);
        let target = self.devices[device.0 as usize].target;
        if self.targets[target.0 as usize].held_by_host_eh {
            // The host handler already holds the device's target: it takes this one too.
            return self.host_add(now, host, slot, true);
        }
        if let Some(scope) = self.scope_for_failed(device) {
            return self.scoped_add(now, scope, slot);
        }
        self.host_add(now, host, slot, false);
    }

    /// Adds a failed command to the host scope's queue: the host enters RECOVERY, or,
    /// for a command a smaller scope hands over (`fallback`), only its target is held
    /// (`host_hold.rs`).
    pub(crate) fn host_add(&mut self, now: Instant, host: HostId, slot: u32, fallback: bool) {
        let tag = self.slab.tag(slot);
        let device = self.slab.command(slot).device;
        self.host_hold(now, host, device, fallback);
        self.start_deadline_clock(now, host);
        self.eh_queues[host.0 as usize].push(slot);
        self.delay_eh_wake(now, host);
        let entry = &mut self.hosts[host.0 as usize];
        entry.failed += 1;
        let (failed, busy) = (entry.failed, entry.busy);
        self.trace(now, || TraceEvent::EhAdded {
            device,
            tag,
            scope: EhScope::Host(host),
            failed,
            busy,
        });
        if !self.pending_wakes.contains(&host) {
            self.pending_wakes.push(host);
        }
    }

    /// A command of `host` entered the error handler at `now`: the wake-up check sees it
    /// only after the RCU grace period of the timer model (`scsi_eh_scmd_add`).
    pub(crate) fn delay_eh_wake(&mut self, now: Instant, host: HostId) {
        let model = self.hosts[host.0 as usize].config.timer_model;
        let visible_at = crate::timers::eh_failed_visible_at(model, now);
        let entry = &mut self.hosts[host.0 as usize];
        if visible_at > entry.failed_visible_at {
            entry.failed_visible_at = visible_at;
            self.rare_timers
                .arm(visible_at, RareTimer::EhVisible { host: host.0 });
        }
    }

    /// Every command added to the host's handlers is visible to the wake-up check.
    pub(crate) fn eh_failed_visible(&self, now: Instant, host: HostId) -> bool {
        now >= self.hosts[host.0 as usize].failed_visible_at
    }

    /// `scsi_eh_wakeup`: start a run when every busy command of the host has failed and
    /// no smaller scope of the host is still recovering.
    pub(crate) fn maybe_wake_eh(&mut self, now: Instant, host: HostId) {
        self.maybe_wake_scopes(now, host);
        self.resume_quiesced(now, host);
        let index = host.0 as usize;
        let entry = &self.hosts[index];
        if self.eh_running[index]
            || entry.failed == 0
            || self.host_eh_busy(host) != entry.failed
            || self.host_has_scopes(host)
            || !self.eh_failed_visible(now, host)
        {
            return;
        }
        let work = std::mem::take(&mut self.eh_queues[index]);
        let mut devices: Vec<DeviceId> =
            work.iter().map(|s| self.slab.command(*s).device).collect();
        devices.sort();
        devices.dedup();
        let (failed, busy) = (entry.failed, entry.busy);
        self.trace(now, || TraceEvent::EhWake {
            host,
            failed,
            busy,
            devices: devices.len() as u32,
        });
        self.eh_epoch = self.eh_epoch.wrapping_add(1);
        self.eh_running[index] = true;
        self.stats.eh_runs += 1;
        let run = EhRun::new(EhScope::Host(host), host, self.eh_epoch, work, HOST_LADDER);
        self.eh_drive(now, run);
    }

    /// Takes the parked run whose wait `matches`.
    pub(crate) fn eh_resume(&mut self, matches: impl Fn(&EhRun) -> bool) -> Option<EhRun> {
        let index = self.eh_runs.iter().position(matches)?;
        Some(self.eh_runs.swap_remove(index))
    }

    /// The end of a run: a scoped run hands over or ends (`scope.rs`); the host run ends
    /// `scsi_unjam_host`: flush the done queue, then `scsi_restart_operations`.
    pub(crate) fn eh_finish(&mut self, now: Instant, mut run: EhRun) {
        if !matches!(run.scope, EhScope::Host(_)) {
            return self.scoped_finish(now, run);
        }
        let host = run.host();
        for device in self.hosts[host.0 as usize].devices.clone() {
            self.devices[device.0 as usize].eh_done = Default::default();
        }
        assert!(run.work.is_empty(), "the host ladder ends with offline");
        run.done.append(&mut run.work);
        self.hosts[host.0 as usize].last_reset = None;
        self.hosts[host.0 as usize].failed = 0;
        for slot in std::mem::take(&mut run.done) {
            self.eh_flush_one(now, slot);
        }
        self.eh_running[host.0 as usize] = false;
        let requeued = self.eh_queues[host.0 as usize].len() as u32;
        self.hosts[host.0 as usize].failed = requeued;
        if requeued == 0 && !self.set_host_state(now, host, HostState::Running) {
            self.set_host_state(now, host, HostState::Cancel);
        }
        self.release_host_holds(now, host);
        self.trace(now, || TraceEvent::HostRestart { host });
        for device in self.hosts[host.0 as usize].devices.clone() {
            self.schedule_run(device);
        }
        if requeued > 0 {
            self.pending_wakes.push(host);
        }
    }

    /// `scsi_eh_flush_done_q` for one command.
    pub(crate) fn eh_flush_one(&mut self, now: Instant, slot: u32) {
        let tag = self.slab.tag(slot);
        let cmd = self.slab.command_mut(slot);
        let State::InEh {
            aborted,
            owned: false,
            ..
        } = cmd.state
        else {
            panic!("flushing {tag:?} in {:?}", cmd.state);
        };
        let device = cmd.device;
        let online = self.devices[device.0 as usize].state.is_online();
        let mut counter = RetryCounter {
            retries: cmd.retries,
            allowed: cmd.allowed,
        };
        let retry = online
            && !noretry_cmd(cmd.result, &cmd.request)
            && !cmd.no_limit_retry_expired(now)
            && retry_allowed(&mut counter);
        cmd.retries = counter.retries;
        if retry {
            self.trace(now, || TraceEvent::FlushRetry { device, tag });
            self.requeue(
                now,
                slot,
                RequeueWhy::FlushRetry,
                counter.allowed != RETRIES_NO_LIMIT,
            );
            self.set_blocked(now, device, Some(QueueReason::EhRetry));
            return;
        }
        if cmd.result == unjam_scsi::ScsiResult::OK {
            cmd.result = cmd.result.with_host(HostByte::DID_TIME_OUT);
        }
        self.trace(now, || TraceEvent::FlushFinish { device, tag });
        self.set_state(slot, State::Completing { aborted });
        self.finish_command(now, slot);
    }
}

//! LUN and target scopes (spec §4, linux-midlayer.md §7): where a failed command goes,
//! when a scoped handler wakes (every busy command of the scope has failed and no smaller
//! scope inside it still recovers), and what happens to the commands it could not recover
//! (handed to the device's next scope with the tried steps marked, or the device is
//! offlined when fallback is off). It must not block any device outside the scope; the
//! ladder itself is shared with the host handler (`mod.rs`, `jobs.rs`, `results.rs`).

use crate::eh::{scope_level, EhRun, EhScope, EhStep, ScopedEh, LUN_LADDER, TARGET_LADDER};
use crate::ids::ResetKind;
use crate::ids::{DeviceId, HostId};
use crate::lifecycle::State;
use crate::midlayer::MidLayer;
use crate::state::DeviceState;
use crate::time::Instant;
use crate::trace::TraceEvent;

impl MidLayer {
    pub(crate) fn scope_contains(&self, scope: EhScope, device: DeviceId) -> bool {
        match scope {
            EhScope::Lun(lun) => lun == device,
            EhScope::Target(target) => self.devices[device.0 as usize].target == target,
            EhScope::Host(host) => self.host_of(device) == host,
        }
    }

    /// An active LUN- or target-scope handler holds `device` back from dispatch.
    pub(crate) fn held_by_scope(&self, device: DeviceId) -> bool {
        let target = self.devices[device.0 as usize].target;
        self.targets[target.0 as usize].held_by_host_eh
            || self
                .scoped_eh
                .iter()
                .any(|entry| self.scope_contains(entry.scope, device))
    }

    pub(crate) fn host_has_scopes(&self, host: HostId) -> bool {
        self.scoped_eh.iter().any(|entry| entry.host == host)
    }

    /// Where a failed command of `device` goes (`None`: the host scope). The smallest
    /// active handler already holding the device takes it, so that no handler waits for a
    /// command queued elsewhere; a host in recovery takes everything else.
    pub(crate) fn scope_for_failed(&self, device: DeviceId) -> Option<EhScope> {
        let active = self
            .scoped_eh
            .iter()
            .filter(|entry| self.scope_contains(entry.scope, device))
            .min_by_key(|entry| scope_level(entry.scope))
            .map(|entry| entry.scope);
        if active.is_some() {
            return active;
        }
        if self.hosts[self.host_of(device).0 as usize]
            .state
            .in_recovery()
        {
            return None;
        }
        self.next_scope(device, None)
    }

    /// The device's next configured scope after `after` (`None`: from the start); `None`
    /// means the host scope.
    fn next_scope(&self, device: DeviceId, after: Option<EhScope>) -> Option<EhScope> {
        let dev = &self.devices[device.0 as usize];
        let scopes = dev.config.eh_scopes;
        let above = after.map_or(0, |scope| scope_level(scope) + 1);
        if scopes.lun && above == 0 {
            return Some(EhScope::Lun(device));
        }
        if scopes.target && above <= 1 {
            return Some(EhScope::Target(dev.target));
        }
        None
    }

    /// The scoped analogue of `scsi_eh_scmd_add`: only the scope's devices stop.
    pub(crate) fn scoped_add(&mut self, now: Instant, scope: EhScope, slot: u32) {
        let tag = self.slab.tag(slot);
        let device = self.slab.command(slot).device;
        let host = self.host_of(device);
        self.start_deadline_clock(now, host);
        let index = match self.scoped_eh.iter().position(|e| e.scope == scope) {
            Some(index) => index,
            None => {
                self.scoped_eh.push(ScopedEh {
                    scope,
                    host,
                    queue: Vec::new(),
                    running: false,
                });
                self.scoped_eh.len() - 1
            }
        };
        self.scoped_eh[index].queue.push(slot);
        self.delay_eh_wake(now, host);
        let failed = self.scoped_eh[index].queue.len() as u32;
        let busy = self.scope_busy(scope);
        self.trace(now, || TraceEvent::EhAdded {
            device,
            tag,
            scope,
            failed,
            busy,
        });
        if !self.pending_wakes.contains(&host) {
            self.pending_wakes.push(host);
        }
    }

    /// Commands of the scope counted busy (scope_busy).
    fn scope_busy(&self, scope: EhScope) -> u32 {
        self.slab
            .iter()
            .filter(|(_, c)| c.busy() && self.scope_contains(scope, c.device))
            .count() as u32
    }

    /// scope_busy == scope_failed, and no smaller handler inside the scope is active.
    fn scope_ready(&self, index: usize) -> bool {
        let Some(entry) = self.scoped_eh.get(index) else {
            return false;
        };
        if entry.running || entry.queue.is_empty() {
            return false;
        }
        let level = scope_level(entry.scope);
        let nested = self.scoped_eh.iter().any(|other| {
            scope_level(other.scope) < level
                && matches!(other.scope, EhScope::Lun(d) if self.scope_contains(entry.scope, d))
        });
        let in_flight = self.slab.iter().any(|(_, c)| {
            c.busy()
                && !matches!(c.state, State::InEh { .. })
                && self.scope_contains(entry.scope, c.device)
        });
        !nested && !in_flight
    }

    /// Starts every scoped handler of `host` that is ready (several may run at once).
    pub(crate) fn maybe_wake_scopes(&mut self, now: Instant, host: HostId) {
        if !self.eh_failed_visible(now, host) {
            return;
        }
        let bound = self.scoped_eh.len() * 2 + 1;
        for _ in 0..bound {
            let ready = (0..self.scoped_eh.len())
                .find(|index| self.scoped_eh[*index].host == host && self.scope_ready(*index));
            let Some(index) = ready else {
                return;
            };
            self.start_scoped_run(now, index);
        }
    }

    fn start_scoped_run(&mut self, now: Instant, index: usize) {
        let entry = &mut self.scoped_eh[index];
        entry.running = true;
        let (scope, host) = (entry.scope, entry.host);
        let work = std::mem::take(&mut entry.queue);
        if let EhScope::Lun(device) = scope {
            self.devices[device.0 as usize].eh_done = Default::default();
        }
        let commands = work.len() as u32;
        self.trace(now, || TraceEvent::ScopeEhWake { scope, commands });
        self.eh_epoch = self.eh_epoch.wrapping_add(1);
        self.stats.eh_runs += 1;
        let steps = match scope {
            EhScope::Lun(_) => LUN_LADDER,
            _ => TARGET_LADDER,
        };
        let run = EhRun::new(scope, host, self.eh_epoch, work, steps);
        self.eh_drive(now, run);
    }

    /// The end of a scoped run: hand the unrecovered commands on (or offline their device
    /// when fallback is off), flush the recovered ones, and let the scope dispatch again.
    pub(crate) fn scoped_finish(&mut self, now: Instant, mut run: EhRun) {
        let (scope, host) = (run.scope, run.host());
        let tried: Vec<EhStep> = run.steps.iter().take(run.next_step).copied().collect();
        let past_deadline = self.past_deadline(now, host);
        let mut handed: Vec<(EhScope, u32)> = Vec::new();
        for slot in std::mem::take(&mut run.work) {
            let device = self.slab.command(slot).device;
            self.mark_tried(device, &tried);
            let next = self.next_scope(device, Some(scope));
            let fallback = self.devices[device.0 as usize].config.eh_scopes.fallback;
            let to = match next {
                Some(next) if !past_deadline => next,
                _ if fallback || past_deadline => EhScope::Host(host),
                _ => {
                    self.scope_offline(now, device);
                    self.revoke_if_owned(now, slot);
                    run.done.push(slot);
                    continue;
                }
            };
            match handed.iter_mut().find(|(s, _)| *s == to) {
                Some((_, count)) => *count += 1,
                None => handed.push((to, 1)),
            }
            match to {
                EhScope::Host(_) => self.host_add(now, host, slot, true),
                _ => self.scoped_add(now, to, slot),
            }
        }
        for (to, commands) in handed {
            self.trace(now, || TraceEvent::ScopeEhFallback {
                scope,
                to,
                commands,
            });
        }
        for slot in std::mem::take(&mut run.done) {
            self.eh_flush_one(now, slot);
        }
        self.end_scoped_entry(now, scope, host);
    }

    fn end_scoped_entry(&mut self, now: Instant, scope: EhScope, host: HostId) {
        if let Some(index) = self.scoped_eh.iter().position(|e| e.scope == scope) {
            if self.scoped_eh[index].queue.is_empty() {
                self.scoped_eh.swap_remove(index);
            } else {
                self.scoped_eh[index].running = false;
            }
        }
        self.trace(now, || TraceEvent::ScopeEhDone { scope });
        for device in self.hosts[host.0 as usize].devices.clone() {
            if self.scope_contains(scope, device) {
                self.schedule_run(device);
            }
        }
        if !self.pending_wakes.contains(&host) {
            self.pending_wakes.push(host);
        }
    }

    /// `get_sense_done`, `stu_done`, `reset_done`: the larger scope skips these steps.
    fn mark_tried(&mut self, device: DeviceId, tried: &[EhStep]) {
        let done = &mut self.devices[device.0 as usize].eh_done;
        for step in tried {
            match step {
                EhStep::GetSense => done.get_sense = true,
                EhStep::StartUnit => done.start_unit = true,
                EhStep::Reset(ResetKind::Lun) => done.lun_reset = true,
                EhStep::Reset(ResetKind::Target) => done.target_reset = true,
                _ => {}
            }
        }
    }

    /// `fallback = false`: the device is offlined; its commands are finished by the flush.
    fn scope_offline(&mut self, now: Instant, device: DeviceId) {
        if self.devices[device.0 as usize].state.is_online() {
            self.set_device_state_internal(now, device, DeviceState::Offline);
            self.trace(now, || TraceEvent::ScopeOfflined { device });
        }
    }
}

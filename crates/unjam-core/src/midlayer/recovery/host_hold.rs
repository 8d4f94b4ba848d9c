//! What the host-scope handler holds back from dispatch. Entered the kernel's way (a
//! device whose scope is the host, or a host already recovering), the whole host goes
//! into RECOVERY at once. Entered only through the fallback of LUN- and target-scope
//! handlers, it first holds just the targets of its commands (their LUNs stop, the rest
//! of the host keeps running), wakes when those targets' busy commands have all failed,
//! and takes the whole host (RECOVERY, then waits until every busy command of the host
//! has failed) only before a host-wide step: bus or host reset. So in LUN scope healthy
//! LUNs stall only while a host-wide step and its settle run (issue 9, "Done when").

use crate::eh::EhWait;
use crate::ids::{DeviceId, HostId, TargetId};
use crate::midlayer::MidLayer;
use crate::state::HostState;
use crate::time::Instant;
use crate::trace::TraceEvent;

impl MidLayer {
    /// The host-scope handler takes `device`'s command: the whole host, or (fallback) its
    /// target only.
    pub(crate) fn host_hold(
        &mut self,
        now: Instant,
        host: HostId,
        device: DeviceId,
        fallback: bool,
    ) {
        if fallback && !self.hosts[host.0 as usize].state.in_recovery() {
            let target = self.devices[device.0 as usize].target;
            return self.hold_target(now, host, target, true);
        }
        self.enter_host_recovery(now, host);
    }

    fn hold_target(&mut self, now: Instant, host: HostId, target: TargetId, held: bool) {
        if held {
            self.hosts[host.0 as usize].eh_partial = true;
        }
        let entry = &mut self.targets[target.0 as usize];
        if entry.held_by_host_eh == held {
            return;
        }
        entry.held_by_host_eh = held;
        self.trace(now, || TraceEvent::HostEhHoldsTarget { host, target, held });
        if !held {
            for device in self.targets[target.0 as usize].devices.clone() {
                self.schedule_run(device);
            }
        }
    }

    fn enter_host_recovery(&mut self, now: Instant, host: HostId) {
        if !self.set_host_state(now, host, HostState::Recovery) {
            let cancel = self.set_host_state(now, host, HostState::CancelRecovery);
            assert!(cancel, "host {host:?} cannot enter recovery");
        }
    }

    /// Busy commands the host handler waits for: the host's, or only its held targets'.
    pub(crate) fn host_eh_busy(&self, host: HostId) -> u32 {
        let entry = &self.hosts[host.0 as usize];
        if entry.state.in_recovery() || !entry.eh_partial {
            return entry.busy;
        }
        self.targets
            .iter()
            .filter(|t| t.host == host && t.held_by_host_eh)
            .map(|t| t.busy)
            .sum()
    }

    /// Before a host-wide step: the whole host stops. Returns whether the run must wait
    /// until every busy command of the host has failed.
    pub(crate) fn go_host_wide(&mut self, now: Instant, host: HostId) -> bool {
        if !self.hosts[host.0 as usize].state.in_recovery() {
            self.enter_host_recovery(now, host);
        }
        let entry = &self.hosts[host.0 as usize];
        entry.busy != entry.failed
    }

    /// Resumes a host run waiting for its host to quiesce, once it has.
    pub(crate) fn resume_quiesced(&mut self, now: Instant, host: HostId) {
        let entry = &self.hosts[host.0 as usize];
        if entry.busy != entry.failed {
            return;
        }
        let Some(mut run) = self.eh_resume(|run| {
            run.host() == host
                && run.waiting == EhWait::Quiesce
                && matches!(run.scope, crate::eh::EhScope::Host(_))
        }) else {
            return;
        };
        run.quiesced();
        self.eh_drive(now, run);
    }

    /// The host run ended: nothing is held any more, except the targets of commands
    /// already queued for the next run.
    pub(crate) fn release_host_holds(&mut self, now: Instant, host: HostId) {
        let keep: Vec<TargetId> = if self.hosts[host.0 as usize].state.in_recovery() {
            Vec::new()
        } else {
            self.eh_queues[host.0 as usize]
                .iter()
                .map(|slot| self.devices[self.slab.command(*slot).device.0 as usize].target)
                .collect()
        };
        self.hosts[host.0 as usize].eh_partial = false;
        let held: Vec<TargetId> = (0..self.targets.len() as u32)
            .map(TargetId)
            .filter(|t| self.targets[t.0 as usize].host == host)
            .collect();
        for target in held {
            let hold = keep.contains(&target);
            self.hold_target(now, host, target, hold);
        }
    }
}

//! Structural invariants of the mid-layer, checkable after any step (the simulator and the
//! property tests call [`MidLayer::check_invariants`]): busy and outstanding counters equal
//! what the command table says, every queued command sits in its device queue exactly
//! once, an in-flight command is owned by its transport, counted retries stay within
//! `allowed`, and an error-handler run only holds commands of its own scope (scope
//! isolation, over LUN, target and host scopes). Each check is linear in devices,
//! commands and queued or held slots (the scenario runner runs them after every step
//! under `--check`, with thousands of LUNs).

use crate::command::CommandKind;
use crate::ids::EhScope;
use crate::lifecycle::State;
use crate::midlayer::MidLayer;
use crate::topology::HostId;

impl MidLayer {
    /// `Err` names the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_counters()?;
        self.check_queues()?;
        self.check_commands()?;
        self.check_eh_scopes()
    }

    /// Linear in devices + commands: one pass over the slab counts every device's busy
    /// and outstanding commands.
    fn check_counters(&self) -> Result<(), String> {
        let mut busy = vec![0u32; self.devices.len()];
        let mut outstanding = vec![0u32; self.devices.len()];
        for (slot, command) in self.slab.iter() {
            let index = command.device.0 as usize;
            if index >= self.devices.len() {
                return Err(format!("slot {slot}: no device {index}"));
            }
            busy[index] += u32::from(command.busy());
            outstanding[index] += u32::from(command.kind == CommandKind::Io);
        }
        for (index, device) in self.devices.iter().enumerate() {
            if busy[index] != device.busy {
                return Err(format!(
                    "device {index}: busy {} but {} busy commands",
                    device.busy, busy[index]
                ));
            }
            if outstanding[index] != device.outstanding {
                return Err(format!(
                    "device {index}: outstanding {} but {} requests",
                    device.outstanding, outstanding[index]
                ));
            }
        }
        for (index, host) in self.hosts.iter().enumerate() {
            let busy: u32 = host
                .devices
                .iter()
                .map(|d| self.devices[d.0 as usize].busy)
                .sum();
            if busy != host.busy {
                return Err(format!(
                    "host {index}: busy {} but devices sum to {busy}",
                    host.busy
                ));
            }
            if host.failed > host.busy {
                return Err(format!(
                    "host {index}: failed {} > busy {}",
                    host.failed, host.busy
                ));
            }
        }
        Ok(())
    }

    /// Linear: which device queue holds each slot, and how often, in one pass over the
    /// queues; then one pass over the slab.
    fn check_queues(&self) -> Result<(), String> {
        const NOWHERE: u32 = u32::MAX;
        let mut queued_in = vec![NOWHERE; self.slab.slots()];
        for (index, device) in self.devices.iter().enumerate() {
            for slot in device.queue.iter() {
                let queued = self.slab.get(*slot).is_some_and(|c| {
                    matches!(c.state, State::Queued { .. }) && c.device.0 as usize == index
                });
                if !queued {
                    return Err(format!(
                        "device {index}: queue holds slot {slot} that is not queued there"
                    ));
                }
                let seen = &mut queued_in[*slot as usize];
                if *seen != NOWHERE {
                    return Err(format!("device {index}: slot {slot} queued twice"));
                }
                *seen = index as u32;
            }
        }
        for (slot, command) in self.slab.iter() {
            let in_queue = queued_in[slot as usize] == command.device.0;
            if matches!(command.state, State::Queued { .. }) != in_queue {
                return Err(format!(
                    "slot {slot}: state {:?} but in queue: {in_queue}",
                    command.state
                ));
            }
        }
        Ok(())
    }

    fn check_commands(&self) -> Result<(), String> {
        let with_sense = self
            .slab
            .iter()
            .filter(|(slot, _)| self.slab.has_sense(*slot))
            .count();
        if with_sense != self.slab.senses_in_use() {
            return Err(format!(
                "{with_sense} commands have sense but {} sense buffers are in use",
                self.slab.senses_in_use()
            ));
        }
        for (slot, command) in self.slab.iter() {
            if matches!(command.state, State::Completing { .. } | State::Done) {
                return Err(format!(
                    "slot {slot}: {:?} between steps (it must not outlive one input)",
                    command.state
                ));
            }
            if command.allowed >= 0 && command.counted_retries > command.allowed as u32 {
                return Err(format!(
                    "slot {slot}: {} counted retries > allowed {}",
                    command.counted_retries, command.allowed
                ));
            }
        }
        Ok(())
    }

    /// Invariant 3: a handler of scope S holds only commands of devices inside S, and every
    /// command in the error handler is held by exactly one handler (a queue or a run).
    fn check_eh_scopes(&self) -> Result<(), String> {
        let mut holders: Vec<(EhScope, &[u32])> = Vec::new();
        for run in &self.eh_runs {
            holders.push((run.scope, &run.work));
            holders.push((run.scope, &run.done));
        }
        for entry in &self.scoped_eh {
            holders.push((entry.scope, &entry.queue));
        }
        for (index, queue) in self.eh_queues.iter().enumerate() {
            holders.push((EhScope::Host(HostId(index as u32)), queue));
        }
        for (scope, slots) in &holders {
            for slot in slots.iter() {
                let inside = self
                    .slab
                    .get(*slot)
                    .is_some_and(|c| self.scope_contains(*scope, c.device));
                if !inside {
                    return Err(format!(
                        "EH of scope {scope:?} holds slot {slot} outside its scope"
                    ));
                }
            }
        }
        let mut held = vec![0usize; self.slab.slots()];
        for (_, slots) in &holders {
            for slot in slots.iter() {
                // Inside a scope means live (checked above), so the slot is in range.
                held[*slot as usize] += 1;
            }
        }
        for (slot, command) in self.slab.iter() {
            if !matches!(command.state, State::InEh { .. }) {
                continue;
            }
            let held = held[slot as usize];
            if held != 1 {
                return Err(format!("slot {slot}: in EH but held by {held} handlers"));
            }
        }
        Ok(())
    }
}

//! The scripted transport: answers each attempt of a command from a list of
//! [`ScriptEntry`]s (the last one repeats), per request token or from a default script.
//! The error handler's commands and resets are answered from the entry of the device's
//! latest attempt. It tracks which tags it still holds, for the invariant checker.
//! [`ScriptedTransport::heal`] ends every fault: later attempts, error-handler commands,
//! aborts and resets answer good (the liveness phase of the storm tests).

use std::collections::{HashMap, HashSet};

use super::script::{EhAnswer, ScriptAnswer, ScriptEntry};
use super::transport::{EventQueue, Transport, TransportEvent};
use crate::action::{Action, EhCommand, ResetKind, Tag, TmfOp, TmfResult};
use crate::buffers::Cdb;
use crate::request::{Request, TransportOutcome};
use crate::time::Instant;
use crate::topology::DeviceId;
use unjam_scsi::disposition::QueueReason;
use unjam_scsi::{HostByte, SamStatus};

#[derive(Debug, Default)]
pub struct ScriptedTransport {
    default_script: Vec<ScriptEntry>,
    scripts: HashMap<u64, Vec<ScriptEntry>>,
    attempts: HashMap<u64, usize>,
    held: HashMap<Tag, (DeviceId, ScriptEntry)>,
    lost: HashMap<Tag, TransportOutcome>,
    last_entry: HashMap<DeviceId, ScriptEntry>,
    eh_tags: HashSet<Tag>,
    /// TURs answered per device (the first one may answer differently from later ones).
    turs: HashMap<DeviceId, u32>,
    /// Unit attentions raised by resets (`reset_ua`), reported to the device's next command.
    unit_attentions: HashMap<DeviceId, u8>,
    poll_delay: std::time::Duration,
    events: EventQueue,
    healed: bool,
}

impl ScriptedTransport {
    /// Every request follows `script` (the last entry repeats; empty means always GOOD).
    pub fn new(script: Vec<ScriptEntry>) -> ScriptedTransport {
        ScriptedTransport {
            default_script: script,
            ..ScriptedTransport::default()
        }
    }

    /// Requests with `token` follow `script` instead of the default.
    pub fn set_script(&mut self, token: u64, script: Vec<ScriptEntry>) {
        self.scripts.insert(token, script);
    }

    /// How long a poll takes to answer (default: at once).
    pub fn set_poll_delay(&mut self, delay: std::time::Duration) {
        self.poll_delay = delay;
    }

    /// Ends every fault from now on: new attempts, error-handler commands, aborts and
    /// resets answer good. Commands already swallowed stay swallowed until the core
    /// aborts, resets or revokes them.
    pub fn heal(&mut self) {
        self.healed = true;
        self.default_script.clear();
        self.scripts.clear();
        self.last_entry.clear();
        for (_, entry) in self.held.values_mut() {
            *entry = ScriptEntry {
                answer: entry.answer,
                ..ScriptEntry::good()
            };
        }
    }

    fn entry_for(&mut self, token: u64) -> ScriptEntry {
        if self.healed {
            return ScriptEntry::good();
        }
        let attempt = self.attempts.entry(token).or_insert(0);
        let script = self.scripts.get(&token).unwrap_or(&self.default_script);
        let entry = script
            .get(*attempt)
            .or_else(|| script.last())
            .copied()
            .unwrap_or_else(ScriptEntry::good);
        *attempt += 1;
        entry
    }

    /// The reset's unit attention, if one is pending for `device` (taken).
    fn take_unit_attention(&mut self, device: DeviceId) -> Option<TransportOutcome> {
        let ascq = self.unit_attentions.remove(&device)?;
        Some(TransportOutcome::check_condition(
            &TransportOutcome::fixed_sense(0x6, 0x29, ascq),
        ))
    }

    /// 29/03 after a LUN or target reset, 29/02 after a bus reset, 29/01 after a host reset
    /// (power on), on the reset device, or on every device seen for the larger resets.
    fn raise_unit_attention(&mut self, kind: ResetKind, device: DeviceId) {
        let ascq = match kind {
            ResetKind::Lun | ResetKind::Target => 0x03,
            ResetKind::Bus => 0x02,
            ResetKind::Host => 0x01,
        };
        let mut devices: Vec<DeviceId> = self.last_entry.keys().copied().collect();
        if kind == ResetKind::Lun {
            devices = vec![device];
        }
        for reached in devices {
            self.unit_attentions.insert(reached, ascq);
        }
    }

    fn eh_entry(&self, device: DeviceId) -> ScriptEntry {
        self.last_entry
            .get(&device)
            .copied()
            .unwrap_or_else(ScriptEntry::good)
    }
}

impl ScriptedTransport {
    fn dispatch(&mut self, now: Instant, tag: Tag, device: DeviceId, request: &Request) {
        let entry = self.entry_for(request.token);
        self.last_entry.insert(device, entry);
        let answer = match entry.answer {
            ScriptAnswer::Complete(_) => self
                .take_unit_attention(device)
                .map_or(entry.answer, ScriptAnswer::Complete),
            answer => answer,
        };
        match answer {
            ScriptAnswer::Complete(outcome) => self
                .events
                .at(now + entry.latency, TransportEvent::Done { tag, outcome }),
            ScriptAnswer::Timeout => {
                self.held.insert(tag, (device, entry));
            }
            ScriptAnswer::Lost(outcome) => {
                self.held.insert(tag, (device, entry));
                self.lost.insert(tag, outcome);
            }
        }
    }

    fn eh_command(
        &mut self,
        now: Instant,
        tag: Tag,
        device: DeviceId,
        command: EhCommand,
        _: &Cdb,
    ) {
        let entry = self.eh_entry(device);
        let answer = match command {
            EhCommand::TestUnitReady => {
                let count = self.turs.entry(device).or_insert(0);
                *count = count.saturating_add(1);
                match (*count, entry.tur_later) {
                    (2.., Some(later)) => later,
                    _ => entry.tur,
                }
            }
            EhCommand::StartUnit => entry.start_unit,
            EhCommand::RequestSense => EhAnswer::Good,
        };
        if answer == EhAnswer::Timeout {
            self.eh_tags.insert(tag);
            return;
        }
        if let Some(outcome) = self.take_unit_attention(device) {
            self.events
                .at(now + entry.latency, TransportEvent::Done { tag, outcome });
            return;
        }
        let outcome = match answer {
            EhAnswer::Timeout => return,
            EhAnswer::UnitAttention => {
                TransportOutcome::check_condition(&TransportOutcome::fixed_sense(0x6, 0x29, 0x00))
            }
            EhAnswer::Fail => TransportOutcome::host(HostByte::DID_NO_CONNECT),
            EhAnswer::Good if command == EhCommand::RequestSense => TransportOutcome {
                sense: entry.request_sense,
                ..TransportOutcome::status(SamStatus::GOOD)
            },
            EhAnswer::Good => TransportOutcome::GOOD,
        };
        self.events
            .at(now + entry.latency, TransportEvent::Done { tag, outcome });
    }

    fn abort(&mut self, now: Instant, op: TmfOp, tag: Tag, device: DeviceId) {
        // Aborting a command the transport no longer has succeeds (function complete); an
        // error-handler command it still holds answers like the device's last attempt.
        let result = if self.eh_tags.contains(&tag) {
            self.eh_entry(device).abort
        } else {
            self.held
                .get(&tag)
                .map_or(TmfResult::Success, |(_, entry)| entry.abort)
        };
        if result == TmfResult::Success {
            self.held.remove(&tag);
            self.lost.remove(&tag);
            self.eh_tags.remove(&tag);
        }
        self.events.at(now, TransportEvent::TmfDone { op, result });
    }

    fn reset(&mut self, now: Instant, op: TmfOp, kind: ResetKind, device: DeviceId) {
        let entry = self.eh_entry(device);
        let result = match kind {
            ResetKind::Lun => entry.lun_reset,
            ResetKind::Target => entry.target_reset,
            ResetKind::Bus => entry.bus_reset,
            ResetKind::Host => entry.host_reset,
        };
        if result == TmfResult::Success {
            // A LUN reset drops that LUN's commands; the scripted transport models one
            // target and bus per host, so any larger reset drops everything.
            self.held
                .retain(|_, (held_device, _)| kind == ResetKind::Lun && *held_device != device);
            let held = &self.held;
            self.lost.retain(|tag, _| held.contains_key(tag));
            if entry.reset_ua {
                self.raise_unit_attention(kind, device);
            }
        }
        self.events.at(now, TransportEvent::TmfDone { op, result });
    }

    fn poll(&mut self, now: Instant, tag: Tag) {
        if let Some(outcome) = self.lost.remove(&tag) {
            self.held.remove(&tag);
            self.events.at(now, TransportEvent::Done { tag, outcome });
        }
        self.events
            .at(now + self.poll_delay, TransportEvent::PollDone { tag });
    }

    fn revoke(&mut self, tag: Tag) {
        self.held.remove(&tag);
        self.lost.remove(&tag);
        self.eh_tags.remove(&tag);
    }
}

impl Transport for ScriptedTransport {
    type Note = ();

    fn execute(&mut self, now: Instant, action: &Action) -> Option<QueueReason> {
        match *action {
            Action::Dispatch {
                tag,
                device,
                ref request,
            } => self.dispatch(now, tag, device, request),
            Action::SendEhCommand {
                tag,
                device,
                command,
                ref cdb,
                ..
            } => self.eh_command(now, tag, device, command, cdb),
            Action::Abort {
                op, tag, device, ..
            } => self.abort(now, op, tag, device),
            Action::Reset {
                op, kind, device, ..
            } => self.reset(now, op, kind, device),
            Action::Poll { tag, .. } => self.poll(now, tag),
            Action::Revoke { tag, .. } => self.revoke(tag),
            Action::Complete(_) | Action::Trace(_) => {}
        }
        None
    }

    fn poll_event(&mut self, now: Instant) -> Option<TransportEvent> {
        self.events.pop_due(now)
    }

    fn next_due(&self) -> Option<Instant> {
        self.events.next_time()
    }

    fn holds(&self, tag: Tag) -> bool {
        self.held.contains_key(&tag) || self.eh_tags.contains(&tag)
    }
}

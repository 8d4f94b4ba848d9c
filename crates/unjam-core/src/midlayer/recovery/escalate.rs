//! `scsi_abort_eh_cmnd`: an EH command (TUR, START UNIT, REQUEST SENSE) that did not answer
//! within `eh_timeout` is aborted; when the abort fails, the resets inside the run's scope
//! are tried in turn (LUN, then target, bus and host as the scope allows), stopping at the
//! first success. The command's result is FAILED either way; a command no step reclaimed
//! is revoked. A late completion during the escalation only ends the transport's
//! ownership: EH commands never take the normal completion path.

use unjam_scsi::{Disposition, HostByte};

use crate::action::Action;
use crate::command::CommandKind;
use crate::eh::{escalation_step, scope_level, EhWait, ESCALATION};
use crate::ids::{ResetKind, Tag, TmfResult};
use crate::lifecycle::State;
use crate::midlayer::{MidLayer, TmfPurpose};
use crate::request::TransportOutcome;
use crate::time::Instant;
use crate::trace::TraceEvent;

impl MidLayer {
    /// The EH command's `eh_timeout` passed: start the escalation.
    pub(crate) fn eh_command_timed_out(&mut self, now: Instant, tag: Tag) {
        // An EH command answered in time is gone: its timer has nothing to do.
        let Some(cmd) = self.slab.by_tag(tag) else {
            return;
        };
        assert!(
            matches!(cmd.kind, CommandKind::Eh(_)) && matches!(cmd.state, State::InFlight { .. }),
            "EH command timer of {tag:?} in {:?}",
            cmd.state
        );
        self.set_state(tag.slot, State::Aborting { owned: true });
        self.eh_escalate(now, tag, 0);
    }

    /// Sends the first step from `stage` on that the transport and the run's scope allow.
    fn eh_escalate(&mut self, now: Instant, tag: Tag, stage: u8) {
        let Some(cmd) = self.slab.by_tag(tag) else {
            panic!("escalating {tag:?}, which is gone");
        };
        let (device, for_tag, cdb) = (cmd.device, self.slab.tag(cmd.eh_carrier), cmd.request.cdb);
        let host = self.host_of(device);
        let capabilities = self.hosts[host.0 as usize].config.capabilities;
        let scope_level = self
            .eh_runs
            .iter()
            .find(|run| matches!(run.waiting, EhWait::Command { tag: t, .. } if t == tag))
            .map_or(2, |run| scope_level(run.scope));
        let allowed = |step: Option<ResetKind>| match step {
            None => capabilities.abort,
            Some(ResetKind::Lun) => capabilities.lun_reset,
            Some(ResetKind::Target) => capabilities.target_reset,
            Some(ResetKind::Bus) => capabilities.bus_reset,
            Some(ResetKind::Host) => capabilities.host_reset,
        };
        if let Some((index, step)) = escalation_step(stage, scope_level, allowed) {
            let purpose = TmfPurpose::EhCommandAbort {
                slot: tag.slot,
                generation: tag.generation,
                stage: index,
            };
            let op = self.new_tmf(now, host, purpose);
            match step {
                None => self.emit_abort(now, op, tag, device, cdb, true),
                Some(kind) => self.emit_reset(now, op, kind, device, cdb, for_tag, true),
            }
            return;
        }
        self.eh_command_failed(now, tag);
    }

    /// An escalation step answered: success reclaims the command, failure goes on.
    pub(crate) fn eh_escalation_done(
        &mut self,
        now: Instant,
        tag: Tag,
        stage: u8,
        result: TmfResult,
    ) {
        let Some(cmd) = self.slab.by_tag(tag) else {
            panic!("escalation answer for {tag:?}, which is gone");
        };
        {
            let (device, for_tag) = (cmd.device, self.slab.tag(cmd.eh_carrier));
            match ESCALATION.get(stage as usize).copied().flatten() {
                None => self.trace(now, || TraceEvent::AbortDone {
                    device,
                    tag,
                    result,
                    escalation: true,
                }),
                Some(kind) => self.trace(now, || TraceEvent::ResetDone {
                    device,
                    kind,
                    result,
                    for_tag,
                    escalation: true,
                }),
            }
        }
        if result == TmfResult::Failed {
            return self.eh_escalate(now, tag, stage.saturating_add(1));
        }
        // The abort or reset completed: the transport dropped the command.
        let released = self.slab.command(tag.slot).state.released();
        self.set_state(tag.slot, released);
        self.eh_command_failed(now, tag);
    }

    /// The EH command ends FAILED; the run waiting for it goes on.
    fn eh_command_failed(&mut self, now: Instant, tag: Tag) {
        let Some(cmd) = self.slab.by_tag(tag) else {
            panic!("EH command {tag:?} failed but is gone");
        };
        let (device, owned, carrier) = (cmd.device, cmd.owned(), cmd.eh_carrier);
        let CommandKind::Eh(command) = cmd.kind else {
            panic!("escalation of {tag:?}, which is not an EH command");
        };
        let for_tag = self.slab.tag(carrier);
        if owned {
            self.actions.push_back(Action::Revoke { tag, device });
            let released = self.slab.command(tag.slot).state.released();
            self.set_state(tag.slot, released);
        }
        self.remove_eh_command(tag);
        let outcome = TransportOutcome::host(HostByte::DID_TIME_OUT);
        let (result, sense) = (outcome.result, outcome.sense);
        let verdict = Disposition::Failed;
        self.trace(now, || TraceEvent::EhCommandDone {
            device,
            tag,
            command,
            verdict,
            result,
            sense,
            for_tag,
        });
        self.eh_command_verdict(now, tag, verdict);
    }
}

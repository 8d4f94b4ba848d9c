//! Answers to the error handler's jobs: EH command completions and refusals, reset
//! results, the settle timer. Each is routed to the run waiting for it (`crate::eh`
//! decides what it means), and the run is driven on (`apply.rs`).

use unjam_scsi::Disposition;

use crate::command::CommandKind;
use crate::disposition::eh_completed_normally;
use crate::eh::{EhJob, EhRun, EhWait};
use crate::ids::HostId;
use crate::ids::{Tag, TmfOp, TmfResult};
use crate::lifecycle::State;
use crate::midlayer::MidLayer;
use crate::request::TransportOutcome;
use crate::time::Instant;
use crate::trace::TraceEvent;

impl MidLayer {
    /// An EH command completed (from `handle_transport_done`).
    pub(crate) fn eh_command_done(&mut self, now: Instant, tag: Tag, outcome: &TransportOutcome) {
        let state = self.slab.command(tag.slot).state;
        if !matches!(state, State::Aborting { .. }) {
            return self.eh_command_answered(now, tag, outcome);
        }
        // Late: the escalation decides (FAILED); the transport has let go of it.
        self.set_state(tag.slot, state.released());
    }

    /// An EH command is over: its slot is freed (the run keeps its answer).
    pub(crate) fn remove_eh_command(&mut self, tag: Tag) -> crate::command::Command {
        self.set_state(tag.slot, State::Done);
        match self.slab.remove(tag.slot) {
            Some(cmd) => cmd,
            None => panic!("EH command {tag:?} vanished"),
        }
    }

    fn eh_command_answered(&mut self, now: Instant, tag: Tag, outcome: &TransportOutcome) {
        let cmd = self.slab.command(tag.slot);
        let (device, opcode, carrier) = (cmd.device, cmd.request.cdb.opcode(), cmd.eh_carrier);
        let CommandKind::Eh(command) = cmd.kind else {
            panic!("EH answer for {tag:?}, which is not an EH command");
        };
        let verdict = eh_completed_normally(
            outcome.result,
            &outcome.sense,
            opcode,
            &self.device_view(device),
        );
        self.remove_eh_command(tag);
        self.slab.set_sense(carrier, &outcome.sense);
        let for_tag = self.slab.tag(carrier);
        self.apply_effects(now, device, for_tag, &verdict.effects);
        let (result, sense, disposition) = (outcome.result, outcome.sense, verdict.disposition);
        self.trace(now, || TraceEvent::EhCommandDone {
            device,
            tag,
            command,
            verdict: disposition,
            result,
            sense,
            for_tag,
        });
        self.eh_command_verdict(now, tag, disposition);
    }

    /// Hands the verdict on the EH command `tag` to the run waiting for it.
    pub(crate) fn eh_command_verdict(&mut self, now: Instant, tag: Tag, verdict: Disposition) {
        let mut run = self.eh_waiting_run(
            |run| matches!(run.waiting, EhWait::Command { tag: t, .. } if t == tag),
        );
        run.command_answered(verdict, &self.eh_view(now));
        self.eh_drive(now, run);
    }

    /// The transport refused an EH command: treated as FAILED.
    pub(crate) fn eh_command_refused(&mut self, now: Instant, tag: Tag) {
        self.remove_eh_command(tag);
        self.eh_command_verdict(now, tag, Disposition::Failed);
        self.run_pending(now);
    }

    pub(crate) fn eh_reset_done(
        &mut self,
        now: Instant,
        _host: HostId,
        epoch: u32,
        op: TmfOp,
        result: TmfResult,
    ) {
        let mut run = self.eh_waiting_run(|run| {
            run.epoch == epoch && matches!(run.waiting, EhWait::Tmf { op: o, .. } if o == op)
        });
        let EhWait::Tmf {
            job: EhJob::Reset { kind, device },
            ..
        } = run.waiting
        else {
            panic!(
                "reset answer {op:?} for a run waiting for {:?}",
                run.waiting
            );
        };
        let carrier = run.reset_carrier(kind, device, &self.eh_view(now));
        let for_tag = self.slab.tag(carrier);
        self.trace(now, || TraceEvent::ResetDone {
            device,
            kind,
            result,
            for_tag,
            escalation: false,
        });
        run.reset_answered(result, &self.eh_view(now));
        self.eh_drive(now, run);
    }

    pub(crate) fn eh_settled(&mut self, now: Instant, _host: HostId, epoch: u32) {
        let Some(mut run) =
            self.eh_resume(|run| run.epoch == epoch && run.waiting == EhWait::Settle)
        else {
            panic!("settle timer of run {epoch} with no run settling");
        };
        run.settled();
        self.eh_drive(now, run);
    }

    /// Takes the parked run whose wait `matches`: every EH command and reset is sent by a
    /// run that parks waiting for its answer.
    fn eh_waiting_run(&mut self, matches: impl Fn(&EhRun) -> bool) -> EhRun {
        match self.eh_resume(matches) {
            Some(run) => run,
            None => panic!("an error-handler answer with no run waiting for it"),
        }
    }
}

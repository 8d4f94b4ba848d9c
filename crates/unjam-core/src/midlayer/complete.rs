//! The completion path: the exactly-once claim of a transport completion, scsi_complete
//! (disposition, runtime cap, finish / requeue / error handler; spec §2.3, §10), and
//! scsi_finish_command with io_completion (§4). The caller's completion is built here.

use unjam_scsi::cdb::{lba_and_block_count, opcode, with_lba_and_block_count, Read6, Write6};
use unjam_scsi::{BlkStatus, Disposition, MlStatus, ScsiResult};

use super::MidLayer;
use crate::action::{Action, Completion, Tag};
use crate::buffers::Cdb;
use crate::command::CommandKind;
use crate::disposition::{
    decide_disposition, io_completion, result_to_blk_status, CommandView, CompletionInput,
    Decision, FinishOrRequeue, RequeueKind, RetryCounter, RULE_ALL_BYTES, RULE_GOOD,
};
use crate::lifecycle::State;
use crate::request::{cmd_flags, TransportOutcome};
use crate::time::Instant;
use crate::timers::RareTimer;
use crate::trace::{DispositionTrace, RequeueWhy, TraceEvent};

/// The ALUA transition requeue delay (`ALUA_TRANSITION_REPREP_DELAY`).
const DELAYED_REPREP: std::time::Duration = std::time::Duration::from_millis(1000);

impl MidLayer {
    /// The transport finished `tag` (the LLD's `scsi_done`). A completion for a command the
    /// timeout already claimed is dropped and counted; one for an earlier attempt is stale.
    pub fn handle_transport_done(&mut self, now: Instant, tag: Tag, outcome: &TransportOutcome) {
        let now = self.advance_clock(now);
        let Some(cmd) = self.slab.by_tag(tag) else {
            self.stats.stale_completions += 1;
            self.trace(now, || TraceEvent::StaleCompletion { tag });
            return;
        };
        let (device, state, kind) = (cmd.device, cmd.state, cmd.kind);
        if let CommandKind::Eh(_) = kind {
            self.eh_command_done(now, tag, outcome);
            self.run_pending(now);
            return;
        }
        let (State::InFlight { aborted } | State::Polling { aborted }) = state else {
            // The timeout claimed it first (or a reset already covered it): the transport
            // has let go of it now; the completion is dropped and counted.
            self.set_state(tag.slot, state.released());
            self.stats.late_completions_dropped += 1;
            self.trace(now, || TraceEvent::LateCompletionDropped { device, tag });
            return;
        };
        self.set_state(tag.slot, State::Completing { aborted });
        let cmd = self.slab.command_mut(tag.slot);
        cmd.result = outcome.result.with_ml(MlStatus::OK);
        cmd.resid = outcome.resid;
        self.slab.set_sense(tag.slot, &outcome.sense);
        self.stop_request_timer(tag.slot);
        self.trace(now, || TraceEvent::TransportDone {
            device,
            tag,
            result: outcome.result,
            sense: outcome.sense,
            resid: outcome.resid,
        });
        self.complete_command(now, tag.slot);
        self.run_pending(now);
    }

    /// `scsi_complete`: disposition, runtime cap, then finish, requeue or error handler.
    fn complete_command(&mut self, now: Instant, slot: u32) {
        assert!(
            matches!(self.slab.command(slot).state, State::Completing { .. }),
            "scsi_complete of a command not completing"
        );
        if self.is_clean_good(slot) {
            return self.complete_clean_good(now, slot);
        }
        let decision = self.decide(now, slot);
        let cmd = self.slab.command(slot);
        let mut disposition = decision.disposition;
        if disposition != Disposition::Success {
            if let Some(waited_s) = cmd.lifetime_exceeded(now) {
                let (device, tag) = (cmd.device, self.slab.tag(slot));
                self.trace(now, || TraceEvent::RuntimeExceeded {
                    device,
                    tag,
                    waited_s,
                });
                disposition = Disposition::Success;
            }
        }
        match disposition {
            Disposition::Success => self.finish_command(now, slot),
            Disposition::NeedsRetry => self.requeue(
                now,
                slot,
                RequeueWhy::NeedsRetry,
                decision.effects.counted_retry,
            ),
            Disposition::AddToMlQueue => self.requeue(now, slot, RequeueWhy::AddToMlQueue, false),
            _ => self.eh_add(now, slot, false),
        }
    }

    /// The common completion, whose path through `decide_disposition` and `io_completion`
    /// is known without running them: a request answered GOOD with nothing else (result
    /// word 0, no sense, no residual) on an online device, not REPORT LUNS (whose GOOD
    /// clears the target's `expecting_lun_change`). Decision: "GOOD → SUCCESS", no effects,
    /// retries untouched; plan: every byte good, finished OK, nothing printed. Debug builds
    /// (the tests) run the full rules as well and compare.
    #[inline]
    fn is_clean_good(&self, slot: u32) -> bool {
        let cmd = self.slab.command(slot);
        cmd.result == ScsiResult::OK
            && cmd.resid == 0
            && !self.slab.has_sense(slot)
            && cmd.request.cdb.opcode() != opcode::REPORT_LUNS
            && self.devices[cmd.device.0 as usize].state.is_online()
    }

    /// `scsi_complete` + `scsi_finish_command` for [`MidLayer::is_clean_good`]: the same
    /// state changes and trace records as the full path, without evaluating its rules.
    fn complete_clean_good(&mut self, now: Instant, slot: u32) {
        #[cfg(debug_assertions)]
        self.assert_clean_good_rules(slot);
        let cmd = self.slab.command(slot);
        let (device, retries, allowed) = (cmd.device, cmd.retries, cmd.allowed);
        let tag = self.slab.tag(slot);
        self.trace(now, || TraceEvent::Disposition {
            device,
            tag,
            decision: DispositionTrace {
                disposition: Disposition::Success,
                result: ScsiResult::OK,
                rule: RULE_GOOD,
                sense_rule: None,
                retry_rule: None,
                retries,
                allowed,
            },
        });
        self.clear_blocked(device);
        let cmd = self.slab.command_mut(slot);
        cmd.repreps_without_progress = 0;
        let good_bytes = cmd.request.data_len;
        cmd.good_bytes = cmd.good_bytes.saturating_add(good_bytes);
        self.trace(now, || TraceEvent::CompletionRule {
            device,
            tag,
            rule: RULE_ALL_BYTES,
            good_bytes,
        });
        self.complete_upward(now, slot, BlkStatus::Ok, 0);
    }

    /// The full rules agree with [`MidLayer::complete_clean_good`] (debug builds).
    #[cfg(debug_assertions)]
    fn assert_clean_good_rules(&self, slot: u32) {
        let cmd = self.slab.command(slot);
        let view = self.device_view(cmd.device);
        let (decision, counter) = self.disposition_of(slot);
        assert_eq!(
            (decision.disposition, decision.result, decision.rule),
            (Disposition::Success, ScsiResult::OK, RULE_GOOD)
        );
        assert_eq!(decision.effects, crate::disposition::Effects::default());
        assert_eq!((decision.sense_rule, decision.retry_rule), (None, None));
        assert_eq!(counter.retries, cmd.retries);
        let plan = io_completion(&CompletionInput {
            result: cmd.result,
            sense: self.slab.sense(slot),
            request: &cmd.request,
            resid: cmd.resid,
            device: &view,
            runtime_exceeded: cmd.lifetime_exceeded(self.now).is_some(),
        });
        let expected = crate::disposition::CompletionPlan {
            good_bytes: cmd.request.data_len,
            result: ScsiResult::OK,
            sense_cleared: false,
            next: FinishOrRequeue::Finish {
                status: BlkStatus::Ok,
                print_failure: false,
            },
            rule: RULE_ALL_BYTES,
            print_recovered: false,
            set_changed: false,
            capped: false,
            unaligned_resid: false,
        };
        assert_eq!(plan, expected);
    }

    /// `scsi_decide_disposition` of `slot` as it stands, and the retry counter it leaves
    /// (nothing applied).
    fn disposition_of(&self, slot: u32) -> (Decision, RetryCounter) {
        let cmd = self.slab.command(slot);
        let view = self.device_view(cmd.device);
        let mut counter = RetryCounter {
            retries: cmd.retries,
            allowed: cmd.allowed,
        };
        let command_view = CommandView {
            result: cmd.result,
            sense: self.slab.sense(slot),
            request: &cmd.request,
            abort_scheduled: cmd.state.aborted(),
            submitted_by_eh: false,
        };
        let decision = decide_disposition(&command_view, &view, &mut counter);
        (decision, counter)
    }

    /// Runs decide_disposition on `slot` and applies its effects.
    pub(crate) fn decide(&mut self, now: Instant, slot: u32) -> Decision {
        let device = self.slab.command(slot).device;
        let (decision, counter) = self.disposition_of(slot);
        let cmd = self.slab.command_mut(slot);
        cmd.retries = counter.retries;
        cmd.result = decision.result;
        if decision.effects.failfast_dev_quiet {
            cmd.request.block.cmd_flags |= cmd_flags::FAILFAST_DEV;
            cmd.request.quiet = true;
        }
        let tag = self.slab.tag(slot);
        self.apply_effects(now, device, tag, &decision.effects);
        self.trace(now, || TraceEvent::Disposition {
            device,
            tag,
            decision: DispositionTrace {
                disposition: decision.disposition,
                result: decision.result,
                rule: decision.rule,
                sense_rule: decision.sense_rule,
                retry_rule: decision.retry_rule,
                retries: counter.retries,
                allowed: counter.allowed,
            },
        });
        decision
    }

    /// Applies what a rule asked for to the device, its target and its host.
    pub(crate) fn apply_effects(
        &mut self,
        now: Instant,
        device: crate::topology::DeviceId,
        tag: Tag,
        effects: &crate::disposition::Effects,
    ) {
        let effects = *effects;
        if effects == crate::disposition::Effects::default() {
            return;
        }
        let dev = &mut self.devices[device.0 as usize];
        if effects.clear_cc_ua {
            dev.expecting_cc_ua = false;
        }
        let target = dev.target;
        if let Some(expecting) = effects.lun_change {
            self.targets[target.0 as usize].expecting_lun_change = expecting;
        }
        if effects.queue_full
            && self.hosts[self.host_of(device).0 as usize]
                .config
                .track_queue_depth
        {
            let devices = self.targets[target.0 as usize].devices.clone();
            for lun in devices {
                let dev = &mut self.devices[lun.0 as usize];
                dev.queue_depth = dev.queue_depth.saturating_sub(1).max(1);
            }
        }
        if effects.reservation_conflict {
            self.trace(now, || TraceEvent::ReservationConflict { device, tag });
        }
        if let Some(report) = effects.report {
            self.trace(now, || TraceEvent::SenseReported { device, report });
        }
    }

    /// `scsi_finish_command` + `scsi_io_completion`: complete the good bytes, then end,
    /// requeue or re-prepare the rest.
    pub(crate) fn finish_command(&mut self, now: Instant, slot: u32) {
        let cmd = self.slab.command(slot);
        assert!(
            matches!(cmd.state, State::Completing { .. }),
            "finishing a command that is not completing: {:?}",
            cmd.state
        );
        let device = cmd.device;
        self.clear_blocked(device);
        let view = self.device_view(device);
        let cmd = self.slab.command(slot);
        let runtime_exceeded = cmd.lifetime_exceeded(now);
        let mut plan = io_completion(&CompletionInput {
            result: cmd.result,
            sense: self.slab.sense(slot),
            request: &cmd.request,
            resid: cmd.resid,
            device: &view,
            runtime_exceeded: runtime_exceeded.is_some(),
        });
        let tag = self.slab.tag(slot);
        if let (true, Some(waited_s)) = (plan.capped, runtime_exceeded) {
            // `scsi_io_completion_action` calls `scsi_cmd_runtime_exceeced`, which logs.
            self.trace(now, || TraceEvent::RuntimeExceeded {
                device,
                tag,
                waited_s,
            });
        }
        self.bound_repreps(now, slot, &mut plan);
        let cmd = self.slab.command_mut(slot);
        cmd.good_bytes = cmd.good_bytes.saturating_add(plan.good_bytes);
        cmd.result = plan.result;
        let (resid, sector_size) = (cmd.resid, view.sector_size);
        if plan.sense_cleared {
            self.slab.clear_sense(slot);
        }
        if plan.unaligned_resid {
            self.trace(now, || TraceEvent::UnalignedResid {
                device,
                tag,
                resid,
                sector_size,
            });
        }
        // Lines this completion prints on the console (as KernelLog renders the events).
        let sense_lines = if self.slab.sense(slot).header().is_some() {
            2
        } else {
            0
        };
        let mut lines = 0;
        if plan.print_recovered {
            let sense = *self.slab.sense(slot);
            lines += sense_lines;
            self.trace(now, || TraceEvent::RecoveredPrinted { device, tag, sense });
        }
        if plan.set_changed {
            self.devices[device.0 as usize].changed = true;
        }
        let good_bytes = plan.good_bytes;
        self.trace(now, || TraceEvent::CompletionRule {
            device,
            tag,
            rule: plan.rule,
            good_bytes,
        });
        match plan.next {
            FinishOrRequeue::Finish {
                status,
                print_failure,
            } => {
                if print_failure && self.console.allow_failure(now) {
                    lines += 2 + sense_lines;
                    self.trace_failure(now, slot);
                }
                self.complete_upward(now, slot, status, lines);
            }
            FinishOrRequeue::Requeue(kind) => {
                self.requeue_remainder(now, slot, kind, plan.good_bytes)
            }
        }
    }

    fn clear_blocked(&mut self, device: crate::topology::DeviceId) {
        let dev = &mut self.devices[device.0 as usize];
        dev.blocked = 0;
        let (target, host) = (dev.target, dev.host);
        self.targets[target.0 as usize].blocked = 0;
        self.hosts[host.0 as usize].blocked = 0;
    }

    fn trace_failure(&mut self, now: Instant, slot: u32) {
        let cmd = self.slab.command(slot);
        let (device, tag) = (cmd.device, self.slab.tag(slot));
        let (result, sense, cdb) = (cmd.result, *self.slab.sense(slot), cmd.request.cdb);
        let cmd_age_s = cmd.age(now).as_secs();
        self.trace(now, || TraceEvent::FailurePrinted {
            device,
            tag,
            result,
            cmd_age_s,
            sense,
            cdb,
        });
    }

    /// unjam's bound on sd's "false check condition" loop (the kernel has none): a request
    /// prepared again `max_repreps_without_progress` times in a row without a good byte
    /// fails with its error, or `BLK_STS_IOERR` when it has none.
    fn bound_repreps(
        &mut self,
        now: Instant,
        slot: u32,
        plan: &mut crate::disposition::CompletionPlan,
    ) {
        let is_reprep = matches!(
            plan.next,
            FinishOrRequeue::Requeue(RequeueKind::Reprep | RequeueKind::DelayedReprep)
        );
        if !is_reprep || plan.good_bytes > 0 {
            self.slab.command_mut(slot).repreps_without_progress = 0;
            return;
        }
        let limit = self.devices[self.slab.command(slot).device.0 as usize]
            .config
            .max_repreps_without_progress;
        let tag = self.slab.tag(slot);
        let cmd = self.slab.command_mut(slot);
        cmd.repreps_without_progress = cmd.repreps_without_progress.saturating_add(1);
        // The counter saturates at u16::MAX: a larger limit acts as that.
        if u32::from(cmd.repreps_without_progress) <= limit.min(u32::from(u16::MAX) - 1) {
            return;
        }
        let (device, repreps) = (cmd.device, u32::from(cmd.repreps_without_progress));
        let mapped = result_to_blk_status(cmd.result);
        let status = if mapped == BlkStatus::Ok {
            BlkStatus::IoErr
        } else {
            mapped
        };
        self.trace(now, || TraceEvent::RepreparedTooOften {
            device,
            tag,
            repreps,
        });
        plan.capped = true;
        plan.result = self.slab.command(slot).result;
        plan.sense_cleared = false;
        plan.next = FinishOrRequeue::Finish {
            status,
            print_failure: !self.slab.command(slot).request.quiet,
        };
    }

    fn requeue_remainder(&mut self, now: Instant, slot: u32, kind: RequeueKind, good_bytes: u32) {
        match kind {
            RequeueKind::Retry => self.requeue(now, slot, RequeueWhy::CompletionRetry, false),
            RequeueKind::DelayedRetry => {
                self.requeue(now, slot, RequeueWhy::CompletionDelayedRetry, false)
            }
            RequeueKind::Reprep => {
                self.reprep(slot, good_bytes);
                self.requeue(now, slot, RequeueWhy::Reprep, false);
            }
            RequeueKind::SixByteCdb => {
                self.reprep(slot, good_bytes);
                let cmd = self.slab.command_mut(slot);
                if let Some(six) = six_byte(&cmd.request.cdb) {
                    cmd.request.cdb = six;
                }
                let device = cmd.device;
                self.devices[device.0 as usize].use_10_for_rw = false;
                self.requeue(now, slot, RequeueWhy::Reprep, false);
            }
            RequeueKind::DelayedReprep => {
                self.reprep(slot, good_bytes);
                let tag = self.slab.tag(slot);
                self.stop_request_timer(slot);
                self.set_state(slot, State::Delayed { aborted: false });
                let device = self.slab.command(slot).device;
                self.stats.uncounted_requeues += 1;
                self.trace(now, || TraceEvent::Requeued {
                    device,
                    tag,
                    why: RequeueWhy::DelayedReprep,
                    counted: false,
                    cap_deadline: None,
                });
                let timer = RareTimer::DelayedRequeue {
                    slot,
                    generation: tag.generation,
                };
                self.rare_timers.arm(now + DELAYED_REPREP, timer);
            }
        }
    }

    /// A new command for the rest of the request: advance past the good bytes, reset the
    /// retry count and the eh flags (a fresh prepare), keep the allocation time (so the
    /// runtime cap still bounds a request that is prepared again and again).
    fn reprep(&mut self, slot: u32, good_bytes: u32) {
        let sector_size = self.devices[self.slab.command(slot).device.0 as usize]
            .config
            .sector_size;
        let cmd = self.slab.command_mut(slot);
        let sector = sector_size.max(1);
        if good_bytes > 0 {
            // A command the extent codec does not know keeps its CDB (only READ and WRITE
            // complete part of their blocks).
            if let Some(moved) = advance_extent(&cmd.request.cdb, good_bytes / sector) {
                cmd.request.cdb = moved;
            }
            cmd.request.data_len = cmd.request.data_len.saturating_sub(good_bytes);
            cmd.request.block.start_sector += u64::from(good_bytes / 512);
        }
        cmd.retries = 0;
        cmd.counted_retries = 0;
    }

    /// The request's one completion: frees its slot and queues [`Action::Complete`], at
    /// once or when the `lines` it printed (and the block layer's line) are out on the
    /// console.
    pub(crate) fn complete_upward(
        &mut self,
        now: Instant,
        slot: u32,
        status: BlkStatus,
        mut lines: u32,
    ) {
        let tag = self.slab.tag(slot);
        self.set_state(slot, State::Done);
        // Read in place, freed last: moving a whole command out would copy it.
        let cmd = self.slab.command(slot);
        assert!(
            cmd.allowed < 0 || cmd.counted_retries <= cmd.allowed as u32,
            "{} counted retries > allowed {}",
            cmd.counted_retries,
            cmd.allowed
        );
        let device = cmd.device;
        let dev = &mut self.devices[device.0 as usize];
        assert!(
            dev.outstanding > 0,
            "device {device:?} outstanding underflow"
        );
        dev.outstanding -= 1;
        // sd: a good medium access resets the count (only a count above 0 needs the test).
        if dev.medium_access_timed_out != 0
            && status == BlkStatus::Ok
            && unjam_scsi::cdb::is_medium_access(cmd.request.cdb.as_slice())
        {
            dev.medium_access_timed_out = 0;
        }
        let print_block = status != BlkStatus::Ok && !cmd.request.passthrough && !cmd.request.quiet;
        let block = cmd.request.block;
        let (attempts, good_bytes, token) = (cmd.attempts, cmd.good_bytes, cmd.request.token);
        if print_block && self.console.allow_block(now) {
            lines += 1;
            self.trace(now, || TraceEvent::BlockError {
                device,
                status,
                block,
            });
        }
        self.trace(now, || TraceEvent::Completed {
            device,
            tag,
            token,
            status,
            attempts,
            good_bytes,
        });
        // The completion is built where it goes (no copy of it), then the slot is freed.
        match self.console.print(now, lines) {
            Some(end) => {
                let completion = self.completion_of(slot, status, tag);
                self.console.hold(end, completion);
                self.rare_timers.arm(end, RareTimer::Console);
            }
            None => {
                let completion = self.completion_of(slot, status, tag);
                self.actions.push_back(Action::Complete(completion));
            }
        }
        self.slab.free(slot);
        self.stats.completed += 1;
    }
}

impl MidLayer {
    /// The caller's completion of the live command in `slot`, read in place.
    #[inline(always)]
    fn completion_of(&self, slot: u32, status: BlkStatus, tag: Tag) -> Completion {
        let cmd = self.slab.command(slot);
        Completion {
            token: cmd.request.token,
            device: cmd.device,
            status,
            result: cmd.result,
            sense: *self.slab.sense(slot),
            attempts: cmd.attempts,
            counted_retries: cmd.counted_retries,
            good_bytes: cmd.good_bytes,
            resid: cmd.resid,
            tag_number: tag.number(),
        }
    }
}

/// The same READ/WRITE past its first `done` blocks, through unjam-scsi's extent codec
/// (READ(6)/WRITE(6) with transfer length 0 move 256 blocks). `None` when nothing is left
/// or the CDB is not a read or write.
fn advance_extent(cdb: &Cdb, done: u32) -> Option<Cdb> {
    let (lba, blocks) = lba_and_block_count(cdb.as_slice())?;
    let left = blocks.checked_sub(done).filter(|left| *left > 0)?;
    with_lba_and_block_count(cdb.as_slice(), lba.checked_add(u64::from(done))?, left)
}

/// sd's fallback after ILLEGAL REQUEST 20/00: READ(10)/WRITE(10) as READ(6)/WRITE(6), when
/// the LBA fits 21 bits and the count 256 blocks.
fn six_byte(cdb: &Cdb) -> Option<Cdb> {
    let (lba, blocks) = lba_and_block_count(cdb.as_slice())?;
    let lba = u32::try_from(lba).ok()?;
    let blocks = u16::try_from(blocks).ok()?;
    match cdb.opcode() {
        opcode::READ_10 => Read6 { lba, blocks }.build().ok(),
        opcode::WRITE_10 => Write6 { lba, blocks }.build().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod cdb_tests {
    use super::*;

    #[test]
    fn advancing_a_read6_of_256_blocks_leaves_253() {
        // Transfer length 0 is 256 blocks (SBC-4): 3 done leave 253, not an overrun.
        let read6 = Cdb::from_array([0x08, 0, 0x10, 0, 0, 0]);
        let moved = advance_extent(&read6, 3).unwrap();
        assert_eq!(moved.as_slice(), &[0x08, 0, 0x10, 3, 253, 0]);
        assert_eq!(advance_extent(&read6, 256), None, "nothing left");
        let read10 = Cdb::from_array([0x28, 0, 0, 0x05, 0x58, 0x70, 0, 0, 0x10, 0]);
        let moved = advance_extent(&read10, 3).unwrap();
        assert_eq!(
            moved.as_slice(),
            &[0x28, 0, 0, 0x05, 0x58, 0x73, 0, 0, 0x0d, 0]
        );
        assert_eq!(advance_extent(&Cdb::from_array([0u8; 6]), 1), None);
    }

    #[test]
    fn six_byte_fallback() {
        let read10 = Cdb::from_array([0x28, 0, 0, 0x01, 0x02, 0x03, 0, 0, 0x08, 0]);
        assert_eq!(
            six_byte(&read10).unwrap().as_slice(),
            &[0x08, 0x01, 0x02, 0x03, 0x08, 0]
        );
        let far = Cdb::from_array([0x28, 0, 0x10, 0, 0, 0, 0, 0, 8, 0]);
        assert_eq!(six_byte(&far), None);
    }
}

//! `scsi_decide_disposition` (spec §2.1) and the error handler's verdict on its own
//! commands, `scsi_eh_completed_normally` (§6.4 step 0).

use unjam_scsi::cdb::opcode;
use unjam_scsi::{Disposition, HostByte, MlStatus, SamStatus, ScsiResult};

use super::check_sense::{check_sense, SenseVerdict};
use super::retry::{noretry_cmd, retry_allowed, RetryCounter};
use super::{CommandView, DeviceView, Effects};
use crate::buffers::SenseBuffer;
use crate::request::cmd_flags;

/// The row of a GOOD status (also named by the mid-layer's fast path for a clean GOOD).
pub const RULE_GOOD: &str = "GOOD → SUCCESS";

/// The verdict on one completion.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Decision {
    pub disposition: Disposition,
    /// The result word after the rules (ml byte set, DID_ABORT turned into DID_TIME_OUT...).
    pub result: ScsiResult,
    /// The row of §2.1 that fired.
    pub rule: &'static str,
    /// For maybe_retry: the row of the retry rule (`None` when maybe_retry was not reached).
    pub retry_rule: Option<&'static str>,
    /// The check_sense row, when it was consulted.
    pub sense_rule: Option<&'static str>,
    pub effects: Effects,
}

impl Decision {
    fn new(disposition: Disposition, result: ScsiResult, rule: &'static str) -> Decision {
        Decision {
            disposition,
            result,
            rule,
            retry_rule: None,
            sense_rule: None,
            effects: Effects::default(),
        }
    }
}

/// `scsi_decide_disposition`. May increment `counter.retries` (maybe_retry).
pub fn decide_disposition(
    cmd: &CommandView<'_>,
    device: &DeviceView,
    counter: &mut RetryCounter,
) -> Decision {
    use Disposition::{AddToMlQueue, Failed, NeedsRetry, Success};
    let result = cmd.result;
    if !device.online {
        return Decision::new(Success, result, "device offline → SUCCESS");
    }
    let decision = Decision::new;
    match result.host() {
        HostByte::DID_PASSTHROUGH => decision(
            Success,
            result.with_host(HostByte::DID_OK),
            "DID_PASSTHROUGH → clear host byte, SUCCESS",
        ),
        HostByte::DID_OK => status_switch(cmd, device, counter),
        HostByte::DID_ABORT if cmd.abort_scheduled => decision(
            Success,
            result.with_host(HostByte::DID_TIME_OUT),
            "DID_ABORT with ABORT_SCHEDULED → DID_TIME_OUT, SUCCESS",
        ),
        HostByte::DID_ABORT => decision(Success, result, "DID_ABORT → SUCCESS"),
        HostByte::DID_NO_CONNECT | HostByte::DID_BAD_TARGET => {
            decision(Success, result, "DID_NO_CONNECT/DID_BAD_TARGET → SUCCESS")
        }
        HostByte::DID_IMM_RETRY => decision(
            NeedsRetry,
            result,
            "DID_IMM_RETRY → NEEDS_RETRY (not counted)",
        ),
        HostByte::DID_REQUEUE => decision(AddToMlQueue, result, "DID_REQUEUE → ADD_TO_MLQUEUE"),
        HostByte::DID_TRANSPORT_FAILFAST | HostByte::DID_TRANSPORT_MARGINAL => {
            decision(Success, result, "DID_TRANSPORT_FAILFAST/MARGINAL → SUCCESS")
        }
        HostByte::DID_ERROR if result.status() == SamStatus::RESERVATION_CONFLICT => {
            status_switch(cmd, device, counter)
        }
        HostByte::DID_SOFT_ERROR
        | HostByte::DID_TRANSPORT_DISRUPTED
        | HostByte::DID_ERROR
        | HostByte::DID_BUS_BUSY
        | HostByte::DID_PARITY => maybe_retry(
            decision(Success, result, host_retry_rule(result.host())),
            cmd,
            counter,
        ),
        HostByte::DID_TIME_OUT
            if matches!(
                cmd.request.cdb.opcode(),
                opcode::TEST_UNIT_READY | opcode::INQUIRY
            ) =>
        {
            decision(Success, result, "DID_TIME_OUT on TUR/INQUIRY → SUCCESS")
        }
        HostByte::DID_TIME_OUT => decision(Failed, result, "DID_TIME_OUT → FAILED (error handler)"),
        HostByte::DID_RESET => decision(
            Success,
            result,
            "DID_RESET → SUCCESS (retried on completion)",
        ),
        _ => decision(Failed, result, "other host byte → FAILED"),
    }
}

fn host_retry_rule(host: HostByte) -> &'static str {
    match host {
        HostByte::DID_SOFT_ERROR => "DID_SOFT_ERROR → maybe_retry",
        HostByte::DID_TRANSPORT_DISRUPTED => "DID_TRANSPORT_DISRUPTED → maybe_retry",
        HostByte::DID_ERROR => "DID_ERROR → maybe_retry",
        HostByte::DID_BUS_BUSY => "DID_BUS_BUSY → maybe_retry",
        _ => "DID_PARITY → maybe_retry",
    }
}

fn status_switch(
    cmd: &CommandView<'_>,
    device: &DeviceView,
    counter: &mut RetryCounter,
) -> Decision {
    use Disposition::{AddToMlQueue, Failed, Success};
    let result = cmd.result;
    let decision = Decision::new;
    match result.status() {
        SamStatus::TASK_SET_FULL => {
            let mut full = decision(
                AddToMlQueue,
                result,
                "TASK SET FULL → lower depth, ADD_TO_MLQUEUE",
            );
            full.effects.queue_full = true;
            full
        }
        SamStatus::BUSY => decision(AddToMlQueue, result, "BUSY → ADD_TO_MLQUEUE"),
        SamStatus::GOOD => good(cmd, device),
        SamStatus::COMMAND_TERMINATED => decision(Success, result, "COMMAND TERMINATED → SUCCESS"),
        SamStatus::TASK_ABORTED => maybe_retry(
            decision(Success, result, "TASK ABORTED → maybe_retry"),
            cmd,
            counter,
        ),
        SamStatus::CHECK_CONDITION => check_condition(cmd, device, counter),
        SamStatus::CONDITION_MET
        | SamStatus::INTERMEDIATE
        | SamStatus::INTERMEDIATE_CONDITION_MET
        | SamStatus::ACA_ACTIVE => decision(
            Success,
            result,
            "CONDITION MET/INTERMEDIATE/ACA ACTIVE → SUCCESS",
        ),
        SamStatus::RESERVATION_CONFLICT => {
            let mut conflict = decision(
                Success,
                result.with_ml(MlStatus::RESV_CONFLICT),
                "RESERVATION CONFLICT → ml RESV_CONFLICT, SUCCESS",
            );
            conflict.effects.reservation_conflict = true;
            conflict
        }
        _ => decision(Failed, result, "other status → FAILED"),
    }
}

fn good(cmd: &CommandView<'_>, device: &DeviceView) -> Decision {
    let mut result = cmd.result;
    let mut decision = Decision::new(Disposition::Success, result, RULE_GOOD);
    if cmd.request.cdb.opcode() == opcode::REPORT_LUNS {
        decision.effects.lun_change = Some(false);
    }
    if cmd.sense.is_valid() {
        // check_sense only for its effect on the ml byte; its verdict is ignored.
        let verdict = check_sense(
            cmd.sense,
            cmd.request.cdb.opcode(),
            cmd.submitted_by_eh,
            device,
        );
        if let Some(ml) = verdict.ml {
            result = result.with_ml(ml);
        }
        decision.result = result;
    }
    decision
}

fn check_condition(
    cmd: &CommandView<'_>,
    device: &DeviceView,
    counter: &mut RetryCounter,
) -> Decision {
    let verdict = check_sense(
        cmd.sense,
        cmd.request.cdb.opcode(),
        cmd.submitted_by_eh,
        device,
    );
    let result = verdict.ml.map_or(cmd.result, |ml| cmd.result.with_ml(ml));
    let mut decision = Decision::new(verdict.disposition, result, "CHECK CONDITION → check_sense");
    decision.sense_rule = Some(verdict.rule);
    decision.effects = sense_effects(&verdict);
    if verdict.disposition != Disposition::NeedsRetry {
        return decision;
    }
    decision.disposition = Disposition::Success;
    maybe_retry(decision, cmd, counter)
}

fn sense_effects(verdict: &SenseVerdict) -> Effects {
    Effects {
        clear_cc_ua: verdict.clear_cc_ua,
        lun_change: verdict.set_lun_change.then_some(true),
        failfast_dev_quiet: verdict.failfast_dev_quiet,
        report: verdict.report,
        ..Effects::default()
    }
}

/// maybe_retry: `retry_allowed` (which counts) first, then `!noretry`.
fn maybe_retry(
    mut decision: Decision,
    cmd: &CommandView<'_>,
    counter: &mut RetryCounter,
) -> Decision {
    let mut request = *cmd.request;
    if decision.effects.failfast_dev_quiet {
        request.block.cmd_flags |= cmd_flags::FAILFAST_DEV;
        request.quiet = true;
    }
    let allowed = retry_allowed(counter);
    decision.effects.counted_retry = counter.allowed != super::RETRIES_NO_LIMIT;
    let (disposition, rule) = if !allowed {
        (Disposition::Success, "retries exhausted → SUCCESS")
    } else if noretry_cmd(decision.result, &request) {
        (
            Disposition::Success,
            "failfast/passthrough (noretry) → SUCCESS",
        )
    } else {
        (Disposition::NeedsRetry, "retry allowed → NEEDS_RETRY")
    };
    decision.disposition = disposition;
    decision.retry_rule = Some(rule);
    decision
}

/// The error handler's verdict on its own command, with the side effects check_sense
/// asked for (a UNIT ATTENTION clears `expecting_cc_ua` and is reported, as for any command).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EhVerdict {
    pub disposition: Disposition,
    pub effects: Effects,
}

/// `scsi_eh_completed_normally`: the verdict on a command the error handler sent itself
/// (TUR, START UNIT, REQUEST SENSE): SUCCESS, NEEDS_RETRY or FAILED.
pub fn eh_completed_normally(
    result: ScsiResult,
    sense: &SenseBuffer,
    opcode_byte: u8,
    device: &DeviceView,
) -> EhVerdict {
    use Disposition::{Failed, NeedsRetry, Success};
    let mut effects = Effects::default();
    let mut sensed = || {
        let verdict = check_sense(sense, opcode_byte, true, device);
        effects = sense_effects(&verdict);
        verdict.disposition
    };
    let verdict = match (result.host(), result.status()) {
        (HostByte::DID_RESET, _) => sensed(),
        (host, _) if host != HostByte::DID_OK => Failed,
        (_, SamStatus::GOOD) | (_, SamStatus::COMMAND_TERMINATED) => Success,
        (_, SamStatus::CHECK_CONDITION) => sensed(),
        (_, SamStatus::CONDITION_MET)
        | (_, SamStatus::INTERMEDIATE)
        | (_, SamStatus::INTERMEDIATE_CONDITION_MET) => Success,
        (_, SamStatus::RESERVATION_CONFLICT) if opcode_byte == opcode::TEST_UNIT_READY => Success,
        (_, SamStatus::TASK_SET_FULL) | (_, SamStatus::BUSY) => NeedsRetry,
        _ => Failed,
    };
    let disposition = match verdict {
        Disposition::AddToMlQueue => NeedsRetry,
        Success | NeedsRetry | Failed => verdict,
        _ => Failed,
    };
    EhVerdict {
        disposition,
        effects,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

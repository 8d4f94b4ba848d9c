//! One human line per trace event, in the style of seed 002 §8's "path taken" and seed
//! 000's walk-through: what happened and which rule decided it.

use unjam_scsi::disposition::QueueReason;

use crate::eh::EhScope;
use crate::midlayer::MidLayer;
use crate::trace::{RejectReason, RequeueWhy, TraceEvent, TraceRecord};

/// The line for `record`, or `None` for events the narration leaves out.
pub fn describe(record: &TraceRecord, mid: &MidLayer) -> Option<String> {
    lifecycle_line(&record.event, mid)
        .or_else(|| timeout_line(&record.event))
        .or_else(|| eh_line(&record.event, mid))
}

fn disk(mid: &MidLayer, device: crate::topology::DeviceId) -> String {
    mid.device_label(device)
        .map_or_else(|| "?".to_string(), |l| format!("{} [{}]", l.hctl, l.disk))
}

/// Submission, dispatch, completion, disposition, requeue and the final completion.
fn lifecycle_line(event: &TraceEvent, mid: &MidLayer) -> Option<String> {
    let disk = |device| disk(mid, device);
    Some(match *event {
        TraceEvent::Submitted { device, .. } => format!("submitted to {}", disk(device)),
        TraceEvent::Dispatched { tag, attempt, .. } => {
            format!(
                "attempt {attempt}: dispatched as tag#{} (scsi_queue_rq → queuecommand)",
                tag.number()
            )
        }
        TraceEvent::Rejected { reason, .. } => format!(
            "rejected at dispatch: device {} (scsi_device_state_check)",
            match reason {
                RejectReason::Offline => "offline",
                RejectReason::Dead => "deleted",
                RejectReason::Cancelled => "being removed",
            }
        ),
        TraceEvent::DispatchRefused { reason, .. } => {
            format!("transport refused the command ({reason:?}); requeued")
        }
        TraceEvent::TransportDone {
            result,
            sense,
            resid,
            ..
        } => transport_done_line(result, &sense, resid),
        TraceEvent::StaleCompletion { tag } => {
            format!("  stale completion for tag#{} ignored", tag.number())
        }
        TraceEvent::LateCompletionDropped { .. } => {
            "  late completion dropped: the timeout had already claimed the command".to_string()
        }
        TraceEvent::Disposition { decision, .. } => disposition_line(&decision),
        TraceEvent::SenseReported { report, .. } => {
            format!("  scsi_report_sense: \"{}\"", report.message())
        }
        TraceEvent::ReservationConflict { .. } => "  reservation conflict logged".to_string(),
        TraceEvent::RuntimeExceeded { waited_s, .. } => {
            format!("  runtime cap reached ((allowed+1) × timeout = {waited_s}s): finish now")
        }
        TraceEvent::RepreparedTooOften { repreps, .. } => format!(
            "  prepared again {repreps} times without a good byte: unjam's bound ends it (the kernel loops)"
        ),
        TraceEvent::Requeued { why, counted, .. } => requeue_line(why, counted),
        TraceEvent::CompletionRule {
            rule, good_bytes, ..
        } => {
            format!("  scsi_io_completion: {rule} ({good_bytes} bytes good)")
        }
        TraceEvent::DeviceStateChanged { device, from, to } => {
            format!("  {}: {} → {}", disk(device), from.name(), to.name())
        }
        TraceEvent::FailurePrinted { .. }
        | TraceEvent::RecoveredPrinted { .. }
        | TraceEvent::BlockError { .. } => return None,
        TraceEvent::UnalignedResid { resid, .. } => {
            format!("  unaligned residual {resid} rounded up")
        }
        TraceEvent::Completed {
            status,
            attempts,
            good_bytes,
            ..
        } => format!(
            "completed upward: {} ({}) after {attempts} attempt(s), {good_bytes} bytes good",
            status.kernel_name(),
            status.errno()
        ),
        _ => return None,
    })
}

/// The timeout path: hook, poll, claim, abort.
fn timeout_line(event: &TraceEvent) -> Option<String> {
    Some(match *event {
        TraceEvent::TimedOut { hook, age, .. } => {
            format!(
                "  timed out after {:.3}s (eh_timed_out: {hook:?})",
                age.as_secs_f64()
            )
        }
        TraceEvent::TimerReset {
            resets,
            limit_reached: false,
            ..
        } => {
            format!("  timer re-armed (reset #{resets})")
        }
        TraceEvent::TimerReset {
            limit_reached: true,
            ..
        } => "  re-arming stopped at the runtime cap; going on as NOT_HANDLED".to_string(),
        TraceEvent::PollStarted { .. } => {
            "  poll before abort: asking the transport to reap missed completions".to_string()
        }
        TraceEvent::PollFoundNothing { .. } => {
            "  poll found nothing: the command is still missing".to_string()
        }
        TraceEvent::AbortScheduled { .. } => {
            "  claimed by the timeout; abort scheduled (10 ms)".to_string()
        }
        TraceEvent::AbortSent {
            escalation: true, ..
        } => "    ABORT TASK sent for the timed-out EH command (scsi_abort_eh_cmnd)".to_string(),
        TraceEvent::AbortSent { .. } => "  ABORT TASK sent (eh_abort_handler)".to_string(),
        TraceEvent::AbortDone { result, .. } => format!("  abort answered: {result:?}"),
        TraceEvent::AbortRetry { .. } => {
            "  abort succeeded: retry aborted command (DID_TIME_OUT)".to_string()
        }
        TraceEvent::AbortFinish { .. } => {
            "  abort succeeded: finish aborted command (DID_TIME_OUT)".to_string()
        }
        TraceEvent::Escalated { why, .. } => format!("  {why}: DID_TIME_OUT, to the error handler"),
        _ => return None,
    })
}

/// The error handler's steps.
fn eh_line(event: &TraceEvent, mid: &MidLayer) -> Option<String> {
    let disk = |device| disk(mid, device);
    Some(match *event {
        TraceEvent::EhAdded {
            scope: EhScope::Host(_),
            failed,
            busy,
            ..
        } => {
            format!("  scsi_eh_scmd_add: host in recovery (failed {failed}, busy {busy})")
        }
        TraceEvent::EhAdded {
            scope,
            failed,
            busy,
            ..
        } => format!(
            "  handed to the {} error handler; only this {} stops (failed {failed}, busy {busy})",
            scope.name(),
            scope.name()
        ),
        TraceEvent::EhWake {
            failed, devices, ..
        } => {
            format!(
                "error handler wakes: {failed} command(s) on {devices} device(s) (busy == failed)"
            )
        }
        TraceEvent::EhStep { step, .. } => format!("  EH step: {step}"),
        TraceEvent::ScopeEhWake { scope, commands } => format!(
            "{} error handler wakes: {commands} command(s) (scope busy == failed); only this {} stops",
            scope.name(),
            scope.name()
        ),
        TraceEvent::ScopeEhFallback {
            scope,
            to,
            commands,
        } => format!(
            "  {} scope could not recover {commands} command(s): fall back to {} scope",
            scope.name(),
            to.name()
        ),
        TraceEvent::ScopeEhDone { scope } => {
            format!("{} error handler done: its devices dispatch again", scope.name())
        }
        TraceEvent::ScopeOfflined { device } => format!(
            "    {} offlined: not ready after {} error recovery (fallback off)",
            disk(device),
            "scoped"
        ),
        TraceEvent::EhCommandSent { command, .. } => {
            format!("    {} sent (eh_timeout)", command.name())
        }
        TraceEvent::EhCommandDone {
            command,
            verdict,
            result,
            sense,
            ..
        } => {
            let mut line = format!(
                "    {} answered: hostbyte={} status={}",
                command.name(),
                result.host(),
                result.status()
            );
            line.push_str(&sense_suffix(&sense).unwrap_or_default());
            line.push_str(&format!(" ⇒ {}", verdict.kernel_name()));
            line
        }
        TraceEvent::ResetSent { kind, .. } => format!("    {kind:?} reset sent"),
        TraceEvent::ResetDone { kind, result, .. } => {
            format!("    {kind:?} reset answered: {result:?}")
        }
        TraceEvent::ResetSkipped { kind, .. } => {
            format!("    {kind:?} reset not supported: skipped")
        }
        TraceEvent::MediumAccessOffline { .. } => {
            "    sd: second medium-access timeout: disk offlined".to_string()
        }
        TraceEvent::DeviceOfflined { device } => format!(
            "    {} offlined: not ready after error recovery",
            disk(device)
        ),
        TraceEvent::FlushRetry { .. } => "  flush done queue: retry".to_string(),
        TraceEvent::FlushFinish { .. } => "  flush done queue: finish".to_string(),
        TraceEvent::HostRestart { .. } => "error handler done: host restarted".to_string(),
        _ => return None,
    })
}

fn sense_suffix(sense: &crate::buffers::SenseBuffer) -> Option<String> {
    let header = sense.header()?;
    Some(format!(
        ", sense {} {:02x}/{:02x}",
        header.key.name().to_uppercase(),
        header.asc,
        header.ascq
    ))
}

fn transport_done_line(
    result: unjam_scsi::ScsiResult,
    sense: &crate::buffers::SenseBuffer,
    resid: u32,
) -> String {
    let mut line = format!(
        "  completed by the transport: hostbyte={} status={}",
        result.host(),
        result.status()
    );
    match sense_suffix(sense) {
        Some(suffix) => line.push_str(&suffix),
        None if result.status().is_check_condition() => line.push_str(", no sense data"),
        None => {}
    }
    if resid > 0 {
        line.push_str(&format!(", resid {resid}"));
    }
    line
}

fn disposition_line(decision: &crate::trace::DispositionTrace) -> String {
    let mut line = format!("  scsi_decide_disposition: {}", decision.rule);
    if let Some(rule) = decision.sense_rule {
        line.push_str(&format!("; scsi_check_sense: {rule}"));
    }
    if let Some(rule) = decision.retry_rule {
        let limit = if decision.allowed < 0 {
            "no limit".to_string()
        } else {
            decision.allowed.to_string()
        };
        line.push_str(&format!(
            "; maybe_retry (retries {}/{limit}): {rule}",
            decision.retries
        ));
    }
    line.push_str(&format!(" ⇒ {}", decision.disposition.kernel_name()));
    line
}

fn requeue_line(why: RequeueWhy, counted: bool) -> String {
    let blocked = match why.queue_reason() {
        Some(QueueReason::EhRetry) => ", EH_RETRY: device_blocked = 3",
        Some(QueueReason::DeviceBusy) => ", DEVICE_BUSY: device_blocked = 3",
        _ => "",
    };
    let what = match why {
        RequeueWhy::NeedsRetry => "retry",
        RequeueWhy::AddToMlQueue => "requeue",
        RequeueWhy::AbortRetry => "retry after abort",
        RequeueWhy::FlushRetry => "retry after recovery",
        RequeueWhy::CompletionRetry => "completion action RETRY",
        RequeueWhy::CompletionDelayedRetry => "completion action DELAYED_RETRY",
        RequeueWhy::Reprep => "prepared again (REPREP)",
        RequeueWhy::DelayedReprep => "prepared again in 1000 ms (DELAYED_REPREP)",
        RequeueWhy::DispatchRefused => "transport busy",
    };
    let counted = if counted { "counted" } else { "not counted" };
    format!("  {what}: requeued at the head ({counted}{blocked})")
}

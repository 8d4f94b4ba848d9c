//! What the runner does with the driver's outputs: completions go back to the workloads;
//! core trace records and target notes become `--trace` JSON lines, kernel log lines,
//! per-LUN counters, blocked windows and error-handling records.

use unjam_core::action::{ResetKind, TmfResult};
use unjam_core::eh::EhScope;
use unjam_core::harness::{describe, Output};
use unjam_core::state::{DeviceState, HostState};
use unjam_core::topology::DeviceId;
use unjam_core::trace::{TraceEvent, TraceRecord};
use unjam_multipath::PathEvent;

use super::output::{dmesg_line, write_json_line, TraceLine};
use super::setup::address_of;
use super::{io, Runner};
use crate::report::Counter;
use crate::transport::SimNote;

/// Handles one output of the driver.
pub(super) fn handle(runner: &mut Runner, output: Output<SimNote>) {
    match output {
        Output::Completed(completion) => {
            // The multipath layer's tokens count as activity when they complete a
            // caller's request (its checker runs all the time).
            if unjam_multipath::is_multipath_token(completion.token) {
                super::mpath::core_completed(runner, &completion);
            } else {
                runner.last_activity_ns = runner.now.as_nanos();
                io::completed(runner, &completion);
            }
        }
        Output::Traced(record) => observe(runner, &record),
        Output::Note(at, note) => noted(runner, at.as_nanos(), &note),
    }
}

/// A note of the target: JSON line, transport edges as error-handling records.
fn noted(runner: &mut Runner, t_ns: u64, note: &SimNote) {
    let device = match note {
        SimNote::TargetDone { device, .. }
        | SimNote::TmfDone { device, .. }
        | SimNote::Misuse { device, .. } => Some(address_of(&runner.luns, *device).to_string()),
        SimNote::TransportDown { devices, .. } | SimNote::TransportUp { devices } => {
            Some(devices.clone())
        }
    };
    write_trace(runner, t_ns, "sim", device.as_deref(), note);
    let now_us = t_ns / 1000;
    match note {
        SimNote::TransportDown { devices, .. } => {
            let devices = devices.clone();
            runner
                .recorder
                .eh_event(now_us, "transport", "transport_down", devices, "down");
        }
        SimNote::TransportUp { devices } => {
            let devices = devices.clone();
            runner
                .recorder
                .eh_event(now_us, "transport", "transport_up", devices, "up");
        }
        SimNote::Misuse { tag, error, .. } => {
            let text = format!(
                "target refused {} {tag:?}: {error}",
                device.unwrap_or_default()
            );
            runner.violation(text);
        }
        _ => {}
    }
}

/// A trace record of the core: JSON line, kernel log lines, counters, blocked windows,
/// error-handling records.
fn observe(runner: &mut Runner, record: &TraceRecord) {
    if runner.trace.is_some() {
        let device = record
            .event
            .device()
            .map(|d| address_of(&runner.luns, d).to_string());
        write_trace(
            runner,
            record.at.as_nanos(),
            "core",
            device.as_deref(),
            &record.event,
        );
    }
    kernel_lines(runner, record);
    path_line(runner, record);
    polls(runner, &record.event);
    count(runner, &record.event);
    blocked_windows(runner, &record.event);
    eh_record(runner, &record.event);
}

/// The kernel's log lines of `record`: to `--kernel-log` and (bounded) to the report.
fn kernel_lines(runner: &mut Runner, record: &TraceRecord) {
    let Some(log) = runner.kernel_log.as_mut() else {
        return;
    };
    log.record(record, &runner.driver.mid);
    let lines = log.take_lines();
    if lines.is_empty() {
        return;
    }
    let t_ns = record.at.as_nanos();
    let mut failed = None;
    if let Some(out) = runner.kernel_out.as_mut() {
        for line in &lines {
            if let Err(error) = out.write_all(dmesg_line(t_ns, line).as_bytes()) {
                failed = Some(error);
            }
        }
    }
    for line in lines {
        runner.recorder.kernel_line(t_ns / 1000, line);
    }
    if let Some(error) = failed {
        runner.kernel_out = None;
        runner.violation(format!("writing the kernel log: {error}"));
    }
    if runner.kernel_out.is_none() && !runner.recorder.wants_kernel_lines() {
        // The report has all it keeps and nobody else wants the lines: stop (the report
        // says the log was cut).
        runner.kernel_log = None;
        runner.recorder.cut(false, true);
    }
}

/// The narrated path (attempts, answers, dispositions, EH steps), for the report.
fn path_line(runner: &mut Runner, record: &TraceRecord) {
    if !runner.recorder.wants_path() {
        if runner.recorder.path_complete() && describe(record, &runner.driver.mid).is_some() {
            runner.recorder.cut(true, false);
        }
        return;
    }
    if let Some(text) = describe(record, &runner.driver.mid) {
        let device = record
            .event
            .device()
            .map(|d| address_of(&runner.luns, d).to_string());
        runner
            .recorder
            .path_line(record.at.as_nanos() / 1000, device, text);
    }
}

/// Polls of timed-out commands, and whether they found the completion.
fn polls(runner: &mut Runner, event: &TraceEvent) {
    let now_us = runner.now_us();
    match *event {
        TraceEvent::PollStarted { device, tag } => {
            runner
                .recorder
                .poll_started(device.0 as usize, now_us, tag_key(tag))
        }
        TraceEvent::PollFoundNothing { device, tag } => runner
            .recorder
            .poll_found_nothing(device.0 as usize, tag_key(tag)),
        _ => {}
    }
}

fn tag_key(tag: unjam_core::Tag) -> u64 {
    (u64::from(tag.generation) << 32) | u64::from(tag.slot)
}

pub(super) fn write_trace(
    runner: &mut Runner,
    t_ns: u64,
    source: &'static str,
    device: Option<&str>,
    event: &impl serde::Serialize,
) {
    let Some(out) = runner.trace.as_mut() else {
        return;
    };
    let line = TraceLine {
        t_ns,
        source,
        device,
        event,
    };
    if let Err(error) = write_json_line(out.as_mut(), &line) {
        runner.trace = None;
        runner.violation(format!("writing the trace: {error}"));
    }
}

/// The per-LUN counters of the summary.
fn count(runner: &mut Runner, event: &TraceEvent) {
    let (device, counter) = match *event {
        TraceEvent::Dispatched { device, .. } => (device, Counter::Dispatched),
        TraceEvent::TimedOut { device, .. } => (device, Counter::Timeouts),
        TraceEvent::Requeued {
            device,
            counted: true,
            ..
        } => (device, Counter::Retries),
        TraceEvent::AbortSent { device, .. } => (device, Counter::Aborts),
        TraceEvent::ResetSent { device, .. } => (device, Counter::Resets),
        _ => return,
    };
    runner.recorder.count(device.0 as usize, counter);
}

/// A LUN is blocked while its host is in recovery, a LUN- or target-scope handler covering
/// it runs, or the device itself is blocked.
fn blocked_windows(runner: &mut Runner, event: &TraceEvent) {
    match *event {
        TraceEvent::HostStateChanged { host, to, .. } => {
            let recovering = matches!(
                to,
                HostState::Recovery | HostState::CancelRecovery | HostState::DelRecovery
            );
            let Some(number) = runner.driver.mid.host_number(host) else {
                return;
            };
            if let Some(flag) = runner.host_recovering.get_mut(number as usize) {
                *flag = recovering;
            }
            for lane in 0..runner.luns.len() {
                if runner.luns[lane].address.host == number {
                    refresh_blocked(runner, lane);
                }
            }
        }
        TraceEvent::DeviceStateChanged { device, to, .. } => {
            let lane = device.0 as usize;
            match to {
                DeviceState::TransportOffline => {
                    super::mpath::path_event(runner, lane, PathEvent::TransportOffline)
                }
                DeviceState::Offline => super::mpath::path_event(runner, lane, PathEvent::Offline),
                _ => {}
            }
            if let Some(flag) = runner.device_blocked.get_mut(lane) {
                *flag = matches!(to, DeviceState::Block | DeviceState::CreatedBlock);
            }
            refresh_blocked(runner, lane);
        }
        TraceEvent::ScopeEhWake { scope, .. } => hold_scope(runner, scope, true),
        TraceEvent::ScopeEhDone { scope } => hold_scope(runner, scope, false),
        TraceEvent::HostEhHoldsTarget { target, held, .. } => {
            hold_scope(runner, EhScope::Target(target), held)
        }
        _ => {}
    }
}

fn hold_scope(runner: &mut Runner, scope: EhScope, hold: bool) {
    let lanes: Vec<usize> = (0..runner.luns.len())
        .filter(|lane| match scope {
            EhScope::Lun(device) => device.0 as usize == *lane,
            EhScope::Target(target) => runner.target_of_path.get(*lane) == Some(&target.0),
            EhScope::Host(_) => false,
        })
        .collect();
    for lane in lanes {
        if let Some(count) = runner.scope_holds.get_mut(lane) {
            *count = if hold {
                *count + 1
            } else {
                count.saturating_sub(1)
            };
        }
        refresh_blocked(runner, lane);
    }
}

fn refresh_blocked(runner: &mut Runner, lane: usize) {
    let host = runner.luns.get(lane).map_or(0, |l| l.address.host) as usize;
    let blocked = runner.host_recovering.get(host).copied().unwrap_or(false)
        || runner.device_blocked.get(lane).copied().unwrap_or(false)
        || runner.scope_holds.get(lane).is_some_and(|c| *c > 0);
    let now_us = runner.now_us();
    if runner.recorder.is_blocked(lane) != blocked {
        let event = if blocked {
            PathEvent::Blocked
        } else {
            PathEvent::Unblocked
        };
        super::mpath::path_event(runner, lane, event);
    }
    runner.recorder.set_blocked(lane, now_us, blocked);
}

/// Error-handling steps for the `eh_events` list and the timeline.
fn eh_record(runner: &mut Runner, event: &TraceEvent) {
    let now_us = runner.now_us();
    let lun = |device: DeviceId| address_of(&runner.luns, device).to_string();
    let host = |id: unjam_core::topology::HostId| {
        format!("host{}", runner.driver.mid.host_number(id).unwrap_or(id.0))
    };
    let (scope, step, device, outcome): (&str, String, String, String) = match *event {
        TraceEvent::TimedOut { device, hook, .. } => (
            "command",
            "timeout".into(),
            lun(device),
            format!("{hook:?}").to_ascii_lowercase(),
        ),
        TraceEvent::AbortDone { device, result, .. } => (
            "command",
            "abort".into(),
            lun(device),
            tmf_outcome(result).into(),
        ),
        TraceEvent::EhWake {
            host: id, failed, ..
        } => (
            "host",
            "eh_start".into(),
            host(id),
            format!("{failed} failed"),
        ),
        TraceEvent::EhStep { scope, step, .. } => {
            let (scope, device) = scope_names(runner, scope);
            (scope, snake(step), device, "started".into())
        }
        TraceEvent::EhCommandDone {
            device,
            command,
            verdict,
            ..
        } => (
            "lun",
            snake(command.name()),
            lun(device),
            verdict.kernel_name().to_ascii_lowercase(),
        ),
        TraceEvent::ResetDone {
            device,
            kind,
            result,
            ..
        } => (
            reset_scope(kind),
            reset_step(kind),
            lun(device),
            tmf_outcome(result).into(),
        ),
        TraceEvent::ResetSkipped { device, kind } => (
            reset_scope(kind),
            reset_step(kind),
            lun(device),
            "not_supported".into(),
        ),
        TraceEvent::DeviceOfflined { device } => {
            ("lun", "offline".into(), lun(device), "offline".into())
        }
        TraceEvent::MediumAccessOffline { device, .. } => (
            "lun",
            "medium_access_offline".into(),
            lun(device),
            "offline".into(),
        ),
        TraceEvent::HostRestart { host: id } => ("host", "restart".into(), host(id), "done".into()),
        TraceEvent::ScopeEhWake { scope, commands } => {
            let (name, device) = scope_names(runner, scope);
            (
                name,
                "eh_start".into(),
                device,
                format!("{commands} failed"),
            )
        }
        TraceEvent::ScopeEhFallback { scope, to, .. } => {
            let (name, device) = scope_names(runner, scope);
            (
                name,
                "fallback".into(),
                device,
                format!("to {}", scope_names(runner, to).0),
            )
        }
        TraceEvent::ScopeEhDone { scope } => {
            let (name, device) = scope_names(runner, scope);
            (name, "eh_done".into(), device, "done".into())
        }
        TraceEvent::ScopeOfflined { device } => {
            ("lun", "offline".into(), lun(device), "offline".into())
        }
        _ => return,
    };
    runner.last_activity_ns = runner.now.as_nanos();
    runner
        .recorder
        .eh_event(now_us, scope, &step, device, &outcome);
}

/// The scope's name and the device (or `targetN` / `hostN`) it covers.
fn scope_names(runner: &Runner, scope: EhScope) -> (&'static str, String) {
    match scope {
        EhScope::Lun(device) => ("lun", address_of(&runner.luns, device).to_string()),
        EhScope::Target(target) => {
            let lane = runner.target_of_path.iter().position(|t| *t == target.0);
            let name = lane
                .and_then(|lane| runner.luns.get(lane))
                .map(|l| {
                    format!(
                        "{}:{}:{}",
                        l.address.host, l.address.channel, l.address.target
                    )
                })
                .unwrap_or_else(|| format!("target{}", target.0));
            ("target", name)
        }
        EhScope::Host(host) => (
            "host",
            format!(
                "host{}",
                runner.driver.mid.host_number(host).unwrap_or(host.0)
            ),
        ),
    }
}

fn tmf_outcome(result: TmfResult) -> &'static str {
    match result {
        TmfResult::Success => "success",
        TmfResult::Failed => "failed",
        TmfResult::FastIoFail => "fast_io_fail",
    }
}

fn reset_scope(kind: ResetKind) -> &'static str {
    match kind {
        ResetKind::Lun => "lun",
        ResetKind::Target => "target",
        ResetKind::Bus | ResetKind::Host => "host",
    }
}

fn reset_step(kind: ResetKind) -> String {
    match kind {
        ResetKind::Lun => "lun_reset",
        ResetKind::Target => "target_reset",
        ResetKind::Bus => "bus_reset",
        ResetKind::Host => "host_reset",
    }
    .to_string()
}

fn snake(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

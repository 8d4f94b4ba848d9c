//! The glue between the core's actions and the target: each action becomes a target call,
//! each target event a `handle_*` call on the core; trace events become JSON lines, blocked
//! windows and error-handling records.

use std::io::Write;

use unjam_core::action::{Action, ResetKind, TmfOp, TmfResult};
use unjam_core::buffers::SenseBuffer;
use unjam_core::eh::EhScope;
use unjam_core::request::TransportOutcome;
use unjam_core::state::{DeviceState, HostState};
use unjam_core::topology::DeviceId;
use unjam_core::trace::{TraceEvent, TraceRecord};
use unjam_scsi::disposition::QueueReason;
use unjam_scsi::{MlStatus, ScsiResult};

use super::setup::address_of;
use super::{io, tag_key, tag_of, EhTag, Runner};
use crate::fault::{QueueRejection, ResetScope};
use crate::target::{Completion, Queued, TargetEvent};

/// Carries out one action of the core.
pub(super) fn execute(runner: &mut Runner, action: Action) {
    let now_us = runner.now_us();
    match action {
        Action::Dispatch {
            tag,
            device,
            request,
        } => {
            if let Some(checker) = runner.exactly_once.as_mut() {
                checker.dispatched(request.token, tag_key(tag));
            }
            let data_out = io::write_data(runner, request.token);
            let data_in_len = if data_out.is_empty() {
                request.data_len
            } else {
                0
            };
            send(
                runner,
                tag,
                None,
                device,
                request.cdb.as_slice(),
                data_out,
                data_in_len,
            );
        }
        Action::SendEhCommand {
            tag,
            device,
            command,
            cdb,
            ..
        } => {
            let request_sense = command == unjam_core::action::EhCommand::RequestSense;
            let length = if request_sense { 96 } else { 0 };
            let eh = Some(EhTag { request_sense });
            send(runner, tag, eh, device, cdb.as_slice(), Vec::new(), length);
        }
        Action::Abort {
            op,
            tag,
            device,
            cdb,
        } => {
            let address = address_of(&runner.luns, device);
            let key = tag_key(tag);
            runner
                .target
                .abort(now_us, op.0 as u64, key, address, cdb.as_slice());
        }
        Action::Reset {
            op,
            kind,
            device,
            cdb,
        } => {
            let address = address_of(&runner.luns, device);
            let scope = scope_of(kind);
            runner
                .target
                .reset(now_us, op.0 as u64, scope, address, cdb.as_slice());
        }
        Action::Poll { tag, device } => {
            let address = address_of(&runner.luns, device);
            runner.target.poll_host(now_us, address.host);
            while let Some(event) = runner.target.poll_event() {
                deliver(runner, event);
            }
            runner.mid.handle_poll_done(runner.now, tag);
        }
        Action::Revoke { tag, .. } => {
            runner.target.revoke(now_us, tag_key(tag));
            runner.eh_tags.remove(&tag_key(tag));
        }
        Action::Complete(completion) => {
            if let Some(checker) = runner.exactly_once.as_mut() {
                let target = &runner.target;
                let problems = checker.completed(&completion, |key| target.holds(key));
                for problem in problems {
                    runner.violation(format!("at {:?}: {problem}", runner.now));
                }
            }
            runner.last_activity_ns = runner.now.as_nanos();
            io::completed(runner, &completion);
        }
        Action::Trace(record) => observe(runner, &record),
    }
}

fn send(
    runner: &mut Runner,
    tag: unjam_core::Tag,
    eh: Option<EhTag>,
    device: DeviceId,
    cdb: &[u8],
    data_out: Vec<u8>,
    data_in_len: u32,
) {
    let address = address_of(&runner.luns, device);
    let key = tag_key(tag);
    let now_us = runner.now_us();
    match runner
        .target
        .queue_command(now_us, key, address, cdb, data_out, data_in_len)
    {
        Ok(Queued::Accepted) => {
            if let Some(eh) = eh {
                runner.eh_tags.insert(key, eh);
            }
        }
        Ok(Queued::Rejected(reason)) => {
            let reason = match reason {
                QueueRejection::HostBusy => QueueReason::HostBusy,
                QueueRejection::DeviceBusy => QueueReason::DeviceBusy,
                QueueRejection::TargetBusy => QueueReason::TargetBusy,
            };
            runner.mid.handle_dispatch_refused(runner.now, tag, reason);
        }
        Err(error) => {
            runner.violation(format!("target refused {address} {tag:?}: {error}"));
            let outcome = TransportOutcome::host(unjam_scsi::HostByte::DID_ERROR);
            runner.mid.handle_transport_done(runner.now, tag, outcome);
        }
    }
}

/// Hands one target event to the core.
pub(super) fn deliver(runner: &mut Runner, event: TargetEvent) {
    if runner.trace.is_some() {
        trace_target(runner, &event);
    }
    match event {
        TargetEvent::Completed(completion) => completed(runner, completion),
        TargetEvent::TaskManagementDone { id, success, .. } => {
            let result = if success {
                TmfResult::Success
            } else {
                TmfResult::Failed
            };
            runner
                .mid
                .handle_tmf_done(runner.now, TmfOp(id as u32), result);
        }
        TargetEvent::TransportDown { devices, .. } => {
            let now_us = runner.now_us();
            runner.recorder.eh_event(
                now_us,
                "transport",
                "transport_down",
                devices.to_string(),
                "down",
            );
        }
        TargetEvent::TransportUp { devices } => {
            let now_us = runner.now_us();
            runner.recorder.eh_event(
                now_us,
                "transport",
                "transport_up",
                devices.to_string(),
                "up",
            );
        }
    }
}

fn completed(runner: &mut Runner, mut completion: Completion) {
    runner.commands_simulated += 1;
    let tag = tag_of(completion.tag);
    let eh = runner.eh_tags.remove(&completion.tag);
    let mut outcome = TransportOutcome {
        result: ScsiResult::new(completion.host_byte, MlStatus::OK, completion.status),
        sense: completion.sense.as_ref().map_or(SenseBuffer::EMPTY, |s| {
            SenseBuffer::from_slice(s.as_bytes())
        }),
        resid: completion.resid,
    };
    let data = std::mem::take(&mut completion.data_in);
    let token = runner.mid.request(tag).map(|request| request.token);
    match (eh, token) {
        (
            Some(EhTag {
                request_sense: true,
            }),
            _,
        ) => {
            outcome.sense = SenseBuffer::from_slice(&data);
            runner.target.recycle_buffer(data);
        }
        (None, Some(token)) => io::keep_read_data(runner, token, data),
        _ => runner.target.recycle_buffer(data),
    }
    runner.mid.handle_transport_done(runner.now, tag, outcome);
}

fn scope_of(kind: ResetKind) -> ResetScope {
    match kind {
        ResetKind::Lun => ResetScope::Lun,
        ResetKind::Target => ResetScope::Target,
        ResetKind::Bus => ResetScope::Bus,
        ResetKind::Host => ResetScope::Host,
    }
}

/// A trace event of the core: checker, JSON line, blocked windows, EH records.
fn observe(runner: &mut Runner, record: &TraceRecord) {
    if let Some(checker) = runner.checker.as_mut() {
        checker.traced(record);
    }
    if runner.trace.is_some() {
        let device = device_of(&record.event).map(|d| address_of(&runner.luns, d).to_string());
        let line = serde_json::json!({
            "t_ns": record.at.as_nanos(),
            "source": "core",
            "kind": record.event.kind(),
            "device": device,
            "detail": format!("{:?}", record.event),
        });
        write_line(runner, &line);
    }
    blocked_windows(runner, &record.event);
    eh_record(runner, &record.event);
}

fn write_line(runner: &mut Runner, line: &serde_json::Value) {
    if let Some(out) = runner.trace.as_mut() {
        let _ = serde_json::to_writer(&mut *out, line);
        let _ = out.write_all(b"\n");
    }
}

fn trace_target(runner: &mut Runner, event: &TargetEvent) {
    let line = match event {
        TargetEvent::Completed(c) => serde_json::json!({
            "t_ns": runner.now.as_nanos(), "source": "sim", "kind": "target_done",
            "device": c.address.to_string(), "tag": c.tag,
            "host_byte": c.host_byte.to_string(), "status": c.status.to_string(),
            "sense": c.sense.as_ref().map(|s| format!("{s:?}")), "executed": c.executed,
            "polled": c.polled, "virtio": c.virtio_response.map(|v| v.to_string()),
        }),
        TargetEvent::TaskManagementDone {
            id,
            function,
            address,
            success,
        } => serde_json::json!({
            "t_ns": runner.now.as_nanos(), "source": "sim", "kind": "tmf_done",
            "device": address.to_string(), "op": id, "function": format!("{function:?}"),
            "success": success,
        }),
        TargetEvent::TransportDown { devices, host_byte } => serde_json::json!({
            "t_ns": runner.now.as_nanos(), "source": "sim", "kind": "transport_down",
            "device": devices.to_string(), "host_byte": host_byte.to_string(),
        }),
        TargetEvent::TransportUp { devices } => serde_json::json!({
            "t_ns": runner.now.as_nanos(), "source": "sim", "kind": "transport_up",
            "device": devices.to_string(),
        }),
    };
    write_line(runner, &line);
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
            let Some(number) = runner.mid.host_number(host) else {
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
            if let Some(flag) = runner.device_blocked.get_mut(lane) {
                *flag = matches!(to, DeviceState::Block | DeviceState::CreatedBlock);
            }
            refresh_blocked(runner, lane);
        }
        TraceEvent::ScopeEhWake { scope, .. } => hold_scope(runner, scope, true),
        TraceEvent::ScopeEhDone { scope } => hold_scope(runner, scope, false),
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
    runner.recorder.set_blocked(lane, now_us, blocked);
}

/// Error-handling steps for the `eh_events` list and the timeline.
fn eh_record(runner: &mut Runner, event: &TraceEvent) {
    let now_us = runner.now_us();
    let lun = |device: DeviceId| address_of(&runner.luns, device).to_string();
    let host = |id: unjam_core::topology::HostId| {
        format!("host{}", runner.mid.host_number(id).unwrap_or(id.0))
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
            format!("host{}", runner.mid.host_number(host).unwrap_or(host.0)),
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

/// The device an event names, if any.
fn device_of(event: &TraceEvent) -> Option<DeviceId> {
    let text = format!("{event:?}");
    let start = text.find("device: DeviceId(")? + "device: DeviceId(".len();
    let end = text.get(start..)?.find(')')? + start;
    text.get(start..end)?.parse().ok().map(DeviceId)
}

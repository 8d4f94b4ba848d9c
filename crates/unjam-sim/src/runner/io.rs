//! The workload side of a run: streams issue requests into the core, completions come back
//! to them, and every write and verified read goes through the write ledger (invariant 5).

use unjam_core::buffers::Cdb;
use unjam_core::request::{BlockInfo, BlockOp, Request};
use unjam_core::Completion;
use unjam_scsi::BlkStatus;

use super::{Io, RunError, Runner};
use crate::address::AddressSelector;
use crate::media_command::{rw_cdb, MediaAccess};
use crate::scenario::Scenario;
use crate::workload::{fill_pattern, LunStream, WriteLedger};

/// The most streams one run has.
const MAX_STREAMS: usize = 1 << 20;

pub(super) fn build_streams(runner: &mut Runner, scenario: &Scenario) -> Result<(), RunError> {
    let units = runner.luns.iter().map(|l| l.unit + 1).max().unwrap_or(0);
    runner.streams_of_unit = vec![Vec::new(); units];
    runner.ledgers = (0..units).map(|_| None).collect();
    for spec in &scenario.workloads {
        let selector: AddressSelector = spec
            .luns
            .parse()
            .map_err(|e: crate::address::AddressError| RunError::Scenario(e.to_string()))?;
        for (path, lun) in runner.luns.iter().enumerate() {
            if !selector.matches(&lun.address) {
                continue;
            }
            if runner.streams.len() >= MAX_STREAMS {
                return Err(RunError::Scenario(format!(
                    "more than {MAX_STREAMS} streams"
                )));
            }
            let id = runner.streams.len();
            let stream = LunStream::new(
                spec,
                lun.address,
                lun.block_size,
                scenario.duration_ms,
                scenario.seed,
                id as u64,
            );
            runner.streams.push(stream);
            runner.stream_path.push(path);
            runner.wake_scheduled.push(false);
            if let Some(list) = runner.streams_of_unit.get_mut(lun.unit) {
                list.push(id);
            }
            if spec.verify {
                if let Some(slot) = runner.ledgers.get_mut(lun.unit) {
                    let key = crate::identity::mix(scenario.seed ^ lun.unit as u64);
                    slot.get_or_insert_with(|| WriteLedger::new(key));
                }
            }
        }
    }
    Ok(())
}

/// Issues for every stream whose wake-up is due.
pub(super) fn issue_due(runner: &mut Runner) {
    let now_ns = runner.now.as_nanos();
    while let Some(std::cmp::Reverse((at, stream))) = runner.wakeups.peek().copied() {
        if at > now_ns {
            break;
        }
        runner.wakeups.pop();
        if let Some(flag) = runner.wake_scheduled.get_mut(stream) {
            *flag = false;
        }
        issue_from(runner, stream);
        runner.schedule_stream(stream);
    }
}

/// Issues from `stream` while it wants to at the current time.
fn issue_from(runner: &mut Runner, stream: usize) {
    let now_us = runner.now_us();
    for _ in 0..super::MAX_DRAIN_ROUNDS {
        let Some(at_us) = runner
            .streams
            .get(stream)
            .and_then(|s| s.wants_to_issue_at(now_us))
        else {
            return;
        };
        if at_us > now_us {
            return;
        }
        let Some(unit) = runner
            .stream_path
            .get(stream)
            .and_then(|p| runner.luns.get(*p))
            .map(|l| l.unit)
        else {
            return;
        };
        let ledger = runner.ledgers.get(unit).and_then(Option::as_ref);
        let plan = runner.streams[stream].plan(now_us, ledger);
        match plan {
            Some(plan) => submit(runner, stream, plan),
            None if matches!(
                runner.streams[stream].mode(),
                crate::workload::StreamMode::Closed { .. }
            ) =>
            {
                return
            }
            None => {}
        }
    }
}

fn submit(runner: &mut Runner, stream: usize, plan: crate::workload::IoPlan) {
    let path = runner.stream_path[stream];
    let lun = runner.luns[path];
    let (cdb_bytes, cdb_len) = rw_cdb(plan.access, plan.lba, plan.blocks as u32);
    let Ok(cdb) = Cdb::new(&cdb_bytes[..cdb_len]) else {
        return;
    };
    let bytes = (plan.blocks * lun.block_size as u64) as usize;
    let token = runner.next_token;
    runner.next_token += 1;
    let mut request = Request::new(cdb, token);
    request.data_len = bytes as u32;
    request.block = BlockInfo {
        op: if plan.access == MediaAccess::Write {
            BlockOp::Write
        } else {
            BlockOp::Read
        },
        start_sector: plan.lba * (lun.block_size as u64 / 512),
        cmd_flags: if runner.streams[stream].sync {
            unjam_core::request::cmd_flags::SYNC
        } else {
            0
        },
        phys_segments: 1,
        prio_class: 2,
    };
    let mut data = Vec::new();
    if plan.access == MediaAccess::Write {
        data = runner.target.buffer(bytes);
        if let Some(ledger) = runner.ledgers.get(lun.unit).and_then(Option::as_ref) {
            fill_pattern(
                &mut data,
                lun.block_size,
                plan.lba,
                plan.write_id,
                ledger.key(),
            );
        }
    }
    let device = runner.devices[path];
    let allowed = request
        .allowed
        .unwrap_or_else(|| runner.mid.device_allowed(device).unwrap_or(0));
    if let Some(ledger) = runner.ledgers.get_mut(lun.unit).and_then(Option::as_mut) {
        ledger.begin(plan.lba, plan.blocks);
    }
    runner.ios.insert(
        token,
        Io {
            stream,
            plan,
            submitted: runner.now,
            data,
        },
    );
    runner.streams[stream].issued();
    if runner.mid.submit(runner.now, device, request).is_err() {
        if let Some(io) = runner.ios.remove(&token) {
            let now_us = runner.now_us();
            runner.streams[stream].completed(now_us);
            if let Some(ledger) = runner.ledgers.get_mut(lun.unit).and_then(Option::as_mut) {
                ledger.end(io.plan.lba, io.plan.blocks);
            }
            runner.target.recycle_buffer(io.data);
        }
        return;
    }
    if let Some(checker) = runner.exactly_once.as_mut() {
        checker.submitted(token, allowed);
    }
}

/// The write data of `token`'s request (copied for one dispatch).
pub(super) fn write_data(runner: &mut Runner, token: u64) -> Vec<u8> {
    let Some(len) = runner
        .ios
        .get(&token)
        .filter(|io| io.plan.access == MediaAccess::Write)
        .map(|io| io.data.len())
    else {
        return Vec::new();
    };
    let mut copy = runner.target.buffer(len);
    if let Some(io) = runner.ios.get(&token) {
        copy.copy_from_slice(&io.data);
    }
    copy
}

/// Keeps the data a read attempt returned (the last attempt's data is what the caller gets).
pub(super) fn keep_read_data(runner: &mut Runner, token: u64, data: Vec<u8>) {
    match runner.ios.get_mut(&token) {
        Some(io) if io.plan.access == MediaAccess::Read => {
            let old = std::mem::replace(&mut io.data, data);
            runner.target.recycle_buffer(old);
        }
        _ => runner.target.recycle_buffer(data),
    }
}

/// A request finished upward: count it, check it against the ledger, refill its stream.
pub(super) fn completed(runner: &mut Runner, completion: &Completion) {
    let Some(io) = runner.ios.remove(&completion.token) else {
        return;
    };
    let path = runner.stream_path[io.stream];
    let lun = runner.luns[path];
    let latency_us = runner
        .now
        .saturating_duration_since(io.submitted)
        .as_micros() as u64;
    runner
        .recorder
        .io_done(path, runner.now_us(), latency_us, completion.status);
    let success = completion.status == BlkStatus::Ok;
    let verify = runner.streams[io.stream].verify;
    let media = runner.target.unit(&lun.address).map(|u| &u.media);
    let mut problem = None;
    if let Some(ledger) = runner.ledgers.get_mut(lun.unit).and_then(Option::as_mut) {
        let result = match io.plan.access {
            MediaAccess::Write => ledger.write_finished(
                io.plan.lba,
                io.plan.blocks,
                io.plan.write_id,
                success,
                media,
            ),
            _ if success && verify => {
                ledger.read_finished(io.plan.lba, io.plan.blocks, &io.data, lun.block_size)
            }
            _ => {
                ledger.end(io.plan.lba, io.plan.blocks);
                Ok(())
            }
        };
        problem = result
            .err()
            .map(|e| format!("{} at {:?}: {e}", lun.address, runner.now));
    }
    if let Some(text) = problem {
        runner.violation(text);
    }
    runner.target.recycle_buffer(io.data);
    let now_us = runner.now_us();
    runner.streams[io.stream].completed(now_us);
    if io.submitted == runner.now {
        // Finished in no time (rejected at dispatch): come back in 1 ms, not in a loop.
        if !runner.wake_scheduled[io.stream] {
            let at = runner.now.as_nanos() + 1_000_000;
            runner.wakeups.push(std::cmp::Reverse((at, io.stream)));
            runner.wake_scheduled[io.stream] = true;
        }
        return;
    }
    // Refill at once (closed loop); streams sharing the unit may have waited on its blocks.
    if !runner.wake_scheduled[io.stream] {
        issue_from(runner, io.stream);
        runner.schedule_stream(io.stream);
    }
    let siblings = runner.streams_of_unit.get(lun.unit).map_or(0, Vec::len);
    for index in 0..siblings {
        let sibling = runner
            .streams_of_unit
            .get(lun.unit)
            .and_then(|s| s.get(index));
        if let Some(stream) = sibling.copied().filter(|s| *s != io.stream) {
            runner.schedule_stream(stream);
        }
    }
}

/// Checks every block each ledger knows against the media; returns how many were checked.
pub(super) fn final_sweep(runner: &mut Runner) -> u64 {
    let mut checked = 0;
    let mut problems = Vec::new();
    for (unit, ledger) in runner.ledgers.iter().enumerate() {
        let Some(ledger) = ledger else { continue };
        let Some(lun) = runner.luns.iter().find(|l| l.unit == unit) else {
            continue;
        };
        let Some(logical_unit) = runner.target.unit(&lun.address) else {
            continue;
        };
        match ledger.check_all(&logical_unit.media) {
            Ok(count) => checked += count,
            Err(error) => problems.push(format!("{} at the end: {error}", lun.address)),
        }
    }
    for problem in problems {
        runner.violation(problem);
    }
    checked
}

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
use crate::transport::{Staged, WriteData};
use crate::workload::{LunStream, WriteLedger};

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
        let mut units_taken = vec![false; units];
        for (path, lun) in runner.luns.iter().enumerate() {
            if !selector.matches(&lun.address) {
                continue;
            }
            if spec.multipath {
                // One stream per logical unit, on its multipath device.
                if std::mem::replace(&mut units_taken[lun.unit], true) {
                    continue;
                }
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
            runner.links.push(super::StreamLink {
                path,
                unit: lun.unit,
                device: runner.devices[path],
                block_size: lun.block_size,
                mpath: spec.multipath,
                wake_scheduled: false,
                ledger: false,
                siblings: false,
            });
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
    // What each stream's commands will look up per unit, said once in its link.
    for link in &mut runner.links {
        link.ledger = runner.ledgers.get(link.unit).is_some_and(Option::is_some);
        link.siblings = runner
            .streams_of_unit
            .get(link.unit)
            .is_some_and(|s| s.len() > 1);
    }
    Ok(())
}

/// The write ledger of the unit behind `link`, if its writes are checked (looked up only
/// then: at 4096 LUNs an unchecked run's per-unit table was a cache miss per command).
fn ledger_of<'r>(runner: &'r mut Runner, link: &super::StreamLink) -> Option<&'r mut WriteLedger> {
    match link.ledger {
        true => runner.ledgers.get_mut(link.unit).and_then(Option::as_mut),
        false => None,
    }
}

/// Issues for every stream whose wake-up is due.
pub(super) fn issue_due(runner: &mut Runner) {
    let now_ns = runner.now.as_nanos();
    for _ in 0..super::MAX_DRAIN_ROUNDS {
        let Some(std::cmp::Reverse((at, stream))) = runner.wakeups.peek().copied() else {
            return;
        };
        if at > now_ns {
            return;
        }
        runner.wakeups.pop();
        if let Some(link) = runner.links.get_mut(stream) {
            link.wake_scheduled = false;
        }
        if issue_from(runner, stream) == Issue::Went {
            runner.schedule_stream(stream);
        }
    }
    let text = format!(
        "stream wake-ups did not settle within {} rounds at {:?}",
        super::MAX_DRAIN_ROUNDS,
        runner.now
    );
    runner.violation(text);
    // Let time move on: the wake-ups due now come back in 1 ms (each moves once).
    let later = now_ns + 1_000_000;
    for _ in 0..runner.wakeups.len() {
        match runner.wakeups.peek().copied() {
            Some(std::cmp::Reverse((at, stream))) if at <= now_ns => {
                runner.wakeups.pop();
                runner.wakeups.push(std::cmp::Reverse((later, stream)));
            }
            _ => return,
        }
    }
}

/// How [`issue_from`] ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Issue {
    /// It issued what it could or arranged its own wake-up.
    Went,
    /// A closed-loop stream found no block free of commands in flight: it waits for a
    /// completion on its unit (which wakes it and its siblings). Scheduling it again at
    /// the same instant would spin there for ever (`span_kib = 256`, `io_bytes = 65536`,
    /// `queue_depth = 32` has 4 slots for 32 commands).
    Blocked,
}

/// Issues from `stream` while it wants to at the current time.
fn issue_from(runner: &mut Runner, stream: usize) -> Issue {
    let now_us = runner.now_us();
    for _ in 0..super::MAX_DRAIN_ROUNDS {
        let Some(at_us) = runner
            .streams
            .get(stream)
            .and_then(|s| s.wants_to_issue_at(now_us))
        else {
            return Issue::Went;
        };
        if at_us > now_us {
            return Issue::Went;
        }
        let Some(link) = runner.links.get(stream).copied() else {
            return Issue::Went;
        };
        if link.mpath && super::mpath::device_of(runner, link.path).is_none() {
            // Its paths are still being identified: come back in 1 ms.
            wake_in_1ms(runner, stream);
            return Issue::Went;
        }
        let ledger = link
            .ledger
            .then(|| runner.ledgers.get(link.unit).and_then(Option::as_ref))
            .flatten();
        let plan = runner.streams[stream].plan(now_us, ledger);
        match plan {
            // Refused, or finished at once (a multipath device failing I/O without a
            // path): come back in 1 ms, not in a loop.
            Some(plan) if !submit(runner, stream, plan) => {
                wake_in_1ms(runner, stream);
                return Issue::Went;
            }
            Some(_) => {}
            None if matches!(
                runner.streams[stream].mode(),
                crate::workload::StreamMode::Closed { .. }
            ) =>
            {
                return Issue::Blocked
            }
            None => {}
        }
    }
    Issue::Went
}

/// Schedules `stream` to come back in 1 ms (once: not when a wake-up is scheduled).
fn wake_in_1ms(runner: &mut Runner, stream: usize) {
    if let Some(link) = runner.links.get_mut(stream).filter(|l| !l.wake_scheduled) {
        link.wake_scheduled = true;
        let at = runner.now.as_nanos() + 1_000_000;
        runner.wakeups.push(std::cmp::Reverse((at, stream)));
    }
}

/// Physical segments of an O_DIRECT request from a user buffer: one per 4 KiB page, as the
/// pages a process faults in are not physically adjacent in order (seed 000's 8 KiB read
/// printed `phys_seg 2`; a real 6.1 guest against `unjam vhost-user` prints the same, and
/// 1 for a 4 KiB read).
fn user_buffer_segments(bytes: usize) -> u16 {
    u16::try_from(bytes.div_ceil(4096).max(1)).unwrap_or(u16::MAX)
}

/// Issues one planned request; false when it was refused or already finished.
fn submit(runner: &mut Runner, stream: usize, plan: crate::workload::IoPlan) -> bool {
    let link = runner.links[stream];
    let (cdb_bytes, cdb_len) = rw_cdb(plan.access, plan.lba, plan.blocks as u32);
    let Ok(cdb) = Cdb::from_slice(&cdb_bytes[..cdb_len]) else {
        return false;
    };
    let bytes = (plan.blocks * link.block_size as u64) as usize;
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
        start_sector: plan.lba * (link.block_size as u64 / 512),
        cmd_flags: if runner.streams[stream].sync {
            unjam_core::request::cmd_flags::SYNC
        } else {
            0
        },
        phys_segments: user_buffer_segments(bytes),
        prio_class: 2,
    };
    let write = plan.access == MediaAccess::Write;
    // A read stages no memory: its data arrives with the completion. A write's data is
    // made at each dispatch (a buffer filled now would wait cold in the queues: 64 k
    // requests wait at 4096 LUNs).
    let staged = match write {
        true => Staged::Out(WriteData {
            len: bytes as u32,
            block_size: link.block_size,
            lba: plan.lba,
            write_id: plan.write_id,
            key: ledger_of(runner, &link).map(|l| l.key()),
        }),
        false => Staged::read(),
    };
    if let Some(ledger) = ledger_of(runner, &link) {
        ledger.begin(plan.lba, plan.blocks);
    }
    let io = Io {
        stream,
        plan,
        submitted: runner.now,
    };
    runner.driver.transport.stage(token, staged, Some(io));
    runner.streams[stream].issued();
    let accepted = match link.mpath {
        true => super::mpath::device_of(runner, link.path)
            .is_some_and(|mpath| super::mpath::submit(runner, mpath, request)),
        false => runner.driver.submit(link.device, request).is_ok(),
    };
    if !accepted {
        if let Some((staged, Some(io))) = runner.driver.transport.finish(token) {
            let now_us = runner.now_us();
            runner.streams[stream].completed(now_us);
            if let Some(ledger) = ledger_of(runner, &link) {
                ledger.end(io.plan.lba, io.plan.blocks);
            }
            runner.driver.transport.recycle(staged.into_read_data());
        }
    }
    runner.driver.transport.payload(token).is_some()
}

/// A request finished upward: count it, check it against the ledger, refill its stream.
pub(super) fn completed(runner: &mut Runner, completion: &Completion) {
    let Some((staged, Some(io))) = runner.driver.transport.finish(completion.token) else {
        return;
    };
    let link = runner.links[io.stream];
    let latency_us = runner
        .now
        .saturating_duration_since(io.submitted)
        .as_micros() as u64;
    if !link.mpath {
        runner
            .recorder
            .io_done(link.path, runner.now_us(), latency_us, completion.status);
    }
    let success = completion.status == BlkStatus::Ok;
    let verify = runner.streams[io.stream].verify;
    let data = staged.into_read_data();
    let mut problem = None;
    if let Some(ledger) = link
        .ledger
        .then(|| runner.ledgers.get_mut(link.unit).and_then(Option::as_mut))
        .flatten()
    {
        // The path's record is read only here: an unverified run never touches it.
        let lun = &runner.luns[link.path];
        let result = match io.plan.access {
            MediaAccess::Write => ledger.write_finished(
                io.plan.lba,
                io.plan.blocks,
                io.plan.write_id,
                success,
                // Looked up only for a checked write: an unverified run never touches the
                // unit from here (one cache miss per command at 4096 LUNs).
                runner
                    .driver
                    .transport
                    .target()
                    .unit(&lun.address)
                    .map(|u| &u.media),
            ),
            _ if success && verify => {
                ledger.read_finished(io.plan.lba, io.plan.blocks, &data, link.block_size)
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
    runner.driver.transport.recycle(data);
    let now_us = runner.now_us();
    runner.streams[io.stream].completed(now_us);
    if io.submitted == runner.now {
        // Finished in no time (rejected at dispatch): come back in 1 ms, not in a loop.
        wake_in_1ms(runner, io.stream);
        return;
    }
    // Refill at once (closed loop); streams sharing the unit may have waited on its blocks.
    if !runner.links[io.stream].wake_scheduled && issue_from(runner, io.stream) == Issue::Went {
        runner.schedule_stream(io.stream);
    }
    let siblings = match link.siblings {
        true => runner.streams_of_unit.get(link.unit).map_or(0, Vec::len),
        false => 0,
    };
    for index in 0..siblings {
        let sibling = runner
            .streams_of_unit
            .get(link.unit)
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
        let Some(logical_unit) = runner.driver.transport.target().unit(&lun.address) else {
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

/// The requests still outstanding, oldest first (at most 10): token, LUN, operation, LBA,
/// when it was submitted.
pub(super) fn stuck_requests(runner: &Runner) -> Vec<String> {
    let mut stuck: Vec<(u64, &Io)> = runner.driver.transport.iter_payloads().collect();
    stuck.sort_unstable_by_key(|(token, io)| (io.submitted, *token));
    stuck
        .into_iter()
        .take(10)
        .map(|(token, io)| {
            let lun = runner
                .links
                .get(io.stream)
                .and_then(|link| runner.luns.get(link.path))
                .map_or_else(String::new, |lun| lun.address.to_string());
            format!(
                "request {token} on {lun}: {:?} of {} block(s) at LBA {}, submitted at {:.3} ms",
                io.plan.access,
                io.plan.blocks,
                io.plan.lba,
                io.submitted.as_nanos() as f64 / 1e6
            )
        })
        .collect()
}

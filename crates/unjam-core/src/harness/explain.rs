//! The life of one command against scripted outcomes (`unjam explain`): one host with the
//! chosen personality, one disk `sd 0:0:0:0 [sda]`, one request built from a CDB, run on
//! the virtual clock until it completes. The result carries the path taken, the final
//! status, the kernel log lines and the raw events.

use std::time::Duration;

use unjam_scsi::cdb::{lba_and_block_count, opcode, DataDirection};
use unjam_scsi::{BlkStatus, Disposition};

use super::driver::{Driver, RunLimit};
use super::narrate::describe;
use super::script::ScriptEntry;
use super::scripted::ScriptedTransport;
use crate::action::Completion;
use crate::buffers::Cdb;
use crate::config::{DeviceConfig, EhScopes, HostConfig, Personality};
use crate::log::KernelLog;
use crate::midlayer::{MidLayer, Stats, TopologyError};
use crate::request::{BlockOp, Request};
use crate::trace::{TraceEvent, TraceRecord};

/// What to explain.
#[derive(Clone, Debug)]
pub struct ExplainConfig {
    pub cdb: Cdb,
    pub personality: Personality,
    /// One entry per attempt; the last repeats.
    pub outcomes: Vec<ScriptEntry>,
    pub allowed: i32,
    pub timeout: Duration,
    pub eh_timeout: Duration,
    /// `cmd_flags` bits (failfast, sync...).
    pub cmd_flags: u32,
    pub passthrough: bool,
    pub poll_before_abort: bool,
    pub phys_segments: u16,
    pub prio_class: u8,
    /// Print the error-recovery log lines too.
    pub eh_logging: bool,
    /// The error-handler scopes of the LUN (default: host only, the kernel).
    pub scopes: EhScopes,
}

impl ExplainConfig {
    pub fn new(cdb: Cdb, outcomes: Vec<ScriptEntry>) -> ExplainConfig {
        ExplainConfig {
            cdb,
            personality: Personality::Generic,
            outcomes,
            allowed: 5,
            timeout: Duration::from_secs(30),
            eh_timeout: Duration::from_secs(10),
            cmd_flags: 0,
            passthrough: false,
            poll_before_abort: false,
            phys_segments: 1,
            prio_class: 0,
            eh_logging: false,
            scopes: EhScopes::HOST,
        }
    }

    /// The request: data length and start sector from a READ/WRITE CDB (512-byte blocks).
    pub fn request(&self) -> Request {
        let mut request = Request::new(self.cdb, 1);
        let (lba, blocks) = lba_and_block_count(self.cdb.as_slice()).unwrap_or((0, 0));
        request.data_len = blocks.saturating_mul(512);
        request.block.start_sector = lba;
        request.block.op = block_op(self.cdb.as_slice(), self.passthrough);
        request.block.cmd_flags = self.cmd_flags & !0xff;
        request.block.phys_segments = self.phys_segments;
        request.block.prio_class = self.prio_class;
        request.passthrough = self.passthrough;
        request.allowed = Some(self.allowed);
        request.timeout = Some(self.timeout);
        request
    }
}

/// The explained life of the command.
#[derive(Debug)]
pub struct Explanation {
    pub completion: Option<Completion>,
    pub attempts: u32,
    pub blk_status: Option<BlkStatus>,
    /// One kernel disposition name per attempt (`TIMEOUT_ERROR` for a timed-out attempt).
    pub dispositions: Vec<&'static str>,
    pub path: Vec<String>,
    pub log_lines: Vec<String>,
    pub events: Vec<TraceRecord>,
    pub event_texts: Vec<String>,
    /// Virtual time from submission to completion.
    pub elapsed: Duration,
    pub stats: Stats,
    pub violations: Vec<String>,
}

/// Runs the scripted command to completion on the virtual clock.
pub fn explain(config: &ExplainConfig) -> Result<Explanation, TopologyError> {
    let mut host = HostConfig::new(0, config.personality);
    host.capabilities.poll = config.poll_before_abort;
    let mut mid = MidLayer::with_capacity(16);
    let host_id = mid.add_host(host);
    let mut device = DeviceConfig::disk(0, 0, 0);
    device.timeout = config.timeout;
    device.eh_timeout = config.eh_timeout;
    device.allowed = config.allowed;
    device.eh_scopes = config.scopes;
    device.allow_restart = config.personality.allow_restart();
    let disk = mid.add_device(host_id, device)?;
    let mut driver = Driver::new(mid, ScriptedTransport::new(config.outcomes.clone()));
    let submitted = driver.submit(disk, config.request());
    let limit = RunLimit {
        max_steps: 5_000_000,
        max_time: Duration::from_secs(7 * 24 * 3600),
    };
    if submitted.is_ok() {
        driver.run_until_idle(limit);
    }
    let violations = driver
        .check()
        .violations
        .iter()
        .map(|v| v.to_string())
        .collect();
    Ok(summarise(&driver, config.eh_logging, violations))
}

fn summarise(
    driver: &Driver<ScriptedTransport>,
    eh_logging: bool,
    violations: Vec<String>,
) -> Explanation {
    let mut log = KernelLog::new(eh_logging);
    let mut path = Vec::new();
    let mut event_texts = Vec::new();
    let mut dispositions: Vec<&'static str> = Vec::new();
    for record in &driver.trace {
        log.record(record, &driver.mid);
        let text = describe(record, &driver.mid);
        event_texts.push(
            text.clone()
                .unwrap_or_else(|| format!("{:?}", record.event)),
        );
        if let Some(line) = text {
            path.push(format!("[{:>12}] {line}", format!("{}", record.at)));
        }
        match record.event {
            TraceEvent::Dispatched { .. } => dispositions.push(""),
            TraceEvent::TimedOut { .. } => {
                set_last(&mut dispositions, Disposition::TimeoutError.kernel_name())
            }
            TraceEvent::Disposition { decision, .. } => {
                set_last(&mut dispositions, decision.disposition.kernel_name())
            }
            _ => {}
        }
    }
    let completion = driver.completions.first().copied();
    let completed_at = driver
        .trace
        .iter()
        .find(|r| matches!(r.event, TraceEvent::Completed { .. }))
        .map_or(driver.now, |r| r.at);
    Explanation {
        completion,
        attempts: completion.map_or(0, |c| c.attempts),
        blk_status: completion.map(|c| c.status),
        dispositions,
        path,
        log_lines: log.take_lines(),
        events: driver.trace.clone(),
        event_texts,
        elapsed: completed_at.saturating_duration_since(crate::time::Instant::ZERO),
        stats: driver.mid.stats(),
        violations,
    }
}

fn set_last(dispositions: &mut [&'static str], name: &'static str) {
    if let Some(last) = dispositions.last_mut() {
        *last = name;
    }
}

/// The block-layer operation a CDB stands for: passthrough is DRV_IN/DRV_OUT by data
/// direction; reads, writes and flushes as sd builds them (unjam-scsi's classification).
fn block_op(cdb: &[u8], passthrough: bool) -> BlockOp {
    let direction = unjam_scsi::cdb::data_direction(cdb);
    let out = direction == Some(DataDirection::ToDevice);
    match cdb.first().copied() {
        _ if passthrough && out => BlockOp::DriverOut,
        _ if passthrough => BlockOp::DriverIn,
        Some(opcode::SYNCHRONIZE_CACHE_10 | opcode::SYNCHRONIZE_CACHE_16) => BlockOp::Flush,
        _ if out => BlockOp::Write,
        _ if direction == Some(DataDirection::FromDevice) && lba_and_block_count(cdb).is_some() => {
            BlockOp::Read
        }
        _ => BlockOp::DriverIn,
    }
}

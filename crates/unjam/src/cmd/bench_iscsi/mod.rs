//! `unjam bench URL`: fio-grade I/O against one LUN through the runtime (and so the core):
//! `--rw` patterns and `--rwmixread`, `--bs`, `--qd`, `--time`, `--ramp`, `--verify`,
//! per-direction IOPS, bandwidth and latency with fio's percentiles, `--output-format
//! normal|json` with fio's field names, and a `--log-interval` time series (JSON lines).
//!
//! ```text
//!  qd workers (tasks, each one I/O at a time, own buffers) ──► Disk ──► engine (core)
//!        │ done / failed ─► Recorder (good I/O only is throughput)
//!  ticker ─► progress line, time series      main ─► ramp, deadline, verify pass, report
//! ```
//!
//! An I/O error ends the run with its exit status unless `--continue-on-error`; a failed
//! I/O is counted apart and never as throughput. A target outage shows in the time series
//! as a stall and a recovery (the core blocks and requeues while the session re-logs in).
//! Only measurement lives here; the I/O path is `unjam-runtime`'s.

mod process;
mod report;
mod stats;
mod verify;
mod workload;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::json;
use unjam_iscsi::url::IscsiUrl;
use unjam_runtime::{Disk, IoError};

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};
use process::{Allocations, Usage};
use report::{Report, Setup, VerifySummary};
use stats::{Recorder, Snapshot};
use verify::{Reservation, VerifyMap};
pub use workload::Pattern;
use workload::{check_verify, fill_verify, Plan};

/// Most memory the workers' data buffers may take together.
const MAX_BUFFER_BYTES: u64 = 1 << 30;
/// Largest queue depth.
const MAX_QUEUE_DEPTH: u32 = 4096;
/// How often the progress line is redrawn without `--log-interval`.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// How the results are printed (fio's `--output-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Normal,
    Json,
}

/// The iSCSI mode of `unjam bench` (a URL given).
#[derive(Debug, Clone, clap::Args)]
pub struct IscsiBenchArgs {
    /// iSCSI mode: the access pattern.
    #[arg(long, value_enum, default_value = "randread", requires = "url")]
    rw: Pattern,
    /// iSCSI mode: percentage of reads in rw and randrw.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100), requires = "url")]
    rwmixread: u8,
    /// iSCSI mode: bytes per I/O (4k, 128k, 1m; at most 16m).
    #[arg(long, default_value = "4k", value_parser = parse_size, requires = "url")]
    bs: u32,
    /// iSCSI mode: how long to measure (10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration, requires = "url")]
    time: Duration,
    /// iSCSI mode: run this long first without counting (fio's ramp_time).
    #[arg(long, default_value = "0s", value_parser = parse_ramp, requires = "url")]
    ramp: Duration,
    /// iSCSI mode: write data carrying LBA and sequence and check it on every read-back
    /// (needs a pattern that writes; a read-back pass of everything written follows).
    #[arg(long, requires = "url")]
    verify: bool,
    /// iSCSI mode: normal (fio's text) or json (fio's field names).
    #[arg(long, value_enum, default_value = "normal", requires = "url")]
    output_format: OutputFormat,
    /// iSCSI mode: print a JSON line per interval (IOPS, bandwidth, errors per direction)
    /// to stdout while running.
    #[arg(long, value_parser = parse_duration, requires = "url")]
    log_interval: Option<Duration>,
    /// iSCSI mode: count failed I/Os and go on instead of ending the run (the exit status
    /// is still non-zero when any I/O failed).
    #[arg(long, requires = "url")]
    continue_on_error: bool,
    /// iSCSI mode: use every portal SendTargets lists for the URL's target as a path of one
    /// multipath device (implied by several URLs).
    #[arg(long, requires = "url")]
    multipath: bool,
    /// iSCSI mode: set an initiator knob (see `unjam inquiry --help`); repeatable.
    #[arg(long = "set", value_name = "KNOB=VALUE", requires = "url")]
    knobs: Vec<String>,
    /// iSCSI mode: write every core and iSCSI event to FILE as JSON lines.
    #[arg(long, value_name = "FILE", requires = "url")]
    trace: Option<std::path::PathBuf>,
    /// iSCSI mode: write an HTML report of the run (one lane per LUN, error-handling steps,
    /// kernel log) when it ends; costs CPU per I/O (every event is traced).
    #[arg(long, value_name = "FILE.html", requires = "url")]
    report: Option<std::path::PathBuf>,
}

/// Parses `4k`, `128k`, `1m` or a plain byte count (at most 16 MiB).
pub fn parse_size(text: &str) -> Result<u32, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, multiplier) = match lower.strip_suffix('k') {
        Some(digits) => (digits, 1024),
        None => match lower.strip_suffix('m') {
            Some(digits) => (digits, 1024 * 1024),
            None => (lower.as_str(), 1),
        },
    };
    digits
        .parse::<u32>()
        .ok()
        .and_then(|count| count.checked_mul(multiplier))
        .filter(|bytes| *bytes > 0 && *bytes <= 16 * 1024 * 1024)
        .ok_or_else(|| format!("{text:?} is not a size such as 4k, 128k or 1m (at most 16m)"))
}

/// Parses `10s`, `500ms`, `2m` or plain seconds (more than zero, at most an hour).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    unjam_runtime::parse_duration(text)
        .filter(|duration| !duration.is_zero() && *duration <= Duration::from_secs(3600))
        .ok_or_else(|| format!("{text:?} is not a duration such as 10s, 500ms or 2m (at most 1h)"))
}

fn parse_ramp(text: &str) -> Result<Duration, String> {
    unjam_runtime::parse_duration(text)
        .filter(|duration| *duration <= Duration::from_secs(3600))
        .ok_or_else(|| format!("{text:?} is not a duration such as 0s, 2s or 500ms (at most 1h)"))
}

pub fn run(
    url: Vec<String>,
    queue_depth: u32,
    json: bool,
    args: IscsiBenchArgs,
) -> anyhow::Result<ExitCode> {
    let json = json || args.output_format == OutputFormat::Json;
    device::run(json, bench(url, queue_depth, json, args))
}

fn syntax(text: String) -> anyhow::Error {
    Failure::new(ExitClass::Syntax, text).into()
}

/// Refuses settings that cannot run before anything is sent or allocated.
fn check_settings(queue_depth: u32, args: &IscsiBenchArgs) -> anyhow::Result<()> {
    if !(1..=MAX_QUEUE_DEPTH).contains(&queue_depth) {
        return Err(syntax(format!(
            "--qd must be 1..={MAX_QUEUE_DEPTH}, not {queue_depth}"
        )));
    }
    let per_worker = if args.verify { 2 } else { 1 };
    let buffers = u64::from(queue_depth) * u64::from(args.bs) * per_worker + u64::from(args.bs);
    if buffers > MAX_BUFFER_BYTES {
        return Err(syntax(format!(
            "--qd {queue_depth} × --bs {} needs {} MiB of data buffers; at most {} MiB: lower --qd or --bs",
            args.bs,
            buffers >> 20,
            MAX_BUFFER_BYTES >> 20
        )));
    }
    if args.verify && !args.rw.writes() {
        return Err(syntax(
            "--verify needs a pattern that writes (write, randwrite, rw, randrw)".into(),
        ));
    }
    Ok(())
}

/// What the workers share.
#[derive(Debug)]
struct Shared {
    disk: Disk,
    recorder: Mutex<Recorder>,
    stop: AtomicBool,
    /// The error that ended the run (or the first one, with `--continue-on-error`).
    first_error: Mutex<Option<(ExitClass, String)>>,
    continue_on_error: bool,
    verify: Option<Mutex<VerifyMap>>,
    /// Random data every write sends (without `--verify`).
    payload: Bytes,
    blocks_per_io: u32,
    block_bytes: u32,
}

impl Shared {
    fn lock_recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn fail(&self, read: bool, class: ExitClass, message: String) {
        self.lock_recorder().failed(read);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some((class, message));
        }
        if !self.continue_on_error {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

async fn bench(
    urls: Vec<String>,
    queue_depth: u32,
    json: bool,
    args: IscsiBenchArgs,
) -> anyhow::Result<ExitCode> {
    check_settings(queue_depth, &args)?;
    let device_args = DeviceArgs {
        urls,
        multipath: args.multipath,
        json,
        initiator_name: unjam_runtime::DEFAULT_INITIATOR_NAME.to_string(),
        timeout_s: None,
        knobs: args.knobs.clone(),
        trace: args.trace.clone(),
        report: args.report.clone(),
    };
    let mut knobs = device_args.knobs()?;
    if !args
        .knobs
        .iter()
        .any(|setting| setting.starts_with("queue_depth"))
    {
        knobs.queue_depth = queue_depth;
    }
    knobs.cmds_max = knobs.cmds_max.max(knobs.queue_depth);
    let config = device_args.config_with(knobs)?;
    let lun_url = device_args.lun_url()?;
    let (initiator, disk) = device_args.open_with(config).await?;
    let labels = crate::cmd::paths::labels(&initiator);
    let result = measure(&lun_url, queue_depth, json, &args, disk, &labels).await;
    device::logout(initiator, result).await
}

async fn measure(
    url: &IscsiUrl,
    queue_depth: u32,
    json: bool,
    args: &IscsiBenchArgs,
    disk: Disk,
    labels: &crate::cmd::paths::Labels,
) -> anyhow::Result<ExitCode> {
    let capacity = disk
        .capacity()
        .map_err(|error| Failure::new(ExitClass::Malformed, format!("{error}")))?;
    if args.bs % capacity.block_length != 0 {
        return Err(syntax(format!(
            "--bs {} is not a multiple of the {}-byte block",
            args.bs, capacity.block_length
        )));
    }
    let blocks_per_io = args.bs / capacity.block_length;
    let mut slots = capacity.blocks() / u64::from(blocks_per_io);
    if slots == 0 {
        return Err(syntax(format!(
            "the LUN holds fewer than one {}-byte I/O",
            args.bs
        )));
    }
    let verify = args.verify.then(|| {
        slots = slots.min(verify::MAX_SLOTS);
        Mutex::new(VerifyMap::new(slots))
    });
    let mut seed = Plan::new(args.rw, args.rwmixread, slots, queue_depth, queue_depth);
    let shared = Arc::new(Shared {
        disk,
        recorder: Mutex::new(Recorder::new()?),
        stop: AtomicBool::new(false),
        first_error: Mutex::new(None),
        continue_on_error: args.continue_on_error,
        verify,
        payload: Bytes::from(seed.random_payload(args.bs as usize)),
        blocks_per_io,
        block_bytes: capacity.block_length,
    });
    let started = Instant::now();
    let ramp_end = started + args.ramp;
    let deadline = ramp_end + args.time;
    let ticker = tokio::spawn(ticker(
        Arc::clone(&shared),
        started,
        ramp_end,
        deadline,
        args.log_interval,
    ));
    let workers: Vec<_> = (0..queue_depth)
        .map(|worker| {
            let plan = Plan::new(args.rw, args.rwmixread, slots, worker, queue_depth);
            tokio::spawn(worker_loop(Arc::clone(&shared), plan, deadline))
        })
        .collect();
    tokio::time::sleep_until(tokio::time::Instant::from_std(ramp_end)).await;
    shared.lock_recorder().counting = true;
    let usage_before = Usage::now();
    let allocations = Allocations::start();
    let counted_from = Instant::now();
    for worker in workers {
        worker
            .await
            .map_err(|error| Failure::new(ExitClass::Other, error.to_string()))?;
    }
    let elapsed = counted_from.elapsed();
    let usage = Usage::now().since(usage_before);
    let allocation_count = allocations.count();
    shared.stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    let verify_summary = match &shared.verify {
        Some(_) if !shared.stop_requested_by_error() => Some(read_back(&shared, queue_depth).await),
        Some(_) => Some(VerifySummary::default()),
        None => None,
    };
    let mpaths =
        shared.disk.mpath_view().await.map(|view| {
            serde_json::Value::Array(vec![crate::cmd::paths::summary_json(&view, labels)])
        });
    report(
        url,
        queue_depth,
        json,
        args,
        &shared,
        elapsed,
        usage,
        allocation_count,
        verify_summary,
        mpaths,
    )
}

impl Shared {
    fn stop_requested_by_error(&self) -> bool {
        !self.continue_on_error
            && self
                .first_error
                .lock()
                .map(|first| first.is_some())
                .unwrap_or(true)
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    url: &IscsiUrl,
    queue_depth: u32,
    json: bool,
    args: &IscsiBenchArgs,
    shared: &Shared,
    elapsed: Duration,
    usage: Usage,
    allocations: u64,
    verify: Option<VerifySummary>,
    mpaths: Option<serde_json::Value>,
) -> anyhow::Result<ExitCode> {
    let setup = Setup {
        target: url.to_string(),
        pattern: args.rw,
        block_bytes: args.bs,
        queue_depth,
        runtime: args.time,
        ramp: args.ramp,
        rwmixread: args.rwmixread,
        verify: args.verify,
    };
    let error = shared
        .first_error
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let recorder = shared.lock_recorder();
    let report = Report {
        setup: &setup,
        recorder: &recorder,
        elapsed,
        usage,
        allocations,
        verify,
        error: error
            .as_ref()
            .map(|(class, message)| (class.code(), message.clone())),
        mpaths,
    };
    let mut out = Printer::default();
    if json {
        let value = report.to_json();
        if args.log_interval.is_some() {
            out.line(serde_json::to_string(&value)?)?;
        } else {
            out.json(&value)?;
        }
    } else {
        report.print_normal(&mut out)?;
    }
    out.flush()?;
    // Failed I/O makes the exit status non-zero, with or without `--continue-on-error`
    // (which only keeps the run going).
    match error {
        Some((class, message)) => {
            if args.continue_on_error {
                let failed = recorder.read.total_errors + recorder.write.total_errors;
                eprintln!("unjam: {failed} I/O(s) failed; the first: {message}");
            } else {
                eprintln!("unjam: {message}");
            }
            Ok(ExitCode::from(class.code()))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// One I/O at a time until the deadline or a stop.
async fn worker_loop(shared: Arc<Shared>, mut plan: Plan, deadline: Instant) {
    let io_bytes = (shared.blocks_per_io * shared.block_bytes) as usize;
    let mut read_buffer = BytesMut::with_capacity(io_bytes);
    let mut write_buffer =
        BytesMut::with_capacity(if shared.verify.is_some() { io_bytes } else { 0 });
    let mut scratch = Vec::new();
    // The clock is read twice per I/O: at its start and at its end; the end is also when the
    // recorder saw it complete and what the next turn checks the deadline against.
    let mut now = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) && now < deadline {
        let (read, slot) = plan.next();
        let lba = slot * u64::from(shared.blocks_per_io);
        let reservation = match &shared.verify {
            Some(map) => match map
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .reserve(slot, read)
            {
                Some(reservation) => Some(reservation),
                None => {
                    now = Instant::now();
                    continue;
                }
            },
            None => None,
        };
        let started = Instant::now();
        let outcome = if read {
            let result = shared
                .disk
                .read(lba, shared.blocks_per_io, read_buffer)
                .await;
            now = Instant::now();
            let latency = now.saturating_duration_since(started);
            let checked = match (&result, reservation) {
                (
                    Ok(data),
                    Some(Reservation::Read {
                        expected: Some(sequence),
                    }),
                ) => check_verify(
                    data,
                    lba,
                    shared.block_bytes as usize,
                    sequence,
                    &mut scratch,
                )
                .map_err(|mismatch| mismatch.to_string()),
                _ => Ok(()),
            };
            read_buffer = match result {
                Ok(data) => {
                    record(&shared, true, io_bytes, latency, now, checked);
                    data.try_into_mut()
                        .unwrap_or_else(|_| BytesMut::with_capacity(io_bytes))
                }
                Err(error) => {
                    failed(&shared, true, lba, &error);
                    BytesMut::with_capacity(io_bytes)
                }
            };
            true
        } else {
            let data = match reservation {
                Some(Reservation::Write { sequence }) => {
                    write_buffer.clear();
                    write_buffer.resize(io_bytes, 0);
                    fill_verify(
                        &mut write_buffer,
                        lba,
                        shared.block_bytes as usize,
                        sequence,
                    );
                    std::mem::take(&mut write_buffer).freeze()
                }
                _ => shared.payload.clone(),
            };
            let result = shared.disk.write(lba, data.clone()).await;
            now = Instant::now();
            let latency = now.saturating_duration_since(started);
            if shared.verify.is_some() {
                write_buffer = data
                    .try_into_mut()
                    .unwrap_or_else(|_| BytesMut::with_capacity(io_bytes));
            }
            match &result {
                Ok(()) => record(&shared, false, io_bytes, latency, now, Ok(())),
                Err(error) => failed(&shared, false, lba, error),
            }
            result.is_ok()
        };
        if let (Some(map), Some(reservation)) = (&shared.verify, reservation) {
            map.lock()
                .unwrap_or_else(|p| p.into_inner())
                .release(slot, reservation, outcome);
        }
    }
}

fn record(
    shared: &Shared,
    read: bool,
    bytes: usize,
    latency: Duration,
    finished: Instant,
    checked: Result<(), String>,
) {
    match checked {
        Ok(()) => {
            let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
            shared
                .lock_recorder()
                .done(read, bytes as u64, nanos, finished);
        }
        Err(mismatch) => shared.fail(read, ExitClass::Miscompare, mismatch),
    }
}

fn failed(shared: &Shared, read: bool, lba: u64, error: &IoError) {
    let what = if read { "READ" } else { "WRITE" };
    let failure = Failure::io(&format!("{what} at LBA {lba}"), error);
    shared.fail(read, failure.class, failure.message);
}

/// Reads back every unit written and checks it (the `--verify` pass), `workers` at once.
async fn read_back(shared: &Arc<Shared>, workers: u32) -> VerifySummary {
    let written: Vec<(u64, u64)> = match &shared.verify {
        Some(map) => map.lock().unwrap_or_else(|p| p.into_inner()).written(),
        None => Vec::new(),
    };
    let written = Arc::new(written);
    let tasks: Vec<_> = (0..workers as usize)
        .map(|worker| {
            let (shared, written) = (Arc::clone(shared), Arc::clone(&written));
            tokio::spawn(async move {
                let mut summary = VerifySummary::default();
                let io_bytes = (shared.blocks_per_io * shared.block_bytes) as usize;
                let mut buffer = BytesMut::with_capacity(io_bytes);
                let mut scratch = Vec::new();
                for (slot, sequence) in written.iter().skip(worker).step_by(workers as usize) {
                    let lba = slot * u64::from(shared.blocks_per_io);
                    match shared.disk.read(lba, shared.blocks_per_io, buffer).await {
                        Ok(data) => {
                            summary.checked += 1;
                            let block = shared.block_bytes as usize;
                            if let Err(mismatch) =
                                check_verify(&data, lba, block, *sequence, &mut scratch)
                            {
                                summary.mismatches += 1;
                                shared.fail(true, ExitClass::Miscompare, mismatch.to_string());
                            }
                            buffer = data
                                .try_into_mut()
                                .unwrap_or_else(|_| BytesMut::with_capacity(io_bytes));
                        }
                        Err(error) => {
                            failed(&shared, true, lba, &error);
                            buffer = BytesMut::with_capacity(io_bytes);
                        }
                    }
                }
                summary
            })
        })
        .collect();
    let mut total = VerifySummary::default();
    for task in tasks {
        if let Ok(summary) = task.await {
            total.checked += summary.checked;
            total.mismatches += summary.mismatches;
        }
    }
    total
}

/// The progress line on a terminal and, with `--log-interval`, one JSON line per interval.
async fn ticker(
    shared: Arc<Shared>,
    started: Instant,
    ramp_end: Instant,
    deadline: Instant,
    log_interval: Option<Duration>,
) {
    let bar = indicatif::ProgressBar::new_spinner();
    let interval = log_interval.unwrap_or(PROGRESS_INTERVAL);
    let mut out = Printer::default();
    let mut last = (Instant::now(), Snapshot::default());
    let mut logging = log_interval.is_some();
    loop {
        tokio::time::sleep(interval).await;
        let now = Instant::now();
        let snapshot = shared.lock_recorder().snapshot();
        let window = now.duration_since(last.0).as_secs_f64().max(1e-9);
        let rate = |now: (u64, u64, u64), before: (u64, u64, u64)| {
            let ios = now.0 - before.0;
            json!({
                "ios": ios,
                "iops": ios as f64 / window,
                "bw_bytes": ((now.1 - before.1) as f64 / window).round() as u64,
                "errors": now.2 - before.2,
            })
        };
        let read = rate(snapshot.read, last.1.read);
        let write = rate(snapshot.write, last.1.write);
        if logging {
            let line = json!({
                "t_ms": now.duration_since(started).as_millis() as u64,
                "ramp": now < ramp_end,
                "read": read,
                "write": write,
            });
            if out.line(line).and_then(|()| out.flush()).is_err() {
                logging = false;
            }
        }
        let iops = read["iops"].as_f64().unwrap_or(0.0) + write["iops"].as_f64().unwrap_or(0.0);
        let errors = snapshot.read.2 + snapshot.write.2;
        bar.set_message(format!(
            "[{:>5.1}s] {} IOPS  errors {errors}  ({}s left)",
            now.duration_since(started).as_secs_f64(),
            report::count_text(iops),
            deadline.saturating_duration_since(now).as_secs()
        ));
        bar.tick();
        last = (now, snapshot);
        if shared.stop.load(Ordering::Relaxed) || now >= deadline {
            bar.finish_and_clear();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_with_units() {
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1M"), Ok(1_048_576));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("0").is_err());
        assert!(parse_size("32m").is_err());
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_ramp("0s"), Ok(Duration::ZERO));
    }
}

//! The iSCSI mode of `unjam bench URL`: fio-like random or sequential I/O at a fixed queue
//! depth for a fixed time against one LUN, with a live progress line, latency percentiles
//! (HdrHistogram) and the initiator's CPU time per I/O (from /proc/self/stat).
//!
//! Only measurement lives here; the I/O goes through `unjam_iscsi::client`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use unjam_iscsi::client::IscsiClient;
use unjam_iscsi::pdu::TaskAttribute;
use unjam_iscsi::session::{DataDirection, TaskRequest};
use unjam_runtime::Capacity;
use unjam_scsi::cdb::{Read16, ReadCapacity16, Write16};

use super::iscsi_common::{connect, execute, require_good, runtime, TargetArgs};

/// The access pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    Randread,
    Randwrite,
    Read,
    Write,
    Randrw,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct IscsiBenchOptions {
    pub url: String,
    pub pattern: Pattern,
    pub block_bytes: u32,
    pub queue_depth: u32,
    pub duration: Duration,
    pub json: bool,
}

/// Highest latency the histogram records (longer ones are clamped), in microseconds.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Parses `4k`, `128k`, `1m` or a plain byte count.
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

/// Parses `10s`, `500ms`, `2m` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let lower = text.trim().to_ascii_lowercase();
    let parsed = if let Some(ms) = lower.strip_suffix("ms") {
        ms.parse::<u64>().ok().map(Duration::from_millis)
    } else if let Some(minutes) = lower.strip_suffix('m') {
        minutes
            .parse::<u64>()
            .ok()
            .map(|m| Duration::from_secs(m * 60))
    } else {
        let seconds = lower.strip_suffix('s').unwrap_or(&lower);
        seconds.parse::<u64>().ok().map(Duration::from_secs)
    };
    parsed
        .filter(|duration| !duration.is_zero() && *duration <= Duration::from_secs(3600))
        .ok_or_else(|| format!("{text:?} is not a duration such as 10s, 500ms or 2m (at most 1h)"))
}

#[derive(Debug, Serialize)]
struct LatencyReport {
    min: u64,
    mean: f64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    transport: &'static str,
    rw: Pattern,
    bs: u32,
    qd: u32,
    seconds: f64,
    ios: u64,
    iops: f64,
    mbps: f64,
    latency_us: LatencyReport,
    errors: u64,
    cpu_seconds: f64,
    cpu_us_per_io: f64,
}

/// Counters the workers share with the progress line.
#[derive(Debug, Default)]
struct Progress {
    ios: AtomicU64,
    errors: AtomicU64,
}

pub fn run(options: IscsiBenchOptions) -> anyhow::Result<ExitCode> {
    if options.queue_depth == 0 || options.queue_depth > 1024 {
        bail!("--qd must be 1..=1024 for an iSCSI benchmark");
    }
    runtime()?.block_on(bench(options))
}

fn target_args(options: &IscsiBenchOptions) -> TargetArgs {
    TargetArgs {
        url: options.url.clone(),
        json: options.json,
        initiator_name: unjam_iscsi::client::DEFAULT_INITIATOR_NAME.to_string(),
        timeout_s: 30,
    }
}

async fn capacity(client: &IscsiClient, target: &TargetArgs) -> anyhow::Result<(u64, u32)> {
    let length = ReadCapacity16::RESPONSE_LEN as u32;
    let cdb = ReadCapacity16 {
        allocation_length: length,
    }
    .build()?;
    let outcome = execute(
        client,
        cdb,
        DataDirection::Read { length },
        target.timeout(),
    )
    .await?;
    require_good(&outcome, "READ CAPACITY(16)")?;
    let capacity = Capacity::from_read_capacity16(&outcome.data)?;
    Ok((capacity.blocks(), capacity.block_length))
}

async fn bench(options: IscsiBenchOptions) -> anyhow::Result<ExitCode> {
    let target = target_args(&options);
    let (_, client) = connect(&target).await?;
    let (block_count, block_size) = capacity(&client, &target).await?;
    if block_size == 0 || options.block_bytes % block_size != 0 {
        bail!(
            "--bs {} is not a multiple of the {block_size}-byte block",
            options.block_bytes
        );
    }
    let blocks_per_io = options.block_bytes / block_size;
    let slots = block_count / u64::from(blocks_per_io);
    if slots == 0 {
        bail!(
            "the LUN holds fewer than one {}-byte I/O",
            options.block_bytes
        );
    }
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let cpu_before = process_cpu_seconds()?;
    let deadline = started + options.duration;
    let ticker = tokio::spawn(show_progress(
        progress.clone(),
        started,
        deadline,
        options.block_bytes,
    ));
    let mut workers = Vec::new();
    for worker in 0..options.queue_depth {
        let plan = WorkerPlan {
            histogram: new_histogram()?,
            client: client.clone(),
            pattern: options.pattern,
            blocks_per_io,
            slots,
            start_slot: u64::from(worker) * slots / u64::from(options.queue_depth),
            seed: u64::from(worker),
            deadline,
            progress: progress.clone(),
            payload: Bytes::from(vec![0x5a; options.block_bytes as usize]),
        };
        workers.push(tokio::spawn(worker_loop(plan)));
    }
    let mut histogram = new_histogram()?;
    for worker in workers {
        let partial = worker.await.context("benchmark worker failed")?;
        histogram
            .add(partial)
            .context("merging latency histograms")?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds()? - cpu_before;
    ticker.abort();
    let report = build_report(&options, &histogram, &progress, elapsed, cpu_seconds);
    let _ = client.logout().await;
    print_report(&report, options.json)?;
    Ok(ExitCode::SUCCESS)
}

struct WorkerPlan {
    histogram: Histogram<u64>,
    client: IscsiClient,
    pattern: Pattern,
    blocks_per_io: u32,
    slots: u64,
    start_slot: u64,
    seed: u64,
    deadline: Instant,
    progress: Arc<Progress>,
    payload: Bytes,
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).context("histogram bounds")
}

/// One outstanding command at a time; the queue depth is the number of workers.
async fn worker_loop(mut plan: WorkerPlan) -> Histogram<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mut sequential = plan.start_slot;
    let length = plan.payload.len() as u32;
    while Instant::now() < plan.deadline {
        let (random, write) = match plan.pattern {
            Pattern::Randread => (true, false),
            Pattern::Randwrite => (true, true),
            Pattern::Read => (false, false),
            Pattern::Write => (false, true),
            Pattern::Randrw => (true, rng.gen_bool(0.5)),
        };
        let slot = if random {
            rng.gen_range(0..plan.slots)
        } else {
            sequential = (sequential + 1) % plan.slots;
            sequential
        };
        let lba = slot * u64::from(plan.blocks_per_io);
        let request = build_request(&plan, lba, write, length);
        let issued = Instant::now();
        let result = plan.client.execute(request).await;
        let latency_us = issued.elapsed().as_micros() as u64;
        plan.histogram
            .saturating_record(latency_us.clamp(1, MAX_LATENCY_US));
        plan.progress.ios.fetch_add(1, Ordering::Relaxed);
        if !matches!(result, Ok(ref outcome) if outcome.status == 0) {
            plan.progress.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    plan.histogram
}

fn build_request(plan: &WorkerPlan, lba: u64, write: bool, length: u32) -> TaskRequest {
    let cdb = if write {
        Write16 {
            lba,
            blocks: plan.blocks_per_io,
            fua: false,
            dpo: false,
        }
        .build()
    } else {
        Read16 {
            lba,
            blocks: plan.blocks_per_io,
            fua: false,
            dpo: false,
        }
        .build()
    };
    let cdb = cdb
        .map(|cdb| Bytes::copy_from_slice(cdb.as_slice()))
        .unwrap_or_default();
    let direction = if write {
        DataDirection::Write {
            data: plan.payload.clone(),
        }
    } else {
        DataDirection::Read { length }
    };
    TaskRequest {
        lun: plan.client.lun(),
        cdb,
        direction,
        attribute: TaskAttribute::Simple,
    }
}

/// A live line on a terminal (indicatif hides it when stderr is not one).
async fn show_progress(
    progress: Arc<Progress>,
    started: Instant,
    deadline: Instant,
    block_bytes: u32,
) {
    let bar = indicatif::ProgressBar::new_spinner();
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = Instant::now();
        let ios = progress.ios.load(Ordering::Relaxed);
        let window = now.duration_since(last.0).as_secs_f64().max(1e-6);
        let iops = (ios - last.1) as f64 / window;
        last = (now, ios);
        let remaining = deadline.saturating_duration_since(now).as_secs();
        bar.set_message(format!(
            "[{:>4.1}s] {iops:>9.0} IOPS {:>8.1} MiB/s  errors {}  ({remaining}s left)",
            now.duration_since(started).as_secs_f64(),
            iops * f64::from(block_bytes) / 1_048_576.0,
            progress.errors.load(Ordering::Relaxed),
        ));
        bar.tick();
        if now >= deadline {
            bar.finish_and_clear();
            return;
        }
    }
}

fn build_report(
    options: &IscsiBenchOptions,
    histogram: &Histogram<u64>,
    progress: &Progress,
    elapsed: f64,
    cpu_seconds: f64,
) -> BenchReport {
    let ios = progress.ios.load(Ordering::Relaxed);
    let iops = ios as f64 / elapsed.max(1e-9);
    BenchReport {
        transport: "iscsi",
        rw: options.pattern,
        bs: options.block_bytes,
        qd: options.queue_depth,
        seconds: elapsed,
        ios,
        iops,
        mbps: iops * f64::from(options.block_bytes) / 1_000_000.0,
        latency_us: LatencyReport {
            min: histogram.min(),
            mean: histogram.mean(),
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        },
        errors: progress.errors.load(Ordering::Relaxed),
        cpu_seconds,
        cpu_us_per_io: cpu_seconds * 1e6 / ios.max(1) as f64,
    }
}

fn print_report(report: &BenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let rw = serde_json::to_value(report.rw)?;
    println!(
        "{}: bs={} qd={} time={:.1}s",
        rw.as_str().unwrap_or("?"),
        report.bs,
        report.qd,
        report.seconds
    );
    println!(
        "  iops={:.0}  bw={:.1}MB/s  ios={}  errors={}",
        report.iops, report.mbps, report.ios, report.errors
    );
    let latency = &report.latency_us;
    println!(
        "  lat (usec): min={} avg={:.1} max={}",
        latency.min, latency.mean, latency.max
    );
    println!(
        "  clat percentiles (usec): 50.00th=[{}], 90.00th=[{}], 99.00th=[{}], 99.90th=[{}]",
        latency.p50, latency.p90, latency.p99, latency.p999
    );
    println!(
        "  cpu: {:.2}s  ({:.1} us per I/O)",
        report.cpu_seconds, report.cpu_us_per_io
    );
    Ok(())
}

/// User plus system CPU time of this process, from /proc/self/stat (fields 14 and 15, in
/// clock ticks of 1/100 s on Linux).
fn process_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> f64 {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the name: field 3 is index 0, so utime (14) is index 11 and stime (15) index 12.
    Ok((ticks(11) + ticks(12)) / 100.0)
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
        assert!(parse_size("4x").is_err());
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn cpu_time_is_readable_and_monotonic() {
        let before = process_cpu_seconds().unwrap_or(-1.0);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let after = process_cpu_seconds().unwrap_or(-1.0);
        assert!(before >= 0.0 && after >= before);
    }
}

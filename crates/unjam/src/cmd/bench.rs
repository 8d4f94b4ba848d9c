//! `unjam bench`: commands per second through the mid-layer on one core, and heap
//! allocations per command (counted by the binary's instrumented global allocator).
//!
//! Transports are a `--transport` choice; each has a `run_*` function returning a
//! [`BenchResult`] that one printer reports. The null transport is built in; a network
//! transport (e.g. iSCSI with a URL) adds a variant and a runner without touching the rest.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use stats_alloc::Region;
use unjam_core::buffers::Cdb;
use unjam_core::config::{DeviceConfig, HostConfig, Personality};
use unjam_core::harness::run_null_bench;
use unjam_core::{MidLayer, Request};

/// The most commands one null-transport run may ask for: about three minutes at 6 M/s.
const MAX_BENCH_COMMANDS: u64 = 1_000_000_000;

/// Measure command throughput through the mid-layer.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// An iSCSI LUN (iscsi://[user[%password]@]host[:port]/target-iqn/lun): benchmark real
    /// I/O against it through the runtime instead of the mid-layer alone (see `bench_iscsi`).
    /// Several URLs of one logical unit make one multipath device (docs/multipath.md).
    #[arg(value_name = "URL", num_args = 0..)]
    url: Vec<String>,
    #[command(flatten)]
    iscsi: super::bench_iscsi::IscsiBenchArgs,
    /// Which transport answers the commands.
    #[arg(long, value_enum, default_value = "null")]
    transport: TransportKind,
    /// Commands to complete (after a warm-up of the same size as the queue depth × 16).
    #[arg(long, default_value_t = 2_000_000)]
    commands: u64,
    /// Commands outstanding at once (iSCSI mode: fio's iodepth, one worker each).
    #[arg(long, default_value_t = 32)]
    qd: u32,
    /// Print one JSON object (iSCSI mode: as --output-format json).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TransportKind {
    /// Completes every command GOOD at once: measures the mid-layer alone.
    Null,
}

/// What one benchmark run measured.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub transport: &'static str,
    pub commands: u64,
    pub queue_depth: u32,
    pub failed: u64,
    pub seconds: f64,
    pub commands_per_second: f64,
    pub allocations: usize,
    pub allocations_per_command: f64,
    pub bytes_allocated: usize,
    /// Allocations while building the topology and warming up (slab, queues, timers grow).
    pub warmup_allocations: usize,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if !args.url.is_empty() {
        return super::bench_iscsi::run(args.url, args.qd, args.json, args.iscsi);
    }
    if !(1..=MAX_BENCH_COMMANDS).contains(&args.commands) || args.qd == 0 || args.qd > 65_536 {
        anyhow::bail!(
            "--commands must lie in 1..={MAX_BENCH_COMMANDS} (got {}) and --qd in 1..=65536 (got {})",
            args.commands,
            args.qd
        );
    }
    let result = match args.transport {
        TransportKind::Null => run_null(args.commands, args.qd)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print_human(&result);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_null(commands: u64, qd: u32) -> anyhow::Result<BenchResult> {
    let setup = Region::new(crate::GLOBAL);
    let mut mid = MidLayer::with_capacity(qd as usize * 2);
    let mut host = HostConfig::new(0, Personality::Generic);
    host.can_queue = qd;
    let host = mid.add_host(host);
    let mut device = DeviceConfig::disk(0, 0, 0);
    device.queue_depth = qd;
    device.max_outstanding = qd;
    let disk = mid.add_device(host, device)?;
    let mut template = Request::new(Cdb::from_slice(&[0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0])?, 0);
    template.data_len = 4096;
    run_null_bench(&mut mid, disk, template, u64::from(qd) * 16, qd);
    let warmup = setup.change();
    let region = Region::new(crate::GLOBAL);
    let started = Instant::now();
    let report = run_null_bench(&mut mid, disk, template, commands, qd);
    let elapsed = started.elapsed().max(Duration::from_nanos(1));
    let allocated = region.change();
    Ok(BenchResult {
        transport: "null",
        commands: report.completed,
        queue_depth: qd,
        failed: report.failed,
        seconds: elapsed.as_secs_f64(),
        commands_per_second: report.completed as f64 / elapsed.as_secs_f64(),
        allocations: allocated.allocations + allocated.reallocations,
        allocations_per_command: (allocated.allocations + allocated.reallocations) as f64
            / report.completed.max(1) as f64,
        bytes_allocated: allocated.bytes_allocated,
        warmup_allocations: warmup.allocations + warmup.reallocations,
    })
}

fn print_human(result: &BenchResult) {
    println!("transport            {}", result.transport);
    println!(
        "commands             {} (queue depth {}, {} failed)",
        result.commands, result.queue_depth, result.failed
    );
    println!("time                 {:.3} s", result.seconds);
    println!(
        "throughput           {:.0} commands/s",
        result.commands_per_second
    );
    println!(
        "heap allocations     {} ({:.6} per command, {} bytes)",
        result.allocations, result.allocations_per_command, result.bytes_allocated
    );
    println!(
        "warm-up allocations  {} (setup and first {} commands)",
        result.warmup_allocations,
        result.queue_depth * 16
    );
}

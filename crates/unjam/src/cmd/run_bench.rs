//! `unjam run --bench`: simulated commands per second of wall time for a scenario (the core
//! and the embedded target on one core, no tracing, no checks), and the heap an idle LUN
//! costs (counted by the binary's instrumented global allocator).

use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;
use stats_alloc::Region;
use unjam_sim::runner::{run_scenario, RunOptions, Runner};
use unjam_sim::scenario::{target_config, Scenario};
use unjam_sim::target::SimTarget;

/// What `unjam run --bench` measured.
#[derive(Debug, Serialize)]
pub struct RunBench {
    pub luns: usize,
    pub commands_simulated: u64,
    pub virtual_ms: u64,
    pub wall_seconds: f64,
    pub commands_per_second: f64,
    /// CPU time the run's thread got (Linux `/proc/self/schedstat`; null elsewhere): on a
    /// shared machine the wall-clock rate understates the simulator.
    pub cpu_seconds: Option<f64>,
    pub commands_per_cpu_second: Option<f64>,
    /// Heap bytes an idle LUN holds in the simulated target (path, unit, empty media).
    pub target_bytes_per_idle_lun: f64,
    /// Heap bytes per LUN of a whole idle run: target, core device and queues, workload
    /// stream and the recorder's latency histogram.
    pub run_bytes_per_idle_lun: f64,
    /// The process's peak resident memory at the end (Linux `VmHWM`; null elsewhere).
    pub peak_rss_bytes: Option<u64>,
}

pub fn bench(scenario: &Scenario) -> anyhow::Result<ExitCode> {
    let (target_bytes_per_idle_lun, run_bytes_per_idle_lun) = idle_bytes_per_lun(scenario)?;
    let options = RunOptions {
        observe: false,
        ..RunOptions::default()
    };
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let result = run_scenario(scenario, options).map_err(|e| anyhow::anyhow!(e))?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let commands = result.report.commands_simulated as f64;
    let bench = RunBench {
        luns: result.report.summary.luns.len(),
        commands_simulated: result.report.commands_simulated,
        virtual_ms: result.report.summary.virtual_duration_ms,
        wall_seconds,
        commands_per_second: commands / wall_seconds.max(1e-9),
        cpu_seconds: cpu,
        commands_per_cpu_second: cpu.map(|seconds| commands / seconds.max(1e-9)),
        target_bytes_per_idle_lun,
        run_bytes_per_idle_lun,
        peak_rss_bytes: peak_rss_bytes(),
    };
    println!("{}", serde_json::to_string_pretty(&bench)?);
    Ok(ExitCode::SUCCESS)
}

/// CPU time of this thread so far, from the first field of `/proc/self/schedstat` (ns).
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

/// The peak resident set size from `/proc/self/status` (`VmHWM: N kB`).
fn peak_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Heap bytes held per LUN after building the target alone, and the whole run.
fn idle_bytes_per_lun(scenario: &Scenario) -> anyhow::Result<(f64, f64)> {
    let config = target_config(scenario).map_err(|e| anyhow::anyhow!(e))?;
    let luns = config.luns.len().max(1) as f64;
    let region = Region::new(crate::GLOBAL);
    let target = SimTarget::new(&config).map_err(|e| anyhow::anyhow!(e))?;
    let target_bytes = held(&region);
    drop(target);
    let region = Region::new(crate::GLOBAL);
    let runner = Runner::new(
        scenario,
        RunOptions {
            observe: false,
            ..RunOptions::default()
        },
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let run_bytes = held(&region);
    drop(runner);
    Ok((target_bytes / luns, run_bytes / luns))
}

fn held(region: &Region<'_, std::alloc::System>) -> f64 {
    let change = region.change();
    change.bytes_allocated as f64 - change.bytes_deallocated as f64
}

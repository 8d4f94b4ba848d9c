//! `unjam run SCENARIO.toml`: runs a scenario on the embedded target in virtual time (or
//! paced to the wall clock with `--real-time`), prints a summary table, and writes the JSON
//! summary, the HTML timeline, and (streamed as the run goes) the JSON-lines trace and the
//! kernel log on request. With `--check` a broken invariant or a request still stuck when
//! the liveness bound has passed exits 1 with the replay command. `--bench` measures
//! simulated commands per second of wall time and the memory of an idle LUN instead.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use unjam_sim::report::render_html;
use unjam_sim::runner::{run_scenario, RunOptions, RunResult};
use unjam_sim::scenario::{Scenario, MAX_SCENARIO_BYTES};

/// Run a scenario on the embedded fault-injecting target.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The scenario file (TOML; see docs/scenario.md).
    scenario: PathBuf,
    /// Replace the scenario's seed (everything random is drawn from it).
    #[arg(long)]
    seed: Option<u64>,
    /// Override a field, e.g. `--set eh.scope=lun` or `--set host.0.personality=smartpqi`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Write the run summary as JSON (schema in docs/scenario.md).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write every lifecycle and error-handling event as JSON lines (streamed).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Write the run's kernel-format log lines with dmesg-style timestamps (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    kernel_log: Option<PathBuf>,
    /// Virtual time every request gets to complete after the workloads end and the faults
    /// heal (default: the liveness bound of the configuration).
    #[arg(long, value_name = "MS")]
    liveness_ms: Option<u64>,
    /// Write a self-contained HTML timeline (one lane per LUN).
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Pace virtual time to the wall clock.
    #[arg(long)]
    real_time: bool,
    /// Check the invariants after every step (slower); exit 1 if one breaks.
    #[arg(long)]
    check: bool,
    /// Measure simulated commands per second and memory per idle LUN; no reports.
    #[arg(long)]
    bench: bool,
    /// No progress bar and no table.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = load(&args)?;
    if args.bench {
        return super::run_bench::bench(&scenario);
    }
    let options = options(&args, &scenario)?;
    let started = Instant::now();
    let result = run_scenario(&scenario, options).map_err(|e| anyhow::anyhow!(e))?;
    let wall = started.elapsed();
    write_outputs(&args, &result)?;
    if !args.quiet {
        print!("{}", result.report.summary.table());
        println!(
            "{} commands simulated in {:.2} s of wall time; {} blocks verified on the media",
            result.report.commands_simulated,
            wall.as_secs_f64(),
            result.verified_blocks
        );
        if result.outstanding_at_end > 0 && !args.check {
            println!(
                "{} requests were still outstanding {} ms after the workloads ended (the liveness bound); --check makes this an error",
                result.outstanding_at_end, result.liveness_ms
            );
        }
    }
    if result.violations.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("unjam: invariants broken:");
    for violation in &result.violations {
        eprintln!("  {violation}");
    }
    eprintln!("replay: {}", replay_command(&args, scenario.seed));
    Ok(ExitCode::from(1))
}

fn load(args: &RunArgs) -> anyhow::Result<Scenario> {
    let mut overrides = args.overrides.clone();
    if let Some(seed) = args.seed {
        overrides.push(format!("seed={seed}"));
    }
    read_scenario(&args.scenario, &overrides)
}

/// Reads and checks a scenario file (bounded in size) with `--set` overrides applied.
pub fn read_scenario(path: &std::path::Path, overrides: &[String]) -> anyhow::Result<Scenario> {
    let name = path.display().to_string();
    let metadata = std::fs::metadata(path).with_context(|| format!("reading {name}"))?;
    if metadata.len() > MAX_SCENARIO_BYTES as u64 {
        anyhow::bail!("{name}: larger than {MAX_SCENARIO_BYTES} bytes");
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
    Ok(Scenario::from_toml_with_overrides(&text, &name, overrides)?)
}

fn options(args: &RunArgs, scenario: &Scenario) -> anyhow::Result<RunOptions> {
    let mut options = RunOptions {
        check_invariants: args.check,
        trace: args.trace.as_deref().map(create).transpose()?,
        kernel_log: args.kernel_log.as_deref().map(create).transpose()?,
        liveness_ms: args.liveness_ms,
        ..RunOptions::default()
    };
    if args.real_time {
        let start = Instant::now();
        options.pace = Some(Box::new(move |virtual_ns| {
            let due = start + Duration::from_nanos(virtual_ns);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }));
    }
    if !args.quiet && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(scenario.duration_ms);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} ms virtual {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        options.progress = Some(Box::new(move |done_ms, planned_ms| {
            bar.set_length(planned_ms.max(1));
            bar.set_position(done_ms.min(planned_ms));
            if done_ms >= planned_ms {
                bar.finish_and_clear();
            }
        }));
    }
    Ok(options)
}

/// A buffered writer to `path` (`-` is stdout).
fn create(path: &std::path::Path) -> anyhow::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufWriter::new(std::io::stdout())));
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Box::new(BufWriter::with_capacity(1 << 16, file)))
}

fn write_outputs(args: &RunArgs, result: &RunResult) -> anyhow::Result<()> {
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&result.report.summary)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        std::fs::write(path, render_html(&result.report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The command that replays this run exactly.
fn replay_command(args: &RunArgs, seed: u64) -> String {
    let mut command = format!(
        "unjam run {} --seed {seed} --check",
        args.scenario.display()
    );
    for assignment in &args.overrides {
        command.push_str(&format!(" --set '{assignment}'"));
    }
    if let Some(liveness_ms) = args.liveness_ms {
        command.push_str(&format!(" --liveness-ms {liveness_ms}"));
    }
    command
}

//! `unjam vhost-user SCENARIO.toml --socket PATH`: serves the scenario's host 0 as a
//! vhost-user-scsi device (crate `unjam-vhost`) for QEMU's `vhost-user-scsi-pci`, until the
//! guest's QEMU disconnects. `--guest-plan FILE` writes the I/O plan the guest harness runs
//! (`scripts/guest.sh`) instead. Only argument handling lives here.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use unjam_vhost::plan::GuestPlan;

/// Serve a scenario's logical units as a vhost-user-scsi device (a real guest kernel against
/// the scenario's faults).
#[derive(Debug, clap::Args)]
pub struct VhostUserArgs {
    /// The scenario file (TOML; see docs/scenario.md and docs/vhost.md).
    scenario: PathBuf,
    /// The unix socket QEMU connects to (`-chardev socket,path=PATH`).
    #[arg(long, value_name = "PATH", required_unless_present = "guest_plan")]
    socket: Option<PathBuf>,
    /// Write one JSON line per command, completion and task management request here.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Write the guest's I/O plan to FILE and exit (used by scripts/guest.sh).
    #[arg(long, value_name = "FILE")]
    guest_plan: Option<PathBuf>,
    /// Override a scenario field, as in `unjam run --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

pub fn run(args: VhostUserArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::run::read_scenario(&args.scenario, &args.overrides)?;
    if let Some(path) = &args.guest_plan {
        let plan = GuestPlan::new(&scenario)?;
        std::fs::write(path, plan.to_text())
            .with_context(|| format!("writing {}", path.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    init_logging();
    let Some(socket) = &args.socket else {
        anyhow::bail!("--socket PATH is required");
    };
    let log: Option<Box<dyn Write + Send>> = match &args.log {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            Some(Box::new(BufWriter::new(file)))
        }
        None => None,
    };
    unjam_vhost::serve(&scenario, socket, log)?;
    Ok(ExitCode::SUCCESS)
}

/// Warnings (malformed requests, vhost-user protocol errors of the rust-vmm crates, which log
/// through `log`) go to stderr; `RUST_LOG` chooses more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

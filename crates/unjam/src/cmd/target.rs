//! `unjam target SCENARIO.toml`: serves the scenario's logical units over iSCSI in real
//! time (crate `unjam-target`), prints one `iscsi://ADDR:PORT/IQN/LUN` line per LUN and
//! portal, and runs until SIGINT or SIGTERM. Only argument handling lives here.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use unjam_target::TargetServer;

/// Serve a scenario's logical units as an iSCSI target (faults, portals, ALUA).
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The scenario file (TOML; see docs/scenario.md and docs/target.md).
    scenario: PathBuf,
    /// Listen on ip:port (repeatable; replaces the scenario's portals in order; port 0
    /// picks a free port, and the line printed at start shows it).
    #[arg(long = "portal", value_name = "IP:PORT")]
    portals: Vec<String>,
    /// Serve the control socket here (`unjam target-ctl PATH fault add ...`).
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Override a scenario field, as in `unjam run --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

pub fn run(args: TargetArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::run::read_scenario(&args.scenario, &args.overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        // The handlers are in place before the URLs are printed: whoever reads them may
        // signal at once.
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let server = TargetServer::start(&scenario, &args.portals, args.control.clone()).await?;
        let mut stdout = std::io::stdout().lock();
        for url in server.urls() {
            writeln!(stdout, "{url}")?;
        }
        stdout.flush()?;
        drop(stdout);
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        server.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

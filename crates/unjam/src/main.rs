//! The `unjam` command line. Each subcommand lives in its own module under `cmd/`; this file
//! only parses arguments and dispatches. Protocol logic belongs in the library crates.

use clap::{Parser, Subcommand};

mod cmd;

/// The system allocator, counted, so that `unjam bench` can report allocations per command.
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

#[derive(Debug, Parser)]
#[command(
    name = "unjam",
    version,
    about = "User-space SCSI initiator with kernel-grade error recovery"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    DecodeSense(cmd::decode_sense::DecodeSenseArgs),
    /// INQUIRY over iSCSI (like sg_inq).
    Inquiry(cmd::inquiry::InquiryArgs),
    /// READ CAPACITY(16) over iSCSI (like sg_readcap).
    Readcap(cmd::readcap::ReadcapArgs),
    /// TEST UNIT READY over iSCSI (like sg_turs).
    Tur(cmd::tur::TurArgs),
    /// REPORT LUNS over iSCSI (like sg_luns).
    Luns(cmd::luns::LunsArgs),
    /// READ(16) blocks over iSCSI.
    Read(cmd::read::ReadArgs),
    /// WRITE(16) blocks over iSCSI.
    Write(cmd::write::WriteArgs),
    /// LOGICAL UNIT RESET or TARGET WARM RESET over iSCSI.
    Reset(cmd::reset::ResetArgs),
    /// SendTargets discovery on an iSCSI portal.
    Discover(cmd::discover::DiscoverArgs),
    Explain(cmd::explain::ExplainArgs),
    Bench(cmd::bench::BenchArgs),
    /// Run a scenario on the embedded fault-injecting target (virtual time by default).
    Run(cmd::run::RunArgs),
    Target(cmd::target::TargetArgs),
    /// Send a request to a running target's control socket.
    TargetCtl(cmd::target_ctl::TargetCtlArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<std::process::ExitCode> = match cli.command {
        Command::DecodeSense(args) => cmd::decode_sense::run(args),
        Command::Inquiry(args) => cmd::inquiry::run(args),
        Command::Readcap(args) => cmd::readcap::run(args),
        Command::Tur(args) => cmd::tur::run(args),
        Command::Luns(args) => cmd::luns::run(args),
        Command::Read(args) => cmd::read::run(args),
        Command::Write(args) => cmd::write::run(args),
        Command::Reset(args) => cmd::reset::run(args),
        Command::Discover(args) => cmd::discover::run(args),
        Command::Explain(args) => cmd::explain::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Target(args) => cmd::target::run(args),
        Command::TargetCtl(args) => cmd::target_ctl::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("unjam: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

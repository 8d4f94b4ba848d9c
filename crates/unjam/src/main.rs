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
    /// More output on stderr: -v kernel-format log lines of device commands (as dmesg
    /// shows them), -vv the error handler's lines too; RUST_LOG=... sets the tracing filter
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    DecodeSense(cmd::decode_sense::DecodeSenseArgs),
    /// INQUIRY: standard data or a VPD page (like sg_inq).
    Inquiry(cmd::inquiry::InquiryArgs),
    /// READ CAPACITY (like sg_readcap).
    Readcap(cmd::readcap::ReadcapArgs),
    /// TEST UNIT READY (like sg_turs).
    Tur(cmd::tur::TurArgs),
    /// REPORT LUNS (like sg_luns), or every LUN of a target with type and size (like
    /// iscsi-ls -s).
    Luns(cmd::luns::LunsArgs),
    /// Read logical blocks.
    Read(cmd::read::ReadArgs),
    /// Write logical blocks.
    Write(cmd::write::WriteArgs),
    /// LUN, target or host reset, escalating (like sg_reset).
    Reset(cmd::reset::ResetArgs),
    /// REPORT TARGET PORT GROUPS: the ALUA states (like sg_rtpg).
    Rtpg(cmd::rtpg::RtpgArgs),
    /// Any CDB (like sg_raw).
    Raw(cmd::raw::RawArgs),
    /// SendTargets discovery on an iSCSI portal.
    Discover(cmd::discover::DiscoverArgs),
    /// The multipath topology of one logical unit over several URLs or portals (like
    /// multipath -ll).
    Paths(cmd::paths::PathsArgs),
    Explain(cmd::explain::ExplainArgs),
    Bench(cmd::bench::BenchArgs),
    /// Run a scenario on the embedded fault-injecting target (virtual time by default).
    Run(cmd::run::RunArgs),
    Target(cmd::target::TargetArgs),
    /// Send a request to a running target's control socket.
    TargetCtl(cmd::target_ctl::TargetCtlArgs),
    VhostUser(cmd::vhost_user::VhostUserArgs),
}

/// Tracing to stderr: RUST_LOG when set, else by `-v`.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::process::ExitCode {
    // A usage error is exit status 1, as for sg3_utils; --help and --version are 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return std::process::ExitCode::from(u8::from(error.use_stderr()));
        }
    };
    cmd::device::args::set_verbosity(cli.verbose);
    init_logging(cli.verbose);
    let result: anyhow::Result<std::process::ExitCode> = match cli.command {
        Command::DecodeSense(args) => cmd::decode_sense::run(args),
        Command::Inquiry(args) => cmd::inquiry::run(args),
        Command::Readcap(args) => cmd::readcap::run(args),
        Command::Tur(args) => cmd::tur::run(args),
        Command::Luns(args) => cmd::luns::run(args),
        Command::Read(args) => cmd::read::run(args),
        Command::Write(args) => cmd::write::run(args),
        Command::Reset(args) => cmd::reset::run(args),
        Command::Rtpg(args) => cmd::rtpg::run(args),
        Command::Raw(args) => cmd::raw::run(args),
        Command::Discover(args) => cmd::discover::run(args),
        Command::Paths(args) => cmd::paths::run(args),
        Command::Explain(args) => cmd::explain::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Target(args) => cmd::target::run(args),
        Command::TargetCtl(args) => cmd::target_ctl::run(args),
        Command::VhostUser(args) => cmd::vhost_user::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("unjam: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

//! The `unjam` command line. Each subcommand lives in its own module under `cmd/`; this file
//! only parses arguments and dispatches. Protocol logic belongs in the library crates.

use clap::{Parser, Subcommand};

mod cmd;

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<std::process::ExitCode> = match cli.command {
        Command::DecodeSense(args) => cmd::decode_sense::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("unjam: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

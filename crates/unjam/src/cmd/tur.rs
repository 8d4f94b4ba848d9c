//! `unjam tur URL [--number N]`: TEST UNIT READY through the runtime (as sg_turs): exit
//! status 0 when ready, else the sense's class (2 not ready, 6 unit attention, ...).

use std::process::ExitCode;

use serde_json::json;
use unjam_runtime::Transfer;
use unjam_scsi::cdb::TestUnitReady;

use super::device::{self, DeviceArgs, Printer};

/// Send TEST UNIT READY (like sg_turs).
#[derive(Debug, clap::Args)]
pub struct TurArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Send it this many times; the first failure ends the command.
    #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    number: u32,
}

pub fn run(args: TurArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, tur(args))
}

async fn tur(args: TurArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let cdb = TestUnitReady.build()?;
    let mut result = Ok(());
    for _ in 0..args.number {
        result = device::passthrough(&disk, "TEST UNIT READY", cdb.as_slice(), Transfer::None)
            .await
            .map(|_| ());
        if result.is_err() {
            break;
        }
    }
    let result = match result {
        Ok(()) => print(&args),
        Err(failure) => Err(failure.into()),
    };
    device::logout(initiator, result).await
}

fn print(args: &TurArgs) -> anyhow::Result<ExitCode> {
    let mut out = Printer::default();
    if args.device.json {
        out.json(&json!({ "ready": true, "count": args.number }))?;
    } else if args.number > 1 {
        out.line(format!(
            "Completed {} Test Unit Ready commands with 0 errors",
            args.number
        ))?;
    } else {
        out.line("ready")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

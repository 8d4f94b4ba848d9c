//! `unjam tur URL`: TEST UNIT READY; exit status 0 when ready, 1 when not (like sg_turs).

use std::process::ExitCode;

use serde_json::json;
use unjam_iscsi::session::DataDirection;
use unjam_scsi::cdb::TestUnitReady;
use unjam_scsi::sense::SenseReport;

use super::iscsi_common::{connect, execute, print_json, runtime, TargetArgs};

/// Send TEST UNIT READY.
#[derive(Debug, clap::Args)]
pub struct TurArgs {
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: TurArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(tur(args.target))
}

async fn tur(target: TargetArgs) -> anyhow::Result<ExitCode> {
    let (_, client) = connect(&target).await?;
    let cdb = TestUnitReady.build()?;
    let outcome = execute(&client, cdb, DataDirection::None, target.timeout()).await?;
    let ready = outcome.status == 0 && outcome.response == 0;
    let sense = SenseReport::new(&outcome.sense).to_string();
    if target.json {
        print_json(&json!({
            "ready": ready,
            "status": outcome.status,
            "sense_hex": hex_string(&outcome.sense),
        }))?;
    } else if ready {
        println!("ready");
    } else {
        println!("not ready: status {:#04x}", outcome.status);
        if !outcome.sense.is_empty() {
            println!("{}", sense.trim_end());
        }
    }
    let _ = client.logout().await;
    Ok(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn hex_string(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

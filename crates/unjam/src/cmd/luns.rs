//! `unjam luns URL`: REPORT LUNS, printed like sg_luns. The URL may leave out the LUN
//! (`iscsi://host/target-iqn`): REPORT LUNS then goes to LUN 0.

use std::process::ExitCode;

use serde_json::json;
use unjam_iscsi::session::DataDirection;
use unjam_scsi::cdb::response::ReportLunsData;
use unjam_scsi::cdb::{select_report, ReportLuns};

use super::iscsi_common::{connect_target, execute, print_json, require_good, runtime, TargetArgs};

/// Send REPORT LUNS and list the logical units.
#[derive(Debug, clap::Args)]
pub struct LunsArgs {
    #[command(flatten)]
    target: TargetArgs,
}

/// Room for 511 LUN entries after the 8-byte header.
const ALLOCATION_LENGTH: u32 = 4096;

pub fn run(args: LunsArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(luns(args.target))
}

async fn luns(target: TargetArgs) -> anyhow::Result<ExitCode> {
    let client = connect_target(&target).await?;
    let cdb = ReportLuns {
        select_report: select_report::ALL_LOGICAL_UNITS,
        allocation_length: ALLOCATION_LENGTH,
    }
    .build()?;
    let direction = DataDirection::Read {
        length: ALLOCATION_LENGTH,
    };
    let outcome = execute(&client, cdb, direction, target.timeout()).await?;
    require_good(&outcome, "REPORT LUNS")?;
    let data = ReportLunsData::parse(&outcome.data)?;
    let entries: Vec<_> = data.luns.iter().collect();
    if target.json {
        let luns: Vec<_> = entries
            .iter()
            .map(|lun| {
                json!({
                    "lun": lun.number(),
                    "hex": lun.0.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                })
            })
            .collect();
        print_json(&json!({ "list_length": data.list_length, "luns": luns }))?;
    } else {
        println!(
            "Lun list length = {} which implies {} lun entr{}",
            data.list_length,
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        );
        println!("Report luns [select_report=0x0]:");
        for lun in &entries {
            let hex: String = lun.0.iter().map(|b| format!("{b:02x}")).collect();
            match lun.number() {
                Some(number) => println!("    {hex}    LUN {number}"),
                None => println!("    {hex}"),
            }
        }
    }
    let _ = client.logout().await;
    Ok(ExitCode::SUCCESS)
}

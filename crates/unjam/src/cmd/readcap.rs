//! `unjam readcap URL`: READ CAPACITY(16), printed like sg_readcap.

use std::process::ExitCode;

use serde_json::json;
use unjam_iscsi::session::DataDirection;
use unjam_scsi::cdb::response::ReadCapacity16Data;
use unjam_scsi::cdb::ReadCapacity16;

use super::iscsi_common::{connect, execute, print_json, require_good, runtime, TargetArgs};

/// Send READ CAPACITY(16) and print the capacity.
#[derive(Debug, clap::Args)]
pub struct ReadcapArgs {
    #[command(flatten)]
    target: TargetArgs,
}

pub fn run(args: ReadcapArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(readcap(args.target))
}

async fn readcap(target: TargetArgs) -> anyhow::Result<ExitCode> {
    let (_, client) = connect(&target).await?;
    let length = ReadCapacity16::RESPONSE_LEN as u32;
    let cdb = ReadCapacity16 {
        allocation_length: length,
    }
    .build()?;
    let outcome = execute(
        &client,
        cdb,
        DataDirection::Read { length },
        target.timeout(),
    )
    .await?;
    require_good(&outcome, "READ CAPACITY(16)")?;
    let data = ReadCapacity16Data::parse(&outcome.data)?;
    let blocks = data.block_count().unwrap_or(u64::MAX);
    let bytes = u128::from(blocks) * u128::from(data.block_length);
    if target.json {
        print_json(&json!({
            "last_lba": data.returned_lba,
            "block_size": data.block_length,
            "block_count": blocks,
            "size_bytes": bytes,
            "prot_en": data.prot_en,
            "p_type": data.p_type,
            "lbpme": data.lbpme,
            "lbprz": data.lbprz,
            "logical_blocks_per_physical_exponent": data.logical_per_physical_exponent,
            "lowest_aligned_lba": data.lowest_aligned_lba,
        }))?;
    } else {
        println!("Read Capacity results:");
        println!(
            "   Protection: prot_en={}, p_type={}, p_i_exponent={}",
            u8::from(data.prot_en),
            data.p_type,
            data.p_i_exponent
        );
        println!(
            "   Logical block provisioning: lbpme={}, lbprz={}",
            u8::from(data.lbpme),
            u8::from(data.lbprz)
        );
        println!(
            "   Last LBA={} ({:#x}), Number of logical blocks={blocks}",
            data.returned_lba, data.returned_lba
        );
        println!("   Logical block length={} bytes", data.block_length);
        println!(
            "   Logical blocks per physical block exponent={}",
            data.logical_per_physical_exponent
        );
        println!("   Lowest aligned LBA={}", data.lowest_aligned_lba);
        println!("Hence:");
        let mib = bytes as f64 / (1024.0 * 1024.0);
        let gb = bytes as f64 / 1e9;
        println!("   Device size: {bytes} bytes, {mib:.1} MiB, {gb:.2} GB");
    }
    let _ = client.logout().await;
    Ok(ExitCode::SUCCESS)
}

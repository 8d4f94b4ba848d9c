//! `unjam readcap URL [--hex | --raw] [--json]`: READ CAPACITY(16) through the runtime
//! (READ CAPACITY(10) when the device refuses the 16-byte form), printed like
//! `sg_readcap --16`.

use std::process::ExitCode;

use serde_json::json;
use unjam_runtime::Transfer;
use unjam_scsi::cdb::response::{ReadCapacity10Data, ReadCapacity16Data};
use unjam_scsi::cdb::{ReadCapacity10, ReadCapacity16};

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};

/// Send READ CAPACITY and print the size of the logical unit (like sg_readcap).
#[derive(Debug, clap::Args)]
pub struct ReadcapArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Print the response in hex instead of decoding it.
    #[arg(long, short = 'H', conflicts_with = "raw")]
    hex: bool,
    /// Write the response bytes to stdout unchanged.
    #[arg(long, short = 'r', conflicts_with = "json")]
    raw: bool,
}

pub fn run(args: ReadcapArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, readcap(args))
}

async fn readcap(args: ReadcapArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let result = read_capacity(&disk).await;
    let result = match result {
        Ok((raw, data)) => print(&args, &raw, &data),
        Err(failure) => Err(failure.into()),
    };
    device::logout(initiator, result).await
}

/// READ CAPACITY(16), or (10) if the device calls the 16-byte form an illegal request.
async fn read_capacity(
    disk: &unjam_runtime::Disk,
) -> Result<(bytes::Bytes, ReadCapacity16Data), Failure> {
    let length = ReadCapacity16::RESPONSE_LEN as u32;
    let cdb = ReadCapacity16 {
        allocation_length: length,
    }
    .build()
    .map_err(|error| Failure::new(ExitClass::Other, error.to_string()))?;
    let sixteen = device::passthrough(
        disk,
        "READ CAPACITY(16)",
        cdb.as_slice(),
        Transfer::read(length),
    )
    .await;
    let data = match sixteen {
        Ok(outcome) => outcome.data,
        Err(failure)
            if matches!(
                failure.class,
                ExitClass::IllegalRequest | ExitClass::InvalidOp
            ) =>
        {
            let cdb = ReadCapacity10
                .build()
                .map_err(|error| Failure::new(ExitClass::Other, error.to_string()))?;
            let length = ReadCapacity10::RESPONSE_LEN as u32;
            let outcome = device::passthrough(
                disk,
                "READ CAPACITY(10)",
                cdb.as_slice(),
                Transfer::read(length),
            )
            .await?;
            return Ok((outcome.data.clone(), from_ten(&outcome.data)?));
        }
        Err(failure) => return Err(failure),
    };
    let parsed = ReadCapacity16Data::parse(&data).map_err(|error| {
        Failure::new(
            ExitClass::Malformed,
            format!("READ CAPACITY(16) data: {error}"),
        )
    })?;
    Ok((data, parsed))
}

fn from_ten(data: &[u8]) -> Result<ReadCapacity16Data, Failure> {
    let ten = ReadCapacity10Data::parse(data).map_err(|error| {
        Failure::new(
            ExitClass::Malformed,
            format!("READ CAPACITY(10) data: {error}"),
        )
    })?;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&u64::from(ten.returned_lba).to_be_bytes());
    bytes[8..12].copy_from_slice(&ten.block_length.to_be_bytes());
    ReadCapacity16Data::parse(&bytes)
        .map_err(|error| Failure::new(ExitClass::Malformed, error.to_string()))
}

fn print(args: &ReadcapArgs, raw: &[u8], data: &ReadCapacity16Data) -> anyhow::Result<ExitCode> {
    let mut out = Printer::default();
    if out.undecoded(args.raw, args.hex, raw)? {
        return Ok(ExitCode::SUCCESS);
    }
    let blocks = data.returned_lba.saturating_add(1);
    let bytes = u128::from(blocks) * u128::from(data.block_length);
    let physical = u64::from(data.block_length) << data.logical_per_physical_exponent.min(31);
    if args.device.json {
        out.json(&json!({
            "last_lba": data.returned_lba,
            "blocks": blocks,
            "block_size": data.block_length,
            "bytes": bytes as u64,
            "prot_en": data.prot_en,
            "p_type": data.p_type,
            "p_i_exponent": data.p_i_exponent,
            "lbpme": data.lbpme,
            "lbprz": data.lbprz,
            "logical_blocks_per_physical_block_exponent": data.logical_per_physical_exponent,
            "physical_block_size": physical,
            "lowest_aligned_lba": data.lowest_aligned_lba,
        }))?;
    } else {
        let bit = u8::from;
        out.line("Read Capacity results:")?;
        out.line(format!(
            "   Protection: prot_en={}, p_type={}, p_i_exponent={}",
            bit(data.prot_en),
            data.p_type,
            data.p_i_exponent
        ))?;
        out.line(format!(
            "   Logical block provisioning: lbpme={}, lbprz={}",
            bit(data.lbpme),
            bit(data.lbprz)
        ))?;
        out.line(format!(
            "   Last LBA={} (0x{:x}), Number of logical blocks={blocks}",
            data.returned_lba, data.returned_lba
        ))?;
        out.line(format!(
            "   Logical block length={} bytes",
            data.block_length
        ))?;
        out.line(format!(
            "   Logical blocks per physical block exponent={} [so physical block length={physical} bytes]",
            data.logical_per_physical_exponent
        ))?;
        out.line(format!("   Lowest aligned LBA={}", data.lowest_aligned_lba))?;
        out.line("Hence:")?;
        out.line(format!(
            "   Device size: {bytes} bytes, {:.1} MiB, {:.2} GB",
            bytes as f64 / 1_048_576.0,
            bytes as f64 / 1e9
        ))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

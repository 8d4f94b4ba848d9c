//! `unjam write URL --lba N --blocks N (--input FILE | --pattern BYTE)`: WRITE(16).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use bytes::Bytes;
use serde_json::json;
use unjam_iscsi::session::DataDirection;
use unjam_scsi::cdb::Write16;

use super::iscsi_common::{connect, execute, print_json, require_good, runtime, TargetArgs};
use super::iscsi_io::{block_size, residual_json, transfer_length};

/// Write blocks with WRITE(16).
#[derive(Debug, clap::Args)]
pub struct WriteArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// First logical block to write.
    #[arg(long, default_value_t = 0)]
    lba: u64,
    /// Number of logical blocks.
    #[arg(long, default_value_t = 1)]
    blocks: u32,
    /// Data to write (exactly blocks × block size bytes).
    #[arg(long, short = 'i', value_name = "FILE", conflicts_with = "pattern")]
    input: Option<PathBuf>,
    /// Fill every byte with this value (e.g. 0xa5).
    #[arg(long, value_name = "BYTE", value_parser = parse_byte)]
    pattern: Option<u8>,
}

fn parse_byte(text: &str) -> Result<u8, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{text:?} is not a byte (0..255 or 0x00..0xff)"))
}

pub fn run(args: WriteArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(write(args))
}

async fn write(args: WriteArgs) -> anyhow::Result<ExitCode> {
    let (_, client) = connect(&args.target).await?;
    let block_size = block_size(&client, &args.target).await?;
    let length = transfer_length(args.blocks, block_size)? as usize;
    let data = match (&args.input, args.pattern) {
        (Some(path), _) => {
            let data =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if data.len() != length {
                bail!(
                    "{} has {} bytes; {} blocks need {length}",
                    path.display(),
                    data.len(),
                    args.blocks
                );
            }
            data
        }
        (None, pattern) => vec![pattern.unwrap_or(0); length],
    };
    let cdb = Write16 {
        lba: args.lba,
        blocks: args.blocks,
        fua: false,
        dpo: false,
    }
    .build()?;
    let direction = DataDirection::Write {
        data: Bytes::from(data),
    };
    let outcome = execute(&client, cdb, direction, args.target.timeout()).await?;
    require_good(&outcome, "WRITE(16)")?;
    if args.target.json {
        print_json(&json!({
            "lba": args.lba,
            "blocks": args.blocks,
            "block_size": block_size,
            "bytes": length,
            "residual": residual_json(outcome.residual),
        }))?;
    } else {
        println!("wrote {length} bytes at LBA {}", args.lba);
    }
    let _ = client.logout().await;
    Ok(ExitCode::SUCCESS)
}

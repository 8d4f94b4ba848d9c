//! `unjam read URL --lba N --blocks N [--output FILE]`: READ(16) of a block range, to a file
//! or as a hex dump.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use unjam_iscsi::session::DataDirection;
use unjam_scsi::cdb::Read16;

use super::iscsi_common::{connect, execute, print_json, require_good, runtime, TargetArgs};
use super::iscsi_io::{block_size, residual_json, transfer_length};

/// Read blocks with READ(16).
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// First logical block to read.
    #[arg(long, default_value_t = 0)]
    lba: u64,
    /// Number of logical blocks.
    #[arg(long, default_value_t = 1)]
    blocks: u32,
    /// Write the data to FILE instead of printing a hex dump.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: ReadArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(read(args))
}

async fn read(args: ReadArgs) -> anyhow::Result<ExitCode> {
    let (_, client) = connect(&args.target).await?;
    let block_size = block_size(&client, &args.target).await?;
    let length = transfer_length(args.blocks, block_size)?;
    let cdb = Read16 {
        lba: args.lba,
        blocks: args.blocks,
        fua: false,
        dpo: false,
    }
    .build()?;
    let outcome = execute(
        &client,
        cdb,
        DataDirection::Read { length },
        args.target.timeout(),
    )
    .await?;
    require_good(&outcome, "READ(16)")?;
    if let Some(path) = &args.output {
        std::fs::write(path, &outcome.data)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.target.json {
        print_json(&json!({
            "lba": args.lba,
            "blocks": args.blocks,
            "block_size": block_size,
            "bytes": outcome.data.len(),
            "residual": residual_json(outcome.residual),
            "crc32c": crc32c_hex(&outcome.data),
        }))?;
    } else if args.output.is_none() {
        hex_dump(&outcome.data);
    } else {
        println!("read {} bytes from LBA {}", outcome.data.len(), args.lba);
    }
    let _ = client.logout().await;
    Ok(ExitCode::SUCCESS)
}

fn crc32c_hex(data: &[u8]) -> String {
    format!("{:08x}", crc32c::crc32c(data))
}

fn hex_dump(data: &[u8]) {
    for (line, chunk) in data.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = chunk
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() || *b == b' ' {
                    *b as char
                } else {
                    '.'
                }
            })
            .collect();
        println!(" {:08x}  {:<47}  {text}", line * 16, hex.join(" "));
    }
}

//! `unjam read URL --lba N --blocks N [--output FILE | --raw]`: block reads through the
//! runtime (READ(10), or (16) beyond its reach, with sd's retries and the core's error
//! handling), in chunks so any length reads in bounded memory. Without a file the data is
//! printed as hex; only data that arrived, and only for good completions, is printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::BytesMut;
use serde_json::json;

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};

/// Bytes per READ (and the most one command of this tool holds in memory).
pub const CHUNK_BYTES: u64 = 4 * 1024 * 1024;

/// Read logical blocks.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// First logical block to read.
    #[arg(long, default_value_t = 0)]
    lba: u64,
    /// Number of logical blocks.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    blocks: u64,
    /// Write the data to FILE instead of printing it.
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "raw")]
    output: Option<PathBuf>,
    /// Write the data to stdout unchanged instead of as hex.
    #[arg(long, short = 'r', conflicts_with = "json")]
    raw: bool,
}

pub fn run(args: ReadArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, read(args))
}

async fn read(args: ReadArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let result = read_range(&args, &disk).await;
    device::logout(initiator, result).await
}

async fn read_range(args: &ReadArgs, disk: &unjam_runtime::Disk) -> anyhow::Result<ExitCode> {
    let capacity = disk
        .capacity()
        .map_err(|error| Failure::new(ExitClass::Malformed, format!("{error}")))?;
    let block = u64::from(capacity.block_length);
    let per_chunk = (CHUNK_BYTES / block).max(1);
    let mut file = match &args.output {
        Some(path) => Some(std::fs::File::create(path).map_err(|error| {
            Failure::new(
                ExitClass::CannotOpen,
                format!("cannot create {}: {error}", path.display()),
            )
        })?),
        None => None,
    };
    let mut out = Printer::default();
    let mut crc = 0u32;
    let mut buffer = BytesMut::new();
    let mut done = 0u64;
    while done < args.blocks {
        let count = per_chunk.min(args.blocks - done);
        let lba = args.lba.saturating_add(done);
        let data = disk
            .read(lba, count as u32, buffer)
            .await
            .map_err(|error| Failure::io(&format!("READ at LBA {lba}"), &error))?;
        crc = crc32c::crc32c_append(crc, &data);
        if let Some(file) = file.as_mut() {
            file.write_all(&data).map_err(|error| {
                Failure::new(
                    ExitClass::CannotOpen,
                    format!("cannot write the output: {error}"),
                )
            })?;
        } else if args.raw {
            out.bytes(&data)?;
        } else if !args.device.json {
            for (index, line) in data.chunks(16).enumerate() {
                let offset = (done * block) as usize + index * 16;
                out.line(device::output::hex_line(offset, line))?;
            }
        }
        done += count;
        buffer = data.try_into_mut().unwrap_or_default();
    }
    let bytes = done * block;
    if args.device.json {
        out.json(&json!({
            "lba": args.lba,
            "blocks": args.blocks,
            "block_size": capacity.block_length,
            "bytes": bytes,
            "crc32c": format!("{crc:08x}"),
        }))?;
    } else if args.output.is_some() {
        out.line(format!("read {bytes} bytes from LBA {}", args.lba))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

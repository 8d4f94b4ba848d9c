//! `unjam write URL --lba N [--blocks N] (--input FILE | --pattern BYTE)`: block writes
//! through the runtime, streamed in chunks, so input of any size (even `/dev/zero`) is
//! read in bounded memory and never past what the write needs. A write counts only when
//! the target took every byte and answered GOOD.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::{Bytes, BytesMut};
use serde_json::json;

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};
use super::read::CHUNK_BYTES;

/// Most input read when `--blocks` is not given (the file's length decides the write).
const MAX_UNSIZED_INPUT: u64 = 64 * 1024 * 1024;

/// Write logical blocks.
#[derive(Debug, clap::Args)]
pub struct WriteArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// First logical block to write.
    #[arg(long, default_value_t = 0)]
    lba: u64,
    /// Number of logical blocks (default: the input's length, at most 64 MiB; 1 with
    /// --pattern).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    blocks: Option<u64>,
    /// Data to write.
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
    device::run(args.device.json, write(args))
}

fn syntax(text: String) -> anyhow::Error {
    Failure::new(ExitClass::Syntax, text).into()
}

/// Where the bytes come from.
enum Source {
    File(Box<dyn Read>, String),
    Pattern(u8),
}

impl Source {
    /// Exactly `length` bytes, or an error naming how many there were.
    fn next(&mut self, length: usize, buffer: &mut BytesMut) -> anyhow::Result<()> {
        buffer.clear();
        match self {
            Source::Pattern(byte) => buffer.resize(length, *byte),
            Source::File(reader, name) => {
                let mut taken = reader.take(length as u64);
                let mut chunk = Vec::with_capacity(length);
                taken.read_to_end(&mut chunk).map_err(|error| {
                    Failure::new(
                        ExitClass::CannotOpen,
                        format!("cannot read {name}: {error}"),
                    )
                })?;
                if chunk.len() != length {
                    return Err(syntax(format!(
                        "{name} ended after {} of the {length} bytes of this chunk",
                        chunk.len()
                    )));
                }
                buffer.extend_from_slice(&chunk);
            }
        }
        Ok(())
    }
}

/// The source and the number of bytes to write.
fn plan(args: &WriteArgs, block: u64) -> anyhow::Result<(Source, u64)> {
    let Some(path) = &args.input else {
        let blocks = args.blocks.unwrap_or(1);
        return Ok((Source::Pattern(args.pattern.unwrap_or(0)), blocks * block));
    };
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| {
        Failure::new(
            ExitClass::CannotOpen,
            format!("cannot open {name}: {error}"),
        )
    })?;
    if let Some(blocks) = args.blocks {
        return Ok((Source::File(Box::new(file), name), blocks * block));
    }
    // No --blocks: the input's length decides, read within a bound (a device or a pipe
    // has no length to ask for).
    let mut data = Vec::new();
    file.take(MAX_UNSIZED_INPUT + 1)
        .read_to_end(&mut data)
        .map_err(|error| {
            Failure::new(
                ExitClass::CannotOpen,
                format!("cannot read {name}: {error}"),
            )
        })?;
    if data.len() as u64 > MAX_UNSIZED_INPUT {
        return Err(syntax(format!(
            "{name} holds more than {} MiB: give --blocks to write part of it",
            MAX_UNSIZED_INPUT >> 20
        )));
    }
    if data.is_empty() || data.len() as u64 % block != 0 {
        return Err(syntax(format!(
            "{name} has {} bytes: not a whole number of {block}-byte blocks",
            data.len()
        )));
    }
    let length = data.len() as u64;
    Ok((
        Source::File(Box::new(std::io::Cursor::new(data)), name),
        length,
    ))
}

async fn write(args: WriteArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let result = write_range(&args, &disk).await;
    device::logout(initiator, result).await
}

async fn write_range(args: &WriteArgs, disk: &unjam_runtime::Disk) -> anyhow::Result<ExitCode> {
    let capacity = disk
        .capacity()
        .map_err(|error| Failure::new(ExitClass::Malformed, format!("{error}")))?;
    let block = u64::from(capacity.block_length);
    let (mut source, length) = plan(args, block)?;
    let blocks = length / block;
    let end = args.lba.checked_add(blocks);
    if end.is_none_or(|end| end > capacity.blocks()) {
        return Err(syntax(format!(
            "{blocks} blocks at LBA {} run past the last LBA {}",
            args.lba, capacity.last_lba
        )));
    }
    let per_chunk = (CHUNK_BYTES / block).max(1);
    let mut buffer = BytesMut::new();
    let mut done = 0u64;
    while done < blocks {
        let count = per_chunk.min(blocks - done);
        source.next((count * block) as usize, &mut buffer)?;
        let data: Bytes = std::mem::take(&mut buffer).freeze();
        let lba = args.lba + done;
        disk.write(lba, data.clone())
            .await
            .map_err(|error| Failure::io(&format!("WRITE at LBA {lba}"), &error))?;
        buffer = data.try_into_mut().unwrap_or_default();
        done += count;
    }
    let mut out = Printer::default();
    if args.device.json {
        out.json(&json!({
            "lba": args.lba,
            "blocks": blocks,
            "block_size": capacity.block_length,
            "bytes": length,
        }))?;
    } else {
        out.line(format!("wrote {length} bytes at LBA {}", args.lba))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

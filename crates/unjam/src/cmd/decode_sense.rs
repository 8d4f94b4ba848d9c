//! `unjam decode-sense`: decode sense data given as hex, for people (in the spirit of
//! `sg_decode_sense`) or as one JSON object. The decoding itself lives in
//! `unjam_scsi::sense`; this module only reads input and chooses the output form.

mod cdb;
mod hex;
mod json;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use unjam_scsi::sense::{SenseHeader, SenseReport};

/// The largest input file read (hex text with comments).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Decode SCSI sense data given in hex.
///
/// Bytes are separated by spaces or commas, each `1f`, `f` or `0x1f`; a run such as
/// `70000b00` is several bytes; in files `#` starts a comment. The exit status is 0 when
/// the bytes are sense data (even if only the header could be decoded: see `parse_error`
/// in the JSON), 1 when they are not, 2 for bad input.
#[derive(Debug, clap::Args)]
pub struct DecodeSenseArgs {
    /// Sense bytes in hex, e.g. `70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00`.
    #[arg(value_name = "HEX", required_unless_present_any = ["file", "cdb"])]
    bytes: Vec<String>,

    /// Read the hex bytes from FILE instead (`-` for standard input).
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with = "bytes")]
    file: Option<PathBuf>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Decode a CDB instead of sense data, e.g. `--cdb 28 00 00 05 58 70 00 00 10 00`.
    #[arg(long, value_name = "HEX", num_args = 1.., conflicts_with_all = ["bytes", "file"])]
    cdb: Option<Vec<String>>,
}

pub fn run(args: DecodeSenseArgs) -> anyhow::Result<ExitCode> {
    if let Some(cdb_hex) = &args.cdb {
        return cdb::decode_cdb(&hex::parse_arguments(cdb_hex)?, args.json);
    }
    let bytes = read_input(&args)?;
    decode_sense(&bytes, args.json)
}

fn read_input(args: &DecodeSenseArgs) -> anyhow::Result<Vec<u8>> {
    let bytes = match &args.file {
        Some(path) => {
            let text = read_file_text(path)?;
            hex::parse_file_text(&text, &path.display().to_string())?
        }
        None => hex::parse_arguments(&args.bytes)?,
    };
    if bytes.is_empty() {
        anyhow::bail!("no bytes given");
    }
    Ok(bytes)
}

fn read_file_text(path: &PathBuf) -> anyhow::Result<String> {
    let mut text = String::new();
    let what = || format!("reading {}", path.display());
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(what)?;
    } else {
        std::fs::File::open(path)
            .with_context(what)?
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .with_context(what)?;
    }
    if text.len() as u64 > MAX_FILE_BYTES {
        anyhow::bail!("{} is larger than {MAX_FILE_BYTES} bytes", path.display());
    }
    Ok(text)
}

fn decode_sense(bytes: &[u8], as_json: bool) -> anyhow::Result<ExitCode> {
    let header = SenseHeader::normalize(bytes).filter(|header| header.response_code <= 0x73);
    if !as_json {
        print!("{}", SenseReport::new(bytes));
        return Ok(if header.is_some() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let Some(header) = header else {
        let first = bytes.first().copied().unwrap_or_default();
        eprintln!("unjam: not sense data: response code 0x{first:02x} (70h..73h expected)");
        return Ok(ExitCode::FAILURE);
    };
    println!("{}", json::sense_object(bytes, &header));
    Ok(ExitCode::SUCCESS)
}

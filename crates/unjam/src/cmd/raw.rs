//! `unjam raw URL CDB... [--request LEN] [--outfile FILE | --binary] [--infile FILE
//! --send LEN]`: any CDB through the runtime as a passthrough command, like sg_raw: data
//! in goes to a file, to stdout as bytes, or as hex; data out comes from a file. The
//! status and sense go to stderr; the exit status is the sense's class.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::{Bytes, BytesMut};
use serde_json::json;
use unjam_runtime::{Transfer, MAX_TRANSFER_BYTES};

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};

/// Send any CDB (like sg_raw).
#[derive(Debug, clap::Args)]
pub struct RawArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// The CDB in hex, as separate bytes (`12 00 00 00 24 00`) or one string, after the
    /// URL (or the URLs of one multipath device: every leading `iscsi://` word is a URL).
    #[arg(skip)]
    cdb: Vec<String>,
    /// Bytes of data in to ask for.
    #[arg(long, short = 'r', value_name = "LEN", conflicts_with = "send")]
    request: Option<u32>,
    /// Write data in to FILE.
    #[arg(
        long,
        short = 'o',
        value_name = "FILE",
        requires = "request",
        conflicts_with = "binary"
    )]
    outfile: Option<PathBuf>,
    /// Write data in to stdout as bytes instead of hex.
    #[arg(long, short = 'b', requires = "request", conflicts_with = "json")]
    binary: bool,
    /// Bytes of data out to send (from --infile).
    #[arg(long, short = 's', value_name = "LEN", requires = "infile")]
    send: Option<u32>,
    /// Read data out from FILE.
    #[arg(long, short = 'i', value_name = "FILE", requires = "send")]
    infile: Option<PathBuf>,
}

pub fn run(args: RawArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, raw(args))
}

fn syntax(text: String) -> Failure {
    Failure::new(ExitClass::Syntax, text)
}

/// The CDB bytes from the arguments.
pub fn parse_cdb(words: &[String]) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    for (index, word) in words.iter().flat_map(|w| w.split_whitespace()).enumerate() {
        let byte = u8::from_str_radix(word.trim_start_matches("0x"), 16)
            .ok()
            .filter(|_| word.trim_start_matches("0x").len() <= 2)
            .ok_or_else(|| syntax(format!("CDB byte {} {word:?} is not hex 00..ff", index + 1)))?;
        bytes.push(byte);
    }
    if !(6..=16).contains(&bytes.len()) {
        return Err(syntax(format!(
            "a CDB has 6 to 16 bytes, not {} (iSCSI carries at most 16)",
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn transfer(args: &RawArgs) -> Result<Transfer, Failure> {
    if let Some(length) = args.request {
        if length > MAX_TRANSFER_BYTES {
            return Err(syntax(format!(
                "--request {length} exceeds {MAX_TRANSFER_BYTES}"
            )));
        }
        return Ok(Transfer::In {
            length,
            buffer: BytesMut::new(),
        });
    }
    let (Some(length), Some(path)) = (args.send, &args.infile) else {
        return Ok(Transfer::None);
    };
    if length > MAX_TRANSFER_BYTES {
        return Err(syntax(format!(
            "--send {length} exceeds {MAX_TRANSFER_BYTES}"
        )));
    }
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|error| {
        Failure::new(
            ExitClass::CannotOpen,
            format!("cannot open {name}: {error}"),
        )
    })?;
    let mut data = Vec::new();
    file.take(u64::from(length))
        .read_to_end(&mut data)
        .map_err(|error| {
            Failure::new(
                ExitClass::CannotOpen,
                format!("cannot read {name}: {error}"),
            )
        })?;
    if data.len() != length as usize {
        return Err(syntax(format!(
            "{name} has {} bytes; --send asks for {length}",
            data.len()
        )));
    }
    Ok(Transfer::Out(Bytes::from(data)))
}

/// Splits the positional words: the leading `iscsi://` ones are URLs, the rest the CDB.
fn split_urls_and_cdb(args: &mut RawArgs) -> Result<(), Failure> {
    let words = std::mem::take(&mut args.device.urls);
    let urls = words
        .iter()
        .take_while(|word| word.to_ascii_lowercase().starts_with("iscsi://"))
        .count()
        .max(1);
    let (urls, cdb) = words.split_at(urls.min(words.len()));
    if cdb.is_empty() {
        return Err(syntax("no CDB: give its bytes after the URL".into()));
    }
    args.device.urls = urls.to_vec();
    args.cdb = cdb.to_vec();
    Ok(())
}

async fn raw(mut args: RawArgs) -> anyhow::Result<ExitCode> {
    split_urls_and_cdb(&mut args)?;
    let cdb = parse_cdb(&args.cdb)?;
    let transfer = transfer(&args)?;
    let (initiator, disk) = args.device.open().await?;
    let outcome = device::passthrough(&disk, "SCSI command", &cdb, transfer).await;
    let result = match outcome {
        Ok(outcome) => print(&args, &outcome.data),
        Err(failure) => Err(failure.into()),
    };
    device::logout(initiator, result).await
}

fn print(args: &RawArgs, data: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = Printer::default();
    if !args.device.json && !args.binary {
        eprintln!("SCSI Status: Good");
    }
    if let Some(path) = &args.outfile {
        std::fs::write(path, data).map_err(|error| {
            let text = format!("cannot write {}: {error}", path.display());
            Failure::new(ExitClass::CannotOpen, text)
        })?;
    } else if args.binary {
        out.bytes(data)?;
    } else if args.device.json {
        out.json(&json!({
            "status": "GOOD",
            "bytes": data.len(),
            "data": device::hex_string(data),
        }))?;
    } else if args.request.is_some() {
        eprintln!("Received {} bytes of data:", data.len());
        out.hex(data)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|word| word.to_string()).collect()
    }

    #[test]
    fn cdbs_parse_from_bytes_or_one_string() {
        let cdb = parse_cdb(&words(&["12", "00", "00", "00", "24", "0x00"])).unwrap();
        assert_eq!(cdb, [0x12, 0, 0, 0, 0x24, 0]);
        assert_eq!(parse_cdb(&words(&["00 00 00 00 00 00"])).unwrap(), [0; 6]);
        let bad = parse_cdb(&words(&["12", "zz", "0", "0", "0", "0"])).unwrap_err();
        assert!(bad.message.contains("CDB byte 2 \"zz\""), "{bad}");
        assert!(parse_cdb(&words(&["12", "00"])).is_err());
        assert!(parse_cdb(&words(&["123", "0", "0", "0", "0", "0"])).is_err());
        assert_eq!(bad.class, ExitClass::Syntax);
    }
}

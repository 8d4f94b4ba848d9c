//! `unjam luns URL`: with a LUN in the URL, REPORT LUNS to it, printed like sg_luns; with a
//! portal and target (or a portal alone: every target SendTargets lists), every LUN with
//! its type and size, like `iscsi-ls -s` — found by the runtime's scan (REPORT LUNS, then
//! INQUIRY and READ CAPACITY of each LUN, all through the core).

use std::process::ExitCode;

use serde_json::{json, Value};
use unjam_iscsi::url::{ParsedUrl, PortalUrl, TargetUrl};
use unjam_runtime::{discover, Initiator, LunInfo, Transfer};
use unjam_scsi::cdb::response::ReportLunsData;
use unjam_scsi::cdb::{select_report, ReportLuns};

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};

/// List logical units: REPORT LUNS (a LUN URL, like sg_luns) or every LUN of a target or
/// portal with type and size (like iscsi-ls -s).
#[derive(Debug, clap::Args)]
pub struct LunsArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Print the REPORT LUNS response in hex (LUN URL).
    #[arg(long, short = 'H', conflicts_with = "raw")]
    hex: bool,
    /// Write the REPORT LUNS response to stdout unchanged (LUN URL).
    #[arg(long, short = 'r', conflicts_with = "json")]
    raw: bool,
}

/// Room for 2047 LUN entries after the 8-byte header.
const ALLOCATION_LENGTH: u32 = 16 * 1024;

pub fn run(args: LunsArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, luns(args))
}

async fn luns(args: LunsArgs) -> anyhow::Result<ExitCode> {
    match args.device.any_url()? {
        ParsedUrl::Lun(_) => report_luns(&args).await,
        ParsedUrl::Target(target) => {
            // The portal group tag comes from SendTargets, as iscsi-ls prints it.
            let announced = discovered(&args, &target.portal).await.unwrap_or_default();
            let address = announced
                .into_iter()
                .find(|(found, _)| found.target == target.target)
                .and_then(|(_, address)| address);
            list(&args, vec![(target, address)]).await
        }
        ParsedUrl::Portal(portal) => list(&args, discovered(&args, &portal).await?).await,
    }
}

async fn report_luns(args: &LunsArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let cdb = ReportLuns {
        select_report: select_report::ALL_LOGICAL_UNITS,
        allocation_length: ALLOCATION_LENGTH,
    }
    .build()?;
    let transfer = Transfer::read(ALLOCATION_LENGTH);
    let outcome = device::passthrough(&disk, "REPORT LUNS", cdb.as_slice(), transfer).await;
    let result = match outcome {
        Ok(outcome) => print_report(args, &outcome.data),
        Err(failure) => Err(failure.into()),
    };
    device::logout(initiator, result).await
}

fn print_report(args: &LunsArgs, data: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = Printer::default();
    if out.undecoded(args.raw, args.hex, data)? {
        return Ok(ExitCode::SUCCESS);
    }
    let report = ReportLunsData::parse(data)
        .map_err(|error| Failure::new(ExitClass::Malformed, format!("REPORT LUNS: {error}")))?;
    let entries: Vec<_> = report.luns.iter().collect();
    let hex = |lun: &unjam_scsi::cdb::response::Lun| device::hex_string(&lun.0).replace(' ', "");
    if args.device.json {
        let luns: Vec<_> = entries
            .iter()
            .map(|lun| json!({ "lun": lun.number(), "hex": hex(lun) }))
            .collect();
        out.json(&json!({ "list_length": report.list_length, "luns": luns }))?;
    } else {
        let count = entries.len();
        out.line(format!(
            "Lun list length = {} which implies {count} lun entr{}",
            report.list_length,
            if count == 1 { "y" } else { "ies" }
        ))?;
        out.line("Report luns [select_report=0x0]:")?;
        for lun in &entries {
            match lun.number() {
                Some(number) => out.line(format!("    {}    LUN {number}", hex(lun)))?,
                None => out.line(format!("    {}", hex(lun)))?,
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The targets behind a portal, each with the portal address it announced.
async fn discovered(
    args: &LunsArgs,
    portal: &PortalUrl,
) -> anyhow::Result<Vec<(TargetUrl, Option<String>)>> {
    let config = args.device.initiator_config()?;
    let targets = discover(portal, &config)
        .await
        .map_err(|error| Failure::new(ExitClass::CannotOpen, error.to_string()))?;
    Ok(targets
        .into_iter()
        .map(|target| {
            let address = target.addresses.first().cloned();
            let url = TargetUrl {
                portal: portal.clone(),
                target: target.name,
            };
            (url, address)
        })
        .collect())
}

/// Logs in to each target, scans it, prints its LUNs.
async fn list(
    args: &LunsArgs,
    targets: Vec<(TargetUrl, Option<String>)>,
) -> anyhow::Result<ExitCode> {
    let mut out = Printer::default();
    let mut all = Vec::new();
    for (target, address) in targets {
        let config = args.device.initiator_config()?;
        let mut initiator = Initiator::login(std::slice::from_ref(&target), config)
            .await
            .map_err(|error| Failure::initiator(&error))?;
        let scanned = initiator.scan().await.map(<[LunInfo]>::to_vec);
        initiator.logout().await;
        let luns = scanned.map_err(|error| Failure::initiator(&error))?;
        let portal = address.unwrap_or_else(|| target.portal.address());
        if !args.device.json {
            out.line(format!("Target:{} Portal:{portal}", target.target))?;
            for lun in &luns {
                out.line(lun_line(lun))?;
            }
        }
        all.extend(
            luns.iter()
                .map(|lun| lun_json(&target.target, &portal, lun)),
        );
    }
    if args.device.json {
        out.json(&json!({ "luns": all }))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `Lun:1    Type:DIRECT_ACCESS (Size:64M)` as iscsi-ls prints it (the size is exact
/// here; iscsi-ls counts one block short).
fn lun_line(lun: &LunInfo) -> String {
    let size = lun
        .capacity
        .as_ref()
        .map(|capacity| format!(" (Size:{})", human_size(capacity.bytes())))
        .unwrap_or_default();
    format!(
        "Lun:{:<4} Type:{}{size}",
        lun.lun,
        type_name(lun.device_type)
    )
}

fn lun_json(target: &str, portal: &str, lun: &LunInfo) -> Value {
    let capacity = lun.capacity.as_ref().ok();
    json!({
        "target": target,
        "portal": portal,
        "lun": lun.lun,
        "hctl": lun.hctl.to_string(),
        "type": lun.device_type,
        "type_name": type_name(lun.device_type),
        "vendor": lun.vendor,
        "product": lun.product,
        "revision": lun.revision,
        "serial": lun.serial,
        "identifier": lun.identifier,
        "block_size": capacity.map(|c| c.block_length),
        "blocks": capacity.map(|c| c.blocks()),
        "bytes": capacity.map(|c| c.bytes()),
    })
}

/// Bytes in 1024-steps with one letter, whole numbers (iscsi-ls' style).
pub fn human_size(bytes: u64) -> String {
    let mut value = bytes;
    for unit in ["", "k", "M", "G", "T"] {
        if value < 1024 || unit == "T" {
            return format!("{value}{unit}");
        }
        value /= 1024;
    }
    format!("{value}T")
}

/// The peripheral device type as libiscsi's tools name it.
pub fn type_name(device_type: u8) -> &'static str {
    match device_type {
        0x00 => "DIRECT_ACCESS",
        0x01 => "SEQUENTIAL_ACCESS",
        0x02 => "PRINTER",
        0x03 => "PROCESSOR",
        0x04 => "WRITE_ONCE",
        0x05 => "MMC",
        0x06 => "SCANNER",
        0x07 => "OPTICAL_MEMORY",
        0x08 => "MEDIUM_CHANGER",
        0x09 => "COMMUNICATIONS",
        0x0c => "STORAGE_ARRAY_CONTROLLER",
        0x0d => "ENCLOSURE_SERVICES",
        0x0e => "SIMPLIFIED_DIRECT_ACCESS",
        0x0f => "OPTICAL_CARD_READER",
        0x10 => "BRIDGE_CONTROLLER",
        0x11 => "OSD",
        0x12 => "AUTOMATION",
        0x1e => "WELL_KNOWN_LUN",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_whole_binary_units() {
        assert_eq!(human_size(512), "512");
        assert_eq!(human_size(1_048_064), "1023k");
        assert_eq!(human_size(64 * 1024 * 1024), "64M");
        assert_eq!(human_size(3000 * 1024 * 1024), "2G");
        assert_eq!(human_size(u64::MAX), "16777215T");
    }
}

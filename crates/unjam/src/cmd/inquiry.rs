//! `unjam inquiry URL [--vpd PAGE] [--hex | --raw] [--json]`: INQUIRY through the runtime,
//! printed like sg_inq: the standard data with TPGS (the ALUA bits) and the version
//! descriptors, or one VPD page decoded (`inquiry_vpd`).

use std::process::ExitCode;

use serde_json::json;
use unjam_runtime::Transfer;
use unjam_scsi::cdb::response::{version_descriptors, version_name, StandardInquiry, Tpgs};
use unjam_scsi::cdb::Inquiry;

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};
use super::inquiry_vpd;

/// Send INQUIRY and print the standard data or a VPD page (like sg_inq).
#[derive(Debug, clap::Args)]
pub struct InquiryArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// A VPD page to fetch and decode: 0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2 (others
    /// print as hex), by number or name (sv, sn, di, ei, bl, bdc, lbpv).
    #[arg(long, short = 'p', value_name = "PAGE", value_parser = parse_page)]
    vpd: Option<u8>,
    /// Print the response in hex (sg3_utils' layout) instead of decoding it.
    #[arg(long, short = 'H', conflicts_with = "raw")]
    hex: bool,
    /// Write the response bytes to stdout unchanged.
    #[arg(long, short = 'r', conflicts_with = "json")]
    raw: bool,
}

/// Allocation length of the standard INQUIRY (sg_inq asks for up to 252 bytes).
const STANDARD_LENGTH: u16 = 252;
/// Allocation length of a VPD page.
const VPD_LENGTH: u16 = 4096;

fn parse_page(text: &str) -> Result<u8, String> {
    let lower = text.trim().to_ascii_lowercase();
    let named = match lower.as_str() {
        "sv" | "supported" => Some(0x00),
        "sn" | "serial" => Some(0x80),
        "di" | "device_id" => Some(0x83),
        "ei" | "extended" => Some(0x86),
        "bl" | "block_limits" => Some(0xb0),
        "bdc" | "characteristics" => Some(0xb1),
        "lbpv" | "provisioning" => Some(0xb2),
        _ => None,
    };
    let number = match lower.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => lower.parse().ok(),
    };
    named
        .or(number)
        .ok_or_else(|| format!("{text:?} is not a VPD page (0x00..0xff or a name such as di)"))
}

pub fn run(args: InquiryArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, inquiry(args))
}

async fn inquiry(args: InquiryArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let inquiry = match args.vpd {
        Some(page) => Inquiry::vpd(page, VPD_LENGTH),
        None => Inquiry::standard(STANDARD_LENGTH),
    };
    let cdb = inquiry.build()?;
    let transfer = Transfer::read(u32::from(inquiry.allocation_length));
    let outcome = device::passthrough(&disk, "INQUIRY", cdb.as_slice(), transfer).await;
    let result = match outcome {
        Ok(outcome) => print(&args, &outcome.data),
        Err(failure) => Err(failure.into()),
    };
    device::logout(initiator, result).await
}

fn print(args: &InquiryArgs, data: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = Printer::default();
    if args.raw {
        out.bytes(data)?;
    } else if args.hex {
        out.hex(data)?;
    } else if let Some(page) = args.vpd {
        inquiry_vpd::print(&mut out, page, data, args.device.json)?;
    } else {
        let inquiry = StandardInquiry::parse(data)
            .map_err(|error| Failure::new(ExitClass::Malformed, format!("INQUIRY: {error}")))?;
        if args.device.json {
            out.json(&standard_json(&inquiry, data))?;
        } else {
            print_standard(&mut out, &inquiry, data)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The SPC version byte as sg_inq names it.
fn spc_version(version: u8) -> &'static str {
    match version {
        0x00 => "no conformance claimed",
        0x03 => "SPC",
        0x04 => "SPC-2",
        0x05 => "SPC-3",
        0x06 => "SPC-4",
        0x07 => "SPC-5",
        _ => "unknown",
    }
}

fn tpgs_text(tpgs: Tpgs) -> &'static str {
    match tpgs.code() {
        0 => "not supported",
        1 => "implicit ALUA",
        2 => "explicit ALUA",
        _ => "implicit and explicit ALUA",
    }
}

/// The peripheral device type as sg3_utils names it.
pub fn device_type_name(device_type: u8) -> &'static str {
    match device_type {
        0x00 => "disk",
        0x01 => "tape",
        0x02 => "printer",
        0x03 => "processor",
        0x04 => "write once optical disk",
        0x05 => "cd/dvd",
        0x07 => "optical memory device",
        0x08 => "medium changer",
        0x0c => "storage array controller",
        0x0d => "enclosure services device",
        0x0e => "simplified direct access device",
        0x0f => "optical card reader/writer device",
        0x11 => "object based storage",
        0x12 => "automation/driver interface",
        0x14 => "host managed zoned block",
        0x1e => "well known logical unit",
        0x1f => "unknown or no device type",
        _ => "reserved",
    }
}

/// The standard data as sg_inq prints it (bracketed fields are obsolete ones), then the
/// TPGS meaning and the version descriptors.
fn print_standard(out: &mut Printer, data: &StandardInquiry, raw: &[u8]) -> anyhow::Result<()> {
    let byte = |index: usize| raw.get(index).copied().unwrap_or(0);
    let bit = |index: usize, bit: u8| byte(index) >> bit & 1;
    out.line("standard INQUIRY:")?;
    out.line(format!(
        "  PQual={}  PDT={}  RMB={}  LU_CONG={}  hot_pluggable={}  version=0x{:02x}  [{}]",
        data.peripheral.qualifier(),
        data.peripheral.device_type(),
        bit(1, 7),
        bit(1, 6),
        byte(1) >> 4 & 0x3,
        data.version,
        spc_version(data.version)
    ))?;
    out.line(format!(
        "  [AERC={}]  [TrmTsk={}]  NormACA={}  HiSUP={}  Resp_data_format={}",
        bit(3, 7),
        bit(3, 6),
        bit(3, 5),
        bit(3, 4),
        byte(3) & 0x0f
    ))?;
    out.line(format!(
        "  SCCS={}  ACC={}  TPGS={}  3PC={}  Protect={}  [BQue={}]",
        bit(5, 7),
        bit(5, 6),
        byte(5) >> 4 & 0x3,
        bit(5, 3),
        bit(5, 0),
        bit(6, 7)
    ))?;
    out.line(format!(
        "  EncServ={}  MultiP={}  [MChngr={}]  [ACKREQQ={}]  Addr16={}",
        bit(6, 6),
        bit(6, 4),
        bit(6, 3),
        bit(6, 2),
        bit(6, 0)
    ))?;
    out.line(format!(
        "  [RelAdr={}]  WBus16={}  Sync={}  [Linked={}]  [TranDis={}]  CmdQue={}",
        bit(7, 7),
        bit(7, 5),
        bit(7, 4),
        bit(7, 3),
        bit(7, 2),
        bit(7, 1)
    ))?;
    if raw.len() > 56 {
        out.line(format!(
            "  [SPI: Clocking=0x{:x}  QAS={}  IUS={}]",
            byte(56) >> 2 & 0x3,
            bit(56, 1),
            bit(56, 0)
        ))?;
    }
    out.line(format!(
        "    length={} (0x{:x})   Peripheral device type: {}",
        raw.len(),
        raw.len(),
        device_type_name(data.peripheral.device_type())
    ))?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    out.line(format!(" Vendor identification: {}", text(&data.vendor)))?;
    out.line(format!(" Product identification: {}", text(&data.product)))?;
    out.line(format!(" Product revision level: {}", text(&data.revision)))?;
    out.line(format!(
        " Target port group support (TPGS): {}",
        tpgs_text(data.tpgs)
    ))?;
    let versions = version_descriptors(raw);
    if !versions.is_empty() {
        out.line(" Version descriptors:")?;
        for code in versions {
            out.line(format!("    {}", version_name(code)))?;
        }
    }
    Ok(())
}

fn standard_json(data: &StandardInquiry, raw: &[u8]) -> serde_json::Value {
    let text = |field: unjam_scsi::cdb::response::TextField<'_>| field.to_string();
    let versions: Vec<_> = version_descriptors(raw)
        .into_iter()
        .map(|code| json!({ "code": code, "name": version_name(code) }))
        .collect();
    json!({
        "peripheral_qualifier": data.peripheral.qualifier(),
        "device_type": data.peripheral.device_type(),
        "device_type_name": device_type_name(data.peripheral.device_type()),
        "removable": data.removable,
        "version": data.version,
        "normaca": data.normaca,
        "hisup": data.hisup,
        "response_data_format": data.response_data_format,
        "sccs": data.sccs,
        "acc": data.acc,
        "tpgs": data.tpgs.code(),
        "tpgs_text": tpgs_text(data.tpgs),
        "third_party_copy": data.third_party_copy,
        "protect": data.protect,
        "enclosure_services": data.enclosure_services,
        "multi_port": data.multi_port,
        "cmdque": data.cmdque,
        "vendor": text(data.vendor_text()),
        "product": text(data.product_text()),
        "revision": text(data.revision_text()),
        "length": raw.len(),
        "version_descriptors": versions,
    })
}

//! `unjam inquiry URL`: the standard INQUIRY data of a logical unit, printed like sg_inq.

use std::process::ExitCode;

use serde_json::json;
use unjam_iscsi::session::DataDirection;
use unjam_scsi::cdb::response::StandardInquiry;
use unjam_scsi::cdb::Inquiry;

use super::iscsi_common::{connect, execute, print_json, require_good, runtime, TargetArgs};

/// Send INQUIRY and print the standard inquiry data.
#[derive(Debug, clap::Args)]
pub struct InquiryArgs {
    #[command(flatten)]
    target: TargetArgs,
}

const ALLOCATION_LENGTH: u16 = 96;

pub fn run(args: InquiryArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(inquiry(args.target))
}

async fn inquiry(target: TargetArgs) -> anyhow::Result<ExitCode> {
    let (_, client) = connect(&target).await?;
    let cdb = Inquiry::standard(ALLOCATION_LENGTH).build()?;
    let direction = DataDirection::Read {
        length: u32::from(ALLOCATION_LENGTH),
    };
    let outcome = execute(&client, cdb, direction, target.timeout()).await?;
    require_good(&outcome, "INQUIRY")?;
    let data = StandardInquiry::parse(&outcome.data)?;
    let vendor = data.vendor_text().as_str().unwrap_or("").to_string();
    let product = data.product_text().as_str().unwrap_or("").to_string();
    let revision = data.revision_text().as_str().unwrap_or("").to_string();
    if target.json {
        print_json(&json!({
            "peripheral_qualifier": data.peripheral.qualifier(),
            "device_type": data.peripheral.device_type(),
            "removable": data.removable,
            "version": data.version,
            "response_data_format": data.response_data_format,
            "hisup": data.hisup,
            "cmdque": data.cmdque,
            "protect": data.protect,
            "vendor": vendor,
            "product": product,
            "revision": revision,
        }))?;
    } else {
        println!("standard INQUIRY:");
        println!(
            "  PQual={}  PDT={}  RMB={}  version={:#04x}",
            data.peripheral.qualifier(),
            data.peripheral.device_type(),
            u8::from(data.removable),
            data.version
        );
        println!(
            "  NormACA={}  HiSUP={}  Resp_data_format={}",
            u8::from(data.normaca),
            u8::from(data.hisup),
            data.response_data_format
        );
        println!(
            "  SCCS={}  ACC={}  3PC={}  Protect={}",
            u8::from(data.sccs),
            u8::from(data.acc),
            u8::from(data.third_party_copy),
            u8::from(data.protect)
        );
        println!(
            "  EncServ={}  MultiP={}  CmdQue={}",
            u8::from(data.enclosure_services),
            u8::from(data.multi_port),
            u8::from(data.cmdque)
        );
        println!(" Vendor identification: {vendor}");
        println!(" Product identification: {product}");
        println!(" Product revision level: {revision}");
    }
    let _ = client.logout().await;
    Ok(ExitCode::SUCCESS)
}

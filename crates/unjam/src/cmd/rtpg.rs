//! `unjam rtpg URL [--extended] [--hex | --raw] [--json]`: REPORT TARGET PORT GROUPS
//! through the runtime, printed like sg_rtpg: each target port group's ALUA state, the
//! states it supports, and its relative target ports.

use std::process::ExitCode;

use serde_json::json;
use unjam_runtime::Transfer;
use unjam_scsi::cdb::response::{AccessState, SupportedStates, TargetPortGroups};
use unjam_scsi::cdb::ReportTargetPortGroups;

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};

/// Send REPORT TARGET PORT GROUPS (like sg_rtpg).
#[derive(Debug, clap::Args)]
pub struct RtpgArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Ask for the extended header (with the implicit transition time).
    #[arg(long, short = 'e')]
    extended: bool,
    /// Print the response in hex instead of decoding it.
    #[arg(long, short = 'H', conflicts_with = "raw")]
    hex: bool,
    /// Write the response bytes to stdout unchanged.
    #[arg(long, short = 'r', conflicts_with = "json")]
    raw: bool,
}

const ALLOCATION_LENGTH: u32 = 8192;

pub fn run(args: RtpgArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, rtpg(args))
}

async fn rtpg(args: RtpgArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let cdb = ReportTargetPortGroups {
        extended: args.extended,
        allocation_length: ALLOCATION_LENGTH,
    }
    .build()?;
    let transfer = Transfer::read(ALLOCATION_LENGTH);
    let what = "REPORT TARGET PORT GROUPS";
    let outcome = device::passthrough(&disk, what, cdb.as_slice(), transfer).await;
    let result = match outcome {
        Ok(outcome) => print(&args, &outcome.data),
        Err(failure) => Err(failure.into()),
    };
    device::logout(initiator, result).await
}

/// The state as sg_rtpg names it.
pub fn state_name(state: AccessState) -> &'static str {
    match state {
        AccessState::ActiveOptimized => "active/optimized",
        AccessState::ActiveNonOptimized => "active/non optimized",
        AccessState::Standby => "standby",
        AccessState::Unavailable => "unavailable",
        AccessState::LbaDependent => "logical block dependent",
        AccessState::Offline => "offline",
        AccessState::Transitioning => "transitioning between states",
        AccessState::Reserved(_) => "reserved",
    }
}

fn supported_text(supported: SupportedStates) -> String {
    let bit = |mask| u8::from(supported.supports(mask));
    format!(
        "T_SUP : {}, O_SUP : {}, LBD_SUP : {}, U_SUP : {}, S_SUP : {}, AN_SUP : {}, AO_SUP : {}",
        bit(SupportedStates::TRANSITIONING),
        bit(SupportedStates::OFFLINE),
        bit(SupportedStates::LBA_DEPENDENT),
        bit(SupportedStates::UNAVAILABLE),
        bit(SupportedStates::STANDBY),
        bit(SupportedStates::ACTIVE_NON_OPTIMIZED),
        bit(SupportedStates::ACTIVE_OPTIMIZED)
    )
}

fn print(args: &RtpgArgs, data: &[u8]) -> anyhow::Result<ExitCode> {
    let mut out = Printer::default();
    if out.undecoded(args.raw, args.hex, data)? {
        return Ok(ExitCode::SUCCESS);
    }
    let groups = TargetPortGroups::parse(data).map_err(|error| {
        Failure::new(
            ExitClass::Malformed,
            format!("REPORT TARGET PORT GROUPS: {error}"),
        )
    })?;
    if args.device.json {
        let list: Vec<_> = groups
            .groups
            .iter()
            .map(|group| {
                let ports: Vec<u16> = group.ports.iter().map(|port| port.0).collect();
                json!({
                    "id": group.id,
                    "preferred": group.preferred,
                    "state": group.state.code(),
                    "state_name": state_name(group.state),
                    "supported_states": group.supported.0,
                    "status_code": group.status_code,
                    "vendor_specific": group.vendor_specific,
                    "ports": ports,
                })
            })
            .collect();
        let time = groups
            .extended
            .map(|header| header.implicit_transition_time_s);
        out.json(&json!({ "implicit_transition_time_s": time, "groups": list }))?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    out.line("Report target port groups:")?;
    if let Some(header) = groups.extended {
        out.line(format!(
            "  implicit transition time: {} seconds",
            header.implicit_transition_time_s
        ))?;
    }
    for group in groups.groups.iter() {
        out.line(format!(
            "  target port group id : 0x{:x} , Pref={}",
            group.id,
            u8::from(group.preferred)
        ))?;
        out.line(format!(
            "    target port group asymmetric access state : 0x{:02x} ({})",
            group.state.code(),
            state_name(group.state)
        ))?;
        out.line(format!("    {}", supported_text(group.supported)))?;
        out.line(format!("    status code : 0x{:02x}", group.status_code))?;
        out.line(format!(
            "    vendor unique status : 0x{:02x}",
            group.vendor_specific
        ))?;
        out.line(format!("    target port count : {:02x}", group.ports.len()))?;
        out.line("    Relative target port ids:")?;
        for port in group.ports.iter() {
            out.line(format!("      0x{:02x}", port.0))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

//! `unjam discover iscsi://host[:port]`: SendTargets discovery, one target per line
//! (`address,tag name`, as iscsiadm prints them).

use std::process::ExitCode;

use serde_json::json;
use unjam_runtime::discover;

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};

/// List the targets behind a portal (SendTargets=All).
#[derive(Debug, clap::Args)]
pub struct DiscoverArgs {
    #[command(flatten)]
    device: DeviceArgs,
}

pub fn run(args: DiscoverArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, run_discovery(args))
}

async fn run_discovery(args: DiscoverArgs) -> anyhow::Result<ExitCode> {
    // Any URL names a portal; a target or LUN in it is not needed for SendTargets.
    let parsed = args.device.any_url()?;
    let portal = parsed.portal().clone();
    let config = args.device.initiator_config()?;
    let targets = discover(&portal, &config)
        .await
        .map_err(|error| Failure::new(ExitClass::CannotOpen, format!("SendTargets: {error}")))?;
    let mut out = Printer::default();
    if args.device.json {
        let list: Vec<_> = targets
            .iter()
            .map(|target| json!({ "name": target.name, "addresses": target.addresses }))
            .collect();
        out.json(&json!({ "portal": portal.to_string(), "targets": list }))?;
    } else {
        for target in &targets {
            for address in &target.addresses {
                out.line(format!("{address} {}", target.name))?;
            }
            if target.addresses.is_empty() {
                out.line(format!("{} {}", portal.address(), target.name))?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

//! `unjam discover iscsi://host[:port]`: SendTargets discovery, one target per line.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use unjam_iscsi::client::{discover, ClientConfig, DEFAULT_INITIATOR_NAME};
use unjam_iscsi::url::{process_environment, ParsedUrl};

use super::iscsi_common::{print_json, runtime};

/// List the targets behind a portal (SendTargets=All).
#[derive(Debug, clap::Args)]
pub struct DiscoverArgs {
    /// iscsi://[user[%password]@]host[:port]
    #[arg(value_name = "URL")]
    url: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The initiator's iSCSI name.
    #[arg(long, default_value = DEFAULT_INITIATOR_NAME)]
    initiator_name: String,
    /// Seconds to wait for each login and text exchange.
    #[arg(long, default_value_t = 15)]
    timeout_s: u64,
}

pub fn run(args: DiscoverArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(run_discovery(args))
}

async fn run_discovery(args: DiscoverArgs) -> anyhow::Result<ExitCode> {
    // Any URL names a portal; a target or LUN in it is not needed for SendTargets.
    let parsed = ParsedUrl::parse_with_env(&args.url, &process_environment())
        .with_context(|| format!("bad URL {:?}", args.url))?;
    let portal = parsed.portal().clone();
    let config = ClientConfig {
        initiator_name: args.initiator_name.clone(),
        login_timeout: std::time::Duration::from_secs(args.timeout_s.max(1)),
        ..ClientConfig::default()
    };
    let targets = discover(&portal, &config)
        .await
        .with_context(|| format!("SendTargets on {portal} failed"))?;
    if args.json {
        let list: Vec<_> = targets
            .iter()
            .map(|target| json!({ "name": target.name, "addresses": target.addresses }))
            .collect();
        print_json(&json!({ "portal": portal.to_string(), "targets": list }))?;
    } else {
        for target in &targets {
            for address in &target.addresses {
                println!("{address} {}", target.name);
            }
            if target.addresses.is_empty() {
                println!("{} {}", portal.address(), target.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

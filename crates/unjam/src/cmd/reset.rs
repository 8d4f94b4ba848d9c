//! `unjam reset URL [--kind lun|target]`: LOGICAL UNIT RESET or TARGET WARM RESET as an
//! iSCSI task management function.

use std::process::ExitCode;

use serde_json::json;
use unjam_iscsi::pdu::TaskManagementFunction;

use super::iscsi_common::{connect, print_json, runtime, TargetArgs};

/// Which reset to send.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ResetKind {
    Lun,
    Target,
}

/// Send a reset task management function.
#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long, value_enum, default_value = "lun")]
    kind: ResetKind,
}

/// RFC 7143 §11.6.1 response texts.
fn response_text(response: u8) -> &'static str {
    match response {
        0 => "function complete",
        1 => "task does not exist",
        2 => "LUN does not exist",
        3 => "task still allegiant",
        4 => "task allegiance reassignment not supported",
        5 => "task management function not supported",
        6 => "function authorization failed",
        255 => "function rejected",
        _ => "unknown response",
    }
}

pub fn run(args: ResetArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(reset(args))
}

async fn reset(args: ResetArgs) -> anyhow::Result<ExitCode> {
    let (_, client) = connect(&args.target).await?;
    let (function, name) = match args.kind {
        ResetKind::Lun => (
            TaskManagementFunction::LogicalUnitReset,
            "LOGICAL UNIT RESET",
        ),
        ResetKind::Target => (TaskManagementFunction::TargetWarmReset, "TARGET WARM RESET"),
    };
    let exchange = client.manage(function, client.lun(), None);
    let response = tokio::time::timeout(args.target.timeout(), exchange)
        .await
        .map_err(|_| anyhow::anyhow!("{name} timed out"))??;
    if args.target.json {
        print_json(&json!({
            "function": name,
            "response": response,
            "response_text": response_text(response),
        }))?;
    } else {
        println!("{name}: {}", response_text(response));
    }
    let _ = client.logout().await;
    Ok(if response == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

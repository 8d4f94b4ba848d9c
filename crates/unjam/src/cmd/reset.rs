//! `unjam reset URL [--kind lun|target|host] [--no-esc]`: a reset asked for directly, as
//! sg_reset does: LOGICAL UNIT RESET, TARGET WARM RESET, or the host reset (session
//! re-login), each within its open-iscsi timeout. Unless `--no-esc`, a failed reset
//! escalates (LUN → target → host) as sg_reset's does.

use std::process::ExitCode;

use serde_json::json;
use unjam_runtime::ResetKind;

use super::device::{self, DeviceArgs, ExitClass, Failure, Printer};

/// Which reset to start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Lun,
    Target,
    Host,
}

/// Send a reset (like sg_reset).
#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// The first reset to try.
    #[arg(long, value_enum, default_value = "lun")]
    kind: Kind,
    /// Do not escalate to a larger reset when this one fails.
    #[arg(long, short = 'N')]
    no_esc: bool,
}

/// The resets tried from `kind` on (sg_reset's order; iSCSI has no bus reset).
fn ladder(kind: Kind, escalate: bool) -> Vec<ResetKind> {
    let all = [ResetKind::Lun, ResetKind::Target, ResetKind::Host];
    let start = match kind {
        Kind::Lun => 0,
        Kind::Target => 1,
        Kind::Host => 2,
    };
    let steps = &all[start..];
    if escalate {
        steps.to_vec()
    } else {
        steps[..1].to_vec()
    }
}

fn function(kind: ResetKind) -> &'static str {
    match kind {
        ResetKind::Lun => "LOGICAL UNIT RESET",
        ResetKind::Target => "TARGET WARM RESET",
        ResetKind::Host => "session re-login",
    }
}

pub fn run(args: ResetArgs) -> anyhow::Result<ExitCode> {
    device::run(args.device.json, reset(args))
}

async fn reset(args: ResetArgs) -> anyhow::Result<ExitCode> {
    let (initiator, disk) = args.device.open().await?;
    let mut out = Printer::default();
    let mut steps = Vec::new();
    let mut succeeded = None;
    for kind in ladder(args.kind, !args.no_esc) {
        if !args.device.json {
            out.line(format!("unjam reset: starting {} reset", kind.name()))?;
            out.flush()?;
        }
        let result = disk.reset(kind).await;
        steps.push(json!({
            "kind": kind.name(),
            "function": function(kind),
            "result": result.as_ref().map_or_else(|e| e.clone(), |()| "ok".to_string()),
        }));
        if !args.device.json {
            match &result {
                Ok(()) => out.line(format!("unjam reset: completed {} reset", kind.name()))?,
                Err(error) => out.line(format!(
                    "unjam reset: {} reset failed: {error}",
                    kind.name()
                ))?,
            }
        }
        if result.is_ok() {
            succeeded = Some(kind);
            break;
        }
    }
    if args.device.json && succeeded.is_some() {
        out.json(&json!({
            "steps": steps,
            "reset": succeeded.map(ResetKind::name),
            "response": if succeeded.is_some() { 0 } else { 255 },
        }))?;
    }
    out.flush()?;
    let result = match succeeded {
        Some(_) => Ok(ExitCode::SUCCESS),
        None => {
            let tried: Vec<String> = steps
                .iter()
                .map(|step| format!("{}: {}", step["function"], step["result"]))
                .collect();
            let text = format!("every reset tried failed ({})", tried.join("; "));
            Err(Failure::new(ExitClass::Other, text).into())
        }
    };
    device::logout(initiator, result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_escalate_as_sg_reset_does() {
        assert_eq!(
            ladder(Kind::Lun, true),
            vec![ResetKind::Lun, ResetKind::Target, ResetKind::Host]
        );
        assert_eq!(ladder(Kind::Lun, false), vec![ResetKind::Lun]);
        assert_eq!(
            ladder(Kind::Target, true),
            vec![ResetKind::Target, ResetKind::Host]
        );
        assert_eq!(ladder(Kind::Host, true), vec![ResetKind::Host]);
    }
}

//! `unjam paths URL...`: the multipath topology of one logical unit, as `multipath -ll`
//! prints it (`--json`: one object). Several URLs are the paths; one URL is expanded to
//! every portal SendTargets lists for its target. The paths are logged in, probed and
//! grouped by the multipath layer exactly as a device command would use them.
//!
//! ```text
//! naa.5000000fed000000 dm-0 UNJAM,SIM-DISK
//! size=1.0G features='1 queue_if_no_path' hwhandler='1 alua' wp=rw
//! |-+- policy='service-time 0' prio=130 status=active
//! | `- 0:0:0:0 sda iscsi://127.0.0.1:3260/iqn.2024-11.dev.unjam:target/0 active ready running active_optimized
//! `-+- policy='service-time 0' prio=10 status=enabled
//!   `- 1:0:0:0 sdb iscsi://127.0.0.1:3261/iqn.2024-11.dev.unjam:target/0 active ready running active_non_optimized
//! ```
//!
//! Also owns the shared views of a multipath device for other commands (`bench`'s
//! `mpaths` summary): path labels (H:C:T:L, disk name, URL) by core device.

use std::process::ExitCode;

use serde_json::{json, Value};
use unjam_core::topology::DeviceId;
use unjam_runtime::{
    DeviceView, Disk, Initiator, MultipathConfig, NoPathRetry, PathView, Selector, Transfer,
};
use unjam_scsi::cdb::response::{StandardInquiry, Tpgs};
use unjam_scsi::cdb::Inquiry;

use super::device::{self, DeviceArgs, Printer};

/// Show the multipath topology of one logical unit (like multipath -ll).
#[derive(Debug, clap::Args)]
pub struct PathsArgs {
    #[command(flatten)]
    device: DeviceArgs,
}

/// One path's names: core device → (H:C:T:L, disk name, URL).
pub type Labels = Vec<(DeviceId, String, String, String)>;

/// The labels of the paths of the initiator's multipath device.
pub fn labels(initiator: &Initiator) -> Labels {
    initiator
        .paths()
        .iter()
        .map(|path| {
            (
                path.lun.device_id(),
                path.lun.hctl.to_string(),
                path.lun.name.clone(),
                path.url.to_string(),
            )
        })
        .collect()
}

fn label<'a>(labels: &'a Labels, path: &PathView) -> (String, &'a str, &'a str) {
    match labels.iter().find(|(device, ..)| *device == path.id) {
        Some((_, hctl, name, url)) => (hctl.clone(), name.as_str(), url.as_str()),
        None => (format!("device {}", path.id.0), "?", "?"),
    }
}

/// The simulator's `mpaths` object for one device: `id`, `paths` (each `id`, `url`,
/// `state`), `ios_ok`, `ios_failed` (by BlkStatus name), `failovers`, `no_path_ms`.
pub fn summary_json(view: &DeviceView, labels: &Labels) -> Value {
    let mut sorted: Vec<&PathView> = view.paths.iter().collect();
    sorted.sort_by_key(|path| path.id);
    let paths: Vec<Value> = sorted
        .into_iter()
        .map(|path| {
            let (hctl, _, url) = label(labels, path);
            json!({ "id": hctl, "url": url, "state": path.state })
        })
        .collect();
    json!({
        "id": view.identity,
        "paths": paths,
        "ios_ok": view.stats.ios_ok,
        "ios_failed": view.stats.ios_failed,
        "failovers": view.stats.failovers,
        "no_path_ms": view.no_path_ms,
    })
}

/// One line of a `summary_json` object, as `unjam run` prints a device.
pub fn summary_line(mpath: &Value) -> String {
    let paths: Vec<String> = mpath["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{} {}",
                p["id"].as_str().unwrap_or("?"),
                p["state"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let failed: u64 = mpath["ios_failed"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, count)| count.as_u64())
        .sum();
    format!(
        "{}: ok {}, failed {failed}, failovers {}, no path {} ms; paths: {}",
        mpath["id"].as_str().unwrap_or("?"),
        mpath["ios_ok"],
        mpath["failovers"],
        mpath["no_path_ms"],
        paths.join(", ")
    )
}

pub fn run(mut args: PathsArgs) -> anyhow::Result<ExitCode> {
    args.device.multipath = true;
    device::run(args.device.json, paths(args))
}

async fn paths(args: PathsArgs) -> anyhow::Result<ExitCode> {
    let config = args.device.multipath_config()?;
    let (initiator, disk) = args.device.open().await?;
    let result = show(&args, &initiator, &disk, &config).await;
    device::logout(initiator, result).await
}

/// What the unit says of itself that `multipath -ll` shows: ALUA (TPGS) and write protect.
async fn unit_flags(disk: &Disk) -> (Option<bool>, Option<bool>) {
    let alua = match Inquiry::standard(96).build() {
        Ok(cdb) => disk
            .passthrough(cdb.as_slice(), Transfer::read(96))
            .await
            .ok()
            .filter(|outcome| outcome.is_ok())
            .and_then(|outcome| {
                StandardInquiry::parse(&outcome.data)
                    .ok()
                    .map(|data| data.tpgs != Tpgs::NotSupported)
            }),
        Err(_) => None,
    };
    // MODE SENSE(6), all pages, header only: byte 2 bit 7 is WP.
    let mode_sense = [0x1a, 0x08, 0x3f, 0x00, 0x04, 0x00];
    let wp = disk
        .passthrough(&mode_sense, Transfer::read(4))
        .await
        .ok()
        .filter(|outcome| outcome.is_ok() && outcome.data.len() >= 3)
        .map(|outcome| outcome.data[2] & 0x80 != 0);
    (alua, wp)
}

fn selector_name(selector: Selector) -> &'static str {
    match selector {
        Selector::RoundRobin => "round-robin 0",
        Selector::QueueLength => "queue-length 0",
        Selector::ServiceTime => "service-time 0",
    }
}

/// The ALUA state in T10's words (the layer says `active` for active/optimized).
fn alua_state(path: &PathView) -> &'static str {
    match path.access {
        "active" => "active_optimized",
        "non_optimized" => "active_non_optimized",
        other => other,
    }
}

/// device-mapper's view of a path: `failed` once the layer failed it.
fn dm_state(path: &PathView) -> &'static str {
    match path.state {
        "failed" | "removed" => "failed",
        _ => "active",
    }
}

/// The checker's word (multipath -ll's second column).
fn checker_state(path: &PathView) -> &'static str {
    match path.state {
        "failed" | "removed" => "faulty",
        "discovering" => "i/o pending",
        "standby" | "unavailable" => "ghost",
        "marginal" => "marginal",
        "recovering" => "shaky",
        _ => "ready",
    }
}

/// The path groups in the order the layer prefers them: priority, then group number.
fn groups(view: &DeviceView) -> Vec<(Option<u32>, Vec<&PathView>)> {
    let mut groups: Vec<(Option<u32>, Vec<&PathView>)> = Vec::new();
    for path in &view.paths {
        match groups.iter_mut().find(|(group, _)| *group == path.group) {
            Some((_, members)) => members.push(path),
            None => groups.push((path.group, vec![path])),
        }
    }
    let prio = |members: &Vec<&PathView>| members.iter().map(|p| p.prio).max().unwrap_or(0);
    groups.sort_by_key(|(group, members)| (std::cmp::Reverse(prio(members)), *group));
    groups
}

async fn show(
    args: &PathsArgs,
    initiator: &Initiator,
    disk: &Disk,
    config: &MultipathConfig,
) -> anyhow::Result<ExitCode> {
    let (alua, wp) = unit_flags(disk).await;
    let Some((view, states)) = disk.mpath_view_with_states().await else {
        anyhow::bail!("no multipath device");
    };
    // The core device's state (`multipath -ll`'s last column: sysfs `state`).
    let device_state = |path: &PathView| {
        states
            .iter()
            .find(|(device, _)| *device == path.id)
            .map_or("?", |(_, state)| state.name())
    };
    let labels = labels(initiator);
    let info = disk.info();
    let size = info.capacity.as_ref().ok().map(|c| c.bytes());
    let features = match config.no_path_retry {
        NoPathRetry::Fail => "0",
        NoPathRetry::Queue | NoPathRetry::Intervals(_) => "1 queue_if_no_path",
    };
    let hwhandler = if alua == Some(true) { "1 alua" } else { "0" };
    let wp_word = match wp {
        Some(true) => "ro",
        Some(false) => "rw",
        None => "?",
    };
    let policy = selector_name(config.selector);
    let grouped = groups(&view);
    // Before the first I/O the layer has chosen no group: the best usable one is next.
    let current = view.current_group.or_else(|| {
        grouped
            .iter()
            .find(|(_, members)| members.iter().any(|p| dm_state(p) != "failed"))
            .and_then(|(group, _)| *group)
    });
    let status = |group: Option<u32>, members: &[&PathView]| {
        if members.iter().all(|p| dm_state(p) == "failed") {
            "disabled"
        } else if group.is_some() && group == current {
            "active"
        } else {
            "enabled"
        }
    };
    let mut out = Printer::default();
    if args.device.json {
        let path_groups: Vec<Value> = grouped
            .iter()
            .map(|(group, members)| {
                let paths: Vec<Value> = members
                    .iter()
                    .map(|path| {
                        let (hctl, name, url) = label(&labels, path);
                        json!({
                            "id": hctl,
                            "name": name,
                            "url": url,
                            "state": path.state,
                            "dm_state": dm_state(path),
                            "checker_state": checker_state(path),
                            "device_state": device_state(path),
                            "alua_state": alua_state(path),
                            "prio": path.prio,
                            "port_group": path.port_group,
                        })
                    })
                    .collect();
                json!({
                    "group": group,
                    "policy": policy,
                    "prio": members.iter().map(|p| p.prio).max().unwrap_or(0),
                    "status": status(*group, members),
                    "paths": paths,
                })
            })
            .collect();
        let missing: Vec<Value> = initiator
            .missing_paths()
            .iter()
            .map(|m| json!({ "url": m.url, "error": m.error }))
            .collect();
        out.json(&json!({
            "id": view.identity,
            "dm": format!("dm-{}", view.id.0),
            "vendor": info.vendor.trim(),
            "product": info.product.trim(),
            "size_bytes": size,
            "features": features,
            "hwhandler": hwhandler,
            "wp": wp_word,
            "path_groups": path_groups,
            "missing_paths": missing,
        }))?;
    } else {
        out.line(format!(
            "{} dm-{} {},{}",
            view.identity,
            view.id.0,
            info.vendor.trim(),
            info.product.trim()
        ))?;
        let size_text = size.map_or_else(|| "?".to_string(), multipath_size);
        out.line(format!(
            "size={size_text} features='{features}' hwhandler='{hwhandler}' wp={wp_word}"
        ))?;
        for (index, (group, members)) in grouped.iter().enumerate() {
            let last_group = index + 1 == grouped.len();
            let (head, indent) = if last_group {
                ("`-+-", "  ")
            } else {
                ("|-+-", "| ")
            };
            let prio = members.iter().map(|p| p.prio).max().unwrap_or(0);
            out.line(format!(
                "{head} policy='{policy}' prio={prio} status={}",
                status(*group, members)
            ))?;
            for (slot, path) in members.iter().enumerate() {
                let branch = if slot + 1 == members.len() {
                    "`-"
                } else {
                    "|-"
                };
                let (hctl, name, url) = label(&labels, path);
                out.line(format!(
                    "{indent}{branch} {hctl} {name} {url} {} {} {} {}",
                    dm_state(path),
                    checker_state(path),
                    device_state(path),
                    alua_state(path)
                ))?;
            }
        }
        for missing in initiator.missing_paths() {
            out.line(format!(
                "(not logged in: {} — {})",
                missing.url, missing.error
            ))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `1.0G`, `512M`, `2.0T` as multipath -ll prints sizes.
fn multipath_size(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["", "K", "M", "G", "T", "P"] {
        if value < 1024.0 || unit == "P" {
            return if unit.is_empty() {
                format!("{bytes}")
            } else {
                format!("{value:.1}{unit}")
            };
        }
        value /= 1024.0;
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_multipath_prints_them() {
        assert_eq!(multipath_size(1 << 30), "1.0G");
        assert_eq!(multipath_size(512 << 20), "512.0M");
        assert_eq!(multipath_size(1000), "1000");
    }

    #[test]
    fn summary_line_reads_the_summary() {
        let value = json!({
            "id": "naa.1", "ios_ok": 5, "ios_failed": {"BLK_STS_MEDIUM": 2},
            "failovers": 1, "no_path_ms": 0,
            "paths": [{"id": "0:0:0:1", "state": "active"}, {"id": "1:0:0:1", "state": "failed"}],
        });
        assert_eq!(
            summary_line(&value),
            "naa.1: ok 5, failed 2, failovers 1, no path 0 ms; paths: 0:0:0:1 active, 1:0:0:1 failed"
        );
    }
}

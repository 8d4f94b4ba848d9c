//! The CLI side of multipath over iSCSI: `unjam paths` shows one device with two paths
//! (two URLs, or one URL whose target lists two portals through SendTargets) in
//! `multipath -ll`'s shape, device commands (`read`, `raw`) take both URLs, and URLs of
//! different logical units are refused naming both identities. Failover under load is
//! `multipath_cli`'s. Against `unjam target` with two portals and two tgtds serving one
//! backing file as one logical unit, each on free ports and torn down when its test ends.

#[path = "../../unjam-iscsi/tests/support/tgtd.rs"]
#[allow(dead_code)]
mod tgtd;
#[path = "support/unjam_target.rs"]
#[allow(dead_code)]
mod unjam_target;

use std::process::{Command, Output};

use serde_json::Value;
use tgtd::{TgtdOptions, TgtdPaths};
use unjam_target::UnjamTarget;

fn unjam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unjam"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run unjam: {e}"))
}

fn parse(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

/// `unjam paths --json URL...`: (identity, [(H:C:T:L, URL, dm_state)] over every group).
fn paths(urls: &[&str]) -> (String, Vec<(String, String, String)>) {
    let mut args = vec!["paths", "--json"];
    args.extend_from_slice(urls);
    let output = unjam(&args);
    assert!(output.status.success(), "{output:?}");
    let value = parse(&output);
    let members = value["path_groups"]
        .as_array()
        .unwrap_or_else(|| panic!("{value}"))
        .iter()
        .flat_map(|group| group["paths"].as_array().cloned().unwrap_or_default())
        .map(|path| {
            let text = |key: &str| path[key].as_str().unwrap_or_default().to_string();
            (text("id"), text("url"), text("dm_state"))
        })
        .collect();
    (
        value["id"].as_str().unwrap_or_default().to_string(),
        members,
    )
}

#[test]
fn unjam_target_two_portals_are_one_device_by_urls_and_by_send_targets() {
    let target = UnjamTarget::multipath();
    let urls: Vec<&str> = target.urls.iter().map(String::as_str).collect();
    let (identity, members) = paths(&urls);
    assert!(identity.starts_with("naa."), "{identity}");
    assert_eq!(members.len(), 2, "{members:?}");
    assert_eq!(
        members[0],
        ("0:0:0:0".into(), urls[0].into(), "active".into())
    );
    assert_eq!(
        members[1],
        ("1:0:0:0".into(), urls[1].into(), "active".into())
    );
    // One URL: SendTargets lists both portals of the target.
    let (by_discovery, found) = paths(&urls[..1]);
    assert_eq!(by_discovery, identity);
    let found: Vec<&str> = found.iter().map(|(_, url, _)| url.as_str()).collect();
    assert_eq!(found, urls);
    // The text shape of multipath -ll.
    let output = unjam(&["paths", urls[0], urls[1]]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with(&format!("{identity} dm-0 UNJAM,")),
        "{text}"
    );
    assert!(text.contains("hwhandler='1 alua' wp=rw"), "{text}");
    assert!(
        text.contains("|-+- policy='service-time 0' prio=130 status=active"),
        "{text}"
    );
    assert!(
        text.contains(&format!("`- 1:0:0:0 sdb {} active ready", urls[1])),
        "{text}"
    );
    // Every device command takes the paths.
    let read = unjam(&["read", urls[0], urls[1], "--lba", "8", "--blocks", "1"]);
    assert!(read.status.success(), "{read:?}");
    let raw = unjam(&["raw", urls[0], urls[1], "00", "00", "00", "00", "00", "00"]);
    assert!(raw.status.success(), "{raw:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn two_tgtds_are_one_device_and_another_logical_unit_is_refused_naming_both() {
    let paths_of = TgtdPaths::start(2, TgtdOptions::default()).await;
    let urls = paths_of.urls(1);
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let (identity, members) = paths(&urls);
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(!identity.is_empty());

    // LUN 2 is another logical unit: refused, both identities named.
    let lun2 = paths_of.paths[1].url(2);
    let mixed = unjam(&["read", urls[0], &lun2, "--lba", "0", "--blocks", "1"]);
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert_eq!(mixed.status.code(), Some(15), "{mixed:?}");
    assert!(stderr.contains("different logical units"), "{stderr}");
    assert!(stderr.contains(&identity), "{stderr}");
}

//! Multipath over iSCSI as a user sees it, without a failure under load (that is
//! `multipath_failover_cli`'s): the test targets first (two tgtds serving one backing file
//! as one logical unit with one identity; `unjam target` with two portals and faults that
//! take one down or silence it at run time), then `unjam paths` (`multipath -ll`'s shape,
//! by URLs and by SendTargets, text and `--json`), device commands over two URLs, URLs of
//! different logical units refused naming both, and logins failing on every path reported
//! for each. Every target is on free ports and torn down when its test ends.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::{json, unjam};

#[path = "../../unjam-iscsi/tests/support/tgtd.rs"]
#[allow(dead_code)]
mod tgtd;
#[path = "support/unjam_target.rs"]
#[allow(dead_code)]
mod unjam_target;

use std::process::Command;

use serde_json::Value;
use tgtd::{Tgtd, TgtdOptions, TgtdPaths, PATHS_IDENTITY};
use unjam_target::UnjamTarget;

/// VPD 83h's logical-unit designators (association 0) as `unjam inquiry` prints their ids.
fn lu_designators(url: &str) -> Vec<String> {
    let page = json(&["inquiry", "--json", "--vpd", "0x83", url]);
    let designators = page["designators"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"));
    designators
        .iter()
        .filter(|d| d["association"] == "Addressed logical unit")
        .map(|d| d["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn logical_unit_id(url: &str) -> String {
    let page = json(&["inquiry", "--json", "--vpd", "0x83", url]);
    page["logical_unit_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{page}"))
        .to_string()
}

fn serial(url: &str) -> String {
    let page = json(&["inquiry", "--json", "--vpd", "0x80", url]);
    page["serial"]
        .as_str()
        .unwrap_or_else(|| panic!("{page}"))
        .trim()
        .to_string()
}

/// libiscsi's view of VPD 80h, as the oracle.
fn oracle_serial(url: &str) -> String {
    let output = Command::new("timeout")
        .args(["20", "iscsi-inq", "-e", "1", "-c", "128", url])
        .output()
        .unwrap_or_else(|e| panic!("iscsi-inq: {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines()
        .find_map(|line| line.strip_prefix("Unit Serial Number:["))
        .map(|rest| rest.trim_end_matches(']').trim().to_string())
        .unwrap_or_else(|| panic!("no serial in {text}"))
}

#[tokio::test(flavor = "current_thread")]
async fn two_tgtds_serve_one_backing_file_as_one_logical_unit() {
    let paths = TgtdPaths::start(2, TgtdOptions::default()).await;
    let urls = paths.urls(1);
    assert_ne!(paths.paths[0].port, paths.paths[1].port);
    assert_eq!(
        paths.paths[0].backing_file(1),
        paths.paths[1].backing_file(1)
    );
    let designators = lu_designators(&urls[0]);
    assert!(
        designators.contains(&format!("t10.{}", PATHS_IDENTITY.0)),
        "{designators:?}"
    );
    assert_eq!(lu_designators(&urls[1]), designators, "VPD 83h differs");
    assert_eq!(logical_unit_id(&urls[1]), logical_unit_id(&urls[0]));
    for url in &urls {
        assert_eq!(serial(url), PATHS_IDENTITY.1);
        assert_eq!(oracle_serial(url), PATHS_IDENTITY.1);
    }

    // One medium: written through one path, read through the other.
    let written = unjam(&["write", "--lba", "7", "--pattern", "0x5c", &urls[0]]);
    assert!(written.status.success(), "{written:?}");
    let read = unjam(&["read", "--raw", "--lba", "7", &urls[1]]);
    assert!(read.status.success(), "{read:?}");
    assert_eq!(
        read.stdout,
        vec![0x5c; 512],
        "the other path reads what one wrote"
    );

    // Another target id is another logical unit to tgtd: another NAA.
    let other = Tgtd::start(TgtdOptions {
        tid: 2,
        ..TgtdOptions::default()
    })
    .await;
    assert_ne!(logical_unit_id(&other.url(1)), logical_unit_id(&urls[0]));
}

#[test]
fn unjam_target_serves_one_logical_unit_through_two_portals_that_fail_on_request() {
    let target = UnjamTarget::multipath();
    assert_eq!(target.urls.len(), 2, "{:?}", target.urls);
    assert_ne!(target.urls[0], target.urls[1]);
    assert_eq!(
        lu_designators(&target.urls[1]),
        lu_designators(&target.urls[0])
    );
    let tur = |url: &str| unjam(&["tur", "--timeout-s", "1", url]).status.code();
    assert_eq!(tur(&target.urls[0]), Some(0));
    assert_eq!(tur(&target.urls[1]), Some(0));

    // A silent path: TCP up, nothing answers (the login times out), the other path serves.
    let silent = target.silence(1);
    let portals = target.status()["portals"].clone();
    assert!(portals.ends_with("/silent"), "{portals}");
    assert_ne!(tur(&target.urls[1]), Some(0));
    assert_eq!(tur(&target.urls[0]), Some(0));
    target.clear(silent);
    assert_eq!(tur(&target.urls[1]), Some(0));

    // A portal taken down: connections refused, the other path serves.
    let down = target.portal_down(0);
    let portals = target.status()["portals"].clone();
    assert!(portals.contains("/down,"), "{portals}");
    assert_ne!(tur(&target.urls[0]), Some(0));
    assert_eq!(tur(&target.urls[1]), Some(0));
    target.clear(down);
    assert_eq!(tur(&target.urls[0]), Some(0));
}

// ---------------------------------------------------------------------------------------
// `unjam paths` and device commands over several URLs.

/// `unjam paths --json URL...`: (identity, every path over every group in the layer's
/// order).
fn paths(urls: &[&str]) -> (String, Vec<Value>) {
    let mut args = vec!["paths", "--json"];
    args.extend_from_slice(urls);
    let value = json(&args);
    let members = value["path_groups"]
        .as_array()
        .unwrap_or_else(|| panic!("{value}"))
        .iter()
        .flat_map(|group| group["paths"].as_array().cloned().unwrap_or_default())
        .collect();
    (
        value["id"].as_str().unwrap_or_default().to_string(),
        members,
    )
}

/// Each path's (H:C:T:L, URL, dm state, checker state, device state).
fn path_rows(members: &[Value]) -> Vec<[String; 5]> {
    members
        .iter()
        .map(|path| {
            ["id", "url", "dm_state", "checker_state", "device_state"]
                .map(|key| path[key].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn healthy(hctl: &str, url: &str) -> [String; 5] {
    [hctl, url, "active", "ready", "running"].map(String::from)
}

#[test]
fn unjam_target_two_portals_are_one_device_by_urls_and_by_send_targets() {
    let target = UnjamTarget::multipath();
    let urls: Vec<&str> = target.urls.iter().map(String::as_str).collect();
    let (identity, members) = paths(&urls);
    // Named by the unit's VPD 83h identity, one path per URL, both healthy.
    assert_eq!(identity, logical_unit_id(urls[0]));
    assert!(identity.starts_with("naa."), "{identity}");
    assert_eq!(
        path_rows(&members),
        [healthy("0:0:0:0", urls[0]), healthy("1:0:0:0", urls[1])]
    );
    // One URL: SendTargets lists both portals of the target.
    let (by_discovery, found) = paths(&urls[..1]);
    assert_eq!(by_discovery, identity);
    let found: Vec<String> = path_rows(&found)
        .into_iter()
        .map(|[_, url, ..]| url)
        .collect();
    assert_eq!(found, urls);
    // The text shape of multipath -ll: one device, the optimized group active first.
    let output = unjam(&["paths", urls[0], urls[1]]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with(&format!("{identity} dm-0 UNJAM,")),
        "{text}"
    );
    assert_eq!(text.matches(&identity).count(), 1, "one device: {text}");
    assert!(text.contains("hwhandler='1 alua' wp=rw"), "{text}");
    assert!(
        text.contains("|-+- policy='service-time 0' prio=130 status=active"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "| `- 0:0:0:0 sda {} active ready running active_optimized",
            urls[0]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "`- 1:0:0:0 sdb {} active ready running active_non_optimized",
            urls[1]
        )),
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
    assert_eq!(identity, logical_unit_id(urls[0]));
    assert_eq!(
        path_rows(&members),
        [healthy("0:0:0:1", urls[0]), healthy("1:0:0:1", urls[1])]
    );

    // LUN 2 is another logical unit: refused, both identities named.
    let lun2 = paths_of.paths[1].url(2);
    let mixed = unjam(&["read", urls[0], &lun2, "--lba", "0", "--blocks", "1"]);
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert_eq!(mixed.status.code(), Some(15), "{mixed:?}");
    assert!(stderr.contains("different logical units"), "{stderr}");
    assert!(stderr.contains(&identity), "{stderr}");
    assert!(stderr.contains(&logical_unit_id(&lun2)), "{stderr}");
}

#[test]
fn logins_failing_on_every_path_are_each_reported() {
    let target = UnjamTarget::multipath();
    target.portal_down(0);
    target.portal_down(1);
    let output = unjam(&["paths", &target.urls[0], &target.urls[1]]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(15), "{output:?}");
    assert!(
        stderr.contains("cannot log in on any of the 2 paths"),
        "{stderr}"
    );
    for url in &target.urls {
        assert!(stderr.contains(url.as_str()), "{url}: {stderr}");
    }
}

//! Failover over iSCSI as a user runs it: `unjam bench URL URL` (one multipath device) and
//! device commands while a path is lost, against `unjam target` with two portals (a portal
//! taken down, a portal gone silent, a MEDIUM ERROR, every path down, seed 003's story) and
//! two tgtds serving one backing file as one logical unit (a tgtd killed, a tgtd stopped).
//! Every assertion is about outcomes and counts (errors returned, writes read back, path
//! states, exit statuses), never about speed: wall-clock failover times are
//! `scripts/bench-multipath-iscsi.sh`'s. The topology commands (`unjam paths`) and the test
//! targets themselves are `multipath_cli`'s. Every target is on free ports and torn down
//! when its test ends.

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

use tgtd::{TgtdOptions, TgtdPaths};
use unjam_target::UnjamTarget;

/// `unjam bench ARGS` running in the background; its stdout lines as they come.
struct Bench {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Bench {
    /// Starts `unjam bench ARGS --log-interval 100ms --output-format json` and waits for
    /// the first time-series line: I/O is flowing.
    fn start(args: &[&str]) -> Bench {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_unjam"))
            .arg("bench")
            .args(args)
            .args(["--log-interval", "100ms", "--output-format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn unjam bench: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let mut bench = Bench {
            child,
            lines,
            seen: Vec::new(),
        };
        loop {
            let line = bench
                .lines
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("bench printed no time series ({e}): {:?}", bench.seen));
            let ios = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .filter(|value| value.get("t_ms").is_some())
                .map(|value| {
                    value["read"]["ios"].as_u64().unwrap_or(0)
                        + value["write"]["ios"].as_u64().unwrap_or(0)
                });
            bench.seen.push(line);
            if ios.is_some_and(|ios| ios > 0) {
                return bench;
            }
        }
    }

    /// Waits for the end: the exit status and the final JSON report.
    fn finish(mut self) -> (Option<i32>, serde_json::Value) {
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("wait for bench: {e}"));
        self.seen.extend(self.lines.iter());
        let report: String = self
            .seen
            .iter()
            .filter(|line| !line.contains("\"t_ms\""))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        let report = serde_json::from_str(&report)
            .unwrap_or_else(|e| panic!("bench report ({e}): {report}"));
        (status.code(), report)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The report's one multipath device.
fn mpath(report: &serde_json::Value) -> &serde_json::Value {
    let mpaths = report["mpaths"]
        .as_array()
        .unwrap_or_else(|| panic!("no mpaths in {report}"));
    assert_eq!(mpaths.len(), 1, "{report}");
    &mpaths[0]
}

/// The state of the path through `url`.
fn path_state(mpath: &serde_json::Value, url: &str) -> String {
    mpath["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|path| path["url"] == url)
        .map(|path| path["state"].as_str().unwrap_or("?").to_string())
        .unwrap_or_else(|| panic!("no path {url} in {mpath}"))
}

fn path_states(mpath: &serde_json::Value) -> Vec<String> {
    mpath["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|path| path["state"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// A verified random-write load over both paths, one path lost under it: no error returned,
/// every acknowledged write reads back (the verify pass), the lost path marked failed.
fn assert_ridden_out(report: &serde_json::Value, exit: Option<i32>) {
    assert_eq!(exit, Some(0), "{report}");
    assert_eq!(report["unjam"]["errors"], 0, "{report}");
    assert_eq!(report["unjam"]["verify"]["mismatches"], 0, "{report}");
    assert!(
        report["unjam"]["verify"]["checked"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    let mpath = mpath(report);
    assert_eq!(mpath["ios_failed"], serde_json::json!({}), "{report}");
    assert!(mpath["ios_ok"].as_u64().unwrap_or(0) > 0, "{report}");
}

const VERIFIED_WRITES: [&str; 8] = [
    "--rw",
    "randwrite",
    "--verify",
    "--qd",
    "8",
    "--time",
    "3s",
    "--continue-on-error",
];

/// [`VERIFIED_WRITES`] for a path that dies silently: a 1 s NOP-Out interval and timeout,
/// and 5 s of run, room for one ping interval and timeout.
const SILENT_PATH_WRITES: [&str; 12] = [
    "--rw",
    "randwrite",
    "--verify",
    "--qd",
    "8",
    "--time",
    "5s",
    "--continue-on-error",
    "--set",
    "noop_out_interval=1",
    "--set",
    "noop_out_timeout=1",
];

#[test]
fn a_portal_taken_down_under_verified_random_writes_returns_no_error() {
    let target = UnjamTarget::multipath();
    let mut args: Vec<&str> = target.urls.iter().map(String::as_str).collect();
    args.extend(VERIFIED_WRITES);
    // One write on path 0 (portal 0, the active/optimized group I/O runs on) is held by
    // the target unanswered, so a request is surely in flight there when the portal goes.
    target.fault(&[
        "kind=timeout",
        "device=0:0:0:0",
        "commands=writes",
        "times=1",
    ]);
    let bench = Bench::start(&args);
    target.portal_down(0);
    let (exit, report) = bench.finish();
    assert_ridden_out(&report, exit);
    assert_eq!(
        path_state(mpath(&report), &target.urls[0]),
        "failed",
        "{report}"
    );
    assert!(
        mpath(&report)["failovers"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_tgtd_killed_under_verified_random_writes_returns_no_error() {
    let mut paths = TgtdPaths::start(2, TgtdOptions::default()).await;
    let urls = paths.urls(1);
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.extend(VERIFIED_WRITES);
    let bench = Bench::start(&args);
    paths.paths[0].kill();
    let (exit, report) = bench.finish();
    assert_ridden_out(&report, exit);
    assert_eq!(path_state(mpath(&report), &urls[0]), "failed", "{report}");
}

#[test]
fn a_path_that_dies_silently_is_failed_by_the_nop_out_ping_and_returns_no_error() {
    let target = UnjamTarget::multipath();
    let mut args: Vec<&str> = target.urls.iter().map(String::as_str).collect();
    args.extend(SILENT_PATH_WRITES);
    let bench = Bench::start(&args);
    target.silence(0);
    let (exit, report) = bench.finish();
    assert_ridden_out(&report, exit);
    assert_eq!(
        path_state(mpath(&report), &target.urls[0]),
        "failed",
        "{report}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_stopped_tgtd_is_failed_by_the_nop_out_ping_and_returns_no_error() {
    let paths = TgtdPaths::start(2, TgtdOptions::default()).await;
    let urls = paths.urls(1);
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.extend(SILENT_PATH_WRITES);
    let bench = Bench::start(&args);
    // SIGSTOP: the kernel keeps both TCP connections up, nothing answers on path 0.
    paths.paths[0].pause();
    let (exit, report) = bench.finish();
    paths.paths[0].resume();
    assert_ridden_out(&report, exit);
}

/// `examples/target-multipath.toml` with reads of LBAs 1000..=1999 failing with MEDIUM
/// ERROR on every path (seed 003's second fault), on 8 MiB so that random reads hit them.
fn seed003_target(dir: &std::path::Path) -> UnjamTarget {
    let text = std::fs::read_to_string(unjam_target::multipath_scenario())
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("capacity_mib = 1024", "capacity_mib = 8");
    let text = format!(
        "{text}\n[[fault]]\ndevice = \"*\"\nkind = \"medium_error\"\ncommands = \"reads\"\n\
         lba_first = 1000\nlba_last = 1999\n"
    );
    let path = dir.join("seed003-iscsi.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    UnjamTarget::start(&path, 2, 2)
}

#[test]
fn a_medium_error_on_a_healthy_path_is_returned_not_failed_over() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let target = seed003_target(dir.path());
    let (first, second) = (target.urls[0].as_str(), target.urls[1].as_str());
    let output = unjam(&["read", "--json", "--lba", "1500", first, second]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let error: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"));
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("BLK_STS_MEDIUM"), "{error}");
    assert_eq!(error["error"]["category"], "medium_or_hardware_error");
    // The target saw one read of it: it was not sent down the other path.
    let listed = target.ctl(&["fault", "list"]);
    assert!(listed.contains("0 scenario fired=1 "), "{listed}");
    // Both paths stay in use.
    let output = unjam(&["read", "--lba", "0", first, second]);
    assert!(output.status.success(), "{output:?}");
    let device = json(&["paths", "--json", first, second]);
    assert!(!device.to_string().contains("\"failed\""), "{device}");
}

#[test]
fn every_path_down_queues_for_no_path_retry_then_fails_with_transport() {
    let target = UnjamTarget::multipath();
    let mut args: Vec<&str> = target.urls.iter().map(String::as_str).collect();
    args.extend(["--rw", "randwrite", "--qd", "8", "--time", "30s"]);
    args.extend([
        "--set",
        "no_path_retry=2",
        "--set",
        "polling_interval=200ms",
    ]);
    let bench = Bench::start(&args);
    target.portal_down(0);
    target.portal_down(1);
    let (exit, report) = bench.finish();
    assert!(exit.is_some_and(|code| code != 0), "{exit:?} {report}");
    // The message says why: no path, not an attempt's status.
    let error = report["unjam"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("BLK_STS_TRANSPORT"), "{report}");
    assert!(
        error.contains("no usable path: no_path_retry exhausted"),
        "{report}"
    );
    assert!(!error.contains("DID_OK"), "{report}");
    let mpath = mpath(&report);
    let failed = mpath["ios_failed"]
        .as_object()
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        failed.keys().collect::<Vec<_>>(),
        ["BLK_STS_TRANSPORT"],
        "{report}"
    );
    assert_eq!(path_states(mpath), ["failed", "failed"], "{report}");
    // Queued for no_path_retry (2 checker intervals of 200 ms) before failing.
    assert!(mpath["no_path_ms"].as_u64().unwrap_or(0) >= 400, "{report}");
}

/// Seed 003 (spec README §7.4) over iSCSI: host 0's transport goes down under a random-read
/// load through both paths and comes back; the MEDIUM ERRORs are returned, nothing else is.
#[test]
fn seed003_over_iscsi_a_transport_down_fails_over_and_a_medium_error_is_returned() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let target = seed003_target(dir.path());
    let mut args: Vec<&str> = target.urls.iter().map(String::as_str).collect();
    args.extend(["--rw", "randread", "--qd", "8", "--time", "3s"]);
    args.extend(["--continue-on-error", "--set", "polling_interval=200ms"]);
    // One read on host 0's path is held unanswered: in flight when the transport goes.
    target.fault(&[
        "kind=timeout",
        "device=0:0:0:0",
        "commands=reads",
        "times=1",
    ]);
    let bench = Bench::start(&args);
    target.fault(&[
        "kind=transport_down",
        "device=0:*:*:*",
        "from_ms=0",
        "duration_ms=1000",
    ]);
    let (exit, report) = bench.finish();
    let mpath = mpath(&report);
    let failed = mpath["ios_failed"]
        .as_object()
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        failed.keys().collect::<Vec<_>>(),
        ["BLK_STS_MEDIUM"],
        "{report}"
    );
    let medium = failed["BLK_STS_MEDIUM"].as_u64().unwrap_or(0);
    assert!(medium > 0, "{report}");
    assert_eq!(report["unjam"]["errors"].as_u64(), Some(medium), "{report}");
    assert!(mpath["failovers"].as_u64().unwrap_or(0) > 0, "{report}");
    // --continue-on-error kept the run going to its end; the I/O that failed still makes
    // the exit status non-zero (MEDIUM ERROR's).
    assert_eq!(exit, Some(3), "{report}");
}

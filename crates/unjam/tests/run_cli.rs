//! `unjam run` as a user runs it: the liveness check fails a run whose request cannot
//! complete within the stated bound (naming it and printing the replay command), the
//! kernel log with dmesg timestamps, the per-LUN summary counters and state, and typed
//! trace lines.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::unjam;

use std::path::{Path, PathBuf};

fn example(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    root.join(name).display().to_string()
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn check_fails_on_a_request_stuck_past_the_liveness_bound() {
    let stuck = example("stuck.toml");
    let output = unjam(&[
        "run",
        &stuck,
        "--check",
        "--quiet",
        "--liveness-ms",
        "5000",
        "--set",
        "workload.0.io_bytes=8192",
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains("did not complete within the liveness bound of 5000 ms"),
        "{errors}"
    );
    assert!(errors.contains("stuck: request"), "{errors}");
    assert!(errors.contains("on 0:0:0:1: Read"), "{errors}");
    assert!(
        errors.contains(&format!(
            "replay: unjam run {stuck} --seed 7 --check --set 'workload.0.io_bytes=8192' --liveness-ms 5000"
        )),
        "{errors}"
    );
    let passes = unjam(&["run", &stuck, "--check", "--quiet"]);
    assert!(passes.status.success(), "{passes:?}");
}

#[test]
fn a_bad_set_is_a_scenario_error_said_once() {
    let seed = example("seed001.toml");
    let output = unjam(&["run", &seed, "--set", "eh.scope=sideways"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let errors = cli::stderr(&output);
    assert_eq!(
        errors.matches("unknown variant `sideways`").count(),
        1,
        "{errors}"
    );
    assert!(errors.contains("--set `eh.scope=sideways`"), "{errors}");
}

#[test]
fn kernel_log_json_summary_and_trace_of_seed_002() {
    let dir = tempfile::tempdir().unwrap();
    let log: PathBuf = dir.path().join("kernel.log");
    let json: PathBuf = dir.path().join("summary.json");
    let trace: PathBuf = dir.path().join("trace.jsonl");
    let output = unjam(&[
        "run",
        &example("seed002.toml"),
        "--check",
        "--quiet",
        "--kernel-log",
        &path_text(&log),
        "--json",
        &path_text(&json),
        "--trace",
        &path_text(&trace),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("sd 0:0:0:0"),
        "no kernel log on stdout by default"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let (stamp, text) = line.split_once("] ").unwrap();
        let stamp = stamp.strip_prefix('[').unwrap();
        let (seconds, millis) = stamp.trim_start().split_once('.').unwrap();
        assert!(
            seconds.parse::<u64>().is_ok() && millis.len() == 3,
            "{line}"
        );
        assert_eq!(stamp.len(), 9, "dmesg width: {line}");
        assert!(
            text.starts_with("sd 0:0:0:0: ") || text.contains(", dev sda, sector "),
            "{line}"
        );
    }
    assert!(
        log.contains("FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK"),
        "{log}"
    );

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let lun = &summary["luns"][0];
    assert_eq!(lun["timeouts"], 1, "{lun}");
    assert_eq!(lun["aborts"], 1, "{lun}");
    assert_eq!(lun["retries"], 1, "the retry after the abort: {lun}");
    assert_eq!(lun["resets"], 0, "{lun}");
    assert_eq!(lun["state"], "running", "{lun}");
    let dispatched = lun["dispatched"].as_u64().unwrap();
    let done = lun["ios_ok"].as_u64().unwrap() + 1;
    assert_eq!(
        dispatched,
        done + 1,
        "one resend, REQUEST SENSE not counted: {lun}"
    );

    let trace = std::fs::read_to_string(&trace).unwrap();
    assert!(!trace.contains("DeviceId("), "no Debug strings");
    for line in trace.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            event["t_ns"].is_u64() && event["kind"].is_string(),
            "{line}"
        );
        assert!(
            event["source"] == "core" || event["source"] == "sim",
            "{line}"
        );
        if let Some(tag) = event.get("tag") {
            assert!(tag["slot"].is_u64() && tag["generation"].is_u64(), "{line}");
        }
        if let Some(device) = event.get("device").and_then(|d| d.as_str()) {
            assert_eq!(device, "0:0:0:0", "{line}");
        }
    }
    assert!(trace.contains(r#""kind":"target_done""#));
    assert!(trace.contains(r#""kind":"timed_out""#));
}

//! The runs of spec/kernel-observed.md (Linux 6.12, scsi_debug) written as scenarios
//! (`examples/kernel/*.toml`: policy linux, host scope, personality scsi_debug, 2 hosts ×
//! 2 targets × 2 LUNs, sick LUN 0:0:0:0 at 3 s / 2 s, O_DIRECT readers on every LUN) and
//! compared with what the kernel did: the sends of the failing read, the error handler's
//! steps in order, the final status and device state, the time to error and the stall of
//! the healthy LUNs of the same host (within 15 %) and of the other host.
//!
//! `cargo test -p unjam-sim --test kernel_runs -- --nocapture` prints the "unjam vs
//! kernel" table of docs/core.md. The LUN-scope variant of every run checks that healthy
//! LUNs fail nothing and stall only while a host-wide step runs.

use std::path::PathBuf;

use unjam_sim::report::RunSummary;
use unjam_sim::runner::{run_scenario, RunOptions, RunResult, SharedBuffer};
use unjam_sim::scenario::Scenario;

/// What kernel-observed.md reports for one run.
struct Kernel {
    file: &'static str,
    title: &'static str,
    sends: usize,
    /// Time from the failing read's issue to its completion, in seconds.
    time_to_error_s: f64,
    /// `None`: success; else the kernel name of the final status.
    status: Option<&'static str>,
    offlined: bool,
    /// The error handler's steps, in order (see `steps`).
    steps: &'static str,
    /// Same-host healthy LUN stall, in seconds; `AtMost` for the run that gives a bound.
    stall: Stall,
}

#[derive(Clone, Copy)]
enum Stall {
    /// Below 10 ms.
    None,
    About(f64),
    AtMost(f64),
}

const RUNS: &[Kernel] = &[
    Kernel {
        file: "medium-error.toml",
        title: "medium error 03/11/00",
        sends: 1,
        time_to_error_s: 0.016,
        status: Some("BLK_STS_MEDIUM"),
        offlined: false,
        steps: "",
        stall: Stall::None,
        // One scsi_debug command (4 ms) and the five lines of the failure on the console
        // (2.4 ms each under policy linux): 0.016 s.
    },
    Kernel {
        file: "one-timeout.toml",
        title: "one timeout, then OK",
        sends: 2,
        time_to_error_s: 3.08,
        status: None,
        offlined: false,
        steps: "abort=ok",
        stall: Stall::None,
    },
    Kernel {
        file: "every-read-times-out.toml",
        title: "every READ times out, resets OK",
        sends: 3,
        time_to_error_s: 11.4,
        status: Some("BLK_STS_IOERR"),
        offlined: true,
        steps: "abort=ok | lun_reset=ok tur=ok | lun_reset=ok tur=ok sd_offline",
        stall: Stall::About(0.030),
    },
    Kernel {
        file: "aborted-command.toml",
        title: "CHECK CONDITION 0b/00/06 on every READ",
        sends: 6,
        time_to_error_s: 0.09,
        status: Some("BLK_STS_IOERR"),
        offlined: false,
        steps: "",
        stall: Stall::None,
    },
    Kernel {
        file: "abort-and-lun-reset-fail.toml",
        title: "abort fails + LUN reset fails",
        sends: 3,
        time_to_error_s: 11.3,
        status: Some("BLK_STS_IOERR"),
        offlined: true,
        steps: "abort=fail | lun_reset=fail target_reset=ok tur=ok \
                | lun_reset=fail target_reset=ok tur=ok \
                | lun_reset=fail target_reset=ok tur=ok sd_offline",
        stall: Stall::AtMost(0.044),
    },
    Kernel {
        file: "target-reset-fails.toml",
        title: "+ target reset fails",
        sends: 3,
        time_to_error_s: 42.0,
        status: Some("BLK_STS_IOERR"),
        offlined: true,
        steps: "abort=fail | lun_reset=fail target_reset=fail bus_reset=ok tur=ok \
                | lun_reset=fail target_reset=fail bus_reset=ok tur=ok \
                | lun_reset=fail target_reset=fail bus_reset=ok tur=ok sd_offline",
        stall: Stall::About(10.24),
    },
    Kernel {
        file: "read-and-tur-time-out.toml",
        title: "READ and TUR time out, resets succeed",
        sends: 2,
        time_to_error_s: 35.4,
        status: Some("BLK_STS_IOERR"),
        offlined: true,
        steps: "abort=ok | lun_reset=ok tur=fail target_reset=ok tur=fail bus_reset=ok \
                tur=fail host_reset=ok tur=fail offline",
        stall: Stall::About(28.14),
    },
];

const SICK: &str = "0:0:0:0";
const SAME_HOST: [&str; 3] = ["0:0:0:1", "0:0:1:0", "0:0:1:1"];
fn load(file: &str, overrides: &[&str]) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/kernel")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::from_toml_with_overrides(&text, file, &overrides).unwrap()
}

fn run(file: &str, overrides: &[&str]) -> RunResult {
    let options = RunOptions {
        check_invariants: true,
        ..RunOptions::default()
    };
    let result = run_scenario(&load(file, overrides), options).unwrap();
    assert!(
        result.violations.is_empty(),
        "{file} {overrides:?}: {:?}",
        result.violations
    );
    assert_eq!(result.outstanding_at_end, 0, "{file}: requests left");
    result
}

/// Sends of the failing read: the sick LUN's sends less one per other read (its reader
/// before the fault sends each read once: no fault, no unit attention).
fn sends(summary: &RunSummary) -> usize {
    let sick = lun(summary, SICK);
    let reads = sick.ios_ok + sick.ios_failed.values().sum::<u64>();
    (sick.dispatched - (reads - 1)) as usize
}

fn lun<'a>(summary: &'a RunSummary, id: &str) -> &'a unjam_sim::report::LunSummary {
    summary.luns.iter().find(|l| l.id == id).unwrap()
}

fn max_latency_s(summary: &RunSummary, ids: &[&str]) -> f64 {
    ids.iter()
        .map(|id| lun(summary, id).latency_us.max as f64 / 1e6)
        .fold(0.0, f64::max)
}

/// The sick LUN's error handling as `abort=ok | lun_reset=fail target_reset=ok tur=ok ...`:
/// `|` starts an error-handler run; the aborts of timed-out EH commands inside a run and
/// the TUR retried after a UNIT ATTENTION (inside scsi_eh_tur) are left out.
fn steps(summary: &RunSummary) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_eh = false;
    for event in &summary.eh_events {
        let ok = |outcome: &str| {
            match outcome {
                "success" => "ok",
                "failed" => "fail",
                other => other,
            }
            .to_string()
        };
        let token = match (event.scope.as_str(), event.step.as_str()) {
            (_, "eh_start") => {
                in_eh = true;
                Some("|".to_string())
            }
            (_, "restart") | (_, "eh_done") => {
                in_eh = false;
                None
            }
            ("command", "abort") if !in_eh => Some(format!("abort={}", ok(&event.outcome))),
            (_, "lun_reset" | "target_reset" | "bus_reset" | "host_reset")
                if event.outcome != "started" =>
            {
                Some(format!("{}={}", event.step, ok(&event.outcome)))
            }
            (_, "test_unit_ready") if event.outcome != "needs_retry" => {
                Some(format!("tur={}", ok(&event.outcome)))
            }
            (_, "medium_access_offline") => Some("sd_offline".to_string()),
            ("lun", "offline") => Some("offline".to_string()),
            _ => None,
        };
        out.extend(token);
    }
    out.join(" ")
}

fn normalized(steps: &str) -> String {
    steps.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn within(value: f64, kernel: f64, tolerance: f64) -> bool {
    (value - kernel).abs() <= kernel * tolerance
}

struct Row {
    title: &'static str,
    sends: (usize, usize),
    time_s: (f64, f64),
    stall_s: (f64, String),
    steps_same: bool,
}

fn compare(kernel: &Kernel) -> Row {
    let result = run(kernel.file, &[]);
    let summary = &result.report.summary;
    let sick = lun(summary, SICK);
    let failed: Vec<&String> = sick.ios_failed.keys().collect();
    match kernel.status {
        Some(status) => assert_eq!(failed, vec![status], "{}", kernel.file),
        None => assert!(failed.is_empty(), "{}: {failed:?}", kernel.file),
    }
    let offlined = summary
        .eh_events
        .iter()
        .any(|e| e.device == SICK && e.outcome == "offline");
    assert_eq!(offlined, kernel.offlined, "{}: device state", kernel.file);
    let sends = sends(summary);
    assert_eq!(sends, kernel.sends, "{}: sends", kernel.file);
    let steps = steps(summary);
    let expected = if kernel.steps.is_empty() {
        String::new()
    } else {
        format!("| {}", normalized(kernel.steps)).replacen("| abort", "abort", 1)
    };
    assert_eq!(steps, expected, "{}: error handler steps", kernel.file);
    let time_s = sick.latency_us.max as f64 / 1e6;
    let stall_s = max_latency_s(summary, &SAME_HOST);
    let other_s = max_latency_s(summary, &["1:0:0:0", "1:0:0:1", "1:0:1:0", "1:0:1:1"]);
    assert!(
        other_s < 0.010,
        "{}: the other host stalled {other_s} s",
        kernel.file
    );
    for id in SAME_HOST {
        assert!(
            lun(summary, id).ios_failed.is_empty(),
            "{}: {id} failed I/O",
            kernel.file
        );
    }
    let kernel_stall = match kernel.stall {
        Stall::None => {
            assert!(stall_s < 0.010, "{}: stall {stall_s}", kernel.file);
            "none (< 10 ms)".to_string()
        }
        Stall::About(s) => {
            assert!(
                within(stall_s, s, 0.15),
                "{}: stall {stall_s} vs {s}",
                kernel.file
            );
            format!("{s} s")
        }
        Stall::AtMost(s) => {
            assert!(
                stall_s <= s * 1.15,
                "{}: stall {stall_s} vs <= {s}",
                kernel.file
            );
            format!("<= {s} s")
        }
    };
    Row {
        title: kernel.title,
        sends: (sends, kernel.sends),
        time_s: (time_s, kernel.time_to_error_s),
        stall_s: (stall_s, kernel_stall),
        steps_same: true,
    }
}

#[test]
fn the_kernel_runs_as_scenarios_match_the_kernel() {
    let rows: Vec<Row> = RUNS.iter().map(compare).collect();
    println!("| run (examples/kernel/) | sends unjam / kernel | EH steps | time to error unjam / kernel | same-host stall unjam / kernel |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} / {} | {} | {:.3} s / {} s | {:.3} s / {} |",
            row.title,
            row.sends.0,
            row.sends.1,
            if row.steps_same { "same" } else { "differ" },
            row.time_s.0,
            row.time_s.1,
            row.stall_s.0,
            row.stall_s.1,
        );
    }
    for (row, kernel) in rows.iter().zip(RUNS) {
        assert!(
            within(row.time_s.0, row.time_s.1, 0.15),
            "{}: time to error {} s vs the kernel's {} s",
            kernel.file,
            row.time_s.0,
            row.time_s.1
        );
    }
}

/// The medium error as the kernel logged it (kernel-observed.md, "Medium error"): scsi_debug's
/// built-in unreadable sector 4660 read as LBA 0x1234, one FAILED line with the sense and the
/// CDB, and sd's "critical medium error" line for the request's first sector, REQ_SYNC.
#[test]
fn the_medium_error_reads_sector_4660_and_logs_the_kernels_lines() {
    let log = SharedBuffer::default();
    let options = RunOptions {
        check_invariants: true,
        kernel_log: Some(Box::new(log.clone())),
        ..RunOptions::default()
    };
    let result = run_scenario(&load("medium-error.toml", &[]), options).unwrap();
    assert!(result.violations.is_empty(), "{:?}", result.violations);
    let text = String::from_utf8(log.contents()).unwrap();
    // Without the dmesg timestamp and the tag number, which differ, and the trailing blank
    // of the sense key line (the spec's copy has none).
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.split_once("] ")
                .map_or(line, |(_, rest)| rest)
                .trim_end()
        })
        .map(|line| match line.split_once("tag#") {
            Some((head, tail)) => {
                let rest = tail.split_once(' ').map_or("", |(_, r)| r);
                format!("{head}tag#N {rest}")
            }
            None => line.to_string(),
        })
        .collect();
    let expected = [
        "sd 0:0:0:0: [sda] tag#N FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s",
        "sd 0:0:0:0: [sda] tag#N Sense Key : Medium Error [current]",
        "sd 0:0:0:0: [sda] tag#N Add. Sense: Unrecovered read error",
        "sd 0:0:0:0: [sda] tag#N CDB: Read(10) 28 00 00 00 12 34 00 00 08 00",
        "critical medium error, dev sda, sector 4660 op 0x0:(READ) flags 0x800 phys_seg 1 prio class 2",
    ];
    assert_eq!(lines, expected, "{text}");
}

/// Variations the kernel runs did not cover: a transient fault that only a host reset
/// recovers, and a LUN reset that never answers (healthy LUNs of host 0 at 3 s, so their
/// requests wait past an 18 s runtime cap).
const VARIATIONS: &[&str] = &["host-reset-recovers.toml", "hung-lun-reset.toml"];

#[test]
fn after_a_successful_host_reset_or_a_hung_reset_the_disk_stays_online_and_healthy_luns_fail_nothing(
) {
    for file in VARIATIONS {
        for scope in ["eh.scope=host", "eh.scope=lun"] {
            let result = run(file, &[scope]);
            let summary = &result.report.summary;
            for lun in &summary.luns {
                assert!(
                    lun.ios_failed.is_empty(),
                    "{file} {scope}: {} failed",
                    lun.id
                );
                assert_eq!(lun.state, "running", "{file} {scope}: {}", lun.id);
            }
            assert_eq!(
                sends(summary),
                2,
                "{file} {scope}: the read is retried once"
            );
        }
    }
}

/// The time the host handler held the whole host for a host-wide step: from a bus or host
/// reset's start to the host's restart, summed over the runs.
fn host_wide_s(summary: &RunSummary) -> f64 {
    let mut total = 0.0;
    let mut since: Option<f64> = None;
    for event in &summary.eh_events {
        match (event.scope.as_str(), event.step.as_str()) {
            ("host", "bus_reset" | "host_reset") if event.outcome == "started" => {
                since.get_or_insert(event.t_ms);
            }
            ("host", "restart") => {
                if let Some(start) = since.take() {
                    total += (event.t_ms - start) / 1000.0;
                }
            }
            _ => {}
        }
    }
    total
}

#[test]
fn in_lun_scope_healthy_luns_fail_nothing_and_stall_only_during_host_wide_steps() {
    // LUNs on another target of the same host stop only while the host handler runs a bus
    // or host reset (and its settle and TURs): at most that, plus one read and the retries
    // of the resets' UNIT ATTENTIONs (two after a bus and a host reset: 4 + 12 + 4 + 12 +
    // 4 ms). The sick LUN's target-mates also stop while a target reset reaches them.
    let files = RUNS
        .iter()
        .map(|k| k.file)
        .chain(VARIATIONS.iter().copied());
    for file in files {
        let result = run(file, &["eh.scope=lun"]);
        let summary = &result.report.summary;
        for id in SAME_HOST.iter().chain(["1:0:0:0", "1:0:1:1"].iter()) {
            assert!(
                lun(summary, id).ios_failed.is_empty(),
                "{file}: {id} failed I/O"
            );
        }
        let other_target = max_latency_s(summary, &["0:0:1:0", "0:0:1:1"]);
        let allowed = host_wide_s(summary) + 0.040;
        assert!(
            other_target <= allowed,
            "{file}: LUNs of another target stalled {other_target} s, host-wide steps took {allowed} s"
        );
    }
}

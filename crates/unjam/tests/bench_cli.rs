//! `unjam bench URL` against a real tgtd: fio's fields and statistics, verify, the time
//! series, bounded buffers, and what an outage does — a hung or killed target ends the run
//! with a non-zero exit and its errors reported and never counted as I/O; a target that
//! comes back within the replacement timeout shows as a stall and a recovery.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::unjam;

#[path = "../../unjam-iscsi/tests/support/tgtd.rs"]
#[allow(dead_code)]
mod tgtd;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tgtd::{Tgtd, TgtdOptions};

/// The lines of stdout as JSON values (time series lines, then the report).
fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Settings that make a dead target fail I/O within seconds.
const FAST_FAILURE: [&str; 16] = [
    "--set",
    "command_timeout=1",
    "--set",
    "abort_timeout=300ms",
    "--set",
    "lu_reset_timeout=300ms",
    "--set",
    "tgt_reset_timeout=300ms",
    "--set",
    "replacement_timeout=1",
    "--set",
    "login_timeout=300ms",
    "--set",
    "noop_out_interval=500ms",
    "--set",
    "noop_out_timeout=500ms",
];

#[tokio::test(flavor = "current_thread")]
async fn bench_reports_fio_fields_per_direction() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(1);
    let args = [
        "bench",
        &url,
        "--rw",
        "randrw",
        "--rwmixread",
        "70",
        "--bs",
        "4k",
        "--qd",
        "4",
        "--time",
        "1s",
        "--ramp",
        "200ms",
        "--output-format",
        "json",
    ];
    let output = unjam(&args);
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    let job = &report["jobs"][0];
    assert_eq!(job["error"], 0);
    assert_eq!(job["job options"]["rw"], "randrw");
    let (read, write) = (&job["read"], &job["write"]);
    let reads = read["total_ios"].as_u64().unwrap_or(0);
    let writes = write["total_ios"].as_u64().unwrap_or(0);
    assert!(
        reads > writes && writes > 0,
        "70 % reads: {reads} vs {writes}"
    );
    for direction in [read, write] {
        assert!(
            direction["iops"].as_f64().unwrap_or(0.0) > 0.0,
            "{direction}"
        );
        let bw_bytes = direction["bw_bytes"].as_u64().unwrap_or(0);
        assert_eq!(
            direction["bw"].as_u64(),
            Some((bw_bytes as f64 / 1024.0).round() as u64)
        );
        assert_eq!(direction["errors"], 0);
        let clat = &direction["clat_ns"];
        let p = |key: &str| clat["percentile"][key].as_u64().unwrap_or(0);
        assert!(
            p("1.000000") <= p("50.000000") && p("50.000000") <= p("99.990000"),
            "{clat}"
        );
        assert_eq!(clat["percentile"].as_object().map(|m| m.len()), Some(17));
        assert!(
            clat["stddev"].as_f64().is_some()
                && clat["N"].as_u64() == Some(direction["total_ios"].as_u64().unwrap_or(0))
        );
    }
    assert!(report["unjam"]["cpu_us_per_io"].as_f64().unwrap_or(0.0) > 0.0);

    let text = unjam(&[
        "bench", &url, "--rw", "read", "--qd", "2", "--time", "300ms",
    ]);
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("  read: IOPS="), "{text}");
    // fio's "BW=154MiB/s (162MB/s)": binary units, then decimal ones.
    assert!(text.contains("iB/s (") && text.contains("B/s)("), "{text}");
    assert!(
        text.contains("clat percentiles (usec):") && text.contains("99.99th=["),
        "{text}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn verify_reads_back_what_was_written_and_the_time_series_is_json_lines() {
    let tgtd = Tgtd::start(TgtdOptions::default()).await;
    let url = tgtd.url(2);
    let output = unjam(&[
        "bench",
        &url,
        "--rw",
        "randrw",
        "--verify",
        "--qd",
        "4",
        "--time",
        "1s",
        "--log-interval",
        "200ms",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let lines = json_lines(&output);
    let (report, series) = lines.split_last().unwrap_or_else(|| panic!("no output"));
    assert!(series.len() >= 3, "{series:?}");
    assert!(series
        .iter()
        .all(|line| line["t_ms"].as_u64().is_some() && line["read"]["iops"].is_number()));
    let verify = &report["unjam"]["verify"];
    assert!(verify["checked"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(verify["mismatches"], 0);
    // Settings that cannot run are refused before any I/O.
    let big = unjam(&["bench", &url, "--bs", "16m", "--qd", "1024"]);
    assert_eq!(big.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&big.stderr).contains("MiB of data buffers"));
    let read_only = unjam(&["bench", &url, "--rw", "randread", "--verify"]);
    assert_eq!(read_only.status.code(), Some(1));
    let odd = unjam(&["bench", &url, "--bs", "1000", "--time", "1s"]);
    assert_eq!(odd.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&odd.stderr).contains("not a multiple"));
}

/// Runs a bench in the background; `fault` acts on tgtd while it runs.
async fn bench_through(
    tgtd: &mut Tgtd,
    extra: &[&str],
    fault: impl AsyncFnOnce(&mut Tgtd),
) -> Output {
    let url = tgtd.url(1);
    let mut args = vec![
        "bench",
        url.as_str(),
        "--rw",
        "randread",
        "--qd",
        "4",
        "--json",
    ];
    args.extend(extra);
    let child = Command::new(env!("CARGO_BIN_EXE_unjam"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    fault(tgtd).await;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    tgtd.resume();
    output
}

fn assert_failed_and_counted_apart(output: &Output, what: &str) {
    assert!(!output.status.success(), "{what}: {output:?}");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what}: {e}: {output:?}"));
    let job = &report["jobs"][0];
    assert_ne!(job["error"], 0, "{what}: {report}");
    assert!(
        report["unjam"]["errors"].as_u64().unwrap_or(0) >= 1,
        "{what}: {report}"
    );
    // Good I/O only: every completion latency belongs to a counted I/O, and bandwidth is
    // the counted bytes over the time.
    let read = &job["read"];
    assert_eq!(read["clat_ns"]["N"], read["total_ios"], "{what}");
    assert_eq!(
        read["io_bytes"].as_u64(),
        read["total_ios"].as_u64().map(|n| n * 4096),
        "{what}"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unjam: READ at LBA"),
        "{what}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_hung_target_ends_the_run_with_errors_counted_apart() {
    let mut tgtd = Tgtd::start(TgtdOptions::default()).await;
    let mut extra = vec!["--time", "20s"];
    extra.extend(FAST_FAILURE);
    let output = bench_through(&mut tgtd, &extra, async |tgtd| tgtd.pause()).await;
    assert_failed_and_counted_apart(&output, "paused");
}

#[tokio::test(flavor = "current_thread")]
async fn a_killed_target_ends_the_run_with_errors_counted_apart() {
    let mut tgtd = Tgtd::start(TgtdOptions::default()).await;
    let mut extra = vec!["--time", "20s"];
    extra.extend(FAST_FAILURE);
    let output = bench_through(&mut tgtd, &extra, async |tgtd| tgtd.kill()).await;
    assert_failed_and_counted_apart(&output, "killed");
}

#[tokio::test(flavor = "current_thread")]
async fn an_outage_within_the_replacement_timeout_is_a_stall_and_a_recovery() {
    let mut tgtd = Tgtd::start(TgtdOptions::default()).await;
    let extra = [
        "--time",
        "5s",
        "--log-interval",
        "200ms",
        "--set",
        "replacement_timeout=20",
        "--set",
        "noop_out_interval=500ms",
        "--set",
        "noop_out_timeout=500ms",
    ];
    let output = bench_through(&mut tgtd, &extra, async |tgtd| {
        // Away for five log intervals: at least one whole interval has no I/O, however
        // fast tgtd comes back.
        tgtd.kill_and_restart_after(Duration::from_millis(1000))
            .await
    })
    .await;
    assert!(output.status.success(), "{output:?}");
    let lines = json_lines(&output);
    let (report, series) = lines.split_last().unwrap_or_else(|| panic!("no output"));
    assert_eq!(report["unjam"]["errors"], 0, "{report}");
    let ios: Vec<u64> = series
        .iter()
        .map(|line| line["read"]["ios"].as_u64().unwrap_or(0))
        .collect();
    let stall = ios
        .iter()
        .position(|&n| n == 0)
        .unwrap_or_else(|| panic!("no stall: {ios:?}"));
    assert!(
        ios[..stall].iter().any(|&n| n > 0),
        "I/O before the stall: {ios:?}"
    );
    assert!(
        ios[stall..].iter().any(|&n| n > 0),
        "I/O after the recovery: {ios:?}"
    );
}

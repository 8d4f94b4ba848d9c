//! Scenario runs end to end under the invariant checkers: the quick start and the seed
//! stories of spec README §7, and determinism (same scenario and seed, same trace bytes).

use std::path::{Path, PathBuf};

use unjam_sim::runner::{run_scenario, RunOptions, RunResult, SharedBuffer};
use unjam_sim::scenario::Scenario;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// An example scenario with `--set` style overrides (to keep debug-build runs small).
fn example(name: &str, overrides: &[&str]) -> (PathBuf, Scenario) {
    let path = examples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = Scenario::from_toml_with_overrides(&text, name, &overrides).unwrap();
    (path, scenario)
}

/// A checked run and its trace.
struct Run {
    result: RunResult,
    trace: Vec<u8>,
}

impl std::ops::Deref for Run {
    type Target = RunResult;

    fn deref(&self) -> &RunResult {
        &self.result
    }
}

/// Runs with every checker on; fails with the seed and the command that replays the run.
fn run_checked(path: &Path, scenario: &Scenario, overrides: &[&str]) -> Run {
    let trace = SharedBuffer::default();
    let options = RunOptions {
        check_invariants: true,
        trace: Some(Box::new(trace.clone())),
        ..RunOptions::default()
    };
    let result = run_scenario(scenario, options).unwrap();
    let sets: String = overrides.iter().map(|o| format!(" --set '{o}'")).collect();
    assert!(
        result.violations.is_empty(),
        "invariants broken (seed {seed}); replay with:\n  cargo run -p unjam -- run {} --seed {seed} --check{sets}\n{}",
        path.display(),
        result.violations.join("\n"),
        seed = scenario.seed,
    );
    Run {
        result,
        trace: trace.contents(),
    }
}

fn trace_lines<'a>(result: &'a Run, kind: &str) -> Vec<&'a str> {
    let needle = format!("\"kind\":\"{kind}\"");
    std::str::from_utf8(&result.trace)
        .unwrap()
        .lines()
        .filter(|line| line.contains(&needle))
        .collect()
}

#[test]
fn every_example_parses() {
    let mut count = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.display().to_string();
            Scenario::from_toml(&text, &name).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
    }
    assert!(count >= 7, "quickstart, bench64 and seed000..seed004");
}

#[test]
fn quickstart_recovers_and_keeps_every_write() {
    let overrides = [
        "workload.0.queue_depth=2",
        "host.0.latency={ model = \"fixed\", us = 2000 }",
    ];
    let (path, scenario) = example("quickstart.toml", &overrides);
    let result = run_checked(&path, &scenario, &overrides);
    assert_eq!(result.outstanding_at_end, 0);
    let summary = &result.report.summary;
    assert_eq!(summary.luns.len(), 4);
    assert!(
        summary.luns.iter().all(|l| l.ios_ok > 1000),
        "every LUN did I/O"
    );
    assert!(
        summary.luns.iter().all(|l| l.ios_failed.is_empty()),
        "and recovered"
    );
    assert!(
        result.verified_blocks > 0,
        "writes were checked on the media"
    );
    let steps: Vec<&str> = summary.eh_events.iter().map(|e| e.step.as_str()).collect();
    assert!(
        steps.contains(&"abort") && steps.contains(&"lun_reset"),
        "{steps:?}"
    );
    // Policy `unjam` recovers in LUN scope: every step is labelled with the sick LUN,
    // never with the host.
    for event in summary.eh_events.iter().filter(|e| e.scope != "command") {
        assert_eq!(
            (event.scope.as_str(), event.device.as_str()),
            ("lun", "0:0:0:1"),
            "{event:?}"
        );
    }
    let slow = &summary.luns[1];
    assert!(
        slow.latency_us.max >= 2_000_000,
        "the swallowed read waited out its timeout"
    );
}

#[test]
fn seed_000_six_attempts_then_ioerr() {
    let (path, scenario) = example("seed000.toml", &[]);
    let result = run_checked(&path, &scenario, &[]);
    let lun = &result.report.summary.luns[0];
    assert_eq!(lun.ios_ok, 0);
    assert_eq!(lun.ios_failed.get("BLK_STS_IOERR"), Some(&1));
    assert_eq!(trace_lines(&result, "dispatched").len(), 6, "1 + 5 retries");
    let virtio = trace_lines(&result, "target_done");
    assert!(virtio[0].contains("VIRTIO_SCSI_S_FAILURE"), "{}", virtio[0]);
    assert!(
        virtio[1].contains(r#""sense":[112,0,11,0,0,0,0,10,0,0,0,0,0,6,"#),
        "{}",
        virtio[1]
    );
    assert!(!trace_lines(&result, "block_error").is_empty());
}

#[test]
fn seed_002_request_sense_finds_illegal_request() {
    let (path, scenario) = example("seed002.toml", &[]);
    let result = run_checked(&path, &scenario, &[]);
    let lun = &result.report.summary.luns[0];
    assert_eq!(lun.ios_failed.get("BLK_STS_TARGET"), Some(&1));
    assert_eq!(trace_lines(&result, "abort_done").len(), 1);
    let sense = trace_lines(&result, "eh_command_done");
    assert!(
        sense.iter().any(|l| l.contains("RequestSense")),
        "{sense:?}"
    );
}

#[test]
fn seed_004_poll_finds_the_lost_completion_without_an_abort() {
    let on = ["duration_ms=2500", "workload.0.queue_depth=1"];
    let (path, scenario) = example("seed004.toml", &on);
    let result = run_checked(&path, &scenario, &on);
    assert_eq!(trace_lines(&result, "poll_started").len(), 1);
    assert!(trace_lines(&result, "abort_sent").is_empty());
    assert!(result
        .report
        .summary
        .luns
        .iter()
        .all(|l| l.ios_failed.is_empty()));

    let off = [
        "duration_ms=2500",
        "workload.0.queue_depth=1",
        "command.poll_before_abort=false",
    ];
    let (path, scenario) = example("seed004.toml", &off);
    let result = run_checked(&path, &scenario, &off);
    assert!(trace_lines(&result, "poll_started").is_empty());
    assert_eq!(
        trace_lines(&result, "abort_sent").len(),
        1,
        "the abort path runs"
    );
    assert!(result
        .report
        .summary
        .luns
        .iter()
        .all(|l| l.ios_failed.is_empty()));
}

#[test]
fn seed_001_target_reset_recovers_after_the_lun_reset_fails() {
    let overrides = ["duration_ms=3500", "workload.0.queue_depth=1"];
    let (path, scenario) = example("seed001.toml", &overrides);
    let result = run_checked(&path, &scenario, &overrides);
    let events = &result.report.summary.eh_events;
    let find = |step: &str, outcome: &str| {
        events
            .iter()
            .any(|e| e.step == step && e.outcome == outcome)
    };
    assert!(find("lun_reset", "failed"), "{events:?}");
    assert!(find("target_reset", "success"), "{events:?}");
    assert!(result
        .report
        .summary
        .luns
        .iter()
        .all(|l| l.ios_ok > 100 && l.ios_failed.is_empty()));
}

#[test]
fn seed_003_path_failure_fails_over_and_medium_error_is_returned() {
    let overrides = ["duration_ms=7000", "workload.0.verify=true"];
    let (path, scenario) = example("seed003.toml", &overrides);
    let result = run_checked(&path, &scenario, &overrides);
    let mpaths = &result.report.summary.mpaths;
    assert_eq!(mpaths.len(), 2, "one multipath device per logical unit");
    for mpath in mpaths {
        assert!(mpath.id.starts_with("naa."), "{}", mpath.id);
        let paths: Vec<&str> = mpath.paths.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(paths.len(), 2, "{paths:?}");
        assert!(
            paths[0].starts_with("0:") && paths[1].starts_with("1:"),
            "{paths:?}"
        );
        assert!(
            mpath.paths.iter().all(|p| p.state == "active"),
            "reinstated: {mpath:?}"
        );
        assert!(mpath.ios_ok > 10_000, "{mpath:?}");
        let failed: Vec<&String> = mpath.ios_failed.keys().collect();
        assert_eq!(
            failed,
            ["BLK_STS_MEDIUM"],
            "only the target error reaches the caller"
        );
        assert!(
            (1..=2).contains(&mpath.failovers),
            "the requests in flight: {mpath:?}"
        );
        assert_eq!(mpath.no_path_ms, 0);
    }
    let mpath_events = |event: &str| {
        let needle = format!("\"event\":\"{event}\"");
        std::str::from_utf8(&result.trace)
            .unwrap()
            .lines()
            .filter(|line| line.contains("\"source\":\"mpath\"") && line.contains(&needle))
            .count()
    };
    assert_eq!(mpath_events("path_added"), 4);
    assert_eq!(mpath_events("path_failed"), 2, "host 0's two paths");
    assert_eq!(
        mpath_events("path_reinstated"),
        2,
        "by the checker after 5 s"
    );
    assert_eq!(trace_lines(&result, "transport_down").len(), 1);
    // Failback: host 0 carries the load again after the checker reinstated it.
    let json = serde_json::to_value(&result.report.summary).unwrap();
    assert!(json["mpaths"][0]["paths"][0]["state"].is_string());
    assert!(result.verified_blocks == 0 || result.violations.is_empty());
}

#[test]
fn multipath_with_every_path_down_queues_then_fails_with_transport() {
    let overrides = [
        "duration_ms=4000",
        "multipath.no_path_retry=2",
        "multipath.polling_interval_ms=500",
        "fault.0.device=*",
        "fault.0.from_ms=1000",
        "fault.0.duration_ms=2500",
    ];
    let (path, scenario) = example("seed003.toml", &overrides);
    let result = run_checked(&path, &scenario, &overrides);
    for mpath in &result.report.summary.mpaths {
        assert!(
            mpath.ios_failed.contains_key("BLK_STS_TRANSPORT"),
            "{mpath:?}"
        );
        assert!(!mpath.ios_failed.contains_key("BLK_STS_IOERR"), "{mpath:?}");
        assert!(mpath.no_path_ms >= 1_000, "{mpath:?}");
    }
}

#[test]
fn same_scenario_and_seed_give_the_same_trace_bytes() {
    let overrides = ["duration_ms=1500", "workload.0.queue_depth=1"];
    let (path, scenario) = example("seed004.toml", &overrides);
    let first = run_checked(&path, &scenario, &overrides);
    let second = run_checked(&path, &scenario, &overrides);
    assert!(first.trace.len() > 10_000);
    assert!(first.trace == second.trace, "traces differ for one seed");
    assert_eq!(first.report, second.report);
    let other = ["duration_ms=1500", "workload.0.queue_depth=1", "seed=5"];
    let (path, scenario) = example("seed004.toml", &other);
    let third = run_checked(&path, &scenario, &other);
    assert!(first.trace != third.trace, "another seed, another run");
}

#[test]
fn multipath_demotes_a_flapping_and_a_slow_path() {
    let overrides = ["duration_ms=12000", "workload.0.queue_depth=2"];
    let (path, scenario) = example("multipath-marginal.toml", &overrides);
    let result = run_checked(&path, &scenario, &overrides);
    let mpath = &result.report.summary.mpaths[0];
    assert!(mpath.ios_failed.is_empty(), "{mpath:?}");
    let states: Vec<(&str, &str)> = mpath
        .paths
        .iter()
        .map(|p| (p.id.as_str(), p.state.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("0:0:0:0", "active"),
            ("1:0:0:0", "marginal"),
            ("2:0:0:0", "marginal")
        ]
    );
    assert!(result.verified_blocks > 0);
}

#[test]
fn multipath_follows_an_alua_transition_with_no_error() {
    let overrides = ["workload.0.queue_depth=2"];
    let (path, scenario) = example("multipath-alua.toml", &overrides);
    let result = run_checked(&path, &scenario, &overrides);
    let mpath = &result.report.summary.mpaths[0];
    assert!(mpath.ios_failed.is_empty(), "{mpath:?}");
    assert_eq!(mpath.paths[0].state, "active");
    assert_eq!(mpath.paths[1].state, "non_optimized");
    let text = std::str::from_utf8(&result.trace).unwrap();
    let access = |device: &str, state: &str| {
        text.lines().any(|l| {
            l.contains("\"source\":\"mpath\"")
                && l.contains(&format!("\"device\":\"{device}\""))
                && l.contains(&format!("\"state\":\"{state}\""))
        })
    };
    assert!(access("0:0:0:0", "transitioning"));
    assert!(access("0:0:0:0", "standby"));
    assert!(access("1:0:0:0", "active"), "group 2 became optimized");
    // I/O follows the optimized group: host 1 carries it from 3 s to 6 s.
    let sends = |device: &str, from_s: f64, to_s: f64| {
        text.lines()
            .filter(|l| {
                l.contains("\"kind\":\"dispatched\"")
                    && l.contains(&format!("\"device\":\"{device}\""))
            })
            .filter(|l| {
                let t: f64 = l[8..l.find(',').unwrap()].parse::<f64>().unwrap() / 1e9;
                t >= from_s && t < to_s
            })
            .count()
    };
    assert!(sends("1:0:0:0", 3.1, 5.9) > 1000 && sends("0:0:0:0", 3.1, 5.9) < 50);
    assert!(sends("0:0:0:0", 6.1, 7.9) > 1000 && sends("1:0:0:0", 6.1, 7.9) < 50);
}

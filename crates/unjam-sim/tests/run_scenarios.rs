//! Scenario runs end to end under the invariant checkers.

use std::path::PathBuf;

use unjam_sim::runner::{run_scenario, RunOptions, RunResult};
use unjam_sim::scenario::Scenario;

/// An example scenario with `--set` style overrides (to keep debug-build runs small).
fn example(name: &str, overrides: &[&str]) -> (PathBuf, Scenario) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let scenario = Scenario::from_toml_with_overrides(&text, name, &overrides).unwrap();
    (path, scenario)
}

/// Fails with the seed and the command that replays the run.
fn assert_clean(result: &RunResult, path: &std::path::Path, seed: u64) {
    assert!(
        result.violations.is_empty(),
        "invariants broken (seed {seed}); replay with:\n  cargo run -p unjam -- run {} --seed {seed} --check\n{}",
        path.display(),
        result.violations.join("\n")
    );
}

fn checked() -> RunOptions {
    RunOptions {
        check_invariants: true,
        trace: true,
        ..RunOptions::default()
    }
}

#[test]
fn quickstart_recovers_and_keeps_every_write() {
    let (path, scenario) = example(
        "quickstart.toml",
        &["workload.0.queue_depth=2", "host.0.latency={ model = \"fixed\", us = 2000 }"],
    );
    let result = run_scenario(&scenario, checked()).unwrap();
    assert_clean(&result, &path, scenario.seed);
    eprintln!("{}", result.report.summary.table());
    assert_eq!(result.outstanding_at_end, 0);
    let luns = &result.report.summary.luns;
    assert_eq!(luns.len(), 4);
    assert!(luns.iter().all(|l| l.ios_ok > 1000), "every LUN did I/O");
    eprintln!("{}", String::from_utf8_lossy(&result.trace).lines().filter(|l| !l.contains("\"submitted\"") && !l.contains("dispatched") && !l.contains("transport_done") && !l.contains("target_done") && !l.contains("\"completed\"") && !l.contains("disposition") && !l.contains("completion_rule")).take(200).collect::<Vec<_>>().join("\n"));
    assert!(result.verified_blocks > 0);
    assert!(!result.report.summary.eh_events.is_empty());
}

//! Randomized fault storms under every checker: faults drawn from the seed at rates
//! (swallowed commands, lost completions, host errors, BUSY, medium errors, failed aborts
//! and resets), verified writes on every LUN. Every request must complete exactly once,
//! never while the target holds it, no write reported good may be missing from the media,
//! and once the workload ends and the faults heal every request must complete within the
//! liveness bound. A failure prints the seed and the command that replays it.
//!
//! CI runs seeds until 10⁶ commands were simulated; the longer run:
//! `UNJAM_STORM_COMMANDS=10000000 cargo test --release -p unjam-sim --test fault_storms`.

use unjam_sim::runner::{run_scenario, RunOptions};
use unjam_sim::scenario::Scenario;

const STORM: &str = r#"
name = "storm"
duration_ms = 1500
policy = "unjam"
[eh]
scope = "lun+target"
eh_timeout_ms = 200
[command]
timeout_ms = 300
poll_before_abort = true
[[host]]
personality = "mpt3sas"
targets = 2
luns = 2
latency = { model = "lognormal", median_us = 300, sigma = 0.5 }
[[fault]]
kind = "timeout"
probability = 0.002
[[fault]]
kind = "lost_completion"
probability = 0.002
[[fault]]
kind = "fail"
host_byte = "DID_ERROR"
probability = 0.003
[[fault]]
kind = "busy"
probability = 0.003
[[fault]]
kind = "medium_error"
lba_first = 100
lba_last = 120
probability = 0.5
[[fault]]
kind = "abort_fails"
probability = 0.3
[[fault]]
kind = "reset_fails"
scope = "lun"
probability = 0.3
[[workload]]
read_percent = 60
io_bytes = 4096
queue_depth = 2
span_kib = 512
verify = true
"#;

/// Simulated commands (every attempt and error-handler command) per run by default.
const DEFAULT_COMMANDS: u64 = 1_000_000;

#[test]
fn storms_keep_every_invariant() {
    let wanted: u64 = std::env::var("UNJAM_STORM_COMMANDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_COMMANDS);
    let (mut commands, mut faults_seen, mut seed) = (0, 0, 0u64);
    while commands < wanted {
        let scenario =
            Scenario::from_toml_with_overrides(STORM, "storm.toml", &[format!("seed={seed}")])
                .unwrap();
        let options = RunOptions {
            check_invariants: true,
            ..RunOptions::default()
        };
        let result = run_scenario(&scenario, options).unwrap();
        assert!(
            result.violations.is_empty(),
            "seed {seed} broke invariants; replay with:\n  cargo run -p unjam -- run <this storm scenario> --seed {seed} --check\n{}",
            result.violations.join("\n")
        );
        assert_eq!(
            result.outstanding_at_end, 0,
            "seed {seed}: every request finished"
        );
        assert!(
            result.verified_blocks > 0,
            "seed {seed}: writes were checked"
        );
        faults_seen += result.report.summary.eh_events.len();
        commands += result.report.commands_simulated;
        seed += 1;
    }
    assert!(faults_seen > 0, "the storms did trigger error handling");
    eprintln!("{commands} commands in {seed} storms, 0 violations");
}

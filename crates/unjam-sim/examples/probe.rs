use unjam_sim::runner::{run_scenario, RunOptions};
use unjam_sim::scenario::Scenario;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let overrides: Vec<String> = args[2..].to_vec();
    let scenario = Scenario::from_toml_with_overrides(&text, "x", &overrides).unwrap();
    let start = std::time::Instant::now();
    let options = RunOptions {
        progress: Some(Box::new(|done, planned| eprintln!("progress {done}/{planned} ms"))),
        trace: std::env::var("TRACE").is_ok(),
        check_invariants: std::env::var("CHECK").is_ok(),
        ..RunOptions::default()
    };
    let result = run_scenario(&scenario, options).unwrap();
    eprintln!("{}", result.report.summary.table());
    for e in &result.report.summary.eh_events { eprintln!("{e:?}"); }
    eprintln!("steps {} wall {:?} commands {} violations {:?} outstanding {}", result.steps, start.elapsed(), result.report.commands_simulated, result.violations, result.outstanding_at_end);
    if std::env::var("TRACE").is_ok() { std::fs::write("/tmp/trace.jsonl", &result.trace).unwrap(); }
}

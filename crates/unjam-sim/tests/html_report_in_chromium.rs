//! The HTML timeline in a real browser: headless Chromium (Debian package `chromium`,
//! installed by scripts/install-test-deps.sh) loads the report, which must render without
//! a console message and with one lane per LUN. A page that does log to the console is
//! caught by the same check, so the check itself is shown to work.

use std::path::Path;
use std::process::Command;

use unjam_sim::report::render_html;
use unjam_sim::runner::{run_scenario, RunOptions};
use unjam_sim::scenario::Scenario;

const SCENARIO: &str = r#"
name = "chromium check"
duration_ms = 3000
[command]
timeout_ms = 500
[[host]]
personality = "hisi_sas"
targets = 2
luns = 3
latency = { model = "uniform", min_us = 500, max_us = 1500 }
[[fault]]
device = "0:0:1:2"
kind = "timeout"
from_ms = 1000
times = 1
[[workload]]
queue_depth = 2
span_mib = 1
"#;

/// Loads `page` in headless Chromium; returns (DOM, stderr).
fn load_in_chromium(page: &Path, profile: &Path) -> (String, String) {
    let output = Command::new("timeout")
        .arg("120")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium must be installed: run scripts/install-test-deps.sh");
    assert!(output.status.success(), "chromium failed: {output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn console_messages(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.contains("CONSOLE") || line.contains("Uncaught"))
        .collect()
}

#[test]
fn the_timeline_renders_one_lane_per_lun_without_console_errors() {
    let scenario = Scenario::from_toml(SCENARIO, "chromium.toml").unwrap();
    let result = run_scenario(&scenario, RunOptions::default()).unwrap();
    let directory = tempfile::tempdir().unwrap();
    let page = directory.path().join("report.html");
    std::fs::write(&page, render_html(&result.report)).unwrap();

    let (dom, stderr) = load_in_chromium(&page, &directory.path().join("profile"));
    assert_eq!(
        console_messages(&stderr),
        Vec::<&str>::new(),
        "console output"
    );
    assert_eq!(dom.matches("class=\"lane\"").count(), 6, "one lane per LUN");
    for lun in ["0:0:0:0", "0:0:1:2"] {
        assert!(
            dom.contains(&format!("data-lun=\"{lun}\"")),
            "lane of {lun}"
        );
    }
    assert!(dom.contains("<svg"), "the timeline is in the DOM");
    assert!(
        dom.contains("class=\"eh\""),
        "error-handling steps are drawn"
    );

    let bad = directory.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><script>console.error('boom')</script>",
    )
    .unwrap();
    let (_, stderr) = load_in_chromium(&bad, &directory.path().join("profile-bad"));
    assert!(
        !console_messages(&stderr).is_empty(),
        "the console check catches errors"
    );
}

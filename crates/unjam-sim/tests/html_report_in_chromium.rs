//! The HTML report in a real browser: headless Chromium (Debian package `chromium`,
//! installed by scripts/install-test-deps.sh) loads the report, which must render without
//! a console message and with one lane per LUN; zoomed through its address (`#from=&to=`)
//! the axis, the plots and the marks follow, and no text of the chart is clipped. A page
//! that does log to the console is caught by the same check, so the check itself is shown
//! to work.

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
fn load_in_chromium(page: &str, profile: &Path) -> (String, String) {
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
            "--allow-file-access-from-files",
            "--window-size=1400,1000",
            "--virtual-time-budget=5000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(page)
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

fn report_of(scenario: &str, directory: &Path) -> String {
    let scenario = Scenario::from_toml(scenario, "chromium.toml").unwrap();
    let result = run_scenario(&scenario, RunOptions::default()).unwrap();
    let page = directory.join("report.html");
    std::fs::write(&page, render_html(&result.report)).unwrap();
    page.display().to_string()
}

/// A page that loads `report` (with `#fragment`) in a frame and, once it has run its script,
/// writes what it sees into its own DOM for `--dump-dom`: the axis labels, the first plot's
/// viewBox, how many marks are shown and hidden, and every text of the chart that sticks
/// out of it.
const INSPECTOR: &str = r##"<!DOCTYPE html><html><body>
<iframe id="report" width="1400" height="900"></iframe><pre id="seen"></pre>
<script>
var frame = document.getElementById("report");
frame.onload = function () {
  var doc = frame.contentDocument;
  var svg = doc.getElementById("timeline");
  var box = svg.getBoundingClientRect();
  var labels = [], clipped = [];
  doc.querySelectorAll("g.axis text").forEach(function (t) { labels.push(t.textContent); });
  doc.querySelectorAll("#timeline text").forEach(function (t) {
    var r = t.getBoundingClientRect();
    if (t.closest("[display=none]")) { return; }
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 ||
        r.bottom > box.bottom + 0.5) { clipped.push(t.textContent); }
  });
  var shown = 0, hidden = 0;
  doc.querySelectorAll("g.lane [data-t]").forEach(function (m) {
    if (m.getAttribute("display") === "none") { hidden++; } else { shown++; }
  });
  document.getElementById("seen").textContent = JSON.stringify({
    labels: labels, clipped: clipped, shown: shown, hidden: hidden,
    viewBox: doc.querySelector("svg.plot").getAttribute("viewBox"),
    view: doc.getElementById("view").textContent
  });
};
frame.src = "report.html" + FRAGMENT;
</script></body></html>"##;

/// What the inspector saw, as JSON.
fn inspect(directory: &Path, fragment: &str, profile: &str) -> (serde_json::Value, String) {
    let inspector = directory.join(format!("inspect{profile}.html"));
    std::fs::write(
        &inspector,
        INSPECTOR.replace("FRAGMENT", &format!("{fragment:?}")),
    )
    .unwrap();
    let (dom, stderr) = load_in_chromium(
        &format!("file://{}", inspector.display()),
        &directory.join(profile),
    );
    let start = dom
        .find("<pre id=\"seen\">")
        .expect("the inspector's output")
        + 15;
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let seen = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (seen, stderr)
}

#[test]
fn the_timeline_renders_one_lane_per_lun_without_console_errors() {
    let directory = tempfile::tempdir().unwrap();
    let page = report_of(SCENARIO, directory.path());

    let (dom, stderr) =
        load_in_chromium(&format!("file://{page}"), &directory.path().join("profile"));
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
    assert_eq!(
        dom.matches("class=\"y-axis\"").count(),
        6,
        "a y-axis per lane"
    );
    assert!(
        dom.contains("class=\"eh\""),
        "error-handling steps are drawn"
    );
    assert!(
        dom.contains("class=\"fault-hit\""),
        "the fault's firing is drawn"
    );
    assert!(
        dom.contains("<table class=\"eh-steps\">"),
        "the steps are listed under the chart"
    );
    assert!(
        dom.contains("showing 0.0–3000.0 ms of 3000.0 ms"),
        "the script ran"
    );

    let bad = directory.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><script>console.error('boom')</script>",
    )
    .unwrap();
    let (_, stderr) = load_in_chromium(
        &format!("file://{}", bad.display()),
        &directory.path().join("profile-bad"),
    );
    assert!(
        !console_messages(&stderr).is_empty(),
        "the console check catches errors"
    );
}

#[test]
fn the_time_axis_zooms_and_nothing_is_clipped() {
    let directory = tempfile::tempdir().unwrap();
    report_of(SCENARIO, directory.path());

    let (whole, stderr) = inspect(directory.path(), "", "whole");
    assert_eq!(console_messages(&stderr), Vec::<&str>::new());
    assert_eq!(whole["clipped"], serde_json::json!([]), "{whole}");
    assert_eq!(whole["hidden"], 0, "{whole}");
    assert_eq!(whole["viewBox"], "0 0 3000000 40", "{whole}");
    let labels = whole["labels"].as_array().unwrap();
    assert!(
        labels.contains(&"3000 ms".into()),
        "the last label: {whole}"
    );

    // Zoomed to 1000–1010 ms: the plots show that range, the axes are relabelled in
    // finer steps, and marks outside it are hidden.
    let (zoomed, stderr) = inspect(directory.path(), "#from=1000&to=1010", "zoomed");
    assert_eq!(console_messages(&stderr), Vec::<&str>::new());
    assert_eq!(zoomed["viewBox"], "1000000 0 10000 40", "{zoomed}");
    assert_eq!(
        zoomed["view"],
        "showing 1000.000–1010.000 ms of 3000.000 ms"
    );
    let labels = zoomed["labels"].as_array().unwrap();
    assert!(labels.contains(&"1002 ms".into()), "{zoomed}");
    assert!(!labels.contains(&"3000 ms".into()), "{zoomed}");
    assert!(zoomed["hidden"].as_u64().unwrap() > 0, "{zoomed}");
    assert_eq!(zoomed["clipped"], serde_json::json!([]), "{zoomed}");
}

/// Seed 000's one READ: every attempt of its path and the kernel's lines are in the page.
#[test]
fn a_one_command_run_shows_its_path_and_kernel_log() {
    let scenario = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed000.toml"
    ))
    .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let page = report_of(&scenario, directory.path());
    let (dom, stderr) =
        load_in_chromium(&format!("file://{page}"), &directory.path().join("profile"));
    assert_eq!(console_messages(&stderr), Vec::<&str>::new());
    for attempt in 1..=6 {
        assert!(
            dom.contains(&format!("attempt {attempt}: dispatched as tag#0")),
            "attempt {attempt}"
        );
    }
    assert!(dom.contains("retries exhausted"), "the final decision");
    assert!(dom.contains("completed upward: BLK_STS_IOERR"));
    assert!(
        dom.contains("[    0.060200] sd 0:0:0:0: [sda] tag#0 Add. Sense: I/O process terminated")
    );
    assert!(dom.contains("I/O error, dev sda, sector 350320 op 0x0:(READ)"));
    assert!(dom.contains("class=\"fault-hit\""), "the faults' firings");
    assert!(!dom.contains("class=\"note\""), "nothing was cut");
}

/// A real run's report (built from the runtime's trace and kernel-log lines) renders too.
#[test]
fn a_real_runs_report_renders() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use unjam_sim::report::{LineRecorder, ReportTap, TapKind};

    let shared = Arc::new(Mutex::new(LineRecorder::new("read iscsi://h/iqn/0".into())));
    let mut trace = ReportTap::new(shared.clone(), TapKind::Trace);
    let mut kernel = ReportTap::new(shared.clone(), TapKind::KernelLog);
    trace
        .write_all(
            concat!(
                r#"{"device":"0:0:0:0","kind":"submitted","source":"core","t_ns":1000,"token":1,"text":"submitted"}"#,
                "\n",
                r#"{"device":"0:0:0:0","kind":"timed_out","hook":"NotHandled","source":"core","t_ns":2000000,"text":"timed out"}"#,
                "\n",
                r#"{"detail":{"code":1020},"kind":"conn_error","session":1,"source":"iscsi","t_ns":2500000}"#,
                "\n",
                r#"{"device":"0:0:0:0","kind":"completed","status":"BLK_STS_OK","source":"core","t_ns":3000000,"token":1,"text":"completed upward"}"#,
                "\n"
            )
            .as_bytes(),
        )
        .unwrap();
    kernel
        .write_all(b"[    0.002000] sd 0:0:0:0: [sda] tag#0 abort scheduled\n")
        .unwrap();
    let report = shared.lock().unwrap().finish();
    let directory = tempfile::tempdir().unwrap();
    let page = directory.path().join("real.html");
    std::fs::write(&page, render_html(&report)).unwrap();
    let (dom, stderr) = load_in_chromium(
        &format!("file://{}", page.display()),
        &directory.path().join("profile"),
    );
    assert_eq!(console_messages(&stderr), Vec::<&str>::new());
    assert!(dom.contains("data-lun=\"0:0:0:0\""));
    assert!(dom.contains("wall-clock time"));
    assert!(
        dom.contains("class=\"fault-hit\""),
        "the connection error is drawn"
    );
    assert!(dom.contains("tag#0 abort scheduled"));
    assert!(
        dom.contains("showing 0.000–3.000 ms of 3.000 ms"),
        "the script ran"
    );
}

//! `unjam target` and `unjam target-ctl` as a user runs them: the URL lines printed at
//! start, port 0, the control socket, scenario errors, and a clean exit on SIGTERM/SIGINT.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::unjam;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `unjam target`, killed if a test fails before it stopped it.
struct Target(Child);

impl Drop for Target {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `unjam target` and returns it with the lines it printed at start.
fn start(scenario: &Path, extra: &[&str], lines: usize) -> (Target, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unjam"))
        .arg("target")
        .arg(scenario)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn unjam target: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut reader = BufReader::new(stdout);
    let mut printed = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        printed.push(line.trim_end().to_string());
    }
    (Target(child), printed)
}

fn signal(target: &Target, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &target.0.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(status.success());
}

fn write_scenario(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("target.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

const TWO_LUNS_TWO_PORTALS: &str = r#"
[[host]]
luns = 2
capacity_mib = 8
latency = { model = "fixed", us = 0 }
[[portal]]
address = "127.0.0.1:0"
[[portal]]
address = "127.0.0.1:0"
group = 2
"#;

#[test]
fn prints_one_url_per_lun_and_portal_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scenario = write_scenario(dir.path(), TWO_LUNS_TWO_PORTALS);
    let (mut child, urls) = start(&scenario, &[], 4);
    assert_eq!(urls.len(), 4, "{urls:?}");
    for (index, url) in urls.iter().enumerate() {
        let rest = url
            .strip_prefix("iscsi://127.0.0.1:")
            .unwrap_or_else(|| panic!("{url}"));
        let (port, path) = rest.split_once('/').unwrap_or_else(|| panic!("{url}"));
        assert!(port.parse::<u16>().is_ok_and(|p| p != 0), "{url}");
        assert_eq!(
            path,
            format!("iqn.2024-11.dev.unjam:target/{}", index % 2),
            "{url}"
        );
    }
    signal(&child, "TERM");
    let status = child.0.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn portal_flags_and_the_control_socket() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scenario = write_scenario(
        dir.path(),
        "[[host]]\nluns = 1\ncapacity_mib = 8\n[[fault]]\nkind = \"slow\"\nextra_us = 10\n",
    );
    let socket = dir.path().join("ctl.sock");
    let socket_text = socket.display().to_string();
    let (mut child, urls) = start(
        &scenario,
        &["--portal", "127.0.0.1:0", "--control", &socket_text],
        1,
    );
    assert_eq!(urls.len(), 1);
    let added = unjam(&[
        "target-ctl",
        &socket_text,
        "fault",
        "add",
        "kind=timeout",
        "device=0:0:0:0",
        "times=1",
    ]);
    assert!(added.status.success(), "{added:?}");
    assert_eq!(String::from_utf8_lossy(&added.stdout).trim(), "ok 1");
    let listed = unjam(&["target-ctl", &socket_text, "fault", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(text.contains("0 scenario fired=0"), "{text}");
    assert!(text.contains("1 added fired=0"), "{text}");
    assert!(text.trim_end().ends_with("ok 2"), "{text}");
    let bad = unjam(&["target-ctl", &socket_text, "fault", "add", "kind=nonsense"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown variant `nonsense`"),
        "{bad:?}"
    );
    let cleared = unjam(&["target-ctl", &socket_text, "fault", "clear", "all"]);
    assert_eq!(String::from_utf8_lossy(&cleared.stdout).trim(), "ok 1");
    signal(&child, "INT");
    let status = child.0.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(0));
    assert!(!socket.exists(), "the control socket is removed at exit");
}

#[test]
fn scenario_errors_name_the_line_and_field() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scenario = write_scenario(
        dir.path(),
        "[[host]]\nluns = 1\n[[portal]]\naddress = \"127.0.0.1:0\"\ngroup = 0\n",
    );
    let output = unjam(&["target", &scenario.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("target.toml:5: `portal[0].group`"), "{text}");
    let bad_portal = unjam(&[
        "target",
        &scenario
            .display()
            .to_string()
            .replace("target.toml", "missing.toml"),
    ]);
    assert_eq!(bad_portal.status.code(), Some(2));
}

/// `--report` on a device command: a read whose first attempt the target swallows and whose
/// abort fails, recovered by a LUN reset; the page has the lane, the steps, every attempt's
/// path and the kernel's lines.
#[test]
fn a_device_command_writes_the_html_report_of_its_recovery() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scenario = write_scenario(
        dir.path(),
        "[target]\ntmf_latency_us = 0\n[[host]]\nluns = 1\ncapacity_mib = 8\n\
         latency = { model = \"fixed\", us = 0 }\n",
    );
    let socket = dir.path().join("ctl.sock");
    let socket_text = socket.display().to_string();
    let (mut child, urls) = start(
        &scenario,
        &["--portal", "127.0.0.1:0", "--control", &socket_text],
        1,
    );
    for fault in [
        "kind=timeout commands=reads times=1",
        "kind=abort_fails times=1",
    ] {
        let mut request = vec!["target-ctl", &socket_text, "fault", "add"];
        request.extend(fault.split(' '));
        assert!(unjam(&request).status.success(), "{fault}");
    }
    let page = dir.path().join("read.html");
    let page_text = page.display().to_string();
    let read = unjam(&[
        "read",
        &urls[0],
        "--lba",
        "8",
        "--blocks",
        "8",
        "--timeout-s",
        "1",
        "--report",
        &page_text,
    ]);
    assert!(read.status.success(), "{read:?}");
    let html = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{e}"));
    assert!(html.contains("ms of wall-clock time"), "a real run");
    assert!(html.contains("data-lun=\"0:0:0:0\""), "its lane");
    assert!(html.contains("class=\"y-axis\""));
    assert!(html.contains("<table class=\"eh-steps\">"));
    for step in [">timeout<", ">abort<", ">lun_reset<"] {
        assert!(html.contains(step), "the step {step}");
    }
    assert!(
        html.contains("attempt 2: dispatched as tag#"),
        "the retry's path"
    );
    assert!(html.contains("cmd abort failed"), "the kernel's lines");
    assert!(html.contains("<title>unjam: read iscsi://127.0.0.1:"));

    let unwritable = unjam(&["read", &urls[0], "--report", "/nonexistent/dir/x.html"]);
    assert_eq!(unwritable.status.code(), Some(15), "{unwritable:?}");
    signal(&child, "TERM");
    let status = child.0.wait().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(0));
}

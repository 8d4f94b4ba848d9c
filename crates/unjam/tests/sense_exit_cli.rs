//! The sg3_utils exit-status classes tgtd cannot produce, from `unjam target` with sense
//! injected on reads of chosen LBAs: MEDIUM ERROR and HARDWARE ERROR exit 3, ABORTED
//! COMMAND (after the core's retries) 11, and a clean LBA reads good on the same LUN.

#[path = "support/cli.rs"]
#[allow(dead_code)]
mod cli;

use cli::unjam;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `unjam target`, killed when the test ends.
struct Target(Child);

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SCENARIO: &str = r#"
[target]
power_on_unit_attention = false
[[host]]
luns = 1
capacity_mib = 8
latency = { model = "fixed", us = 0 }
[[fault]]
device = "0:0:0:0"
kind = "fail"
commands = "reads"
lba_first = 100
lba_last = 100
sense = "70 00 03 00 00 00 00 0a 00 00 00 00 11 00 00 00 00 00"
[[fault]]
device = "0:0:0:0"
kind = "fail"
commands = "reads"
lba_first = 200
lba_last = 200
sense = "70 00 04 00 00 00 00 0a 00 00 00 00 44 00 00 00 00 00"
[[fault]]
device = "0:0:0:0"
kind = "fail"
commands = "reads"
lba_first = 300
lba_last = 300
sense = "70 00 0b 00 00 00 00 0a 00 00 00 00 00 06 00 00 00 00"
"#;

#[test]
fn medium_hardware_and_aborted_command_exit_3_and_11() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let scenario = dir.path().join("target.toml");
    std::fs::write(&scenario, SCENARIO).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_unjam"))
        .arg("target")
        .arg(&scenario)
        .args(["--portal", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn unjam target: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let target = Target(child);
    let mut url = String::new();
    BufReader::new(stdout)
        .read_line(&mut url)
        .unwrap_or_else(|e| panic!("{e}"));
    let url = url.trim();
    assert!(url.starts_with("iscsi://127.0.0.1:"), "{url:?}");
    let read = |lba: &str| {
        let output = unjam(&["read", url, "--lba", lba, "--blocks", "1", "--json"]);
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        (output.status.code(), stdout)
    };
    let (code, text) = read("0");
    assert_eq!(code, Some(0), "{text}");
    for (lba, status, words) in [
        ("100", 3, "Medium Error"),
        ("200", 3, "Hardware Error"),
        ("300", 11, "Aborted Command"),
    ] {
        let (code, text) = read(lba);
        assert_eq!(code, Some(status), "LBA {lba}: {text}");
        let error: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(error["error"]["exit_status"], status, "{text}");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(words)),
            "LBA {lba}: {text}"
        );
    }
    drop(target);
}

//! Kernel log lines from trace events: the per-site rate limits (5 s, burst 10) in
//! virtual time, and the recovered-error print.

mod common;

use std::time::Duration;

use common::cc;
use unjam_core::config::{DeviceConfig, HostConfig, Personality};
use unjam_core::harness::{parse_outcome, Driver, RunLimit, ScriptedTransport};
use unjam_core::log::KernelLog;
use unjam_core::{MidLayer, Request};

fn failing_burst(count: u64, spacing: Duration) -> Vec<String> {
    let mut mid = MidLayer::new();
    let host = mid.add_host(HostConfig::new(0, Personality::Generic));
    let disk = mid.add_device(host, DeviceConfig::disk(0, 0, 0)).unwrap();
    let medium = parse_outcome(&cc(0x3, 0x11, 0x00)).unwrap();
    let mut driver = Driver::new(mid, ScriptedTransport::new(vec![medium]));
    for token in 0..count {
        let mut request = Request::new(common::read10(), token);
        request.data_len = 4096;
        driver.submit(disk, request).unwrap();
        driver.run_until(driver.now + spacing);
    }
    driver.run_until_idle(RunLimit::default());
    let mut log = KernelLog::default();
    for record in &driver.trace {
        log.record(record, &driver.mid);
    }
    log.take_lines()
}

#[test]
fn failure_prints_are_rate_limited_to_ten_per_five_seconds() {
    let lines = failing_burst(15, Duration::from_millis(10));
    let failed = lines
        .iter()
        .filter(|l| l.contains("FAILED Result:"))
        .count();
    let block = lines
        .iter()
        .filter(|l| l.starts_with("critical medium error, dev sda"))
        .count();
    assert_eq!((failed, block), (10, 10), "{lines:#?}");
}

#[test]
fn the_rate_limit_window_reopens_after_five_seconds() {
    let lines = failing_burst(15, Duration::from_millis(400));
    // Failures at 0, 0.4, ... 5.6 s: ten in the window opened at 0 s (up to 3.6 s), the
    // three at 4.0–4.8 s suppressed, then a new window at 5.2 s prints the last two.
    let failed = lines
        .iter()
        .filter(|l| l.contains("FAILED Result:"))
        .count();
    assert_eq!(failed, 12, "{lines:#?}");
}

#[test]
fn recovered_error_prints_its_sense_but_no_failure() {
    let explanation = common::run(&[&cc(0x1, 0x17, 0x01)]);
    let tag = explanation.completion.unwrap().tag_number;
    assert_eq!(
        explanation.log_lines,
        vec![
            format!("sd 0:0:0:0: [sda] tag#{tag} Sense Key : Recovered Error [current] "),
            format!("sd 0:0:0:0: [sda] tag#{tag} Add. Sense: Recovered data with retries"),
        ]
    );
}

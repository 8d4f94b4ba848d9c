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

/// `count` medium errors submitted together on a mid-layer whose console takes `line` per
/// line: the completions delivered by each of `instants` (offsets from the submission; the
/// scripted transport answers after 0.1 ms).
fn delivered_by(count: u64, line: Duration, instants: &[Duration]) -> Vec<usize> {
    let mut mid = MidLayer::new();
    mid.set_console_line_time(line);
    let host = mid.add_host(HostConfig::new(0, Personality::Generic));
    let disk = mid.add_device(host, DeviceConfig::disk(0, 0, 0)).unwrap();
    let medium = parse_outcome(&cc(0x3, 0x11, 0x00)).unwrap();
    let mut driver = Driver::new(mid, ScriptedTransport::new(vec![medium]));
    let start = driver.now;
    for token in 0..count {
        let mut request = Request::new(common::read10(), token);
        request.data_len = 4096;
        driver.submit(disk, request).unwrap();
    }
    instants
        .iter()
        .map(|offset| {
            driver.run_until(start + *offset);
            driver.completions.len()
        })
        .collect()
}

/// The kernel prints a failure from the completion path, on one console: the request ends
/// when its lines are out (result, sense key, additional sense, CDB and the block layer's
/// line: five), and a second failure's lines go out after the first's.
#[test]
fn a_printed_failure_ends_when_its_five_lines_are_out_one_console_for_all() {
    let us = Duration::from_micros;
    let by = delivered_by(
        2,
        us(2_400),
        &[us(12_099), us(12_100), us(24_099), us(24_100)],
    );
    assert_eq!(by, vec![0, 1, 1, 2]);
    // Without a console time (the default, and every real transport) at once.
    assert_eq!(delivered_by(2, Duration::ZERO, &[us(100)]), vec![2]);
}

/// A print the rate limit suppressed costs nothing: of 12 failures at one instant the ten
/// printed ones queue on the console (12 ms each), the last two end at once.
#[test]
fn a_rate_limited_failure_is_not_held_for_the_console() {
    let us = Duration::from_micros;
    let by = delivered_by(
        12,
        us(2_400),
        &[us(100), us(12_100), us(120_099), us(120_100)],
    );
    assert_eq!(by, vec![2, 3, 11, 12]);
}

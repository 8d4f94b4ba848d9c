//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::time::Duration;

use unjam_core::buffers::Cdb;
use unjam_core::config::Personality;
use unjam_core::harness::{explain, parse_outcome, ExplainConfig, Explanation};

/// READ(10) of 8 blocks at LBA 0x1234 (sector 4660), as in kernel-observed.md.
pub fn read10() -> Cdb {
    Cdb::from_slice(&[0x28, 0, 0, 0, 0x12, 0x34, 0, 0, 0x08, 0]).unwrap()
}

/// `status=CHECK_CONDITION sense=<fixed sense with key/asc/ascq>`.
pub fn cc(key: u8, asc: u8, ascq: u8) -> String {
    format!("status=CHECK_CONDITION sense=70 00 {key:02x} 00 00 00 00 0a 00 00 00 00 {asc:02x} {ascq:02x} 00 00 00 00")
}

pub fn config(outcomes: &[&str]) -> ExplainConfig {
    let entries = outcomes
        .iter()
        .map(|text| parse_outcome(text).unwrap())
        .collect();
    let mut config = ExplainConfig::new(read10(), entries);
    config.personality = Personality::Generic;
    config.cmd_flags = 0x800;
    config.prio_class = 2;
    config
}

pub fn run(outcomes: &[&str]) -> Explanation {
    checked(explain(&config(outcomes)).unwrap())
}

pub fn run_with(outcomes: &[&str], change: impl FnOnce(&mut ExplainConfig)) -> Explanation {
    let mut config = config(outcomes);
    change(&mut config);
    checked(explain(&config).unwrap())
}

pub fn checked(explanation: Explanation) -> Explanation {
    assert!(
        explanation.violations.is_empty(),
        "invariants: {:?}",
        explanation.violations
    );
    assert!(
        explanation.completion.is_some(),
        "the command never completed:\n{}",
        explanation.path.join("\n")
    );
    explanation
}

pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

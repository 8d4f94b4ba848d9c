//! Partial completion and re-preparation through the whole mid-layer (spec §4.3–4.5): the
//! good bytes complete, the remainder is sent again as a new command for the rest; a
//! READ(10) the device rejects with ILLEGAL REQUEST 20/00 is rebuilt as READ(6).

mod common;

use common::cc;
use unjam_core::config::{DeviceConfig, HostConfig, Personality};
use unjam_core::harness::{parse_outcome, Driver, RunLimit, RunOutcome, ScriptedTransport};
use unjam_core::{MidLayer, Request};
use unjam_scsi::BlkStatus;

fn run(outcomes: &[&str]) -> Driver<ScriptedTransport> {
    let mut mid = MidLayer::new();
    let host = mid.add_host(HostConfig::new(0, Personality::Generic));
    let disk = mid.add_device(host, DeviceConfig::disk(0, 0, 0)).unwrap();
    let script = outcomes.iter().map(|o| parse_outcome(o).unwrap()).collect();
    let mut driver = Driver::new(mid, ScriptedTransport::new(script));
    let mut request = Request::new(common::read10(), 5);
    request.data_len = 8 * 512;
    request.block.start_sector = 0x1234;
    driver.submit(disk, request).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    driver
}

#[test]
fn a_residual_completes_the_good_bytes_and_resends_the_rest() {
    let driver = run(&["resid=2048", "status=GOOD"]);
    let completion = driver.completions[0];
    assert_eq!(
        (
            completion.status,
            completion.good_bytes,
            completion.attempts
        ),
        (BlkStatus::Ok, 4096, 2)
    );
    let second = driver.dispatches[1].2;
    assert_eq!(
        second.cdb.as_slice(),
        &[0x28, 0, 0, 0, 0x12, 0x38, 0, 0, 0x04, 0],
        "LBA +4, 4 blocks"
    );
    assert_eq!((second.data_len, second.block.start_sector), (2048, 0x1238));
}

#[test]
fn medium_error_midway_completes_the_bytes_before_the_bad_block() {
    // Fixed sense with VALID and information = LBA 0x1236: two blocks were good.
    let medium =
        "status=CHECK_CONDITION sense=f0 00 03 00 00 12 36 0a 00 00 00 00 11 00 00 00 00 00";
    let driver = run(&[medium]);
    let completion = driver.completions[0];
    assert_eq!(
        (
            completion.status,
            completion.good_bytes,
            completion.attempts
        ),
        (BlkStatus::Medium, 1024, 1)
    );
}

#[test]
fn illegal_request_20_00_on_read10_is_rebuilt_as_read6() {
    let driver = run(&[&cc(0x5, 0x20, 0x00), "status=GOOD"]);
    assert_eq!(driver.completions[0].status, BlkStatus::Ok);
    assert_eq!(
        driver.dispatches[1].2.cdb.as_slice(),
        &[0x08, 0x00, 0x12, 0x34, 0x08, 0x00]
    );
}

#[test]
fn alua_transition_is_resent_after_a_second() {
    let driver = run(&[&cc(0x2, 0x04, 0x0a), "status=GOOD"]);
    assert_eq!(driver.completions[0].status, BlkStatus::Ok);
    let gap = driver.dispatches[1]
        .0
        .saturating_duration_since(driver.dispatches[0].0);
    assert!(
        gap >= std::time::Duration::from_millis(1000)
            && gap < std::time::Duration::from_millis(1010),
        "{gap:?}"
    );
}

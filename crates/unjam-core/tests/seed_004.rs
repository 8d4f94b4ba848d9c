//! Seed 004 (spec/README.md §7.5): exactly-once completion under the race between a
//! completion and the timeout, and a lost completion recovered by poll_before_abort
//! without an abort (and by the abort path when the option is off).

mod common;

use std::time::Duration;

use common::run_with;
use unjam_core::config::{DeviceConfig, HostConfig, Personality};
use unjam_core::harness::{parse_outcome, Driver, RunLimit, RunOutcome, ScriptedTransport};
use unjam_core::{MidLayer, Request};
use unjam_scsi::BlkStatus;

#[test]
fn completion_just_before_the_timeout_wins_and_no_abort_runs() {
    let explanation = run_with(&["latency=29999"], |_| {});
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (1, Some(BlkStatus::Ok))
    );
    assert_eq!(explanation.stats.timeouts, 0);
    assert_eq!(explanation.stats.aborts_sent, 0);
    assert_eq!(explanation.stats.late_completions_dropped, 0);
}

#[test]
fn completion_at_the_same_instant_as_the_timeout_is_delivered_first() {
    let explanation = run_with(&["latency=30000"], |_| {});
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (1, Some(BlkStatus::Ok))
    );
    assert_eq!(explanation.stats.aborts_sent, 0);
}

#[test]
fn completion_just_after_the_timeout_is_dropped_and_counted_exactly_once() {
    // The timeout claims the command at 30 s; the real completion arrives at 30.001 s, before
    // the abort goes out (30.010 s). It is dropped; the abort succeeds; the retry completes.
    let explanation = run_with(&["latency=30001", "status=GOOD"], |_| {});
    assert_eq!(explanation.stats.late_completions_dropped, 1);
    assert_eq!(explanation.stats.completed, 1);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (2, Some(BlkStatus::Ok))
    );
    assert_eq!(explanation.stats.aborts_sent, 1);
    let path = explanation.path.join("\n");
    assert!(path.contains("late completion dropped"), "{path}");
}

#[test]
fn lost_completion_without_poll_before_abort_takes_the_abort_path() {
    let explanation = run_with(&["lost", "status=GOOD"], |c| c.poll_before_abort = false);
    assert_eq!(explanation.stats.polls, 0);
    assert_eq!(explanation.stats.aborts_sent, 1);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (2, Some(BlkStatus::Ok))
    );
    assert_eq!(explanation.dispositions, vec!["TIMEOUT_ERROR", "SUCCESS"]);
}

#[test]
fn lost_completion_with_poll_before_abort_completes_without_an_abort() {
    let explanation = run_with(&["lost"], |c| c.poll_before_abort = true);
    assert_eq!(explanation.stats.polls, 1);
    assert_eq!(explanation.stats.aborts_sent, 0);
    assert_eq!(explanation.stats.late_completions_dropped, 0);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (1, Some(BlkStatus::Ok))
    );
    let path = explanation.path.join("\n");
    assert!(path.contains("poll before abort"), "{path}");
}

#[test]
fn poll_that_finds_nothing_goes_on_to_the_abort() {
    let explanation = run_with(&["timeout", "status=GOOD"], |c| c.poll_before_abort = true);
    assert_eq!(explanation.stats.polls, 1);
    assert_eq!(explanation.stats.aborts_sent, 1);
    assert_eq!(
        (explanation.attempts, explanation.blk_status),
        (2, Some(BlkStatus::Ok))
    );
    assert!(explanation.path.join("\n").contains("poll found nothing"));
}

#[test]
fn a_real_completion_racing_an_unanswered_poll_is_delivered_once() {
    // The poll takes 1 s to answer; the real completion arrives 0.5 s after the timeout,
    // while the poll is outstanding. The completion wins (the timeout had not claimed the
    // command yet); the poll's late answer finds nothing to do.
    let mut mid = MidLayer::new();
    let mut host = HostConfig::new(0, Personality::Generic);
    host.capabilities.poll = true;
    let host = mid.add_host(host);
    let disk = mid.add_device(host, DeviceConfig::disk(0, 0, 0)).unwrap();
    let entry = parse_outcome("latency=30500").unwrap();
    let mut transport = ScriptedTransport::new(vec![entry]);
    transport.set_poll_delay(Duration::from_secs(1));
    let mut driver = Driver::new(mid, transport);
    let mut request = Request::new(common::read10(), 42);
    request.data_len = 4096;
    driver.submit(disk, request).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    let stats = driver.mid.stats();
    assert_eq!((stats.polls, stats.aborts_sent, stats.completed), (1, 0, 1));
    assert_eq!(driver.completions.len(), 1);
    assert_eq!(driver.completions[0].status, BlkStatus::Ok);
    assert_eq!(driver.completions[0].token, 42);
}

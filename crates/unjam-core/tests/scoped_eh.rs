//! LUN, target and host error-handler scopes (spec §4, §7.2): every row of the three
//! seed 001 scenario tables in its scope, asserting the exact EH steps and the final
//! outcome; isolation of a healthy LUN; the host scope holding every LUN as the kernel;
//! fallback off offlines the device; eh_deadline jumps to the host reset.

mod common;

use std::time::Duration;

use common::{read10, secs};
use unjam_core::config::{DeviceConfig, EhScopes, HostConfig, Personality};
use unjam_core::harness::{parse_outcome, Driver, RunLimit, RunOutcome, ScriptedTransport};
use unjam_core::log::KernelLog;
use unjam_core::state::DeviceState;
use unjam_core::topology::DeviceId;
use unjam_core::trace::TraceEvent;
use unjam_core::{Instant, MidLayer, Request};
use unjam_scsi::{BlkStatus, Disposition};

const SICK: u64 = 1;

fn read(token: u64) -> Request {
    let mut request = Request::new(read10(), token);
    request.data_len = 4096;
    request
}

/// One host (all resets), one target, two LUNs: the sick one and a healthy one.
fn setup(scopes: EhScopes, host: HostConfig) -> (MidLayer, DeviceId, DeviceId) {
    let mut mid = MidLayer::new();
    let host = mid.add_host(host);
    let mut sick = DeviceConfig::disk(0, 0, 0);
    sick.eh_scopes = scopes;
    let mut healthy = DeviceConfig::disk(0, 0, 1);
    healthy.eh_scopes = scopes;
    let sick = mid.add_device(host, sick).unwrap();
    let healthy = mid.add_device(host, healthy).unwrap();
    (mid, sick, healthy)
}

fn generic() -> HostConfig {
    let mut host = HostConfig::new(0, Personality::Generic);
    host.skip_settle_delay = true;
    host
}

/// The EH steps of a run as tokens: `lun:` / `target:` / `host:` when a scope's handler
/// wakes, reset and TUR answers, fallbacks, offline, and the flush verdicts.
fn steps(driver: &Driver<ScriptedTransport>) -> String {
    let mut tokens: Vec<String> = Vec::new();
    for record in &driver.trace {
        let token = match record.event {
            TraceEvent::ScopeEhWake { scope, .. } => format!("{}:", scope.name()),
            TraceEvent::EhWake { .. } => "host:".to_string(),
            TraceEvent::ResetDone { kind, result, .. } => {
                let answer = if result == unjam_core::action::TmfResult::Success {
                    "ok"
                } else {
                    "fail"
                };
                format!("{}_reset={answer}", format!("{kind:?}").to_lowercase())
            }
            TraceEvent::EhCommandDone {
                command: unjam_core::action::EhCommand::TestUnitReady,
                verdict,
                ..
            } => match verdict {
                Disposition::Success => "tur=ok".to_string(),
                _ => "tur=fail".to_string(),
            },
            TraceEvent::EhCommandDone {
                command: unjam_core::action::EhCommand::StartUnit,
                ..
            } => "stu".to_string(),
            TraceEvent::ScopeEhFallback { to, .. } => format!("->{}", to.name()),
            TraceEvent::DeviceOfflined { .. } | TraceEvent::ScopeOfflined { .. } => {
                "offline".to_string()
            }
            TraceEvent::FlushRetry { .. } => "retry".to_string(),
            TraceEvent::FlushFinish { .. } => "finish".to_string(),
            _ => continue,
        };
        tokens.push(token);
    }
    tokens.join(" ")
}

/// Runs the sick LUN's command with `outcome` on the first attempt and GOOD afterwards;
/// returns the steps, the final status and the attempts.
fn scenario(scopes: EhScopes, outcome: &str) -> (String, BlkStatus, u32) {
    let (mid, sick, _) = setup(scopes, generic());
    let mut transport = ScriptedTransport::new(vec![parse_outcome("status=GOOD").unwrap()]);
    transport.set_script(
        SICK,
        vec![
            parse_outcome(outcome).unwrap(),
            parse_outcome("status=GOOD").unwrap(),
        ],
    );
    let mut driver = Driver::new(mid, transport);
    driver.submit(sick, read(SICK)).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    assert_eq!(driver.completions.len(), 1, "completes exactly once");
    let done = &driver.completions[0];
    (steps(&driver), done.status, done.attempts)
}

struct Row {
    outcome: &'static str,
    steps: &'static str,
    status: BlkStatus,
}

fn check_row(scopes: EhScopes, row: &Row) {
    let (steps, status, attempts) = scenario(scopes, row.outcome);
    assert_eq!(steps, row.steps, "outcome `{}`", row.outcome);
    assert_eq!(status, row.status, "outcome `{}`", row.outcome);
    let expected_attempts = if row.status == BlkStatus::Ok { 2 } else { 1 };
    assert_eq!(attempts, expected_attempts, "outcome `{}`", row.outcome);
}

macro_rules! rows {
    ($scopes:expr, $($name:ident: $outcome:expr => $steps:expr, $status:ident;)*) => {
        $(
            #[test]
            fn $name() {
                check_row($scopes, &Row {
                    outcome: $outcome,
                    steps: $steps,
                    status: BlkStatus::$status,
                });
            }
        )*
    };
}

// The abort of the timed-out attempt fails, so the command reaches the error handler
// still owned by the transport; the row's answers script the resets and TURs. Where the
// table says "fall back to host recovery", the host scope runs the rest of §6.4 with the
// steps already tried skipped.

mod scenario_1_lun_scope {
    use super::*;
    rows! { EhScopes::LUN,
        lun_reset_ok_tur_ok_retries:
            "timeout abort=fail lun_reset=ok tur=ok"
            => "lun: lun_reset=ok tur=ok retry", Ok;
        lun_reset_ok_tur_fail_falls_back_to_host:
            "timeout abort=fail lun_reset=ok tur=fail,ok"
            => "lun: lun_reset=ok tur=fail ->host host: target_reset=ok tur=ok retry", Ok;
        lun_reset_fail_falls_back_to_host:
            "timeout abort=fail lun_reset=fail tur=ok"
            => "lun: lun_reset=fail ->host host: target_reset=ok tur=ok retry", Ok;
    }
}

mod scenario_2_target_scope {
    use super::*;
    rows! { EhScopes::TARGET,
        lun_reset_ok_tur_ok_retries:
            "timeout abort=fail lun_reset=ok tur=ok"
            => "target: lun_reset=ok tur=ok retry", Ok;
        lun_reset_ok_tur_fail_target_reset_ok_tur_ok_retries:
            "timeout abort=fail lun_reset=ok target_reset=ok tur=fail,ok"
            => "target: lun_reset=ok tur=fail target_reset=ok tur=ok retry", Ok;
        lun_reset_fail_target_reset_ok_tur_ok_retries:
            "timeout abort=fail lun_reset=fail target_reset=ok tur=ok"
            => "target: lun_reset=fail target_reset=ok tur=ok retry", Ok;
        lun_reset_fail_target_reset_ok_tur_fail_falls_back_to_host:
            "timeout abort=fail lun_reset=fail target_reset=ok tur=fail"
            => "target: lun_reset=fail target_reset=ok tur=fail ->host host: bus_reset=ok tur=fail host_reset=ok stu tur=fail tur=fail offline finish", IoErr;
        lun_reset_fail_target_reset_fail_falls_back_to_host:
            "timeout abort=fail lun_reset=fail target_reset=fail tur=ok"
            => "target: lun_reset=fail target_reset=fail ->host host: bus_reset=ok tur=ok retry", Ok;
    }
}

mod scenario_3_lun_and_target_scope {
    use super::*;
    rows! { EhScopes::LUN_TARGET,
        lun_reset_ok_tur_ok_retries:
            "timeout abort=fail lun_reset=ok tur=ok"
            => "lun: lun_reset=ok tur=ok retry", Ok;
        lun_reset_ok_tur_fail_falls_back_to_target_target_reset_ok_tur_ok:
            "timeout abort=fail lun_reset=ok target_reset=ok tur=fail,ok"
            => "lun: lun_reset=ok tur=fail ->target target: target_reset=ok tur=ok retry", Ok;
        lun_reset_fail_falls_back_to_target_target_reset_ok_tur_ok:
            "timeout abort=fail lun_reset=fail target_reset=ok tur=ok"
            => "lun: lun_reset=fail ->target target: target_reset=ok tur=ok retry", Ok;
        lun_reset_fail_target_reset_ok_tur_fail_falls_back_to_host:
            "timeout abort=fail lun_reset=fail target_reset=ok tur=fail"
            => "lun: lun_reset=fail ->target target: target_reset=ok tur=fail ->host host: bus_reset=ok tur=fail host_reset=ok stu tur=fail tur=fail offline finish", IoErr;
        lun_reset_fail_target_reset_fail_falls_back_to_host:
            "timeout abort=fail lun_reset=fail target_reset=fail tur=ok"
            => "lun: lun_reset=fail ->target target: target_reset=fail ->host host: bus_reset=ok tur=ok retry", Ok;
    }
}

/// The sick LUN times out at 30 s, its abort fails, and its TUR takes 5 s to answer; the
/// healthy LUN gets a read every 250 ms for a minute. Returns the driver after the run.
fn isolation_run(scopes: EhScopes) -> (Driver<ScriptedTransport>, DeviceId) {
    let (mid, sick, healthy) = setup(scopes, generic());
    let mut transport = ScriptedTransport::new(vec![parse_outcome("status=GOOD").unwrap()]);
    transport.set_script(
        SICK,
        vec![
            parse_outcome("timeout abort=fail latency=5000").unwrap(),
            parse_outcome("status=GOOD").unwrap(),
        ],
    );
    let mut driver = Driver::new(mid, transport);
    driver.submit(sick, read(SICK)).unwrap();
    for tick in 1..=240u64 {
        driver.submit(healthy, read(100 + tick)).unwrap();
        driver.run_until(Instant::ZERO + Duration::from_millis(250 * tick));
    }
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    assert_eq!(
        driver.completions.len(),
        241,
        "every request completes once"
    );
    assert!(driver.completions.iter().all(|c| c.status == BlkStatus::Ok));
    (driver, healthy)
}

/// (start, end) of the first error-handler run, and the healthy LUN's completions inside.
fn recovery_window(
    driver: &Driver<ScriptedTransport>,
    healthy: DeviceId,
) -> (Instant, Instant, usize) {
    let at = |wanted: fn(&TraceEvent) -> bool| {
        driver
            .trace
            .iter()
            .find(|r| wanted(&r.event))
            .map(|r| r.at)
            .unwrap()
    };
    let start = at(|e| {
        matches!(
            e,
            TraceEvent::ScopeEhWake { .. } | TraceEvent::EhWake { .. }
        )
    });
    let end = at(|e| {
        matches!(
            e,
            TraceEvent::ScopeEhDone { .. } | TraceEvent::HostRestart { .. }
        )
    });
    let inside = driver
        .trace
        .iter()
        .filter(|r| r.at > start && r.at < end)
        .filter(|r| matches!(r.event, TraceEvent::Completed { device, .. } if device == healthy))
        .count();
    (start, end, inside)
}

#[test]
fn lun_scope_keeps_a_healthy_lun_on_the_same_target_completing_during_recovery() {
    let (driver, healthy) = isolation_run(EhScopes::LUN);
    let (start, end, inside) = recovery_window(&driver, healthy);
    assert!(
        end >= start + secs(5),
        "the TUR took 5 s: {start:?}..{end:?}"
    );
    assert!(
        inside >= 15,
        "healthy completions during LUN recovery: {inside}"
    );
    assert!(
        !driver
            .trace
            .iter()
            .any(|r| matches!(r.event, TraceEvent::EhWake { .. })),
        "the host never entered recovery"
    );
}

#[test]
fn host_scope_holds_every_lun_of_the_host_during_recovery() {
    let (driver, healthy) = isolation_run(EhScopes::HOST);
    let (start, end, inside) = recovery_window(&driver, healthy);
    assert!(end >= start + secs(5), "{start:?}..{end:?}");
    assert_eq!(inside, 0, "the kernel's host-wide handler blocks every LUN");
}

#[test]
fn fallback_off_offlines_the_lun_with_the_luneh_line_and_then_rejects_io() {
    let scopes = EhScopes {
        fallback: false,
        ..EhScopes::LUN
    };
    let (mid, sick, healthy) = setup(scopes, generic());
    let mut transport = ScriptedTransport::new(vec![parse_outcome("status=GOOD").unwrap()]);
    transport.set_script(
        SICK,
        vec![parse_outcome("timeout abort=fail lun_reset=fail").unwrap()],
    );
    let mut driver = Driver::new(mid, transport);
    driver.submit(sick, read(SICK)).unwrap();
    driver.run_until_idle(RunLimit::default());
    assert_eq!(steps(&driver), "lun: lun_reset=fail offline finish");
    assert_eq!(driver.mid.device_state(sick), Some(DeviceState::Offline));
    driver.submit(sick, read(2)).unwrap();
    driver.submit(healthy, read(3)).unwrap();
    driver.run_until_idle(RunLimit::default());
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    let status = |token| {
        driver
            .completions
            .iter()
            .find(|c| c.token == token)
            .unwrap()
    };
    assert_eq!(status(SICK).status, BlkStatus::IoErr);
    assert_eq!(
        (status(2).status, status(2).attempts),
        (BlkStatus::IoErr, 0)
    );
    assert_eq!(status(3).status, BlkStatus::Ok);
    let mut log = KernelLog::default();
    for record in &driver.trace {
        log.record(record, &driver.mid);
    }
    let lines = log.lines();
    assert!(
        lines.contains(
            &"sd 0:0:0:0: sdev_eh_work:luneh: Device offlined - not ready after error recovery"
                .to_string()
        ),
        "{lines:?}"
    );
    assert!(lines.contains(&"sd 0:0:0:0: rejecting I/O to offline device".to_string()));
    assert!(!driver
        .trace
        .iter()
        .any(|r| matches!(r.event, TraceEvent::EhWake { .. })));
}

/// Two reads on the sick LUN, 10 s apart, both time out with failing aborts; eh_deadline
/// 5 s passes before the LUN handler can wake (it waits for the second read).
fn deadline_run(personality: Personality) -> String {
    let mut host = HostConfig::new(0, personality);
    host.skip_settle_delay = true;
    host.eh_deadline = Some(secs(5));
    let (mid, sick, _) = setup(EhScopes::LUN, host);
    let mut transport = ScriptedTransport::new(vec![parse_outcome("status=GOOD").unwrap()]);
    let failing = || {
        vec![
            parse_outcome("timeout abort=fail").unwrap(),
            parse_outcome("status=GOOD").unwrap(),
        ]
    };
    transport.set_script(1, failing());
    transport.set_script(2, failing());
    let mut driver = Driver::new(mid, transport);
    driver.submit(sick, read(1)).unwrap();
    driver.run_until(Instant::ZERO + secs(10));
    driver.submit(sick, read(2)).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    assert_eq!(driver.completions.len(), 2);
    assert!(driver.completions.iter().all(|c| c.status == BlkStatus::Ok));
    steps(&driver)
}

#[test]
fn eh_deadline_jumps_from_the_lun_scope_straight_to_host_reset() {
    assert_eq!(
        deadline_run(Personality::Mpt3sas),
        "lun: ->host host: host_reset=ok stu tur=ok retry retry"
    );
}

#[test]
fn eh_deadline_is_off_without_host_reset_so_the_lun_ladder_runs() {
    assert_eq!(
        deadline_run(Personality::IscsiTcp),
        "lun: lun_reset=ok tur=ok retry retry"
    );
}

/// The sick LUN's TUR never answers; the core aborts the TUR (`abort=`) and escalates.
fn tur_timeout_run(scopes: EhScopes, outcome: &str) -> String {
    let (mid, sick, _) = setup(scopes, generic());
    let mut transport = ScriptedTransport::new(vec![parse_outcome("status=GOOD").unwrap()]);
    transport.set_script(
        SICK,
        vec![
            parse_outcome(outcome).unwrap(),
            parse_outcome("status=GOOD").unwrap(),
        ],
    );
    let mut driver = Driver::new(mid, transport);
    driver.submit(sick, read(SICK)).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    assert_eq!(driver.completions.len(), 1);
    let aborts = driver
        .trace
        .iter()
        .filter(|r| matches!(r.event, TraceEvent::AbortDone { .. }))
        .count();
    format!("{} | aborts answered: {aborts}", steps(&driver))
}

#[test]
fn a_timed_out_tur_is_aborted_and_the_lun_scope_escalates_only_to_a_lun_reset() {
    // Abort of the command fails, LUN reset ok, TUR times out; the abort of the TUR fails
    // too, so the LUN reset is tried for the TUR (inside the LUN scope); the TUR is
    // FAILED and the command falls back to the host, whose target reset and TUR recover.
    assert_eq!(
        tur_timeout_run(EhScopes::LUN, "timeout abort=fail tur=timeout,ok"),
        "lun: lun_reset=ok lun_reset=ok tur=fail ->host host: target_reset=ok tur=ok retry | aborts answered: 2"
    );
}

#[test]
fn a_timed_out_tur_in_the_target_scope_escalates_past_a_failing_lun_reset_to_the_target_reset() {
    // LUN reset fails, target reset ok, TUR times out; its abort and its LUN reset fail,
    // the target reset reclaims it (the scope allows no more); the TUR is FAILED and the
    // host scope's bus reset and TUR recover the command.
    assert_eq!(
        tur_timeout_run(EhScopes::TARGET, "timeout abort=fail lun_reset=fail tur=timeout,ok"),
        "target: lun_reset=fail target_reset=ok lun_reset=fail target_reset=ok tur=fail ->host host: bus_reset=ok tur=ok retry | aborts answered: 2"
    );
}

/// Sick LUN 0:0:0:0 (LUN scope) whose LUN reset fails, a LUN on the same target and one on
/// another target. `sick_outcome` scripts the rest; the EH's TURs take 50 ms. A read is
/// submitted to both healthy LUNs 10 ms after the host handler's first step starts (no
/// settle delay: `generic()` skips it); returns
/// how long each waited for its dispatch (same target, other target).
fn waits_during_host_fallback(sick_outcome: &str) -> (Duration, Duration) {
    let mut mid = MidLayer::new();
    let host = mid.add_host(generic());
    let mut devices = Vec::new();
    for (target, lun) in [(0, 0), (0, 1), (1, 0)] {
        let mut config = DeviceConfig::disk(0, target, lun);
        config.eh_scopes = EhScopes::LUN;
        devices.push(mid.add_device(host, config).unwrap());
    }
    let mut transport = ScriptedTransport::new(vec![parse_outcome("status=GOOD").unwrap()]);
    transport.set_script(
        SICK,
        vec![
            parse_outcome(sick_outcome).unwrap(),
            parse_outcome("status=GOOD").unwrap(),
        ],
    );
    let mut driver = Driver::new(mid, transport);
    driver.submit(devices[0], read(SICK)).unwrap();
    let host_step = |driver: &Driver<ScriptedTransport>| {
        driver.trace.iter().find_map(|r| match r.event {
            TraceEvent::EhStep {
                scope: unjam_core::eh::EhScope::Host(_),
                ..
            } => Some(r.at),
            _ => None,
        })
    };
    while host_step(&driver).is_none() {
        assert!(driver.step(), "the host handler never started");
    }
    let submit_at = host_step(&driver).unwrap() + Duration::from_millis(10);
    driver.run_until(submit_at);
    driver.submit(devices[1], read(20)).unwrap();
    driver.submit(devices[2], read(21)).unwrap();
    assert_eq!(driver.run_until_idle(RunLimit::default()), RunOutcome::Idle);
    assert!(driver.check().is_clean(), "{:?}", driver.checker.violations);
    assert!(driver.completions.iter().all(|c| c.status == BlkStatus::Ok));
    let sent = |token: u64| {
        let (at, _, _) = driver
            .dispatches
            .iter()
            .find(|(_, _, request)| request.token == token)
            .unwrap();
        at.saturating_duration_since(submit_at)
    };
    (sent(20), sent(21))
}

#[test]
fn lun_scope_fallback_holds_the_target_and_takes_the_host_only_for_a_host_wide_step() {
    // LUN reset fails, the host handler's target reset recovers: only the sick LUN's
    // target stops (the reset reaches its LUNs); the other target keeps dispatching.
    let (same, other) =
        waits_during_host_fallback("timeout abort=fail lun_reset=fail target_reset=ok latency=50");
    assert_eq!(other, Duration::ZERO, "another target is not held");
    assert!(
        same > Duration::from_millis(30),
        "the reset target is held: {same:?}"
    );
    // The target reset fails too: the bus reset is host-wide, so every LUN of the host
    // waits until the host handler ends (bus reset, then the 50 ms TUR; no settle here).
    let (same, other) = waits_during_host_fallback(
        "timeout abort=fail lun_reset=fail target_reset=fail bus_reset=ok latency=50",
    );
    assert!(other > Duration::from_millis(30), "{other:?}");
    assert_eq!(same, other, "both dispatch when the host restarts");
}

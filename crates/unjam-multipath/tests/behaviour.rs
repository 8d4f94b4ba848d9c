//! The multipath layer's behaviour in virtual time (spec README §5, issue 12).

mod common;

use std::time::Duration;

use common::*;
use unjam_multipath::{
    Config, EventKind, Failback, MarginalConfig, NoPathRetry, PathEvent, PathGrouping, Selector,
    SubmitError,
};
use unjam_scsi::cdb::response::AccessState;
use unjam_scsi::{BlkStatus, HostByte};

const NAA_A: u64 = 0x5000_0000_0000_00a1;
const NAA_B: u64 = 0x5000_0000_0000_00b2;

fn two_paths(config: Config) -> World {
    let mut world = World::new(
        config,
        vec![SimPath::new(NAA_A, 1, 1), SimPath::new(NAA_A, 2, 2)],
    );
    world.add_all();
    world
}

fn quiet_config() -> Config {
    Config {
        marginal: None,
        ..Config::default()
    }
}

#[test]
fn paths_are_grouped_by_logical_unit_identity_with_serial_fallback() {
    let mut serial_a = SimPath::new(0, 5, 1);
    serial_a.naa = None;
    serial_a.serial = "  SERIAL-7";
    let mut serial_b = serial_a.clone();
    serial_b.relative_port = 6;
    let mut world = World::new(
        Config::default(),
        vec![
            SimPath::new(NAA_A, 1, 1),
            SimPath::new(NAA_B, 1, 1),
            SimPath::new(NAA_A, 2, 2),
            SimPath::new(NAA_B, 2, 2),
            serial_a,
            serial_b,
        ],
    );
    world.add_all();
    let ids: Vec<_> = world.mp.device_ids().collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(world.device(0), world.device(2));
    assert_eq!(world.device(1), world.device(3));
    assert_eq!(world.device(4), world.device(5));
    assert_ne!(world.device(0), world.device(1));
    let view = world.mp.device(world.device(0)).unwrap();
    assert_eq!(view.identity, "naa.50000000000000a1");
    assert_eq!(view.paths.len(), 2);
    assert!(view.paths.iter().all(|p| p.state == "active"));
    assert_eq!(
        world.mp.device(world.device(4)).unwrap().identity,
        "serial.SERIAL-7"
    );
}

#[test]
fn a_path_added_and_removed_at_run_time() {
    let mut world = World::new(
        Config::default(),
        vec![
            SimPath::new(NAA_A, 1, 1),
            SimPath::new(NAA_A, 2, 2),
            SimPath::new(NAA_A, 3, 3),
        ],
    );
    world.mp.add_path(world.now, path_id(0)).unwrap();
    world.drain();
    world.run_for(5 * MS);
    let device = world.device(0);
    assert_eq!(world.mp.device(device).unwrap().paths.len(), 1);
    world.mp.add_path(world.now, path_id(1)).unwrap();
    world.mp.add_path(world.now, path_id(2)).unwrap();
    world.drain();
    world.run_for(5 * MS);
    assert_eq!(world.mp.device(device).unwrap().paths.len(), 3);
    assert!(world.mp.add_path(world.now, path_id(1)).is_err());
    let stop = world.now + 200 * MS;
    world.load(device, 4, stop);
    world.run_for(50 * MS);
    world.mp.remove_path(world.now, path_id(0)).unwrap();
    world.drain();
    let removed_at = world.now;
    world.run_for(400 * MS);
    assert_eq!(world.mp.device(device).unwrap().paths.len(), 2);
    assert_eq!(
        world.sends_on(0, removed_at + Duration::from_nanos(1), world.now),
        0
    );
    assert!(world.failed().is_empty());
}

#[test]
fn a_path_whose_transport_goes_down_fails_over_with_no_error() {
    let mut world = two_paths(quiet_config());
    let device = world.device(0);
    world.load(device, 8, world.at(12_000));
    world.run_until(world.at(2_000));
    assert!(
        world.sends_on(0, world.at(1_000), world.at(2_000)) > 100,
        "failover group: path 0 first"
    );
    assert_eq!(world.sends_on(1, world.at(1_000), world.at(2_000)), 0);
    world.paths[0].link_up = false;
    world.run_until(world.at(5_000));
    assert_eq!(world.state(0), "failed");
    assert!(world.sends_on(1, world.at(2_000), world.at(5_000)) > 100);
    world.paths[0].link_up = true;
    world.run_until(world.at(13_000));
    assert!(
        world.failed().is_empty(),
        "no error returned: {:?}",
        world.failed()
    );
    let view = world.mp.device(device).unwrap();
    assert!(
        view.stats.failovers >= 1 && view.stats.failovers <= 8,
        "{view:?}"
    );
    assert_eq!(world.state(0), "active", "reinstated by the checker");
    assert!(
        world.sends_on(0, world.at(11_000), world.at(12_000)) > 100,
        "immediate failback"
    );
    assert_eq!(view.no_path_ms, 0);
}

#[test]
fn a_medium_error_on_a_healthy_path_is_returned_not_failed_over() {
    let mut world = two_paths(quiet_config());
    world.paths[0].medium_error = Some((1000, 1999));
    let device = world.device(0);
    let bad = world.read(device, 1500);
    let good = world.read(device, 10);
    world.run_for(10 * MS);
    assert_eq!(world.completion(bad).unwrap().status, BlkStatus::Medium);
    assert_eq!(world.completion(bad).unwrap().failovers, 0);
    assert_eq!(world.completion(good).unwrap().status, BlkStatus::Ok);
    assert_eq!(world.state(0), "active");
    assert_eq!(world.mp.device(device).unwrap().stats.failovers, 0);
    assert_eq!(world.sent.iter().filter(|s| s.1 == 1).count(), 0);
}

#[test]
fn every_target_error_is_returned_and_never_retried_elsewhere() {
    let cases = [
        (BlkStatus::Target, [0x05, 0x24, 0x00]),
        (BlkStatus::NoSpc, [0x07, 0x27, 0x07]),
        (BlkStatus::Medium, [0x03, 0x11, 0x00]),
        (BlkStatus::Protection, [0x0b, 0x10, 0x01]),
        (BlkStatus::ResvConflict, [0, 0, 0]),
        (BlkStatus::NotSupp, [0x05, 0x20, 0x00]),
    ];
    for (status, sense) in cases {
        let mut world = two_paths(quiet_config());
        world.paths[0].io_error = Some((status, HostByte::DID_OK, sense, 1));
        let device = world.device(0);
        let token = world.read(device, 0);
        world.run_for(10 * MS);
        let done = world.completion(token).unwrap();
        assert_eq!(done.status, status);
        assert_eq!(done.failovers, 0);
        assert_eq!(world.sent.len(), 1, "{status:?} sent once");
        assert_eq!(world.state(0), "active");
    }
}

#[test]
fn failfast_and_path_errors_fail_over_at_once_in_the_original_order() {
    let mut world = two_paths(quiet_config());
    world.paths[0].io_error = Some((
        BlkStatus::Transport,
        HostByte::DID_TRANSPORT_FAILFAST,
        [0; 3],
        100,
    ));
    let device = world.device(0);
    let tokens: Vec<u64> = (0..6).map(|i| world.read(device, i * 8)).collect();
    world.run_for(10 * MS);
    for token in &tokens {
        let done = world.completion(*token).unwrap();
        assert_eq!(done.status, BlkStatus::Ok);
        assert_eq!(done.failovers, 1);
        assert_eq!(done.path, Some(path_id(1)));
    }
    let resent: Vec<u64> = world
        .sent
        .iter()
        .filter(|s| s.1 == 1)
        .map(|s| s.2)
        .collect();
    assert_eq!(
        resent, tokens,
        "failed-over requests keep their original order"
    );
    assert_eq!(world.state(0), "failed");
    assert!(world.events.iter().any(|e| e.kind
        == EventKind::PathFailed {
            reason: "transport_failfast"
        }));
}

#[test]
fn a_transport_offline_path_fails_over_at_once() {
    let mut world = two_paths(quiet_config());
    let device = world.device(0);
    world
        .mp
        .handle_path_event(world.now, path_id(0), PathEvent::TransportOffline)
        .unwrap();
    world.drain();
    let token = world.read(device, 0);
    world.run_for(5 * MS);
    assert_eq!(world.completion(token).unwrap().path, Some(path_id(1)));
    assert_eq!(world.state(0), "failed");
}

#[test]
fn no_path_retry_intervals_then_transport() {
    let config = Config {
        no_path_retry: NoPathRetry::Intervals(2),
        ..quiet_config()
    };
    let mut world = two_paths(config);
    let device = world.device(0);
    world.paths[0].link_up = false;
    world.paths[1].link_up = false;
    let first = world.read(device, 0);
    world.run_for(MS);
    let second = world.read(device, 8);
    world.run_for(9_000 * MS);
    assert!(world.completion(first).is_none(), "queued for 2 × 5 s");
    world.run_for(2_000 * MS);
    assert_eq!(
        world.completion(first).unwrap().status,
        BlkStatus::Transport
    );
    assert_eq!(
        world.completion(second).unwrap().status,
        BlkStatus::Transport
    );
    let view = world.mp.device(device).unwrap();
    assert!(view.no_path_ms >= 10_000, "{}", view.no_path_ms);
    assert_eq!(view.stats.ios_failed.get("BLK_STS_TRANSPORT"), Some(&2));
    // After expiry, new I/O fails at once until a path is back.
    let third = world.read(device, 16);
    assert_eq!(
        world.completion(third).unwrap().status,
        BlkStatus::Transport
    );
    world.paths[1].link_up = true;
    world.run_for(6_000 * MS);
    let fourth = world.read(device, 24);
    world.run_for(5 * MS);
    assert_eq!(world.completion(fourth).unwrap().status, BlkStatus::Ok);
}

#[test]
fn no_path_retry_queue_waits_and_fail_fails_at_once() {
    let mut world = two_paths(Config {
        no_path_retry: NoPathRetry::Queue,
        ..quiet_config()
    });
    let device = world.device(0);
    world.paths[0].link_up = false;
    world.paths[1].link_up = false;
    let token = world.read(device, 0);
    world.run_for(120_000 * MS);
    assert!(world.completion(token).is_none());
    world.paths[1].link_up = true;
    world.run_for(6_000 * MS);
    assert_eq!(world.completion(token).unwrap().status, BlkStatus::Ok);

    let mut world = two_paths(Config {
        no_path_retry: NoPathRetry::Fail,
        ..quiet_config()
    });
    let device = world.device(0);
    world.paths[0].link_up = false;
    world.paths[1].link_up = false;
    let token = world.read(device, 0);
    world.run_for(5 * MS);
    assert_eq!(
        world.completion(token).unwrap().status,
        BlkStatus::Transport
    );
}

#[test]
fn the_checker_fails_a_silent_path_after_checker_timeout_and_reinstates_it() {
    let config = Config {
        checker_timeout: Duration::from_secs(2),
        ..quiet_config()
    };
    let mut world = two_paths(config);
    world.paths[1].silent = true;
    world.run_until(world.at(5_100));
    assert_eq!(world.state(1), "active", "check sent at 5 s");
    world.run_until(world.at(9_200));
    assert_eq!(
        world.state(1),
        "failed",
        "no answer within 2 × checker_timeout"
    );
    assert!(world.events.iter().any(|e| e.kind
        == EventKind::PathFailed {
            reason: "checker_timeout"
        }));
    world.paths[1].silent = false;
    world.run_until(world.at(20_000));
    assert_eq!(world.state(1), "active");
    let checks = world
        .probes_sent
        .iter()
        .filter(|p| p.1 == 0 && p.2 == 0x00)
        .count();
    assert!(
        (3..=4).contains(&checks),
        "one TUR per polling interval: {checks}"
    );
}

fn alua_world(grouping: PathGrouping) -> World {
    let mut world = World::new(
        Config {
            grouping,
            ..quiet_config()
        },
        vec![SimPath::new(NAA_A, 1, 1), SimPath::new(NAA_A, 2, 2)],
    )
    .with_alua(vec![
        Group::new(1, AccessState::ActiveOptimized),
        Group::new(2, AccessState::ActiveNonOptimized),
    ]);
    world.add_all();
    world
}

#[test]
fn alua_optimized_first_and_a_transition_moves_io_to_the_new_optimized_group() {
    let mut world = alua_world(PathGrouping::GroupByPrio);
    assert_eq!(world.mp.path(path_id(0)).unwrap().access, "active");
    assert_eq!(world.mp.path(path_id(1)).unwrap().access, "non_optimized");
    let device = world.device(0);
    world.load(device, 4, world.at(3_000));
    world.run_until(world.at(1_000));
    assert_eq!(
        world.sends_on(1, world.at(0), world.at(1_000)),
        0,
        "non-optimized unused"
    );
    world.set_group(1, AccessState::Standby);
    world.set_group(2, AccessState::ActiveOptimized);
    world.run_until(world.at(4_000));
    assert!(world.failed().is_empty(), "{:?}", world.failed());
    assert!(world.sends_on(1, world.at(1_100), world.at(3_000)) > 100);
    assert_eq!(world.sends_on(0, world.at(1_100), world.at(3_000)), 0);
    assert_eq!(world.mp.path(path_id(0)).unwrap().state, "standby");
    assert_eq!(world.mp.path(path_id(1)).unwrap().state, "active");
}

#[test]
fn a_transitioning_group_is_waited_for_not_failed() {
    let mut world = World::new(
        Config {
            no_path_retry: NoPathRetry::Fail,
            ..quiet_config()
        },
        vec![SimPath::new(NAA_A, 1, 1)],
    )
    .with_alua(vec![Group::new(1, AccessState::ActiveOptimized)]);
    world.add_all();
    let device = world.device(0);
    world.set_group(1, AccessState::Transitioning);
    world.attention[0] = false;
    let token = world.read(device, 0);
    world.run_for(8_000 * MS);
    assert!(
        world.completion(token).is_none(),
        "waits for the transition"
    );
    assert_eq!(world.state(0), "transitioning");
    world.set_group(1, AccessState::ActiveOptimized);
    world.run_for(6_000 * MS);
    assert_eq!(world.completion(token).unwrap().status, BlkStatus::Ok);
}

fn failback_world(failback: Failback) -> World {
    let mut world = two_paths(Config {
        failback,
        ..quiet_config()
    });
    let device = world.device(0);
    world.load(device, 2, world.at(60_000));
    world.run_until(world.at(1_000));
    world.paths[0].link_up = false;
    world.run_until(world.at(2_000));
    world.paths[0].link_up = true;
    world.run_until(world.at(40_000));
    world
}

#[test]
fn failback_immediate_manual_and_deferred() {
    let world = failback_world(Failback::Immediate);
    assert!(
        world.sends_on(0, world.at(6_000), world.at(7_000)) > 100,
        "back at the 5 s check"
    );
    let world = failback_world(Failback::Manual);
    assert_eq!(
        world.sends_on(0, world.at(2_000), world.at(40_000)),
        0,
        "manual: stays"
    );
    assert_eq!(world.state(0), "active");
    let world = failback_world(Failback::After(Duration::from_secs(20)));
    assert_eq!(world.sends_on(0, world.at(2_000), world.at(24_900)), 0);
    assert!(world.sends_on(0, world.at(25_100), world.at(26_000)) > 100);
    let world = failback_world(Failback::Followover);
    assert!(
        world.sends_on(0, world.at(6_000), world.at(7_000)) > 100,
        "followover: a reinstated path"
    );
}

#[test]
fn followover_does_not_fail_back_on_a_priority_change() {
    let mut world = World::new(
        Config {
            failback: Failback::Followover,
            ..quiet_config()
        },
        vec![SimPath::new(NAA_A, 1, 1), SimPath::new(NAA_A, 2, 2)],
    )
    .with_alua(vec![
        Group::new(1, AccessState::ActiveOptimized),
        Group::new(2, AccessState::ActiveOptimized),
    ]);
    world.add_all();
    let device = world.device(0);
    world.load(device, 2, world.at(30_000));
    world.run_until(world.at(1_000));
    world.set_group(1, AccessState::Standby);
    world.run_until(world.at(2_000));
    assert!(world.sends_on(1, world.at(1_500), world.at(2_000)) > 50);
    world.set_group(1, AccessState::ActiveOptimized);
    world.attention[1] = false;
    world.run_until(world.at(20_000));
    assert_eq!(world.state(0), "active");
    assert_eq!(
        world.sends_on(0, world.at(2_000), world.at(20_000)),
        0,
        "no failback on a state change"
    );
}

#[test]
fn a_flapping_path_becomes_marginal_and_does_not_ping_pong_the_load() {
    let mut world = two_paths(Config {
        marginal: Some(MarginalConfig::default()),
        ..Config::default()
    });
    let device = world.device(0);
    world.load(device, 4, world.at(60_000));
    for cycle in 0..6u64 {
        let base = 1_000 + cycle * 6_000;
        world.run_until(world.at(base));
        world.paths[0].link_up = false;
        world.run_until(world.at(base + 3_000));
        world.paths[0].link_up = true;
    }
    world.run_until(world.at(61_000));
    assert!(world.failed().is_empty());
    assert!(world
        .events
        .iter()
        .any(|e| e.kind == EventKind::Marginal { reason: "flapping" }));
    let view = world.mp.device(device).unwrap();
    assert!(view.stats.group_switches <= 8, "{:?}", view.stats);
    assert_eq!(
        world.sends_on(0, world.at(25_000), world.at(37_000)),
        0,
        "demoted while marginal"
    );
}

#[test]
fn a_slow_path_is_demoted_before_it_fails() {
    let mut world = two_paths(Config {
        grouping: PathGrouping::Multibus,
        selector: Selector::RoundRobin,
        marginal: Some(MarginalConfig::default()),
        ..Config::default()
    });
    world.paths[1].latency = Duration::from_millis(40);
    let device = world.device(0);
    world.load(device, 8, world.at(20_000));
    world.run_until(world.at(21_000));
    assert!(world
        .events
        .iter()
        .any(|e| e.kind == EventKind::Marginal { reason: "latency" }));
    assert_eq!(world.mp.path(path_id(1)).unwrap().state, "marginal");
    let slow = world.sends_on(1, world.at(5_000), world.at(20_000));
    let fast = world.sends_on(0, world.at(5_000), world.at(20_000));
    assert!(slow == 0 && fast > 1_000, "slow {slow}, fast {fast}");
}

#[test]
fn selectors_spread_multibus_load() {
    for selector in [
        Selector::RoundRobin,
        Selector::QueueLength,
        Selector::ServiceTime,
    ] {
        let mut world = two_paths(Config {
            grouping: PathGrouping::Multibus,
            selector,
            ..quiet_config()
        });
        let device = world.device(0);
        world.load(device, 8, world.at(1_000));
        world.run_until(world.at(1_100));
        let (a, b) = (
            world.sends_on(0, world.at(0), world.at(1_000)),
            world.sends_on(1, world.at(0), world.at(1_000)),
        );
        assert!(a > 1_000 && b > 1_000, "{selector:?}: {a} / {b}");
        assert!(
            a.abs_diff(b) * 10 < a + b,
            "{selector:?}: balanced {a} / {b}"
        );
    }
    // Service time prefers the faster path.
    let mut world = two_paths(Config {
        grouping: PathGrouping::Multibus,
        selector: Selector::ServiceTime,
        ..quiet_config()
    });
    world.paths[1].latency = Duration::from_micros(1_600);
    let device = world.device(0);
    world.load(device, 8, world.at(1_000));
    world.run_until(world.at(1_100));
    let (fast, slow) = (
        world.sends_on(0, world.at(0), world.at(1_000)),
        world.sends_on(1, world.at(0), world.at(1_000)),
    );
    assert!(fast > 2 * slow, "service-time: {fast} / {slow}");
}

#[test]
fn group_by_tpg_keeps_a_port_group_together() {
    let mut world = World::new(
        Config {
            grouping: PathGrouping::GroupByTpg,
            selector: Selector::RoundRobin,
            ..quiet_config()
        },
        vec![
            SimPath::new(NAA_A, 1, 1),
            SimPath::new(NAA_A, 2, 1),
            SimPath::new(NAA_A, 3, 2),
        ],
    )
    .with_alua(vec![
        Group::new(1, AccessState::ActiveOptimized),
        Group::new(2, AccessState::ActiveOptimized),
    ]);
    world.add_all();
    let device = world.device(0);
    world.load(device, 4, world.at(1_000));
    world.run_until(world.at(1_100));
    assert!(world.sends_on(0, world.at(0), world.at(1_000)) > 500);
    assert!(world.sends_on(1, world.at(0), world.at(1_000)) > 500);
    assert_eq!(world.sends_on(2, world.at(0), world.at(1_000)), 0);
    let view = world.mp.device(device).unwrap();
    assert_eq!(view.paths[0].group, view.paths[1].group);
    assert_ne!(view.paths[0].group, view.paths[2].group);
}

#[test]
fn a_path_in_error_handling_takes_no_new_io() {
    let mut world = two_paths(quiet_config());
    let device = world.device(0);
    world.load(device, 4, world.at(3_000));
    world.run_until(world.at(1_000));
    world
        .mp
        .handle_path_event(world.now, path_id(0), PathEvent::Blocked)
        .unwrap();
    world.drain();
    world.run_until(world.at(2_000));
    assert!(world.sends_on(0, world.at(1_001), world.at(2_000)) == 0);
    assert!(
        world.sends_on(1, world.at(1_001), world.at(2_000)) > 100,
        "the other path carries the load"
    );
    assert_eq!(world.state(0), "recovering");
    world
        .mp
        .handle_path_event(world.now, path_id(0), PathEvent::Unblocked)
        .unwrap();
    world.drain();
    world.run_until(world.at(3_100));
    assert!(world.sends_on(0, world.at(2_001), world.at(3_000)) > 100);
    assert!(world.failed().is_empty());
}

#[test]
fn the_queue_is_bounded() {
    let mut world = two_paths(Config {
        max_queued: 3,
        no_path_retry: NoPathRetry::Queue,
        ..quiet_config()
    });
    let device = world.device(0);
    world.paths[0].link_up = false;
    world.paths[1].link_up = false;
    world.read(device, 0);
    world.run_for(10 * MS);
    world.read(device, 8);
    world.read(device, 16);
    let request = unjam_core::request::Request::new(
        unjam_core::buffers::Cdb::from_slice(&[0u8; 6]).unwrap(),
        99,
    );
    assert_eq!(
        world.mp.submit(world.now, device, request),
        Err(SubmitError::QueueFull { limit: 3 })
    );
}

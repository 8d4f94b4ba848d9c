//! Property tests over random outcome sequences (issue 3 item 7): whatever the transport
//! answers, every request completes exactly once, counted retries stay within `allowed`,
//! uncounted requeues stop at the runtime cap, no request completes while the transport
//! holds its buffers, and the core's structural invariants hold after every step.

use std::time::Duration;

use proptest::prelude::*;
use unjam_core::config::{DeviceConfig, HostConfig, Personality};
use unjam_core::harness::{parse_outcome, Driver, ScriptEntry, ScriptedTransport};
use unjam_core::request::cmd_flags;
use unjam_core::{MidLayer, Request};

fn outcome_text() -> impl Strategy<Value = String> {
    let sense = (
        prop::sample::select(vec![0x0u8, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xd, 0xf]),
        prop::sample::select(vec![0x00u8, 0x04, 0x10, 0x11, 0x20, 0x24, 0x27, 0x29, 0x2e, 0x3a, 0x44, 0x55]),
        prop::sample::select(vec![0x00u8, 0x01, 0x02, 0x06, 0x07, 0x0a, 0x0e]),
    )
        .prop_map(|(key, asc, ascq)| {
            format!("status=CHECK_CONDITION sense=70 00 {key:02x} 00 00 00 00 0a 00 00 00 00 {asc:02x} {ascq:02x}")
        });
    let host = prop::sample::select(vec![
        "DID_NO_CONNECT",
        "DID_BUS_BUSY",
        "DID_TIME_OUT",
        "DID_BAD_TARGET",
        "DID_ABORT",
        "DID_PARITY",
        "DID_ERROR",
        "DID_RESET",
        "DID_BAD_INTR",
        "DID_SOFT_ERROR",
        "DID_IMM_RETRY",
        "DID_REQUEUE",
        "DID_TRANSPORT_DISRUPTED",
        "DID_TRANSPORT_FAILFAST",
        "0x13",
    ])
    .prop_map(|h| format!("host={h}"));
    let status = prop::sample::select(vec![
        "GOOD",
        "BUSY",
        "TASK_SET_FULL",
        "RESERVATION_CONFLICT",
        "TASK_ABORTED",
        "CHECK_CONDITION",
        "0x7e",
    ])
    .prop_map(|s| format!("status={s}"));
    let eh = (
        prop::sample::select(vec!["abort=ok", "abort=fail"]),
        prop::sample::select(vec!["tur=ok", "tur=fail", "tur=timeout"]),
        prop::sample::select(vec!["reset=ok", "reset=fail"]),
        prop::sample::select(vec![
            "",
            "rs=70 00 05 00 00 00 00 0a 00 00 00 00 24 00",
            "rs=70 00 06 00 00 00 00 0a 00 00 00 00 29 00",
        ]),
    );
    let base = prop_oneof![
        4 => Just("status=GOOD".to_string()),
        3 => sense,
        3 => host,
        2 => status,
        2 => Just("timeout".to_string()),
        1 => Just("lost".to_string()),
        1 => Just("latency=3500".to_string()),
        1 => Just("host=DID_ERROR sense=70 00 00 00 00 00 00 0a 00 00 00 00 00 00".to_string()),
    ];
    (base, eh, 0u32..3).prop_map(|(base, (abort, tur, reset, rs), resid)| {
        format!("{base} {abort} {tur} {reset} {rs} resid={}", resid * 512)
    })
}

#[derive(Debug, Clone)]
struct Case {
    personality: Personality,
    poll: bool,
    eh_deadline: bool,
    allowed: i32,
    flags: u32,
    passthrough: bool,
    scripts: Vec<Vec<String>>,
    devices: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(Personality::ALL.to_vec()),
        any::<bool>(),
        any::<bool>(),
        0i32..=5,
        prop::sample::select(vec![
            0,
            cmd_flags::FAILFAST_DEV,
            cmd_flags::FAILFAST_TRANSPORT,
            cmd_flags::FAILFAST_DRIVER,
        ]),
        prop::bool::weighted(0.15),
        prop::collection::vec(prop::collection::vec(outcome_text(), 1..5), 1..5),
        1usize..3,
    )
        .prop_map(
            |(personality, poll, eh_deadline, allowed, flags, passthrough, scripts, devices)| {
                Case {
                    personality,
                    poll,
                    eh_deadline,
                    allowed,
                    flags,
                    passthrough,
                    scripts,
                    devices,
                }
            },
        )
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let mut mid = MidLayer::new();
    let mut host = HostConfig::new(0, case.personality);
    host.capabilities.poll = case.poll;
    if case.eh_deadline {
        host.eh_deadline = Some(Duration::from_secs(5));
    }
    let host = mid.add_host(host);
    let mut devices = Vec::new();
    for lun in 0..case.devices {
        let mut config = DeviceConfig::disk(0, 0, lun as u64);
        config.timeout = Duration::from_secs(3);
        config.eh_timeout = Duration::from_secs(2);
        devices.push(mid.add_device(host, config).unwrap());
    }
    let mut transport = ScriptedTransport::new(Vec::new());
    for (token, script) in case.scripts.iter().enumerate() {
        let entries: Vec<ScriptEntry> = script
            .iter()
            .map(|text| parse_outcome(text).unwrap())
            .collect();
        transport.set_script(token as u64, entries);
    }
    let mut driver = Driver::new(mid, transport);
    for token in 0..case.scripts.len() {
        let mut request = Request::new(
            unjam_core::buffers::Cdb::from_slice(&[0x28, 0, 0, 0, 0, 0x10, 0, 0, 8, 0]).unwrap(),
            token as u64,
        );
        request.data_len = 4096;
        request.block.start_sector = 16;
        request.block.cmd_flags = case.flags;
        request.passthrough = case.passthrough;
        request.allowed = Some(case.allowed);
        driver
            .submit(devices[token % devices.len()], request)
            .unwrap();
    }
    let mut steps = 0u64;
    while driver.step() {
        steps += 1;
        prop_assert!(steps < 2_000_000, "did not settle");
        if let Err(error) = driver.mid.check_invariants() {
            return Err(TestCaseError::fail(format!("after step {steps}: {error}")));
        }
    }
    let checker = driver.check();
    prop_assert!(checker.is_clean(), "{:?}", checker.violations);
    prop_assert_eq!(driver.completions.len(), case.scripts.len());
    for completion in &driver.completions {
        prop_assert!(completion.counted_retries <= case.allowed as u32);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_request_completes_exactly_once_within_its_limits(case in case()) {
        run(&case)?;
    }
}

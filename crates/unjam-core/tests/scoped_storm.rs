//! Randomized fault storms over mixed error-handler scopes, under the invariant checker
//! (including invariant 3, scope isolation): every request completes exactly once and
//! every run ends. Faults hit commands, aborts, LUN/target/bus/host resets and TURs.
//! After the last request the faults heal and every request must complete within the
//! liveness bound of the configuration (`harness::liveness_bound`).
//!
//! CI runs 3000 seeds; a longer run: `UNJAM_STORM_SEEDS=100000 cargo test -p unjam-core
//! --release --test scoped_storm`.

use std::time::Duration;

use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;

use unjam_core::buffers::Cdb;
use unjam_core::config::{DeviceConfig, EhScopes, HostConfig, Personality};
use unjam_core::harness::{parse_outcome, Driver, ScriptedTransport};
use unjam_core::{Instant, MidLayer, Request};

/// The storm's random choices: a seeded ChaCha8 stream, so that a failing seed replays.
struct Rng(ChaCha8Rng);

impl Rng {
    fn seeded(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    fn below(&mut self, n: usize) -> usize {
        self.0.gen_range(0..n)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SCOPES: [EhScopes; 5] = [
    EhScopes::HOST,
    EhScopes::LUN,
    EhScopes::TARGET,
    EhScopes::LUN_TARGET,
    EhScopes {
        lun: true,
        target: false,
        fallback: false,
    },
];

fn outcome(rng: &mut Rng) -> String {
    let base = rng.pick(&[
        "status=GOOD",
        "status=GOOD",
        "timeout",
        "timeout",
        "status=CHECK_CONDITION",
        "status=BUSY",
        "host=DID_ERROR",
        "status=CHECK_CONDITION sense=70 00 02 00 00 00 00 0a 00 00 00 00 04 02 00 00 00 00",
        "status=CHECK_CONDITION sense=70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00",
    ]);
    let mut text = base.to_string();
    for (token, choices) in [
        ("abort", &["ok", "fail"][..]),
        ("lun_reset", &["ok", "fail"][..]),
        ("target_reset", &["ok", "fail"][..]),
        ("bus_reset", &["ok", "fail"][..]),
        ("host_reset", &["ok", "fail"][..]),
        (
            "tur",
            &["ok", "fail", "timeout", "fail,ok", "timeout,ok"][..],
        ),
    ] {
        if rng.below(2) == 0 {
            text.push_str(&format!(" {token}={}", rng.pick(choices)));
        }
    }
    text.push_str(&format!(" latency={}", rng.below(3000)));
    text
}

fn storm(seed: u64) {
    let mut rng = Rng::seeded(seed);
    let personalities = Personality::ALL;
    let mut host = HostConfig::new(0, personalities[rng.below(personalities.len())]);
    host.skip_settle_delay = rng.below(2) == 0;
    if rng.below(3) == 0 {
        host.eh_deadline = Some(Duration::from_secs(rng.below(60) as u64));
    }
    let mut mid = MidLayer::new();
    let host = mid.add_host(host);
    let mut devices = Vec::new();
    for target in 0..1 + rng.below(2) as u32 {
        for lun in 0..1 + rng.below(3) as u64 {
            let mut config = DeviceConfig::disk(0, target, lun);
            config.eh_scopes = SCOPES[rng.below(SCOPES.len())];
            config.timeout = Duration::from_secs(1 + rng.below(30) as u64);
            config.eh_timeout = Duration::from_secs(1 + rng.below(10) as u64);
            devices.push(mid.add_device(host, config).unwrap());
        }
    }
    let mut transport = ScriptedTransport::new(vec![parse_outcome("status=GOOD").unwrap()]);
    let requests = 1 + rng.below(8) as u64;
    for token in 0..requests {
        let attempts = 1 + rng.below(4);
        let script = (0..attempts)
            .map(|_| parse_outcome(&outcome(&mut rng)).unwrap())
            .collect();
        transport.set_script(token, script);
    }
    let mut driver = Driver::new(mid, transport);
    let cdb = Cdb::from_slice(&[0x28, 0, 0, 0, 0x12, 0x34, 0, 0, 0x08, 0]).unwrap();
    for token in 0..requests {
        let mut request = Request::new(cdb, token);
        request.data_len = 4096;
        let device = devices[rng.below(devices.len())];
        driver.submit(device, request).unwrap();
        let pause = Duration::from_millis(rng.below(20_000) as u64);
        let until = driver.now + pause;
        driver.run_until(until.max(Instant::ZERO));
    }
    driver.transport.heal();
    let liveness = driver.run_liveness_phase();
    assert!(
        liveness.stuck.is_empty(),
        "seed {seed}: stuck {:?} after the bound of {:?}",
        liveness.stuck,
        liveness.bound
    );
    assert!(
        driver.check().is_clean(),
        "seed {seed}: {:?}",
        driver.checker.violations
    );
    let mut tokens: Vec<u64> = driver.completions.iter().map(|c| c.token).collect();
    tokens.sort_unstable();
    assert_eq!(
        tokens,
        (0..requests).collect::<Vec<_>>(),
        "seed {seed}: every request completes exactly once"
    );
}

#[test]
fn fault_storms_over_mixed_scopes_keep_every_invariant() {
    let seeds: u64 = std::env::var("UNJAM_STORM_SEEDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3000);
    for seed in 0..seeds {
        storm(seed);
    }
}

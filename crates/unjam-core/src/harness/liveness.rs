//! The liveness bound: once faults have healed, how much virtual time every outstanding
//! request gets to complete. It is stated from the configuration, so a run that exceeds
//! it is a bug (a request the core forgot), not a slow run.
//!
//! Per device: the runtime cap `timeout × (retries + 1)` (how long a request may keep
//! being retried), plus two error-handler ladders in which every step waits its full
//! time — 6 × (`tmf_timeout` + `eh_timeout`) and two 10 s settles each — plus one more
//! `timeout` for the attempt in flight when the faults healed. The bound is the largest
//! over all devices. A request that needs longer is stuck.

use std::time::Duration;

use crate::midlayer::MidLayer;
use crate::topology::DeviceId;

/// Retries assumed for a device configured with no limit (`allowed = -1`); the core
/// bounds such a command's lifetime by its own rule.
const UNLIMITED_RETRIES_ASSUMED: u32 = 5;

/// The settle time after a bus or host reset.
const SETTLE: Duration = Duration::from_secs(10);

/// Ladder steps that may each wait a full abort/reset and error-handler-command timeout.
const LADDER_STEPS: u32 = 6;

/// The liveness bound of `mid`'s configuration (zero without devices).
pub fn liveness_bound(mid: &MidLayer) -> Duration {
    (0..mid.device_count() as u32)
        .filter_map(|index| device_bound(mid, DeviceId(index)))
        .max()
        .unwrap_or(Duration::ZERO)
}

fn device_bound(mid: &MidLayer, device: DeviceId) -> Option<Duration> {
    let config = mid.device_config(device)?;
    let host = mid.host_config(mid.device_host(device)?)?;
    let retries = u32::try_from(config.allowed).unwrap_or(UNLIMITED_RETRIES_ASSUMED);
    let cap = config.timeout.saturating_mul(retries.saturating_add(1));
    let settles = if host.skip_settle_delay {
        Duration::ZERO
    } else {
        SETTLE * 2
    };
    let step = host.tmf_timeout.saturating_add(config.eh_timeout);
    let ladder = step.saturating_mul(LADDER_STEPS).saturating_add(settles);
    Some(
        cap.saturating_add(ladder.saturating_mul(2))
            .saturating_add(config.timeout),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DeviceConfig, HostConfig, Personality};

    #[test]
    fn the_bound_follows_the_slowest_device() {
        let mut mid = MidLayer::new();
        assert_eq!(liveness_bound(&mid), Duration::ZERO);
        let host = mid.add_host(HostConfig::new(0, Personality::Generic));
        let mut fast = DeviceConfig::disk(0, 0, 0);
        fast.timeout = Duration::from_secs(3);
        fast.eh_timeout = Duration::from_secs(2);
        fast.allowed = 1;
        mid.add_device(host, fast).unwrap();
        // cap 6 s + 2 × (6 × (30 + 2) + 20) s + 3 s
        assert_eq!(liveness_bound(&mid), Duration::from_secs(6 + 2 * 212 + 3));
        mid.add_device(host, DeviceConfig::disk(0, 0, 1)).unwrap();
        // sd defaults: 30 s, 10 s, 5 retries: 180 + 2 × (240 + 20) + 30
        assert_eq!(liveness_bound(&mid), Duration::from_secs(180 + 520 + 30));
    }
}

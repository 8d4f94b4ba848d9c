//! Builds the two halves of a run from a scenario: the core's topology (one host per
//! `[[host]]`, one device per LUN, with the scenario's limits) and the simulated target.

use std::time::Duration;

use unjam_core::config::{DeviceConfig, EhPolicy, EhScopes, HostConfig, TimerModel};
use unjam_core::topology::DeviceId;
use unjam_core::MidLayer;

use super::RunError;
use crate::address::LunAddress;
use crate::scenario::{target_config, EhScopeName, Policy, ResolvedLun, Scenario};
use crate::target::SimTarget;

/// The core and the target of one run, with the device of every path.
pub(super) struct Halves {
    pub mid: MidLayer,
    pub target: SimTarget,
    pub devices: Vec<DeviceId>,
    pub luns: Vec<ResolvedLun>,
}

pub(super) fn build(scenario: &Scenario) -> Result<Halves, RunError> {
    let luns = scenario
        .resolved_luns()
        .map_err(|(field, message)| RunError::Scenario(format!("`{field}`: {message}")))?;
    let config = target_config(scenario).map_err(|e| RunError::Scenario(e.to_string()))?;
    let target = SimTarget::new(&config).map_err(|e| RunError::Scenario(e.to_string()))?;
    // The slab grows to what is used (by doubling, so to the exact power of two). The
    // action queue, sized 4 × this, only ever holds what one instant produces, but as a
    // ring it touches all of its capacity: sized by the LUN count it would keep 2.7 KB per
    // LUN resident at 4096 LUNs.
    let mut mid = MidLayer::with_capacity(1024);
    mid.set_console_line_time(Duration::from_micros(scenario.console_line_us()));
    let mut hosts = Vec::with_capacity(scenario.hosts.len());
    for (index, host) in scenario.hosts.iter().enumerate() {
        let mut config = HostConfig::new(index as u32, host.personality.to_core());
        config.can_queue = scenario.command.can_queue;
        config.capabilities.poll = scenario.command.poll_before_abort;
        config.eh_deadline = scenario.eh.eh_deadline_ms.map(Duration::from_millis);
        config.skip_settle_delay = scenario.eh.skip_settle_delay;
        config.timer_model = TimerModel::for_policy(match scenario.policy {
            Policy::Linux => EhPolicy::Linux,
            Policy::Unjam => EhPolicy::Unjam,
        });
        hosts.push(mid.add_host(config));
    }
    let mut devices = Vec::with_capacity(luns.len());
    for lun in &luns {
        let host = hosts
            .get(lun.address.host as usize)
            .copied()
            .ok_or_else(|| RunError::Scenario(format!("no host for {}", lun.address)))?;
        let mut config =
            DeviceConfig::disk(lun.address.channel, lun.address.target, lun.address.lun);
        config.queue_depth = scenario.command.queue_depth;
        config.timeout = Duration::from_millis(lun.limits.timeout_ms);
        config.eh_timeout = Duration::from_millis(lun.limits.eh_timeout_ms);
        config.allowed = lun.limits.retries;
        config.allow_restart = lun.limits.allow_restart;
        config.max_medium_access_timeouts = lun.limits.max_medium_access_timeouts;
        config.sector_size = lun.block_size;
        config.eh_scopes = eh_scopes(scenario);
        let device = mid
            .add_device(host, config)
            .map_err(|e| RunError::Scenario(e.to_string()))?;
        devices.push(device);
    }
    Ok(Halves {
        mid,
        target,
        devices,
        luns,
    })
}

/// The core's scopes for the scenario's `[eh]` settings.
fn eh_scopes(scenario: &Scenario) -> EhScopes {
    let mut scopes = match scenario.eh_scope() {
        EhScopeName::Lun => EhScopes::LUN,
        EhScopeName::Target => EhScopes::TARGET,
        EhScopeName::LunTarget => EhScopes::LUN_TARGET,
        EhScopeName::Host => EhScopes::HOST,
    };
    scopes.fallback = scenario.eh.fallback;
    scopes
}

/// The core's target index of every path: targets are numbered in the order their first
/// LUN is added, as `MidLayer::add_device` does.
pub(super) fn target_indexes(luns: &[ResolvedLun]) -> Vec<u32> {
    let mut seen: Vec<(u32, u32, u32)> = Vec::new();
    luns.iter()
        .map(|lun| {
            let key = (lun.address.host, lun.address.channel, lun.address.target);
            let index = seen.iter().position(|k| *k == key).unwrap_or_else(|| {
                seen.push(key);
                seen.len() - 1
            });
            index as u32
        })
        .collect()
}

/// The address of a core device (devices are added in path order).
pub(super) fn address_of(luns: &[ResolvedLun], device: DeviceId) -> LunAddress {
    luns.get(device.0 as usize)
        .map(|lun| lun.address)
        .unwrap_or_default()
}

/// The scenario's faults as the report shows them: the rule as written, the lanes whose
/// paths it matches, its window.
pub(super) fn fault_marks(
    scenario: &Scenario,
    luns: &[ResolvedLun],
) -> Vec<crate::report::FaultMark> {
    scenario
        .faults
        .iter()
        .map(|spec| {
            let rule = &spec.rule;
            crate::report::FaultMark {
                label: describe_fault(spec),
                lanes: luns
                    .iter()
                    .enumerate()
                    .filter(|(_, lun)| rule.devices.matches(&lun.address))
                    .map(|(lane, _)| lane)
                    .collect(),
                from_us: rule.trigger.from_us,
                until_us: rule.trigger.until_us,
                fired: 0,
                fired_span_us: None,
                ignored: rule.is_wire(),
            }
        })
        .collect()
}

/// A `[[fault]]` table on one line: `kind="timeout" device="0:0:1:2" times=1`.
fn describe_fault(spec: &crate::fault::FaultSpec) -> String {
    let Ok(toml::Value::Table(table)) = toml::Value::try_from(&spec.fields) else {
        return String::new();
    };
    table
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

//! From a scenario to the shape of the simulated target: hosts numbered in order, channel
//! 0, targets and LUNs counted from 0, one logical unit per LUN except on mirror hosts
//! (whose paths reach another host's units). Also the checks across fields.

use thiserror::Error;

use super::MAX_TARGETS_PER_HOST;
use super::{Scenario, UnitSpec, MAX_DURATION_MS, MAX_HOSTS, MAX_LUNS_PER_TARGET, MAX_PATHS};
use crate::address::{AddressSelector, LunAddress};
use crate::latency::LatencyModel;
use crate::media::{MAX_BLOCK_COUNT, SUPPORTED_BLOCK_SIZES};
use crate::scenario::workload::{MAX_IO_BYTES, MAX_RATE_IOPS, MAX_WORKLOAD_QUEUE_DEPTH};
use crate::target::config::{DEFAULT_RAM_LIMIT_BYTES, DEFAULT_TASK_SET_SIZE};
use crate::target::{HostConfig, LunConfig, TargetConfig, UnitConfig};

/// Default LUN capacity: 1 TiB (costs nothing until written).
pub const DEFAULT_CAPACITY_GIB: u64 = 1024;

/// Default latency: lognormal, median 200 µs.
pub const DEFAULT_LATENCY: LatencyModel = LatencyModel::Lognormal {
    median_us: 200,
    sigma: 0.25,
};

/// A scenario that passed its checks but still cannot be built (should not happen).
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("`{field}`: {message}")]
pub struct BuildError {
    pub field: String,
    pub message: String,
}

/// One LUN with everything resolved.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct ResolvedLun {
    pub address: LunAddress,
    pub unit: usize,
    pub block_size: u32,
    pub block_count: u64,
    pub latency: LatencyModel,
    pub task_set_size: u32,
    pub ram_limit_bytes: u64,
    /// Command timeout, EH timeout, retries, allow_restart, medium-access limit.
    pub limits: super::LunLimits,
}

type Check = Result<(), (String, String)>;

fn fail(field: impl Into<String>, message: impl Into<String>) -> Check {
    Err((field.into(), message.into()))
}

impl Scenario {
    /// Every LUN of the scenario, in host, target, LUN order.
    pub fn resolved_luns(&self) -> Result<Vec<ResolvedLun>, (String, String)> {
        let mut luns: Vec<ResolvedLun> = Vec::new();
        // The first LUN resolved for each unit (index into `luns`): a mirror inherits its
        // geometry without a scan of every LUN so far (quadratic at 65 536 LUNs).
        let mut first_lun_of_unit: Vec<Option<usize>> = Vec::new();
        let mut first_unit_of_host = Vec::new();
        let mut units = 0usize;
        for (host_index, host) in self.hosts.iter().enumerate() {
            let mirror = host.mirror_of.map(|m| m as usize);
            let base = match mirror {
                Some(m) => *first_unit_of_host.get(m).ok_or_else(|| {
                    (
                        format!("host[{host_index}].mirror_of"),
                        "must name an earlier host".into(),
                    )
                })?,
                None => units,
            };
            first_unit_of_host.push(base);
            let mut offset = 0;
            for target in 0..host.targets {
                for lun in 0..host.luns {
                    let address = LunAddress::new(host_index as u32, 0, target, lun);
                    let spec = self.unit_spec_for(host.unit(), &address);
                    let lun_table = spec.1.and_then(|index| self.luns.get(index));
                    let limits = self.lun_limits(host.personality, lun_table);
                    let explicit_block_size = spec.0.block_size;
                    let mut lun = resolve(address, base + offset, spec, host_index, limits)?;
                    match first_lun_of_unit.get(lun.unit).copied().flatten() {
                        Some(first) => inherit_geometry(
                            &luns[first],
                            &mut lun,
                            explicit_block_size,
                            host_index,
                        )?,
                        None => {
                            if first_lun_of_unit.len() <= lun.unit {
                                first_lun_of_unit.resize(lun.unit + 1, None);
                            }
                            first_lun_of_unit[lun.unit] = Some(luns.len());
                        }
                    }
                    luns.push(lun);
                    offset += 1;
                }
            }
            if mirror.is_none() {
                units += offset;
            }
        }
        Ok(luns)
    }

    /// The cross-field checks; on failure the field path and what is wrong.
    pub fn check(&self) -> Check {
        if self.duration_ms == 0 || self.duration_ms > MAX_DURATION_MS {
            return fail("duration_ms", format!("must lie in 1..={MAX_DURATION_MS}"));
        }
        if self.command.queue_depth == 0 || self.command.can_queue == 0 {
            return fail(
                "command.queue_depth",
                "queue_depth and can_queue must be positive",
            );
        }
        if self.console_line_us() > super::MAX_CONSOLE_LINE_US {
            return fail(
                "console_line_us",
                format!("at most {} (one second)", super::MAX_CONSOLE_LINE_US),
            );
        }
        self.check_limits()?;
        self.check_hosts()?;
        let luns = self.resolved_luns()?;
        if luns.len() > MAX_PATHS {
            return fail("host", format!("{} LUNs; at most {MAX_PATHS}", luns.len()));
        }
        for (index, lun) in self.luns.iter().enumerate() {
            let address: Result<LunAddress, _> = lun.id.parse();
            match address {
                Ok(address) if luns.iter().any(|l| l.address == address) => {}
                Ok(_) => return fail(format!("lun[{index}].id"), format!("no LUN {}", lun.id)),
                Err(error) => return fail(format!("lun[{index}].id"), error.to_string()),
            }
        }
        for index in 0..self.workloads.len() {
            self.check_workload(index, &luns)?;
        }
        if let Some(settings) = &self.multipath {
            settings.config()?;
        }
        self.check_network()
    }

    fn check_hosts(&self) -> Check {
        if self.hosts.is_empty() {
            return fail("host", "a scenario needs at least one [[host]]");
        }
        if self.hosts.len() > MAX_HOSTS as usize {
            return fail("host", format!("at most {MAX_HOSTS} hosts"));
        }
        for (index, host) in self.hosts.iter().enumerate() {
            if !(1..=MAX_TARGETS_PER_HOST).contains(&host.targets) {
                return fail(
                    format!("host[{index}].targets"),
                    format!("must lie in 1..={MAX_TARGETS_PER_HOST}"),
                );
            }
            if !(1..=MAX_LUNS_PER_TARGET).contains(&host.luns) {
                return fail(
                    format!("host[{index}].luns"),
                    format!("must lie in 1..={MAX_LUNS_PER_TARGET}"),
                );
            }
            if let Some(mirror) = host.mirror_of {
                let Some(other) = self
                    .hosts
                    .get(mirror as usize)
                    .filter(|_| (mirror as usize) < index)
                else {
                    return fail(
                        format!("host[{index}].mirror_of"),
                        "must name an earlier host",
                    );
                };
                if other.mirror_of.is_some()
                    || other.targets != host.targets
                    || other.luns != host.luns
                {
                    return fail(
                        format!("host[{index}].mirror_of"),
                        "the mirrored host must be a plain host with the same targets and luns",
                    );
                }
            }
        }
        Ok(())
    }

    fn check_workload(&self, index: usize, luns: &[ResolvedLun]) -> Check {
        let workload = &self.workloads[index];
        let field = |name: &str| format!("workload[{index}].{name}");
        let selector: AddressSelector = match workload.luns.parse() {
            Ok(selector) => selector,
            Err(error) => return fail(field("luns"), error.to_string()),
        };
        let matched: Vec<&ResolvedLun> = luns
            .iter()
            .filter(|l| selector.matches(&l.address))
            .collect();
        if matched.is_empty() {
            return fail(field("luns"), format!("`{}` matches no LUN", workload.luns));
        }
        if workload.multipath && self.multipath.is_none() {
            return fail(field("multipath"), "needs a [multipath] table");
        }
        if workload.read_percent > 100 {
            return fail(field("read_percent"), "must lie in 0..=100");
        }
        if workload.io_bytes == 0 || workload.io_bytes > MAX_IO_BYTES {
            return fail(field("io_bytes"), format!("must lie in 1..={MAX_IO_BYTES}"));
        }
        if let Some(lun) = matched
            .iter()
            .find(|l| workload.io_bytes % l.block_size != 0)
        {
            return fail(
                field("io_bytes"),
                format!(
                    "{} is not a multiple of the block size {} of {}",
                    workload.io_bytes, lun.block_size, lun.address
                ),
            );
        }
        match (workload.queue_depth, workload.rate_iops) {
            (Some(_), Some(_)) => {
                return fail(
                    field("rate_iops"),
                    "give queue_depth or rate_iops, not both",
                )
            }
            (Some(depth), None) if depth == 0 || depth > MAX_WORKLOAD_QUEUE_DEPTH => {
                return fail(
                    field("queue_depth"),
                    format!("must lie in 1..={MAX_WORKLOAD_QUEUE_DEPTH}"),
                )
            }
            (None, Some(rate)) if rate == 0 || rate > MAX_RATE_IOPS => {
                return fail(
                    field("rate_iops"),
                    format!("must lie in 1..={MAX_RATE_IOPS}"),
                )
            }
            _ => {}
        }
        let span_bytes = workload.span_bytes();
        if span_bytes < workload.io_bytes as u64 {
            return fail(field("span_mib"), "must hold at least one command");
        }
        if let Some(lun) = matched.iter().find(|l| {
            workload
                .first_lba
                .saturating_add(span_bytes / l.block_size as u64)
                > l.block_count
        }) {
            return fail(field("span_mib"), format!("larger than {}", lun.address));
        }
        if workload.think_time_us > MAX_DURATION_MS.saturating_mul(1000) {
            return fail(
                field("think_time_us"),
                format!("at most {} (one day)", MAX_DURATION_MS.saturating_mul(1000)),
            );
        }
        if workload.start_ms > MAX_DURATION_MS
            || workload.duration_ms.is_some_and(|d| d > MAX_DURATION_MS)
        {
            return fail(field("duration_ms"), format!("at most {MAX_DURATION_MS}"));
        }
        Ok(())
    }

    fn unit_spec_for(&self, host: UnitSpec, address: &LunAddress) -> (UnitSpec, Option<usize>) {
        let found = self
            .luns
            .iter()
            .position(|l| l.id.parse::<LunAddress>().is_ok_and(|a| a == *address));
        let Some(index) = found else {
            return (host, None);
        };
        let lun = self.luns[index].unit();
        let spec = UnitSpec {
            block_size: lun.block_size.or(host.block_size),
            capacity_gib: lun.capacity_gib.or(if lun.capacity_mib.is_some() {
                None
            } else {
                host.capacity_gib
            }),
            capacity_mib: lun.capacity_mib.or(if lun.capacity_gib.is_some() {
                None
            } else {
                host.capacity_mib
            }),
            latency: lun.latency.or(host.latency),
            task_set_size: lun.task_set_size.or(host.task_set_size),
            ram_limit_mib: lun.ram_limit_mib.or(host.ram_limit_mib),
        };
        (spec, Some(index))
    }
}

/// A second path (`mirror_of`) reaches the same logical unit, so it sees its block size
/// and capacity; a block size set for the path that differs is refused.
fn inherit_geometry(
    first: &ResolvedLun,
    path: &mut ResolvedLun,
    explicit_block_size: Option<u32>,
    host_index: usize,
) -> Result<(), (String, String)> {
    if let Some(block_size) = explicit_block_size.filter(|b| *b != first.block_size) {
        return Err((
            format!("host[{host_index}].block_size"),
            format!(
                "{block_size} is not the block size {} of the logical unit {} reaches through mirror_of ({})",
                first.block_size, path.address, first.address
            ),
        ));
    }
    path.block_size = first.block_size;
    path.block_count = first.block_count;
    Ok(())
}

fn resolve(
    address: LunAddress,
    unit: usize,
    (spec, lun_index): (UnitSpec, Option<usize>),
    host_index: usize,
    limits: super::LunLimits,
) -> Result<ResolvedLun, (String, String)> {
    let table = match lun_index {
        Some(index) => format!("lun[{index}]"),
        None => format!("host[{host_index}]"),
    };
    let block_size = spec.block_size.unwrap_or(512);
    if !SUPPORTED_BLOCK_SIZES.contains(&block_size) {
        return Err((format!("{table}.block_size"), "must be 512 or 4096".into()));
    }
    let capacity_bytes = match (spec.capacity_gib, spec.capacity_mib) {
        (Some(_), Some(_)) => {
            return Err((
                format!("{table}.capacity_mib"),
                "give capacity_gib or capacity_mib".into(),
            ))
        }
        (Some(gib), None) => gib.saturating_mul(1 << 30),
        (None, Some(mib)) => mib.saturating_mul(1 << 20),
        (None, None) => DEFAULT_CAPACITY_GIB << 30,
    };
    let block_count = capacity_bytes / block_size as u64;
    if block_count == 0 || block_count > MAX_BLOCK_COUNT {
        return Err((
            format!("{table}.capacity_gib"),
            "capacity out of range".into(),
        ));
    }
    let ram_limit_bytes = spec
        .ram_limit_mib
        .map_or(DEFAULT_RAM_LIMIT_BYTES, |mib| mib.saturating_mul(1 << 20));
    Ok(ResolvedLun {
        address,
        unit,
        block_size,
        block_count,
        latency: spec.latency.unwrap_or(DEFAULT_LATENCY),
        task_set_size: spec.task_set_size.unwrap_or(DEFAULT_TASK_SET_SIZE).max(1),
        ram_limit_bytes,
        limits,
    })
}

/// The simulated target a (checked) scenario describes.
pub fn target_config(scenario: &Scenario) -> Result<TargetConfig, BuildError> {
    let luns = scenario
        .resolved_luns()
        .map_err(|(field, message)| BuildError { field, message })?;
    let mut config = TargetConfig {
        seed: scenario.seed,
        power_on_unit_attention: scenario.target.power_on_unit_attention,
        tmf_latency_us: scenario.target.tmf_latency_us,
        alua: scenario.target.alua,
        faults: scenario.faults.iter().map(|f| f.rule).collect(),
        ..TargetConfig::default()
    };
    for (index, host) in scenario.hosts.iter().enumerate() {
        config.hosts.push(HostConfig {
            host: index as u32,
            personality: host.personality,
        });
    }
    for lun in &luns {
        if lun.unit == config.units.len() {
            config.units.push(UnitConfig {
                block_size: lun.block_size,
                block_count: lun.block_count,
                ram_limit_bytes: lun.ram_limit_bytes,
            });
        }
        config.luns.push(LunConfig {
            address: lun.address,
            unit: lun.unit,
            latency: lun.latency,
            task_set_size: lun.task_set_size,
        });
    }
    Ok(config)
}

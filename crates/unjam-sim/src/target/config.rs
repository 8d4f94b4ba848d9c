//! The shape of a simulated target, independent of the scenario file: hosts with their
//! personality, logical units with their geometry, and the paths (H:C:T:L) that reach them.

use crate::address::LunAddress;
use crate::fault::FaultRule;
use crate::latency::LatencyModel;
use crate::personality::Personality;

/// The default RAM budget of one logical unit's written data: 256 MiB.
pub const DEFAULT_RAM_LIMIT_BYTES: u64 = 256 << 20;

/// The default task set size of a logical unit (commands it holds before TASK SET FULL).
pub const DEFAULT_TASK_SET_SIZE: u32 = 256;

/// One simulated HBA.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HostConfig {
    pub host: u32,
    pub personality: Personality,
}

/// One logical unit's geometry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UnitConfig {
    pub block_size: u32,
    pub block_count: u64,
    pub ram_limit_bytes: u64,
}

/// One path: an address on a host that reaches logical unit number `unit`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct LunConfig {
    pub address: LunAddress,
    pub unit: usize,
    pub latency: LatencyModel,
    pub task_set_size: u32,
}

/// Everything a [`crate::target::SimTarget`] is built from.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct TargetConfig {
    pub seed: u64,
    pub hosts: Vec<HostConfig>,
    pub units: Vec<UnitConfig>,
    pub luns: Vec<LunConfig>,
    pub faults: Vec<FaultRule>,
    /// Every path starts with unit attention 29/01 (power on occurred), as a real device.
    pub power_on_unit_attention: bool,
    /// How long a task management function takes to answer.
    pub tmf_latency_us: u64,
    /// Report ALUA: one target port group per host (id = host + 1, one port), active/
    /// optimized unless an `alua_state` fault's window says otherwise.
    pub alua: bool,
}

impl TargetConfig {
    /// `hosts` × `targets` × `luns` paths, one logical unit each, all with `personality`,
    /// 1 GiB of 512-byte blocks and a fixed 100 µs latency. Handy for tests.
    pub fn grid(hosts: u32, targets: u32, luns: u64, personality: Personality) -> Self {
        let mut config = TargetConfig {
            seed: 1,
            tmf_latency_us: 100,
            ..TargetConfig::default()
        };
        for host in 0..hosts {
            config.hosts.push(HostConfig { host, personality });
            for target in 0..targets {
                for lun in 0..luns {
                    config.units.push(UnitConfig {
                        block_size: 512,
                        block_count: (1 << 30) / 512,
                        ram_limit_bytes: DEFAULT_RAM_LIMIT_BYTES,
                    });
                    config.luns.push(LunConfig {
                        address: LunAddress::new(host, 0, target, lun),
                        unit: config.units.len() - 1,
                        latency: LatencyModel::Fixed { us: 100 },
                        task_set_size: DEFAULT_TASK_SET_SIZE,
                    });
                }
            }
        }
        config
    }
}

//! Scenario files: the topology, policy, error-handling settings, faults and workloads of
//! one simulated run, as TOML. Errors name the line and the field; `--set key=value`
//! overrides any field. Owns the file format and its validation, not the run itself.
//!
//! ```toml
//! seed = 1
//! duration_ms = 5000
//! policy = "unjam"                      # linux | unjam
//! [eh]
//! scope = "lun"                         # lun | target | host (default: by policy)
//! [[host]]
//! personality = "virtio_scsi"
//! targets = 1
//! luns = 4
//! [[fault]]
//! device = "0:0:0:1"
//! kind = "timeout"
//! from_ms = 1000
//! times = 1
//! [[workload]]
//! luns = "*"
//! read_percent = 70
//! queue_depth = 8
//! ```

mod build;
mod limits;
mod load;
mod multipath;
mod network;
mod overrides;
mod workload;

use serde::{Deserialize, Serialize};

use crate::fault::FaultSpec;
use crate::latency::LatencyModel;
use crate::personality::Personality;

pub use build::{target_config, BuildError, ResolvedLun, DEFAULT_CAPACITY_GIB, DEFAULT_LATENCY};
pub use limits::LunLimits;
pub use load::{ScenarioError, MAX_SCENARIO_BYTES};
pub use multipath::{MultipathSettings, WordOrNumber};
pub use network::{
    ChapSpec, IscsiSettings, PortGroupSpec, PortalSpec, DEFAULT_TARGET_NAME, MAX_PORTALS,
};
pub use overrides::{apply_override, OverrideError};
pub use workload::{AccessPattern, WorkloadSpec};

/// The most hosts, targets per host and LUNs per target a scenario may declare.
pub const MAX_HOSTS: u32 = 64;
pub const MAX_TARGETS_PER_HOST: u32 = 256;
pub const MAX_LUNS_PER_TARGET: u64 = 4096;
/// The most paths in one scenario.
pub const MAX_PATHS: usize = 65_536;
/// The longest run a scenario may ask for: one day of virtual time.
pub const MAX_DURATION_MS: u64 = 86_400_000;

/// Whose error-handling behaviour the run follows (spec README §4).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The kernel's: host-wide error handling by default.
    Linux,
    /// unjam's: LUN-scope error handling with fallback.
    #[default]
    Unjam,
}

/// The scope an error handler blocks.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EhScopeName {
    Lun,
    Target,
    /// LUN scope first, then target scope, then host.
    #[serde(rename = "lun+target", alias = "lun_target")]
    LunTarget,
    Host,
}

/// One scenario file.
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, shown in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Everything random in the run is drawn from this seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Virtual time the workloads run for (each may say otherwise).
    #[serde(default = "default_duration_ms")]
    pub duration_ms: u64,
    #[serde(default)]
    pub policy: Policy,
    /// The kernel console's time per line printed on the completion path (a failed
    /// request ends when its lines are out); default [`LINUX_CONSOLE_LINE_US`] under policy
    /// `linux`, 0 under `unjam`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_line_us: Option<u64>,
    #[serde(default)]
    pub eh: EhSettings,
    #[serde(default)]
    pub command: CommandSettings,
    #[serde(default)]
    pub target: TargetSettings,
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostSpec>,
    #[serde(default, rename = "lun")]
    pub luns: Vec<LunOverride>,
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
    #[serde(default, rename = "workload")]
    pub workloads: Vec<WorkloadSpec>,
    /// The network front (`unjam target`); `unjam run` ignores it.
    #[serde(default)]
    pub iscsi: IscsiSettings,
    #[serde(default, rename = "portal")]
    pub portals: Vec<PortalSpec>,
    #[serde(default, rename = "port_group")]
    pub port_groups: Vec<PortGroupSpec>,
    /// `[multipath]`: run the multipath layer over the paths of each logical unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipath: Option<MultipathSettings>,
}

/// `[eh]`: the error handler.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EhSettings {
    /// `lun`, `target`, `lun+target` or `host`. Default: `host` under policy linux, `lun`
    /// under policy unjam.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<EhScopeName>,
    /// Hand unrecovered commands to the next larger scope (false: offline the device).
    #[serde(default = "yes")]
    pub fallback: bool,
    /// Cap on time in recovery per host; absent = off (the kernel's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eh_deadline_ms: Option<u64>,
    /// Timeout of EH commands (TUR, START UNIT, REQUEST SENSE).
    #[serde(default = "default_eh_timeout_ms")]
    pub eh_timeout_ms: u64,
    /// Skip the kernel's 10 s settle time after a bus or host reset.
    #[serde(default)]
    pub skip_settle_delay: bool,
    /// Default of the LUNs' `allow_restart` (may also be given in `[command]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_restart: Option<bool>,
    /// Default of the LUNs' `max_medium_access_timeouts` (may also be given in `[command]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_medium_access_timeouts: Option<u32>,
}

/// `[command]`: per-command limits of the initiator.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSettings {
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries allowed per command (the kernel's sd default: 5; -1 = no limit).
    #[serde(default = "default_retries")]
    pub retries: i32,
    /// The error handler may send START UNIT (`sdev->allow_restart`). Default: by
    /// personality (off for `scsi_debug`, on for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_restart: Option<bool>,
    /// sd offlines a disk after this many medium-access timeouts that the error handler's
    /// TUR could not explain (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_medium_access_timeouts: Option<u32>,
    /// Ask the transport to reap missed completions before aborting (spec §3).
    #[serde(default)]
    pub poll_before_abort: bool,
    /// Commands the initiator keeps in flight per LUN.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: u32,
    /// Commands the initiator keeps in flight per host.
    #[serde(default = "default_can_queue")]
    pub can_queue: u32,
}

/// `[target]`: behaviour of the simulated devices as a whole.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// Every LUN starts with unit attention 29/01, as a real device after power on.
    #[serde(default = "yes")]
    pub power_on_unit_attention: bool,
    /// How long abort and reset take to answer.
    #[serde(default = "default_tmf_latency_us")]
    pub tmf_latency_us: u64,
    /// Report ALUA: one target port group per host (id = host number + 1), active/
    /// optimized; `alua_state` faults (`group`, `state`, `from_ms`, `duration_ms`) change a
    /// group's state on the timeline (unit attention 2A/06 on every path).
    #[serde(default)]
    pub alua: bool,
}

/// `[[host]]`: one HBA with `targets` × `luns` logical units.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    #[serde(default)]
    pub personality: Personality,
    #[serde(default = "one_u32")]
    pub targets: u32,
    #[serde(default = "one_u64")]
    pub luns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_gib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_set_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram_limit_mib: Option<u64>,
    /// This host's paths reach the logical units of host `mirror_of` (a second path to
    /// each, for multipath): same identity, same media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_of: Option<u32>,
}

/// Geometry, latency and limits of logical units (the fields `[[host]]` and `[[lun]]`
/// share; absent ones inherit).
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct UnitSpec {
    pub block_size: Option<u32>,
    pub capacity_gib: Option<u64>,
    pub capacity_mib: Option<u64>,
    pub latency: Option<LatencyModel>,
    pub task_set_size: Option<u32>,
    pub ram_limit_mib: Option<u64>,
}

macro_rules! unit_spec_of {
    ($type:ty) => {
        impl $type {
            /// The unit fields of this table.
            pub fn unit(&self) -> UnitSpec {
                UnitSpec {
                    block_size: self.block_size,
                    capacity_gib: self.capacity_gib,
                    capacity_mib: self.capacity_mib,
                    latency: self.latency,
                    task_set_size: self.task_set_size,
                    ram_limit_mib: self.ram_limit_mib,
                }
            }
        }
    };
}
unit_spec_of!(HostSpec);
unit_spec_of!(LunOverride);

/// `[[lun]]`: settings for one LUN that differ from its host's.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LunOverride {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_gib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_set_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram_limit_mib: Option<u64>,
    /// Per-attempt timeout of this LUN's commands (default `[command].timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Timeout of the error handler's commands to this LUN (default `[eh].eh_timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eh_timeout_ms: Option<u64>,
    /// Retries allowed (default `[command].retries`; -1 = no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    /// The error handler may send START UNIT (default `[command]`/`[eh]`, then personality).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_restart: Option<bool>,
    /// sd's limit of unexplained medium-access timeouts (default `[command]`/`[eh]`, then 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_medium_access_timeouts: Option<u32>,
}

/// Policy `linux`'s console time per printed line: kernel-observed.md's medium error failed
/// after 0.016 s where its one scsi_debug command took 4 ms, and printed five lines
/// (docs/core.md, "Timers").
pub const LINUX_CONSOLE_LINE_US: u64 = 2_400;

/// The most `console_line_us` may say (one second a line).
pub const MAX_CONSOLE_LINE_US: u64 = 1_000_000;

impl Scenario {
    /// The console time per printed line in force: the one written, else the policy's.
    pub fn console_line_us(&self) -> u64 {
        self.console_line_us.unwrap_or(match self.policy {
            Policy::Linux => LINUX_CONSOLE_LINE_US,
            Policy::Unjam => 0,
        })
    }

    /// The error-handling scope in force: the one written, else the policy's default.
    pub fn eh_scope(&self) -> EhScopeName {
        self.eh.scope.unwrap_or(match self.policy {
            Policy::Linux => EhScopeName::Host,
            Policy::Unjam => EhScopeName::Lun,
        })
    }
}

impl Default for EhSettings {
    fn default() -> Self {
        EhSettings {
            scope: None,
            fallback: true,
            eh_deadline_ms: None,
            eh_timeout_ms: default_eh_timeout_ms(),
            skip_settle_delay: false,
            allow_restart: None,
            max_medium_access_timeouts: None,
        }
    }
}

impl Default for CommandSettings {
    fn default() -> Self {
        CommandSettings {
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
            allow_restart: None,
            max_medium_access_timeouts: None,
            poll_before_abort: false,
            queue_depth: default_queue_depth(),
            can_queue: default_can_queue(),
        }
    }
}

impl Default for TargetSettings {
    fn default() -> Self {
        TargetSettings {
            power_on_unit_attention: true,
            tmf_latency_us: default_tmf_latency_us(),
            alua: false,
        }
    }
}

fn default_seed() -> u64 {
    1
}
fn default_duration_ms() -> u64 {
    10_000
}
fn yes() -> bool {
    true
}
fn one_u32() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn default_eh_timeout_ms() -> u64 {
    10_000
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_retries() -> i32 {
    5
}
fn default_queue_depth() -> u32 {
    32
}
fn default_can_queue() -> u32 {
    1024
}
fn default_tmf_latency_us() -> u64 {
    100
}

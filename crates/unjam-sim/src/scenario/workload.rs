//! `[[workload]]`: the I/O a run puts on a set of LUNs.

use serde::{Deserialize, Serialize};

/// The order of LBAs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessPattern {
    #[default]
    Random,
    Sequential,
}

/// One workload: closed loop (`queue_depth` commands kept in flight) or open loop
/// (`rate_iops` commands per second, arrivals drawn from the seed).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// `H:C:T:L` selector of the LUNs it runs on (each LUN gets its own stream).
    #[serde(default = "every_lun")]
    pub luns: String,
    /// Percentage of reads; the rest are writes.
    #[serde(default = "default_read_percent")]
    pub read_percent: u8,
    /// Bytes per command (a multiple of the LUN's block size).
    #[serde(default = "default_io_bytes")]
    pub io_bytes: u32,
    #[serde(default)]
    pub pattern: AccessPattern,
    /// Commands kept in flight per LUN (closed loop). Default 4 unless `rate_iops` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_depth: Option<u32>,
    /// Commands per second per LUN (open loop, Poisson arrivals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_iops: Option<u32>,
    #[serde(default)]
    pub start_ms: u64,
    /// Default: the scenario's duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The region of each LUN it touches, from LBA 0 (bounds the RAM writes use).
    #[serde(default = "default_span_mib")]
    pub span_mib: u64,
    /// Where the region starts.
    #[serde(default)]
    pub first_lba: u64,
    /// Stop after this many commands per LUN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_count: Option<u64>,
    /// The region in KiB instead (for small, cache-resident working sets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_kib: Option<u64>,
    /// Check every read against what was last written successfully.
    #[serde(default)]
    pub verify: bool,
    /// Pause between a stream's I/Os: a closed-loop slot is refilled this long after its
    /// command completed (a reader that thinks between reads).
    #[serde(default)]
    pub think_time_us: u64,
    /// REQ_SYNC, as O_DIRECT reads carry it (logged as `flags 0x800`).
    #[serde(default)]
    pub sync: bool,
    /// Target the multipath device of each logical unit the selected LUNs reach (one
    /// stream per logical unit) instead of each LUN; needs `[multipath]`.
    #[serde(default)]
    pub multipath: bool,
}

/// The most commands one workload keeps in flight per LUN.
pub const MAX_WORKLOAD_QUEUE_DEPTH: u32 = 4096;
/// The largest command a workload issues: 1 MiB.
pub const MAX_IO_BYTES: u32 = 1 << 20;
/// The highest open-loop rate per LUN.
pub const MAX_RATE_IOPS: u32 = 10_000_000;

impl WorkloadSpec {
    pub fn queue_depth_or_default(&self) -> u32 {
        self.queue_depth.unwrap_or(4)
    }

    /// The region the workload touches, in bytes.
    pub fn span_bytes(&self) -> u64 {
        match self.span_kib {
            Some(kib) => kib.saturating_mul(1 << 10),
            None => self.span_mib.saturating_mul(1 << 20),
        }
    }
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            luns: every_lun(),
            read_percent: default_read_percent(),
            io_bytes: default_io_bytes(),
            pattern: AccessPattern::Random,
            queue_depth: None,
            rate_iops: None,
            start_ms: 0,
            duration_ms: None,
            span_mib: default_span_mib(),
            span_kib: None,
            first_lba: 0,
            io_count: None,
            verify: false,
            think_time_us: 0,
            sync: false,
            multipath: false,
        }
    }
}

fn every_lun() -> String {
    "*".to_string()
}
fn default_read_percent() -> u8 {
    70
}
fn default_io_bytes() -> u32 {
    4096
}
fn default_span_mib() -> u64 {
    64
}

//! The run summary (`--json`, schema in docs/scenario.md) and the terminal table.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

/// Latency quantiles of successful and failed commands alike, in microseconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize)]
pub struct LatencyQuantiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// One LUN's numbers.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct LunSummary {
    /// `H:C:T:L`.
    pub id: String,
    pub ios_ok: u64,
    /// Failed commands by the kernel name of their `BlkStatus` (e.g. `BLK_STS_IOERR`).
    pub ios_failed: BTreeMap<String, u64>,
    pub latency_us: LatencyQuantiles,
    /// Time the LUN could not dispatch because error handling held it.
    pub blocked_ms: u64,
    /// Sends of workload commands, retries included (error-handler commands excluded).
    pub dispatched: u64,
    /// Command timeouts (attempts whose timer expired).
    pub timeouts: u64,
    /// Retries counted against the retry limit.
    pub retries: u64,
    /// Aborts sent for the LUN's commands (error-handler commands included).
    pub aborts: u64,
    /// Resets sent for the LUN (LUN, target, bus or host reset, as the error handler names
    /// the device it resets through).
    pub resets: u64,
    /// The device state at the end (`running`, `offline`, `blocked`, ... as in sysfs).
    pub state: String,
}

/// One error-handling step.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct EhEventRecord {
    /// Virtual time in milliseconds (microsecond precision).
    pub t_ms: f64,
    /// `command`, `lun`, `target` or `host`.
    pub scope: String,
    /// e.g. `abort`, `lun_reset`, `tur`, `offline`.
    pub step: String,
    /// `H:C:T:L`, or `hostN` for a host-wide step.
    pub device: String,
    /// e.g. `success`, `failed`, `sent`.
    pub outcome: String,
}

/// The `--json` document.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub virtual_duration_ms: u64,
    pub luns: Vec<LunSummary>,
    pub eh_events: Vec<EhEventRecord>,
}

/// What the HTML timeline draws for one LUN.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct LaneDetail {
    /// Commands finished good, per bucket.
    pub ok_per_bucket: Vec<u32>,
    /// Commands finished with an error, per bucket.
    pub failed_per_bucket: Vec<u32>,
    /// Blocked windows, `[start_us, end_us)`.
    pub blocked_us: Vec<(u64, u64)>,
    /// Failed commands: time and `BlkStatus` kernel name (capped).
    pub errors: Vec<(u64, &'static str)>,
}

/// Everything one run produced.
#[derive(Clone, PartialEq, Debug)]
pub struct RunReport {
    pub title: String,
    pub summary: RunSummary,
    pub bucket_us: u64,
    pub lanes: Vec<LaneDetail>,
    /// Commands simulated (every dispatch, retries and EH commands included).
    pub commands_simulated: u64,
}

impl RunSummary {
    /// The summary as an aligned text table, one row per LUN, then the EH event count.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>8} {:>9} {:>9} {:>9} {:>10} {:>10}  failures",
            "LUN", "ok", "failed", "p50 us", "p99 us", "p99.9 us", "max us", "blocked ms"
        );
        for lun in &self.luns {
            let failed: u64 = lun.ios_failed.values().sum();
            let failures = lun
                .ios_failed
                .iter()
                .map(|(name, count)| format!("{name}={count}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "{:<12} {:>10} {:>8} {:>9} {:>9} {:>9} {:>10} {:>10}  {}",
                lun.id,
                lun.ios_ok,
                failed,
                lun.latency_us.p50,
                lun.latency_us.p99,
                lun.latency_us.p999,
                lun.latency_us.max,
                lun.blocked_ms,
                failures
            );
        }
        let _ = writeln!(
            out,
            "seed {}, {} ms of virtual time, {} error-handling events",
            self.seed,
            self.virtual_duration_ms,
            self.eh_events.len()
        );
        out
    }
}

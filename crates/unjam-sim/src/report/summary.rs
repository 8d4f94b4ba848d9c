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

/// One path of a multipath device.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct MpathPathSummary {
    /// `H:C:T:L`.
    pub id: String,
    /// At the end: `active`, `failed`, `standby`, `marginal`, ... (docs/multipath.md).
    pub state: String,
}

/// One multipath device's numbers.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct MpathSummary {
    /// The logical unit's identity (`naa.<hex>`), as VPD page 83h gives it.
    pub id: String,
    pub paths: Vec<MpathPathSummary>,
    pub ios_ok: u64,
    /// Failed requests by the kernel name of their `BlkStatus`.
    pub ios_failed: BTreeMap<String, u64>,
    /// Requests sent again on another path after a path error.
    pub failovers: u64,
    /// Time the device had no usable path.
    pub no_path_ms: u64,
}

/// The `--json` document.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub virtual_duration_ms: u64,
    pub luns: Vec<LunSummary>,
    pub eh_events: Vec<EhEventRecord>,
    /// One per multipath device (runs with `[multipath]` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mpaths: Vec<MpathSummary>,
}

/// What the HTML timeline draws for one multipath device.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct MpathLane {
    pub id: String,
    /// The paths' `H:C:T:L`.
    pub paths: Vec<String>,
    pub ok_per_bucket: Vec<u32>,
    pub failed_per_bucket: Vec<u32>,
    /// Path state changes: time, index into `paths`, state (capped).
    pub path_states: Vec<(u64, usize, &'static str)>,
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
    /// Blocked windows beyond the bound (counted in `blocked_ms`, not drawn).
    pub blocked_not_kept: u64,
    /// Failed commands: time and `BlkStatus` kernel name (capped).
    pub errors: Vec<(u64, &'static str)>,
    /// Failed commands beyond the bound (counted in the failed rate, not ticked).
    pub errors_not_kept: u64,
    /// Polls of a timed-out command: time, and whether the poll found its completion
    /// (the command was saved) or nothing (the timeout went on to abort it).
    pub polls: Vec<(u64, bool)>,
    pub polls_not_kept: u64,
}

/// How a report's times were kept.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Clock {
    /// Virtual time of a simulated run.
    #[default]
    Virtual,
    /// The wall clock of a run against a real target.
    Wall,
}

/// A fault rule of the run, for the timeline and the fault table.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct FaultMark {
    /// The rule as written (`kind="timeout" device="0:0:1:2" ...`).
    pub label: String,
    /// The lanes whose paths it matches.
    pub lanes: Vec<usize>,
    /// Its window: from (µs) and until, if bounded.
    pub from_us: u64,
    pub until_us: Option<u64>,
    /// How often it fired, and the first and last firing.
    pub fired: u64,
    pub fired_span_us: Option<(u64, u64)>,
    /// A network-only kind the simulator ignores.
    pub ignored: bool,
}

/// One firing of a fault on one lane.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FaultHitMark {
    pub t_us: u64,
    /// Index into [`RunReport::faults`].
    pub fault: usize,
    pub lane: usize,
}

/// A line of the narrated path a command took (attempts, answers, dispositions, EH steps).
#[derive(Clone, PartialEq, Debug)]
pub struct PathLine {
    pub t_us: u64,
    /// `H:C:T:L`, when the event is about one device.
    pub device: Option<String>,
    pub text: String,
}

/// Lines kept up to a bound; `complete` is false when more came than were kept.
#[derive(Clone, PartialEq, Debug)]
pub struct Kept<T> {
    pub items: Vec<T>,
    pub complete: bool,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept {
            items: Vec::new(),
            complete: true,
        }
    }
}

/// Everything one run produced.
#[derive(Clone, PartialEq, Debug)]
pub struct RunReport {
    pub title: String,
    pub summary: RunSummary,
    pub bucket_us: u64,
    pub lanes: Vec<LaneDetail>,
    /// Commands simulated (every dispatch, retries and EH commands included); for a real
    /// run, commands sent.
    pub commands_simulated: u64,
    pub clock: Clock,
    /// Error-handling events beyond the bound (not in `summary.eh_events`).
    pub eh_events_not_kept: u64,
    pub faults: Vec<FaultMark>,
    pub fault_hits: Vec<FaultHitMark>,
    pub fault_hits_not_kept: u64,
    /// The narrated path, from the start of the run.
    pub path: Kept<PathLine>,
    /// Kernel-format log lines with their time (µs), from the start of the run.
    pub kernel_log: Kept<(u64, String)>,
    pub mpath_lanes: Vec<MpathLane>,
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
        for mpath in &self.mpaths {
            let failed: u64 = mpath.ios_failed.values().sum();
            let paths = mpath
                .paths
                .iter()
                .map(|p| format!("{} {}", p.id, p.state))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "mpath {}: ok {}, failed {}, failovers {}, no path {} ms; paths: {}",
                mpath.id, mpath.ios_ok, failed, mpath.failovers, mpath.no_path_ms, paths
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

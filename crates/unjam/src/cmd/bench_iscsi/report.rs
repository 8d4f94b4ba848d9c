//! The benchmark's results as fio prints them: `--output-format normal` (IOPS and
//! `MiB/s (MB/s)` per direction, completion latency with stddev and fio's percentile
//! list, CPU) and `--output-format json` with fio's field names (`jobs[0].read.iops`,
//! `bw`, `bw_bytes`, `clat_ns.percentile`, ...) plus unjam's own (`unjam.*`).
//!
//! Owns presentation only.

use std::time::Duration;

use serde_json::{json, Value};

use super::process::Usage;
use super::stats::{latency_json, Direction, Recorder, PERCENTILES};
use super::workload::Pattern;
use crate::cmd::device::Printer;

/// What the run was asked to do.
#[derive(Debug, Clone)]
pub struct Setup {
    pub target: String,
    pub pattern: Pattern,
    pub block_bytes: u32,
    pub queue_depth: u32,
    pub runtime: Duration,
    pub ramp: Duration,
    pub rwmixread: u8,
    pub verify: bool,
}

/// What the read-back check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifySummary {
    pub checked: u64,
    pub mismatches: u64,
}

/// Everything the report shows.
#[derive(Debug)]
pub struct Report<'a> {
    pub setup: &'a Setup,
    pub recorder: &'a Recorder,
    /// Time counted (after the ramp).
    pub elapsed: Duration,
    pub usage: Usage,
    pub allocations: u64,
    pub verify: Option<VerifySummary>,
    /// The exit status and message of the error that ended the run, if one did.
    pub error: Option<(u8, String)>,
    /// The multipath device's summary (the simulator's `mpaths` shape), when the run
    /// drove one.
    pub mpaths: Option<Value>,
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn direction_json(direction: &Direction, elapsed: Duration) -> Value {
    let bw_bytes = per_second(direction.bytes, elapsed);
    let latency = latency_json(&direction.latency_ns);
    json!({
        "io_bytes": direction.bytes,
        "io_kbytes": direction.bytes / 1024,
        "bw_bytes": bw_bytes.round() as u64,
        "bw": (bw_bytes / 1024.0).round() as u64,
        "iops": per_second(direction.ios, elapsed),
        "runtime": elapsed.as_millis() as u64,
        "total_ios": direction.ios,
        "short_ios": 0,
        "drop_ios": 0,
        "errors": direction.errors,
        "clat_ns": latency,
        "lat_ns": latency,
    })
}

impl Report<'_> {
    fn ios(&self) -> u64 {
        self.recorder.read.ios + self.recorder.write.ios
    }

    pub fn to_json(&self) -> Value {
        let setup = self.setup;
        let elapsed = self.elapsed;
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let ios = self.ios().max(1) as f64;
        json!({
            "fio version": format!("unjam-{}", env!("CARGO_PKG_VERSION")),
            "jobs": [{
                "jobname": "unjam-bench",
                "groupid": 0,
                "error": self.error.as_ref().map_or(0, |(code, _)| *code),
                "job options": {
                    "rw": setup.pattern,
                    "bs": setup.block_bytes,
                    "iodepth": setup.queue_depth,
                    "runtime": setup.runtime.as_millis() as u64,
                    "ramp_time": setup.ramp.as_millis() as u64,
                    "rwmixread": setup.rwmixread,
                    "verify": setup.verify,
                    "filename": setup.target,
                },
                "read": direction_json(&self.recorder.read, elapsed),
                "write": direction_json(&self.recorder.write, elapsed),
                "usr_cpu": self.usage.user_s / seconds * 100.0,
                "sys_cpu": self.usage.system_s / seconds * 100.0,
                "majf": self.usage.major_faults,
                "minf": self.usage.minor_faults,
                "elapsed": seconds.round() as u64,
            }],
            "unjam": {
                "cpu_ns": self.usage.cpu_ns,
                "cpu_us_per_io": self.usage.cpu_ns as f64 / 1000.0 / ios,
                "minor_faults_per_1000_io": self.usage.minor_faults as f64 * 1000.0 / ios,
                "allocations_per_io": self.allocations as f64 / ios,
                "errors": self.recorder.read.errors + self.recorder.write.errors,
                "verify": self.verify.map(|v| json!({ "checked": v.checked, "mismatches": v.mismatches })),
                "error": self.error.as_ref().map(|(_, message)| message.clone()),
                "max_stall_ms": self.recorder.max_stall.as_secs_f64() * 1000.0,
                "stalls": self.stalls_json(),
            },
            "mpaths": self.mpaths.clone().unwrap_or_else(|| json!([])),
        })
    }

    /// The longest gaps without a good completion, in time order: `start_unix_s` (wall
    /// clock) and `ms`.
    fn stalls_json(&self) -> serde_json::Value {
        self.recorder
            .stalls()
            .iter()
            .map(|(start, length)| {
                json!({ "start_unix_s": start, "ms": length.as_secs_f64() * 1000.0 })
            })
            .collect()
    }

    pub fn print_normal(&self, out: &mut Printer) -> anyhow::Result<()> {
        let setup = self.setup;
        let mix = if matches!(setup.pattern, Pattern::Rw | Pattern::Randrw) {
            format!(", rwmixread={}", setup.rwmixread)
        } else {
            String::new()
        };
        let pattern = serde_json::to_value(setup.pattern)?;
        out.line(format!(
            "unjam-bench: (rw={}, bs={}B, iodepth={}{mix}, runtime={:.1}s, ramp_time={:.1}s{})",
            pattern.as_str().unwrap_or("?"),
            setup.block_bytes,
            setup.queue_depth,
            setup.runtime.as_secs_f64(),
            setup.ramp.as_secs_f64(),
            if setup.verify { ", verify" } else { "" }
        ))?;
        for (name, direction) in [
            ("read", &self.recorder.read),
            ("write", &self.recorder.write),
        ] {
            if direction.ios + direction.errors > 0 {
                self.print_direction(out, name, direction)?;
            }
        }
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        let ios = self.ios().max(1) as f64;
        out.line(format!(
            "  cpu          : usr={:.2}%, sys={:.2}%, {:.2} usec per I/O, minf={}, majf={}, {:.2} allocations per I/O",
            self.usage.user_s / seconds * 100.0,
            self.usage.system_s / seconds * 100.0,
            self.usage.cpu_ns as f64 / 1000.0 / ios,
            self.usage.minor_faults,
            self.usage.major_faults,
            self.allocations as f64 / ios
        ))?;
        if let Some(verify) = self.verify {
            out.line(format!(
                "  verify       : {} I/O units read back, {} mismatches",
                verify.checked, verify.mismatches
            ))?;
        }
        for mpath in self.mpaths.iter().filter_map(Value::as_array).flatten() {
            out.line(format!(
                "  mpath        : {}",
                crate::cmd::paths::summary_line(mpath)
            ))?;
        }
        if let Some((code, message)) = &self.error {
            out.line(format!("  error        : {message} (exit status {code})"))?;
        }
        Ok(())
    }

    fn print_direction(
        &self,
        out: &mut Printer,
        name: &str,
        direction: &Direction,
    ) -> anyhow::Result<()> {
        let elapsed = self.elapsed;
        let iops = per_second(direction.ios, elapsed);
        let bw = per_second(direction.bytes, elapsed);
        out.line(format!(
            "  {name}: IOPS={}, BW={} ({})({}/{}msec)",
            count_text(iops),
            binary_rate(bw),
            decimal_rate(bw),
            binary_size(direction.bytes as f64),
            elapsed.as_millis()
        ))?;
        let histogram = &direction.latency_ns;
        if !histogram.is_empty() {
            let (unit, scale) = if histogram.mean() >= 10_000_000.0 {
                ("msec", 1e6)
            } else {
                ("usec", 1e3)
            };
            out.line(format!(
                "    clat ({unit}): min={:.0}, max={:.0}, avg={:.2}, stdev={:.2}",
                histogram.min() as f64 / scale,
                histogram.max() as f64 / scale,
                histogram.mean() / scale,
                histogram.stdev() / scale
            ))?;
            out.line(format!("    clat percentiles ({unit}):"))?;
            let cells: Vec<String> = PERCENTILES
                .iter()
                .map(|&percent| {
                    let value = histogram.value_at_percentile(percent) as f64 / scale;
                    format!("{percent:5.2}th=[{value:5.0}]")
                })
                .collect();
            for (index, row) in cells.chunks(4).enumerate() {
                let end = if (index + 1) * 4 >= cells.len() {
                    ""
                } else {
                    ","
                };
                out.line(format!("     | {}{end}", row.join(", ")))?;
            }
        }
        out.line(format!(
            "    errors: {} (not counted as I/O)",
            direction.errors
        ))?;
        Ok(())
    }
}

/// `1234`, `39.5k`, `154k`, `1.2M` (fio's style for counts).
pub fn count_text(value: f64) -> String {
    match value {
        v if v < 10_000.0 => format!("{v:.0}"),
        v if v < 100_000.0 => format!("{:.1}k", v / 1e3),
        v if v < 10_000_000.0 => format!("{:.0}k", v / 1e3),
        v => format!("{:.1}M", v / 1e6),
    }
}

fn scaled(value: f64, base: f64, units: [&str; 4]) -> String {
    let mut value = value;
    let mut unit = units[0];
    for next in &units[1..] {
        if value < 10_000.0 {
            break;
        }
        value /= base;
        unit = next;
    }
    if value < 100.0 && value.fract() != 0.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.0}{unit}")
    }
}

/// Bytes per second in binary units (`154MiB/s`).
pub fn binary_rate(bytes_per_second: f64) -> String {
    scaled(
        bytes_per_second / 1024.0,
        1024.0,
        ["KiB/s", "MiB/s", "GiB/s", "TiB/s"],
    )
}

/// Bytes per second in decimal units (`162MB/s`).
pub fn decimal_rate(bytes_per_second: f64) -> String {
    scaled(
        bytes_per_second / 1000.0,
        1000.0,
        ["kB/s", "MB/s", "GB/s", "TB/s"],
    )
}

fn binary_size(bytes: f64) -> String {
    scaled(bytes / 1024.0, 1024.0, ["KiB", "MiB", "GiB", "TiB"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_fio_prints_them() {
        assert_eq!(count_text(1234.4), "1234");
        assert_eq!(count_text(39_512.0), "39.5k");
        assert_eq!(count_text(154_000.0), "154k");
        let bw = 39_500.0 * 4096.0;
        assert_eq!(binary_rate(bw), "154MiB/s");
        assert_eq!(decimal_rate(bw), "162MB/s");
        assert_eq!(binary_rate(4_000_000.0), "3906KiB/s");
        assert_eq!(binary_size(1543.0 * 1_048_576.0), "1543MiB");
    }
}

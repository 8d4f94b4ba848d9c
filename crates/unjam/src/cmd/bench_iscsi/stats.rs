//! The benchmark's counts, shared by its workers: per direction the I/Os and bytes that
//! completed good (latency histogram in nanoseconds, from the steady state on), and the
//! I/Os that failed — never counted as throughput. Interval snapshots feed the time
//! series and the progress line.
//!
//! Owns counting and fio's statistics (percentile list, standard deviation); no I/O.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hdrhistogram::Histogram;

/// Longest latency recorded (longer ones are clamped): a minute, in nanoseconds.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// How many of the longest stalls the recorder keeps (with their wall-clock start).
pub const MAX_STALLS: usize = 256;
/// Gaps shorter than this are not kept as stalls.
const MIN_STALL: std::time::Duration = std::time::Duration::from_millis(1);

/// fio's default completion-latency percentiles.
pub const PERCENTILES: [f64; 17] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95,
    99.99,
];

/// Counts of one direction.
#[derive(Debug, Clone)]
pub struct Direction {
    /// Completion latency of the counted I/Os.
    pub latency_ns: Histogram<u64>,
    /// Good I/Os and their bytes, since the ramp ended.
    pub ios: u64,
    pub bytes: u64,
    /// Failed I/Os since the ramp ended.
    pub errors: u64,
    /// Since the start (ramp included), for the time series.
    pub total_ios: u64,
    pub total_bytes: u64,
    pub total_errors: u64,
}

impl Direction {
    fn new() -> anyhow::Result<Direction> {
        Ok(Direction {
            latency_ns: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)?,
            ios: 0,
            bytes: 0,
            errors: 0,
            total_ios: 0,
            total_bytes: 0,
            total_errors: 0,
        })
    }
}

/// Both directions, and whether the ramp is over.
#[derive(Debug)]
pub struct Recorder {
    pub read: Direction,
    pub write: Direction,
    pub counting: bool,
    /// When the last I/O completed good (counted time only).
    last_done: Option<std::time::Instant>,
    /// The longest time without a good completion while counting (a path loss and the
    /// failover that follows show here).
    pub max_stall: std::time::Duration,
    /// The longest gaps (at most [`MAX_STALLS`], each at least 1 ms), shortest on top:
    /// how long each lasted and when it began on the wall clock (since the Unix epoch, to
    /// line up with an outside event such as a fault injected by a script). A gap no
    /// longer than the shortest kept, once full, is dropped without reading the clock.
    stalls: BinaryHeap<Reverse<(std::time::Duration, std::time::Duration)>>,
}

impl Recorder {
    pub fn new() -> anyhow::Result<Recorder> {
        Ok(Recorder {
            read: Direction::new()?,
            write: Direction::new()?,
            counting: false,
            last_done: None,
            max_stall: std::time::Duration::ZERO,
            stalls: BinaryHeap::with_capacity(MAX_STALLS + 1),
        })
    }

    fn direction(&mut self, read: bool) -> &mut Direction {
        if read {
            &mut self.read
        } else {
            &mut self.write
        }
    }

    /// An I/O completed good at `now` (the worker's clock reading at its end; a reading
    /// older than the last one does not move the last completion back).
    pub fn done(&mut self, read: bool, bytes: u64, latency_ns: u64, now: std::time::Instant) {
        let counting = self.counting;
        let direction = self.direction(read);
        direction.total_ios += 1;
        direction.total_bytes += bytes;
        if counting {
            let last = self.last_done;
            self.last_done = Some(last.map_or(now, |last| last.max(now)));
            if let Some(last) = last {
                let gap = now.saturating_duration_since(last);
                self.max_stall = self.max_stall.max(gap);
                if gap >= MIN_STALL {
                    self.keep_stall(gap);
                }
            }
            let direction = self.direction(read);
            direction.ios += 1;
            direction.bytes += bytes;
            direction
                .latency_ns
                .saturating_record(latency_ns.clamp(1, MAX_LATENCY_NS));
        }
    }

    /// Keeps `gap`, which ended now, if it is among the longest.
    fn keep_stall(&mut self, gap: std::time::Duration) {
        let full = self.stalls.len() >= MAX_STALLS;
        if full
            && self
                .stalls
                .peek()
                .is_some_and(|Reverse((kept, _))| gap <= *kept)
        {
            return;
        }
        let ended = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.stalls.push(Reverse((gap, ended.saturating_sub(gap))));
        if self.stalls.len() > MAX_STALLS {
            self.stalls.pop();
        }
    }

    /// The kept stalls in time order: when each began (seconds since the Unix epoch) and
    /// how long it lasted.
    pub fn stalls(&self) -> Vec<(f64, std::time::Duration)> {
        let mut stalls: Vec<_> = self
            .stalls
            .iter()
            .map(|Reverse((gap, began))| (began.as_secs_f64(), *gap))
            .collect();
        stalls.sort_by(|a, b| a.0.total_cmp(&b.0));
        stalls
    }

    /// An I/O failed: counted apart, never as throughput.
    pub fn failed(&mut self, read: bool) {
        let counting = self.counting;
        let direction = self.direction(read);
        direction.total_errors += 1;
        if counting {
            direction.errors += 1;
        }
    }

    /// What the time series needs now.
    pub fn snapshot(&self) -> Snapshot {
        let pick = |d: &Direction| (d.total_ios, d.total_bytes, d.total_errors);
        Snapshot {
            read: pick(&self.read),
            write: pick(&self.write),
        }
    }
}

/// Running totals (ios, bytes, errors) per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub read: (u64, u64, u64),
    pub write: (u64, u64, u64),
}

/// fio's `clat_ns` object: min, max, mean, stddev, N and the percentile list.
pub fn latency_json(histogram: &Histogram<u64>) -> serde_json::Value {
    let empty = histogram.is_empty();
    let value = |v: u64| if empty { 0 } else { v };
    let mut percentiles = serde_json::Map::new();
    for percent in PERCENTILES {
        let at = value(histogram.value_at_percentile(percent));
        percentiles.insert(format!("{percent:.6}"), serde_json::json!(at));
    }
    serde_json::json!({
        "min": value(histogram.min()),
        "max": value(histogram.max()),
        "mean": if empty { 0.0 } else { histogram.mean() },
        "stddev": if empty { 0.0 } else { histogram.stdev() },
        "N": histogram.len(),
        "percentile": percentiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_stalls_are_kept_and_no_more() {
        let mut recorder = Recorder::new().unwrap();
        let most = MAX_STALLS as u128;
        for ms in 1..=most + 40 {
            recorder.keep_stall(std::time::Duration::from_millis(ms as u64));
        }
        let stalls = recorder.stalls();
        let mut kept: Vec<u128> = stalls.iter().map(|(_, d)| d.as_millis()).collect();
        kept.sort_unstable();
        assert_eq!(kept, (41..=most + 40).collect::<Vec<u128>>());
        assert!(stalls.iter().all(|(start, _)| *start > 1.0e9));
    }

    #[test]
    fn failures_and_the_ramp_are_never_throughput() {
        let mut recorder = Recorder::new().unwrap();
        recorder.done(true, 4096, 1000, std::time::Instant::now());
        recorder.failed(true);
        assert_eq!((recorder.read.ios, recorder.read.errors), (0, 0));
        recorder.counting = true;
        recorder.done(true, 4096, 2000, std::time::Instant::now());
        recorder.done(false, 4096, 3000, std::time::Instant::now());
        recorder.failed(false);
        assert_eq!((recorder.read.ios, recorder.read.bytes), (1, 4096));
        assert_eq!((recorder.write.ios, recorder.write.errors), (1, 1));
        assert_eq!(recorder.snapshot().read, (2, 8192, 1));
        let json = latency_json(&recorder.read.latency_ns);
        assert_eq!(json["N"], 1);
        assert!(json["percentile"]["99.990000"].as_u64().unwrap() >= 1990);
        let empty = latency_json(&Recorder::new().unwrap().read.latency_ns);
        assert_eq!(
            (empty["min"].as_u64(), empty["N"].as_u64()),
            (Some(0), Some(0))
        );
    }
}

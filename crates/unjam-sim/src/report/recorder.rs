//! Collects a run's numbers as it goes: per-LUN counts, latencies, rate buckets, blocked
//! windows, errors, polls, EH events, the narrated path and kernel log lines, each with a
//! bound — and what went past a bound is counted, so the report can say so.

use std::collections::BTreeMap;

use unjam_scsi::BlkStatus;

use super::histogram::LatencyHistogram;
use super::summary::{
    Clock, EhEventRecord, FaultHitMark, FaultMark, Kept, LaneDetail, LatencyQuantiles, LunSummary,
    PathLine, RunReport, RunSummary,
};

/// The most EH events kept.
pub const MAX_EH_EVENTS: usize = 100_000;
/// The most failed commands drawn per lane.
pub const MAX_ERRORS_PER_LANE: usize = 2_000;
/// The most polls drawn per lane.
pub const MAX_POLLS_PER_LANE: usize = 2_000;
/// The most blocked windows kept per lane.
const MAX_BLOCKED_WINDOWS: usize = 10_000;
/// The most rate buckets per lane; past it the buckets double in width (every lane's).
const MAX_BUCKETS: usize = 4_000;
/// The most lanes a recorder that learns its devices as it goes ([`Recorder::lane`]) adds.
pub const MAX_LANES: usize = 4_096;
/// The most narrated path lines kept (the rest are in `--trace`).
pub const MAX_PATH_LINES: usize = 2_000;
/// The most kernel log lines kept (the rest are in `--kernel-log` / `-v`).
pub const MAX_KERNEL_LINES: usize = 2_000;
/// The most fault firings drawn.
pub const MAX_FAULT_HITS: usize = 20_000;

/// A per-LUN count of the summary.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Counter {
    Dispatched,
    Timeouts,
    Retries,
    Aborts,
    Resets,
}

/// What every completion of a lane touches, in one cache line of its own (`io_done` runs
/// for every command; at 4096 LUNs each lane is cold by then). Commands finished good are
/// the latency count minus the failed ones.
#[derive(Debug, Default)]
#[repr(C, align(64))]
struct LaneHot {
    latency: LatencyHistogram,
    /// Commands finished good, per bucket (moved to `LaneDetail::ok_per_bucket` at the end),
    /// without `ok_recent_count`.
    ok_per_bucket: Vec<u32>,
    /// The bucket of the last good completion and how many since went there uncounted
    /// (buckets only move forward: the table is touched once per bucket, not per command).
    ok_recent: u32,
    ok_recent_count: u32,
}

impl LaneHot {
    /// Adds the pending good completions to the table.
    fn flush_ok(&mut self) {
        if self.ok_recent_count == 0 {
            return;
        }
        add_to_bucket(
            &mut self.ok_per_bucket,
            self.ok_recent as usize,
            self.ok_recent_count,
        );
        self.ok_recent_count = 0;
    }
}

fn add_to_bucket(buckets: &mut Vec<u32>, bucket: usize, count: u32) {
    if buckets.len() <= bucket {
        buckets.resize(bucket + 1, 0);
    }
    if let Some(slot) = buckets.get_mut(bucket) {
        *slot = slot.saturating_add(count);
    }
}

const _: () = assert!(std::mem::size_of::<LaneHot>() == 64, "one cache line");

#[derive(Debug)]
struct Lane {
    id: String,
    ios_failed: BTreeMap<&'static str, u64>,
    detail: LaneDetail,
    blocked_since_us: Option<u64>,
    blocked_total_us: u64,
    /// Indexed by `Counter as usize`.
    counts: [u64; 5],
    /// Polls in progress: the tag's key and the index of its entry in `detail.polls`.
    open_polls: Vec<(u64, usize)>,
}

impl Lane {
    fn new(id: String) -> Lane {
        Lane {
            id,
            ios_failed: BTreeMap::new(),
            detail: LaneDetail::default(),
            blocked_since_us: None,
            blocked_total_us: 0,
            counts: [0; 5],
            open_polls: Vec::new(),
        }
    }
}

/// The run's collector.
#[derive(Debug)]
pub struct Recorder {
    bucket_us: u64,
    lanes: Vec<Lane>,
    /// `hot[i]` belongs to `lanes[i]`.
    hot: Vec<LaneHot>,
    eh_events: Vec<EhEventRecord>,
    eh_events_not_kept: u64,
    clock: Clock,
    path: Kept<PathLine>,
    kernel_log: Kept<(u64, String)>,
    faults: Vec<FaultMark>,
    fault_hits: Vec<FaultHitMark>,
    fault_hits_not_kept: u64,
}

impl Recorder {
    /// One lane per LUN id, rate buckets of `bucket_us`.
    pub fn new(lun_ids: Vec<String>, bucket_us: u64) -> Self {
        let lanes: Vec<Lane> = lun_ids.into_iter().map(Lane::new).collect();
        Recorder {
            bucket_us: bucket_us.max(1),
            hot: lanes.iter().map(|_| LaneHot::default()).collect(),
            lanes,
            eh_events: Vec::new(),
            eh_events_not_kept: 0,
            clock: Clock::Virtual,
            path: Kept::default(),
            kernel_log: Kept::default(),
            faults: Vec::new(),
            fault_hits: Vec::new(),
            fault_hits_not_kept: 0,
        }
    }

    /// Times are the wall clock's (a run against a real target), not virtual.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The lane of device `id`, added when it is new (up to [`MAX_LANES`]).
    pub fn lane(&mut self, id: &str) -> Option<usize> {
        if let Some(index) = self.lanes.iter().position(|lane| lane.id == id) {
            return Some(index);
        }
        if self.lanes.len() >= MAX_LANES {
            return None;
        }
        self.lanes.push(Lane::new(id.to_string()));
        self.hot.push(LaneHot::default());
        Some(self.lanes.len() - 1)
    }

    /// The id (`H:C:T:L`) of `lane`.
    pub fn lane_id(&self, lane: usize) -> Option<&str> {
        self.lanes.get(lane).map(|l| l.id.as_str())
    }

    /// The bucket of `now_us`, widening every lane's buckets while it is past the bound.
    fn bucket(&mut self, now_us: u64) -> usize {
        while now_us / self.bucket_us >= MAX_BUCKETS as u64 {
            self.bucket_us = self.bucket_us.saturating_mul(2);
            for lane in &mut self.lanes {
                fold(&mut lane.detail.failed_per_bucket);
            }
            for hot in &mut self.hot {
                hot.flush_ok();
                fold(&mut hot.ok_per_bucket);
            }
        }
        (now_us / self.bucket_us) as usize
    }

    /// A caller's command on `lane` finished at `now_us` after `latency_us`.
    pub fn io_done(&mut self, lane: usize, now_us: u64, latency_us: u64, status: BlkStatus) {
        if lane >= self.lanes.len() {
            return;
        }
        let bucket = self.bucket(now_us);
        let Some(hot) = self.hot.get_mut(lane) else {
            return;
        };
        hot.latency.record(latency_us);
        if status == BlkStatus::Ok {
            let bucket32 = u32::try_from(bucket).unwrap_or(u32::MAX);
            if bucket32 != hot.ok_recent || hot.ok_recent_count == u32::MAX {
                hot.flush_ok();
                hot.ok_recent = bucket32;
            }
            hot.ok_recent_count += 1;
            return;
        }
        let Some(lane) = self.lanes.get_mut(lane) else {
            return;
        };
        *lane.ios_failed.entry(status.kernel_name()).or_default() += 1;
        if lane.detail.errors.len() < MAX_ERRORS_PER_LANE {
            lane.detail.errors.push((now_us, status.kernel_name()));
        } else {
            lane.detail.errors_not_kept += 1;
        }
        add_to_bucket(&mut lane.detail.failed_per_bucket, bucket, 1);
    }

    /// Counts one `counter` event on `lane`.
    pub fn count(&mut self, lane: usize, counter: Counter) {
        if let Some(lane) = self.lanes.get_mut(lane) {
            lane.counts[counter as usize] += 1;
        }
    }

    /// A timed-out command on `lane` (its tag as `key`) is polled at `now_us`; until
    /// [`Recorder::poll_found_nothing`] says otherwise, the poll found its completion.
    pub fn poll_started(&mut self, lane: usize, now_us: u64, key: u64) {
        let Some(lane) = self.lanes.get_mut(lane) else {
            return;
        };
        if lane.detail.polls.len() >= MAX_POLLS_PER_LANE {
            lane.detail.polls_not_kept += 1;
            return;
        }
        lane.detail.polls.push((now_us, true));
        lane.open_polls.retain(|(open, _)| *open != key);
        if lane.open_polls.len() >= 64 {
            lane.open_polls.remove(0);
        }
        lane.open_polls.push((key, lane.detail.polls.len() - 1));
    }

    /// The poll of the command with `key` on `lane` found nothing.
    pub fn poll_found_nothing(&mut self, lane: usize, key: u64) {
        let Some(lane) = self.lanes.get_mut(lane) else {
            return;
        };
        if let Some(position) = lane.open_polls.iter().position(|(open, _)| *open == key) {
            let (_, index) = lane.open_polls.remove(position);
            if let Some(poll) = lane.detail.polls.get_mut(index) {
                poll.1 = false;
            }
        }
    }

    /// `lane` starts or stops being held by error handling at `now_us`.
    pub fn set_blocked(&mut self, lane: usize, now_us: u64, blocked: bool) {
        let Some(lane) = self.lanes.get_mut(lane) else {
            return;
        };
        match (lane.blocked_since_us, blocked) {
            (None, true) => lane.blocked_since_us = Some(now_us),
            (Some(since), false) => {
                lane.blocked_since_us = None;
                close_window(lane, since, now_us);
            }
            _ => {}
        }
    }

    pub fn is_blocked(&self, lane: usize) -> bool {
        self.lanes
            .get(lane)
            .is_some_and(|l| l.blocked_since_us.is_some())
    }

    /// An error-handling step.
    pub fn eh_event(
        &mut self,
        now_us: u64,
        scope: &str,
        step: &str,
        device: String,
        outcome: &str,
    ) {
        if self.eh_events.len() >= MAX_EH_EVENTS {
            self.eh_events_not_kept += 1;
            return;
        }
        self.eh_events.push(EhEventRecord {
            t_ms: now_us as f64 / 1000.0,
            scope: scope.to_string(),
            step: step.to_string(),
            device,
            outcome: outcome.to_string(),
        });
    }

    /// Whether another narrated path line would be kept (callers skip the narration
    /// when not; the report then says the path was cut).
    pub fn wants_path(&self) -> bool {
        self.path.items.len() < MAX_PATH_LINES
    }

    /// Whether every narrated line so far was kept.
    pub fn path_complete(&self) -> bool {
        self.path.complete
    }

    /// A narrated line of the path commands took.
    pub fn path_line(&mut self, now_us: u64, device: Option<String>, text: String) {
        if self.wants_path() {
            self.path.items.push(PathLine {
                t_us: now_us,
                device,
                text,
            });
        } else {
            self.path.complete = false;
        }
    }

    /// Whether another kernel log line would be kept.
    pub fn wants_kernel_lines(&self) -> bool {
        self.kernel_log.items.len() < MAX_KERNEL_LINES
    }

    /// A kernel-format log line (without the timestamp) at `now_us`.
    pub fn kernel_line(&mut self, now_us: u64, text: String) {
        if self.wants_kernel_lines() {
            self.kernel_log.items.push((now_us, text));
        } else {
            self.kernel_log.complete = false;
        }
    }

    /// Marks the path or the kernel log as cut: lines came that were not recorded.
    pub fn cut(&mut self, path: bool, kernel_log: bool) {
        if path {
            self.path.complete = false;
        }
        if kernel_log {
            self.kernel_log.complete = false;
        }
    }

    /// The run's fault rules (each with the lanes it covers).
    pub fn set_faults(&mut self, faults: Vec<FaultMark>) {
        self.faults = faults;
    }

    /// Fault `fault` fired on `lane` at `now_us`.
    pub fn fault_hit(&mut self, now_us: u64, fault: usize, lane: usize) {
        if self.fault_hits.len() < MAX_FAULT_HITS {
            self.fault_hits.push(FaultHitMark {
                t_us: now_us,
                fault,
                lane,
            });
        } else {
            self.fault_hits_not_kept += 1;
        }
    }

    /// Firings that happened but were not handed to [`Recorder::fault_hit`].
    pub fn fault_hits_not_kept(&mut self, count: u64) {
        self.fault_hits_not_kept = self.fault_hits_not_kept.saturating_add(count);
    }

    /// Closes open windows at `end_us` and builds the report; `states[lane]` is the
    /// device state at the end.
    pub fn finish(
        mut self,
        title: String,
        seed: u64,
        end_us: u64,
        commands_simulated: u64,
        states: Vec<&str>,
    ) -> RunReport {
        let mut luns = Vec::with_capacity(self.lanes.len());
        let mut lanes = Vec::with_capacity(self.lanes.len());
        for (index, (lane, hot)) in self.lanes.iter_mut().zip(&mut self.hot).enumerate() {
            let counts = lane.counts;
            let failed: u64 = lane.ios_failed.values().sum();
            assert!(
                failed <= hot.latency.count(),
                "failed commands are counted in latency"
            );
            if let Some(since) = lane.blocked_since_us.take() {
                close_window(lane, since, end_us);
            }
            luns.push(LunSummary {
                id: lane.id.clone(),
                ios_ok: hot.latency.count() - failed,
                ios_failed: lane
                    .ios_failed
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
                latency_us: LatencyQuantiles {
                    p50: hot.latency.quantile_us(0.5),
                    p99: hot.latency.quantile_us(0.99),
                    p999: hot.latency.quantile_us(0.999),
                    max: hot.latency.max_us(),
                },
                blocked_ms: lane.blocked_total_us / 1000,
                dispatched: counts[Counter::Dispatched as usize],
                timeouts: counts[Counter::Timeouts as usize],
                retries: counts[Counter::Retries as usize],
                aborts: counts[Counter::Aborts as usize],
                resets: counts[Counter::Resets as usize],
                state: states.get(index).copied().unwrap_or("unknown").to_string(),
            });
            hot.flush_ok();
            lane.detail.ok_per_bucket = std::mem::take(&mut hot.ok_per_bucket);
            lanes.push(std::mem::take(&mut lane.detail));
        }
        RunReport {
            title,
            summary: RunSummary {
                seed,
                virtual_duration_ms: end_us / 1000,
                luns,
                eh_events: self.eh_events,
                mpaths: Vec::new(),
            },
            bucket_us: self.bucket_us,
            lanes,
            commands_simulated,
            clock: self.clock,
            eh_events_not_kept: self.eh_events_not_kept,
            faults: self.faults,
            fault_hits: self.fault_hits,
            fault_hits_not_kept: self.fault_hits_not_kept,
            path: self.path,
            kernel_log: self.kernel_log,
            mpath_lanes: Vec::new(),
        }
    }
}

/// Halves the number of buckets: each new bucket is the sum of two old ones.
fn fold(buckets: &mut Vec<u32>) {
    let folded: Vec<u32> = buckets
        .chunks(2)
        .map(|pair| {
            pair.iter()
                .fold(0u32, |sum, count| sum.saturating_add(*count))
        })
        .collect();
    *buckets = folded;
}

fn close_window(lane: &mut Lane, since: u64, until: u64) {
    lane.blocked_total_us += until.saturating_sub(since);
    if lane.detail.blocked_us.len() < MAX_BLOCKED_WINDOWS {
        lane.detail.blocked_us.push((since, until));
    } else {
        lane.detail.blocked_not_kept += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_latencies_and_blocked_time() {
        let mut recorder = Recorder::new(vec!["0:0:0:0".into(), "0:0:0:1".into()], 1000);
        recorder.io_done(0, 500, 200, BlkStatus::Ok);
        recorder.io_done(0, 1500, 400, BlkStatus::Ok);
        recorder.io_done(1, 1500, 30_000_000, BlkStatus::IoErr);
        recorder.set_blocked(1, 2000, true);
        recorder.set_blocked(1, 2500, true);
        recorder.set_blocked(1, 7000, false);
        recorder.set_blocked(0, 9000, true);
        recorder.eh_event(2000, "lun", "lun_reset", "0:0:0:1".into(), "success");
        recorder.count(1, Counter::Timeouts);
        recorder.count(1, Counter::Dispatched);
        recorder.count(1, Counter::Dispatched);
        let report = recorder.finish("t".into(), 3, 10_000, 4, vec!["running", "offline"]);
        let luns = &report.summary.luns;
        assert_eq!(luns[0].ios_ok, 2);
        assert_eq!(luns[0].latency_us.max, 400);
        assert_eq!(luns[0].blocked_ms, 1, "open window closed at the end");
        assert_eq!(luns[1].ios_failed.get("BLK_STS_IOERR"), Some(&1));
        assert_eq!(luns[1].blocked_ms, 5);
        assert_eq!(report.lanes[0].ok_per_bucket, vec![1, 1]);
        assert_eq!(report.lanes[1].blocked_us, vec![(2000, 7000)]);
        assert_eq!(report.summary.eh_events[0].t_ms, 2.0);
        let json = serde_json::to_value(&report.summary).unwrap();
        assert_eq!(json["luns"][1]["ios_failed"]["BLK_STS_IOERR"], 1);
        assert_eq!(json["luns"][0]["latency_us"]["p999"], 400);
        assert_eq!(json["luns"][1]["dispatched"], 2);
        assert_eq!(json["luns"][1]["timeouts"], 1);
        assert_eq!(json["luns"][1]["retries"], 0);
        assert_eq!(json["luns"][1]["state"], "offline");
        let table = report.summary.table();
        assert!(table.contains("BLK_STS_IOERR=1"), "{table}");
    }

    #[test]
    fn buckets_widen_instead_of_piling_up_in_the_last() {
        let mut recorder = Recorder::new(vec!["0:0:0:0".into()], 10);
        recorder.io_done(0, 5, 1, BlkStatus::Ok);
        recorder.io_done(0, 15, 1, BlkStatus::Ok);
        recorder.io_done(0, (MAX_BUCKETS as u64) * 10 + 5, 1, BlkStatus::Ok);
        let report = recorder.finish("t".into(), 1, 100_000, 3, Vec::new());
        assert_eq!(report.bucket_us, 20);
        assert_eq!(report.lanes[0].ok_per_bucket[0], 2, "the first two merged");
        assert_eq!(report.lanes[0].ok_per_bucket.len(), MAX_BUCKETS / 2 + 1);
        assert_eq!(report.lanes[0].ok_per_bucket.iter().sum::<u32>(), 3);
    }

    #[test]
    fn polls_lanes_and_bounds() {
        let mut recorder = Recorder::new(Vec::new(), 1000);
        let lane = recorder.lane("1:0:0:0").unwrap();
        assert_eq!(recorder.lane("1:0:0:0"), Some(lane));
        recorder.poll_started(lane, 10, 1);
        recorder.poll_started(lane, 20, 2);
        recorder.poll_found_nothing(lane, 1);
        recorder.poll_found_nothing(lane, 99);
        for t in 0..(MAX_EH_EVENTS as u64 + 3) {
            recorder.eh_event(t, "lun", "abort", "1:0:0:0".into(), "success");
        }
        for t in 0..(MAX_KERNEL_LINES as u64 + 1) {
            recorder.kernel_line(t, "line".into());
        }
        let report = recorder.finish("t".into(), 1, 1000, 0, Vec::new());
        assert_eq!(report.lanes[0].polls, vec![(10, false), (20, true)]);
        assert_eq!(report.eh_events_not_kept, 3);
        assert!(!report.kernel_log.complete);
        assert!(report.path.complete);
        assert_eq!(report.summary.luns[0].id, "1:0:0:0");
    }
}

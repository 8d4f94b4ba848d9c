//! Collects a run's numbers as it goes: per-LUN counts, latencies, rate buckets, blocked
//! windows, errors and EH events, each with a bound.

use std::collections::BTreeMap;

use unjam_scsi::BlkStatus;

use super::histogram::LatencyHistogram;
use super::summary::{
    EhEventRecord, LaneDetail, LatencyQuantiles, LunSummary, RunReport, RunSummary,
};

/// The most EH events kept.
pub const MAX_EH_EVENTS: usize = 100_000;
/// The most failed commands drawn per lane.
pub const MAX_ERRORS_PER_LANE: usize = 2_000;
/// The most blocked windows kept per lane.
const MAX_BLOCKED_WINDOWS: usize = 10_000;
/// The most rate buckets per lane; later commands count in the last one.
const MAX_BUCKETS: usize = 4_000;

/// A per-LUN count of the summary.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Counter {
    Dispatched,
    Timeouts,
    Retries,
    Aborts,
    Resets,
}

#[derive(Debug)]
struct Lane {
    id: String,
    ios_ok: u64,
    ios_failed: BTreeMap<&'static str, u64>,
    latency: LatencyHistogram,
    detail: LaneDetail,
    blocked_since_us: Option<u64>,
    blocked_total_us: u64,
    /// Indexed by `Counter as usize`.
    counts: [u64; 5],
}

/// The run's collector.
#[derive(Debug)]
pub struct Recorder {
    bucket_us: u64,
    lanes: Vec<Lane>,
    eh_events: Vec<EhEventRecord>,
}

impl Recorder {
    /// One lane per LUN id, rate buckets of `bucket_us`.
    pub fn new(lun_ids: Vec<String>, bucket_us: u64) -> Self {
        let lanes = lun_ids
            .into_iter()
            .map(|id| Lane {
                id,
                ios_ok: 0,
                ios_failed: BTreeMap::new(),
                latency: LatencyHistogram::default(),
                detail: LaneDetail::default(),
                blocked_since_us: None,
                blocked_total_us: 0,
                counts: [0; 5],
            })
            .collect();
        Recorder {
            bucket_us: bucket_us.max(1),
            lanes,
            eh_events: Vec::new(),
        }
    }

    /// A caller's command on `lane` finished at `now_us` after `latency_us`.
    pub fn io_done(&mut self, lane: usize, now_us: u64, latency_us: u64, status: BlkStatus) {
        let bucket = ((now_us / self.bucket_us) as usize).min(MAX_BUCKETS - 1);
        let Some(lane) = self.lanes.get_mut(lane) else {
            return;
        };
        lane.latency.record(latency_us);
        let buckets = if status == BlkStatus::Ok {
            lane.ios_ok += 1;
            &mut lane.detail.ok_per_bucket
        } else {
            *lane.ios_failed.entry(status.kernel_name()).or_default() += 1;
            if lane.detail.errors.len() < MAX_ERRORS_PER_LANE {
                lane.detail.errors.push((now_us, status.kernel_name()));
            }
            &mut lane.detail.failed_per_bucket
        };
        if buckets.len() <= bucket {
            buckets.resize(bucket + 1, 0);
        }
        if let Some(count) = buckets.get_mut(bucket) {
            *count += 1;
        }
    }

    /// Counts one `counter` event on `lane`.
    pub fn count(&mut self, lane: usize, counter: Counter) {
        if let Some(lane) = self.lanes.get_mut(lane) {
            lane.counts[counter as usize] += 1;
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
        for (index, lane) in self.lanes.iter_mut().enumerate() {
            let counts = lane.counts;
            if let Some(since) = lane.blocked_since_us.take() {
                close_window(lane, since, end_us);
            }
            luns.push(LunSummary {
                id: lane.id.clone(),
                ios_ok: lane.ios_ok,
                ios_failed: lane
                    .ios_failed
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
                latency_us: LatencyQuantiles {
                    p50: lane.latency.quantile_us(0.5),
                    p99: lane.latency.quantile_us(0.99),
                    p999: lane.latency.quantile_us(0.999),
                    max: lane.latency.max_us(),
                },
                blocked_ms: lane.blocked_total_us / 1000,
                dispatched: counts[Counter::Dispatched as usize],
                timeouts: counts[Counter::Timeouts as usize],
                retries: counts[Counter::Retries as usize],
                aborts: counts[Counter::Aborts as usize],
                resets: counts[Counter::Resets as usize],
                state: states.get(index).copied().unwrap_or("unknown").to_string(),
            });
            lanes.push(std::mem::take(&mut lane.detail));
        }
        RunReport {
            title,
            summary: RunSummary {
                seed,
                virtual_duration_ms: end_us / 1000,
                luns,
                eh_events: self.eh_events,
            },
            bucket_us: self.bucket_us,
            lanes,
            commands_simulated,
        }
    }
}

fn close_window(lane: &mut Lane, since: u64, until: u64) {
    lane.blocked_total_us += until.saturating_sub(since);
    if lane.detail.blocked_us.len() < MAX_BLOCKED_WINDOWS {
        lane.detail.blocked_us.push((since, until));
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
}

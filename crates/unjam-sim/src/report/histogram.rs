//! A log-linear latency histogram: exact below 64 µs, then 32 linear buckets per power of
//! two (relative error under 3.2 %), exact maximum; memory grows with the largest value
//! seen, a power of two's 32 buckets at a time (768 B below 128 µs, 1.5 KiB below 1 ms,
//! 15 KiB at most) whatever the count.

/// Values below this are counted exactly; above, 6 significant bits are kept.
const SUB_BUCKETS: u64 = 64;
/// Buckets for every u64: 64 exact, then 32 per power of two from 2^6 to 2^63.
const BUCKETS: usize = 64 + 58 * 32;

/// Latencies in microseconds. The bucket counted last is kept beside the table with its
/// count not yet added (a run's latencies on one LUN mostly fall in one bucket): recording
/// touches the table only when the bucket changes, and the histogram itself fits in the
/// recorder's one cache line per LUN (at 4096 LUNs the table was a cache miss on every
/// completion).
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    /// Counts per bucket, without `recent_count` (boxed: two words, so the recorder's lane
    /// line has room; it grows only when a value lands past its end).
    counts: Box<[u64]>,
    max_us: u64,
    /// The bucket of the last value, and how many values since went there uncounted.
    recent: u32,
    recent_count: u32,
}

impl LatencyHistogram {
    pub fn record(&mut self, value_us: u64) {
        let index = bucket_of(value_us).min(BUCKETS - 1);
        self.max_us = self.max_us.max(value_us);
        if index == self.recent as usize && self.recent_count < u32::MAX {
            self.recent_count += 1;
            return;
        }
        self.flush();
        self.recent = index as u32;
        self.recent_count = 1;
    }

    /// Adds the pending count to the table.
    fn flush(&mut self) {
        let index = self.recent as usize;
        if self.recent_count == 0 {
            return;
        }
        if self.counts.len() <= index {
            self.grow_to(index);
        }
        if let Some(count) = self.counts.get_mut(index) {
            *count += u64::from(self.recent_count);
        }
        self.recent_count = 0;
    }

    /// Makes room for bucket `index`: the table reaches the end of the index's power of two
    /// (its 32 buckets), in one allocation of the exact size. Growing one bucket at a time
    /// (a resize, then a shrink into the box: two reallocations copying the table) ran on
    /// a good share of completions at 4096 LUNs, whose latencies climb for a while.
    fn grow_to(&mut self, index: usize) {
        let group = SUB_BUCKETS as usize / 2;
        let len = (index / group + 1) * group;
        let mut counts = Vec::with_capacity(len.min(BUCKETS));
        counts.extend_from_slice(&self.counts);
        counts.resize(len.min(BUCKETS), 0);
        self.counts = counts.into_boxed_slice();
    }

    /// The count of bucket `index`, the pending one included.
    fn count_at(&self, index: usize) -> u64 {
        let pending = match index == self.recent as usize {
            true => u64::from(self.recent_count),
            false => 0,
        };
        self.counts.get(index).copied().unwrap_or(0) + pending
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + u64::from(self.recent_count)
    }

    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The value at quantile `q` (0..=1): the upper bound of the bucket holding it, never
    /// above the maximum. Zero when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let buckets = self.counts.len().max(self.recent as usize + 1);
        let mut seen = 0;
        for index in 0..buckets {
            seen += self.count_at(index);
            if seen >= rank {
                return bucket_upper(index).min(self.max_us);
            }
        }
        self.max_us
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS {
        return value as usize;
    }
    let power = 63 - value.leading_zeros() as u64; // >= 6
    let shift = power - 5; // keep 6 significant bits
    let sub = (value >> shift) - SUB_BUCKETS / 2; // 0..32 within the power
    ((power - 5) * SUB_BUCKETS / 2 + SUB_BUCKETS / 2 + sub) as usize
}

fn bucket_upper(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB_BUCKETS {
        return index;
    }
    let half = SUB_BUCKETS / 2;
    let power_offset = (index - half) / half; // power - 5
    let sub = (index - half) % half;
    let shift = power_offset;
    ((sub + half + 1) << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_64_and_close_above() {
        let mut histogram = LatencyHistogram::default();
        for value in 1..=100u64 {
            histogram.record(value);
        }
        assert_eq!(histogram.quantile_us(0.5), 50);
        assert_eq!(histogram.max_us(), 100);
        assert_eq!(histogram.quantile_us(1.0), 100);
        let mut wide = LatencyHistogram::default();
        for value in (1..=1_000_000u64).step_by(7) {
            wide.record(value);
        }
        for (q, exact) in [(0.5, 500_000.0), (0.99, 990_000.0), (0.999, 999_000.0)] {
            let got = wide.quantile_us(q) as f64;
            assert!(
                (got - exact).abs() / exact < 0.035,
                "q{q}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn the_pending_bucket_counts_like_the_table() {
        let mut histogram = LatencyHistogram::default();
        for value in [500, 500, 500, 70, 500, 9000, 9000, 70, 70] {
            histogram.record(value);
        }
        assert_eq!(histogram.count(), 9);
        assert_eq!(
            histogram.quantile_us(0.2),
            71,
            "3 of 9 at 70 (its bucket's bound)"
        );
        assert_eq!(
            histogram.quantile_us(0.5),
            503,
            "4 of 9 at 500 (its bucket's bound)"
        );
        assert_eq!(histogram.quantile_us(0.99), 9000);
        // Against a table counted at once, on values that change bucket often and seldom.
        let mut reference = vec![0u64; BUCKETS];
        let mut state = 7u64;
        for step in 0..5000u64 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let value = match step % 500 < 250 {
                true => 6400 + (state >> 60),
                false => state >> 44,
            };
            histogram.record(value);
            reference[bucket_of(value).min(BUCKETS - 1)] += 1;
        }
        reference[bucket_of(500)] += 4;
        reference[bucket_of(70)] += 3;
        reference[bucket_of(9000)] += 2;
        let total: u64 = reference.iter().sum();
        assert_eq!(histogram.count(), total);
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let rank = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let index = reference
                .iter()
                .position(|count| {
                    seen += count;
                    seen >= rank
                })
                .unwrap_or(0);
            let expected = bucket_upper(index).min(histogram.max_us());
            assert_eq!(histogram.quantile_us(q), expected, "q{q}");
        }
        assert!(histogram.counts.len() % 32 == 0 && histogram.counts.len() <= BUCKETS);
        let mut once = LatencyHistogram::default();
        once.record(6400);
        assert_eq!((once.count(), once.quantile_us(0.5)), (1, 6400));
    }

    #[test]
    fn buckets_are_monotonic_and_bounded() {
        let mut last = 0;
        for value in (0..5_000_000u64).step_by(997) {
            let bucket = bucket_of(value);
            assert!(bucket >= last);
            assert!(bucket_upper(bucket) >= value, "{value} in bucket {bucket}");
            last = bucket;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(LatencyHistogram::default().quantile_us(0.5), 0);
    }
}

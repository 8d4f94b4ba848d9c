//! A log-linear latency histogram: exact below 64 µs, then 32 linear buckets per power of
//! two (relative error under 3.2 %), exact maximum; memory grows with the largest value
//! seen (under 1 KiB for sub-millisecond latencies, 15 KiB at most) whatever the count.

/// Values below this are counted exactly; above, 6 significant bits are kept.
const SUB_BUCKETS: u64 = 64;
/// Buckets for every u64: 64 exact, then 32 per power of two from 2^6 to 2^63.
const BUCKETS: usize = 64 + 58 * 32;

/// Latencies in microseconds.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
}

impl LatencyHistogram {
    pub fn record(&mut self, value_us: u64) {
        let index = bucket_of(value_us).min(BUCKETS - 1);
        if self.counts.len() <= index {
            self.counts.resize(index + 1, 0);
        }
        if let Some(count) = self.counts.get_mut(index) {
            *count += 1;
        }
        self.total += 1;
        self.max_us = self.max_us.max(value_us);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The value at quantile `q` (0..=1): the upper bound of the bucket holding it, never
    /// above the maximum. Zero when empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
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

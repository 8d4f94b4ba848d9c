//! One LUN's stream of commands: which LBA, read or write, and when. Closed loop keeps
//! `queue_depth` commands in flight; open loop issues at `rate_iops` with exponential
//! inter-arrival times. Every draw comes from the stream's own seeded generator.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

use super::ledger::WriteLedger;
use crate::address::LunAddress;
use crate::media_command::MediaAccess;
use crate::scenario::{AccessPattern, WorkloadSpec};

/// How many LBAs a stream tries before giving up a slot because of in-flight overlaps.
const MAX_LBA_TRIES: usize = 8;

/// Closed or open loop.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum StreamMode {
    Closed { queue_depth: u32 },
    Open { rate_iops: u32 },
}

/// One command to issue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IoPlan {
    pub access: MediaAccess,
    pub lba: u64,
    pub blocks: u64,
    /// Unique per write across the run (0 for reads).
    pub write_id: u64,
}

/// The stream of one workload on one LUN. `repr(C)` on aligned lines: what every
/// completion and issue reads sits on the first line and what planning an LBA reads on the
/// second, ahead of the generator (at 4096 LUNs a stream is cold whenever its turn comes,
/// and these fields were spread over the record's eight lines).
#[derive(Debug)]
#[repr(C, align(64))]
pub struct LunStream {
    in_flight: u32,
    read_percent: u8,
    pub verify: bool,
    /// Requests carry REQ_SYNC.
    pub sync: bool,
    pattern: AccessPattern,
    mode: StreamMode,
    issued_total: u64,
    io_limit: u64,
    start_us: u64,
    end_us: u64,
    think_time_us: u64,
    slots: u64,
    // Second line: planning.
    first_lba: u64,
    io_blocks: u64,
    writes: u64,
    id: u64,
    next_slot: u64,
    next_arrival_us: u64,
    block_size: u32,
    /// When closed-loop slots whose command completed may issue again (think time); always
    /// empty without think time (and then never read).
    thinking: VecDeque<u64>,
    pub address: LunAddress,
    rng: ChaCha8Rng,
}

const _: () = assert!(
    std::mem::offset_of!(LunStream, first_lba) == 64
        && std::mem::offset_of!(LunStream, thinking) <= 128,
    "a completion's and a plan's fields each fill one line"
);

impl LunStream {
    /// `id` must differ between streams of one run (it keeps write ids unique).
    pub fn new(
        spec: &WorkloadSpec,
        address: LunAddress,
        block_size: u32,
        scenario_duration_ms: u64,
        seed: u64,
        id: u64,
    ) -> Self {
        let io_blocks = (spec.io_bytes / block_size.max(1)).max(1) as u64;
        let span_blocks = spec.span_bytes() / block_size.max(1) as u64;
        let mode = match spec.rate_iops {
            Some(rate_iops) => StreamMode::Open { rate_iops },
            None => StreamMode::Closed {
                queue_depth: spec.queue_depth_or_default(),
            },
        };
        let start_us = spec.start_ms.saturating_mul(1000);
        let duration_ms = spec.duration_ms.unwrap_or(scenario_duration_ms);
        let rng_seed = crate::identity::mix(seed ^ crate::identity::mix(id ^ 0x5745_4c4c));
        LunStream {
            address,
            verify: spec.verify,
            sync: spec.sync,
            think_time_us: spec.think_time_us,
            thinking: VecDeque::new(),
            block_size,
            io_blocks,
            slots: (span_blocks / io_blocks).max(1),
            read_percent: spec.read_percent,
            pattern: spec.pattern,
            mode,
            start_us,
            end_us: start_us.saturating_add(duration_ms.saturating_mul(1000)),
            next_slot: 0,
            next_arrival_us: start_us,
            in_flight: 0,
            writes: 0,
            first_lba: spec.first_lba,
            issued_total: 0,
            io_limit: spec.io_count.unwrap_or(u64::MAX),
            id,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
        }
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    pub fn io_bytes(&self) -> u32 {
        (self.io_blocks * self.block_size as u64) as u32
    }

    pub fn mode(&self) -> StreamMode {
        self.mode
    }

    pub fn end_us(&self) -> u64 {
        self.end_us
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// When, at or after `now_us`, the stream next wants to issue, if it does: now or its
    /// start (closed loop below its depth) or its next arrival (open loop), before its end.
    pub fn wants_to_issue_at(&self, now_us: u64) -> Option<u64> {
        if self.issued_total >= self.io_limit {
            return None;
        }
        let thinking = match self.think_time_us {
            0 => 0,
            _ => self.thinking.iter().filter(|t| **t > now_us).count() as u32,
        };
        let at = match self.mode {
            StreamMode::Closed { queue_depth } if self.in_flight + thinking < queue_depth => {
                self.start_us.max(now_us)
            }
            StreamMode::Closed { queue_depth } if self.in_flight < queue_depth => {
                *self.thinking.iter().find(|t| **t > now_us)?
            }
            StreamMode::Closed { .. } => return None,
            StreamMode::Open { .. } => self.next_arrival_us,
        };
        (at < self.end_us).then_some(at)
    }

    /// Plans the next command at `now_us`, avoiding blocks with a command in flight. `None`
    /// when no free LBA was found (closed loop: retry later; open loop: the arrival is
    /// skipped). Open loop draws its next arrival either way.
    pub fn plan(&mut self, now_us: u64, ledger: Option<&WriteLedger>) -> Option<IoPlan> {
        if let StreamMode::Open { rate_iops } = self.mode {
            let mean_us = 1_000_000.0 / rate_iops.max(1) as f64;
            let gap_us = Exp::new(1.0 / mean_us)
                .map(|exp| exp.sample(&mut self.rng))
                .unwrap_or(mean_us);
            self.next_arrival_us = now_us.max(self.next_arrival_us) + (gap_us.ceil() as u64).max(1);
        }
        let access = if self.rng.gen_range(0..100u8) < self.read_percent {
            MediaAccess::Read
        } else {
            MediaAccess::Write
        };
        for _ in 0..MAX_LBA_TRIES {
            let slot = match self.pattern {
                AccessPattern::Random => self.rng.gen_range(0..self.slots),
                AccessPattern::Sequential => {
                    let slot = self.next_slot % self.slots;
                    self.next_slot = self.next_slot.wrapping_add(1);
                    slot
                }
            };
            let lba = self.first_lba + slot * self.io_blocks;
            if ledger.is_some_and(|l| !l.may_issue(lba, self.io_blocks)) {
                continue;
            }
            let write_id = match access {
                MediaAccess::Write => {
                    self.writes += 1;
                    (self.id << 40) | self.writes
                }
                _ => 0,
            };
            return Some(IoPlan {
                access,
                lba,
                blocks: self.io_blocks,
                write_id,
            });
        }
        None
    }

    pub fn issued(&mut self) {
        self.in_flight += 1;
        self.issued_total += 1;
    }

    /// A command completed at `now_us`: its slot thinks for `think_time_us`.
    pub fn completed(&mut self, now_us: u64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.think_time_us == 0 {
            return;
        }
        while self.thinking.front().is_some_and(|t| *t <= now_us) {
            self.thinking.pop_front();
        }
        self.thinking
            .push_back(now_us.saturating_add(self.think_time_us));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkloadSpec {
        WorkloadSpec {
            read_percent: 50,
            io_bytes: 4096,
            span_mib: 1,
            queue_depth: Some(2),
            ..WorkloadSpec::default()
        }
    }

    #[test]
    fn think_time_pauses_a_closed_loop_slot_after_its_completion() {
        let spec = WorkloadSpec {
            queue_depth: Some(1),
            think_time_us: 500,
            ..spec()
        };
        let mut stream = LunStream::new(&spec, LunAddress::default(), 512, 1000, 1, 1);
        assert_eq!(stream.wants_to_issue_at(0), Some(0));
        stream.issued();
        assert_eq!(stream.wants_to_issue_at(10), None, "at its depth");
        stream.completed(100);
        assert_eq!(stream.wants_to_issue_at(100), Some(600), "thinks 500 us");
        assert_eq!(stream.wants_to_issue_at(600), Some(600));
    }

    #[test]
    fn closed_loop_stays_at_its_depth() {
        let address = LunAddress::default();
        let mut stream = LunStream::new(&spec(), address, 512, 1000, 1, 0);
        assert_eq!(stream.wants_to_issue_at(0), Some(0));
        let plan = stream.plan(0, None).unwrap();
        assert_eq!(plan.blocks, 8);
        assert_eq!(plan.lba % 8, 0);
        assert!(plan.lba + plan.blocks <= 2048);
        stream.issued();
        stream.issued();
        assert_eq!(stream.wants_to_issue_at(0), None);
        stream.completed(0);
        assert_eq!(stream.wants_to_issue_at(0), Some(0));
    }

    #[test]
    fn same_seed_same_plans_and_a_mix_of_reads_and_writes() {
        let plans = |seed| {
            let mut stream = LunStream::new(&spec(), LunAddress::default(), 512, 1000, seed, 3);
            (0..200)
                .map(|_| stream.plan(0, None).unwrap())
                .collect::<Vec<_>>()
        };
        let first = plans(4);
        assert_eq!(first, plans(4));
        assert_ne!(first, plans(5));
        let writes = first
            .iter()
            .filter(|p| p.access == MediaAccess::Write)
            .count();
        assert!(
            (60..140).contains(&writes),
            "{writes} writes of 200 at 50 %"
        );
        let ids: std::collections::HashSet<u64> = first
            .iter()
            .filter(|p| p.write_id != 0)
            .map(|p| p.write_id)
            .collect();
        assert_eq!(ids.len(), writes, "write ids are unique");
    }

    #[test]
    fn open_loop_arrivals_follow_the_rate() {
        let open = WorkloadSpec {
            rate_iops: Some(1000),
            queue_depth: None,
            duration_ms: Some(10_000),
            ..spec()
        };
        let mut stream = LunStream::new(&open, LunAddress::default(), 512, 1000, 9, 0);
        let mut count = 0;
        assert_eq!(stream.wants_to_issue_at(0), Some(0));
        let mut closed = LunStream::new(&spec(), LunAddress::default(), 512, 1000, 1, 0);
        assert_eq!(closed.wants_to_issue_at(999_999), Some(999_999));
        assert_eq!(
            closed.wants_to_issue_at(1_000_000),
            None,
            "the stream has ended"
        );
        closed.issued();
        while let Some(at) = stream.wants_to_issue_at(0) {
            stream.plan(at, None);
            count += 1;
        }
        assert!(
            (9_000..11_000).contains(&count),
            "{count} arrivals in 10 s at 1000/s"
        );
    }

    #[test]
    fn sequential_wraps_and_overlaps_are_avoided() {
        let sequential = WorkloadSpec {
            pattern: AccessPattern::Sequential,
            ..spec()
        };
        let mut stream = LunStream::new(&sequential, LunAddress::default(), 512, 1000, 1, 0);
        let lbas: Vec<u64> = (0..257)
            .map(|_| stream.plan(0, None).unwrap().lba)
            .collect();
        assert_eq!(&lbas[..3], &[0, 8, 16]);
        assert_eq!(lbas[256], 0, "256 slots of 8 blocks in 1 MiB, then wrap");
        let mut ledger = WriteLedger::new(1);
        for slot in 0..256 {
            ledger.begin(slot * 8, 8);
        }
        assert_eq!(stream.plan(0, Some(&ledger)), None, "every LBA busy");
    }
}

//! What each I/O of `unjam bench URL` is: its direction (`--rw`, `--rwmixread`), its
//! place (sequential per worker or uniformly random), and its data — random bytes (never a
//! constant that flatters deduplicating arrays), or with `--verify` bytes that carry the
//! LBA and a sequence number and are checked when read back.
//!
//! Owns the I/O plan and the verify format; no timing, no statistics.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The access pattern (fio's `rw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    Read,
    Write,
    Randread,
    Randwrite,
    /// Sequential, reads and writes mixed by `--rwmixread`.
    Rw,
    /// Random, reads and writes mixed by `--rwmixread`.
    Randrw,
}

impl Pattern {
    pub fn is_random(self) -> bool {
        matches!(
            self,
            Pattern::Randread | Pattern::Randwrite | Pattern::Randrw
        )
    }

    pub fn writes(self) -> bool {
        !matches!(self, Pattern::Read | Pattern::Randread)
    }

    /// Percentage of reads.
    pub fn read_percent(self, rwmixread: u8) -> u8 {
        match self {
            Pattern::Read | Pattern::Randread => 100,
            Pattern::Write | Pattern::Randwrite => 0,
            Pattern::Rw | Pattern::Randrw => rwmixread.min(100),
        }
    }
}

/// One worker's sequence of I/Os over `slots` units of `bs` bytes.
#[derive(Debug)]
pub struct Plan {
    rng: ChaCha8Rng,
    random: bool,
    read_percent: u8,
    slots: u64,
    next: u64,
}

impl Plan {
    pub fn new(pattern: Pattern, rwmixread: u8, slots: u64, worker: u32, workers: u32) -> Plan {
        Plan {
            rng: ChaCha8Rng::seed_from_u64(0x756e_6a61_6d00 ^ u64::from(worker)),
            random: pattern.is_random(),
            read_percent: pattern.read_percent(rwmixread),
            slots: slots.max(1),
            next: u64::from(worker) * slots.max(1) / u64::from(workers.max(1)),
        }
    }

    /// The next I/O: (is it a read, which slot).
    pub fn next(&mut self) -> (bool, u64) {
        let read = match self.read_percent {
            100 => true,
            0 => false,
            percent => self.rng.gen_range(0..100u8) < percent,
        };
        let slot = if self.random {
            self.rng.gen_range(0..self.slots)
        } else {
            let slot = self.next;
            self.next = (self.next + 1) % self.slots;
            slot
        };
        (read, slot)
    }

    /// Random bytes for writes when not verifying (filled once per worker).
    pub fn random_payload(&mut self, length: usize) -> Vec<u8> {
        let mut data = vec![0u8; length];
        self.rng.fill_bytes(&mut data);
        data
    }
}

/// Bytes at the start of every logical block written with `--verify`.
pub const HEADER: usize = 24;
const MAGIC: &[u8; 8] = b"unjamvfy";

/// Fills `out` (whole blocks of `block` bytes starting at `lba`) with verify data: each
/// block starts with the magic, its LBA and the write's sequence number, and continues
/// with bytes drawn from a generator seeded by both.
pub fn fill_verify(out: &mut [u8], lba: u64, block: usize, sequence: u64) {
    for (index, chunk) in out.chunks_mut(block).enumerate() {
        let block_lba = lba + index as u64;
        let header = chunk.len().min(HEADER);
        let mut head = [0u8; HEADER];
        head[..8].copy_from_slice(MAGIC);
        head[8..16].copy_from_slice(&block_lba.to_le_bytes());
        head[16..24].copy_from_slice(&sequence.to_le_bytes());
        chunk[..header].copy_from_slice(&head[..header]);
        let mut rng = ChaCha8Rng::seed_from_u64(block_lba.rotate_left(32) ^ sequence);
        rng.fill_bytes(&mut chunk[header..]);
    }
}

/// Why read-back data is not what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub lba: u64,
    pub expected_sequence: u64,
    pub found: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verify failed at LBA {}: expected the data of write #{}, found {}",
            self.lba, self.expected_sequence, self.found
        )
    }
}

/// Checks data read from `lba` against the write with `sequence`; `scratch` is reused.
pub fn check_verify(
    data: &[u8],
    lba: u64,
    block: usize,
    sequence: u64,
    scratch: &mut Vec<u8>,
) -> Result<(), Mismatch> {
    scratch.clear();
    scratch.resize(data.len(), 0);
    fill_verify(scratch, lba, block, sequence);
    if data == scratch.as_slice() {
        return Ok(());
    }
    let index = data
        .chunks(block)
        .zip(scratch.chunks(block))
        .position(|(found, wanted)| found != wanted)
        .unwrap_or(0);
    let found = data.get(index * block..).unwrap_or_default();
    let description = if found.get(..8) == Some(&MAGIC[..]) && found.len() >= HEADER {
        let mut word = [0u8; 8];
        word.copy_from_slice(&found[8..16]);
        let found_lba = u64::from_le_bytes(word);
        word.copy_from_slice(&found[16..24]);
        format!(
            "the data of LBA {found_lba} write #{}",
            u64::from_le_bytes(word)
        )
    } else {
        "bytes no verify write produced".to_string()
    };
    Err(Mismatch {
        lba: lba + index as u64,
        expected_sequence: sequence,
        found: description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_mix_and_place_as_asked() {
        let mut sequential = Plan::new(Pattern::Read, 50, 100, 1, 4);
        let slots: Vec<u64> = (0..3).map(|_| sequential.next().1).collect();
        assert_eq!(slots, [25, 26, 27]);
        let mut mixed = Plan::new(Pattern::Randrw, 70, 1000, 0, 1);
        let reads = (0..10_000).filter(|_| mixed.next().0).count();
        assert!((6500..7500).contains(&reads), "{reads}");
        let mut writes = Plan::new(Pattern::Randwrite, 70, 10, 0, 1);
        assert!((0..100).all(|_| {
            let (read, slot) = writes.next();
            !read && slot < 10
        }));
        let payload = writes.random_payload(4096);
        assert!(payload.windows(2).filter(|w| w[0] == w[1]).count() < 100);
    }

    #[test]
    fn verify_data_names_its_lba_and_write() {
        let mut data = vec![0u8; 4096];
        fill_verify(&mut data, 800, 512, 7);
        let mut scratch = Vec::new();
        assert_eq!(check_verify(&data, 800, 512, 7, &mut scratch), Ok(()));
        let stale = check_verify(&data, 800, 512, 8, &mut scratch).unwrap_err();
        assert_eq!((stale.lba, stale.expected_sequence), (800, 8));
        assert!(stale.found.contains("LBA 800 write #7"), "{stale}");
        let mut misplaced = vec![0u8; 512];
        fill_verify(&mut misplaced, 3, 512, 7);
        data[1024..1536].copy_from_slice(&misplaced);
        let wrong = check_verify(&data, 800, 512, 7, &mut scratch).unwrap_err();
        assert_eq!(wrong.lba, 802);
        assert!(wrong.found.contains("LBA 3"), "{wrong}");
        data[0] ^= 1;
        let garbage = check_verify(&data, 800, 512, 7, &mut scratch).unwrap_err();
        assert!(garbage.found.contains("no verify write"), "{garbage}");
    }
}

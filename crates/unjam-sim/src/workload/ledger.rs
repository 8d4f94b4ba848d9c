//! The write ledger of one logical unit: for every block a workload touched, which write
//! must be on it (or that no one can say, after a failed write). It also keeps the writes
//! in flight so that no two commands touching the same block are outstanding at once —
//! otherwise what a block must hold would depend on the target's ordering.
//!
//! Invariant 5 of DESIGN.md is checked with it: a write completed as success must be on the
//! media (checked at its completion and again at the end), and a read completed as success
//! must return what the ledger says.

use std::collections::BTreeMap;

use thiserror::Error;

use super::pattern::pattern_matches;
use crate::media::SparseMedia;

/// The most blocks one ledger tracks (bounds its memory).
pub const MAX_TRACKED_BLOCKS: usize = 1 << 22;

/// A never-written block of the largest supported size (a static: zeroing a stack copy for
/// every checked write was a quarter of the verified quickstart's memset).
static NEVER_WRITTEN: [u8; 4096] = [0; 4096];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expected {
    Written(u64),
    /// A write to it failed: its content is whatever the device did.
    Indeterminate,
}

/// What the ledger found wrong.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum LedgerError {
    #[error("LBA {lba}: write {write_id} completed as success but is not on the media")]
    LostWrite { lba: u64, write_id: u64 },
    #[error("LBA {lba}: a successful read returned data that is not write {write_id}")]
    WrongData { lba: u64, write_id: u64 },
    #[error("LBA {lba}: a successful read of a never-written block returned non-zero data")]
    NotZero { lba: u64 },
    #[error("the ledger tracks {MAX_TRACKED_BLOCKS} blocks already")]
    Full,
}

/// The ledger of one logical unit.
#[derive(Debug, Default)]
pub struct WriteLedger {
    key: u64,
    blocks: BTreeMap<u64, Expected>,
    in_flight: Vec<(u64, u64)>,
}

impl WriteLedger {
    /// A ledger for the unit whose patterns use `key`.
    pub fn new(key: u64) -> Self {
        WriteLedger {
            key,
            ..WriteLedger::default()
        }
    }

    pub fn key(&self) -> u64 {
        self.key
    }

    /// Whether a command on `[lba, lba + blocks)` may be issued now (no write in flight
    /// touches it, and for a write no command at all).
    pub fn may_issue(&self, lba: u64, blocks: u64) -> bool {
        let end = lba + blocks;
        self.in_flight
            .iter()
            .all(|(first, count)| first + count <= lba || end <= *first)
    }

    /// Records a command in flight on the range (reads too: a write may not overtake them).
    pub fn begin(&mut self, lba: u64, blocks: u64) {
        self.in_flight.push((lba, blocks));
    }

    /// Ends the in-flight record of the range.
    pub fn end(&mut self, lba: u64, blocks: u64) {
        if let Some(index) = self.in_flight.iter().position(|r| *r == (lba, blocks)) {
            self.in_flight.swap_remove(index);
        }
    }

    /// A write finished: on success the blocks must now hold `write_id` (checked against
    /// `media`); on failure their content is indeterminate.
    pub fn write_finished(
        &mut self,
        lba: u64,
        blocks: u64,
        write_id: u64,
        success: bool,
        media: Option<&SparseMedia>,
    ) -> Result<(), LedgerError> {
        self.end(lba, blocks);
        if self.blocks.len() + blocks as usize > MAX_TRACKED_BLOCKS {
            return Err(LedgerError::Full);
        }
        let expected = if success {
            Expected::Written(write_id)
        } else {
            Expected::Indeterminate
        };
        for block in lba..lba + blocks {
            self.blocks.insert(block, expected);
        }
        match (success, media) {
            (true, Some(media)) => self.check_media(media, lba, blocks),
            _ => Ok(()),
        }
    }

    /// A read finished with success and returned `data`: it must match the ledger.
    pub fn read_finished(
        &mut self,
        lba: u64,
        blocks: u64,
        data: &[u8],
        block_size: u32,
    ) -> Result<(), LedgerError> {
        self.end(lba, blocks);
        for (index, block) in data
            .chunks(block_size as usize)
            .take(blocks as usize)
            .enumerate()
        {
            let at = lba + index as u64;
            self.check_block(at, block)?;
        }
        Ok(())
    }

    /// Checks `blocks` blocks from `lba` on the media itself (a block never written reads as
    /// zeros).
    pub fn check_media(
        &self,
        media: &SparseMedia,
        lba: u64,
        blocks: u64,
    ) -> Result<(), LedgerError> {
        for at in lba..lba + blocks {
            let Ok(stored) = media.block(at) else {
                continue;
            };
            let block = stored.unwrap_or(&NEVER_WRITTEN[..media.block_size() as usize]);
            self.check_block(at, block).map_err(|error| match error {
                LedgerError::WrongData { lba, write_id } => {
                    LedgerError::LostWrite { lba, write_id }
                }
                other => other,
            })?;
        }
        Ok(())
    }

    /// Checks every block the ledger knows on the media (the end-of-run sweep).
    pub fn check_all(&self, media: &SparseMedia) -> Result<u64, LedgerError> {
        let mut checked = 0;
        for (at, expected) in &self.blocks {
            if let Expected::Written(write_id) = expected {
                let stored = media.block(*at).ok().flatten();
                if !stored.is_some_and(|block| pattern_matches(block, *at, *write_id, self.key)) {
                    return Err(LedgerError::LostWrite {
                        lba: *at,
                        write_id: *write_id,
                    });
                }
                checked += 1;
            }
        }
        Ok(checked)
    }

    fn check_block(&self, lba: u64, block: &[u8]) -> Result<(), LedgerError> {
        match self.blocks.get(&lba) {
            Some(Expected::Written(write_id)) => {
                if pattern_matches(block, lba, *write_id, self.key) {
                    Ok(())
                } else {
                    Err(LedgerError::WrongData {
                        lba,
                        write_id: *write_id,
                    })
                }
            }
            Some(Expected::Indeterminate) => Ok(()),
            None if is_zero(block) => Ok(()),
            None => Err(LedgerError::NotZero { lba }),
        }
    }

    pub fn tracked_blocks(&self) -> usize {
        self.blocks.len()
    }
}

/// Whether every byte is zero, a word at a time without an early exit (so it vectorizes).
fn is_zero(block: &[u8]) -> bool {
    let words = block.chunks_exact(8);
    let tail = words.remainder();
    let ored = words.fold(0u64, |acc, chunk| {
        acc | u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]))
    });
    ored == 0 && tail.iter().all(|b| *b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::pattern::fill_pattern;

    #[test]
    fn successful_writes_must_be_on_the_media() {
        let mut media = SparseMedia::new(512, 1000, 1 << 20).unwrap();
        let mut ledger = WriteLedger::new(5);
        let mut data = vec![0u8; 1024];
        fill_pattern(&mut data, 512, 10, 1, 5);
        ledger.begin(10, 2);
        assert!(!ledger.may_issue(11, 4));
        assert!(ledger.may_issue(12, 4));
        media.write(10, 2, &data).unwrap();
        ledger.write_finished(10, 2, 1, true, Some(&media)).unwrap();
        assert!(ledger.may_issue(11, 4));
        assert_eq!(ledger.check_all(&media), Ok(2));
        ledger.read_finished(10, 2, &data, 512).unwrap();
        // A write reported as success that never reached the media is caught.
        assert_eq!(
            ledger.write_finished(20, 1, 2, true, Some(&media)),
            Err(LedgerError::LostWrite {
                lba: 20,
                write_id: 2
            })
        );
        assert_eq!(
            ledger.check_all(&media),
            Err(LedgerError::LostWrite {
                lba: 20,
                write_id: 2
            })
        );
    }

    #[test]
    fn failed_writes_are_indeterminate_and_reads_are_checked() {
        let media = SparseMedia::new(512, 1000, 1 << 20).unwrap();
        let mut ledger = WriteLedger::new(5);
        ledger.write_finished(0, 1, 9, false, Some(&media)).unwrap();
        ledger.read_finished(0, 1, &[7u8; 512], 512).unwrap();
        assert_eq!(
            ledger.read_finished(1, 1, &[7u8; 512], 512),
            Err(LedgerError::NotZero { lba: 1 })
        );
        let mut data = vec![0u8; 512];
        fill_pattern(&mut data, 512, 2, 3, 5);
        ledger.write_finished(2, 1, 4, true, None).unwrap();
        assert_eq!(
            ledger.read_finished(2, 1, &data, 512),
            Err(LedgerError::WrongData {
                lba: 2,
                write_id: 4
            })
        );
    }
}

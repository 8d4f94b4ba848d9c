//! Sparse RAM behind a logical unit: fixed-size chunks allocated on first write, so a 1 TiB
//! LUN costs nothing until written; unwritten blocks read as zeros. Owns bytes and their
//! bounds, never SCSI semantics (the executor turns its errors into sense data).

use thiserror::Error;

use crate::chunk_map::ChunkMap;

/// Bytes per allocation unit: one page, so a LUN that was written a few blocks holds a few
/// pages, not 64 KiB each (the map's per-chunk cost is about 30 bytes).
pub const CHUNK_BYTES: usize = 4096;

/// Block sizes a simulated LUN can have.
pub const SUPPORTED_BLOCK_SIZES: [u32; 2] = [512, 4096];

const _: () = assert!(
    CHUNK_BYTES % 4096 == 0,
    "every block size divides the chunk size"
);

/// The most blocks a LUN can have: capacities stay below 2^63 bytes for any block size.
pub const MAX_BLOCK_COUNT: u64 = 1 << 50;

/// Why a media access could not be done.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum MediaError {
    #[error("blocks {lba}+{count} lie beyond the last block {last_lba}")]
    OutOfRange { lba: u64, count: u64, last_lba: u64 },
    #[error("buffer of {actual} bytes, {expected} expected")]
    BufferLength { expected: usize, actual: usize },
    #[error("the RAM budget of {limit_bytes} bytes for this LUN is used up")]
    OutOfMemory { limit_bytes: u64 },
}

/// Why a media geometry was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
pub enum GeometryError {
    #[error("block size {0} is not supported (512 or 4096)")]
    BlockSize(u32),
    #[error("block count {0} is zero or larger than {MAX_BLOCK_COUNT}")]
    BlockCount(u64),
}

/// The storage of one logical unit.
#[derive(Debug)]
pub struct SparseMedia {
    block_size: u32,
    block_count: u64,
    chunks: ChunkMap,
    max_chunks: usize,
}

impl SparseMedia {
    /// Media of `block_count` blocks of `block_size` bytes that may hold at most
    /// `ram_limit_bytes` of written data (rounded down to whole chunks, at least one).
    pub fn new(
        block_size: u32,
        block_count: u64,
        ram_limit_bytes: u64,
    ) -> Result<Self, GeometryError> {
        if !SUPPORTED_BLOCK_SIZES.contains(&block_size) {
            return Err(GeometryError::BlockSize(block_size));
        }
        if block_count == 0 || block_count > MAX_BLOCK_COUNT {
            return Err(GeometryError::BlockCount(block_count));
        }
        let max_chunks = usize::try_from(ram_limit_bytes / CHUNK_BYTES as u64)
            .unwrap_or(usize::MAX)
            .max(1);
        Ok(SparseMedia {
            block_size,
            block_count,
            chunks: ChunkMap::default(),
            max_chunks,
        })
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    pub fn block_count(&self) -> u64 {
        self.block_count
    }

    /// Bytes of RAM held by written chunks.
    pub fn allocated_bytes(&self) -> u64 {
        self.chunks.len() as u64 * CHUNK_BYTES as u64
    }

    /// Checks that `count` blocks from `lba` lie on the media.
    pub fn check_range(&self, lba: u64, count: u64) -> Result<(), MediaError> {
        let end = lba.checked_add(count);
        match end {
            Some(end) if end <= self.block_count => Ok(()),
            _ => Err(MediaError::OutOfRange {
                lba,
                count,
                last_lba: self.block_count - 1,
            }),
        }
    }

    /// Copies `count` blocks from `lba` into `out` (which must be exactly that long).
    pub fn read(&self, lba: u64, count: u64, out: &mut [u8]) -> Result<(), MediaError> {
        let (start, length) = self.byte_range(lba, count, out.len())?;
        let mut done = 0;
        while done < length {
            let offset = start + done as u64;
            let chunk_index = offset / CHUNK_BYTES as u64;
            let within = (offset % CHUNK_BYTES as u64) as usize;
            let take = (CHUNK_BYTES - within).min(length - done);
            let target = out
                .get_mut(done..done + take)
                .ok_or(MediaError::BufferLength {
                    expected: length,
                    actual: done + take,
                })?;
            match self
                .chunks
                .get(chunk_index)
                .and_then(|c| c.get(within..within + take))
            {
                Some(source) => target.copy_from_slice(source),
                None => target.fill(0),
            }
            done += take;
        }
        Ok(())
    }

    /// The stored bytes of block `lba`, or `None` when it was never written (it reads as
    /// zeros). No copy: the write checker looks at the media itself. A block never
    /// straddles two chunks (block sizes divide the chunk size).
    pub fn block(&self, lba: u64) -> Result<Option<&[u8]>, MediaError> {
        self.check_range(lba, 1)?;
        let offset = lba * self.block_size as u64;
        let within = (offset % CHUNK_BYTES as u64) as usize;
        Ok(self
            .chunks
            .get(offset / CHUNK_BYTES as u64)
            .and_then(|chunk| chunk.get(within..within + self.block_size as usize)))
    }

    /// The stored bytes from block `lba` to the end of its chunk or of `count` blocks,
    /// whichever comes first; `None` when that chunk was never written or the range is off
    /// the media. For warming caches ahead of an access, so it never fails loudly.
    pub fn held_bytes(&self, lba: u64, count: u64) -> Option<&[u8]> {
        self.check_range(lba, count).ok()?;
        let offset = lba.checked_mul(self.block_size as u64)?;
        let within = (offset % CHUNK_BYTES as u64) as usize;
        let length = usize::try_from(count.saturating_mul(self.block_size as u64)).ok()?;
        let end = within.saturating_add(length).min(CHUNK_BYTES);
        self.chunks
            .get(offset / CHUNK_BYTES as u64)?
            .get(within..end)
    }

    /// Appends `count` blocks from `lba` to `out` (no zero-fill of the copy's destination).
    pub fn read_append(&self, lba: u64, count: u64, out: &mut Vec<u8>) -> Result<(), MediaError> {
        self.check_range(lba, count)?;
        let length =
            usize::try_from(count.saturating_mul(self.block_size as u64)).map_err(|_| {
                MediaError::BufferLength {
                    expected: usize::MAX,
                    actual: out.len(),
                }
            })?;
        let start = lba * self.block_size as u64;
        let mut done = 0;
        while done < length {
            let offset = start + done as u64;
            let chunk_index = offset / CHUNK_BYTES as u64;
            let within = (offset % CHUNK_BYTES as u64) as usize;
            let take = (CHUNK_BYTES - within).min(length - done);
            match self
                .chunks
                .get(chunk_index)
                .and_then(|c| c.get(within..within + take))
            {
                Some(source) => out.extend_from_slice(source),
                None => out.resize(out.len() + take, 0),
            }
            done += take;
        }
        Ok(())
    }

    /// Stores `data` (exactly `count` blocks) at `lba`. All-or-nothing: when the RAM budget
    /// would be exceeded nothing is written.
    pub fn write(&mut self, lba: u64, count: u64, data: &[u8]) -> Result<(), MediaError> {
        let (start, length) = self.byte_range(lba, count, data.len())?;
        self.reserve_chunks(start, length)?;
        let mut done = 0;
        while done < length {
            let offset = start + done as u64;
            let chunk_index = offset / CHUNK_BYTES as u64;
            let within = (offset % CHUNK_BYTES as u64) as usize;
            let take = (CHUNK_BYTES - within).min(length - done);
            let chunk = self.chunks.get_or_zeroed(chunk_index);
            if let (Some(target), Some(source)) = (
                chunk.get_mut(within..within + take),
                data.get(done..done + take),
            ) {
                target.copy_from_slice(source);
            }
            done += take;
        }
        Ok(())
    }

    /// Deallocates `count` blocks from `lba` (thin provisioning's unmap): chunks wholly
    /// inside the range are freed, the edges of partly covered chunks are zeroed. The
    /// blocks read as zeros afterwards either way.
    pub fn deallocate(&mut self, lba: u64, count: u64) -> Result<(), MediaError> {
        self.check_range(lba, count)?;
        if count == 0 {
            return Ok(());
        }
        let chunk = CHUNK_BYTES as u64;
        let start = lba * self.block_size as u64;
        let end = (lba + count) * self.block_size as u64;
        let first_whole = start.div_ceil(chunk);
        let last_whole = end / chunk;
        let freed: Vec<u64> = self
            .chunks
            .indexes_from(first_whole)
            .take_while(|index| *index < last_whole)
            .collect();
        for index in freed {
            self.chunks.remove(index);
        }
        for (from, to) in [
            (start, (first_whole * chunk).min(end)),
            ((last_whole * chunk).max(start), end),
        ] {
            if from >= to {
                continue;
            }
            if let Some(data) = self.chunks.get_mut(from / chunk) {
                let within = (from % chunk) as usize;
                data[within..within + (to - from) as usize].fill(0);
            }
        }
        Ok(())
    }

    /// Whether block `lba` is mapped (holds written data) and how many blocks from `lba`
    /// on, at most `limit`, share that state; mapping is tracked per chunk.
    pub fn mapping(&self, lba: u64, limit: u64) -> Result<(bool, u64), MediaError> {
        self.check_range(lba, 1)?;
        let chunk = CHUNK_BYTES as u64;
        let blocks_per_chunk = chunk / self.block_size as u64;
        let first = lba * self.block_size as u64 / chunk;
        let limit_chunks = limit.div_ceil(blocks_per_chunk).saturating_add(1);
        let mapped = self.chunks.contains(first);
        let run_chunks = if mapped {
            let mut next = first;
            for index in self.chunks.indexes_from(first) {
                if index != next || next - first >= limit_chunks {
                    break;
                }
                next += 1;
            }
            next - first
        } else {
            let next_mapped = self.chunks.indexes_from(first).next();
            next_mapped.map_or(limit_chunks, |index| index - first)
        };
        let end_block = (first + run_chunks).saturating_mul(blocks_per_chunk);
        let blocks = end_block
            .min(self.block_count)
            .saturating_sub(lba)
            .clamp(1, limit.max(1));
        Ok((mapped, blocks))
    }

    /// Drops every written chunk (the media reads as zeros again).
    pub fn clear(&mut self) {
        self.chunks.clear();
    }

    fn byte_range(&self, lba: u64, count: u64, buffer: usize) -> Result<(u64, usize), MediaError> {
        self.check_range(lba, count)?;
        let expected = count.saturating_mul(self.block_size as u64);
        if expected != buffer as u64 {
            return Err(MediaError::BufferLength {
                expected: usize::try_from(expected).unwrap_or(usize::MAX),
                actual: buffer,
            });
        }
        Ok((lba * self.block_size as u64, buffer))
    }

    fn reserve_chunks(&self, start: u64, length: usize) -> Result<(), MediaError> {
        if length == 0 {
            return Ok(());
        }
        let first = start / CHUNK_BYTES as u64;
        let last = (start + length as u64 - 1) / CHUNK_BYTES as u64;
        let missing = (first..=last)
            .filter(|index| !self.chunks.contains(*index))
            .count();
        if self.chunks.len() + missing > self.max_chunks {
            return Err(MediaError::OutOfMemory {
                limit_bytes: self.max_chunks as u64 * CHUNK_BYTES as u64,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIB: u64 = 1 << 40;

    #[test]
    fn a_terabyte_costs_nothing_until_written() {
        let mut media = SparseMedia::new(512, TIB / 512, 1 << 30).unwrap();
        assert_eq!(media.allocated_bytes(), 0);
        let mut out = vec![0xffu8; 4096];
        media.read(TIB / 512 - 8, 8, &mut out).unwrap();
        assert!(out.iter().all(|b| *b == 0));
        media.write(12344, 8, &[7u8; 4096]).unwrap();
        assert_eq!(media.allocated_bytes(), CHUNK_BYTES as u64);
        media.write(12345, 8, &[7u8; 4096]).unwrap();
        assert_eq!(media.allocated_bytes(), 2 * CHUNK_BYTES as u64);
        media.read(12345, 8, &mut out).unwrap();
        assert!(out.iter().all(|b| *b == 7));
        let mut appended = vec![1u8];
        media.read_append(12343, 2, &mut appended).unwrap();
        assert_eq!(appended.len(), 1 + 1024);
        assert!(appended[1..513].iter().all(|b| *b == 0));
        assert!(appended[513..].iter().all(|b| *b == 7));
    }

    #[test]
    fn writes_across_a_chunk_boundary_read_back() {
        let mut media = SparseMedia::new(4096, 1000, 1 << 30).unwrap();
        let lba = 3 * (CHUNK_BYTES / 4096) as u64 - 1;
        let data: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
        media.write(lba, 2, &data).unwrap();
        assert_eq!(media.allocated_bytes(), 2 * CHUNK_BYTES as u64);
        let mut out = vec![0u8; 8192];
        media.read(lba, 2, &mut out).unwrap();
        assert_eq!(out, data);
        let mut before = vec![1u8; 4096];
        media.read(lba - 1, 1, &mut before).unwrap();
        assert!(before.iter().all(|b| *b == 0));
    }

    #[test]
    fn out_of_range_and_wrong_buffers_are_refused() {
        let mut media = SparseMedia::new(512, 100, 1 << 20).unwrap();
        assert!(matches!(
            media.read(99, 2, &mut [0u8; 1024]),
            Err(MediaError::OutOfRange { last_lba: 99, .. })
        ));
        assert!(matches!(
            media.write(u64::MAX, 2, &[0u8; 1024]),
            Err(MediaError::OutOfRange { .. })
        ));
        assert!(matches!(
            media.write(0, 2, &[0u8; 512]),
            Err(MediaError::BufferLength { .. })
        ));
        assert!(SparseMedia::new(1024, 10, 0).is_err());
        assert!(SparseMedia::new(512, 0, 0).is_err());
    }

    #[test]
    fn deallocation_frees_whole_chunks_zeroes_edges_and_shows_in_the_mapping() {
        let per_chunk = (CHUNK_BYTES / 512) as u64;
        let mut media = SparseMedia::new(512, 1 << 20, 1 << 30).unwrap();
        media
            .write(0, 4 * per_chunk, &vec![7u8; 4 * CHUNK_BYTES])
            .unwrap();
        assert_eq!(media.mapping(0, 1000).unwrap(), (true, 4 * per_chunk));
        assert_eq!(media.mapping(per_chunk, 2).unwrap(), (true, 2));
        media.deallocate(1, 2 * per_chunk).unwrap();
        assert_eq!(media.allocated_bytes(), 3 * CHUNK_BYTES as u64);
        let mut out = vec![9u8; 3 * CHUNK_BYTES];
        media.read(0, 3 * per_chunk, &mut out).unwrap();
        assert_eq!(out[..512], [7u8; 512]);
        assert!(out[512..(2 * per_chunk + 1) as usize * 512]
            .iter()
            .all(|b| *b == 0));
        assert_eq!(out[(2 * per_chunk + 1) as usize * 512], 7);
        assert_eq!(media.mapping(per_chunk, 100).unwrap(), (false, per_chunk));
        assert_eq!(media.mapping(100 * per_chunk, 50).unwrap(), (false, 50));
        assert!(media.deallocate((1 << 20) - 1, 2).is_err());
    }

    #[test]
    fn the_ram_budget_is_enforced_all_or_nothing() {
        let mut media = SparseMedia::new(512, 1 << 20, CHUNK_BYTES as u64).unwrap();
        media.write(0, 1, &[1u8; 512]).unwrap();
        let far = (CHUNK_BYTES as u64 / 512) * 10;
        assert!(matches!(
            media.write(far, 1, &[2u8; 512]),
            Err(MediaError::OutOfMemory { .. })
        ));
        let mut out = [9u8; 512];
        media.read(far, 1, &mut out).unwrap();
        assert_eq!(out, [0u8; 512]);
        media.write(1, 1, &[3u8; 512]).unwrap();
    }
}

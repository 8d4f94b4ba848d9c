//! The written chunks of one logical unit's media by chunk index: the first
//! [`INLINE_CHUNKS`] in the map itself, a table indexed directly up to [`DENSE_CHUNKS`],
//! an ordered map above. A lookup below [`DENSE_CHUNKS`] reads one word (at 4096 LUNs,
//! the B-tree walk it replaces read two or three cold nodes on every media access); the
//! table grows only to the highest chunk written in its range, 8 bytes per chunk (2 KiB at
//! most). The inline part (the first 64 KiB of a LUN, 128 bytes in the unit's record)
//! sits in the array of units, which a run walks in order (the host dispatches its devices
//! round robin): at 4096 LUNs a separately allocated table was a random DRAM miss on
//! every access.

use std::collections::BTreeMap;

use crate::media::CHUNK_BYTES;

/// Chunks (from index 0) held in the map itself: the first 64 KiB of a LUN.
pub const INLINE_CHUNKS: u64 = 16;

/// Chunks (from index 0) reached without a search: the first 1 MiB of a LUN.
pub const DENSE_CHUNKS: u64 = 256;

/// One chunk of data.
pub type Chunk = Box<[u8; CHUNK_BYTES]>;

/// Chunk index → chunk.
#[derive(Debug, Default)]
pub struct ChunkMap {
    /// Chunk `i` (below [`INLINE_CHUNKS`]) at `inline[i]`.
    inline: [Option<Chunk>; INLINE_CHUNKS as usize],
    /// Chunk `i` (from [`INLINE_CHUNKS`], below [`DENSE_CHUNKS`]) at
    /// `dense[i - INLINE_CHUNKS]`.
    dense: Vec<Option<Chunk>>,
    sparse: BTreeMap<u64, Chunk>,
    len: usize,
}

impl ChunkMap {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, index: u64) -> Option<&Chunk> {
        if index < INLINE_CHUNKS {
            return self.inline[index as usize].as_ref();
        }
        match index < DENSE_CHUNKS {
            true => self.dense.get((index - INLINE_CHUNKS) as usize)?.as_ref(),
            false => self.sparse.get(&index),
        }
    }

    pub fn get_mut(&mut self, index: u64) -> Option<&mut Chunk> {
        if index < INLINE_CHUNKS {
            return self.inline[index as usize].as_mut();
        }
        match index < DENSE_CHUNKS {
            true => self
                .dense
                .get_mut((index - INLINE_CHUNKS) as usize)?
                .as_mut(),
            false => self.sparse.get_mut(&index),
        }
    }

    pub fn contains(&self, index: u64) -> bool {
        self.get(index).is_some()
    }

    /// Chunk `index`, allocated (zeros) when it was not held.
    pub fn get_or_zeroed(&mut self, index: u64) -> &mut Chunk {
        let slot = match index {
            _ if index < INLINE_CHUNKS => &mut self.inline[index as usize],
            _ if index < DENSE_CHUNKS => {
                let at = (index - INLINE_CHUNKS) as usize;
                if self.dense.len() <= at {
                    self.dense.resize_with(at + 1, || None);
                }
                &mut self.dense[at]
            }
            _ => {
                let mut added = false;
                let chunk = self.sparse.entry(index).or_insert_with(|| {
                    added = true;
                    zeroed()
                });
                self.len += usize::from(added);
                return chunk;
            }
        };
        self.len += usize::from(slot.is_none());
        slot.get_or_insert_with(zeroed)
    }

    pub fn remove(&mut self, index: u64) -> Option<Chunk> {
        let removed = match index {
            _ if index < INLINE_CHUNKS => self.inline[index as usize].take(),
            _ if index < DENSE_CHUNKS => {
                self.dense.get_mut((index - INLINE_CHUNKS) as usize)?.take()
            }
            _ => self.sparse.remove(&index),
        };
        self.len -= usize::from(removed.is_some());
        removed
    }

    /// The indexes of the chunks held from `first` on, ascending.
    pub fn indexes_from(&self, first: u64) -> impl Iterator<Item = u64> + '_ {
        let inline_from = first.min(INLINE_CHUNKS) as usize;
        let inline = self.inline[inline_from..]
            .iter()
            .enumerate()
            .filter(|(_, chunk)| chunk.is_some())
            .map(move |(offset, _)| (inline_from + offset) as u64);
        let dense_from = first
            .saturating_sub(INLINE_CHUNKS)
            .min(self.dense.len() as u64) as usize;
        let dense = self.dense[dense_from..]
            .iter()
            .enumerate()
            .filter(|(_, chunk)| chunk.is_some())
            .map(move |(offset, _)| INLINE_CHUNKS + (dense_from + offset) as u64);
        let sparse = self
            .sparse
            .range(first.max(DENSE_CHUNKS)..)
            .map(|(i, _)| *i);
        inline.chain(dense).chain(sparse)
    }

    pub fn clear(&mut self) {
        self.inline = Default::default();
        self.dense = Vec::new();
        self.sparse.clear();
        self.len = 0;
    }
}

fn zeroed() -> Chunk {
    let chunk = vec![0u8; CHUNK_BYTES].into_boxed_slice();
    match chunk.try_into() {
        Ok(chunk) => chunk,
        Err(_) => unreachable!("a vector of CHUNK_BYTES bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn behaves_like_an_ordered_map_on_both_sides_of_the_table() {
        let mut map = ChunkMap::default();
        let mut model = BTreeMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for step in 0..4000u64 {
            let state: u64 = rng.gen();
            let index = match state >> 62 {
                0 => state >> 40 & 1023,
                1 if state & 1 == 0 => INLINE_CHUNKS - 2 + (state >> 50 & 3),
                1 => DENSE_CHUNKS - 2 + (state >> 50 & 3),
                _ => state >> 56,
            };
            match (state >> 33) % 3 {
                0 => assert_eq!(map.remove(index).is_some(), model.remove(&index).is_some()),
                _ => {
                    map.get_or_zeroed(index)[0] = step as u8;
                    model.insert(index, step as u8);
                }
            }
            assert_eq!(map.len(), model.len());
            assert_eq!(map.get(index).map(|c| c[0]), model.get(&index).copied());
            let from = state >> 20 & 511;
            let got: Vec<u64> = map.indexes_from(from).collect();
            let want: Vec<u64> = model.range(from..).map(|(i, _)| *i).collect();
            assert_eq!(got, want, "from {from}");
        }
        map.clear();
        assert_eq!((map.len(), map.indexes_from(0).count()), (0, 0));
    }
}

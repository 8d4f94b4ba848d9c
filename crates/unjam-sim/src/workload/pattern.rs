//! Block data patterns: every block a workload writes is filled from (key, LBA, write id),
//! so a reader can check a block without keeping a copy. Zeros mean "never written".

/// Fills `buffer` (whole blocks of `block_size`) for the blocks from `lba` written by write
/// `write_id` on the logical unit `key`.
pub fn fill_pattern(buffer: &mut [u8], block_size: u32, lba: u64, write_id: u64, key: u64) {
    for (index, block) in buffer.chunks_mut(block_size.max(16) as usize).enumerate() {
        fill_block(block, lba + index as u64, write_id, key);
    }
}

/// Whether `block` holds what write `write_id` put at `lba` on unit `key`. Folds every
/// word's difference into one value, without an early exit, so the loop vectorizes (this
/// runs for every block a verified read or write touches).
pub fn pattern_matches(block: &[u8], lba: u64, write_id: u64, key: u64) -> bool {
    let (Some(header), Some(body)) = (block.get(..16), block.get(16..)) else {
        return false;
    };
    if word_at(header, 0) != lba || word_at(header, 8) != write_id {
        return false;
    }
    let base = seed(lba, write_id, key);
    let mut words = body.chunks_exact(8);
    let difference = words
        .by_ref()
        .enumerate()
        .fold(0u64, |acc, (index, chunk)| {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            acc | (word ^ body_word(base, index))
        });
    let tail = words.remainder();
    let last = body_word(base, body.len() / 8).to_le_bytes();
    difference == 0 && tail == &last[..tail.len()]
}

fn fill_block(block: &mut [u8], lba: u64, write_id: u64, key: u64) {
    if let Some(header) = block.get_mut(0..8) {
        header.copy_from_slice(&lba.to_le_bytes());
    }
    if let Some(header) = block.get_mut(8..16) {
        header.copy_from_slice(&write_id.to_le_bytes());
    }
    let base = seed(lba, write_id, key);
    if let Some(body) = block.get_mut(16..) {
        let whole = body.len() / 8;
        let mut words = body.chunks_exact_mut(8);
        for (index, chunk) in words.by_ref().enumerate() {
            chunk.copy_from_slice(&body_word(base, index).to_le_bytes());
        }
        let tail = words.into_remainder();
        let word = body_word(base, whole).to_le_bytes();
        tail.copy_from_slice(&word[..tail.len()]);
    }
}

/// Word `index` of a block body: distinct per (LU, LBA, write) through `base`, and per
/// position through the index, so a torn, shifted or stale block does not match.
fn body_word(base: u64, index: usize) -> u64 {
    base ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The little-endian word at `offset` (the caller passes at least 8 bytes from there).
fn word_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(source) = bytes.get(offset..offset + 8) {
        word.copy_from_slice(source);
    }
    u64::from_le_bytes(word)
}

fn seed(lba: u64, write_id: u64, key: u64) -> u64 {
    crate::identity::mix(lba ^ crate::identity::mix(write_id ^ crate::identity::mix(key))) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_verify_and_differ() {
        let mut buffer = vec![0u8; 4096 * 2];
        fill_pattern(&mut buffer, 4096, 10, 7, 3);
        assert!(pattern_matches(&buffer[..4096], 10, 7, 3));
        assert!(pattern_matches(&buffer[4096..], 11, 7, 3));
        assert!(!pattern_matches(&buffer[..4096], 10, 8, 3), "another write");
        assert!(!pattern_matches(&buffer[..4096], 11, 7, 3), "another block");
        assert!(!pattern_matches(&buffer[..4096], 10, 7, 4), "another unit");
        let mut torn = buffer[..4096].to_vec();
        torn[4000] ^= 1;
        assert!(!pattern_matches(&torn, 10, 7, 3));
        assert!(
            !pattern_matches(&[0u8; 512], 0, 1, 3),
            "zeros are never a written block"
        );
    }
}

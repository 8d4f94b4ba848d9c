//! Block data patterns: every block a workload writes is filled from (key, LBA, write id),
//! so a reader can check a block without keeping a copy. Zeros mean "never written".

/// Fills `buffer` (whole blocks of `block_size`) for the blocks from `lba` written by write
/// `write_id` on the logical unit `key`.
pub fn fill_pattern(buffer: &mut [u8], block_size: u32, lba: u64, write_id: u64, key: u64) {
    for (index, block) in buffer.chunks_mut(block_size.max(16) as usize).enumerate() {
        fill_block(block, lba + index as u64, write_id, key);
    }
}

/// Whether `block` holds what write `write_id` put at `lba` on unit `key`.
pub fn pattern_matches(block: &[u8], lba: u64, write_id: u64, key: u64) -> bool {
    let mut state = seed(lba, write_id, key);
    if block.get(0..8) != Some(&lba.to_le_bytes()[..]) {
        return false;
    }
    if block.get(8..16) != Some(&write_id.to_le_bytes()[..]) {
        return false;
    }
    block.get(16..).unwrap_or(&[]).chunks(8).all(|chunk| {
        let word = next(&mut state).to_le_bytes();
        chunk == &word[..chunk.len()]
    })
}

fn fill_block(block: &mut [u8], lba: u64, write_id: u64, key: u64) {
    let mut state = seed(lba, write_id, key);
    if let Some(header) = block.get_mut(0..8) {
        header.copy_from_slice(&lba.to_le_bytes());
    }
    if let Some(header) = block.get_mut(8..16) {
        header.copy_from_slice(&write_id.to_le_bytes());
    }
    if let Some(body) = block.get_mut(16..) {
        for chunk in body.chunks_mut(8) {
            let word = next(&mut state).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

fn seed(lba: u64, write_id: u64, key: u64) -> u64 {
    crate::identity::mix(lba ^ crate::identity::mix(write_id ^ crate::identity::mix(key))) | 1
}

/// xorshift64*: fast, and good enough to make every block distinct.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
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

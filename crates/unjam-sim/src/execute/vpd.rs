//! The SBC vital product data pages: Block Limits (B0h), Block Device Characteristics (B1h)
//! and Logical Block Provisioning (B2h). Each writes its page into the caller's buffer and
//! returns its length.
//!
//! Owns the page layouts (SBC-3 §6.6); the limits come from the commands they describe.

use super::block::{MAX_ATOMIC_BLOCKS, MAX_COMPARE_AND_WRITE_BLOCKS, MAX_WRITE_SAME_BLOCKS};
use super::provisioning::{MAX_UNMAP_BLOCKS, MAX_UNMAP_DESCRIPTORS};
use super::MAX_TRANSFER_BYTES;
use crate::logical_unit::LogicalUnit;
use crate::media::CHUNK_BYTES;

pub(super) fn page(unit: &LogicalUnit, code: u8, out: &mut [u8; 64]) -> Option<usize> {
    match code {
        0xb0 => Some(block_limits(unit, out)),
        0xb1 => Some(characteristics(out)),
        0xb2 => Some(provisioning(out)),
        _ => None,
    }
}

fn put32(out: &mut [u8], at: usize, value: u64) {
    let value = u32::try_from(value).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn block_limits(unit: &LogicalUnit, out: &mut [u8; 64]) -> usize {
    let block_size = u64::from(unit.media.block_size());
    let max_blocks = MAX_TRANSFER_BYTES as u64 / block_size;
    let granularity = (CHUNK_BYTES as u64 / block_size).max(1);
    out[1] = 0xb0;
    out[3] = 0x3c;
    out[5] = MAX_COMPARE_AND_WRITE_BLOCKS as u8;
    out[6..8].copy_from_slice(&1u16.to_be_bytes());
    put32(out, 8, max_blocks);
    // Optimal transfer length: not reported. Linux's sd caps its request size at this value
    // when it is set, so a small one splits every larger I/O a real guest sends.
    put32(out, 12, 0);
    put32(out, 16, max_blocks);
    put32(out, 20, MAX_UNMAP_BLOCKS);
    put32(out, 24, MAX_UNMAP_DESCRIPTORS as u64);
    put32(out, 28, granularity);
    put32(out, 32, 0x8000_0000);
    out[36..44].copy_from_slice(&MAX_WRITE_SAME_BLOCKS.to_be_bytes());
    put32(out, 44, MAX_ATOMIC_BLOCKS);
    put32(out, 48, 1);
    put32(out, 52, 1);
    64
}

/// Non-rotating medium, no nominal form factor.
fn characteristics(out: &mut [u8; 64]) -> usize {
    out[1] = 0xb1;
    out[3] = 0x3c;
    out[5] = 0x01;
    64
}

/// Thin provisioning with UNMAP, WRITE SAME(16) and (10) with UNMAP, and zeros read from
/// unmapped blocks.
fn provisioning(out: &mut [u8; 64]) -> usize {
    out[1] = 0xb2;
    out[3] = 0x04;
    out[5] = 0x80 | 0x40 | 0x20 | 0x04;
    out[6] = 0x02;
    8
}

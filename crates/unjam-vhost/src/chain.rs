//! Descriptor chains and guest memory: a chain becomes owned bytes (everything the device
//! may read: header, CDB, data-out) plus the list of device-writable regions; an answer is
//! written back into those regions later, from another thread, through the guest memory
//! current at that moment.
//!
//! Owns the bounds on what a chain may hold. A chain that is malformed (an address outside
//! guest memory, too many descriptors, more bytes than the bounds allow) is an error for
//! that request only.

use std::ops::Deref;

use thiserror::Error;
use virtio_queue::DescriptorChain;
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};

/// The most device-readable bytes a request may carry: the header and 32 MiB of data-out
/// (QEMU's default max_sectors is 0xffff sectors of 512 bytes).
pub const MAX_READABLE_BYTES: usize = 64 + (0xffff * 512);
/// The most device-writable bytes a request may offer (response header and data-in).
pub const MAX_WRITABLE_BYTES: usize = 4096 + (0xffff * 512);
/// The most descriptors one request may use on either side.
pub const MAX_REGIONS: usize = 1024;

/// Why a chain cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ChainError {
    #[error("the device-readable part is longer than {MAX_READABLE_BYTES} bytes")]
    ReadableTooLong,
    #[error("the device-writable part is longer than {MAX_WRITABLE_BYTES} bytes")]
    WritableTooLong,
    #[error("more than {MAX_REGIONS} descriptors")]
    TooManyDescriptors,
    #[error("a descriptor at {0:#x} is outside guest memory")]
    OutsideMemory(u64),
}

/// One device-writable descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub address: u64,
    pub len: u32,
}

/// A request taken off a ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenChain {
    pub head: u16,
    pub readable: Vec<u8>,
    pub writable: Vec<Region>,
}

impl TakenChain {
    pub fn writable_len(&self) -> usize {
        self.writable.iter().map(|r| r.len as usize).sum()
    }
}

/// Reads `chain`: its readable bytes are copied out, its writable descriptors listed.
pub fn take<M>(chain: DescriptorChain<M>) -> Result<TakenChain, ChainError>
where
    M: Deref + Clone,
    M::Target: GuestMemory,
{
    let head = chain.head_index();
    let memory = chain.clone();
    let memory = memory.memory();
    let mut readable = Vec::new();
    let mut writable = Vec::new();
    let mut writable_len = 0usize;
    for (count, descriptor) in chain.enumerate() {
        if count >= MAX_REGIONS * 2 {
            return Err(ChainError::TooManyDescriptors);
        }
        let len = descriptor.len() as usize;
        if descriptor.is_write_only() {
            writable_len = writable_len.saturating_add(len);
            if writable_len > MAX_WRITABLE_BYTES {
                return Err(ChainError::WritableTooLong);
            }
            if writable.len() >= MAX_REGIONS {
                return Err(ChainError::TooManyDescriptors);
            }
            if !memory.check_range(descriptor.addr(), len, Permissions::Write) {
                return Err(ChainError::OutsideMemory(descriptor.addr().0));
            }
            writable.push(Region {
                address: descriptor.addr().0,
                len: descriptor.len(),
            });
        } else {
            let start = readable.len();
            if start.saturating_add(len) > MAX_READABLE_BYTES {
                return Err(ChainError::ReadableTooLong);
            }
            readable.resize(start + len, 0);
            memory
                .read_slice(&mut readable[start..], descriptor.addr())
                .map_err(|_| ChainError::OutsideMemory(descriptor.addr().0))?;
        }
    }
    Ok(TakenChain {
        head,
        readable,
        writable,
    })
}

/// Writes `bytes` across `regions` in order; returns how many bytes were written (the used
/// length). Stops at the first region outside guest memory.
pub fn write_back<G: GuestMemory + ?Sized>(memory: &G, regions: &[Region], bytes: &[u8]) -> u32 {
    let mut written = 0usize;
    for region in regions {
        let rest = &bytes[written..];
        if rest.is_empty() {
            break;
        }
        let part = &rest[..rest.len().min(region.len as usize)];
        if memory
            .write_slice(part, GuestAddress(region.address))
            .is_err()
        {
            tracing::warn!(
                "answer region at {:#x} is outside guest memory",
                region.address
            );
            break;
        }
        written += part.len();
    }
    u32::try_from(written).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    fn memory() -> GuestMemoryMmap<()> {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn write_back_spans_regions_and_stops_outside_memory() {
        let memory = memory();
        let regions = [
            Region {
                address: 0x100,
                len: 4,
            },
            Region {
                address: 0x200,
                len: 8,
            },
        ];
        assert_eq!(write_back(&memory, &regions, &[1, 2, 3, 4, 5, 6]), 6);
        let mut read = [0u8; 2];
        memory
            .read_slice(&mut read, GuestAddress(0x200))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, [5, 6]);
        let outside = [Region {
            address: 0x20000,
            len: 8,
        }];
        assert_eq!(write_back(&memory, &outside, &[1, 2]), 0);
    }
}

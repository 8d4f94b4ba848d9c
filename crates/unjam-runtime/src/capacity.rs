//! A logical unit's size from READ CAPACITY(16), run through the core, and the checks that
//! make it usable for I/O: a block length of 0 (or one no transfer could carry) is a device
//! error, never the start of a READ with transfer length 0.
//!
//! Owns the usability rules of a capacity; building and parsing the CDB and its data is
//! `unjam-scsi`'s.

use unjam_core::request::{BlockInfo, BlockOp};
use unjam_iscsi::session::DataDirection;
use unjam_scsi::cdb::response::ReadCapacity16Data;
use unjam_scsi::cdb::ReadCapacity16;
use unjam_scsi::BlkStatus;

use crate::disk::{Disk, DiskError};

/// Largest logical block length accepted (SBC allows any; nothing real exceeds 64 KiB, and
/// a block must fit in one command's transfer).
pub const MAX_BLOCK_LENGTH: u32 = 1 << 20;

/// How big a logical unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub last_lba: u64,
    pub block_length: u32,
}

/// Why no usable capacity came back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CapacityError {
    #[error("READ CAPACITY(16) failed: {0:?}")]
    Command(BlkStatus),
    #[error("READ CAPACITY(16) data: {0}")]
    Data(String),
    #[error("the device reports a logical block length of {0} bytes (READ CAPACITY): no I/O is possible")]
    BadBlockLength(u32),
    #[error("{0}")]
    Disk(#[from] DiskError),
}

impl Capacity {
    /// Parses READ CAPACITY(16) parameter data and refuses an unusable block length.
    pub fn from_read_capacity16(data: &[u8]) -> Result<Capacity, CapacityError> {
        let parsed = ReadCapacity16Data::parse(data)
            .map_err(|error| CapacityError::Data(error.to_string()))?;
        let block_length = parsed.block_length;
        if block_length == 0 || block_length > MAX_BLOCK_LENGTH {
            return Err(CapacityError::BadBlockLength(block_length));
        }
        Ok(Capacity {
            last_lba: parsed.returned_lba,
            block_length,
        })
    }

    /// Number of logical blocks.
    pub fn blocks(&self) -> u64 {
        self.last_lba.saturating_add(1)
    }

    pub fn bytes(&self) -> u64 {
        self.blocks().saturating_mul(u64::from(self.block_length))
    }
}

/// READ CAPACITY(16) through the core (retries, timeouts and recovery included).
pub async fn read_capacity(disk: &Disk) -> Result<Capacity, CapacityError> {
    let length = ReadCapacity16::RESPONSE_LEN as u32;
    let cdb = ReadCapacity16 {
        allocation_length: length,
    }
    .build()
    .map_err(|error| CapacityError::Data(error.to_string()))?;
    let block = BlockInfo {
        op: BlockOp::DriverIn,
        ..BlockInfo::default()
    };
    let completion = disk
        .execute(cdb.as_slice(), DataDirection::Read { length }, block)
        .await?;
    if completion.status != BlkStatus::Ok {
        return Err(CapacityError::Command(completion.status));
    }
    Capacity::from_read_capacity16(&completion.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(last_lba: u64, block_length: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; 32];
        bytes[..8].copy_from_slice(&last_lba.to_be_bytes());
        bytes[8..12].copy_from_slice(&block_length.to_be_bytes());
        bytes
    }

    #[test]
    fn a_block_length_of_zero_is_a_device_error() {
        let capacity = Capacity::from_read_capacity16(&data(2047, 512));
        let capacity = capacity.unwrap_or_else(|error| panic!("{error}"));
        assert_eq!((capacity.blocks(), capacity.bytes()), (2048, 1024 * 1024));
        assert!(matches!(
            Capacity::from_read_capacity16(&data(2047, 0)),
            Err(CapacityError::BadBlockLength(0))
        ));
        assert!(matches!(
            Capacity::from_read_capacity16(&data(1, MAX_BLOCK_LENGTH + 1)),
            Err(CapacityError::BadBlockLength(_))
        ));
        assert!(matches!(
            Capacity::from_read_capacity16(&[0u8; 4]),
            Err(CapacityError::Data(_))
        ));
    }
}

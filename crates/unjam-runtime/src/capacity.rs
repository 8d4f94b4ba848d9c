//! A logical unit's size from READ CAPACITY(16) (READ CAPACITY(10) when the device refuses
//! the 16-byte form), run through the core, and the checks that make it usable for I/O: a
//! block length of 0 (or one no transfer could carry) is a device error, never the start of
//! a READ with transfer length 0.
//!
//! Owns the usability rules of a capacity; building and parsing the CDB and its data is
//! `unjam-scsi`'s.

use unjam_core::buffers::Cdb;
use unjam_core::topology::DeviceId;
use unjam_scsi::cdb::response::{ReadCapacity10Data, ReadCapacity16Data};
use unjam_scsi::cdb::{ReadCapacity10, ReadCapacity16};
use unjam_scsi::sense::{SenseHeader, SenseKey};

use crate::command::IoError;
use crate::engine::EngineHandle;
use crate::probe::{execute_cmd, probe_command};

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    #[error("READ CAPACITY failed: {0}")]
    Command(String),
    #[error("READ CAPACITY data: {0}")]
    Data(String),
    #[error("the device reports a logical block length of {0} bytes (READ CAPACITY): no I/O is possible")]
    BadBlockLength(u32),
    #[error("not a block device (no READ CAPACITY)")]
    NotABlockDevice,
    #[error("the LUN was attached without a probe: its capacity is unknown")]
    NotProbed,
}

impl Capacity {
    /// Parses READ CAPACITY(16) parameter data and refuses an unusable block length.
    pub fn from_read_capacity16(data: &[u8]) -> Result<Capacity, CapacityError> {
        let parsed = ReadCapacity16Data::parse(data)
            .map_err(|error| CapacityError::Data(error.to_string()))?;
        Capacity::checked(parsed.returned_lba, parsed.block_length)
    }

    /// Parses READ CAPACITY(10) parameter data and refuses an unusable block length.
    pub fn from_read_capacity10(data: &[u8]) -> Result<Capacity, CapacityError> {
        let parsed = ReadCapacity10Data::parse(data)
            .map_err(|error| CapacityError::Data(error.to_string()))?;
        Capacity::checked(u64::from(parsed.returned_lba), parsed.block_length)
    }

    fn checked(last_lba: u64, block_length: u32) -> Result<Capacity, CapacityError> {
        if block_length == 0 || block_length > MAX_BLOCK_LENGTH {
            return Err(CapacityError::BadBlockLength(block_length));
        }
        Ok(Capacity {
            last_lba,
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

fn cdb(built: Result<Cdb, unjam_scsi::cdb::CdbError>) -> Result<Cdb, CapacityError> {
    built.map_err(|error| CapacityError::Data(error.to_string()))
}

/// READ CAPACITY through the core (retries, timeouts and recovery included): the 16-byte
/// form, and the 10-byte one when the device calls the 16-byte form an illegal request.
pub(crate) async fn read_capacity(
    engine: &EngineHandle,
    device: DeviceId,
) -> Result<Capacity, CapacityError> {
    let length = ReadCapacity16::RESPONSE_LEN as u32;
    let sixteen = cdb(ReadCapacity16 {
        allocation_length: length,
    }
    .build())?;
    let failed = |error: IoError| CapacityError::Command(error.to_string());
    match execute_cmd(engine, device, probe_command(sixteen, length)).await {
        Ok(outcome) => Capacity::from_read_capacity16(&outcome.data),
        Err(error) if is_illegal_request(&error) => {
            let ten = cdb(ReadCapacity10.build())?;
            let length = ReadCapacity10::RESPONSE_LEN as u32;
            let outcome = execute_cmd(engine, device, probe_command(ten, length))
                .await
                .map_err(failed)?;
            Capacity::from_read_capacity10(&outcome.data)
        }
        Err(error) => Err(failed(error)),
    }
}

fn is_illegal_request(error: &IoError) -> bool {
    error
        .outcome()
        .and_then(|outcome| SenseHeader::normalize(outcome.sense.as_slice()))
        .is_some_and(|header| header.key == SenseKey::ILLEGAL_REQUEST)
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
        let ten = [0, 0, 0x0f, 0xff, 0, 0, 0x10, 0];
        let capacity = Capacity::from_read_capacity10(&ten).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((capacity.last_lba, capacity.block_length), (4095, 4096));
    }
}

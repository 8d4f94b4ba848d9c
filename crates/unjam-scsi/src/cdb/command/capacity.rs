//! READ CAPACITY(10) and READ CAPACITY(16) (SBC-4 5.20, 5.21).

use super::fixed;
use crate::cdb::error::CdbError;
use crate::cdb::opcode;
use crate::cdb::Cdb;

/// READ CAPACITY(10): ten bytes; its LBA and PMI fields are obsolete and sent as zero.
/// The response is always 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReadCapacity10;

impl ReadCapacity10 {
    pub const OPCODE: u8 = opcode::READ_CAPACITY_10;
    /// The length of READ CAPACITY(10) parameter data.
    pub const RESPONSE_LEN: usize = 8;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        Ok(Cdb::from_array([Self::OPCODE, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let _: &[u8; 10] = fixed(cdb, Self::OPCODE)?;
        Ok(ReadCapacity10)
    }
}

/// READ CAPACITY(16): SERVICE ACTION IN(16) with service action 10h.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadCapacity16 {
    pub allocation_length: u32,
}

impl ReadCapacity16 {
    pub const OPCODE: u8 = opcode::SERVICE_ACTION_IN_16;
    pub const SERVICE_ACTION: u8 = opcode::SA_READ_CAPACITY_16;
    /// The length of the parameter data SBC-4 defines (the usual allocation length).
    pub const RESPONSE_LEN: usize = 32;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let n = self.allocation_length.to_be_bytes();
        Ok(Cdb::from_array([
            Self::OPCODE,
            Self::SERVICE_ACTION,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            n[0],
            n[1],
            n[2],
            n[3],
            0,
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 16] = fixed(cdb, Self::OPCODE)?;
        super::expect_service_action(b[1], Self::SERVICE_ACTION)?;
        Ok(ReadCapacity16 {
            allocation_length: u32::from_be_bytes([b[10], b[11], b[12], b[13]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capacity_16_is_a_service_action() {
        let cdb = ReadCapacity16 {
            allocation_length: 32,
        }
        .build()
        .unwrap();
        assert_eq!(&cdb.as_slice()[..2], &[0x9e, 0x10]);
        assert_eq!(cdb.as_slice()[13], 32);
        let mut other_action = [0u8; 16];
        other_action[0] = 0x9e;
        other_action[1] = 0x12;
        assert_eq!(
            ReadCapacity16::parse(&other_action),
            Err(CdbError::WrongServiceAction {
                expected: 0x10,
                found: 0x12
            })
        );
    }
}

//! SBC-4 block commands: READ(6/10/16), WRITE(6/10/16), SYNCHRONIZE CACHE(10/16).
//! Field layouts only; whether a transfer is sensible is the caller's business.

use super::{bit, fixed, flag};
use crate::cdb::error::{check_cdb, CdbError};
use crate::cdb::opcode;
use crate::cdb::Cdb;

/// The largest LBA a 6-byte CDB holds (21 bits).
pub const MAX_LBA_6: u32 = 0x1f_ffff;
/// The most blocks a 6-byte CDB moves: a transfer length of 0 means 256.
pub const MAX_BLOCKS_6: u16 = 256;

const DPO: u8 = 0x10;
const FUA: u8 = 0x08;
const IMMED: u8 = 0x02;

macro_rules! six_byte_transfer {
    ($name:ident, $opcode:expr, $doc:literal) => {
        #[doc = $doc]
        /// `lba` is 21 bits; `blocks` is 1..=256 (the CDB encodes 256 as 0).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub struct $name {
            pub lba: u32,
            pub blocks: u16,
        }

        impl $name {
            pub const OPCODE: u8 = $opcode;

            pub fn build(&self) -> Result<Cdb, CdbError> {
                check_cdb("lba", u64::from(self.lba), u64::from(MAX_LBA_6))?;
                check_cdb("blocks", u64::from(self.blocks), u64::from(MAX_BLOCKS_6))?;
                if self.blocks == 0 {
                    return Err(CdbError::FieldOutOfRange {
                        field: "blocks",
                        value: 0,
                        max: u64::from(MAX_BLOCKS_6),
                    });
                }
                let [_, lba_high, lba_mid, lba_low] = self.lba.to_be_bytes();
                let length = (self.blocks % 256) as u8;
                Ok(Cdb::from_array([
                    Self::OPCODE,
                    lba_high & 0x1f,
                    lba_mid,
                    lba_low,
                    length,
                    0,
                ]))
            }

            pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
                let b: &[u8; 6] = fixed(cdb, Self::OPCODE)?;
                let lba = u32::from_be_bytes([0, b[1] & 0x1f, b[2], b[3]]);
                let blocks = if b[4] == 0 { 256 } else { u16::from(b[4]) };
                Ok($name { lba, blocks })
            }
        }
    };
}

macro_rules! ten_byte_transfer {
    ($name:ident, $opcode:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub struct $name {
            pub lba: u32,
            /// Transfer length in logical blocks; 0 transfers nothing.
            pub blocks: u16,
            /// Force unit access: bypass (or write through) the volatile cache.
            pub fua: bool,
            /// Disable page out: a cache-retention hint.
            pub dpo: bool,
        }

        impl $name {
            pub const OPCODE: u8 = $opcode;

            pub fn build(&self) -> Result<Cdb, CdbError> {
                let l = self.lba.to_be_bytes();
                let n = self.blocks.to_be_bytes();
                let flags = bit(self.dpo, DPO) | bit(self.fua, FUA);
                Ok(Cdb::from_array([
                    Self::OPCODE,
                    flags,
                    l[0],
                    l[1],
                    l[2],
                    l[3],
                    0,
                    n[0],
                    n[1],
                    0,
                ]))
            }

            pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
                let b: &[u8; 10] = fixed(cdb, Self::OPCODE)?;
                Ok($name {
                    lba: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                    blocks: u16::from_be_bytes([b[7], b[8]]),
                    fua: flag(b[1], FUA),
                    dpo: flag(b[1], DPO),
                })
            }
        }
    };
}

macro_rules! sixteen_byte_transfer {
    ($name:ident, $opcode:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub struct $name {
            pub lba: u64,
            /// Transfer length in logical blocks; 0 transfers nothing.
            pub blocks: u32,
            pub fua: bool,
            pub dpo: bool,
        }

        impl $name {
            pub const OPCODE: u8 = $opcode;

            pub fn build(&self) -> Result<Cdb, CdbError> {
                let l = self.lba.to_be_bytes();
                let n = self.blocks.to_be_bytes();
                let flags = bit(self.dpo, DPO) | bit(self.fua, FUA);
                Ok(Cdb::from_array([
                    Self::OPCODE,
                    flags,
                    l[0],
                    l[1],
                    l[2],
                    l[3],
                    l[4],
                    l[5],
                    l[6],
                    l[7],
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
                Ok($name {
                    lba: u64::from_be_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]),
                    blocks: u32::from_be_bytes([b[10], b[11], b[12], b[13]]),
                    fua: flag(b[1], FUA),
                    dpo: flag(b[1], DPO),
                })
            }
        }
    };
}

six_byte_transfer!(Read6, opcode::READ_6, "READ(6) (SBC-4 5.14).");
six_byte_transfer!(Write6, opcode::WRITE_6, "WRITE(6) (SBC-4 5.38).");
ten_byte_transfer!(Read10, opcode::READ_10, "READ(10) (SBC-4 5.15).");
ten_byte_transfer!(Write10, opcode::WRITE_10, "WRITE(10) (SBC-4 5.39).");
sixteen_byte_transfer!(Read16, opcode::READ_16, "READ(16) (SBC-4 5.17).");
sixteen_byte_transfer!(Write16, opcode::WRITE_16, "WRITE(16) (SBC-4 5.41).");

/// READ or WRITE of `blocks` blocks at `lba` as sd picks the CDB: (10) when the whole range
/// fits its fields (`lba + blocks` within 32 bits, at most 65 535 blocks), else (16). No
/// FUA, no DPO.
pub fn read_write(write: bool, lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    let fits_ten = lba
        .checked_add(u64::from(blocks))
        .is_some_and(|end| end <= u64::from(u32::MAX))
        && blocks <= u32::from(u16::MAX);
    let (fua, dpo) = (false, false);
    match (fits_ten, write) {
        (true, false) => Read10 {
            lba: lba as u32,
            blocks: blocks as u16,
            fua,
            dpo,
        }
        .build(),
        (true, true) => Write10 {
            lba: lba as u32,
            blocks: blocks as u16,
            fua,
            dpo,
        }
        .build(),
        (false, false) => Read16 {
            lba,
            blocks,
            fua,
            dpo,
        }
        .build(),
        (false, true) => Write16 {
            lba,
            blocks,
            fua,
            dpo,
        }
        .build(),
    }
}

/// SYNCHRONIZE CACHE(10) (SBC-4 5.32): write back cached blocks `lba..lba+blocks`;
/// `blocks == 0` means through the last LBA.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SynchronizeCache10 {
    /// Return status once the command is validated, before the cache is flushed.
    pub immed: bool,
    pub lba: u32,
    pub blocks: u16,
}

impl SynchronizeCache10 {
    pub const OPCODE: u8 = opcode::SYNCHRONIZE_CACHE_10;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let l = self.lba.to_be_bytes();
        let n = self.blocks.to_be_bytes();
        let flags = bit(self.immed, IMMED);
        Ok(Cdb::from_array([
            Self::OPCODE,
            flags,
            l[0],
            l[1],
            l[2],
            l[3],
            0,
            n[0],
            n[1],
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 10] = fixed(cdb, Self::OPCODE)?;
        Ok(SynchronizeCache10 {
            immed: flag(b[1], IMMED),
            lba: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
            blocks: u16::from_be_bytes([b[7], b[8]]),
        })
    }
}

/// SYNCHRONIZE CACHE(16) (SBC-4 5.33); `blocks == 0` means through the last LBA.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SynchronizeCache16 {
    pub immed: bool,
    pub lba: u64,
    pub blocks: u32,
}

impl SynchronizeCache16 {
    pub const OPCODE: u8 = opcode::SYNCHRONIZE_CACHE_16;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let l = self.lba.to_be_bytes();
        let n = self.blocks.to_be_bytes();
        let flags = bit(self.immed, IMMED);
        Ok(Cdb::from_array([
            Self::OPCODE,
            flags,
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            l[5],
            l[6],
            l[7],
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
        Ok(SynchronizeCache16 {
            immed: flag(b[1], IMMED),
            lba: u64::from_be_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]),
            blocks: u32::from_be_bytes([b[10], b[11], b[12], b[13]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_picks_ten_bytes_while_the_range_fits() {
        assert_eq!(
            read_write(false, 0, 8).unwrap().as_slice()[0],
            Read10::OPCODE
        );
        assert_eq!(
            read_write(true, 0, 8).unwrap().as_slice()[0],
            Write10::OPCODE
        );
        let last = u64::from(u32::MAX);
        assert_eq!(read_write(false, last - 8, 8).unwrap().len(), 10);
        // The range's end passes 32 bits, the LBA alone does not.
        assert_eq!(
            read_write(false, last - 7, 8).unwrap().as_slice()[0],
            Read16::OPCODE
        );
        assert_eq!(
            read_write(true, 0, 65_536).unwrap().as_slice()[0],
            Write16::OPCODE
        );
        let big = read_write(false, 1 << 40, 3).unwrap();
        assert_eq!(Read16::parse(big.as_slice()).unwrap().lba, 1 << 40);
    }

    #[test]
    fn read6_length_zero_means_256_blocks() {
        let read = Read6::parse(&[0x08, 0, 0, 0x10, 0, 0]).unwrap();
        assert_eq!(
            read,
            Read6 {
                lba: 0x10,
                blocks: 256
            }
        );
        assert_eq!(read.build().unwrap().as_slice(), &[0x08, 0, 0, 0x10, 0, 0]);
    }

    #[test]
    fn read6_lba_is_21_bits() {
        // The top three bits of byte 1 are reserved (formerly the LUN) and ignored.
        let read = Read6::parse(&[0x08, 0xff, 0xff, 0xff, 1, 0]).unwrap();
        assert_eq!(read.lba, MAX_LBA_6);
        assert_eq!(
            read.build().unwrap().as_slice(),
            &[0x08, 0x1f, 0xff, 0xff, 1, 0]
        );
        let too_far = Write6 {
            lba: MAX_LBA_6 + 1,
            blocks: 1,
        };
        assert!(matches!(
            too_far.build(),
            Err(CdbError::FieldOutOfRange { field: "lba", .. })
        ));
        assert!(Write6 { lba: 0, blocks: 0 }.build().is_err());
        assert!(Write6 {
            lba: 0,
            blocks: 257
        }
        .build()
        .is_err());
    }

    #[test]
    fn read10_fields_sit_where_sbc_puts_them() {
        let read = Read10 {
            lba: 0x55870,
            blocks: 16,
            fua: true,
            dpo: false,
        };
        let cdb = read.build().unwrap();
        assert_eq!(
            cdb.as_slice(),
            &[0x28, 0x08, 0, 5, 0x58, 0x70, 0, 0, 0x10, 0]
        );
        assert_eq!(Read10::parse(cdb.as_slice()), Ok(read));
    }

    #[test]
    fn short_and_wrong_cdbs_are_errors() {
        assert_eq!(
            Read16::parse(&[0x88, 0, 0]),
            Err(CdbError::TooShort {
                opcode: 0x88,
                needed: 16,
                available: 3
            })
        );
        assert_eq!(
            Read16::parse(&[0x8a; 16]),
            Err(CdbError::WrongOpcode {
                expected: 0x88,
                found: 0x8a
            })
        );
        assert_eq!(Read10::parse(&[]), Err(CdbError::Empty));
    }
}

//! READ CAPACITY(10) and READ CAPACITY(16) parameter data (SBC-4 5.20.2, 5.21.2).

use super::BuildResponse;
use crate::cdb::error::{check_build, BuildError, ResponseError};
use crate::cdb::wire::{Reader, Writer};

/// READ CAPACITY(10) data: the last LBA and the logical block length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadCapacity10Data {
    /// The last LBA, or [`Self::LBA_OVERFLOW`] when it does not fit.
    pub returned_lba: u32,
    pub block_length: u32,
}

impl ReadCapacity10Data {
    pub const LEN: usize = 8;
    /// FFFFFFFFh: the capacity does not fit in 32 bits; use READ CAPACITY(16).
    pub const LBA_OVERFLOW: u32 = u32::MAX;

    pub fn parse(bytes: &[u8]) -> Result<Self, ResponseError> {
        let mut reader = Reader::new(bytes, "READ CAPACITY(10) data");
        Ok(ReadCapacity10Data {
            returned_lba: reader.be32()?,
            block_length: reader.be32()?,
        })
    }

    /// True when the device says to ask READ CAPACITY(16).
    pub fn needs_read_capacity_16(&self) -> bool {
        self.returned_lba == Self::LBA_OVERFLOW
    }

    /// The number of logical blocks, unless READ CAPACITY(16) is needed.
    pub fn block_count(&self) -> Option<u64> {
        (!self.needs_read_capacity_16()).then(|| u64::from(self.returned_lba) + 1)
    }
}

impl BuildResponse for ReadCapacity10Data {
    fn encoded_len(&self) -> usize {
        Self::LEN
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let mut writer = Writer::new(out, Self::LEN)?;
        writer.be32(self.returned_lba)?;
        writer.be32(self.block_length)?;
        Ok(writer.position())
    }
}

/// READ CAPACITY(16) data. The parser needs the first 16 bytes; the builder writes 32.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReadCapacity16Data {
    /// The last LBA.
    pub returned_lba: u64,
    pub block_length: u32,
    /// P_TYPE (3 bits): protection type minus one, when `prot_en` is set.
    pub p_type: u8,
    /// PROT_EN: protection information is enabled.
    pub prot_en: bool,
    /// P_I_EXPONENT (4 bits): protection information intervals per block, as 2^n.
    pub p_i_exponent: u8,
    /// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (4 bits): 2^n logical per physical.
    pub logical_per_physical_exponent: u8,
    /// LBPME: logical block provisioning (thin provisioning, UNMAP) is enabled.
    pub lbpme: bool,
    /// LBPRZ: unmapped blocks read as zero.
    pub lbprz: bool,
    /// LOWEST ALIGNED LOGICAL BLOCK ADDRESS (14 bits).
    pub lowest_aligned_lba: u16,
}

impl ReadCapacity16Data {
    /// The length SBC-4 defines, and what the builder writes.
    pub const LEN: usize = 32;
    /// The bytes holding every field the parser reads.
    pub const MIN_LEN: usize = 16;

    pub fn parse(bytes: &[u8]) -> Result<Self, ResponseError> {
        let mut reader = Reader::new(bytes, "READ CAPACITY(16) data");
        let returned_lba = reader.be64()?;
        let block_length = reader.be32()?;
        let [protection, exponents, provisioning, aligned_low] = reader.array()?;
        Ok(ReadCapacity16Data {
            returned_lba,
            block_length,
            p_type: (protection >> 1) & 0x07,
            prot_en: protection & 0x01 != 0,
            p_i_exponent: exponents >> 4,
            logical_per_physical_exponent: exponents & 0x0f,
            lbpme: provisioning & 0x80 != 0,
            lbprz: provisioning & 0x40 != 0,
            lowest_aligned_lba: u16::from_be_bytes([provisioning & 0x3f, aligned_low]),
        })
    }

    /// The number of logical blocks; `None` only for a last LBA of 2^64 - 1.
    pub fn block_count(&self) -> Option<u64> {
        self.returned_lba.checked_add(1)
    }

    /// The protection type (1 to 3 in SBC-4), when protection is enabled.
    pub fn protection_type(&self) -> Option<u8> {
        self.prot_en.then_some((self.p_type & 0x07) + 1)
    }

    /// Logical blocks per physical block.
    pub fn logical_per_physical(&self) -> u32 {
        1u32 << (self.logical_per_physical_exponent & 0x0f)
    }

    fn check_fields(&self) -> Result<(), BuildError> {
        check_build("p_type", u64::from(self.p_type), 0x07)?;
        check_build("p_i_exponent", u64::from(self.p_i_exponent), 0x0f)?;
        check_build(
            "logical_per_physical_exponent",
            u64::from(self.logical_per_physical_exponent),
            0x0f,
        )?;
        check_build(
            "lowest_aligned_lba",
            u64::from(self.lowest_aligned_lba),
            0x3fff,
        )
    }
}

impl BuildResponse for ReadCapacity16Data {
    fn encoded_len(&self) -> usize {
        Self::LEN
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        self.check_fields()?;
        let mut writer = Writer::new(out, Self::LEN)?;
        writer.be64(self.returned_lba)?;
        writer.be32(self.block_length)?;
        let prot_en = if self.prot_en { 0x01 } else { 0 };
        writer.u8(self.p_type << 1 | prot_en)?;
        writer.u8(self.p_i_exponent << 4 | self.logical_per_physical_exponent)?;
        let provisioning =
            (if self.lbpme { 0x80 } else { 0 }) | (if self.lbprz { 0x40 } else { 0 });
        let [aligned_high, aligned_low] = self.lowest_aligned_lba.to_be_bytes();
        writer.u8(provisioning | aligned_high)?;
        writer.u8(aligned_low)?;
        writer.zeros(Self::LEN - Self::MIN_LEN)?;
        Ok(writer.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_means_use_16() {
        let data = ReadCapacity10Data::parse(&[0xff, 0xff, 0xff, 0xff, 0, 0, 2, 0]).unwrap();
        assert!(data.needs_read_capacity_16());
        assert_eq!(data.block_count(), None);
        let small = ReadCapacity10Data {
            returned_lba: 2047,
            block_length: 512,
        };
        assert_eq!(small.block_count(), Some(2048));
        assert!(matches!(
            ReadCapacity10Data::parse(&[0; 7]),
            Err(ResponseError::Truncated {
                needed: 8,
                available: 7,
                ..
            })
        ));
    }

    #[test]
    fn read_capacity_16_fields() {
        let data = ReadCapacity16Data {
            returned_lba: 0x1_0000_0000,
            block_length: 512,
            p_type: 1,
            prot_en: true,
            p_i_exponent: 0,
            logical_per_physical_exponent: 3,
            lbpme: true,
            lbprz: true,
            lowest_aligned_lba: 0x0123,
        };
        let bytes = data.to_vec().unwrap();
        assert_eq!(&bytes[12..16], &[0x03, 0x03, 0xc1, 0x23]);
        assert_eq!(ReadCapacity16Data::parse(&bytes), Ok(data));
        assert_eq!(data.protection_type(), Some(2));
        assert_eq!(data.logical_per_physical(), 8);
        assert_eq!(data.block_count(), Some(0x1_0000_0001));
    }
}

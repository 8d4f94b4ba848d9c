//! MODE SENSE(6) and MODE SENSE(10) (SPC-5 6.14, 6.15).

use super::{bit, fixed, flag};
use crate::cdb::error::{check_cdb, CdbError};
use crate::cdb::opcode;
use crate::cdb::Cdb;

/// Mode page codes unjam asks for by name.
pub mod page {
    /// Caching mode page (SBC-4 6.5.5).
    pub const CACHING: u8 = 0x08;
    /// Control mode page (SPC-5 7.5.8).
    pub const CONTROL: u8 = 0x0a;
    /// Return all mode pages.
    pub const ALL: u8 = 0x3f;
    /// The largest page code (six bits).
    pub const MAX: u8 = 0x3f;
}

/// The PC field: which values of the mode parameters to return.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum PageControl {
    #[default]
    Current,
    Changeable,
    Default,
    Saved,
}

impl PageControl {
    pub fn code(self) -> u8 {
        match self {
            PageControl::Current => 0,
            PageControl::Changeable => 1,
            PageControl::Default => 2,
            PageControl::Saved => 3,
        }
    }

    /// Decodes the two-bit field (higher bits are ignored).
    pub fn from_code(code: u8) -> PageControl {
        match code & 0x03 {
            0 => PageControl::Current,
            1 => PageControl::Changeable,
            2 => PageControl::Default,
            _ => PageControl::Saved,
        }
    }
}

const DBD: u8 = 0x08;
const LLBAA: u8 = 0x10;

fn page_byte(page_control: PageControl, page_code: u8) -> Result<u8, CdbError> {
    check_cdb("page_code", u64::from(page_code), u64::from(page::MAX))?;
    Ok(page_control.code() << 6 | page_code)
}

/// MODE SENSE(6).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModeSense6 {
    /// Disable block descriptors.
    pub dbd: bool,
    pub page_control: PageControl,
    /// Six bits; [`page::ALL`] asks for every page.
    pub page_code: u8,
    pub subpage: u8,
    pub allocation_length: u8,
}

impl ModeSense6 {
    pub const OPCODE: u8 = opcode::MODE_SENSE_6;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        Ok(Cdb::from_array([
            Self::OPCODE,
            bit(self.dbd, DBD),
            page_byte(self.page_control, self.page_code)?,
            self.subpage,
            self.allocation_length,
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 6] = fixed(cdb, Self::OPCODE)?;
        Ok(ModeSense6 {
            dbd: flag(b[1], DBD),
            page_control: PageControl::from_code(b[2] >> 6),
            page_code: b[2] & page::MAX,
            subpage: b[3],
            allocation_length: b[4],
        })
    }
}

/// MODE SENSE(10).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ModeSense10 {
    /// Long LBA accepted: the target may return 16-byte block descriptors.
    pub llbaa: bool,
    pub dbd: bool,
    pub page_control: PageControl,
    pub page_code: u8,
    pub subpage: u8,
    pub allocation_length: u16,
}

impl ModeSense10 {
    pub const OPCODE: u8 = opcode::MODE_SENSE_10;

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let [length_high, length_low] = self.allocation_length.to_be_bytes();
        Ok(Cdb::from_array([
            Self::OPCODE,
            bit(self.llbaa, LLBAA) | bit(self.dbd, DBD),
            page_byte(self.page_control, self.page_code)?,
            self.subpage,
            0,
            0,
            0,
            length_high,
            length_low,
            0,
        ]))
    }

    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 10] = fixed(cdb, Self::OPCODE)?;
        Ok(ModeSense10 {
            llbaa: flag(b[1], LLBAA),
            dbd: flag(b[1], DBD),
            page_control: PageControl::from_code(b[2] >> 6),
            page_code: b[2] & page::MAX,
            subpage: b[3],
            allocation_length: u16::from_be_bytes([b[7], b[8]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_sense_10_caching_changeable() {
        let sense = ModeSense10 {
            llbaa: true,
            dbd: true,
            page_control: PageControl::Changeable,
            page_code: page::CACHING,
            subpage: 0,
            allocation_length: 512,
        };
        let cdb = sense.build().unwrap();
        assert_eq!(cdb.as_slice(), &[0x5a, 0x18, 0x48, 0, 0, 0, 0, 2, 0, 0]);
        assert_eq!(ModeSense10::parse(cdb.as_slice()), Ok(sense));
    }

    #[test]
    fn page_code_is_six_bits() {
        let sense = ModeSense6 {
            dbd: false,
            page_control: PageControl::Current,
            page_code: 0x40,
            subpage: 0,
            allocation_length: 255,
        };
        assert!(matches!(
            sense.build(),
            Err(CdbError::FieldOutOfRange {
                field: "page_code",
                ..
            })
        ));
    }
}

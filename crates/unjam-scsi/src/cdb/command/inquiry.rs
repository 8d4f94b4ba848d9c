//! INQUIRY (SPC-5 6.6): the standard data or one vital product data page.

use super::{fixed, flag};
use crate::cdb::error::CdbError;
use crate::cdb::opcode;
use crate::cdb::Cdb;

/// INQUIRY. `page: None` asks for standard data; `Some(code)` sets EVPD and asks for VPD
/// page `code` (00h supported pages, 80h unit serial number, 83h device identification).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Inquiry {
    pub page: Option<u8>,
    pub allocation_length: u16,
}

impl Inquiry {
    pub const OPCODE: u8 = opcode::INQUIRY;

    /// Standard INQUIRY data with the given allocation length.
    pub fn standard(allocation_length: u16) -> Inquiry {
        Inquiry {
            page: None,
            allocation_length,
        }
    }

    /// A VPD page with the given allocation length.
    pub fn vpd(page: u8, allocation_length: u16) -> Inquiry {
        Inquiry {
            page: Some(page),
            allocation_length,
        }
    }

    pub fn build(&self) -> Result<Cdb, CdbError> {
        let (evpd, page) = match self.page {
            Some(page) => (1, page),
            None => (0, 0),
        };
        let [length_high, length_low] = self.allocation_length.to_be_bytes();
        Ok(Cdb::from_array([
            Self::OPCODE,
            evpd,
            page,
            length_high,
            length_low,
            0,
        ]))
    }

    /// A page code without EVPD is an invalid field (SPC-5 6.6.1).
    pub fn parse(cdb: &[u8]) -> Result<Self, CdbError> {
        let b: &[u8; 6] = fixed(cdb, Self::OPCODE)?;
        let page = match (flag(b[1], 0x01), b[2]) {
            (true, page) => Some(page),
            (false, 0) => None,
            (false, _) => {
                return Err(CdbError::InvalidField {
                    opcode: Self::OPCODE,
                    byte: 2,
                    bit: 7,
                })
            }
        };
        Ok(Inquiry {
            page,
            allocation_length: u16::from_be_bytes([b[3], b[4]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_vpd_requests() {
        let standard = Inquiry::standard(96).build().unwrap();
        assert_eq!(standard.as_slice(), &[0x12, 0, 0, 0, 96, 0]);
        let serial = Inquiry::vpd(0x80, 0x1000).build().unwrap();
        assert_eq!(serial.as_slice(), &[0x12, 1, 0x80, 0x10, 0, 0]);
        assert_eq!(
            Inquiry::parse(serial.as_slice()),
            Ok(Inquiry::vpd(0x80, 0x1000))
        );
    }

    #[test]
    fn page_code_without_evpd_is_invalid() {
        assert_eq!(
            Inquiry::parse(&[0x12, 0, 0x83, 0, 0xff, 0]),
            Err(CdbError::InvalidField {
                opcode: 0x12,
                byte: 2,
                bit: 7
            })
        );
    }
}

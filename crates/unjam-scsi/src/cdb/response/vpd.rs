//! The VPD page header (SPC-5 7.7.1) and the two simple pages: 00h Supported VPD Pages
//! and 80h Unit Serial Number. Device Identification (83h) is in `device_id`.

use super::inquiry::Peripheral;
use super::text::TextField;
use super::BuildResponse;
use crate::cdb::error::{BuildError, ResponseError};
use crate::cdb::wire::{length_field, Reader, Writer};

/// VPD page codes unjam reads.
pub mod vpd_page {
    pub const SUPPORTED_PAGES: u8 = 0x00;
    pub const UNIT_SERIAL_NUMBER: u8 = 0x80;
    pub const DEVICE_IDENTIFICATION: u8 = 0x83;
    pub const BLOCK_LIMITS: u8 = 0xb0;
    pub const BLOCK_DEVICE_CHARACTERISTICS: u8 = 0xb1;
    pub const LOGICAL_BLOCK_PROVISIONING: u8 = 0xb2;
}

/// The four-byte VPD header.
pub(crate) const HEADER_LEN: usize = 4;

/// Reads the header of VPD page `page` and returns the peripheral byte and the page body.
/// A body shorter than the PAGE LENGTH announces is [`ResponseError::Truncated`].
pub(crate) fn parse_page<'a>(
    bytes: &'a [u8],
    page: u8,
    what: &'static str,
) -> Result<(Peripheral, &'a [u8]), ResponseError> {
    let mut reader = Reader::new(bytes, what);
    let peripheral = Peripheral(reader.u8()?);
    let found = reader.u8()?;
    if found != page {
        return Err(ResponseError::WrongPage {
            what,
            expected: page,
            found,
        });
    }
    let length = usize::from(reader.be16()?);
    Ok((peripheral, reader.take(length)?))
}

/// Writes a VPD header for a body of `body_len` bytes; returns the writer for the body.
pub(crate) fn write_header<'a>(
    out: &'a mut [u8],
    peripheral: Peripheral,
    page: u8,
    body_len: usize,
) -> Result<Writer<'a>, BuildError> {
    let length = length_field("page_length", body_len, u64::from(u16::MAX))? as u16;
    let mut writer = Writer::new(out, HEADER_LEN + body_len)?;
    writer.u8(peripheral.0)?;
    writer.u8(page)?;
    writer.be16(length)?;
    Ok(writer)
}

/// VPD page 00h: the page codes the device supports, in ascending order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SupportedVpdPages<'a> {
    pub peripheral: Peripheral,
    pub pages: &'a [u8],
}

impl<'a> SupportedVpdPages<'a> {
    pub const PAGE: u8 = vpd_page::SUPPORTED_PAGES;

    pub fn parse(bytes: &'a [u8]) -> Result<Self, ResponseError> {
        let (peripheral, pages) = parse_page(bytes, Self::PAGE, "VPD page 00h")?;
        Ok(SupportedVpdPages { peripheral, pages })
    }

    pub fn supports(&self, page: u8) -> bool {
        self.pages.contains(&page)
    }
}

impl BuildResponse for SupportedVpdPages<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + self.pages.len()
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let mut writer = write_header(out, self.peripheral, Self::PAGE, self.pages.len())?;
        writer.put(self.pages)?;
        Ok(writer.position())
    }
}

/// VPD page 80h: the unit serial number, ASCII, often right-aligned with leading spaces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UnitSerialNumber<'a> {
    pub peripheral: Peripheral,
    pub serial: &'a [u8],
}

impl<'a> UnitSerialNumber<'a> {
    pub const PAGE: u8 = vpd_page::UNIT_SERIAL_NUMBER;

    pub fn parse(bytes: &'a [u8]) -> Result<Self, ResponseError> {
        let (peripheral, serial) = parse_page(bytes, Self::PAGE, "VPD page 80h")?;
        Ok(UnitSerialNumber { peripheral, serial })
    }

    /// The serial number without leading or trailing padding.
    pub fn text(&self) -> TextField<'a> {
        TextField::trimmed(self.serial)
    }
}

impl BuildResponse for UnitSerialNumber<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + self.serial.len()
    }

    fn write_to(&self, out: &mut [u8]) -> Result<usize, BuildError> {
        let mut writer = write_header(out, self.peripheral, Self::PAGE, self.serial.len())?;
        writer.put(self.serial)?;
        Ok(writer.position())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_pages() {
        let bytes = [0x00, 0x00, 0x00, 0x03, 0x00, 0x80, 0x83];
        let pages = SupportedVpdPages::parse(&bytes).unwrap();
        assert!(pages.supports(0x83));
        assert!(!pages.supports(0xb0));
        assert_eq!(pages.to_vec().unwrap(), bytes);
    }

    #[test]
    fn serial_number_is_trimmed_and_bounded() {
        let bytes = *b"\x00\x80\x00\x08  ABC123xx";
        let serial = UnitSerialNumber::parse(&bytes).unwrap();
        assert_eq!(serial.text().as_str(), Some("ABC123"));
        assert_eq!(
            UnitSerialNumber::parse(&bytes[..8]),
            Err(ResponseError::Truncated {
                what: "VPD page 80h",
                needed: 12,
                available: 8
            })
        );
        assert!(matches!(
            UnitSerialNumber::parse(&[0, 0x83, 0, 0]),
            Err(ResponseError::WrongPage {
                expected: 0x80,
                found: 0x83,
                ..
            })
        ));
    }
}
